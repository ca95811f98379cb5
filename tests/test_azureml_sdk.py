"""Azure ML SDK v1 scripts on envc (compiler.azureml): a real v1 script runs with only its
imports changed, against a workspace that is a git repository with the offline channel snapshot
and a local wheel folder; what it writes validates, locks, renders and lists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from compiler.azureml import (
    CondaDependencies,
    DockerConfiguration,
    DraftWarning,
    Environment,
    Experiment,
    InvalidEnvironment,
    NotCarriedWarning,
    RunConfiguration,
    ScriptRunConfig,
    Workspace,
)
from compiler.errors import EnvcError, UsageError
from compiler.interop.azureml import import_azureml_v1
from compiler.load.yamlio import read_yaml
from compiler.lock.pip import write_wheel
from tests.conftest import PROJECT, Git, run_envc
from tests.test_interop import _prefix

DATA = Path(__file__).resolve().parent / "data" / "sdk-v1"
CHANNEL = Path(__file__).resolve().parent / "data" / "channels" / "conda-forge"
SECRET = "s3cr3t-registry-password"
PACKAGES = {"channels": ["conda-forge"], "conda": ["scikit-learn", "pandas", "numpy", "scipy"]}
TRAINING = {
    "python": "3.11",
    **PACKAGES,
    "pip": ["azureml-defaults", "mlflow"],
    "variables": {"OMP_NUM_THREADS": "4"},
}
USER_MANAGED = {"user_managed_dependencies": True}
# What the script should write, by hand from the SDK v1 calls it makes.
EXPECTED = {
    "training_environment": {
        **TRAINING,
        "docker": {
            "base_image": "my-base-image",
            "base_image_registry": {
                "address": "myregistry.azurecr.io",
                "username": "${BASE_IMAGE_REGISTRY_USERNAME}",
                "password": "${BASE_IMAGE_REGISTRY_PASSWORD}",
            },
        },
    },
    "gpu-training": {
        **TRAINING,
        "docker": {
            "base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04",
            "compute": "gpu",
            "cuda": "11.8",
        },
    },
    "scoring": {"python": "3.11", "pip": ["mlflow", "azureml-defaults"]},
    "custom-image": {
        "python": {**USER_MANAGED, "interpreter_path": "/opt/miniconda/bin/python"},
        "docker": {"base_dockerfile": "Dockerfile"},
    },
    "inline-dockerfile": {
        "python": {**USER_MANAGED, "interpreter_path": "/usr/bin/python3"},
        "docker": {"base_dockerfile": "Dockerfile"},
    },
    "on-host": {"python": "3.11", "conda": ["numpy"], "docker": {"enabled": False}},
}


@pytest.fixture
def workspace(tmp_path: Path, git: Git) -> Path:
    """A committed repository with envc.yaml (offline channel mirror, local wheels), the
    script's input files, and a conda environment `py_env` where conda keeps them."""
    root = tmp_path / "workspace"
    (root / "environments").mkdir(parents=True)
    for name in ("conda.yml", "requirements.txt", "Dockerfile"):
        shutil.copy(DATA / name, root / name)
    wheels = root / "wheels"
    wheels.mkdir()
    for name, version in (("azureml-defaults", "1.60.0"), ("mlflow", "2.16.2")):
        write_wheel(wheels, name, version)
    write_wheel(wheels, "rich-click", "1.8.3")
    (root / "envc.yaml").write_text(
        f"config_version: 1\nmirrors:\n  conda-forge: {CHANNEL.as_uri()}\n"
        "pip:\n  find_links: [wheels]\n"
    )
    _prefix(tmp_path / "conda-envs" / "py_env", {"numpy": "numpy>=1.25"})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "workspace")
    return root


def _script_on_envc() -> str:
    """The v1 script with its imports, and nothing else, pointed at compiler.azureml."""
    original = (DATA / "environments_v1.py").read_text()
    ported = "\n".join(
        line.replace("azureml.core", "compiler.azureml") if line.startswith("from ") else line
        for line in original.splitlines()
    )
    changed = [
        (a, b) for a, b in zip(original.splitlines(), ported.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 3 and all(a.startswith("from azureml.core") for a, _ in changed)
    return ported + "\n"


def _run_script(root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (root / "script.py").write_text(_script_on_envc())
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "CONDA_ENVS_PATH": str(tmp_path / "conda-envs"),
        "ACR_PASSWORD": SECRET,
    }
    return subprocess.run(
        [sys.executable, "script.py"], cwd=root, env=environment, capture_output=True, text=True
    )


def _manifest(root: Path, name: str) -> dict[str, object]:
    document = read_yaml(root / "environments" / name / "env.yaml", name)
    assert not document.diagnostics
    data = dict(document.data)
    assert data.pop("schema_version") == 1 and data.pop("name") == name
    return data


def test_a_v1_script_runs_with_only_its_imports_changed(workspace: Path, tmp_path: Path) -> None:
    run = _run_script(workspace, tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert "from conda file: training_environment 1" in out
    assert "registered twice: 2 2" in out  # an unchanged definition keeps its version
    assert [line for line in out if line.startswith("Name: ")] == [
        f"Name: {name}" for name in sorted([*EXPECTED, "from-py-env"])
    ]
    assert "latest: training_environment 2" in out
    assert "version 1: 1 ['numpy', 'pip']" in out  # from conda.yml, as registered first
    assert "loaded: training_environment ['azureml-defaults', 'mlflow']" in out
    assert "clone: new-name None training_environment 2" in out
    assert "image: envc/training_environment:2" in out
    assert "DraftWarning: training_environment@1 is registered from files no commit holds" in (
        run.stderr
    )
    for name, expected in EXPECTED.items():
        assert _manifest(workspace, name) == expected, name
    installed = _manifest(workspace, "from-py-env")
    assert installed["python"].startswith("3.11.") and installed["pip"] == ["rich-click==1.8.3"]
    assert (workspace / "environments/custom-image/Dockerfile").read_bytes() == (
        DATA / "Dockerfile"
    ).read_bytes()
    assert (workspace / "environments/inline-dockerfile/Dockerfile").read_text() == (
        "FROM ubuntu:22.04"
    )
    # Nothing the script gave as a credential is written anywhere in the repository.
    for file in workspace.rglob("*"):
        if file.is_file() and ".git" not in file.parts:
            assert SECRET.encode() not in file.read_bytes(), file
    # The CLI agrees with what the script did.
    assert run_envc(workspace, "validate").returncode == 0
    check = run_envc(workspace, "lock", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    render = run_envc(workspace, "render")
    assert render.returncode == 0, render.stderr
    assert "FROM my-base-image" in (workspace / "build/training_environment/Dockerfile").read_text()
    listing = json.loads(run_envc(workspace, "list", "--format", "json").stdout)
    versions = {(r["name"], r["version"]) for r in listing}
    assert ("training_environment", 1) in versions and ("training_environment", 2) in versions
    assert all(r["commit"] is None for r in listing)  # drafts: no commit holds them
    # SDK v1's saved form, read back by the v1 importer.
    saved = import_azureml_v1(workspace / "saved")
    assert saved.manifest["conda_file"] == "conda_dependencies.yml"
    assert saved.manifest["docker"]["base_image_registry"]["address"] == "myregistry.azurecr.io"


def test_register_with_commit_records_it_and_ci_reuses_the_version(
    workspace: Path, git: Git
) -> None:
    ws = Workspace.from_config(workspace / "environments")
    env = Environment("committed")
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["numpy"], python_version="3.11"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DraftWarning)
        env.register(ws, commit=True)
    head = git(workspace, "rev-parse", "HEAD")
    assert env.get_image_details(ws)["commit"] == head and env.version == "1"
    assert git(workspace, "status", "--porcelain", "environments") == ""
    assert "envc: register environment committed" in git(workspace, "log", "-1", "--format=%s")
    cli = run_envc(workspace, "register", "committed")
    assert cli.returncode == 0 and "committed@1: already registered" in cli.stdout
    got = Environment.get(workspace=ws, name="committed", version=1)
    assert list(got.python.conda_dependencies.conda_packages) == ["numpy"]


def test_a_failed_register_or_save_leaves_the_folder_as_it_was(workspace: Path) -> None:
    ws = Workspace(repository=workspace)
    env = Environment("kept")
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=["numpy"], python_version="3.11"
    )
    with pytest.warns(DraftWarning):
        env.register(ws)
    folder = workspace / "environments" / "kept"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    env.python.conda_dependencies.add_conda_package("no-such-package-anywhere")
    with pytest.raises(EnvcError, match="kept: cannot lock"):
        env.register(ws)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    broken = Environment("broken")
    broken.python.conda_dependencies.add_conda_package("numpy >=>1")
    with pytest.raises(InvalidEnvironment) as raised:
        broken.register(ws)
    assert raised.value.findings[0].startswith("environments/broken/env.yaml:")
    assert ": error: " in raised.value.findings[0]
    assert not (workspace / "environments" / "broken").exists()
    with pytest.raises(UsageError, match=r"pass force=True to replace it"):
        env.save(ws)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_bad_input_is_an_envc_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(EnvcError, match="no such conda environment file"):
        Environment.from_conda_specification("x", tmp_path / "missing.yml")
    with pytest.raises(EnvcError, match="no such requirements file"):
        Environment.from_pip_requirements("x", tmp_path / "missing.txt")
    env = Environment("x")
    with pytest.raises(EnvcError, match=r"base_dockerfile .*missing/Dockerfile: does not exist"):
        env.docker.base_dockerfile = str(tmp_path / "missing" / "Dockerfile")
    env.docker.base_dockerfile = "FROM python:3.12-slim"  # one line: the text, not a path
    env.docker.base_image = "python:3.12"
    with pytest.raises(EnvcError, match=r"base_image and docker\.base_dockerfile are both set"):
        env.definition()
    with pytest.raises(UsageError, match=r"Workspace\.from_config\(\)"):
        Workspace("subscription", "group", "name")
    with pytest.raises(UsageError, match="no environments repository"):
        Workspace.from_config(tmp_path)
    with pytest.raises(EnvcError, match="no conda environment 'nowhere'"):
        Environment.from_existing_conda_environment("x", "nowhere")


def test_conda_dependencies_behave_as_in_sdk_v1(tmp_path: Path) -> None:
    deps = CondaDependencies.create(
        conda_packages=["numpy", "scipy>=1.10"], pip_packages=["MLflow_Skinny==2.0"]
    )
    deps.add_conda_package("numpy=2.1")  # one entry per package: replaced in place
    deps.add_pip_package("mlflow-skinny==2.16.2")
    deps.remove_conda_package("scipy")
    deps.set_pip_option("--extra-index-url https://example.invalid/simple")
    deps.set_pip_option("--extra-index-url https://mirror.invalid/simple")
    assert list(deps.conda_packages) == ["numpy=2.1"]
    assert list(deps.pip_packages) == ["mlflow-skinny==2.16.2"]
    assert list(deps.pip_options) == ["--extra-index-url https://mirror.invalid/simple"]
    deps.set_python_version("3.12")
    saved = Path(deps.save(tmp_path / "conda.yml"))
    again = CondaDependencies(saved)
    assert (list(again.conda_packages), again.get_python_version()) == (["numpy=2.1"], "3.12")
    env = Environment("pinned")
    env.python.conda_dependencies = deps
    definition = env.definition()
    assert definition.manifest["python"] == "3.12"
    assert definition.manifest["pip_indexes"] == ["https://mirror.invalid/simple"]
    # SDK v1's shortcuts and merging, as its TensorFlow and pipeline examples use them
    deps.add_tensorflow_conda_package(core_type="gpu", version="2.15")
    deps.add_tensorflow_pip_package()
    other = CondaDependencies.create(conda_packages=["numpy=2.2", "pandas"], python_version="3.11")
    other.add_channel("pytorch")
    deps.merge_dependencies(other)
    assert list(deps.conda_packages) == ["numpy=2.2", "tensorflow-gpu=2.15", "pandas"]
    assert list(deps.pip_packages) == ["mlflow-skinny==2.16.2", "tensorflow"]
    assert "pytorch" in list(deps.conda_channels) and deps.get_python_version() == "3.12"


def test_the_layer_imports_nothing_heavy() -> None:
    probe = (
        "import sys, compiler.azureml; heavy = ('pydantic', 'jinja2', 'rattler', "
        "'jsonschema_rs', 'requests', 'rich'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "[]"


def test_a_real_conda_file_with_template_placeholders(workspace: Path) -> None:
    """azureml-assets' sklearn conda file: `{{latest-pypi-version}}` pins become unpinned
    specs (noted), never copied into the manifest."""
    real = Path(__file__).resolve().parent / "data" / "real-environments"
    env = Environment.from_conda_specification(
        "sklearn", real / "aml-sklearn-1.5/context/conda_dependencies.yaml"
    )
    env.docker.base_image = None
    env.docker.base_dockerfile = "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n"
    definition = env.definition()
    assert any("template placeholder" in note for note in definition.notes)
    target = env.save(Workspace(repository=workspace))
    assert "{{" not in target.read_text()
    assert _manifest(workspace, "sklearn")["python"] == "3.10"


def test_a_run_configuration_holds_its_environment_and_applies_its_docker_settings(
    workspace: Path,
) -> None:
    """The RunConfiguration lines of SDK v1 scripts: `conda_dependencies=`, edits through
    `run_config.environment`, `run_config.docker` (set, or changed in place), and sections a
    manifest has no place for, which run and are warned about rather than dropped silently."""
    deps = CondaDependencies.create(conda_packages=["numpy"], python_version="3.11")
    run_config = RunConfiguration(conda_dependencies=deps)
    run_config.target = "cpu-cluster"
    run_config.environment.docker.enabled = True
    run_config.environment.spark.precache_packages = False  # a default of runs: nothing lost
    run_config.environment.name = "from-run-config"
    ws = Workspace(repository=workspace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_config.environment.register(ws)
    assert [w for w in caught if w.category is NotCarriedWarning] == []
    assert _manifest(workspace, "from-run-config") == {"python": "3.11", "conda": ["numpy"]}

    later = RunConfiguration()
    later.docker = DockerConfiguration(use_docker=False)
    on_host = Environment("on-host")
    later.environment = on_host  # the docker settings given before apply to it
    assert on_host.definition().manifest["docker"] == {"enabled": False}
    in_place = RunConfiguration()
    in_place.environment = Environment("in-place")
    in_place.docker.use_docker = False
    assert in_place.environment.definition().manifest["docker"] == {"enabled": False}
    in_place.docker.use_docker = True
    assert "docker" not in in_place.environment.definition().manifest

    spark = Environment("spark")
    spark.spark.packages = ["com.microsoft.ml.spark:mmlspark_2.11:0.15"]
    spark.databricks.pypi_libraries = ["fastai"]
    spark.r = object()
    spark.inferencing_stack_version = "latest"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spark.save(ws)
    said = [str(w.message) for w in caught if w.category is NotCarriedWarning]
    assert said == [
        "spark: spark.packages is not carried (a manifest has no spark section)",
        "spark: databricks.pypi_libraries is not carried (a manifest has no databricks section)",
        "spark: r is not carried (a manifest has no R section)",
        "spark: inferencing_stack_version is not carried (name the serving packages instead)",
    ]
    assert {w.filename for w in caught if w.category is NotCarriedWarning} == {__file__}
    with pytest.raises(EnvcError, match="envc keeps environments, not run configurations"):
        run_config.save("runconfig.yml")
    # the names SDK v1's submodules have, where scripts import them from
    from compiler.azureml.environment import DEFAULT_CPU_IMAGE as FROM_ENVIRONMENT
    from compiler.azureml.runconfig import DEFAULT_CPU_IMAGE

    assert FROM_ENVIRONMENT == DEFAULT_CPU_IMAGE
    # a script imports Experiment with its environments, and runs up to the submit
    job = ScriptRunConfig(source_directory=".", script="train.py", run_config=run_config)
    assert job.run_config is run_config and job.environment is run_config.environment
    with pytest.raises(EnvcError, match=r"envc runs no jobs .*'from-run-config' is registered"):
        Experiment(ws, "training").submit(job)
    # as SDK v1 builds it: a job's run configuration holds what the job was given
    trained = Environment("trained")
    job = ScriptRunConfig(
        script="train.py",
        arguments=["--alpha", 0.5],
        compute_target="cpu-cluster",
        environment=trained,
        docker_runtime_config=DockerConfiguration(use_docker=False),
    )
    assert job.run_config.environment is trained and job.run_config.target == "cpu-cluster"
    assert (job.run_config.script, job.run_config.arguments) == ("train.py", ["--alpha", 0.5])
    job.run_config.docker.use_docker = True  # an edit through the job reaches its environment
    assert trained.docker.enabled
    job.run_config.environment = replaced = Environment("replaced")
    assert job.environment is replaced
    # a curated environment is Azure's: the error says where its definition is
    with pytest.raises(EnvcError, match=r"not registered: AzureML-Minimal is one of Azure ML's"):
        Environment.get(ws, "AzureML-Minimal")


def test_a_private_wheel_is_kept_where_locks_find_it(workspace: Path, tmp_path: Path) -> None:
    """SDK v1's `Environment.add_private_pip_wheel`: the wheel goes into the repository's wheel
    folder (envc.yaml's pip.find_links), and the requirement it returns locks from there."""
    built = tmp_path / "dist"
    built.mkdir()
    wheel = write_wheel(built, "contoso-features", "0.3.0")
    ws = Workspace(repository=workspace)
    requirement = Environment.add_private_pip_wheel(ws, wheel)
    assert requirement == "contoso-features==0.3.0"
    assert (workspace / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    with pytest.raises(EnvcError, match="exists"):
        Environment.add_private_pip_wheel(workspace=ws, file_path=wheel)
    assert Environment.add_private_pip_wheel(ws, wheel, exist_ok=True) == requirement
    env = Environment("private")
    deps = CondaDependencies.create(python_version="3.11", pip_packages=[requirement])
    env.python.conda_dependencies = deps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DraftWarning)
        env.register(ws)
    locked = (workspace / "environments/private/requirements-linux-64.txt").read_text()
    assert "contoso-features==0.3.0" in locked
    (workspace / "envc.yaml").write_text("config_version: 1\n")
    with pytest.raises(EnvcError, match="names no wheel folder"):
        Environment.add_private_pip_wheel(ws, wheel)
    with pytest.raises(EnvcError, match="not a wheel"):
        Environment.add_private_pip_wheel(ws, workspace / "conda.yml")


DEPLOYMENT_SCRIPT = """
from compiler.azureml import Model, Workspace
from compiler.azureml.container_registry import ContainerRegistry
from compiler.azureml.environment import Environment, RSection
from compiler.azureml.experiment import Experiment
from compiler.azureml.model import InferenceConfig
from compiler.azureml.runconfig import CondaDependencies
from compiler.azureml.script_run_config import ScriptRunConfig

ws = Workspace.from_config()
env = Environment.from_conda_specification(name="scoring-env", file_path="conda.yml")
env.python.conda_dependencies.add_pip_package("mlflow")
env.docker.base_image_registry = ContainerRegistry()
env.r = RSection()
config = InferenceConfig(entry_script="score.py", source_directory=".", environment=env)
print("registered", config.environment.register(ws).version)
model = Model(ws, "my-model")
Model.deploy(ws, "scoring", [model], config)
"""


def test_a_deployment_script_runs_up_to_its_deployment(workspace: Path) -> None:
    """SDK v1's other modules scripts import from (model, experiment, script_run_config,
    container_registry) are there: a deployment script registers its environment, and stops
    at the deployment with a pointer, not at an import."""
    (workspace / "deploy.py").write_text(DEPLOYMENT_SCRIPT)
    run = subprocess.run(
        [sys.executable, "deploy.py"],
        cwd=workspace,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == ["registered 1"]
    assert "Model.deploy: envc defines environments, not models or endpoints" in run.stderr
    assert "NotCarriedWarning: scoring-env: r is not carried" in run.stderr
    assert "mlflow" in _manifest(workspace, "scoring-env")["pip"]


def test_a_requirements_files_indexes_come_along(tmp_path: Path) -> None:
    """SDK v1 scripts build PyTorch's CUDA environments from a requirements file that names its
    index: the environment keeps the index, as `envc import` of that file does."""
    requirements = tmp_path / "requirements.txt"
    cu121, cu118 = (
        "https://download.pytorch.org/whl/cu121",
        "https://download.pytorch.org/whl/cu118",
    )
    requirements.write_text(
        f"--extra-index-url {cu121}\n--extra-index-url {cu118}\ntorch==2.3.1+cu121\n"
    )
    env = Environment.from_pip_requirements("torch-env", requirements)
    env.python.conda_dependencies.set_python_version("3.11")
    definition = env.definition()
    assert definition.manifest["pip"] == ["torch==2.3.1+cu121"]
    assert definition.manifest["pip_indexes"] == [cu121, cu118]
