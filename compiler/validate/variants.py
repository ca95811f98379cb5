"""Rules on variants and on what the base-image catalog can serve, found by `envc validate` rather
than at render time.

* A manifest's `variants:` must be generated (`envc variants`): each variant's manifest exists
  beside it, as generated; a generated manifest whose source no longer declares it is left over.
* An environment that takes its base image from the catalog (no `base_image`, no
  `base_dockerfile`) must be one it serves: a CUDA version the catalog has an image for, and a
  GPU image (a CUDA runtime, without Python) only under a conda part that brings Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from compiler.errors import Diagnostic
from compiler.load.yamlio import Document
from compiler.manifest.inherit import python_settings
from compiler.manifest.patterns import NAME_MAX_LENGTH, NAME_PATTERN
from compiler.manifest.variants import VARIANT_TAG, Variant, variants_of
from compiler.validate.catalog import BaseImageCatalog

RULE = "variants"
CATALOG_RULE = "base-image-catalog"


def variant_findings(
    doc: Document,
    name: str,
    folder: str,
    by_name: Mapping[str, Any],
    catalog: Callable[[], BaseImageCatalog | None],
) -> list[Diagnostic]:
    """The variants `doc` (environment `name` in `folder`) declares, against the manifests of
    the repository (`by_name`: name -> (data, folder))."""
    found = []
    declared = doc.data.get("variants") or {}
    for variant in variants_of(name, doc.data, folder):
        if len(variant.name) > NAME_MAX_LENGTH or not re.match(NAME_PATTERN, variant.name):
            message = f"variant name {variant.name!r} is not a valid name (at most 64 characters)"
            found.append(doc.diagnostic(("variants",), message, RULE))
            continue
        existing = by_name.get(variant.name)
        if existing is None:
            message = f"variant {variant.name} is not generated yet: run envc variants"
            found.append(doc.diagnostic(("variants",), message, RULE))
        elif not _same(existing, variant):
            message = f"variant {variant.name} is out of date: run envc variants"
            found.append(doc.diagnostic(("variants",), message, RULE))
    served = catalog()
    for index, cuda in enumerate(declared.get("cuda") or ()):
        if served is not None and cuda not in served.gpu:
            found.append(doc.diagnostic(("variants", "cuda", index), _no_cuda(cuda, served), RULE))
    return found


def leftover_finding(doc: Document, name: str, by_name: Mapping[str, Any]) -> list[Diagnostic]:
    """A generated variant manifest whose source no longer declares it."""
    tags = doc.data.get("tags") if isinstance(doc.data.get("tags"), Mapping) else {}
    source = tags.get(VARIANT_TAG)
    if not isinstance(source, str):
        return []
    owner = by_name.get(source)
    declared = {v.name for v in variants_of(source, owner[0], owner[1])} if owner else set()
    if name in declared:
        return []
    message = (
        f"{name} was generated as a variant of {source}, which no longer declares it: "
        "run envc variants (it removes it)"
    )
    return [doc.diagnostic(("tags", VARIANT_TAG), message, RULE)]


def catalog_findings(
    doc: Document, merged: Mapping[str, Any], catalog: Callable[[], BaseImageCatalog | None]
) -> list[Diagnostic]:
    """What the catalog cannot serve for the effective settings `merged` of `doc`."""
    docker = merged.get("docker") or {}
    python = python_settings(merged.get("python"))
    if (
        docker.get("compute", "cpu") != "gpu"
        or docker.get("enabled") is False
        or docker.get("base_image")
        or docker.get("base_dockerfile")
        or python.get("user_managed_dependencies")
    ):
        return []
    served = catalog()
    if served is None:
        return []
    where = ("docker", "cuda") if ("docker", "cuda") in doc.positions else ("docker",)
    cuda = docker.get("cuda")
    if cuda and cuda not in served.gpu:
        return [doc.diagnostic(where, _no_cuda(cuda, served), CATALOG_RULE)]
    pip_only = (merged.get("pip") or merged.get("requirements_file")) and not (
        merged.get("conda") or merged.get("conda_file")
    )
    if pip_only:
        image = served.gpu[cuda or served.default_cuda]
        message = (
            f"a pip-only GPU environment would be built on {image}, a CUDA runtime image "
            "without Python: add a conda part that brings Python (conda: [python, pip]) or set "
            "docker.base_image"
        )
        return [doc.diagnostic(where, message, CATALOG_RULE)]
    return []


def _same(existing: Any, variant: Variant) -> bool:
    data, folder = existing
    return bool(folder == variant.folder and _plain(data) == variant.data)


def _plain(value: Any) -> Any:
    """YAML data as plain dicts and lists (ruamel's ordered types compare by order too)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _no_cuda(cuda: str, catalog: BaseImageCatalog) -> str:
    return (
        f"no base image for CUDA {cuda} in the base-image catalog "
        f"({', '.join(sorted(catalog.gpu, key=_numeric))}): set docker.base_image, or add it "
        "to templates/base-images.yaml"
    )


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def catalog_loader(root: Path | None) -> Callable[[], BaseImageCatalog | None]:
    """The repository's catalog, read on first use (most validations never need it); None
    when it cannot be read (render reports why)."""
    loaded: list[BaseImageCatalog | None] = []

    def load() -> BaseImageCatalog | None:
        if not loaded:
            from compiler.errors import EnvcError
            from compiler.validate.catalog import load_catalog

            try:
                loaded.append(load_catalog(root))
            except EnvcError:
                loaded.append(None)
        return loaded[0]

    return load
