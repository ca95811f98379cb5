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
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory
from tests.local_http import serving, simple_index
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


def _asset(folder: Path, index: str = "https://pkgs.example.invalid/simple") -> Path:
    (folder / "context").mkdir(parents=True)
    (folder / "asset.yaml").write_text("name: demo-train\nversion: auto\ntype: environment\n")
    (folder / "environment.yaml").write_text("image:\n  context:\n    dir: context\n")
    dockerfile_text = ASSET_DOCKERFILE.replace("https://pkgs.example.invalid/simple", index)
    (folder / "context" / "Dockerfile").write_text(dockerfile_text)
    (folder / "context" / "conda_dependencies.yaml").write_text(CONDA_FILE)
    (folder / "context" / "score.py").write_text("print('scoring')\n")
    return folder


def test_a_lifted_asset_locks_offline_and_renders_on_its_base_stage(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0")
    write_wheel(wheels, "alpha", "1.1")
    with serving(simple_index(wheels)) as host:
        index = f"http://{host}/simple"
        imported = import_source(_asset(tmp_path / "demo", index))
        manifest = imported.manifest
        assert (manifest["name"], manifest["python"]) == ("demo-train", "3.12")
        assert (manifest["channels"], manifest["conda"]) == (["conda-forge"], ["numpy", "pip"])
        assert manifest["pip"] == ["alpha"]  # the placeholder became an unpinned spec
        # the step's index: the environment's (searched first, then PyPI: noted)
        assert manifest["pip_indexes"] == [index]
        assert manifest["variables"] == {"OMP_NUM_THREADS": "4"}
        assert manifest["docker"] == {"base_dockerfile": "Dockerfile.base"}
        assert sorted(imported.files) == ["Dockerfile.base", "score.py"]  # the conda file's lifted
        notes = imported.notes
        assert "Dockerfile:11: lifted: RUN" in notes and "Dockerfile:14: lifted: RUN" in notes
        assert any(f"index {index} is searched first, and then PyPI" in n for n in notes)
        assert any("pin a tag matching \\d{8}\\.v\\d or a digest" in n for n in notes)
        root = make_repo({})
        write_imported(imported, root / "environments")
        report = validate(root=root, cwd=root)
        assert report.ok, report.diagnostics
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


def test_pixi_cuda_and_conda_defaults(tmp_path: Path) -> None:
    from compiler.lock.inputs import lock_inputs
    from compiler.manifest.model import Manifest
    from compiler.validate.catalog import load_catalog

    pixi = tmp_path / "pixi.toml"
    pixi.write_text(
        '[workspace]\nname = "gpu-work"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.12.*"\nnumpy = "*"\n[system-requirements]\ncuda = "12"\n'
    )
    imported = import_source(pixi)
    # the catalog has no 12.0 image: its newest CUDA 12 one (a manifest of 12.0 would not validate)
    twelves = [v for v in load_catalog(None).gpu if v.startswith("12.")]
    newest = max(twelves, key=lambda v: tuple(map(int, v.split("."))))
    assert imported.manifest["docker"] == {"compute": "gpu", "cuda": newest}
    assert not any("[system-requirements] is not carried" in note for note in imported.notes)
    manifest = Manifest.model_validate(
        {
            "schema_version": 1,
            "name": "anaconda",
            "channels": ["defaults"],
            "conda": ["numpy"],
            "platforms": ["linux-64", "win-64"],
        }
    )
    inputs = lock_inputs(manifest, tmp_path)
    assert inputs is not None and inputs.channels == (
        "https://repo.anaconda.com/pkgs/main",
        "https://repo.anaconda.com/pkgs/r",
        "https://repo.anaconda.com/pkgs/msys2",
    )


def test_what_is_not_an_environment_says_what_it_is(tmp_path: Path) -> None:
    import pytest

    from compiler.interop.common import NotAnEnvironment

    with pytest.raises(NotAnEnvironment, match=r"an azureml-assets environment\.yaml"):
        import_source(REAL / "aml-sklearn-1.5" / "environment.yaml")
    with pytest.raises(NotAnEnvironment, match="a folder that is no environment"):
        import_source(tmp_path)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "git+https://github.com/org/tool@0123abc\nhttps://x.invalid/pkg-1.0.tar.gz\n"
    )
    imported = import_source(requirements, python="3.12")
    assert imported.manifest["pip"] == ["pkg @ https://x.invalid/pkg-1.0.tar.gz"]
    assert any("needs a name (NAME @ URL)" in note for note in imported.notes)


def test_the_python_option_and_patch_pins(tmp_path: Path) -> None:
    conda = tmp_path / "environment.yml"
    conda.write_text("name: p\ndependencies:\n  - python=3.12.8\n  - numpy\n")
    pixi = tmp_path / "pixi" / "pixi.toml"
    pixi.parent.mkdir()
    pixi.write_text(
        '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.12.8"\nnumpy = "*"\n'
    )
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "y"\nrequires-python = ">=3.10,<3.13"\ndependencies = ["rich"]\n'
    )
    for source in (conda, pixi):
        assert import_source(source).manifest["python"] == "3.12.8"  # the patch pin kept
        chosen = import_source(source, python="3.11")
        assert chosen.manifest["python"] == "3.11"
        assert "python 3.12.8 (from the source) replaced by --python" in chosen.notes
    ranged = import_source(pyproject, python="3.12")
    assert list(ranged.manifest)[:3] == ["schema_version", "name", "python"]
    assert ranged.manifest["python"] == "3.12" and not ranged.notes


def test_the_v2_export_carries_the_lock_and_a_render_imports_again(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    from compiler.interop.export import export_environment
    from compiler.load.buildcontext import read_base_dockerfile
    from compiler.manifest.model import resolve

    manifest = "schema_version: 1\nname: ml\npython: '3.12'\nconda: [numpy]\n"
    root = make_repo({"environments/ml/env.yaml": manifest})
    folder = root / "environments" / "ml"
    manifests = validate(root=root, cwd=root).manifests
    unlocked = export_environment(resolve("ml", manifests), root, folder, "azureml-v2")
    assert "numpy\n" in str(unlocked.files["conda.yml"])
    assert any("solves them again" in note for note in unlocked.notes)
    lock_repository(root, mirrors=MIRRORS)
    pinned = export_environment(resolve("ml", manifests), root, folder, "azureml-v2")
    conda = str(pinned.files["conda.yml"])
    locked = (folder / "conda-linux-64.lock").read_text()
    numpy = next(line for line in locked.splitlines() if "/numpy-" in line)
    file_name = numpy.split("#", 1)[0].rsplit("/", 1)[1]
    version, build = file_name.removesuffix(".conda").removesuffix(".tar.bz2").split("-")[1:3]
    assert f"numpy={version}={build}" in conda and "python=3.12." in conda
    # A build context envc rendered, imported again as a base Dockerfile: its last stage
    # (`FROM envc-base`) gets a name of its own, not `envc-base` again.
    (folder / "Dockerfile.base").write_text("FROM busybox AS envc-base\nFROM envc-base\n")
    stage, problems = read_base_dockerfile(root, "environments/ml/Dockerfile.base")
    assert not problems and stage is not None
    assert stage.stage == "envc-base-2"
    assert stage.text.splitlines()[-1] == "FROM envc-base AS envc-base-2"


def test_files_inside_an_asset_take_the_assets_name() -> None:
    requirements = REAL / "aml-acpt" / "context" / "requirements.txt"
    assert import_source(requirements, python="3.12").name == "acft-hf-nlp-gpu"  # not "context"
    conda = REAL / "aml-designer-r" / "context" / "conda_dependencies.yaml"
    assert import_source(conda).name == "designer-r"  # not SDK v1's "project_environment"


def test_a_hostile_dockerfile_reads_nothing_outside_its_context(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("stolen-package==1.0\n")
    asset = tmp_path / "asset"
    (asset / "context").mkdir(parents=True)
    (asset / "asset.yaml").write_text("name: hostile\ntype: environment\n")
    (asset / "context" / "linked.txt").symlink_to(secret)
    (asset / "context" / "Dockerfile").write_text(
        "FROM python:3.12\nENV CONDA_PREFIX=/opt/x\n"
        "RUN conda create -p $CONDA_PREFIX -y python=3.12 numpy\n"
        "RUN conda run -p $CONDA_PREFIX pip install -r ../../secret.txt\n"
        "RUN conda run -p $CONDA_PREFIX pip install -r /etc/passwd\n"
        "RUN conda run -p $CONDA_PREFIX pip install -r linked.txt\n"
        "RUN conda env update -p $CONDA_PREFIX -f ../secret.txt\n"
    )
    imported = import_source(asset)
    assert "pip" not in imported.manifest and imported.manifest["conda"] == ["numpy"]
    assert not any(b"stolen" in content for content in imported.files.values())
    left = [note for note in imported.notes if "is left as it is" in note]
    assert len(left) == 4, imported.notes
    base = imported.files["Dockerfile.base"].decode()
    assert "-r ../../secret.txt" in base and "-r /etc/passwd" in base  # kept, not read


def test_installs_into_the_created_environment_are_lifted_too(tmp_path: Path) -> None:
    """Assets often create the environment, then `conda install -p` more into it, or create
    it from a spec list (`--file`, one MatchSpec per line: not an environment YAML). Left in
    the base stage, such a step would run before envc creates the environment, and fail."""
    from compiler.interop.lift import lift_dockerfile

    (tmp_path / "specs.txt").write_text("pandas=2.1.*\nconda-forge::scikit-learn\n")
    lifted = lift_dockerfile(
        "FROM ubuntu:22.04\nENV CONDA_PREFIX=/opt/conda-env\n"
        "RUN conda create -p $CONDA_PREFIX python=3.11 -c conda-forge -y\n"
        "RUN conda install -p $CONDA_PREFIX -c pytorch -y numpy=1.26 'scipy>=1.10' && "
        "conda clean -a -y\n"
        "RUN mamba install --prefix=$CONDA_PREFIX --file specs.txt -y\n"
        "RUN conda install -n base -y mamba\n",
        tmp_path,
    )
    assert lifted is not None
    assert lifted.python == "3.11"
    assert lifted.channels == ["conda-forge", "pytorch"]
    assert lifted.conda == ["numpy =1.26", "scipy >=1.10", "pandas 2.1.*", "scikit-learn"]
    assert "specs.txt" in lifted.files_used
    # an install into another environment of the image (conda's base) stays where it was
    assert "conda install -n base -y mamba" in lifted.base_dockerfile
    assert "-p $CONDA_PREFIX" not in lifted.base_dockerfile
    assert not any("uses the environment" in note for note in lifted.notes), lifted.notes
