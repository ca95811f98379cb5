"""`extends`: how a manifest inherits from its parents (plain data, no pydantic: validation and the
model stage share it).

The child inherits everything but `name`, `version`, `description` and `variants`. Mappings (`tags`,
`variables`, `docker`, `python`) merge key by key, the child winning. `channels`, `pip_indexes`
and `platforms` given by the child replace the parent's (their order is their priority).
Package lists (`conda`, `pip`) are the parent's followed by the child's: a second spec for the
same package narrows it, as solvers read a list. Paths to referenced files are relative to the
manifest that names them, so they are rebased to the repository root before merging.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

NOT_INHERITED = frozenset({"name", "version", "description", "variants"})
MERGED_MAPPINGS = ("tags", "variables", "docker")
CONCATENATED_LISTS = ("conda", "pip")


def python_settings(value: Any) -> dict[str, Any]:
    """`python: "3.12"` is shorthand for `python: {version: "3.12"}`."""
    if isinstance(value, str):
        return {"version": value}
    return dict(value) if isinstance(value, Mapping) else {}


def rebase(data: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """`data` with its file references made relative to the repository root (`folder` is the
    manifest's folder, relative to the root, with '/' separators)."""
    out = dict(data)
    docker = dict(out["docker"]) if isinstance(out.get("docker"), Mapping) else None
    for holder, key in (
        (out, "conda_file"),
        (out, "requirements_file"),
        (docker, "base_dockerfile"),
    ):
        if holder is not None and isinstance(holder.get(key), str):
            holder[key] = posixpath.join(folder, holder[key])
    if docker is not None:
        out["docker"] = docker
    return out


def merge(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """The child's settings laid over the (already merged) parent's."""
    out = {key: value for key, value in parent.items() if key not in NOT_INHERITED}
    for key, value in child.items():
        if key in MERGED_MAPPINGS and isinstance(value, Mapping):
            out[key] = {**out.get(key, {}), **value}
        elif key == "python":
            out[key] = {**python_settings(out.get(key)), **python_settings(value)}
        elif key in CONCATENATED_LISTS and isinstance(value, list):
            inherited = list(out.get(key, []))
            out[key] = inherited + [item for item in value if item not in inherited]
        else:
            out[key] = value
    return out


def merge_chain(chain: Sequence[tuple[Mapping[str, Any], str]]) -> dict[str, Any]:
    """Merge (data, folder) pairs, root ancestor first, into the last one's effective settings."""
    merged: dict[str, Any] = {}
    for data, folder in chain:
        merged = merge(merged, rebase(data, folder))
    return merged
