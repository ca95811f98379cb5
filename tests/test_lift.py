"""An azureml-assets environment folder, lifted: its conda file and the pip installs into its
environment become a locked environment (offline: the channel snapshot and a local wheel
folder), the rest of its Dockerfile the base stage; and `{{…}}` placeholders never get past
validate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dockerfile

from compiler.interop.common import write_imported
from compiler.interop.sources import import_source
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from compiler.render.context import render_repository
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory
from tests.test_lock import MIRRORS

REAL = Path(__file__).resolve().parent / "data" / "real-environments"
HADOLINT = Path(sys.executable).parent / "hadolint"
ASSET_DOCKERFILE = """\
FROM mcr.microsoft.com/azureml/openmpi5.0-ubuntu24.04:{{latest-image-tag:\\d{8}\\.v\\d}}

ENV CONDA_PREFIX=/azureml-envs/demo
ENV PATH=$CONDA_PREFIX/bin:$PATH
ENV OMP_NUM_THREADS=4

RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && \\
    rm -rf /var/lib/apt/lists/*

COPY conda_dependencies.yaml .
RUN conda env create -p $CONDA_PREFIX -f conda_dependencies.yaml -q && \\
    rm conda_dependencies.yaml && \\
    conda clean -a -y
RUN pip install --no-cache-dir 'alpha=={{latest-pypi-version}}' \\
    --index-url https://pkgs.example.invalid/simple
RUN /opt/miniconda/bin/pip install --no-cache-dir --upgrade 'idna>=3.15'
COPY score.py /app/score.py
"""
CONDA_FILE = (
    "name: demo\nchannels: [conda-forge]\ndependencies:\n  - python=3.12\n  - numpy\n  - pip\n"
)


def _asset(folder: Path) -> Path:
    (folder / "context").mkdir(parents=True)
    (folder / "asset.yaml").write_text("name: demo-train\nversion: auto\ntype: environment\n")
    (folder / "environment.yaml").write_text("image:\n  context:\n    dir: context\n")
    (folder / "context" / "Dockerfile").write_text(ASSET_DOCKERFILE)
    (folder / "context" / "conda_dependencies.yaml").write_text(CONDA_FILE)
    (folder / "context" / "score.py").write_text("print('scoring')\n")
    return folder


def test_a_lifted_asset_locks_offline_and_renders_on_its_base_stage(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    imported = import_source(_asset(tmp_path / "demo"))
    manifest = imported.manifest
    assert (manifest["name"], manifest["python"]) == ("demo-train", "3.12")
    assert (manifest["channels"], manifest["conda"]) == (["conda-forge"], ["numpy", "pip"])
    assert manifest["pip"] == ["alpha"]  # the placeholder became an unpinned spec
    assert manifest["variables"] == {"OMP_NUM_THREADS": "4"}
    assert manifest["docker"] == {"base_dockerfile": "Dockerfile.base"}
    assert sorted(imported.files) == ["Dockerfile.base", "score.py"]  # the conda file is lifted
    notes = imported.notes
    assert "Dockerfile:11: lifted: RUN" in notes and "Dockerfile:14: lifted: RUN" in notes
    assert any("--index-url https://pkgs.example.invalid/simple is not carried" in n for n in notes)
    assert any("pin a tag matching \\d{8}\\.v\\d or a digest" in n for n in notes)
    root = make_repo({})
    write_imported(imported, root / "environments")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0")
    write_wheel(wheels, "alpha", "1.1")
    [outcome] = lock_repository(
        root,
        mirrors=MIRRORS,
        pip_index=PipIndex(find_links=(str(wheels),)),
        manifests=report.manifests,
    )
    assert outcome.status == "locked", outcome.reasons
    folder = root / "environments" / "demo-train"
    assert "alpha==1.1" in (folder / "requirements-linux-64.txt").read_text()
    assert "numpy-" in (folder / "conda-linux-64.lock").read_text()
    [rendered] = render_repository(root, validate(root=root, cwd=root).manifests)
    assert rendered.status == "rendered", rendered.error
    built = root / "build" / "demo-train" / "Dockerfile"
    text = built.read_text()
    assert "{{" not in text
    instructions = dockerfile.parse_file(str(built))
    runs = [" ".join(i.value) for i in instructions if i.cmd.upper() == "RUN"]
    assert any("apt-get install" in run for run in runs)  # the base stage keeps what is not ours
    assert any(run.startswith("/opt/miniconda/bin/pip install") for run in runs)
    assert not any("conda env create" in run for run in runs)  # envc installs from the lock
    assert any("micromamba create" in run for run in runs)
    assert (root / "build" / "demo-train" / "score.py").is_file()
    # hadolint: the asset's own lines keep their own warnings (an unpinned apt-get); none of
    # the Dockerfile is an error.
    linted = subprocess.run(
        [str(HADOLINT), "--config", str(PROJECT / ".hadolint.yaml"), "--failure-threshold",
         "error", str(built)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_placeholders_left_anywhere_are_errors_at_their_place(make_repo: RepoFactory) -> None:
    context = REAL / "aml-sklearn-1.5" / "context"
    x_manifest = (
        "schema_version: 1\nname: x\nconda_file: conda_dependencies.yaml\n"
        "pip: ['alpha=={{latest-pypi-version}}']\ndocker:\n  base_dockerfile: Dockerfile.base\n"
    )
    y_manifest = "schema_version: 1\nname: y\npython: '3.12'\nrequirements_file: requirements.txt\n"
    root = make_repo(
        {
            "environments/x/env.yaml": x_manifest,
            "environments/x/conda_dependencies.yaml": (
                context / "conda_dependencies.yaml"
            ).read_text(),
            "environments/x/Dockerfile.base": (context / "Dockerfile").read_text(),
            "environments/y/env.yaml": y_manifest,
            "environments/y/requirements.txt": "beta\ngamma=={{latest-pypi-version}}\n",
        }
    )
    report = validate(root=root, cwd=root)
    placeholders = [d for d in report.diagnostics if d.rule == "template-placeholder"]
    where = {(d.path, d.line, d.col) for d in placeholders}
    assert ("environments/x/env.yaml", 4, 7) in where
    assert ("environments/x/Dockerfile.base", 1, 55) in where  # FROM …:{{latest-image-tag}}
    assert ("environments/y/requirements.txt", 2, 8) in where
    assert any(d.path == "environments/x/conda_dependencies.yaml" for d in placeholders)
    assert all("nothing fills here" in d.message for d in placeholders)
    # One finding per placeholder: not also "invalid requirement".
    assert not [d for d in report.diagnostics if d.rule == "pip-spec"]


def test_every_public_azureml_asset_is_lifted_or_kept_whole() -> None:
    """The public azureml-assets folders: those whose Dockerfile creates its own environment
    are lifted (packages in the manifest), the rest kept whole; no placeholder survives."""
    lifted, whole = [], []
    for folder in sorted(REAL.glob("aml-*")):
        imported = import_source(folder)
        python = imported.manifest.get("python")
        if isinstance(python, dict) and python.get("user_managed_dependencies"):
            whole.append(folder.name)
        else:
            lifted.append(folder.name)
            assert imported.manifest.get("conda") or imported.manifest.get("pip"), folder
        for name, content in imported.files.items():
            assert b"{{" not in content or not name.startswith("Dockerfile"), (folder, name)
        assert "Dockerfile" not in imported.files
        base = imported.files.get("Dockerfile.base")
        if base is not None:
            assert dockerfile.parse_string(base.decode()), folder
    assert len(lifted) == 10 and "aml-sklearn-1.5" in lifted, lifted
    assert len(whole) == 6 and "aml-acpt" in whole, whole
