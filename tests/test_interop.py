"""Import from conda environment files and pip requirements (real public definitions), export
back, and round-trip."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.errors import EnvcError
from compiler.interop.common import PipOptions, write_imported
from compiler.interop.export import FORMATS, export_environment
from compiler.interop.source_locks import kept, lock_seed
from compiler.interop.sources import import_source
from compiler.lock.inputs import lock_inputs
from compiler.lock.lockfiles import locked_explicit, locked_pip_pins
from compiler.lock.pip import write_wheel
from compiler.lock.repository import LockSeed
from compiler.manifest.model import resolve
from compiler.render.repository import render_repository
from compiler.validate.catalog import load_catalog
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory
from tests.test_lock import MIRRORS

REAL = Path(__file__).resolve().parent / "data" / "real-environments"


def test_azureml_assets_conda_file_keeps_its_intent_and_says_what_it_dropped() -> None:
    imported = import_source(REAL / "aml-sklearn-1.5/context/conda_dependencies.yaml")
    manifest = imported.manifest
    assert (manifest["name"], manifest["python"]) == ("sklearn-1.5", "3.10")
    assert manifest["channels"] == ["conda-forge", "anaconda"]
    assert manifest["conda"][:2] == ["pip=26.1.2", "pandas~=1.5.3"]
    assert "azureml-core" in manifest["pip"] and "scikit-learn~=1.5.0" in manifest["pip"]
    assert not any("{{" in spec for spec in manifest["pip"])
    placeholders = [n for n in imported.notes if "template placeholder" in n]
    assert len(placeholders) == 6


@pytest.mark.parametrize(
    ("source", "note"),
    [
        ("condalock-test-pip-with-platform-selector/environment.yml", "platform selector"),
        ("condalock-test-pip-repositories/environment.yaml", "'pip-repositories' is not carried"),
        ("r2d-pipfile-requirements-txt/requirements.txt", "does not say which Python"),
    ],
)
def test_what_a_manifest_cannot_say_is_reported(source: str, note: str) -> None:
    imported = import_source(REAL / source)
    assert any(note in n for n in imported.notes), imported.notes


def test_conda_lock_platforms_are_carried() -> None:
    imported = import_source(REAL / "condalock-test-pip-with-platform-selector/environment.yml")
    assert imported.manifest["platforms"] == ["linux-64", "osx-arm64"]
    assert imported.manifest["pip"] == ["psutil"]


def test_requirements_with_includes_and_options(make_repo: RepoFactory, tmp_path: Path) -> None:
    source = tmp_path / "service"
    source.mkdir()
    (source / "base.txt").write_text("requests==2.32.3\n")
    (source / "requirements.txt").write_text(
        "--index-url https://pypi.example.com/simple\n-r base.txt\n"
        "fastapi==0.115.0 --hash=sha256:" + "a" * 64 + "\n-e ./local\n"
    )
    imported = import_source(source / "requirements.txt")
    assert imported.manifest["pip"] == ["requests==2.32.3", "fastapi==0.115.0"]
    assert imported.name == "service"
    assert imported.manifest["pip_indexes"] == ["https://pypi.example.com/simple"]
    assert any(
        "pypi.example.com/simple is searched first, and then PyPI" in n for n in imported.notes
    )
    assert "'./local' is not carried: a local path" in " ".join(imported.notes)
    # a VCS checkout installed editable is the same source installed; a local path (the
    # project's own code) is no package: it stopped the import (an invalid requirement)
    (source / "requirements.txt").write_text(
        "-e git+https://github.com/org/tool.git@v1#egg=tool\n../shared\n/opt/pkg\nrich\n"
    )
    imported = import_source(source / "requirements.txt")
    assert imported.manifest["pip"] == ["tool @ git+https://github.com/org/tool.git@v1", "rich"]
    assert "'tool @ git+https://github.com/org/tool.git@v1' is installed, not editable" in (
        " ".join(imported.notes)
    )
    assert sum("a local path" in note for note in imported.notes) == 2
    # a conda environment file's pip section the same way
    (source / "environment.yml").write_text(
        "name: svc\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
        "    - -e git+https://github.com/org/tool.git@v1#egg=tool\n    - -e .\n    - rich\n"
    )
    imported = import_source(source / "environment.yml")
    assert imported.manifest["pip"] == ["tool @ git+https://github.com/org/tool.git@v1", "rich"]
    assert "'.' is not carried: a local path" in " ".join(imported.notes)


def test_a_conda_environment_file_in_conda_s_own_forms_comes_in_valid(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """What conda accepts and people write: `nodefaults`, `name=version=build` with a build glob
    (conda-forge's way to pick MKL), `-r` in the pip section, a VCS URL named by `#egg=`."""
    source = tmp_path / "project"
    source.mkdir()
    (source / "requirements.txt").write_text(
        "pandas==2.1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    )
    (source / "environment.yml").write_text(
        "name: hairy\nchannels: [nodefaults, conda-forge, pytorch]\ndependencies:\n"
        "  - python=3.11\n  - libblas=*=*mkl\n  - pytorch::pytorch=2.1=*cuda*\n  - pip\n"
        "  - pip:\n    - -r requirements.txt\n"
        "    - git+https://github.com/org/repo.git@v1.0#egg=repo\n"
    )
    imported = import_source(source / "environment.yml")
    assert imported.manifest["channels"] == ["conda-forge", "pytorch"]
    assert imported.manifest["conda"] == ["libblas * *mkl", "pytorch::pytorch ==2.1 *cuda*", "pip"]
    assert imported.manifest["pip"] == [
        "pandas==2.1.0",
        "repo @ git+https://github.com/org/repo.git@v1.0",
    ]
    root = make_repo({})
    write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    # the channels the lock reads: nodefaults is conda's "add no defaults", nothing to read
    manifest = resolve("hairy", report.manifests)
    inputs = lock_inputs(
        manifest.model_copy(update={"channels": ["nodefaults", "conda-forge"]}), root
    )
    assert inputs is not None and inputs.channels == ("https://conda.anaconda.org/conda-forge",)


@pytest.mark.parametrize(
    "source",
    [
        "aml-sklearn-1.5/context/conda_dependencies.yaml",
        "condalock-test-pip-with-platform-selector/environment.yml",
        "condalock-test-pip-repositories/environment.yaml",
        "r2d-conda-py310-requirements-file/environment.yml",
    ],
)
def test_import_validates_and_round_trips_through_export(
    source: str, make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({})
    first = import_source(REAL / source)
    [written] = write_imported(first, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    exported = tmp_path / "environment.yml"
    folder = root / report.manifests[first.name][1]
    manifest = resolve(first.name, report.manifests)
    exported.write_text(export_environment(manifest, root, folder, "conda-env").files[""])
    again = import_source(exported)
    assert again.manifest == first.manifest
    assert written.read_text().startswith(f"# Imported by envc from {Path(source).name}.")


def test_command_line_import_refuses_to_overwrite_and_export_writes_requirements(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({})
    runner = CliRunner()
    source = str(REAL / "aml-sklearn-1.5/context/conda_dependencies.yaml")
    first = runner.invoke(main, ["import", source, "--repo", str(root)])
    assert first.exit_code == 0, first.output
    assert "note: 'azureml-core=={{latest-pypi-version}}'" in first.output
    again = runner.invoke(main, ["import", source, "--repo", str(root)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    out = tmp_path / "requirements.txt"
    exported = runner.invoke(
        main,
        [
            "export",
            "sklearn-1.5",
            "--format",
            "requirements",
            "--out",
            str(out),
            "--repo",
            str(root),
        ],
    )
    assert exported.exit_code == 0, exported.output
    lines = out.read_text().splitlines()
    assert lines[1].startswith("# Not here (conda packages): pip=26.1.2")
    assert "scikit-learn~=1.5.0" in lines and "azureml-core" in lines
    unknown = runner.invoke(main, ["import", str(tmp_path / "nothing.yml"), "--repo", str(root)])
    assert unknown.exit_code == 2 and "no such file" in unknown.output


def test_azureml_v2_environments_with_their_files(make_repo: RepoFactory) -> None:
    root = make_repo({})
    context = import_source(REAL / "amlv2-docker-context/docker-context.yml")
    assert context.manifest["docker"] == {"base_dockerfile": "Dockerfile"}
    assert sorted(context.files) == ["Dockerfile", "requirements.txt"]
    conda = import_source(REAL / "amlv2-docker-image-plus-conda/docker-image-plus-conda.yml")
    assert conda.manifest["conda_file"] == "pydata.yml"
    assert conda.manifest["docker"]["base_image"].startswith("mcr.microsoft.com/azureml/")
    deployment = import_source(REAL / "amlv2-inline-inference-config/tfserving-deployment.yml")
    assert deployment.name == "tfserving" and deployment.manifest["version"] == 1
    assert any("inference_config" in note for note in deployment.notes)
    for imported in (context, conda, deployment):
        write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    # The imported build context renders: its Dockerfile is the base stage, COPY sources copied.
    render_repository(root, report.manifests, ["docker-context-example"])
    built = root / "build/docker-context-example"
    assert (built / "requirements.txt").is_file()
    assert "FROM python:3.8 AS envc-base" in (built / "Dockerfile").read_text()


def _prefix(folder: Path, requested: dict[str, str], history: str | None = None) -> Path:
    """A conda prefix: conda-meta records made of real channel entries (python, numpy and what
    numpy needs on linux-64), a pip-installed dist-info, optionally a history file."""
    channel = Path(__file__).resolve().parent / "data" / "channels" / "conda-forge" / "linux-64"
    repodata = json.loads((channel / "repodata.json").read_text())
    entries = {**repodata.get("packages", {}), **repodata.get("packages.conda", {})}
    wanted = {"python": "3.11", "numpy": "1.25.2"}
    meta = folder / "conda-meta"
    meta.mkdir(parents=True)
    for file_name, entry in sorted(entries.items()):
        version = wanted.get(entry["name"])
        if version is None or not entry["version"].startswith(version):
            continue
        wanted.pop(entry["name"])
        record = {
            **entry,
            "fn": file_name,
            "url": f"https://conda.anaconda.org/conda-forge/linux-64/{file_name}",
            "channel": "https://conda.anaconda.org/conda-forge/linux-64",
            "files": [],
            "paths_data": {"paths": [], "paths_version": 1},
        }
        if entry["name"] in requested:
            record["requested_spec"] = requested[entry["name"]]
        stem = file_name.removesuffix(".conda").removesuffix(".tar.bz2")
        (meta / f"{stem}.json").write_text(json.dumps(record))
    assert not wanted, f"the channel snapshot lacks {wanted}"
    if history is not None:
        (meta / "history").write_text(history)
    dist = folder / "lib/python3.11/site-packages/rich_click-1.8.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "INSTALLER").write_text("pip\n")
    return folder


def test_an_installed_conda_environment_with_full_pins_or_from_history(
    tmp_path: Path, make_repo: RepoFactory
) -> None:
    prefix = _prefix(
        tmp_path / "envs" / "Team Env", {"numpy": "numpy>=1.25", "python": "python=3.11"}
    )
    full = import_source(prefix)
    assert full.name == "team-env" and full.manifest["channels"] == ["conda-forge"]
    assert full.manifest["python"].startswith("3.11.")
    assert full.manifest["conda"] == ["numpy ==1.25.2 " + full.manifest["conda"][0].split()[-1]]
    assert full.manifest["pip"] == ["rich-click==1.8.3"]
    asked = import_source(prefix, history=True)
    assert (asked.manifest["python"], asked.manifest["conda"]) == ("3.11", ["numpy>=1.25"])
    root = make_repo({})
    for imported, suffix in ((full, "full"), (asked, "asked")):
        imported.name = imported.manifest["name"] = f"{imported.name}-{suffix}"
        write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics


def test_history_file_when_records_do_not_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = (
        "==> 2026-01-01 00:00:00 <==\n# cmd: conda create -n old python=3.11 numpy scipy\n"
        '# create specs: ["python=3.11", "numpy", "scipy"]\n'
        "==> 2026-01-02 00:00:00 <==\n# remove specs: ['scipy']\n"
    )
    _prefix(tmp_path / "home/.conda/envs/old", {}, history)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDA_ENVS_PATH", raising=False)
    imported = import_source(Path("old"), history=True)  # found by name in ~/.conda/envs
    assert (imported.manifest["python"], imported.manifest["conda"]) == ("3.11", ["numpy"])


def test_azureml_sdk_v1_saved_environments(tmp_path: Path, make_repo: RepoFactory) -> None:
    scaffold = import_source(REAL / "amlv1-azureml_environment-scaffold")
    assert scaffold.manifest["docker"] == {"enabled": False}
    assert scaffold.manifest["variables"] == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert any("docker is disabled" in note for note in scaffold.notes)

    saved = tmp_path / "saved"  # as Environment.save_to_directory writes one
    saved.mkdir()
    definition = json.loads(
        (REAL / "amlv1-azureml_environment-scaffold/azureml_environment.json").read_text()
    )
    definition["name"] = "Geo Env"
    definition["version"] = "3"
    definition["docker"].update(
        {
            "enabled": True,
            "shmSize": "8g",
            "baseImageRegistry": {
                "address": "contoso.azurecr.io",
                "username": "u",
                "password": "p",
            },
        }
    )
    (saved / "azureml_environment.json").write_text(json.dumps(definition))
    (saved / "conda_dependencies.yml").write_text(
        "name: geo\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - shapely\n"
    )
    (saved / "BaseDockerfile").write_text(
        "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n"
    )
    imported = import_source(saved / "azureml_environment.json")
    manifest = imported.manifest
    assert (manifest["name"], manifest["version"], manifest["conda_file"]) == (
        "geo-env",
        3,
        "conda_dependencies.yml",
    )
    assert manifest["docker"]["base_dockerfile"] == "Dockerfile"
    assert (
        manifest["docker"]["base_image_registry"]["password"] == "${BASE_IMAGE_REGISTRY_PASSWORD}"
    )
    assert sorted(imported.files) == ["Dockerfile", "conda_dependencies.yml"]
    assert any("shmSize" in note for note in imported.notes)
    assert any("credentials are never imported" in note for note in imported.notes)
    root = make_repo({})
    for each in (scaffold, imported):
        write_imported(each, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics


def test_an_azureml_assets_folder_is_lifted_into_a_locked_environment(
    make_repo: RepoFactory,
) -> None:
    """azureml-assets' sklearn-1.5: its `conda create` and the `pip install`s into that
    environment become the manifest (so envc locks them); the OS upgrade and the patch to the
    base image's own pip stay in Dockerfile.base; placeholders are resolved, never copied."""
    imported = import_source(REAL / "aml-sklearn-1.5")
    manifest = imported.manifest
    assert (manifest["python"], manifest["channels"]) == ("3.10", ["conda-forge", "anaconda"])
    assert manifest["docker"] == {"base_dockerfile": "Dockerfile.base"}
    assert manifest["tags"]["Scikit-learn"] == "1.5"
    # Every package the Dockerfile installs into its environment, read off it by hand.
    assert {spec.split()[0] for spec in manifest["conda"]} == {"pip", "pandas", "scipy", "numpy"}
    assert "pandas ~=1.5.3" in manifest["conda"]
    installed_by_pip = {
        "scikit-learn-intelex", "azureml-core", "azureml-defaults",
        "azureml-inference-server-http", "azureml-mlflow", "azureml-telemetry", "scikit-learn",
        "joblib", "py-spy", "debugpy", "ipykernel", "tensorboard", "psutil", "matplotlib",
        "tqdm", "py-cpuinfo", "torch-tb-profiler", "starlette", "idna", "aiohttp",
        "cryptography", "distributed", "pyarrow",
    }  # fmt: skip
    assert {re.split(r"[<>=~ ]", spec)[0] for spec in manifest["pip"]} == installed_by_pip
    assert "azureml-core" in manifest["pip"] and "idna>=3.15" in manifest["pip"]
    base = imported.files["Dockerfile.base"].decode()
    assert "{{" not in base and "RUN conda create" not in base and "scikit-learn~" not in base
    assert "FROM mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest" in base
    assert "apt-get -y upgrade" in base  # not envc's to own
    assert "/opt/miniconda/bin/pip install --no-cache-dir --upgrade 'idna>=3.15'" in base
    assert "ENV CONDA_PREFIX=/opt/env" in base  # PATH=$CONDA_PREFIX/bin still finds it
    assert "Dockerfile" not in imported.files  # envc writes that name into the context
    report = [note for note in imported.notes if note.startswith("Dockerfile:")]
    assert "Dockerfile:28: lifted: RUN" in report and "Dockerfile:59: lifted: RUN" in report
    assert sum("template placeholder" in note for note in imported.notes) == 6
    root = make_repo({})
    write_imported(imported, root / "environments")
    report_ = validate(root=root, cwd=root)
    assert report_.ok, report_.diagnostics


def test_an_asset_that_installs_into_its_base_image_is_kept_whole() -> None:
    imported = import_source(REAL / "aml-acpt")
    assert imported.manifest["python"]["user_managed_dependencies"] is True
    assert imported.manifest["docker"] == {"base_dockerfile": "Dockerfile.base"}
    base = imported.files["Dockerfile.base"].decode()
    assert "{{" not in base and "pip install -r requirements.txt" in base
    assert any("creates no environment of its own" in note for note in imported.notes)


def test_import_all_reports_each_source(make_repo: RepoFactory, tmp_path: Path) -> None:
    root = make_repo({})
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in (
        "aml-sklearn-1.5",
        "amlv2-docker-image-plus-conda",
        "r2d-pipfile-requirements-txt",
    ):
        shutil.copytree(REAL / name, tree / name)
    (tree / "lock").mkdir()
    (tree / "lock/conda-lock.yml").write_text("version: 1\nmetadata: {}\npackage: []\n")
    result = CliRunner().invoke(
        main, ["import", "--all", str(tree), "--python", "3.12", "--repo", str(root)]
    )
    assert result.exit_code == 0  # a lockfile is not an environment: skipped, not a failure
    imported = sorted(p.parent.name for p in (root / "environments").glob("*/env.yaml"))
    # The asset folder is one environment: its context's conda file is not imported again.
    assert imported == [
        "docker-image-plus-conda-example",
        "pydata-example",
        "r2d-pipfile-requirements-txt",
        "sklearn-1.5",
    ]
    assert "conda-lock.yml: skipped: a conda-lock lockfile" in result.output
    assert "envc: 4 manifest(s) valid" in result.output


def test_a_requirements_file_needs_a_python_version(make_repo: RepoFactory, tmp_path: Path) -> None:
    root = make_repo({})
    source = tmp_path / "requirements.txt"
    source.write_text("fastapi==0.115.0\n")
    without = CliRunner().invoke(main, ["import", str(source), "--name", "a", "--repo", str(root)])
    assert without.exit_code == 1
    assert "pass --python X.Y" in without.output
    assert "a/env.yaml:5:3: error: pip requirements are resolved for one Python version" in (
        without.output
    )
    given = CliRunner().invoke(
        main, ["import", str(source), "--name", "b", "--python", "3.12", "--repo", str(root)]
    )
    assert given.exit_code == 0, given.output
    assert "python: '3.12'" in (root / "environments/b/env.yaml").read_text()


def test_a_pixi_workspace_imports_its_default_environment() -> None:
    imported = import_source(REAL / "pixi-multi-env/pixi.toml")
    assert imported.manifest == {
        "schema_version": 1,
        "name": "hello-world",
        "channels": ["conda-forge"],
        "conda": ["cowpy 1.1.*"],
        "platforms": ["linux-64", "osx-arm64", "win-64"],
    }
    assert "environment py312 is not carried (not a list of features)" in imported.notes
    assert imported.companions == []
    assert "[tasks] is not carried" in imported.notes


def test_pixi_python_pypi_dependencies_and_activation_variables(tmp_path: Path) -> None:
    source = tmp_path / "pixi.toml"
    source.write_text(
        '[project]\nname = "svc"\n'
        'channels = ["conda-forge", {channel = "bioconda", priority = 1}]\n'
        'platforms = ["linux-64"]\n[dependencies]\npython = "3.12.*"\n'
        'numpy = {version = ">=2", build = "py312*"}\npip = "*"\n'
        '[pypi-dependencies]\nrequests = {version = ">=2.31", extras = ["socks"]}\nrich = "*"\n'
        'local = {path = "./local"}\n[activation.env]\nMODE = "prod"\n'
        '[target.win-64.dependencies]\npywin32 = "*"\n'
        '[target.unix.dependencies]\nlibgomp = "*"\n'
        '[target.linux-64.pypi-dependencies]\nuvloop = "*"\n'
        '[target.linux-64.activation]\nscripts = ["setup.sh"]\n'
    )
    imported = import_source(source)
    assert imported.manifest == {
        "schema_version": 1,
        "name": "svc",
        "python": "3.12",
        "channels": ["conda-forge", "bioconda"],
        "conda": ["numpy >=2 py312*", "pip", "libgomp"],  # linux-64 is a unix platform
        "pip": ["requests[socks]>=2.31", "rich", "uvloop"],
        "variables": {"MODE": "prod"},
    }
    assert any("local" in n and "path" in n for n in imported.notes)
    assert (
        "svc: [target.win-64] dependencies are not carried (svc builds for linux-64; a "
        "manifest's packages are the same on each)" in imported.notes
    )
    assert "[target.linux-64] activation is not carried" in imported.notes


def test_a_broken_toml_file_is_reported_at_its_line(tmp_path: Path) -> None:
    source = tmp_path / "pixi.toml"
    source.write_text('[workspace]\nname = "x"\nchannels = [\n')
    with pytest.raises(EnvcError, match=rf"^{re.escape(str(source))}:4:1: error: Invalid value$"):
        import_source(source)
    source.write_text('[workspace]\nname = "x" y\n')
    with pytest.raises(EnvcError, match=rf"^{re.escape(str(source))}:2:12: error: "):
        import_source(source)


@pytest.mark.parametrize(
    ("constraint", "inside", "outside"),
    [
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("^2", ["2.0", "2.99"], ["3.0", "1.9"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1", ["1.0", "1.9"], ["2.0"]),
        ("1.4", ["1.4"], ["1.4.1"]),
        (">=0.10", ["0.10", "3.0"], ["0.9"]),
    ],
)
def test_poetry_constraints_keep_their_meaning(
    tmp_path: Path, constraint: str, inside: list[str], outside: list[str]
) -> None:
    from packaging.requirements import Requirement

    source = tmp_path / "pyproject.toml"
    source.write_text(
        f'[tool.poetry]\nname = "p"\n[tool.poetry.dependencies]\nlib = "{constraint}"\n'
    )
    [requirement] = import_source(source).manifest["pip"]
    specifier = Requirement(requirement).specifier
    assert all(specifier.contains(v) for v in inside), (requirement, inside)
    assert not any(specifier.contains(v) for v in outside), (requirement, outside)


def test_pyproject_with_conda_lock_settings() -> None:
    imported = import_source(REAL / "condalock-test-poetry/pyproject.toml")
    assert imported.manifest["channels"] == ["defaults"]
    assert imported.manifest["conda"] == ["sqlite >=3.34", "certifi >=2019.11.28"]
    assert imported.manifest["pip"] == ["requests>=2.13.0,<3", "toml>=0.10"]
    assert "tomlkit is optional (an extra): not carried" in imported.notes
    assert any("'^3.7' is a range" in n for n in imported.notes)


def test_a_bare_conda_lock_version_is_that_exact_version(tmp_path: Path) -> None:
    source = tmp_path / "pyproject.toml"
    source.write_text(
        '[project]\nname = "p"\ndependencies = ["rich"]\n'
        '[tool.conda-lock.dependencies]\nnumpy = "1.26.4"\nscipy = ">=1.10"\npip = "*"\n'
    )
    assert import_source(source).manifest["conda"] == ["numpy ==1.26.4", "scipy >=1.10", "pip"]


def test_a_conda_spec_list_imports_with_its_channels() -> None:
    imported = import_source(REAL / "smd-v3.9.0/cpu.env.in")
    assert imported.manifest["channels"] == ["conda-forge"]
    assert imported.manifest["conda"][0] == "langchain-openai >=0.3.35,<1.0.0"
    templated = import_source(REAL / "smd-v3.9.0/gpu.arg_based_env.in")
    assert "cuda-compiler" in templated.manifest["conda"]
    assert "cuda-nvml-dev 12.6.77.*" in templated.manifest["conda"]
    assert any("build-argument placeholder" in n for n in templated.notes)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("smd-v3.9.0/cpu.env.out", "an explicit conda lock"),
        ("pixi-multi-env/pixi.lock", "a pixi lockfile; import the pixi.toml beside it"),
        ("r2d-venv-apt-packages/apt.txt", "system packages"),
        ("r2d-r-r4.3.2-rspm/runtime.txt", "names a language runtime"),
    ],
)
def test_files_envc_cannot_carry_are_refused_by_what_they_are(source: str, message: str) -> None:
    with pytest.raises(EnvcError, match=message):
        import_source(REAL / source)


def test_the_command_line_offers_every_export_format() -> None:
    import click

    export = main.get_command(click.Context(main), "export")
    assert export is not None
    [option] = [p for p in export.params if p.name == "output_format"]
    assert tuple(option.type.choices) == FORMATS  # type: ignore[attr-defined]


def yaml_data(path: Path) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def export_folder(root: Path, name: str, output_format: str, out: Path) -> list[str]:
    """`envc export NAME --format F --out OUT`; the notes it printed."""
    result = CliRunner().invoke(
        main, ["export", name, "--format", output_format, "--out", str(out), "--repo", str(root)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    return [line.removeprefix("note: ") for line in result.stderr.splitlines()]


@pytest.mark.parametrize(
    "source",
    [
        "amlv2-docker-image-plus-conda/docker-image-plus-conda.yml",
        "amlv2-docker-context/docker-context.yml",
        "amlv2-inline-inference-config/tfserving-deployment.yml",
    ],
)
def test_azureml_v2_round_trips_and_azure_ai_ml_loads_it(
    source: str, make_repo: RepoFactory, tmp_path: Path
) -> None:
    from azure.ai.ml import load_environment

    root = make_repo({})
    first = import_source(REAL / source)
    write_imported(first, root / "environments")
    out = tmp_path / "v2"
    export_folder(root, first.name, "azureml-v2", out)
    loaded = load_environment(source=str(out / "environment.yml"))
    assert loaded.name == first.name
    if "base_image" in first.manifest.get("docker", {}):
        assert loaded.image == first.manifest["docker"]["base_image"]
    if "conda_file" in first.manifest:  # carried as it is, under its own name
        name = first.manifest["conda_file"]
        assert loaded.conda_file == yaml_data(out / name)
        assert (out / name).read_bytes() == (root / "environments" / first.name / name).read_bytes()
    again = import_source(out / "environment.yml")
    assert again.manifest == first.manifest


def test_azureml_v2_of_a_locked_environment_on_its_own_dockerfile_is_a_build_context(
    tmp_path: Path,
) -> None:
    from azure.ai.ml import load_environment

    out = tmp_path / "v2"
    notes = export_folder(PROJECT, "custom-dockerfile", "azureml-v2", out)
    loaded = load_environment(source=str(out / "environment.yml"))
    assert loaded.build.path.endswith("context") and loaded.image is None
    context = out / "context"
    # The context installs the committed lock on top of the environment's own Dockerfile.
    assert (context / "conda-linux-64.lock").read_bytes() == (
        PROJECT / "environments/custom-dockerfile/conda-linux-64.lock"
    ).read_bytes()
    assert "micromamba create" in (context / "Dockerfile").read_text()
    assert notes == []


def test_azureml_v2_says_what_it_cannot_carry(tmp_path: Path) -> None:
    notes = export_folder(PROJECT, "sklearn-cpu", "azureml-v2", tmp_path / "v2")
    assert "image: Azure ML's mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest; set " in (
        "\n".join(notes)
    )
    assert any(n.startswith("variables are not carried") for n in notes)
    assert any("platforms other than linux-64" in n for n in notes)
    # The bundled environment is locked: Azure ML gets the pins, not the specs to solve again.
    assert any("holds the linux-64 lock's pins" in n for n in notes)
    conda = (tmp_path / "v2/conda.yml").read_text()
    assert re.search(r"- scikit-learn=1\.[56]\.\d+=\S+\n", conda), conda
    assert "- mlflow-skinny==3.9.0\n" in conda


def test_azureml_v2_picks_the_curated_image_of_the_cuda_major_version(tmp_path: Path) -> None:
    export_folder(PROJECT, "pytorch-gpu", "azureml-v2", tmp_path / "v2")  # cuda: "12.4"
    assert "image: mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:latest\n" in (
        (tmp_path / "v2/environment.yml").read_text()
    )


def test_azureml_v1_round_trips(make_repo: RepoFactory, tmp_path: Path) -> None:
    root = make_repo({})
    first = import_source(REAL / "amlv1-azureml_environment-scaffold")
    write_imported(first, root / "environments")
    out = tmp_path / "saved"
    export_folder(root, first.name, "azureml-v1", out)
    definition = json.loads((out / "azureml_environment.json").read_text())
    assert definition["environmentVariables"] == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert definition["docker"]["enabled"] is False
    assert import_source(out).manifest == first.manifest


def test_azureml_v1_of_a_user_managed_environment_with_a_private_registry(
    tmp_path: Path,
) -> None:
    out = tmp_path / "saved"
    export_folder(PROJECT, "user-managed", "azureml-v1", out)
    definition = json.loads((out / "azureml_environment.json").read_text())
    assert definition["python"] == {
        "userManagedDependencies": True,
        "interpreterPath": "/opt/conda/envs/research/bin/python",
        "condaDependenciesFile": None,
        "baseCondaEnvironment": None,
    }
    assert definition["docker"]["baseImageRegistry"] == {
        "address": "contoso.azurecr.io",
        "username": None,
        "password": None,
    }
    assert sorted(p.name for p in out.iterdir()) == ["azureml_environment.json"]


@pytest.mark.parametrize(
    ("output_format", "lockfile"),
    [
        ("explicit", "conda-linux-64.lock"),
        ("pip-locked", "requirements-linux-64.txt"),
        ("pylock", "pylock.linux-64.toml"),
    ],
)
def test_locked_exports_are_the_committed_locks(output_format: str, lockfile: str) -> None:
    result = CliRunner().invoke(
        main, ["export", "sklearn-cpu", "--format", output_format, "--repo", str(PROJECT)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == (PROJECT / "environments/sklearn-cpu" / lockfile).read_text()


def test_a_locked_export_refuses_a_stale_lock_and_an_unlocked_platform(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(PROJECT / "environments", root / "environments")
    manifest = root / "environments/sklearn-cpu/env.yaml"
    manifest.write_text(
        manifest.read_text().replace("  - pandas >=2.2\n", "  - pandas >=2.2\n  - polars\n")
    )
    stale = CliRunner().invoke(
        main, ["export", "sklearn-cpu", "--format", "explicit", "--repo", str(root)]
    )
    assert stale.exit_code == 1
    assert "the lock is stale (spec added: polars); run envc lock sklearn-cpu" in stale.output
    windows = CliRunner().invoke(
        main,
        [
            "export",
            "base-python",
            "--format",
            "explicit",
            "--platform",
            "win-64",
            "--repo",
            str(root),
        ],
    )
    assert windows.exit_code == 2 and "not locked for win-64" in windows.output


PIXI_FEATURES = """
[workspace]
name = "svc"
channels = ["conda-forge"]
platforms = ["linux-64", "osx-arm64"]

[dependencies]
python = "3.11.*"
numpy = ">=1.26"

[feature.py312.dependencies]
python = "3.12.*"

[feature.test.dependencies]
pytest = "*"
[feature.test.activation.env]
MODE = "test"

[feature.gpu]
channels = ["nvidia"]
platforms = ["linux-64"]
[feature.gpu.dependencies]
cuda-version = "12.4.*"

[feature.lint.dependencies]
ruff = "*"

[feature.unused.dependencies]
flake8 = "*"

[environments]
test = ["py312", "test"]
gpu = { features = ["gpu"], solve-group = "default" }
lint = { features = ["lint"], no-default-feature = true }
"""


def test_pixi_environments_become_manifests_that_extend_the_workspace(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    source = tmp_path / "pixi.toml"
    source.write_text(PIXI_FEATURES)
    root = make_repo({})
    result = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert result.exit_code == 0, result.output
    assert "feature unused is in no environment: not carried" in result.output
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    assert sorted(report.manifests) == ["svc", "svc-gpu", "svc-lint", "svc-test"]
    test, gpu, lint = (resolve(n, report.manifests) for n in ("svc-test", "svc-gpu", "svc-lint"))
    assert (test.python.version, test.conda, test.variables) == (  # type: ignore[union-attr]
        "3.12",
        ["numpy >=1.26", "pytest"],
        {"MODE": "test"},
    )
    assert (gpu.python.version, gpu.channels, gpu.platforms) == (  # type: ignore[union-attr]
        "3.11",
        ["conda-forge", "nvidia"],
        ["linux-64"],
    )
    assert gpu.conda == ["numpy >=1.26", "cuda-version 12.4.*"]
    # no-default-feature: nothing of the workspace's own dependencies, its channels and platforms
    assert (lint.conda, lint.channels, lint.platforms) == (
        ["ruff"],
        ["conda-forge"],
        ["linux-64", "osx-arm64"],
    )
    again = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def _newest_cuda(major: int) -> str:
    """The base-image catalog's newest CUDA of `major` (a floor of just the major takes it)."""
    versions = [v for v in load_catalog(None).gpu if v.startswith(f"{major}.")]
    return max(versions, key=lambda v: tuple(map(int, v.split("."))))


def test_pixi_cuda_floors_make_gpu_environments_on_a_catalog_image(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """pixi's way to a CUDA environment: a feature's `system-requirements = {cuda = "12.1"}`;
    a floor the base-image catalog has no image of (`12`) takes the newest image of that major
    version. What a feature says that a manifest cannot is noted, not dropped."""
    source = tmp_path / "pixi.toml"
    source.write_text(
        '[project]\nname = "torch"\nchannels = ["conda-forge"]\n'
        'platforms = ["linux-64", "osx-arm64"]\n'
        '[dependencies]\npython = "3.12.*"\n'
        '[feature.cuda]\nplatforms = ["linux-64"]\nsystem-requirements = {cuda = "12.1"}\n'
        '[feature.cuda.dependencies]\ncuda-version = "12.1.*"\n'
        '[feature.cuda.target.linux-64.dependencies]\nnccl = "*"\n'
        '[target.osx-arm64.dependencies]\nmlx = "*"\n'
        '[feature.cuda.tasks]\ntrain = "python train.py"\n'
        '[feature.floor]\nsystem-requirements = {cuda = "12", libc = "2.28"}\n'
        '[feature.cpu.dependencies]\nnumpy = "*"\npandas = "2.1.4"\n'  # pixi: exactly 2.1.4
        '[feature.cpu.pypi-dependencies]\nrequests = "2.31.0"\n'
        '[environments]\ncuda = ["cuda"]\nfloor = ["floor"]\ncpu = ["cpu"]\n'
    )
    root = make_repo({})
    result = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert result.exit_code == 0, result.output
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    docker = {n: resolve(n, report.manifests).docker for n in report.manifests}
    assert (docker["torch-cuda"].compute, docker["torch-cuda"].cuda) == ("gpu", "12.1")
    newest = _newest_cuda(12)
    assert (docker["torch-floor"].compute, docker["torch-floor"].cuda) == ("gpu", newest)
    assert docker["torch"].compute == docker["torch-cpu"].compute == "cpu"
    cpu = resolve("torch-cpu", report.manifests)
    assert (cpu.conda, cpu.pip) == (["numpy", "pandas ==2.1.4"], ["requests==2.31.0"])
    # the cuda environment builds only for linux-64: its linux-64 table is its own
    assert resolve("torch-cuda", report.manifests).conda == ["cuda-version 12.1.*", "nccl"]
    for note in (
        "torch: [target.osx-arm64] dependencies are not carried (torch builds for linux-64, "
        "osx-arm64; a manifest's packages are the same on each)",
        "[feature.cuda] tasks is not carried",
        "[feature.floor.system-requirements] libc are not carried",
        f"[feature.floor.system-requirements] cuda = '12': compute: gpu, cuda: '{newest}'",
    ):
        assert note in result.output


@pytest.mark.parametrize(
    ("dependency", "cuda"),
    [
        ("pytorch-cuda=12.1", "12.1"),
        ("cuda-version 12.*", "newest 12"),
        ("conda-forge::cuda-version>=11.8,<12", "11.8"),
        ("cudatoolkit=11.8", "11.8"),
        ("nvidia::cuda-toolkit=12.4.1", "12.4"),
        ("cuda-runtime==12.1.*", "12.1"),
    ],
)
def test_a_conda_environment_that_installs_cuda_is_a_gpu_environment(
    make_repo: RepoFactory, tmp_path: Path, dependency: str, cuda: str
) -> None:
    """An environment file that pins CUDA (pytorch-cuda, cuda-version, cudatoolkit, nvidia's
    cuda packages) runs on a GPU: it comes in on the catalog's image of that CUDA, and locks
    with the `__cuda` a GPU build needs; a CPU one stays on the CPU."""
    source = tmp_path / "environment.yml"
    source.write_text(
        "name: trainer\nchannels: [pytorch, nvidia, conda-forge]\n"
        f"dependencies:\n  - python=3.11\n  - pytorch\n  - {dependency}\n"
    )
    (tmp_path / "cpu.yml").write_text("name: cpu\ndependencies: [python=3.11, numpy]\n")
    root = make_repo({})
    said = [
        CliRunner().invoke(main, ["import", str(file), "--repo", str(root)])
        for file in (source, tmp_path / "cpu.yml")
    ]
    assert [result.exit_code for result in said] == [0, 0], said[0].output + said[1].output
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    gpu = resolve("trainer", report.manifests).docker
    expected = _newest_cuda(12) if cuda == "newest 12" else cuda
    assert (gpu.compute, gpu.cuda) == ("gpu", expected)
    assert f"pins CUDA: compute: gpu, cuda: {expected!r}" in said[0].output
    assert resolve("cpu", report.manifests).docker.compute == "cpu"


PIXI_IN_PYPROJECT = """
[project]
name = "mlpkg"
description = "A model package"
requires-python = ">=3.11,<3.13"
dependencies = ["requests>=2.31", "rich"]

[project.optional-dependencies]
test = ["pytest-cov"]

[dependency-groups]
lint = ["ruff"]

[tool.pixi.workspace]
channels = ["conda-forge"]
platforms = ["linux-64"]

[tool.pixi.dependencies]
numpy = ">=1.26"

[tool.pixi.pypi-dependencies]
mlpkg = { path = ".", editable = true }

[tool.pixi.feature.test.dependencies]
pytest = "*"

[tool.pixi.environments]
test = ["test"]
lint = ["lint"]
"""


def test_a_pyproject_that_holds_a_pixi_workspace_imports_as_pixi(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """pixi reads its manifest from pyproject.toml too (`[tool.pixi.*]`): the conda part,
    channels and environments come in, with what pixi takes from `[project]` (the name and
    description, `requires-python`, the dependencies as PyPI ones, each optional-dependencies
    group and dependency group as a feature). Read as a plain Python project, it lost the conda
    part and failed validation for want of a Python."""
    source = tmp_path / "pyproject.toml"
    source.write_text(PIXI_IN_PYPROJECT)
    root = make_repo({})
    result = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert result.exit_code == 0, result.output
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    assert sorted(report.manifests) == ["mlpkg", "mlpkg-lint", "mlpkg-test"]
    package, lint, test = (resolve(n, report.manifests) for n in sorted(report.manifests))
    assert (package.description, package.channels) == ("A model package", ["conda-forge"])
    assert (package.conda, package.pip) == (
        ["python >=3.11,<3.13", "numpy >=1.26"],
        ["requests>=2.31", "rich"],
    )
    assert (test.conda, test.pip) == (
        ["python >=3.11,<3.13", "numpy >=1.26", "pytest"],
        ["requests>=2.31", "rich", "pytest-cov"],
    )
    assert lint.pip == ["requests>=2.31", "rich", "ruff"]
    assert "mlpkg = {'path': '.', 'editable': True} is not carried" in result.output


PIXI_DEFAULT_REDEFINED = """
[workspace]
name = "vision"
channels = ["conda-forge"]
platforms = [
    "linux-64",
    "osx-arm64",
    {name = "linux-64-cuda", platform = "linux-64", cuda = "12.4.1", glibc = "2.35"},
]

[dependencies]
python = "3.10.*"
numpy = "*"

[feature.gpu.system-requirements]
cuda = "12.0"
[feature.gpu.dependencies]
cuda-version = "12.*"
pytorch-gpu = "*"

[feature.cpu.dependencies]
pytorch-cpu = "*"

[feature.runtime]
platforms = ["linux-64-cuda"]
[feature.runtime.dependencies]
cuda-libraries-dev = "*"

[environments]
default = ["gpu"]
cpu = ["cpu"]
runtime = ["runtime"]
"""


def test_a_pixi_default_environment_made_of_features_is_the_workspace_manifest(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """`[environments] default = ["gpu"]` is what `pixi run` and `pixi install` use: the
    workspace's manifest holds the default feature and those features; the other environments
    hold the default feature and their own, not the default environment's (which they would
    inherit through `extends`). A platform alias (`{name, platform, cuda}`) is its platform, on
    a GPU of its CUDA."""
    source = tmp_path / "pixi.toml"
    source.write_text(PIXI_DEFAULT_REDEFINED)
    root = make_repo({})
    result = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert result.exit_code == 0, result.output
    assert "environment default is not carried" not in result.output
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    assert sorted(report.manifests) == ["vision", "vision-cpu", "vision-runtime"]
    default, cpu, runtime = (resolve(n, report.manifests) for n in sorted(report.manifests))
    assert (default.python.version, default.conda) == (  # type: ignore[union-attr]
        "3.10",
        ["numpy", "cuda-version 12.*", "pytorch-gpu"],
    )
    assert default.docker.compute == "gpu" and default.docker.cuda.startswith("12.")
    assert default.platforms == ["linux-64", "osx-arm64"]
    assert (cpu.python.version, cpu.conda, cpu.docker.compute) == (  # type: ignore[union-attr]
        "3.10",
        ["numpy", "pytorch-cpu"],
        "cpu",
    )
    assert runtime.conda == ["numpy", "cuda-libraries-dev"]
    assert runtime.platforms == ["linux-64"]
    assert (runtime.docker.compute, runtime.docker.cuda) == ("gpu", "12.4")
    assert "platform linux-64-cuda: glibc = '2.35' is not carried" in result.output
    assert "platform linux-64-cuda: cuda = '12.4.1': compute: gpu, cuda: '12.4'" in result.output


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (
            "pixi.toml",
            '[workspace]\nname = "w"\nplatforms = "linux-64"\nchannels = "conda-forge"\n',
        ),
        (
            "pixi.toml",
            '[workspace]\nname = "w"\n[dependencies]\nnumpy = 3\n[environments]\ne = 5\n',
        ),
        ("pixi.toml", '[workspace]\nname = "w"\n[pypi-dependencies]\nrich = {extras = "cli"}\n'),
        (
            "pixi.toml",
            '[project]\nname = 7\n[feature.f]\nplatforms = 1\n[environments]\ne = ["f"]\n',
        ),
        ("pyproject.toml", '[project]\nname = "p"\ndependencies = "rich"\n'),
        (
            "pyproject.toml",
            '[tool.poetry]\nname = "p"\n[tool.poetry.dependencies]\nx = 1\ny = "^1"\n',
        ),
        ("pyproject.toml", '[tool.conda-lock]\nchannels = "x"\ndependencies = {numpy = "*"}\n'),
    ],
)
def test_toml_of_the_wrong_shape_imports_or_says_why(
    file_name: str, text: str, make_repo: RepoFactory, tmp_path: Path
) -> None:
    """Wrong types never crash an import: the result validates, or the import says why."""
    source = tmp_path / file_name
    source.write_text(text)
    root = make_repo({})
    result = CliRunner().invoke(main, ["import", str(source), "--repo", str(root)])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    if result.exit_code == 0:
        assert validate(root=root, cwd=root).ok


def test_a_string_where_pixi_wants_an_array_is_not_read_letter_by_letter(tmp_path: Path) -> None:
    source = tmp_path / "pixi.toml"
    source.write_text(
        '[workspace]\nname = "w"\nplatforms = "osx-64"\nchannels = "conda-forge"\n'
        '[pypi-dependencies]\nrich = {extras = "cli"}\n'
    )
    assert import_source(source).manifest == {"schema_version": 1, "name": "w", "pip": ["rich"]}


def test_azureml_v2_keeps_a_conda_file_named_like_its_own_yaml_apart(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    from azure.ai.ml import load_environment

    conda = "name: geo\nchannels: [conda-forge]\ndependencies:\n  - python=3.12\n  - gdal\n"
    root = make_repo(
        {
            "environments/geo/env.yaml": "schema_version: 1\nname: geo\n"
            "conda_file: environment.yml\ndocker:\n  base_image: example.com/base:1\n",
            "environments/geo/environment.yml": conda,
        }
    )
    notes = export_folder(root, "geo", "azureml-v2", tmp_path / "v2")
    assert "conda_file environment.yml is written as conda.yml" in notes
    assert (tmp_path / "v2/conda.yml").read_text() == conda
    loaded = load_environment(source=str(tmp_path / "v2/environment.yml"))
    assert loaded.image == "example.com/base:1"
    assert loaded.conda_file["dependencies"] == ["python=3.12", "gdal"]


@pytest.mark.parametrize("project", ["pixi", "conda"])
def test_import_lock_keeps_the_versions_of_the_projects_own_lock(
    make_repo: RepoFactory, tmp_path: Path, project: str
) -> None:
    """A project comes in as it runs today: `envc import --lock` keeps what its pixi.lock or
    conda-lock.yml locks where the (unpinned) specs allow; a plain `envc lock` of the same
    manifest takes the newest, so the kept versions come from the project's lock."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for version in ("1.0", "2.0"):
        write_wheel(wheels, "alpha", version)
    sources = [o for k, v in MIRRORS.items() for o in ("--mirror", f"{k}={v}")]
    sources += ["--pip-find-links", str(wheels)]
    old = make_repo(
        {
            "environments/old/env.yaml": "schema_version: 1\nname: old\npython: '3.12'\n"
            "conda: [numpy <2, pandas <2.2]\npip: [alpha <2]\n"
        }
    )
    locked = CliRunner().invoke(main, ["lock", "--repo", str(old), *sources])
    assert locked.exit_code == 0, locked.output
    source = tmp_path / "project"
    source.mkdir()
    if project == "pixi":
        exported = ["export", "old", "--format", "pixi-lock", "--out", str(source / "pixi.lock")]
        assert CliRunner().invoke(main, [*exported, "--repo", str(old)]).exit_code == 0
        definition = source / "pixi.toml"
        definition.write_text(
            '[workspace]\nname = "proj"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            '[dependencies]\npython = "3.12.*"\nnumpy = "*"\npandas = "*"\n'
            '[pypi-dependencies]\nalpha = "*"\n'
        )
    else:
        shutil.copy(old / "environments/old/conda-lock.yml", source / "conda-lock.yml")
        definition = source / "environment.yml"
        definition.write_text(
            "name: proj\nchannels: [conda-forge]\n"
            "dependencies: [python=3.12, numpy, pandas, {pip: [alpha]}]\n"
        )
    root = make_repo({})
    imported = CliRunner().invoke(
        main, ["import", str(definition), "--lock", "--repo", str(root), *sources]
    )
    assert imported.exit_code == 0, imported.output
    lock_name = "pixi.lock" if project == "pixi" else "conda-lock.yml"
    before = old / "environments/old"
    count = len(locked_explicit(before, "linux-64")) + len(locked_pip_pins(before, "linux-64"))
    assert f"proj: {count} of {count} versions of {lock_name} kept" in imported.output
    folder = root / "environments/proj"
    kept = (folder / "conda-linux-64.lock").read_text() + (
        folder / "requirements-linux-64.txt"
    ).read_text()
    assert "/numpy-1.26.4-" in kept and "/pandas-2.1.3-" in kept and "alpha==1.0" in kept

    fresh = CliRunner().invoke(main, ["lock", "--force", "proj", "--repo", str(root), *sources])
    assert fresh.exit_code == 0, fresh.output
    newest = (folder / "conda-linux-64.lock").read_text() + (
        folder / "requirements-linux-64.txt"
    ).read_text()
    assert "/numpy-1.26.4-" not in newest and "/pandas-2.1.3-" not in newest
    assert "alpha==2.0" in newest


def test_what_an_import_kept_is_counted_on_the_platforms_the_new_lock_has() -> None:
    seed = LockSeed(
        {
            "linux-64": ("numpy ==1.26.4 py312_0", "python ==3.12.1 h_0"),
            "osx-arm64": ("numpy ==1.26.4 x_0", "libcxx ==17 h_0"),  # not locked here: not counted
        },
        {"linux-64": "Alpha_Beta==1.0\n"},
        "pixi.lock",
    )
    pinned = {"linux-64": {"numpy": {"2.0.1"}, "python": {"3.12.1"}, "alpha-beta": {"1.0"}}}
    assert kept(seed, pinned) == (2, 3, ["numpy 1.26.4 -> 2.0.1"])
    assert kept(seed, {"linux-64": {}})[2][0] == "alpha-beta 1.0 -> absent"


@pytest.mark.parametrize("kind", ["fifo", "link out", "garbage"])
def test_a_hostile_project_lock_is_refused_by_name_without_waiting_or_following(
    make_repo: RepoFactory, tmp_path: Path, kind: str
) -> None:
    source = tmp_path / "project"
    source.mkdir()
    (source / "pixi.toml").write_text(
        '[workspace]\nname = "proj"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\nnumpy = "*"\n'
    )
    lock = source / "pixi.lock"
    if kind == "fifo":
        os.mkfifo(lock)  # reading it would wait for a writer forever
    elif kind == "link out":
        (tmp_path / "secret").write_text("version: 6\n")
        lock.symlink_to(tmp_path / "secret")
    else:
        lock.write_text("version: 6\nenvironments: [[[\n")
    root = make_repo({})
    result = CliRunner().invoke(
        main, ["import", str(source / "pixi.toml"), "--lock", "--repo", str(root)]
    )
    assert result.exit_code == 1, result.output
    assert f"{lock}: " in result.output and "imported, not locked" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "file_name", ["environment.yml", "requirements.txt", "pixi.toml", "pyproject.toml"]
)
def test_an_import_source_that_is_no_regular_file_is_refused_without_waiting(
    make_repo: RepoFactory, tmp_path: Path, file_name: str
) -> None:
    """Every file envc reads goes through the bounded reader: a FIFO would block a plain
    read forever, a link may point anywhere."""
    fifo = tmp_path / "fifo" / file_name
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    (tmp_path / "real.txt").write_text("numpy\n")
    link = tmp_path / "link" / file_name
    link.parent.mkdir()
    link.symlink_to(tmp_path / "real.txt")
    root = make_repo({})
    for source in (fifo, link):
        result = CliRunner().invoke(
            main, ["import", str(source), "--python", "3.12", "--repo", str(root)]
        )
        assert result.exit_code in (1, 2), result.output
        assert str(source) in result.output and "Traceback" not in result.output
        if source == link:
            assert "symbolic link" in result.output, result.output
        assert not (root / "environments").exists() or not any((root / "environments").iterdir())


def test_a_uv_project_comes_in_with_its_python_sources_and_locked_versions(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """A uv project: requires-python a range (.python-version picks), a git source that makes
    the requirement a URL, an index source and dev groups noted; `--lock` keeps uv.lock's
    versions (the project's own virtual entry is not a package)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for version in ("1.0", "2.0"):
        write_wheel(wheels, "alpha", version)
    project = tmp_path / "svc"
    project.mkdir()
    (project / ".python-version").write_text("3.12\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "svc"\nrequires-python = ">=3.11"\n'
        'dependencies = ["alpha", "mylib[fast]>=1", "torch"]\n'
        '[dependency-groups]\ndev = ["pytest"]\n'
        '[tool.uv.sources]\nmylib = { git = "https://github.com/org/mylib", tag = "v1" }\n'
        'torch = { index = "cu121" }\n'
        '[[tool.uv.index]]\nname = "cu121"\nurl = "https://download.pytorch.org/whl/cu121"\n'
    )
    imported = import_source(project / "pyproject.toml")
    assert imported.manifest["python"] == "3.12"
    assert imported.manifest["pip"] == [
        "alpha",
        "mylib[fast] @ git+https://github.com/org/mylib@v1",
        "torch",
    ]
    assert imported.manifest["pip_indexes"] == ["https://download.pytorch.org/whl/cu121"]
    for words in ("dependency groups (dev)", "torch: from https://download.pytorch.org"):
        assert any(words in note for note in imported.notes), (words, imported.notes)

    (project / "pyproject.toml").write_text(
        '[project]\nname = "svc"\nrequires-python = ">=3.11"\ndependencies = ["alpha"]\n'
    )
    (project / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.11"\n'
        '[[package]]\nname = "alpha"\nversion = "1.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "svc"\nversion = "0.1.0"\nsource = { virtual = "." }\n'
    )
    root = make_repo({})
    arguments = ["import", str(project / "pyproject.toml"), "--lock", "--repo", str(root)]
    result = CliRunner().invoke(main, [*arguments, "--pip-find-links", str(wheels)])
    assert result.exit_code == 0, result.output
    assert "svc: 1 of 1 versions of uv.lock kept" in result.output
    assert "alpha==1.0" in (root / "environments/svc/requirements-linux-64.txt").read_text()


def test_a_toml_lock_entry_that_is_no_pin_never_reaches_uv(tmp_path: Path) -> None:
    """uv.lock and poetry.lock are read as plain TOML: a name or version holding a newline or
    an option would add a line to the requirements uv takes its preferences from."""
    lock = tmp_path / "uv.lock"
    lock.write_text(
        '[[package]]\nname = "a\\n--index-url https://evil.example/simple"\nversion = "1.0"\n'
        '[[package]]\nname = "b"\nversion = "1.0\\n-e ."\n'
        '[[package]]\nname = "c"\nversion = "2.0.post1"\n'
        '[[package]]\nname = "proj"\nversion = "0.1"\nsource = { editable = "." }\n'
    )
    seed = lock_seed(lock)
    assert seed is not None and seed.pip_for("linux-64") == "c==2.0.post1\n"


PIP_COMPILED = """\
#
#    pip-compile --generate-hashes requirements.in
#
--index-url https://pypi.org/simple
--extra-index-url https://download.pytorch.org/whl/cpu

certifi==2024.2.2 \\
    --hash=sha256:0569859f95fc761b18b45ef421b1290a0f65f147e92a1e5eb3e635f9a5e4e66f
    # via requests
torch==2.2.1+cpu \\
    --hash=sha256:dc383c07b76109f368f6106eee2b593b04a011ea4d55f652c6ca24a754d1cdd1
    # via -r requirements.in
"""


@pytest.mark.parametrize("shape", ["requirements", "conda", "pixi"])
def test_pip_indexes_come_in_as_the_manifests_own(tmp_path: Path, shape: str) -> None:
    """pip-compile's output (hashes, PyPI as the index, an extra index for local versions), as a
    requirements file, as a conda file's pip section and as pixi's [pypi-options]: PyPI is envc's
    default (nothing to note), hashes are the lock's own (one note), and the extra index is the
    manifest's `pip_indexes`, where the lock finds `torch==2.2.1+cpu`."""
    if shape == "requirements":
        source = tmp_path / "requirements.txt"
        source.write_text(PIP_COMPILED, encoding="utf-8")
        imported = import_source(source, "app", python="3.11")
    else:
        lines = [line for line in PIP_COMPILED.replace("\\\n", "").splitlines() if line.strip()]
        pip = [line.strip() for line in lines if not line.lstrip().startswith("#")]
        source = tmp_path / "environment.yml"
        body = "".join(f"      - {json.dumps(line)}\n" for line in pip)
        source.write_text(
            f"name: app\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n{body}",
            encoding="utf-8",
        )
        imported = import_source(source, "app")
    if shape == "pixi":  # pixi's [pypi-options] (no hashes: pixi.lock holds them)
        source = tmp_path / "pixi.toml"
        source.write_text(
            '[workspace]\nname = "app"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            '[pypi-options]\nindex-url = "https://pypi.org/simple/"\n'
            'extra-index-urls = ["https://download.pytorch.org/whl/cpu"]\n'
            '[dependencies]\npython = "3.11.*"\n'
            '[pypi-dependencies]\ncertifi = "==2024.2.2"\ntorch = "==2.2.1+cpu"\n'
        )
        imported = import_source(source)
    assert imported.manifest["pip"] == ["certifi==2024.2.2", "torch==2.2.1+cpu"]
    assert imported.manifest["pip_indexes"] == ["https://download.pytorch.org/whl/cpu"]
    notes = "\n".join(imported.notes)
    assert "index" not in notes  # PyPI: the default; the other: carried
    assert notes.count("--hash") == (0 if shape == "pixi" else 1)
    if shape == "pixi":  # a feature's own [pypi-options]: its environments' indexes
        text = source.read_text().replace("[pypi-options]", "[feature.gpu.pypi-options]")
        source.write_text(text + '[environments]\ngpu = ["gpu"]\n')
        workspace = import_source(source)
        assert "pip_indexes" not in workspace.manifest
        [gpu] = workspace.companions
        assert gpu.manifest["pip_indexes"] == ["https://download.pytorch.org/whl/cpu"]
        source.write_text(text.replace("[feature.gpu.pypi-options]", "[pypi-options]"))
    if shape == "pixi":  # an index-url in PyPI's place: searched first, then PyPI (noted)
        source.write_text(source.read_text().replace("pypi.org/simple/", "pypi.example.com/simple"))
        replaced = import_source(source)
        assert replaced.manifest["pip_indexes"] == [
            "https://download.pytorch.org/whl/cpu",
            "https://pypi.example.com/simple",
        ]
        assert any("searched first, and then PyPI" in n for n in replaced.notes)
    # An index that cannot come in (credentials written out) is noted, without them, with the
    # requirements it strands.
    source.write_text(
        source.read_text().replace("https://download", "https://bob:hunter2@download"),
        encoding="utf-8",
    )
    stranded = import_source(
        source, "app", **({"python": "3.11"} if shape == "requirements" else {})
    )
    assert "https://download.pytorch.org/whl/cpu" not in stranded.manifest.get("pip_indexes", [])
    assert "hunter2" not in json.dumps(stranded.manifest)
    notes = "\n".join(stranded.notes)
    assert "hunter2" not in notes
    assert (
        "index https://download.pytorch.org/whl/cpu is not carried (it holds credentials" in notes
    )
    assert re.search(
        r"torch==2\.2\.1\+cpu.*local version.*https://download\.pytorch\.org/whl/cpu", notes
    ), notes


@pytest.mark.parametrize("shape", ["pixi", "poetry"])
def test_git_and_url_sources_are_carried_as_direct_references(tmp_path: Path, shape: str) -> None:
    """A package from a git repository or a URL is a PEP 508 direct reference (`name @ git+URL@
    ref`, `name @ URL`), as in a requirements file; a path is the project's own code, noted."""
    tables = (
        'flash-attn = { url = "https://example.com/flash_attn-2.5.0-cp311-linux_x86_64.whl" }\n'
        'other = { git = "https://github.com/org/other.git", rev = "abc123" }\n'
        'tagged = { git = "https://github.com/org/tagged.git", tag = "v1.2", '
        'subdirectory = "python" }\n'
        'fancy = { git = "https://github.com/org/fancy", branch = "main", extras = ["cli"] }\n'
        'mine = { path = ".", editable = true }\n'
    )
    source = tmp_path / ("pixi.toml" if shape == "pixi" else "pyproject.toml")
    if shape == "pixi":
        source.write_text(
            '[workspace]\nname = "app"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            '[dependencies]\npython = "3.11.*"\n[pypi-dependencies]\n' + tables
        )
    else:
        source.write_text(
            '[tool.poetry]\nname = "app"\n[tool.poetry.dependencies]\npython = "3.11"\n' + tables
        )
    imported = import_source(source)
    assert imported.manifest["pip"] == [
        "flash-attn @ https://example.com/flash_attn-2.5.0-cp311-linux_x86_64.whl",
        "other @ git+https://github.com/org/other.git@abc123",
        "tagged @ git+https://github.com/org/tagged.git@v1.2#subdirectory=python",
        "fancy[cli] @ git+https://github.com/org/fancy@main",
    ]
    assert any("mine" in n and "local path" in n for n in imported.notes), imported.notes


def test_a_pixi_environment_is_a_conda_environment_even_with_only_pypi_packages(
    tmp_path: Path,
) -> None:
    """pixi installs Python from conda and the PyPI packages into it: with no other conda
    package the manifest still has a conda part (pip), or a GPU environment would be a pip-only
    one on a CUDA image without Python, which does not validate."""
    source = tmp_path / "pixi.toml"
    source.write_text(
        '[workspace]\nname = "torchy"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.11.*"\n[pypi-dependencies]\nnumpy = ">=1.26"\n'
        '[system-requirements]\ncuda = "12.1"\n'
    )
    imported = import_source(source)
    assert imported.manifest["conda"] == ["pip"]
    assert imported.manifest["docker"] == {"compute": "gpu", "cuda": "12.1"}
    root = tmp_path / "repo"
    (root / "environments").mkdir(parents=True)
    write_imported(imported, root / "environments", False)
    from compiler.validate.repository import validate

    report = validate(root=root)
    assert report.ok, report.diagnostics


def test_azureml_v2_with_its_conda_file_inline_keeps_it(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """`conda_file:` may be the conda environment itself rather than a path (deployments and
    environments written by hand): it becomes the environment's conda file, not nothing."""
    source = tmp_path / "env.yml"
    source.write_text(
        "name: sklearn-inference\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n"
        "conda_file:\n  channels: [conda-forge]\n  dependencies:\n    - python=3.10\n"
        "    - pip\n    - pip:\n      - scikit-learn==1.3.2\n"
    )
    imported = import_source(source)
    assert imported.manifest["conda_file"] == "conda.yaml"
    conda = imported.files["conda.yaml"].decode()
    assert "python=3.10" in conda and "scikit-learn==1.3.2" in conda
    root = make_repo({})
    write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    assert str(resolve("sklearn-inference", report.manifests).conda_file).endswith("/conda.yaml")


def test_an_azureml_deployment_that_names_a_registered_environment_is_not_one(
    tmp_path: Path,
) -> None:
    """A deployment whose `environment:` is a reference (`azureml:sklearn-env:3`) holds no
    environment: importing it must not make an empty manifest named after the deployment."""
    from compiler.interop.common import NotAnEnvironment

    source = tmp_path / "deployment.yml"
    source.write_text(
        "name: blue\nendpoint_name: ep\nmodel: azureml:m:1\nenvironment: azureml:sklearn-env:3\n"
        "instance_type: Standard_DS3_v2\n"
    )
    with pytest.raises(NotAnEnvironment, match="azureml:sklearn-env:3"):
        import_source(source)
    remote = tmp_path / "remote.yml"
    remote.write_text(
        "name: remote\nbuild:\n  path: https://github.com/Azure/azureml-examples.git#main:cli\n"
    )
    with pytest.raises(EnvcError, match="remote build context"):
        import_source(remote)


def test_an_installed_environment_s_pip_side_keeps_where_each_package_came_from(
    tmp_path: Path,
) -> None:
    """What pip and uv installed into a conda environment (PEP 610's direct_url.json says from
    where): a package from PyPI is pinned; one from a git repository or a URL is pinned to that
    commit or file; the project's own folder (an editable or local install) is noted, not
    pinned to a version no index serves. Packages conda installed are conda's."""
    prefix = _prefix(tmp_path / "envs" / "work", {"numpy": "numpy>=1.25"})
    site = prefix / "lib/python3.11/site-packages"

    def installed(stem: str, installer: str, direct_url: dict[str, object] | None = None) -> None:
        folder = site / f"{stem}.dist-info"
        folder.mkdir()
        (folder / "INSTALLER").write_text(f"{installer}\n")
        if direct_url is not None:
            (folder / "direct_url.json").write_text(json.dumps(direct_url))

    installed("httpx-0.27.0", "uv")
    installed(
        "mylib-0.1.dev3+g1a2b3c4",
        "pip",
        {
            "url": "https://github.com/org/mylib.git",
            "vcs_info": {"vcs": "git", "commit_id": "1a2b3c4d"},
        },
    )
    installed(
        "wheelpkg-2.0",
        "pip",
        {"url": "https://example.com/wheelpkg-2.0-py3-none-any.whl", "archive_info": {}},
    )
    installed(
        "myproject-0.0.0",
        "pip",
        {"url": "file:///home/me/myproject", "dir_info": {"editable": True}},
    )
    installed("certifi-2024.2.2", "conda")
    installed("damaged-1.0", "pip", {"url": "https://x.example/a b\nRUN evil", "archive_info": {}})
    imported = import_source(prefix)
    assert imported.manifest["pip"] == [
        "httpx==0.27.0",
        "mylib @ git+https://github.com/org/mylib.git@1a2b3c4d",
        "rich-click==1.8.3",
        "wheelpkg @ https://example.com/wheelpkg-2.0-py3-none-any.whl",
    ]
    assert any("myproject" in note and "local" in note for note in imported.notes), imported.notes
    assert any(note.startswith("damaged 1.0: its direct_url.json") for note in imported.notes)


CU121 = "https://download.pytorch.org/whl/cu121"


@pytest.mark.parametrize(
    ("file", "text"),
    [
        (  # Poetry's PyTorch recipe: an explicit source the dependency names
            "pyproject.toml",
            '[tool.poetry]\nname = "trainer"\n[tool.poetry.dependencies]\npython = "3.11"\n'
            'torch = { version = "2.3.1+cu121", source = "pytorch" }\nnumpy = "^1.26"\n'
            f'[[tool.poetry.source]]\nname = "pytorch"\nurl = "{CU121}"\npriority = "explicit"\n',
        ),
        (  # pixi's: an index on the PyPI dependency itself
            "pixi.toml",
            '[workspace]\nname = "trainer"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            '[dependencies]\npython = "3.11.*"\n'
            f'[pypi-dependencies]\ntorch = {{ version = "==2.3.1+cu121", index = "{CU121}" }}\n'
            'numpy = ">=1.26,<2"\n',
        ),
    ],
)
def test_a_package_bound_to_an_index_brings_the_index_along(
    tmp_path: Path, make_repo: RepoFactory, file: str, text: str
) -> None:
    """envc has no index per package: the index comes in as the environment's, searched before
    PyPI for every package (noted), and goes out again in the exports."""
    source = tmp_path / "trainer" / file
    source.parent.mkdir()
    source.write_text(text)
    imported = import_source(source)
    assert imported.manifest["pip_indexes"] == [CU121]
    assert any(note.startswith("torch: ") and "pip_indexes" in note for note in imported.notes)
    root = make_repo({})
    write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    manifest = resolve("trainer", report.manifests)
    folder = root / report.manifests["trainer"][1]
    for output_format in ("requirements", "conda-env"):
        exported = (
            tmp_path
            / f"exported-{output_format}"
            / ("requirements.txt" if output_format == "requirements" else "environment.yml")
        )
        exported.parent.mkdir()
        exported.write_text(export_environment(manifest, root, folder, output_format).files[""])
        assert f"--extra-index-url {CU121}" in exported.read_text()
        again = import_source(exported, "trainer", python="3.11")
        assert again.manifest["pip_indexes"] == [CU121]


def test_pip_options_carry_the_indexes_envc_can_take_in_uvs_order() -> None:
    """What each kind of index line becomes: PyPI nothing, an extra index the next of
    pip_indexes, one in PyPI's place the last (PyPI is still searched after it: noted), and
    one that cannot come in a note naming it without its credentials."""
    options, notes = PipOptions(), []
    for line in [
        "--index-url https://private.example/simple",
        "--extra-index-url https://pypi.org/simple/",
        "--extra-index-url https://download.pytorch.org/whl/cu121",
        "--extra-index-url https://bob:hunter2@secret.example/simple",
        "--extra-index-url ftp://mirror.example/simple",
        "--extra-index-url https://assets.example/{{latest-index}}/simple",
        "--extra-index-url https://${INDEX_USER}:${INDEX_TOKEN}@team.example/simple",
    ]:
        options.option(line, "r.txt: ", notes)
    assert options.indexes == [
        "https://download.pytorch.org/whl/cu121",
        "https://${INDEX_USER}:${INDEX_TOKEN}@team.example/simple",
        "https://private.example/simple",
    ]
    said = "\n".join(notes)
    assert "hunter2" not in said
    for stranded in ("secret.example", "ftp://mirror.example", "{{latest-index}}"):
        assert re.search(rf"r\.txt: index \S*{re.escape(stranded)}\S* is not carried", said)
    assert "private.example/simple is searched first, and then PyPI" in said
