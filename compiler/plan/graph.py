"""Which environments a changed path can affect, on one side: folders, `extends`, referenced files,
templates (includes followed), envc.yaml and base-image catalog entries."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from compiler._util.git import Git
from compiler._util.resources import CONFIG_FILE, data_dir
from compiler.errors import EnvcError
from compiler.manifest.inherit import merge_chain, python_settings, rebase
from compiler.manifest.sources import parent_of
from compiler.plan.sides import CATALOG_PATH, TEMPLATES, Side
from compiler.render.family import CONDA_TEMPLATE, FAMILIES, template_family

_REFERENCE_KEYS = {"conda_file", "requirements_file", "base_dockerfile"}


def merged_settings(side: Side, chain: list[str]) -> dict[str, Any]:
    """The effective raw settings of a chain of folders (child first); {} if one is broken."""
    datas = [side.manifests[folder] for folder in chain]
    if any(not isinstance(data, dict) for data in datas):
        return {}
    try:
        return merge_chain(list(zip(datas, chain, strict=True))[::-1])
    except (TypeError, AttributeError, ValueError):
        return {}


def docker_settings(merged: Mapping[str, Any]) -> dict[str, Any]:
    docker = merged.get("docker")
    return docker if isinstance(docker, dict) else {}


def families(merged: Mapping[str, Any]) -> set[str]:
    """The family templates render may pick for these raw settings: both conda and pip when a
    `conda_file`, unread here, decides (it may hold only pip packages)."""
    docker = docker_settings(merged).get("enabled") is not False
    user_managed = bool(python_settings(merged.get("python")).get("user_managed_dependencies"))
    conda = (
        {True} if merged.get("conda") else {True, False} if merged.get("conda_file") else {False}
    )
    return {
        template_family(docker=docker, user_managed=user_managed, conda=has_conda)
        for has_conda in conda
    }


def referenced_paths(merged: Mapping[str, Any]) -> list[str]:
    docker = docker_settings(merged)
    found = [
        merged.get("conda_file"),
        merged.get("requirements_file"),
        docker.get("base_dockerfile"),
    ]
    return [posixpath.normpath(path) for path in found if isinstance(path, str)]


def _catalog_choices(catalog: Any, merged: Mapping[str, Any]) -> tuple[str, ...]:
    """What the environment takes from the base-image catalog (nothing with its own image)."""
    docker = docker_settings(merged)
    if docker.get("enabled") is False or docker.get("base_image") or catalog is None:
        return ()
    if isinstance(catalog, str):
        return (catalog,)  # a broken catalog: its message
    python = python_settings(merged.get("python")).get("version")
    choices = []
    for has_conda in sorted({family == CONDA_TEMPLATE for family in families(merged)}):
        try:
            compute, cuda = docker.get("compute", "cpu"), docker.get("cuda")
            choices.append(catalog.for_environment(compute, cuda, python, has_conda))
        except EnvcError as exc:
            choices.append(str(exc))
        if has_conda:
            choices.append(catalog.micromamba)
    return tuple(choices)


class Graph:
    """Which environments of one side a path can affect: the environment whose folder holds
    it or whose manifest references it (or a file beside it), and their descendants."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.names = side.names()
        self.at_folder: dict[str, str] = {}
        self.children: dict[str, list[str]] = {}
        self.by_reference: dict[str, set[str]] = {}
        # One pass over every environment of the side (tens of thousands): the inverse of the
        # names, the children of each parent, the files each manifest references.
        manifests, at_folder, children = side.manifests, self.at_folder, self.children
        for name, folder in self.names.items():
            at_folder[folder] = name
            data = manifests[folder]  # a mapping: side.names() holds only manifests that name
            parent = parent_of(data)
            if parent is not None:
                children.setdefault(parent, []).append(name)
            if not _REFERENCE_KEYS.isdisjoint(data) or not _REFERENCE_KEYS.isdisjoint(
                docker_settings(data)
            ):
                # A requirements file's `-r` includes sit beside it, as a rule.
                for path in referenced_paths(rebase(data, folder)):
                    self.by_reference.setdefault(path, set()).add(name)
                    self.by_reference.setdefault(posixpath.dirname(path), set()).add(name)
        self._chains: dict[str, list[str]] = {}
        self._merged: dict[str, dict[str, Any]] = {}

    def chain(self, name: str) -> list[str]:
        """The folders of `name` and its parents, child first."""
        if name not in self._chains:
            self._chains[name] = self.side.chain(name, self.names)
        return self._chains[name]

    def merged(self, name: str) -> dict[str, Any]:
        """The effective raw settings of `name` (parents merged in), computed on first use."""
        if name not in self._merged:
            chain = self.chain(name)
            data = self.side.manifests[chain[0]]
            # Without parents there is nothing to merge: the references only need rebasing.
            single = len(chain) == 1 and isinstance(data, dict)
            self._merged[name] = (
                rebase(data, chain[0]) if single else merged_settings(self.side, chain)
            )
        return self._merged[name]

    def affected(self, path: str) -> set[str]:
        direct = set(self.by_reference.get(path, ()))
        folder = path
        while "/" in folder:
            folder = posixpath.dirname(folder)
            direct |= self.by_reference.get(folder, set())
            if folder in self.at_folder:
                direct.add(self.at_folder[folder])
        found: set[str] = set()
        pending = list(direct)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(self.children.get(name, ()))
        return found


def template_sources(git: Git, side: Side) -> dict[str, str]:
    """Template name -> source as this side renders it: the repository's, else envc's."""
    packaged = data_dir(TEMPLATES)
    sources = {p.name: p.read_text(encoding="utf-8") for p in packaged.iterdir() if p.is_file()}
    own = {p: r for p, r in side.files.items() if p.startswith(f"{TEMPLATES}/")}
    for path, raw in git.read(own).items():
        sources[path[len(TEMPLATES) + 1 :]] = raw.decode("utf-8", errors="replace")
    return sources


def side_catalog(git: Git, side: Side) -> Any:
    """This side's base-image catalog, or the message saying why it is broken."""
    from compiler.validate.catalog import load_catalog, parse_catalog

    ref = side.files.get(CATALOG_PATH)
    try:
        if ref is None:
            return load_catalog(None)
        return parse_catalog(git.read({CATALOG_PATH: ref})[CATALOG_PATH], CATALOG_PATH)
    except EnvcError as exc:
        return str(exc)


def template_uses(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Family template -> every template it reads (itself and its includes, transitively)."""
    from compiler.render.templating import referenced_templates

    includes = {name: referenced_templates(source) for name, source in sources.items()}
    uses = {}
    for family in FAMILIES:
        seen: set[str] = set()
        pending = [family]
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(includes.get(current, ()))
        uses[family] = seen
    return uses


def affected_environments(
    git: Git, base: Side, head: Side, base_graph: Graph, head_graph: Graph, changed: set[str]
) -> set[str]:
    """The environments a change to `changed` may affect, on either side."""
    if CONFIG_FILE in changed:
        return set(base_graph.names) | set(head_graph.names)
    found: set[str] = set()
    for path in changed:
        found |= base_graph.affected(path) | head_graph.affected(path)
    templates = {p[len(TEMPLATES) + 1 :] for p in changed if p.startswith(f"{TEMPLATES}/")}
    if templates:
        for side, graph in ((base, base_graph), (head, head_graph)):
            uses = template_uses(template_sources(git, side))
            found |= {
                name
                for name in graph.names
                if any(uses[family] & templates for family in families(graph.merged(name)))
            }
    if CATALOG_PATH in changed:
        old, new = side_catalog(git, base), side_catalog(git, head)
        found |= {
            name
            for name in set(base_graph.names) & set(head_graph.names)
            if _catalog_choices(old, base_graph.merged(name))
            != _catalog_choices(new, head_graph.merged(name))
        }
    return found
