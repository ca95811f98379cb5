"""The manifests validation hands to the stages after it: data it accepted, and where it lives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class ValidManifest(NamedTuple):
    """A manifest that passed validation: its data, and its folder relative to the repository
    root ('/'-separated). Stages read it; none changes it."""

    data: Mapping[str, Any]
    folder: str


# Environment name -> its valid manifest: what `resolve` merges `extends` over.
ValidManifests = Mapping[str, ValidManifest]

# Where a manifest names other files of the repository (paths relative to its folder).
FILE_REFERENCES = (("conda_file",), ("requirements_file",), ("docker", "base_dockerfile"))


def name_of(data: Any) -> str | None:
    """The environment name manifest data claims (None when it names none, or not as text)."""
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def parent_of(data: Any) -> str | None:
    """The parent manifest data `extends` (None when none, or not as text)."""
    parent = data.get("extends") if isinstance(data, dict) else None
    return parent if isinstance(parent, str) else None


def names_files(data: Any) -> bool:
    """Whether manifest data names other files (their checks and renders depend on more than
    the manifest: caches cannot vouch for them by the manifest alone)."""
    for keys in FILE_REFERENCES:
        value = data
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value:
            return True
    return False


def lineage(name: str, manifests: ValidManifests) -> dict[str, ValidManifest]:
    """The manifests environment `name` is resolved from: its own, then its parents' (`extends`)
    as far as `manifests` knows them, each once."""
    found: dict[str, ValidManifest] = {}
    current: Any = name
    while isinstance(current, str) and current in manifests and current not in found:
        found[current] = manifests[current]
        data = found[current].data
        current = data.get("extends") if isinstance(data, Mapping) else None
    return found
