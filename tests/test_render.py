"""Rendering locked environments into build contexts, checked with BuildKit's parser, hadolint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dockerfile
import pytest

from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory
from tests.test_lock import MIRRORS

HADOLINT = Path(sys.executable).parent / "hadolint"
ML = (
    'schema_version: 1\nname: ml\ndescription: |\n  Training,\n  with "quotes"\n'
    "python: '3.12'\nconda: [numpy, pip]\npip: [alpha]\n"
    "variables:\n  GREETING: 'say \"hi\" $HOME \\ to ${USER}'\n  OMP_NUM_THREADS: '4'\n"
)
USER_MANAGED = (
    "schema_version: 1\nname: um\npython:\n  user_managed_dependencies: true\n"
    "  interpreter_path: /opt/conda/bin/python\n"
    "docker:\n  base_image: contoso.azurecr.io/research/runtime:1\n  user: '1000:1000'\n"
)
HOST = (
    "schema_version: 1\nname: host\npython: '3.12'\nconda: [numpy]\n"
    "platforms: [linux-64, osx-arm64]\ndocker:\n  enabled: false\n"
    'variables:\n  A: "x y; rm -rf /"\n'
)
GEO = (
    "schema_version: 1\nname: geo\npython: '3.12'\nconda: [numpy]\n"
    "docker:\n  base_dockerfile: base/Dockerfile\n"
)
GEO_DOCKERFILE = """# syntax=docker/dockerfile:1
FROM docker.io/library/ubuntu:22.04
COPY setup.sh /opt/setup/
COPY data/ /opt/data/
RUN sh /opt/setup/setup.sh
"""
GPU = (
    "schema_version: 1\nname: gpu\npython: '3.12'\nconda: [numpy]\n"
    "docker:\n  compute: gpu\n  cuda: '12.1'\n"
)
SLIM = "schema_version: 1\nname: slim\npython: '3.11'\npip: [alpha]\n"
BINARY = bytes(range(256))  # not UTF-8: copied byte for byte
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def locked_repo(make_repo: RepoFactory, tmp_path: Path) -> Path:
    root = make_repo(
        {
            "environments/ml/env.yaml": ML,
            "environments/um/env.yaml": USER_MANAGED,
            "environments/host/env.yaml": HOST,
            "environments/gpu/env.yaml": GPU,
            "environments/geo/env.yaml": GEO,
            "environments/geo/base/Dockerfile": GEO_DOCKERFILE,
            "environments/geo/base/setup.sh": "echo setting up\n",
            "environments/geo/base/data/table.csv": "a,b\n1,2\n",
            "environments/geo/base/data/model.bin": BINARY,
            "environments/slim/env.yaml": SLIM,
            "environments/geo/base/unused.txt": "not copied\n",
        }
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0")
    outcomes = lock_repository(root, mirrors=MIRRORS, pip_index=PipIndex(find_links=(str(wheels),)))
    assert {o.status for o in outcomes} <= {"locked", "skipped"}
    return root


def render_all(root: Path, **options: object) -> list[object]:
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    return render_repository(root, report.manifests, **options)  # type: ignore[arg-type]


def instructions(path: Path) -> list[str]:
    return [command.cmd for command in dockerfile.parse_file(str(path))]


def test_conda_and_pip_environment_installs_from_its_locks(locked_repo: Path) -> None:
    render_all(locked_repo)
    context = locked_repo / "build" / "ml"
    assert sorted(p.name for p in context.iterdir()) == [
        "Dockerfile",
        "conda-linux-64.lock",
        "envc-build.json",
        "requirements-linux-64.txt",
        "sbom.cdx.json",
    ]
    assert instructions(context / "Dockerfile") == [
        "FROM",
        "FROM",
        "COPY",
        "ENV",
        "COPY",
        "RUN",
        "COPY",
        "RUN",
        "ENV",  # environment
        "ENV",
        "ENV",  # one ENV per variable: quotes, $ and \\ did not break out
        "LABEL",
        "LABEL",
        "LABEL",
        "LABEL",
    ]
    text = (context / "Dockerfile").read_text()
    assert "--require-hashes" in text and "micromamba create" in text
    assert 'ENV GREETING="say \\"hi\\" \\$HOME \\\\ to \\${USER}"' in text
    assert (context / "conda-linux-64.lock").read_bytes() == (
        locked_repo / "environments/ml/conda-linux-64.lock"
    ).read_bytes()


def test_every_family_passes_hadolint(locked_repo: Path) -> None:
    render_all(locked_repo)
    dockerfiles = sorted((locked_repo / "build").glob("*/Dockerfile"))
    assert [d.parent.name for d in dockerfiles] == ["geo", "gpu", "ml", "slim", "um"]
    for file in dockerfiles:
        result = subprocess.run(
            [str(HADOLINT), "--config", str(PROJECT / ".hadolint.yaml"), str(file)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{file}: {result.stdout}{result.stderr}"


def test_base_images_come_from_the_manifest_or_the_catalog(locked_repo: Path) -> None:
    render_all(locked_repo)
    first_from = {
        name: [
            c.value[0]
            for c in dockerfile.parse_file(str(locked_repo / "build" / name / "Dockerfile"))
            if c.cmd == "FROM"
        ][-1]
        for name in ("gpu", "ml", "slim", "um")
    }
    assert first_from == {
        "gpu": "docker.io/nvidia/cuda:12.1.1-runtime-ubuntu22.04",
        "ml": "docker.io/library/debian:bookworm-slim",
        "slim": "docker.io/library/python:3.11-slim-bookworm",
        "um": "contoso.azurecr.io/research/runtime:1",
    }
    um = (locked_repo / "build/um/Dockerfile").read_text()
    assert "RUN" not in um and '"dev.envc.python"="/opt/conda/bin/python"' in um
    # A non-root user is the last instruction; the others keep the base image's user.
    assert instructions(locked_repo / "build/um/Dockerfile")[-1] == "USER"
    assert um.rstrip().endswith("USER 1000:1000")
    assert "USER" not in instructions(locked_repo / "build/ml/Dockerfile")


def test_an_environments_own_dockerfile_is_the_base_stage(locked_repo: Path) -> None:
    render_all(locked_repo)
    context = locked_repo / "build/geo"
    assert sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()) == [
        "Dockerfile",
        "conda-linux-64.lock",
        "data/model.bin",
        "data/table.csv",
        "envc-build.json",
        "sbom.cdx.json",
        "setup.sh",
    ]
    assert (context / "data/model.bin").read_bytes() == BINARY
    parsed = dockerfile.parse_file(str(context / "Dockerfile"))
    stages = [c.value for c in parsed if c.cmd == "FROM"]
    assert stages == [
        ("docker.io/library/ubuntu:22.04", "AS", "envc-base"),
        ("docker.io/mambaorg/micromamba:2.0.5", "AS", "micromamba"),
        ("envc-base",),
    ]
    assert next(c.value for c in parsed if c.cmd == "RUN") == ("sh /opt/setup/setup.sh",)


@pytest.mark.parametrize(
    ("dockerfile_text", "message"),
    [
        ("RUN echo hi\n", "no FROM instruction"),
        ("FROM x\nCOPY ../secret /s\n", r"base/Dockerfile:2: \.\./secret is outside"),
        ("FROM x\nCOPY missing.sh /s\n", "missing.sh does not exist"),
        ("FROM x\nCOPY Dockerfile /d\n", "Dockerfile would overwrite a file envc writes"),
    ],
)
def test_a_base_dockerfile_envc_cannot_use_is_refused(
    locked_repo: Path, dockerfile_text: str, message: str
) -> None:
    (locked_repo / "environments/geo/base/Dockerfile").write_text(dockerfile_text)
    report = validate(root=locked_repo, cwd=locked_repo)
    # validate finds what it can see at the Dockerfile's line; render refuses all of them
    if "overwrite" not in message:
        [found] = report.diagnostics
        assert found.path == "environments/geo/base/Dockerfile"
        assert re.search(message.split(": ")[-1], found.message)
    outcomes = {o.name: o for o in render_repository(locked_repo, report.manifests, ["geo", "ml"])}
    assert outcomes["geo"].status == "failed"
    assert re.search(message, outcomes["geo"].error)
    assert not (locked_repo / "build/geo").exists()
    assert (locked_repo / "build/ml/Dockerfile").is_file()  # the others still render


def test_without_docker_an_install_script_per_platform(locked_repo: Path) -> None:
    render_all(locked_repo)
    context = locked_repo / "build" / "host"
    assert sorted(p.name for p in context.iterdir()) == [
        "conda-linux-64.lock",
        "conda-osx-arm64.lock",
        "envc-build.json",
        "install-linux-64.sh",
        "install-osx-arm64.sh",
        "sbom-linux-64.cdx.json",
        "sbom-osx-arm64.cdx.json",
    ]
    script = context / "install-linux-64.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    assert "printf '%s=%s\\n' A 'x y; rm -rf /' >>" in script.read_text()


@pytest.mark.parametrize(
    "value",
    [
        "a\\nLD_PRELOAD=/tmp/evil.so",  # echo in dash would start a second variable
        "before\\cafter",  # echo in dash would stop here
        "%s %d %n",
        "-n",
        "'quoted' \"double\" $HOME `id`",
        "tab\there",
    ],
)
def test_install_scripts_write_variables_byte_exact_under_dash(
    make_repo: RepoFactory, tmp_path: Path, value: str
) -> None:
    import json as json_module

    root = make_repo(
        {
            "environments/host/env.yaml": "schema_version: 1\nname: host\npython:\n"
            "  user_managed_dependencies: true\n  interpreter_path: /usr/bin/python3\n"
            f"docker:\n  enabled: false\nvariables:\n  V: {json_module.dumps(value)}\n"
        }
    )
    report = validate(root=root, cwd=root)
    if not report.ok:  # refused at validation (command substitution): never rendered
        assert {d.rule for d in report.diagnostics} == {"unsafe-value"}
        return
    render_repository(root, report.manifests)
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    script = root / "build" / "host" / "install-linux-64.sh"
    result = subprocess.run(["dash", str(script), str(prefix)], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (prefix / "envc-variables.env").read_bytes() == f"V={value}\n".encode()


def test_rendering_is_incremental_and_check_shows_a_diff(locked_repo: Path) -> None:
    assert {o.status for o in render_all(locked_repo)} == {"rendered"}  # type: ignore[attr-defined]
    assert {o.status for o in render_all(locked_repo)} == {"unchanged"}  # type: ignore[attr-defined]
    dockerfile_path = locked_repo / "build/ml/Dockerfile"
    dockerfile_path.write_text(dockerfile_path.read_text().replace("--no-cache-dir ", ""))
    outcomes = {o.name: o for o in render_all(locked_repo, check=True)}  # type: ignore[attr-defined]
    assert outcomes["ml"].status == "differs"
    assert "+RUN /opt/env/bin/python -m pip install --no-cache-dir" in outcomes["ml"].diff
    assert "--no-cache-dir" not in dockerfile_path.read_text()  # --check wrote nothing


def test_a_hostile_file_in_build_is_never_read_only_replaced(
    locked_repo: Path, tmp_path: Path
) -> None:
    """build/ can come from a pull request's checkout: what render compares it with is read
    bounded, so a FIFO (a read would wait forever) or a link to a huge file counts as
    different, and rendering replaces it with the real file."""
    render_all(locked_repo)
    fifo = locked_repo / "build/ml/Dockerfile"
    fifo.unlink()
    os.mkfifo(fifo)
    huge = tmp_path / "huge"
    with huge.open("wb") as handle:
        handle.truncate(1 << 40)  # sparse: a terabyte a plain read would try to hold
    link = locked_repo / "build/slim/Dockerfile"
    link.unlink()
    link.symlink_to(huge)
    checked = {o.name: o.status for o in render_all(locked_repo, check=True)}  # type: ignore[attr-defined]
    assert checked["ml"] == checked["slim"] == "differs"
    rendered = {o.name: o.status for o in render_all(locked_repo)}  # type: ignore[attr-defined]
    assert rendered["ml"] == rendered["slim"] == "rendered"
    for path in (fifo, link):
        assert path.is_file() and not path.is_symlink() and "FROM" in path.read_text()


def test_an_interrupted_render_leaves_build_as_it_was(
    locked_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering streams (each environment written, then forgotten), but what it writes is
    swapped in only when every environment has rendered: an interruption half-way, or a set-up
    error, leaves build/ as the last complete render left it, with no staging folders."""
    import compiler.render.context as stage

    render_all(locked_repo)
    before = {p: p.read_bytes() for p in (locked_repo / "build").rglob("*") if p.is_file()}
    dockerfile_path = locked_repo / "build/ml/Dockerfile"
    dockerfile_path.write_text("edited\n")  # so that ml is written again
    real = stage.repository_renderer
    seen: list[str] = []

    def interrupted(root: Path, verified: object = None) -> object:
        render_one = real(root, verified)  # type: ignore[arg-type]

        def one(manifest: object, folder: Path) -> object:
            seen.append(manifest.name)  # type: ignore[attr-defined]
            if manifest.name == "slim":  # type: ignore[attr-defined]
                raise KeyboardInterrupt
            return render_one(manifest, folder)  # type: ignore[arg-type]

        return one

    monkeypatch.setattr(stage, "repository_renderer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render_all(locked_repo)
    assert "ml" in seen  # ml was rendered (and staged) before the interruption
    assert dockerfile_path.read_text() == "edited\n"
    after = {p: p.read_bytes() for p in (locked_repo / "build").rglob("*") if p.is_file()}
    assert after == {**before, dockerfile_path: b"edited\n"}
    assert not [p for p in (locked_repo / "build").iterdir() if p.name.startswith(".")]


def test_a_stale_lock_is_refused(locked_repo: Path) -> None:
    manifest = locked_repo / "environments/ml/env.yaml"
    manifest.write_text(manifest.read_text().replace("[numpy, pip]", "[numpy, pip, pandas]"))
    [outcome] = render_all(locked_repo, names=["ml"])
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    assert re.search(r"the lock is stale .*spec added: pandas.*envc lock ml", outcome.error)  # type: ignore[attr-defined]
    assert not (locked_repo / "build/ml").exists()


def test_same_bytes_under_any_hash_seed(locked_repo: Path) -> None:
    envc = str(Path(sys.executable).parent / "envc")
    outputs = set()
    for seed in ("0", "1", "42"):
        out = locked_repo / f"out-{seed}"
        result = subprocess.run(
            [envc, "render", "--out", str(out)],
            cwd=locked_repo,
            env=dict(os.environ, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.add(
            tuple(
                (p.relative_to(out).as_posix(), p.read_bytes())
                for p in sorted(out.rglob("*"))
                if p.is_file()
            )
        )
    assert len(outputs) == 1


def test_an_environment_without_packages_installs_nothing(make_repo: RepoFactory) -> None:
    root = make_repo(
        {"environments/bare/env.yaml": "schema_version: 1\nname: bare\npython: '3.12'\n"}
    )
    render_all(root)
    dockerfile_path = root / "build/bare/Dockerfile"
    assert "None" not in dockerfile_path.read_text()
    assert instructions(dockerfile_path) == ["FROM", "LABEL", "LABEL"]


def test_each_family_renders_as_its_golden_files(locked_repo: Path) -> None:
    """The Dockerfiles and install scripts of every family, byte for byte, against the files
    under tests/golden/ (reviewed when they change: ENVC_UPDATE_GOLDEN=1 rewrites them)."""
    render_all(locked_repo)
    rendered = {
        path.relative_to(locked_repo / "build").as_posix(): path.read_text()
        for pattern in ("*/Dockerfile", "*/install-*.sh")
        for path in (locked_repo / "build").glob(pattern)
    }
    assert sorted({name.split("/")[0] for name in rendered}) == [
        "geo",
        "gpu",
        "host",
        "ml",
        "slim",
        "um",
    ]
    if os.environ.get("ENVC_UPDATE_GOLDEN"):
        for name, text in rendered.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text)
    golden = {
        path.relative_to(GOLDEN).as_posix(): path.read_text()
        for path in GOLDEN.rglob("*")
        if path.is_file()
    }
    assert sorted(golden) == sorted(rendered)
    for name, text in sorted(rendered.items()):
        assert text == golden[name], f"{name} differs from tests/golden/{name}"


def _age_tree(root: Path) -> None:
    """`root` (and what is in it) older than the caches' racy-timestamp window."""
    for path in [*(root.rglob("*") if root.is_dir() else ()), root]:
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)


def test_an_unchanged_environment_is_not_rendered_again(
    locked_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render cache skips environments whose inputs and outputs are as they were, and never
    changes a result: a changed lock, manifest, template or output file is rendered again.
    Outputs just written are vouched for by their content until their stat can be."""
    import compiler.render.context as stage

    _age_tree(locked_repo)  # the inputs: their stat vouches for them
    first = {o.name: o for o in render_all(locked_repo)}  # type: ignore[attr-defined]
    real = stage.render_environment
    rendered: list[str] = []

    def counting(manifest: object, *args: object, **options: object) -> object:
        rendered.append(manifest.name)  # type: ignore[attr-defined]
        return real(manifest, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "render_environment", counting)

    def statuses() -> dict[str, tuple[str, str | None]]:
        rendered.clear()
        outcomes = render_all(locked_repo)
        return {o.name: (o.status, o.address) for o in outcomes}  # type: ignore[attr-defined]

    def cold() -> dict[str, tuple[str, str | None]]:
        (locked_repo / ".envc/cache/render.json").unlink()
        return statuses()

    expected = {name: ("unchanged", o.address) for name, o in first.items()}
    referencing = {"geo"}  # names a base Dockerfile: always rendered
    # the first render's files are too young for their stat to vouch for them: their content
    # does, so an edit within the same clock tick, of the same size, is still seen
    dockerfile_path = locked_repo / "build/ml/Dockerfile"
    original = dockerfile_path.read_text()
    written = dockerfile_path.stat()
    dockerfile_path.write_text(original.replace("FROM", "from", 1))
    os.utime(dockerfile_path, ns=(written.st_atime_ns, written.st_mtime_ns))
    assert statuses() == {**expected, "ml": ("rendered", first["ml"].address)}  # type: ignore[attr-defined]
    assert set(rendered) == referencing | {"ml"} and dockerfile_path.read_text() == original
    assert statuses() == expected and set(rendered) == referencing
    _age_tree(locked_repo / "build")  # their stat can vouch for them now: learnt
    assert statuses() == expected and set(rendered) == referencing
    stored = json.loads((locked_repo / ".envc/cache/render.json").read_text())
    assert all(entry[1] is not None for entry in next(iter(stored["outputs"].values())).values())
    assert statuses() == expected and set(rendered) == referencing

    # an edited output file is put back
    dockerfile_path.write_text("edited\n")
    assert statuses()["ml"] == ("rendered", first["ml"].address)  # type: ignore[attr-defined]
    assert dockerfile_path.read_text() == original and "ml" in rendered
    _age_tree(locked_repo / "build/ml")
    assert statuses() == expected and set(rendered) == referencing  # by content, then stat
    assert statuses() == expected and set(rendered) == referencing

    # a lock or manifest that changed is looked at again, with the result a cold run gives
    lock = locked_repo / "environments/ml/conda-lock.yml"
    lock.write_text(lock.read_text() + "# touched\n")
    _age_tree(lock)
    touched = statuses()
    assert set(rendered) == referencing | {"ml"}
    assert cold() == touched
    manifest = locked_repo / "environments/ml/env.yaml"
    manifest.write_text(manifest.read_text().replace("[numpy, pip]", "[numpy, pip, pandas]"))
    _age_tree(manifest)
    assert statuses()["ml"][0] == "failed" and "ml" in rendered

    # a changed template renders everything again
    _age_tree(locked_repo)
    statuses()
    templates = locked_repo / "templates"
    templates.mkdir()
    (templates / "unused.j2").write_text("{# not used by any family #}\n")
    _age_tree(templates)
    changed = statuses()
    assert set(rendered) == set(first)
    assert cold() == changed


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# A render in a process of its own (this one has the Go runtime's threads, from the
# `dockerfile` package: envc never forks such a process), by two workers, forked or spawned;
# a forked worker inherits the recording of what it renders (and BREAK_SLIM's bug).
WORKER_RENDER = """
import json, os, sys
from pathlib import Path
import compiler._util.processes as processes
import compiler.render.repository as repository
from compiler.validate.repository import validate

root, out, pids, start = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
real = repository._Renderer.outcome

def recording(self, name, manifests):
    with pids.open("a") as handle:
        handle.write(f"{os.getpid()}\\n")
    if name == "slim" and os.environ.get("BREAK_SLIM"):
        raise RuntimeError("a bug in a worker")
    return real(self, name, manifests)

repository._Renderer.outcome = recording
processes.FORKED_FROM = processes.SPAWNED_FROM = 2
processes.worker_count = lambda: 2
if start == "spawn":
    processes.can_fork = lambda: False
report = validate(root=root, cwd=root)
try:
    outcomes = repository.render_repository(root, report.manifests, out=out)
except RuntimeError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({o.name: [o.status, o.address] for o in outcomes}))
print(os.getpid(), file=sys.stderr)
"""


def test_worker_processes_render_what_one_process_renders(
    locked_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many environments are rendered by worker processes (forked, or spawned when this one
    cannot fork), each staging its own: the same bytes, outcomes and verified locks as one
    process; a failing environment fails alone; an error in a worker leaves build/ as it was,
    with no staging folders."""
    import json

    manifest = locked_repo / "environments/ml/env.yaml"
    manifest.write_text(manifest.read_text().replace("[numpy, pip]", "[numpy, pip, pandas]"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-alone"))
    alone = {
        o.name: [o.status, o.address]  # type: ignore[attr-defined]
        for o in render_all(locked_repo, out=locked_repo / "alone")
    }
    assert alone["ml"][0] == "failed" and {s for s, _ in alone.values()} == {"failed", "rendered"}
    pids = tmp_path / "pids"

    def in_workers(start: str, out: str, **environment: str) -> tuple[object, str, set[str]]:
        pids.write_text("")
        result = subprocess.run(
            [sys.executable, "-c", WORKER_RENDER, locked_repo, locked_repo / out, pids, start],
            env={
                **os.environ,
                "PYTHONPATH": str(PROJECT),
                "XDG_CACHE_HOME": str(tmp_path / f"cache-{out}"),
                **environment,
            },
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout), result.stderr.strip(), set(pids.read_text().split())

    def verified(cache: str) -> list[str]:
        keys: list[str] = json.loads((tmp_path / cache / "envc/verified-locks.json").read_text())
        return keys

    # geo's base Dockerfile loads the Go parser while validating: that process cannot fork
    outcomes, _, rendered_by = in_workers("spawn", "spawned")
    assert outcomes == alone and not rendered_by  # spawned workers render; the parent does not
    assert _tree(locked_repo / "spawned") == _tree(locked_repo / "alone")
    assert verified("cache-spawned") == verified("cache-alone") and verified("cache-alone")

    shutil.rmtree(locked_repo / "environments/geo")
    del alone["geo"]
    shutil.rmtree(locked_repo / "alone/geo")
    outcomes, parent, rendered_by = in_workers("fork", "forked")
    assert outcomes == alone and rendered_by and parent not in rendered_by
    assert _tree(locked_repo / "forked") == _tree(locked_repo / "alone")

    (locked_repo / "forked/gpu/Dockerfile").write_text("edited\n")  # so that gpu is staged
    before = _tree(locked_repo / "forked")
    outcomes, _, _ = in_workers("fork", "forked", BREAK_SLIM="1")
    assert outcomes == {"error": "a bug in a worker"}
    assert _tree(locked_repo / "forked") == before
    assert not [p for p in (locked_repo / "forked").iterdir() if p.name.startswith(".")]


def test_a_worker_that_dies_is_an_error_not_a_crash() -> None:
    """A worker killed mid-job (the kernel's OOM killer, say) stops the command with a message
    (exit 2), not an internal-error report."""
    from compiler._util.processes import in_workers, spawned_pool
    from compiler.errors import UsageError

    with pytest.raises(UsageError, match="worker process stopped without an answer"):
        list(in_workers(spawned_pool(1), os._exit, [3]))


PAUSED_THEN_FORKED = """
import gc
from compiler._util.heap import cycle_collection_paused
from compiler._util.processes import forked_pool, in_workers

def collecting(_):
    return gc.isenabled()

with cycle_collection_paused():
    pool = forked_pool(2)
    assert pool is not None and not gc.isenabled()
    print(list(in_workers(pool, collecting, range(4))), gc.isenabled())
print(gc.isenabled())
"""


def test_a_worker_forked_while_collection_is_paused_collects_again() -> None:
    """A plan or a register pauses cycle collection while it builds (heap.py); the workers it
    forks for renders turn it on again, or each would grow with the cycles its renders leave.
    (In a process of its own: this one may hold threads, and envc never forks then.)"""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", PAUSED_THEN_FORKED],
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[True, True, True, True] False", "True"]


def test_workers_are_handed_jobs_a_few_chunks_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """in_workers takes jobs from their iterator as answers are read, not all at once: with
    50,000 environments, each job's manifests would otherwise wait in memory together."""
    from compiler._util import processes

    monkeypatch.setattr(processes, "worker_count", lambda: 2)
    taken: list[int] = []

    def jobs() -> Iterator[int]:
        for job in range(200):
            taken.append(job)
            yield job

    answers = processes.in_workers(processes.spawned_pool(2), abs, jobs(), chunksize=5)
    assert [next(answers) for _ in range(3)] == [0, 1, 2]
    ahead = processes.WINDOW_PER_WORKER * 2 * 5  # chunks handed out per worker, two workers
    assert len(taken) <= ahead + 5
    assert list(answers) == list(range(3, 200))  # in order, every one


def test_an_environment_keeps_its_content_address_across_envc_releases(locked_repo: Path) -> None:
    """A new release that renders the same build context must not rebuild every environment:
    the addresses of the environments without pip packages (the test's wheel is rebuilt each
    run), as the release before `pip_indexes` existed computed them."""
    render_all(locked_repo)
    before = json.loads((PROJECT / "tests/data/content-addresses.json").read_text())
    now = {
        name: json.loads((locked_repo / "build" / name / "envc-build.json").read_text())[
            "content_address"
        ]
        for name in before
    }
    assert now == before
