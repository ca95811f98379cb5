"""`extends`: merged settings of the bundled environments, and the merge rules themselves."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.errors import EnvcError
from compiler.load.discover import discover
from compiler.load.yamlio import read_yaml
from compiler.manifest.inherit import merge
from compiler.manifest.model import PythonSettings, resolve
from tests.conftest import PROJECT


def bundled() -> dict[str, tuple[dict[str, Any], str]]:
    found = {}
    for file in discover(PROJECT / "environments"):
        data = read_yaml(file, str(file)).data
        found[data["name"]] = (data, file.parent.relative_to(PROJECT).as_posix())
    return found


def test_child_inherits_and_overrides_its_parent() -> None:
    sklearn = resolve("sklearn-cpu", bundled())
    assert sklearn.name == "sklearn-cpu"
    assert isinstance(sklearn.python, PythonSettings)
    assert sklearn.python.version == "3.12"
    assert sklearn.channels == ["conda-forge"]
    assert sklearn.conda[:2] == ["numpy >=1.26,<3", "pip"]  # parent's first
    assert "scikit-learn >=1.5,<1.7" in sklearn.conda
    assert sklearn.variables == {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "4"}
    assert sklearn.tags["owner"] == "forecasting"
    assert sklearn.description and "scikit-learn" in sklearn.description
    assert sklearn.platforms == ["linux-64", "osx-arm64"]


def test_child_replaces_platforms_and_docker_keys() -> None:
    batch = resolve("batch-host", bundled())
    assert batch.platforms == ["linux-64", "osx-arm64", "win-64"]
    assert batch.docker.enabled is False


def test_file_references_become_repository_relative() -> None:
    geo = resolve("custom-dockerfile", bundled())
    assert geo.conda_file == "environments/custom-dockerfile/environment.yml"
    assert geo.docker.base_dockerfile == "environments/custom-dockerfile/Dockerfile"
    assert (PROJECT / geo.conda_file).is_file()


def test_merge_rules() -> None:
    parent = {
        "name": "p",
        "version": 3,
        "description": "parent",
        "python": "3.11",
        "conda": ["numpy", "pip"],
        "channels": ["a"],
        "pip_indexes": ["https://a.example/simple", "https://b.example/simple"],
        "docker": {"compute": "gpu", "cuda": "12.1"},
    }
    child = {
        "name": "c",
        "python": {"user_managed_dependencies": False},
        "conda": ["pip", "numpy <2"],
        "channels": ["b"],
        "pip_indexes": ["https://b.example/simple"],
        "docker": {"cuda": "12.4"},
    }
    assert merge(parent, child) == {
        "name": "c",
        "python": {"version": "3.11", "user_managed_dependencies": False},
        "conda": ["numpy", "pip", "numpy <2"],
        "channels": ["b"],
        "pip_indexes": ["https://b.example/simple"],  # replaced: the order is the priority
        "docker": {"compute": "gpu", "cuda": "12.4"},
    }


def test_resolve_refuses_unknown_parents_and_cycles() -> None:
    with pytest.raises(EnvcError, match="cannot resolve parent 'ghost'"):
        resolve("a", {"a": ({"schema_version": 1, "name": "a", "extends": "ghost"}, "x")})
    loop = {
        "a": ({"schema_version": 1, "name": "a", "extends": "b"}, "a"),
        "b": ({"schema_version": 1, "name": "b", "extends": "a"}, "b"),
    }
    with pytest.raises(EnvcError, match="cannot resolve"):
        resolve("a", loop)
