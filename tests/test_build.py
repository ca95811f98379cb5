"""Building images with the real buildah (vfs storage, chroot isolation) from a base image made
here out of Debian's busybox-static and served by a local docker-registry: no internet."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from compiler.cli import main
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from tests.conftest import PROJECT, RepoFactory
from tests.gitrepos import Git, commit
from tests.local_http import serving, simple_index
from tests.oci_server import Server, guarded_registry


def buildah(*args: str) -> str:
    binary = shutil.which("buildah")
    assert binary, "buildah is not installed: apt-get install buildah"
    result = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A registry holding `base/busybox:1`: busybox-static as /bin/sh, cat, echo …"""
    folder = tmp_path_factory.mktemp("build")
    storage = folder / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{folder}/run"\ngraphroot = "{folder}/graph"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTAINERS_STORAGE_CONF", str(storage))
        patch.setenv("BUILDAH_ISOLATION", "chroot")
        server = Server(folder / "registry")
        server.folder.mkdir()
        server.start()
        busybox = shutil.which("busybox")
        assert busybox, "busybox-static is not installed: apt-get install busybox-static"
        rootfs = folder / "rootfs" / "bin"
        rootfs.mkdir(parents=True)
        shutil.copy(busybox, rootfs / "busybox")
        for tool in ("sh", "cat", "echo", "false"):
            (rootfs / tool).symlink_to("busybox")
        container = buildah("from", "scratch")
        buildah("copy", container, str(folder / "rootfs"), "/")
        buildah("config", "--env", "PATH=/bin", container)
        image = f"{server.host}/base/busybox:1"
        buildah("commit", "--quiet", container, image)
        buildah("push", "--tls-verify=false", image, f"docker://{image}")
        yield server, image
        server.stop()


def installed_version(image: str, package: str) -> str:
    """The version of `package` the Python of `image` has installed."""
    container = buildah("from", image)
    try:
        probe = f"import importlib.metadata as m; print(m.version({package!r}))"
        return buildah("run", container, "python", "-c", probe)
    finally:
        buildah("rm", container)


def _shared_libraries(binaries: list[Path]) -> set[str]:
    """The shared libraries (and the loader) `binaries` load, as ldd names them."""
    found: set[str] = set()
    for binary in binaries:
        listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        found.update(re.findall(r"(/\S+) \(0x", listing.stdout))
    return found


@pytest.fixture(scope="module")
def python_base_image(
    base_image: tuple[Server, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """`localhost/envc-tests/python:X.Y`: busybox plus this machine's Python (its stdlib, the
    libraries it loads) and pip, with pip pointed at /wheels and no index. Returns the image
    and the wheel folder locks resolve against."""
    _, busybox_image = base_image
    folder = tmp_path_factory.mktemp("python-image")
    wheels = folder / "rootfs" / "wheels"
    wheels.mkdir(parents=True)
    write_wheel(wheels, "alpha", "1.0")
    rootfs = folder / "rootfs"
    interpreter = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])
    skipped = shutil.ignore_patterns(
        "__pycache__", "test", "tests", "idlelib", "tkinter", "ensurepip", "site-packages"
    )
    shutil.copytree(stdlib, rootfs / stdlib.relative_to("/"), ignore=skipped, symlinks=True)
    pip = Path(sysconfig.get_paths()["purelib"]) / "pip"  # this virtual environment's pip
    shutil.copytree(
        pip,
        rootfs / stdlib.relative_to("/") / "site-packages" / "pip",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (rootfs / interpreter.parent.relative_to("/")).mkdir(parents=True, exist_ok=True)
    shutil.copy2(interpreter, rootfs / interpreter.relative_to("/"))
    extensions = list((stdlib / "lib-dynload").glob("*.so"))
    for library in _shared_libraries([interpreter, *extensions]):
        target = rootfs / library.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(library), target)
    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "usr/local/bin/python").symlink_to(interpreter)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    image = f"localhost/envc-tests/python:{version}"
    container = buildah("from", busybox_image)
    buildah("copy", container, str(rootfs), "/")
    for variable in ("PATH=/usr/local/bin:/bin", "PIP_NO_INDEX=1", "PIP_FIND_LINKS=/wheels"):
        buildah("config", "--env", variable, container)
    buildah("commit", "--quiet", container, image)
    buildah("rm", container)
    return image, wheels


def environments(make_repo: RepoFactory, image: str) -> Path:
    user_managed = (
        "schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
        "  interpreter_path: /bin/sh\ndocker:\n  {docker}\n"
    )
    return make_repo(
        {
            "environments/tool/env.yaml": user_managed.format(
                name="tool", docker=f"base_image: {image}"
            ),
            "environments/custom/env.yaml": user_managed.format(
                name="custom", docker="base_dockerfile: Dockerfile"
            ),
            "environments/custom/Dockerfile": (
                f"FROM {image}\nCOPY motd /etc/motd\nRUN cat /etc/motd > /built.txt\n"
            ),
            "environments/custom/motd": "built by envc\n",
            "environments/broken/env.yaml": user_managed.format(
                name="broken", docker="base_dockerfile: Dockerfile"
            ),
            "environments/broken/Dockerfile": f"FROM {image}\nRUN false\n",
        }
    )


def test_build_runs_each_environment_and_reports_failures_per_environment(
    base_image: tuple[Server, str], make_repo: RepoFactory
) -> None:
    server, image = base_image
    root = environments(make_repo, image)
    prefix = f"{server.host}/envs/"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--push",
            "--plain-http",
            "--image-prefix",
            prefix,
            "--format",
            "json",
            "--repo",
            str(root),
        ],
    )
    assert result.exit_code == 1  # broken failed; the others still built
    outcomes = {o["name"]: o for o in json.loads(result.stdout)}
    assert {n: o["status"] for n, o in outcomes.items()} == {
        "broken": "failed",
        "custom": "built",
        "tool": "built",
    }
    assert "false" in outcomes["broken"]["log"] or "exit" in outcomes["broken"]["log"]
    custom = outcomes["custom"]
    assert custom["digest"].startswith("sha256:")
    manifest = requests.get(
        f"http://{server.host}/v2/envs/custom/manifests/{custom['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    assert manifest.status_code == 200
    # The RUN step ran inside the image: the file it wrote is there.
    container = buildah("from", "--tls-verify=false", custom["image"])
    assert buildah("run", container, "cat", "/built.txt") == "built by envc"


def test_ci_main_builds_pushes_and_registers_only_what_built(
    base_image: tuple[Server, str], make_repo: RepoFactory, git: Git, tmp_path: Path
) -> None:
    server, image = base_image
    root = environments(make_repo, image)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("environments\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "start")  # before the environments
    first = git(root, "rev-parse", "HEAD")
    commit(git, root, "environments")
    report = tmp_path / "report.json"
    prefix = f"{server.host}/ci/"
    options = [
        "ci",
        "--main",
        "--base",
        first,
        "--head",
        "HEAD",
        "--push",
        "--plain-http",
        "--image-prefix",
        prefix,
        "--registry",
        f"oci://{server.host}/envc-records",
        "--report",
        str(report),
        "--repo",
        str(root),
    ]
    result = CliRunner().invoke(main, options)
    assert result.exit_code == 1, result.output  # the broken build fails the job
    document = json.loads(report.read_text())
    steps = {s["name"]: s["status"] for s in document["steps"]}
    assert steps["build"] == "failed" and steps["register"] == "passed"
    registered = {r["name"]: r for r in document["registered"]}
    assert set(registered) == {"custom", "tool"}  # nothing that did not build
    assert registered["tool"]["image"] == f"{prefix}tool:1"
    assert registered["tool"]["image_digest"].startswith("sha256:")
    tags = requests.get(f"http://{server.host}/v2/ci/tool/tags/list", timeout=10).json()["tags"]
    assert "1" in tags and len(tags) == 2  # the version tag and the address tag

    again = CliRunner().invoke(main, options)
    assert again.exit_code == 1
    document = json.loads(report.read_text())
    assert document["registered"] == []  # built ones are reused; broken still fails
    planned = {e["name"]: e["status"] for e in document["plan"]["environments"]}
    assert planned == {"broken": "added", "custom": "reuse", "tool": "reuse"}


def test_a_private_base_registry_is_logged_in_to_from_environment_variables(
    base_image: tuple[Server, str],
    make_repo: RepoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, public_image = base_image
    secret = "s3cret-Pa55"
    with guarded_registry(tmp_path / "guarded", "builder", secret) as guarded:
        private = f"{guarded.host}/team/runtime:1"
        buildah("tag", public_image, private)
        buildah("push", "--tls-verify=false", f"--creds=builder:{secret}", private)
        buildah("rmi", private)  # the build must pull it, so it must log in
        root = make_repo(
            {
                "environments/research/env.yaml": (
                    "schema_version: 1\nname: research\npython:\n"
                    "  user_managed_dependencies: true\n  interpreter_path: /bin/sh\n"
                    f"docker:\n  base_image: {private}\n  base_image_registry:\n"
                    f"    address: {guarded.host}\n"
                    "    username: ${BASE_USER}\n    password: ${BASE_PASSWORD}\n"
                ),
            }
        )
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-logins.json"))
        arguments = ["build", "--plain-http", "--format", "json", "--repo", str(root)]

        missing = CliRunner().invoke(main, arguments)
        assert missing.exit_code == 1
        [outcome] = json.loads(missing.stdout)
        assert "needs the environment variable(s) BASE_USER, BASE_PASSWORD" in outcome["log"]

        monkeypatch.setenv("BASE_USER", "builder")
        monkeypatch.setenv("BASE_PASSWORD", "wrong-password")
        # The manifest names the registry: credentials go only where the environment says.
        unlisted = CliRunner().invoke(main, arguments)
        [outcome] = json.loads(unlisted.stdout)
        assert (
            f"would be sent to {guarded.host.lower()}, which ENVC_CREDENTIAL_HOSTS"
            in (outcome["log"])
        )
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", guarded.host)
        refused = CliRunner().invoke(main, arguments)
        assert refused.exit_code == 1
        [outcome] = json.loads(refused.stdout)
        assert outcome["status"] == "failed" and outcome["log"]
        assert "wrong-password" not in refused.output

        monkeypatch.setenv("BASE_PASSWORD", secret)
        built = CliRunner().invoke(main, arguments)
        assert built.exit_code == 0, built.output
        [outcome] = json.loads(built.stdout)
        assert outcome["status"] == "built"
        assert secret not in built.output


def test_a_pip_only_environment_builds_from_its_hashed_lock(
    python_base_image: tuple[str, Path], make_repo: RepoFactory
) -> None:
    image, wheels = python_base_image
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    catalog = (PROJECT / "templates/base-images.yaml").read_text()
    root = make_repo(
        {
            "environments/slim/env.yaml": (
                f"schema_version: 1\nname: slim\npython: '{version}'\npip: [alpha]\n"
            ),
            # The catalog's Python image, replaced by the one assembled here.
            "templates/base-images.yaml": re.sub(
                r"^python: .*$",
                "python: localhost/envc-tests/python:{version}",
                catalog,
                flags=re.M,
            ),
        }
    )
    [locked] = lock_repository(root, pip_index=PipIndex(find_links=(str(wheels),)))
    assert locked.status == "locked", locked.reasons
    result = CliRunner().invoke(main, ["build", "--format", "json", "--repo", str(root)])
    assert result.exit_code == 0, result.output
    [outcome] = json.loads(result.stdout)
    assert outcome["status"] == "built"
    assert f"FROM {image}" in (root / "build/slim/Dockerfile").read_text()
    assert installed_version(outcome["image"], "alpha") == "1.0"  # pip checked the lock's hash


def test_a_private_pip_index_reaches_the_build_as_a_secret_and_no_layer(
    python_base_image: tuple[str, Path],
    make_repo: RepoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An environment's pip index with `${VAR}` credentials: the rendered Dockerfile mounts a
    build secret that `envc build` fills (for a host ENVC_CREDENTIAL_HOSTS lists); pip inside
    the build authenticates with it, and neither the Dockerfile nor the image holds it."""
    image, _ = python_base_image
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    online = f"localhost/envc-tests/python-online:{version}"  # without the image's offline pip
    container = buildah("from", image)
    buildah("config", "--env", "PIP_NO_INDEX-", "--env", "PIP_FIND_LINKS-", container)
    buildah("commit", "--quiet", container, online)
    buildah("rm", container)
    private = tmp_path / "private"
    private.mkdir()
    write_wheel(private, "inhouse", "1.0")
    token = "t0ken-in-the-secret"
    expected = "Basic " + base64.b64encode(f"bob:{token}".encode()).decode()
    asked: list[str | None] = []
    with serving(simple_index(private, expected, asked)) as host:
        root = make_repo(
            {
                "environments/svc/env.yaml": (
                    f"schema_version: 1\nname: svc\npython: '{version}'\npip: [inhouse]\n"
                    f"pip_indexes: ['http://${{PIP_USER}}:${{PIP_TOKEN}}@{host}/simple']\n"
                    f"docker:\n  base_image: {online}\n"
                ),
            }
        )
        monkeypatch.setenv("PIP_USER", "bob")
        monkeypatch.setenv("PIP_TOKEN", token)
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", host)
        empty = tmp_path / "no-wheels"
        empty.mkdir()
        [locked] = lock_repository(root, pip_index=PipIndex(find_links=(str(empty),)))
        assert locked.status == "locked", locked.reasons
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "pypi.example.com")
        refused = CliRunner().invoke(main, ["build", "--format", "json", "--repo", str(root)])
        [outcome] = json.loads(refused.stdout)
        assert outcome["status"] == "failed" and f"would be sent to {host}" in outcome["log"]
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", host)
        asked.clear()
        result = CliRunner().invoke(main, ["build", "--format", "json", "--repo", str(root)])
        assert result.exit_code == 0, result.output
        [outcome] = json.loads(result.stdout)
        assert outcome["status"] == "built", outcome["log"]
    assert expected in asked  # pip, in the build, logged in with the filled secret
    dockerfile_text = (root / "build/svc/Dockerfile").read_text()
    assert "--mount=type=secret,id=envc-pip-indexes,required=true" in dockerfile_text
    assert token not in dockerfile_text + result.output
    assert installed_version(outcome["image"], "inhouse") == "1.0"
    container = buildah("from", outcome["image"])
    try:
        mounted = Path(buildah("mount", container))
        leaked = subprocess.run(
            ["grep", "-rl", "--binary-files=text", token, str(mounted)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert leaked.stdout == "", leaked.stdout  # in no file of the image
    finally:
        buildah("umount", container)
        buildah("rm", container)


def test_parallel_builds_reuse_the_layers_of_unchanged_steps(
    base_image: tuple[Server, str], make_repo: RepoFactory
) -> None:
    """Four builds at once on one buildah storage; a rebuild after a variable change reuses
    every step before it, and --no-cache reuses none."""
    _, image = base_image
    step = "RUN echo {n} > /which.txt\n"
    files: dict[str, str | bytes] = {}
    for n in range(4):
        folder = f"environments/env{n}"
        files[f"{folder}/env.yaml"] = (
            f"schema_version: 1\nname: env{n}\npython:\n  user_managed_dependencies: true\n"
            "  interpreter_path: /bin/sh\ndocker:\n  base_dockerfile: Dockerfile\n"
        )
        files[f"{folder}/Dockerfile"] = f"FROM {image}\n" + step.format(n=n)
    root = make_repo(files)
    runner = CliRunner()
    first = runner.invoke(main, ["build", "--jobs", "4", "--format", "json", "--repo", str(root)])
    assert first.exit_code == 0, first.output
    outcomes = json.loads(first.stdout)
    assert [o["status"] for o in outcomes] == ["built"] * 4
    for n, outcome in enumerate(outcomes):  # each image holds its own step, not a neighbour's
        container = buildah("from", outcome["image"])
        assert buildah("run", container, "cat", "/which.txt") == str(n)
        buildah("rm", container)
    logs = root / ".envc/logs/build"
    assert sorted(p.name for p in logs.iterdir()) == [f"env{n}.log" for n in range(4)]
    manifest = root / "environments/env0/env.yaml"
    manifest.write_text(manifest.read_text() + "variables:\n  CHANGED: '1'\n")
    again = runner.invoke(main, ["build", "env0", "--repo", str(root)])
    assert again.exit_code == 0, again.output
    assert "Using cache" in (logs / "env0.log").read_text()  # the RUN step was not run again
    fresh = runner.invoke(main, ["build", "env0", "--no-cache", "--repo", str(root)])
    assert fresh.exit_code == 0, fresh.output
    assert "Using cache" not in (logs / "env0.log").read_text()


def test_a_lifted_azureml_asset_builds_offline(
    python_base_image: tuple[str, Path], make_repo: RepoFactory, tmp_path: Path
) -> None:
    """An azureml-assets folder whose Dockerfile creates its environment and pip-installs into
    it: imported (lifted), locked, and built with buildah; the base stage's own step ran, and
    the lifted package is installed from the hashed lock."""
    from compiler.interop.common import write_imported
    from compiler.interop.sources import import_source

    image, wheels = python_base_image
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    asset = tmp_path / "asset"
    (asset / "context").mkdir(parents=True)
    (asset / "asset.yaml").write_text("name: lifted-demo\ntype: environment\n")
    (asset / "context" / "Dockerfile").write_text(
        f"FROM {image}\n"
        "ENV CONDA_PREFIX=/azureml-envs/demo\n"
        "ENV PATH=$CONDA_PREFIX/bin:$PATH\n"
        "RUN echo from-the-base-stage > /base.txt\n"
        f"RUN conda create -p $CONDA_PREFIX -y python={version} && conda clean -a -y\n"
        "RUN conda run -p $CONDA_PREFIX pip install --no-cache-dir "
        "'alpha=={{latest-pypi-version}}'\n"
    )
    imported = import_source(asset)
    assert imported.manifest["pip"] == ["alpha"] and imported.manifest["python"] == version
    root = make_repo({})
    write_imported(imported, root / "environments")
    [locked] = lock_repository(root, pip_index=PipIndex(find_links=(str(wheels),)))
    assert locked.status == "locked", locked.reasons
    result = CliRunner().invoke(main, ["build", "--format", "json", "--repo", str(root)])
    assert result.exit_code == 0, result.output
    [outcome] = json.loads(result.stdout)
    assert outcome["status"] == "built"
    container = buildah("from", outcome["image"])
    try:
        assert buildah("run", container, "cat", "/base.txt") == "from-the-base-stage"
    finally:
        buildah("rm", container)
    # the newest the wheel folder has, pinned by the lock
    assert installed_version(outcome["image"], "alpha") == "1.0"
