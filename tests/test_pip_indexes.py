"""An environment's own pip indexes (`pip_indexes`), as PyTorch's CUDA wheels need them: locked
by the real uv against two simple indexes on 127.0.0.1 (a PyPI stand-in and a second index that
serves `torch==2.3.1+cu121`, and a numpy of its own), then installed by `envc install`, and by the
real pip with the options the rendered Dockerfile gives it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dockerfile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.lock.inputs import lock_inputs
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from compiler.manifest.model import Manifest, resolve
from compiler.manifest.patterns import INDEX_URL_PATTERN
from compiler.render.context import _pip_index_options
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import RepoFactory, run_envc
from tests.local_http import serving, simple_index

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


class Indexes:
    def __init__(self, folder: Path, pypi: str, cuda: str) -> None:
        self.folder, self.pypi, self.cuda = folder, pypi, cuda

    def wheel(self, index: str, name: str) -> str:
        """The sha256 of wheel file `name` of index `index` ("pypi" or "cu121")."""
        return hashlib.sha256((self.folder / index / name).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexes]:
    folder = tmp_path_factory.mktemp("indexes")
    pypi, cuda = folder / "pypi", folder / "cu121"
    pypi.mkdir()
    cuda.mkdir()
    write_wheel(pypi, "torch", "2.3.1", ("filelock",))
    write_wheel(pypi, "numpy", "1.26.4")
    write_wheel(pypi, "filelock", "3.13.1")
    write_wheel(cuda, "torch", "2.3.1+cu121", ("filelock",))
    # The same release with other bytes: which index a file came from shows in its hash.
    write_wheel(cuda, "numpy", "1.26.4", ("filelock",))
    with serving(simple_index(pypi)) as pypi_host, serving(simple_index(cuda)) as cuda_host:
        yield Indexes(folder, f"http://{pypi_host}/simple", f"http://{cuda_host}/simple")


def manifest(indexes: list[str], extra: str = "") -> str:
    listed = "".join(f"  - {url}\n" for url in indexes)
    return (
        f"schema_version: 1\nname: tor\npython: '{RUNNING}'\n"
        "pip: [torch==2.3.1+cu121, numpy]\n"
        + (f"pip_indexes:\n{listed}" if indexes else "")
        + extra
    )


def lockfile(root: Path, name: str = "requirements-linux-64.txt") -> str:
    return (root / "environments" / "tor" / name).read_text()


def hashes_of(text: str, package: str) -> set[str]:
    """The --hash values of `package`'s pin in a hashed requirements file."""
    block = re.search(rf"^{package}==\S+(?:\s*\\\n\s+--hash=sha256:\w+)+", text, re.MULTILINE)
    assert block is not None, text
    return set(re.findall(r"sha256:(\w+)", block.group()))


def test_a_local_version_comes_from_the_environments_index_and_shadows_pypi(
    make_repo: RepoFactory, indexes: Indexes
) -> None:
    root = make_repo({"environments/tor/env.yaml": manifest([indexes.cuda])})
    [outcome] = lock_repository(root, pip_index=PipIndex(indexes.pypi))
    assert outcome.status == "locked", outcome.reasons
    text = lockfile(root)
    assert "torch==2.3.1+cu121 " in text
    assert hashes_of(text, "torch") == {
        indexes.wheel("cu121", "torch-2.3.1+cu121-py3-none-any.whl")
    }
    # numpy is on both: the first index that has it is the only one it may come from.
    assert hashes_of(text, "numpy") == {indexes.wheel("cu121", "numpy-1.26.4-py3-none-any.whl")}
    assert hashes_of(text, "filelock") == {
        indexes.wheel("pypi", "filelock-3.13.1-py3-none-any.whl")
    }
    assert "index-url" not in text  # where to look is the manifest's, never the lock's
    pylock = lockfile(root, "pylock.linux-64.toml")
    cuda_files = indexes.cuda.replace("/simple", "/files/")
    assert f'"{cuda_files}numpy-1.26.4-py3-none-any.whl"' in pylock
    assert f'"{cuda_files}torch-2.3.1+cu121-py3-none-any.whl"' in pylock


def test_the_sbom_names_the_index_a_package_came_from(
    make_repo: RepoFactory, indexes: Indexes
) -> None:
    """A package from an environment's own index says so in its purl (`repository_url`; a
    purl without one means PyPI), as CycloneDX's own validator accepts it."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL

    root = make_repo({"environments/tor/env.yaml": manifest([indexes.cuda])})
    lock_repository(root, pip_index=PipIndex(indexes.pypi))
    sbom = (_rendered(root) / "sbom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom) is None
    purls = {
        PackageURL.from_string(c["purl"]).name: PackageURL.from_string(c["purl"])
        for c in json.loads(sbom)["components"]
        if "purl" in c  # (the base image, by tag: no purl)
    }
    assert purls["torch"].version == "2.3.1+cu121"
    for name in ("torch", "numpy"):
        assert purls[name].qualifiers == {"repository_url": indexes.cuda}
    assert purls["filelock"].qualifiers == {}  # envc.yaml's index: PyPI's packages


def test_without_the_index_the_local_version_is_not_found(
    make_repo: RepoFactory, indexes: Indexes
) -> None:
    root = make_repo({"environments/tor/env.yaml": manifest([])})
    [outcome] = lock_repository(root, pip_index=PipIndex(indexes.pypi))
    assert outcome.status == "failed" and "torch" in "; ".join(outcome.reasons)


def test_the_indexes_and_their_order_decide_the_lock(
    make_repo: RepoFactory, indexes: Indexes
) -> None:
    root = make_repo({"environments/tor/env.yaml": manifest([indexes.cuda])})
    lock_repository(root, pip_index=PipIndex(indexes.pypi))
    fresh = lock_repository(root, check=True, pip_index=PipIndex(indexes.pypi))
    assert [o.status for o in fresh] == ["fresh"]
    both = [indexes.cuda, indexes.pypi]
    (root / "environments/tor/env.yaml").write_text(manifest(both))
    [added] = lock_repository(root, check=True)
    assert added.status == "stale" and added.reasons == (f"pip index added: {indexes.pypi}",)
    lock_repository(root, pip_index=PipIndex(indexes.pypi))
    (root / "environments/tor/env.yaml").write_text(manifest(both[::-1]))
    [moved] = lock_repository(root, check=True)
    assert moved.reasons == ("pip index order changed",)


def test_the_policy_decides_which_indexes_an_environment_may_name(
    make_repo: RepoFactory, indexes: Indexes
) -> None:
    root = make_repo(
        {
            "environments/tor/env.yaml": manifest([indexes.cuda]),
            "envc.yaml": f"config_version: 1\npip:\n  index_url: {indexes.pypi}\n"
            f"policy:\n  indexes: ['{indexes.pypi}']\n",
        }
    )
    validated = run_envc(root, "validate")
    assert validated.returncode == 1
    line = manifest([indexes.cuda]).splitlines().index(f"  - {indexes.cuda}") + 1
    assert f"environments/tor/env.yaml:{line}:" in validated.stdout + validated.stderr
    locked = run_envc(root, "lock")
    assert locked.returncode == 1 and "policy allows" in locked.stdout
    assert not (root / "environments/tor/requirements-linux-64.txt").exists()
    excused = (
        "  exceptions:\n    - environment: tor\n      rule: indexes\n"
        "      reason: CUDA wheels\n      expires: 2999-01-01\n"
    )
    with (root / "envc.yaml").open("a") as config:
        config.write(excused)
    locked = run_envc(root, "lock")
    assert locked.returncode == 0, locked.stdout + locked.stderr


def test_envc_install_takes_the_files_from_the_environments_index(
    make_repo: RepoFactory, indexes: Indexes, tmp_path: Path
) -> None:
    root = make_repo(
        {
            "environments/tor/env.yaml": manifest([indexes.cuda]),
            "envc.yaml": f"config_version: 1\npip:\n  index_url: {indexes.pypi}\n",
        }
    )
    assert run_envc(root, "lock").returncode == 0
    prefix = tmp_path / "prefix"
    installed = run_envc(root, "install", "tor", "--prefix", str(prefix))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    versions = subprocess.run(
        [
            str(prefix / "bin/python"),
            "-c",
            "import importlib.metadata as m; print(m.version('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert versions.stdout.strip() == "2.3.1+cu121"
    probe = "import importlib.metadata as m, sys; print(sys.prefix, m.version('torch'))"
    ran = run_envc(root, "run", "tor", "--prefix", str(prefix), "python", "-c", probe)
    assert ran.stdout.split() == [str(prefix), "2.3.1+cu121"], ran.stderr


def _rendered(root: Path) -> Path:
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    failed = [r for r in render_repository(root, report.manifests) if r.status == "failed"]
    assert not failed, failed
    return root / "build" / "tor"


def test_the_dockerfile_gives_pip_the_indexes_and_pip_installs_the_locked_files(
    make_repo: RepoFactory, indexes: Indexes, tmp_path: Path
) -> None:
    root = make_repo({"environments/tor/env.yaml": manifest([indexes.cuda])})
    lock_repository(root, pip_index=PipIndex(indexes.pypi))
    build = _rendered(root)
    [run] = [
        c for c in dockerfile.parse_file(str(build / "Dockerfile")) if "pip install" in c.value[0]
    ]
    host = indexes.cuda.split("/")[2]
    assert f"--extra-index-url={indexes.cuda} --trusted-host={host}" in run.value[0]
    # The real pip, with the Dockerfile's options and PyPI (its default) played by the first
    # index: it must pick, of the two numpy files of 1.26.4, the one the lock hashed.
    command = shlex.split(run.value[0].split("&&")[0])
    assert command[:4] == ["python", "-m", "pip", "install"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    command = [str(venv / "bin/python"), *command[1:]]
    command[command.index("/tmp/envc/requirements.txt")] = str(build / "requirements-linux-64.txt")
    environment = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,  # (this machine's pip.conf names indexes of its own)
        "PIP_INDEX_URL": indexes.pypi,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    frozen = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"torch==2.3.1+cu121", "numpy==1.26.4", "filelock==3.13.1"} <= set(frozen)


def test_an_index_with_credentials_is_never_written_out(
    make_repo: RepoFactory, indexes: Indexes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A private index (`${VAR}` credentials): locked with them only for a listed host; the
    Dockerfile reads it from a build secret (tests/test_build.py builds with one), the install
    script from the file ENVC_PIP_INDEXES names: neither says where it is, nor expands a thing
    the manifest wrote."""
    token = "Basic " + base64.b64encode(b"bob:t0ken").decode()
    with serving(simple_index(indexes.folder / "cu121", token)) as host:
        private = f"http://${{INDEX_USER}}:${{INDEX_TOKEN}}@{host}/simple"
        root = make_repo({"environments/tor/env.yaml": manifest([private])})
        monkeypatch.setenv("INDEX_USER", "bob")
        monkeypatch.setenv("INDEX_TOKEN", "t0ken")
        # A pull request that names an index sends it no credentials unless the job says so.
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "pypi.example.com")
        [refused] = lock_repository(root, pip_index=PipIndex(indexes.pypi))
        assert refused.status == "failed"
        assert f"would be sent to {host}" in "; ".join(refused.reasons)
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", host)
        [outcome] = lock_repository(root, pip_index=PipIndex(indexes.pypi))
        assert outcome.status == "locked", outcome.reasons
        assert "t0ken" not in lockfile(root) + lockfile(root, "pylock.linux-64.toml")
        [run] = [
            c
            for c in dockerfile.parse_file(str(_rendered(root) / "Dockerfile"))
            if "pip install" in c.value[0]
        ]
        assert run.flags == ("--mount=type=secret,id=envc-pip-indexes,required=true",)
        assert "-r /run/secrets/envc-pip-indexes" in run.value[0] and host not in run.value[0]

        (root / "environments/tor/env.yaml").write_text(
            manifest([private], "docker:\n  enabled: false\n")
        )
        script = _rendered(root) / "install-linux-64.sh"
        assert host not in script.read_text() and "INDEX_TOKEN" not in script.read_text()
        prefix = tmp_path / "prefix"
        subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
        environment = {
            **os.environ,
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": indexes.pypi,  # (PyPI's part)
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        stopped = subprocess.run(
            ["sh", str(script), str(prefix)], capture_output=True, text=True, env=environment
        )
        assert stopped.returncode != 0 and "set ENVC_PIP_INDEXES to a file" in stopped.stderr
        given = tmp_path / "private-indexes.txt"
        given.write_text(f"--extra-index-url http://bob:t0ken@{host}/simple\n")
        environment["ENVC_PIP_INDEXES"] = str(given)
        done = subprocess.run(
            ["sh", str(script), str(prefix)], capture_output=True, text=True, env=environment
        )
        assert done.returncode == 0, done.stdout + done.stderr
    frozen = subprocess.run(
        [str(prefix / "bin/python"), "-m", "pip", "freeze"], capture_output=True, text=True
    ).stdout.split()
    assert "torch==2.3.1+cu121" in frozen


def test_an_index_url_is_checked_where_it_is_written(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/a/env.yaml": "schema_version: 1\nname: a\npython: '3.12'\npip: [x]\n"
            "pip_indexes:\n  - https://bob:hunter2@pypi.example.com/simple\n"
            "  - 'https://example.com/simple;touch /tmp/x'\n"
            "  - ftp://example.com/simple\n"
            "  - https://example.com/{{latest-index}}/simple\n",
        }
    )
    report = validate(root=root, cwd=root)
    found = {(d.line, d.rule) for d in report.diagnostics}
    expected = {(6, "secret"), (7, "schema-pattern"), (8, "schema-pattern")}
    assert expected | {(9, "template-placeholder")} <= found, report.diagnostics


def test_a_requirements_file_naming_an_extra_index_comes_in_locked(
    make_repo: RepoFactory, indexes: Indexes, tmp_path: Path
) -> None:
    """As pip-compile writes one for PyPI and PyTorch's CUDA index: the import carries the index
    and the lock finds the local version there."""
    source = tmp_path / "svc" / "requirements.txt"
    source.parent.mkdir()
    source.write_text(
        f"--extra-index-url {indexes.cuda}\ntorch==2.3.1+cu121 \\\n"
        f"    --hash=sha256:{indexes.wheel('cu121', 'torch-2.3.1+cu121-py3-none-any.whl')}\n"
    )
    root = make_repo({})
    imported = run_envc(
        root, "import", str(source), "--python", RUNNING, "--lock", "--pip-index", indexes.pypi
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert (
        "torch==2.3.1+cu121 " in (root / "environments/svc/requirements-linux-64.txt").read_text()
    )


def test_a_referenced_files_index_options_say_where_indexes_go(make_repo: RepoFactory) -> None:
    """A conda file's pip section and a requirements file refer to other indexes only through
    the manifest (`pip_indexes`, where the lock, the policy and the build see them); PyPI named
    as the index changes nothing and is accepted, and is no requirement to lock."""
    cu121 = "https://download.pytorch.org/whl/cu121"
    root = make_repo(
        {
            "environments/a/env.yaml": "schema_version: 1\nname: a\nconda_file: env.yml\n"
            "requirements_file: requirements.txt\n",
            "environments/a/env.yml": "dependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
            "    - --index-url https://pypi.org/simple\n"
            f"    - --extra-index-url https://bob:hunter2@{cu121[8:]}\n"
            "    - torch==2.3.1+cu121\n",
            "environments/a/requirements.txt": f"-i {cu121}\nnumpy\n",
        }
    )
    report = validate(root=root, cwd=root)
    found = sorted((d.path, d.line, d.rule, d.message) for d in report.diagnostics)
    assert [(path, line, rule) for path, line, rule, _ in found] == [
        ("environments/a/env.yml", 6, "pip-option"),
        ("environments/a/requirements.txt", 1, "pip-option"),
    ]
    for *_, message in found:
        assert f"list {cu121} under pip_indexes: in the manifest" in message
        assert "hunter2" not in message
    # Without them, the PyPI line is accepted and locks nothing of its own.
    (root / "environments/a/env.yml").write_text(
        "dependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
        "    - --index-url https://pypi.org/simple\n    - torch\n"
    )
    (root / "environments/a/requirements.txt").write_text("numpy\n")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    inputs = lock_inputs(resolve("a", report.manifests), root)
    assert inputs is not None and inputs.pip == ("numpy", "torch")


@settings(max_examples=150, deadline=None)
@given(st.from_regex(INDEX_URL_PATTERN, fullmatch=True))
def test_any_index_url_the_schema_takes_reaches_pip_as_written(url: str) -> None:
    """Whatever an index URL holds within its pattern (`$`, braces, `%`, `@`…), BuildKit's
    parser and the shell of the RUN step hand pip exactly `--extra-index-url=URL`, or the URL
    stays out of the Dockerfile (a `${VAR}` credential: a build secret)."""
    data = {"schema_version": 1, "name": "x", "pip": ["a"], "pip_indexes": [url]}
    private, options = _pip_index_options(Manifest.model_validate(data), docker=True)
    [run] = dockerfile.parse_string(f"FROM scratch\nRUN pip install {options} -r r.txt\n")[1:]
    words = shlex.split(run.value[0])
    if private:
        assert url not in run.value[0] and words[2:4] == ["-r", "/run/secrets/envc-pip-indexes"]
    else:
        assert words[2] == f"--extra-index-url={url}"
