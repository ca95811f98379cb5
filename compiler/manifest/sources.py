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
