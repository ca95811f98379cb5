"""Why an environment changed, read off both sides: manifest fields, parents, locked packages,
templates, base image, rendered files."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler.manifest.sources import name_of
from compiler.plan.evaluate import State
from compiler.plan.graph import Graph, families, template_uses
from compiler.plan.result import EnvironmentPlan
from compiler.plan.sides import Side, owner


def _changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (one level into mappings such as `docker`)."""
    if isinstance(before, dict) and isinstance(after, dict) and not prefix:
        return [
            field
            for key in sorted(set(before) | set(after))
            for field in _changed_fields(before.get(key), after.get(key), key)
        ]
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            f"{prefix}.{key}"
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]
    return [prefix] if before != after else []


def _package_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    from compiler.lock.lockfiles import locked_versions

    base, head = locked_versions(before), locked_versions(after)
    found: dict[str, None] = {}  # ordered, without repeats across platforms
    for file in sorted(set(base) | set(head)):
        old, new = base.get(file, {}), head.get(file, {})
        for package in sorted(set(old) | set(new)):
            if package not in old:
                found[f"{package} {new[package]} added"] = None
            elif package not in new:
                found[f"{package} {old[package]} removed"] = None
            elif old[package] != new[package]:
                found[f"{package} {old[package]} -> {new[package]}"] = None
    return list(found)


@dataclass(frozen=True)
class Comparison:
    """What both sides know, for explaining one environment's change."""

    base: Side
    head: Side
    base_graph: Graph
    head_graph: Graph
    changed_templates: set[str]
    head_templates: Mapping[str, str]  # template name -> source, on the head side

    @functools.cached_property
    def template_uses(self) -> dict[str, set[str]]:
        """Family -> templates it reads, on the head side."""
        return template_uses(self.head_templates)


def explain(name: str, before: State, after: State, comparison: Comparison) -> list[str]:
    if after.rendered is None:
        return [f"does not build at the head: {after.error}"]
    if before.rendered is None:
        return [f"could not be built at the base: {before.error}"]
    old, new = before.rendered, after.rendered
    reasons = []
    old_document, new_document = old.address.document, new.address.document
    if old_document["formats"] != new_document["formats"]:
        reasons.append("envc's output format changed")
    fields = _changed_fields(old_document["manifest"], new_document["manifest"])
    if fields:
        reasons.append(f"manifest: {', '.join(fields)}")
    for parent in comparison.head_graph.chain(name)[1:]:
        parent_data = comparison.head.manifests[parent]
        parent_name = name_of(parent_data)
        base_folder = comparison.base_graph.names.get(parent_name or "")
        if base_folder is None or comparison.base.manifests[base_folder] != parent_data:
            reasons.append(f"parent {parent_name} changed")
    if old_document["locks"] != new_document["locks"]:
        packages = _package_changes(old.lockfiles, new.lockfiles)
        reasons.append(f"locked: {', '.join(packages)}" if packages else "lockfiles changed")
    if comparison.changed_templates:
        read = families(comparison.head_graph.merged(name))
        used = set().union(*(comparison.template_uses[f] for f in read))
        reasons += [f"template {t}" for t in sorted(comparison.changed_templates & used)]
    if old.base_image != new.base_image and "docker.base_image" not in fields:
        reasons.append(f"base image {old.base_image} -> {new.base_image}")
    context = [
        file
        for file in sorted(set(old_document["context"]) | set(new_document["context"]))
        if file not in new.lockfiles
        and old_document["context"].get(file) != new_document["context"].get(file)
    ]
    if context and not reasons:
        reasons.append(f"rendered {', '.join(context)} changed")
    return reasons or ["content address changed"]


def environment_plan(
    name: str,
    before: State | None,
    after: State | None,
    comparison: Comparison,
    changed: set[str],
) -> EnvironmentPlan:
    base_folder = comparison.base_graph.names.get(name)
    head_folder = comparison.head_graph.names.get(name)
    if head_folder is None:
        assert base_folder is not None
        return EnvironmentPlan(name, "removed", base_folder)
    address = after.rendered.address.digest if after and after.rendered else None
    image = bool(after and after.rendered and after.rendered.base_image is not None)
    notes = []
    if base_folder is not None and base_folder != head_folder:
        notes.append(f"moved from {base_folder}")
    if base_folder is None:
        was = name_of(comparison.base.manifests.get(head_folder))
        if was is not None:
            notes.append(f"renamed from {was}")
        return EnvironmentPlan(name, "added", head_folder, address, notes=tuple(notes), image=image)
    if after is None or before is None:
        return EnvironmentPlan(name, "unchanged", head_folder, notes=tuple(notes))
    base_address = before.rendered.address.digest if before.rendered else None
    if address is not None and address == base_address:
        if any(owner(path, {head_folder, base_folder}) for path in changed):
            notes.append("files changed, content address did not")
        return EnvironmentPlan(
            name, "unchanged", head_folder, address, base_address, notes=tuple(notes), image=image
        )
    reasons = tuple(explain(name, before, after, comparison))
    return EnvironmentPlan(
        name, "changed", head_folder, address, base_address, reasons, tuple(notes), image
    )
