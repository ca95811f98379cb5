"""The bundled environments/ are valid and, together, use every capability of the manifest."""

from __future__ import annotations

from compiler.load.discover import discover
from compiler.load.yamlio import read_yaml
from compiler.manifest.model import Manifest
from compiler.validate.repository import validate
from tests.conftest import PROJECT


def manifests() -> dict[str, Manifest]:
    found = {}
    for file in discover(PROJECT / "environments"):
        manifest = Manifest.model_validate(read_yaml(file, str(file)).data)
        found[manifest.name] = manifest
    return found


def test_bundled_environments_are_valid() -> None:
    report = validate(root=PROJECT, cwd=PROJECT)
    assert report.diagnostics == ()
    assert len(report.checked) >= 5


def test_bundled_environments_cover_every_capability() -> None:
    envs = list(manifests().values())
    python_settings = [
        m.python for m in envs if m.python is not None and not isinstance(m.python, str)
    ]
    assert any(m.conda and m.pip for m in envs), "conda + pip lists"
    assert any(m.conda_file for m in envs), "conda environment.yml reference"
    assert any(m.requirements_file and not m.conda for m in envs), "pip-only from requirements.txt"
    assert any(m.docker.compute == "gpu" and m.docker.cuda for m in envs), "GPU with CUDA"
    assert any(m.docker.base_dockerfile for m in envs), "custom base Dockerfile"
    assert any(m.docker.base_image and m.docker.base_image_registry for m in envs), "private base"
    assert any(not m.docker.enabled for m in envs), "docker disabled"
    assert any(p.user_managed_dependencies and p.interpreter_path for p in python_settings)
    assert any(m.extends for m in envs), "extends"
    assert any(m.variables for m in envs) and any(m.tags for m in envs)
    assert any(len(m.platforms) > 1 for m in envs), "multi-platform locks"
