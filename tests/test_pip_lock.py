"""The pip part of locks with the real uv resolver, from wheels built into a local folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from compiler.errors import UsageError
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from tests.conftest import RepoFactory
from tests.local_http import serving, simple_index
from tests.test_lock import MIRRORS


@pytest.fixture
def wheels(tmp_path: Path) -> PipIndex:
    folder = tmp_path / "wheels"
    folder.mkdir()
    write_wheel(folder, "alpha", "1.0")
    write_wheel(folder, "alpha", "1.1")
    write_wheel(folder, "beta", "2.0", ("alpha>=1.0",))
    write_wheel(folder, "gamma", "0.5", ("numpy>=1.20",))
    write_wheel(folder, "numpy", "1.21.0")
    write_wheel(folder, "delta", "1.0", ("numpy<1",))
    return PipIndex(find_links=(str(folder),))


MANIFEST = (
    "schema_version: 1\nname: ml\npython: '3.12'\nconda: [numpy >=1.26, pip]\npip: [beta, gamma]\n"
)


def lockfile(root: Path, name: str) -> str:
    return (root / "environments" / "ml" / name).read_text()


def test_pip_part_is_hashed_and_leaves_conda_packages_to_conda(
    make_repo: RepoFactory, wheels: PipIndex
) -> None:
    root = make_repo({"environments/ml/env.yaml": MANIFEST})
    (outcome,) = lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    assert outcome.status == "locked"
    text = lockfile(root, "requirements-linux-64.txt")
    assert "# Install with: pip install --require-hashes" in text
    body = text[text.index("alpha==") :]
    assert [line.split(" ")[0] for line in body.splitlines() if "==" in line] == [
        "alpha==1.1",
        "beta==2.0",
        "gamma==0.5",
    ]
    assert "numpy" not in body  # conda installs it; pip must not again
    wheel = Path(wheels.find_links[0]) / "beta-2.0-py3-none-any.whl"
    assert f"--hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}" in body
    assert "numpy" in lockfile(root, "conda-linux-64.lock")


def test_the_pylock_holds_the_same_pins_and_uv_installs_from_it(
    make_repo: RepoFactory, wheels: PipIndex, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import tomllib

    from compiler.lock.pip import uv_executable

    running = f"{sys.version_info.major}.{sys.version_info.minor}"  # the venv below runs it
    root = make_repo({"environments/ml/env.yaml": MANIFEST.replace("3.12", running)})
    lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    pylock = tomllib.loads(lockfile(root, "pylock.linux-64.toml"))
    assert pylock["lock-version"] == "1.0"
    pinned = {p["name"]: p["version"] for p in pylock["packages"]}
    assert pinned == {"alpha": "1.1", "beta": "2.0", "gamma": "0.5"}  # numpy is conda's
    beta = next(p for p in pylock["packages"] if p["name"] == "beta")
    wheel = Path(wheels.find_links[0]) / "beta-2.0-py3-none-any.whl"
    assert beta["wheels"][0]["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    # A real consumer: uv installs exactly those pins into a fresh environment, offline.
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    done = subprocess.run(
        [
            uv_executable(),
            "pip",
            "sync",
            "--offline",
            "--python",
            str(target / "bin/python"),
            str(root / "environments/ml/pylock.linux-64.toml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [uv_executable(), "pip", "freeze", "--python", str(target / "bin/python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == ["alpha==1.1", "beta==2.0", "gamma==0.5"]


def test_pip_must_agree_with_the_conda_part(make_repo: RepoFactory, wheels: PipIndex) -> None:
    root = make_repo({"environments/ml/env.yaml": MANIFEST.replace("gamma", "delta")})
    (outcome,) = lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    assert outcome.status == "failed" and "delta" in outcome.reasons[0]
    assert sorted(p.name for p in (root / "environments" / "ml").iterdir()) == ["env.yaml"]


def test_pip_only_environment_from_a_requirements_file(
    make_repo: RepoFactory, wheels: PipIndex
) -> None:
    root = make_repo(
        {
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\npython: '3.11'\n"
            "requirements_file: requirements.txt\n"
            "platforms: [linux-64, win-64]\n",
            "environments/ml/requirements.txt": "beta  # serving\n-r more.txt\n",
            "environments/ml/more.txt": "alpha==1.0\n",
        }
    )
    lock_repository(root, pip_index=wheels)
    files = sorted(p.name for p in (root / "environments" / "ml").iterdir())
    assert files == [
        "env.yaml",
        "more.txt",
        "pylock.linux-64.toml",
        "pylock.win-64.toml",
        "requirements-linux-64.txt",
        "requirements-win-64.txt",
        "requirements.txt",
    ]
    assert "alpha==1.0" in lockfile(root, "requirements-win-64.txt")
    (outcome,) = lock_repository(root, check=True)
    assert outcome.status == "fresh"
    (root / "environments/ml/more.txt").write_text("alpha==1.1\n")
    (outcome,) = lock_repository(root, check=True)
    assert outcome.reasons == (
        "pip requirement added: alpha==1.1",
        "pip requirement removed: alpha==1.0",
    )


def test_index_settings_for_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    none = {"UV_INDEX": ""}  # (not the user's own)
    assert PipIndex().for_uv() == ([], none, [])  # PyPI, uv's default
    assert PipIndex(find_links=("/w",)).for_uv() == (["--find-links=/w", "--no-index"], none, [])
    assert PipIndex("https://pypi.example/simple", ("/w",)).for_uv() == (
        ["--find-links=/w"],
        {**none, "UV_DEFAULT_INDEX": "https://pypi.example/simple"},
        [],
    )
    # An environment's own indexes come first, in order; with wheel folders and no index,
    # they are the only indexes (the last one takes the default's place, not PyPI).
    first = ("https://a.example/simple", "https://b.example/simple")
    assert PipIndex().searching_first(first).for_uv() == ([], {"UV_INDEX": " ".join(first)}, [])
    assert PipIndex(find_links=("/w",)).searching_first(first).for_uv() == (
        ["--find-links=/w"],
        {"UV_INDEX": first[0], "UV_DEFAULT_INDEX": first[1]},
        [],
    )
    # Credentials are filled (for a listed host) into uv's environment, not its arguments.
    monkeypatch.setenv("PIP_TOKEN", "s/cr#t")
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "pypi.example")
    arguments, environment, secrets = PipIndex("https://bob:${PIP_TOKEN}@pypi.example/s").for_uv()
    assert arguments == [] and environment == {
        "UV_INDEX": "",
        "UV_DEFAULT_INDEX": "https://bob:s%2Fcr%23t@pypi.example/s",
    }
    assert {"s/cr#t", "s%2Fcr%23t"} <= set(secrets)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "other.example")
    with pytest.raises(UsageError, match=r"would be sent to pypi\.example"):
        PipIndex("https://bob:${PIP_TOKEN}@pypi.example/s").for_uv()


def test_index_credentials_never_reach_the_error(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # nothing listens there: fail fast
    root = make_repo(
        {"environments/ml/env.yaml": "schema_version: 1\nname: ml\npython: '3.12'\npip: [beta]\n"}
    )
    closed = PipIndex("http://bob:hunter2-secret@127.0.0.1:9/simple")
    [outcome] = lock_repository(root, pip_index=closed)
    assert outcome.status == "failed"
    why = "; ".join(outcome.reasons)
    assert "hunter2-secret" not in why and "127.0.0.1:9" in why


def test_pip_relock_keeps_pins_update_and_force_move_them(
    make_repo: RepoFactory, wheels: PipIndex
) -> None:
    bound = "schema_version: 1\nname: ml\npython: '3.12'\npip: [beta, 'alpha<1.1']\n"
    unbound = bound.replace(", 'alpha<1.1'", "")
    manifest = make_repo({"environments/ml/env.yaml": bound}) / "environments/ml/env.yaml"
    root = manifest.parents[2]

    def alpha() -> str:
        return next(
            line.split(" ")[0]
            for line in lockfile(root, "requirements-linux-64.txt").splitlines()
            if line.startswith("alpha==")
        )

    lock_repository(root, pip_index=wheels)
    assert alpha() == "alpha==1.0"
    manifest.write_text(unbound)
    assert lock_repository(root, pip_index=wheels)[0].status == "locked"
    assert alpha() == "alpha==1.0"  # the stale lock was re-resolved keeping its pins
    lock_repository(root, force=True, pip_index=wheels)
    assert alpha() == "alpha==1.1"  # --force starts from scratch
    manifest.write_text(bound)
    lock_repository(root, pip_index=wheels)
    manifest.write_text(unbound)
    lock_repository(root, pip_index=wheels)
    assert alpha() == "alpha==1.0"
    (outcome,) = lock_repository(root, update=["alpha"], pip_index=wheels)
    assert outcome.reasons == ("alpha 1.0 -> 1.1",)
    assert alpha() == "alpha==1.1"


def test_a_pip_pin_against_the_conda_part_says_to_move_it(
    make_repo: RepoFactory, wheels: PipIndex
) -> None:
    root = make_repo(
        {
            "environments/ml/env.yaml": (
                "schema_version: 1\nname: ml\npython: '3.12'\nconda: [numpy >=1.26, pip]\n"
                "pip: ['numpy==1.21.0']\n"
            )
        }
    )
    [outcome] = lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    assert outcome.status == "failed"
    why = outcome.reasons[0]
    assert "numpy" in why and "is installed by the conda part" in why
    assert "move that pin to conda:" in why


def test_a_policy_floor_moves_a_transitive_pip_pin_and_keeps_the_rest(
    make_repo: RepoFactory, wheels: PipIndex, tmp_path: Path
) -> None:
    from compiler.validate.config import Policy, load_config

    root = make_repo({"environments/ml/env.yaml": MANIFEST.replace("[beta, gamma]", "[beta]")})
    lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    old = Path(wheels.find_links[0]) / "alpha-1.1-py3-none-any.whl"
    old.rename(tmp_path / old.name)  # only alpha 1.0 to be had: the lock pins it
    lock_repository(root, mirrors=MIRRORS, pip_index=wheels, force=True)
    assert "alpha==1.0" in lockfile(root, "requirements-linux-64.txt")
    (tmp_path / old.name).rename(old)
    (outcome,) = lock_repository(root, mirrors=MIRRORS, pip_index=wheels, policy=Policy())
    assert outcome.status == "fresh"  # no floor: 1.0 stays, being locked
    (root / "envc.yaml").write_text(
        "config_version: 1\npolicy:\n  floors: [{package: Alpha, minimum: '1.1', reason: r}]\n"
    )
    policy = load_config(root).policy
    (outcome,) = lock_repository(root, mirrors=MIRRORS, pip_index=wheels, policy=policy)
    assert outcome.status == "locked"
    assert "alpha 1.0 -> 1.1" in outcome.reasons, outcome.reasons
    text = lockfile(root, "requirements-linux-64.txt")
    assert "alpha==1.1" in text and "beta==2.0" in text


def test_conda_lock_yml_carries_the_pip_part_for_conda_lock_to_install(
    make_repo: RepoFactory, wheels: PipIndex
) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    root = make_repo({"environments/ml/env.yaml": MANIFEST})
    lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    parsed = parse_conda_lock_file(root / "environments" / "ml" / "conda-lock.yml")
    pip = {p.name: p for p in parsed.package if p.manager == "pip" and p.platform == "linux-64"}
    assert sorted(pip) == ["alpha", "beta", "gamma"]  # numpy stays conda's
    for name, version in (("alpha", "1.1"), ("beta", "2.0"), ("gamma", "0.5")):
        wheel = Path(wheels.find_links[0]) / f"{name}-{version}-py3-none-any.whl"
        assert pip[name].version == version
        assert pip[name].hash.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert pip[name].url.endswith(wheel.name)
    assert {p.name for p in parsed.package if p.manager == "conda"} >= {"numpy", "python"}


def test_pixi_lock_export_holds_the_same_packages(
    make_repo: RepoFactory, wheels: PipIndex, tmp_path: Path
) -> None:
    from rattler import LockFile

    from compiler.lock.lockfiles import locked_explicit, locked_pip
    from tests.conftest import run_envc

    manifest = MANIFEST.replace("conda:", "platforms: [linux-64, osx-arm64]\nconda:")
    root = make_repo({"environments/ml/env.yaml": manifest})
    lock_repository(root, mirrors=MIRRORS, pip_index=wheels)
    target = tmp_path / "pixi.lock"
    run = run_envc(root, "export", "ml", "--format", "pixi-lock", "--out", str(target))
    assert run.returncode == 0, run.stderr
    assert "pypi entries carry no SHA-256" in run.stderr
    environment = LockFile.from_path(target).default_environment()
    assert environment is not None
    folder = root / "environments" / "ml"
    by_name = {p.name: p for p in environment.platforms()}
    assert sorted(by_name) == ["linux-64", "osx-arm64"]
    for platform, locked in by_name.items():
        records = environment.conda_repodata_records_for_platform(locked) or []
        names = {(r.name.normalized, str(r.version), str(r.build)) for r in records}
        assert names == set(locked_explicit(folder, platform))
        pypi = environment.pypi_packages_for_platform(locked) or []
        _, pinned = locked_pip(folder, platform)
        assert sorted(p.name for p in pypi) == sorted(pinned)
    assert "url: https://conda.anaconda.org/conda-forge/\n" in target.read_text()


def test_a_private_index_gets_its_credentials_only_where_the_environment_says(
    make_repo: RepoFactory, wheels: PipIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index URL with `${VAR}` credentials (envc.yaml's `pip.index_url`, `--pip-index`):
    filled for a host ENVC_CREDENTIAL_HOSTS lists and handed to uv, never written; for any
    other host, refused before uv asks anything."""
    import base64

    folder = Path(wheels.find_links[0])
    expected = "Basic " + base64.b64encode(b"bob:t0ken/#x").decode()
    asked: list[str | None] = []
    with serving(simple_index(folder, expected, asked)) as host:
        monkeypatch.setenv("PIP_USER", "bob")
        monkeypatch.setenv("PIP_TOKEN", "t0ken/#x")
        index = PipIndex(f"http://${{PIP_USER}}:${{PIP_TOKEN}}@{host}/simple")
        manifest = "schema_version: 1\nname: ml\npython: '3.12'\npip: [beta]\n"
        root = make_repo({"environments/ml/env.yaml": manifest})

        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "pypi.example.com")
        [refused] = lock_repository(root, mirrors=MIRRORS, pip_index=index)
        assert refused.status == "failed" and asked == []
        assert f"would be sent to {host}" in "; ".join(refused.reasons)

        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", host)
        # (a default index of the user's would win over uv's --index-url: not over envc's)
        monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/elsewhere")
        [outcome] = lock_repository(root, mirrors=MIRRORS, pip_index=index)
        assert outcome.status == "locked", outcome.reasons
        assert expected in asked
        for file in (root / "environments" / "ml").iterdir():
            assert "t0ken" not in file.read_text(), file.name
        assert f"http://{host}/files/beta-2.0-py3-none-any.whl" in lockfile(
            root, "pylock.linux-64.toml"
        )
