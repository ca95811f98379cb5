"""Import from conda environment files and pip requirements (real public definitions), export
back, and round-trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.interop import export_environment, import_source, write_imported
from compiler.model import resolve
from compiler.render import render_repository
from compiler.validate import validate
from tests.conftest import RepoFactory

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
    assert any("--index-url" in n for n in imported.notes)
    assert any("-e" in n for n in imported.notes)


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
    written = write_imported(first, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    exported = tmp_path / "environment.yml"
    exported.write_text(
        export_environment(resolve(first.name, report.manifests), root, "conda-env")
    )
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
    assert "not carried: 'azureml-core=={{latest-pypi-version}}'" in first.output
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


def test_an_azureml_assets_folder_builds_on_its_dockerfile(make_repo: RepoFactory) -> None:
    imported = import_source(REAL / "aml-sklearn-1.5")
    manifest = imported.manifest
    assert manifest["python"] == {
        "user_managed_dependencies": True,
        "interpreter_path": "/azureml-envs/sklearn-1.5/bin/python",
    }
    assert manifest["docker"] == {"base_dockerfile": "Dockerfile"}
    assert manifest["tags"]["Scikit-learn"] == "1.5"
    dockerfile = imported.files["Dockerfile"].decode()
    assert "{{" not in dockerfile
    assert "FROM mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:latest" in dockerfile
    assert "    azureml-core \\" in dockerfile  # unpinned, and said so
    assert sum("template placeholder" in note for note in imported.notes) == 7
    assert any("does not lock them" in note for note in imported.notes)
    root = make_repo({})
    write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    render_repository(root, report.manifests, ["sklearn-1.5"])
    assert (root / "build/sklearn-1.5/conda_dependencies.yaml").is_file()  # COPY source


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
    assert result.exit_code == 1  # one source could not be imported
    imported = sorted(p.parent.name for p in (root / "environments").glob("*/env.yaml"))
    # The asset folder is one environment: its context's conda file is not imported again.
    assert imported == [
        "docker-image-plus-conda-example",
        "pydata-example",
        "r2d-pipfile-requirements-txt",
        "sklearn-1.5",
    ]
    assert "conda-lock.yml: not imported: a conda-lock lockfile" in result.output
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
