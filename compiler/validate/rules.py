"""Semantic rules: what a schema cannot say about one manifest, and what needs the whole repository.

Per file: package specs that parse (and stay shell-safe), the values checks of values.py,
settings that exclude each other, referenced files that exist inside the repo. Across files:
unique names, `extends` pointing at an existing environment, no cycles, at most 32 deep.
Every rule returns Diagnostics; none raises for bad input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from compiler.errors import Diagnostic
from compiler.load.yamlio import Document, JsonPath
from compiler.manifest.inherit import merge, python_settings, rebase
from compiler.manifest.patterns import RELATIVE_PATH_PATTERN
from compiler.validate.manifest_file import ManifestFile
from compiler.validate.packages import SpecChecks
from compiler.validate.references import (
    check_base_dockerfile,
    check_conda_file,
    check_requirements_file,
    resolve_reference,
)
from compiler.validate.roster import ByName, Roster
from compiler.validate.values import (
    TEMPLATE_PLACEHOLDER,
    check_values,
    placeholder_problem,
    strings_at,
)


def _string(data: Any, *keys: str) -> str | None:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, str) else None


def _chain(manifest: ManifestFile, by_name: Mapping[str, ManifestFile]) -> list[ManifestFile]:
    """The manifest and its ancestors, root first; stops at an unknown parent or a cycle."""
    chain, seen = [manifest], {id(manifest)}
    while len(chain) <= MAX_EXTENDS_DEPTH:  # one more than allowed: enough to say it is too deep
        parent = by_name.get(chain[-1].parent or "")
        if parent is None or id(parent) in seen or not parent.schema_ok:
            break
        chain.append(parent)
        seen.add(id(parent))
    return chain[::-1]


class _Effective:
    """Manifests' data after `extends`, each chain merged once: a child's is its parent's with
    its own laid over (linear in the depth of `extends`, not quadratic). Parents' merges are
    kept; a leaf's only until the next is asked for (a repository's worth would not fit)."""

    def __init__(self) -> None:
        self._merged: dict[tuple[int, int, int], dict[str, Any]] = {}
        self._last: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def __call__(self, chain: list[ManifestFile]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for depth, member in enumerate(chain, start=1):
            # root first; a prefix is fixed by its root, its last member and its length (each
            # manifest has one parent), and merged once, whoever asks
            key = (id(chain[0]), id(member), depth)
            if key in self._merged:
                merged = self._merged[key]
                continue
            if self._last is not None and self._last[0] == key:
                merged = self._last[1]
            else:
                merged = merge(merged, rebase(member.doc.data, ""))
            if depth < len(chain):
                self._merged[key] = merged
            else:
                self._last = key, merged
        return merged


def _conflicts(merged: Mapping[str, Any]) -> list[tuple[JsonPath, str]]:
    docker: Mapping[str, Any] = merged.get("docker", {})
    python = python_settings(merged.get("python"))
    has_packages = any(
        merged.get(key) for key in ("conda", "pip", "conda_file", "requirements_file")
    )
    found: list[tuple[JsonPath, str]] = []
    if docker.get("base_image") and docker.get("base_dockerfile"):
        found.append(
            (
                ("docker",),
                "'base_image' and 'base_dockerfile' exclude each other: the "
                "base Dockerfile already names its base image",
            )
        )
    if docker.get("base_image_registry") and not (
        docker.get("base_image") or docker.get("base_dockerfile")
    ):
        found.append(
            (
                ("docker", "base_image_registry"),
                "'base_image_registry' needs a 'base_image' or 'base_dockerfile' to pull from it",
            )
        )
    if docker.get("cuda") and docker.get("compute", "cpu") != "gpu":
        found.append((("docker", "cuda"), "'cuda' needs 'compute: gpu'"))
    if docker.get("enabled") is False:
        found.extend(
            (("docker", key), f"'{key}' has no effect with 'enabled: false'")
            for key in ("base_image", "base_dockerfile", "base_image_registry", "user")
            if docker.get(key)
        )
    if python.get("user_managed_dependencies") and has_packages:
        found.append(
            (
                ("python", "user_managed_dependencies"),
                "user-managed dependencies "
                "exclude 'conda', 'pip', 'conda_file' and 'requirements_file': envc "
                "installs nothing into a user-managed interpreter",
            )
        )
    pip_key = next((key for key in ("pip", "requirements_file") if merged.get(key)), None)
    if (
        pip_key
        and not python.get("version")
        # Conda packages bring a Python the pip part then uses.
        and not merged.get("conda_file")
        and not merged.get("conda")
    ):
        found.append(
            (
                (pip_key,),
                "pip requirements are resolved for one Python version, and no conda "
                "package brings one: set 'python:' (for example python: \"3.12\")",
            )
        )
    if python.get("interpreter_path") and not python.get("user_managed_dependencies"):
        found.append(
            (
                ("python", "interpreter_path"),
                "'interpreter_path' needs 'user_managed_dependencies: true'",
            )
        )
    return found


def check_conflicts(
    manifest: ManifestFile, by_name: Mapping[str, ManifestFile], effective: _Effective
) -> list[Diagnostic]:
    """Settings that exclude each other once parents are merged in. A conflict the parents
    already have is reported on the parent; one that only inheritance creates is reported here,
    at the conflicting key or else at `extends`."""
    chain = _chain(manifest, by_name)
    inherited = set(_conflicts(effective(chain[:-1]))) if len(chain) > 1 else set()
    doc = manifest.doc
    found = []
    for path, message in _conflicts(effective(chain)):
        if (path, message) in inherited:
            continue
        if path in doc.positions or len(chain) < 2:  # no positions: placed when read again
            found.append(doc.diagnostic(path, message, "conflict"))
        else:
            found.append(
                doc.diagnostic(
                    ("extends",),
                    f"{message} (one side inherited from {chain[-2].name!r})",
                    "conflict",
                )
            )
    return found


def _check_specs(doc: Document, data: Mapping[str, Any], specs: SpecChecks) -> list[Diagnostic]:
    found = []
    for key, check, rule in (("conda", specs.conda, "conda-spec"), ("pip", specs.pip, "pip-spec")):
        for index, spec in strings_at(data, key):
            if (placeholder := TEMPLATE_PLACEHOLDER.search(spec)) is not None:
                message = placeholder_problem(placeholder.group())
                found.append(doc.diagnostic((key, index), message, "template-placeholder"))
            elif problem := check(spec):
                found.append(doc.diagnostic((key, index), problem, rule))
    return found


def _check_references(
    manifest: ManifestFile, root: Path, display_of: Any, specs: SpecChecks
) -> list[Diagnostic]:
    doc, data = manifest.doc, manifest.doc.data
    base = manifest.file.parent
    found = []
    references: list[tuple[JsonPath, str | None]] = [
        (("conda_file",), _string(data, "conda_file")),
        (("requirements_file",), _string(data, "requirements_file")),
        (("docker", "base_dockerfile"), _string(data, "docker", "base_dockerfile")),
    ]
    for path, relative in references:
        if relative is None or not re.fullmatch(RELATIVE_PATH_PATTERN, relative):
            continue  # missing, or already reported by the schema
        target, problem = resolve_reference(root, base, relative)
        if target is None:
            found.append(doc.diagnostic(path, f"{path[-1]}: {problem}", "reference"))
        elif path == ("conda_file",):
            found.extend(check_conda_file(target, display_of(target), specs))
        elif path == ("requirements_file",):
            found.extend(check_requirements_file(target, display_of(target), root, specs))
        else:
            found.extend(check_base_dockerfile(root, target, display_of(target)))
    return found


def check_manifest(
    manifest: ManifestFile, root: Path, display_of: Any, specs: SpecChecks
) -> list[Diagnostic]:
    """Per-file semantic rules; values of the wrong type are left to the schema's report."""
    data = manifest.doc.data
    return [
        *_check_specs(manifest.doc, data, specs),
        *check_values(manifest.doc, data),
        *_check_references(manifest, root, display_of, specs),
    ]


DUPLICATE_NAME = "duplicate-name"


def name_clashes(owners: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The unique-name rule: for each path whose environment name another path also uses, the
    message saying so. `owners` are (path, name) pairs, in the order to list them."""
    paths: dict[str, list[str]] = {}
    for path, name in owners:
        paths.setdefault(name, []).append(path)
    return {
        path: clash_message(name, [p for p in used if p != path])
        for name, used in paths.items()
        if len(used) > 1
        for path in used
    }


def clash_message(name: str | None, others: list[str]) -> str:
    return f"name {name!r} is also used by {_listed(others)}"


MAX_LISTED = 5  # a message names a few, and counts the rest: never the whole repository
MAX_EXTENDS_DEPTH = 32  # environments in one extends chain (deeper is a design problem)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} and {len(items) - MAX_LISTED} more"


def check_repository(
    targets: list[ManifestFile], roster: Roster, root: Path | None = None
) -> list[Diagnostic]:
    """Cross-file rules for `targets`, seeing every manifest of the repository at `root` through
    `roster` (variants, and what the base-image catalog serves, are checked when it is given)."""
    unique = ByName(roster)
    effective = _Effective()
    variants = _Variants(unique, effective, root) if root is not None else None
    found: list[Diagnostic] = []
    for manifest in targets:
        doc = manifest.doc
        namesakes = roster.owners(manifest.name) if manifest.name is not None else []
        if len(namesakes) > 1:
            others = [roster.manifest(file).doc.path for file in namesakes]
            message = clash_message(manifest.name, [p for p in others if p != doc.path])
            found.append(doc.diagnostic(("name",), message, DUPLICATE_NAME))
        found.extend(_check_parent(manifest, unique, roster))
        if manifest.schema_ok:
            found.extend(check_conflicts(manifest, unique, effective))
        if variants is not None:
            found.extend(variants.findings(manifest))
        manifest.release()  # one target's data at a time (parents' merges are kept)
    return found


class _Located(Mapping[str, tuple[Any, str]]):
    """Name -> (data, folder relative to the root) of the valid manifests, worked out for the
    names asked for only (the hook validates one file of thousands)."""

    def __init__(self, unique: Mapping[str, ManifestFile], root: Path) -> None:
        self.unique, self.prefix = unique, str(root) + os.sep

    def __getitem__(self, name: str) -> tuple[Any, str]:
        manifest = self.unique[name]
        folder = manifest.folder
        if not manifest.schema_ok or not folder.startswith(self.prefix):
            raise KeyError(name)
        return manifest.doc.data, folder[len(self.prefix) :].replace(os.sep, "/")

    def __iter__(self) -> Iterator[str]:
        return iter(self.unique)

    def __len__(self) -> int:
        return len(self.unique)


class _Variants:
    """The variant and base-image catalog rules (validate/variants.py), one manifest at a time."""

    def __init__(
        self, unique: Mapping[str, ManifestFile], effective: _Effective, root: Path
    ) -> None:
        from compiler.validate.variants import catalog_loader

        self.unique, self.effective = unique, effective
        self.catalog = catalog_loader(root)
        self.located = _Located(unique, root)

    def findings(self, manifest: ManifestFile) -> list[Diagnostic]:
        from compiler.validate.variants import (
            catalog_findings,
            leftover_finding,
            variant_findings,
        )

        name, located = manifest.name, self.located
        if not manifest.schema_ok or name is None or located.get(name) is None:
            return []
        doc = manifest.doc
        found = []
        if doc.data.get("variants"):
            found.extend(variant_findings(doc, name, located[name][1], located, self.catalog))
        found.extend(leftover_finding(doc, name, located))
        merged = self.effective(_chain(manifest, self.unique))
        found.extend(catalog_findings(doc, merged, self.catalog))
        return found


def _check_parent(
    manifest: ManifestFile, unique: Mapping[str, ManifestFile], roster: Roster
) -> list[Diagnostic]:
    doc, name, parent = manifest.doc, manifest.name, manifest.parent
    if parent is None:
        return []
    if parent == name:
        return [
            doc.diagnostic(("extends",), "an environment cannot extend itself", "extends-cycle")
        ]
    # A manifest that failed to load still answers to its folder's name, so a broken parent does
    # not also produce "unknown parent" noise in every child.
    if parent not in unique and not roster.has_nameless(parent):
        close = roster.closest(parent)
        hint = f" (did you mean {close!r}?)" if close else ""
        return [
            doc.diagnostic(
                ("extends",), f"no environment is named {parent!r}{hint}", "unknown-parent"
            )
        ]
    cycle = _cycle_through(manifest, unique)
    if cycle:
        return [
            doc.diagnostic(("extends",), "extends cycle: " + " -> ".join(cycle), "extends-cycle")
        ]
    if len(_chain(manifest, unique)) > MAX_EXTENDS_DEPTH:
        return [
            doc.diagnostic(
                ("extends",),
                f"extends chains at most {MAX_EXTENDS_DEPTH} environments; this one is longer",
                "extends-depth",
            )
        ]
    return []


def _cycle_through(manifest: ManifestFile, by_name: Mapping[str, ManifestFile]) -> list[str]:
    seen = [manifest.name]
    visited = {manifest.name}
    current = manifest.parent
    while current is not None and current in by_name and len(seen) <= MAX_EXTENDS_DEPTH:
        if current == manifest.name:
            shown = seen if len(seen) <= MAX_LISTED else [*seen[:MAX_LISTED], "…"]
            return [*shown, current]  # type: ignore[list-item]
        if current in visited:
            return []  # a cycle further up, reported on its own members
        seen.append(current)
        visited.add(current)
        current = by_name[current].parent
    return []
