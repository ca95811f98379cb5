"""Plan stage: which environments to rebuild between two git revisions, and why.

Both sides are read from git objects (`compiler/gitrepo.py`); the head side may be the working
tree. The decision is by content address (`compiler/address.py`), the explanation by git diff:

1. `git diff --raw` between the base (by default the merge base, as a pull request compares) and
   the head lists the changed paths; `git ls-tree` lists the base, and the head is the base with
   those changes applied. No change: nothing else is read.
2. A dependency graph over the manifests of each side (parsed once per blob, cached under
   `.envc/cache/`) maps each changed path to the environments that may depend on it: a file in
   an environment's folder or a parent's (`extends`), a referenced file, a template the
   environment's family uses (includes followed), `envc.yaml`, or a base-image catalog entry
   whose value changed for it.
3. Those candidates, their parents, the templates and config are written to a scratch folder per
   side and go through the real stages: validation (head only: a broken head fails the plan),
   `extends`, the lock staleness check, rendering, the content address. Equal addresses are
   `unchanged` however much the files changed (a comment, key order); different ones are
   `changed`, with reasons read off the two sides.
"""

from __future__ import annotations

import bisect
import functools
import os
import posixpath
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler._util.cache import CACHE_DIR, read_json, write_json
from compiler._util.git import SUBMODULE_MODE, SYMLINK_MODE, Change, FileRef, Git
from compiler._util.resources import CONFIG_FILE, data_dir
from compiler.errors import Diagnostic, EnvcError
from compiler.load.yamlio import parse_yaml
from compiler.manifest.inherit import merge_chain, python_settings, rebase

if TYPE_CHECKING:
    from compiler.render.context import RenderedEnvironment

# The stages that render import pydantic and Jinja; they are imported where a plan first needs
# them, so that a plan with nothing to render starts fast.

PLAN_FORMAT_VERSION = 1
MANIFEST_CACHE = "plan-manifests.json"
MANIFEST_CACHE_VERSION = 1
NAMES_CACHE = "plan-names.json"  # environment names by root tree id, for plans with no change
NAMES_KEPT = 16
TEMPLATES = "templates"
CATALOG_PATH = f"{TEMPLATES}/base-images.yaml"
ENVIRONMENTS = "environments/"
MANIFEST = "env.yaml"
# What render_environment picks, by the manifest alone; `conda_file` may hold only pip packages.
INSTALL_TEMPLATE = "install.sh.j2"
USER_MANAGED_TEMPLATE = "Dockerfile.user-managed.j2"
CONDA_TEMPLATE = "Dockerfile.conda.j2"
PIP_TEMPLATE = "Dockerfile.pip.j2"
_REFERENCE_KEYS = {"conda_file", "requirements_file", "base_dockerfile"}
FAMILIES = (INSTALL_TEMPLATE, USER_MANAGED_TEMPLATE, CONDA_TEMPLATE, PIP_TEMPLATE)


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    status: str  # "added", "changed", "reuse" (changed, but registered), "removed", "unchanged"
    folder: str  # on the head side (the base side for removed environments)
    address: str | None = None  # head content address
    base_address: str | None = None
    reasons: tuple[str, ...] = ()  # why it changed
    notes: tuple[str, ...] = ()  # worth knowing: moved, files changed but not the image
    image: bool = False  # the head renders a Dockerfile (not docker.enabled: false)

    @property
    def rebuild(self) -> bool:
        return self.status in ("added", "changed")


@dataclass(frozen=True)
class Plan:
    base_ref: str
    base: str  # the commit compared against (the merge base unless direct)
    head_ref: str  # "working tree" when the head is the working tree
    head: str | None  # None for the working tree
    direct: bool
    environments: tuple[EnvironmentPlan, ...]
    diagnostics: tuple[Diagnostic, ...] = ()  # head problems: the plan failed

    @property
    def to_build(self) -> list[EnvironmentPlan]:
        return [e for e in self.environments if e.rebuild]


@dataclass
class _Side:
    """One side's files and manifests: folder -> raw data (None: does not parse)."""

    files: dict[str, FileRef]
    manifests: dict[str, Any] = field(default_factory=dict)
    _sorted: list[str] = field(default_factory=list)

    def under(self, folder: str) -> list[str]:
        """The files under `folder`, found by bisection in the sorted paths."""
        if not self._sorted:
            self._sorted = sorted(self.files)
        prefix = f"{folder}/"
        start = bisect.bisect_left(self._sorted, prefix)
        end = bisect.bisect_left(self._sorted, prefix[:-1] + "0")  # '0' sorts right after '/'
        return self._sorted[start:end]

    def names(self) -> dict[str, str]:
        """name -> folder; the first folder in path order wins a duplicated name."""
        names: dict[str, str] = {}
        for folder in sorted(self.manifests):
            name = _name(self.manifests[folder])
            if name is not None:
                names.setdefault(name, folder)
        return names

    def chain(self, name: str, names: Mapping[str, str]) -> list[str]:
        """The folders of `name` and its parents, child first (stops at an unknown or cycle)."""
        folders: list[str] = []
        current: str | None = name
        while current is not None and current in names and names[current] not in folders:
            folders.append(names[current])
            current = _parent(self.manifests[names[current]])
        return folders


def _name(data: Any) -> str | None:
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def _parent(data: Any) -> str | None:
    parent = data.get("extends") if isinstance(data, dict) else None
    return parent if isinstance(parent, str) else None


def _manifest_folders(files: Iterable[str]) -> list[str]:
    suffix = f"/{MANIFEST}"
    return [p[: -len(suffix)] for p in files if p.endswith(suffix) and p.startswith(ENVIRONMENTS)]


class _ManifestCache:
    """Parsed manifests by blob id: a manifest is parsed once, whichever commit holds it."""

    def __init__(self, root: Path, enabled: bool) -> None:
        self.file = root / CACHE_DIR / MANIFEST_CACHE if enabled else None
        stored = read_json(self.file) if self.file else None
        self.entries: dict[str, Any] = {}
        if isinstance(stored, dict) and stored.get("version") == MANIFEST_CACHE_VERSION:
            self.entries = stored["manifests"]
        self.used: set[str] = set()
        self.added = False

    def load(self, git: Git, side: _Side, folders: Collection[str]) -> None:
        refs = {f"{folder}/{MANIFEST}": side.files[f"{folder}/{MANIFEST}"] for folder in folders}
        missing = {p: r for p, r in refs.items() if r.oid is None or r.oid not in self.entries}
        parsed = {path: _parse(path, raw) for path, raw in git.read(missing).items()}
        for path, ref in refs.items():
            if path in parsed:
                data = parsed[path]
                if ref.oid is not None:
                    self.entries[ref.oid] = data
                    self.added = True
            else:
                assert ref.oid is not None
                data = self.entries[ref.oid]
            if ref.oid is not None:
                self.used.add(ref.oid)
            side.manifests[posixpath.dirname(path)] = data

    def save(self) -> None:
        # Unused entries are dropped once they outnumber the used ones: plans of other
        # revisions keep finding theirs, and the file does not grow without bound.
        if self.file and (self.added or len(self.entries) > 2 * len(self.used) + 1000):
            kept = {oid: self.entries[oid] for oid in sorted(self.used)}
            write_json(self.file, {"version": MANIFEST_CACHE_VERSION, "manifests": kept})


def _cached_names(file: Path, tree: str) -> dict[str, str] | None:
    stored = read_json(file)
    names = stored.get(tree) if isinstance(stored, dict) else None
    return names if isinstance(names, dict) else None


def _remember_names(file: Path, tree: str, names: dict[str, str]) -> None:
    """Keep the names of the last `NAMES_KEPT` trees planned from."""
    stored = read_json(file)
    trees = {k: v for k, v in stored.items() if k != tree} if isinstance(stored, dict) else {}
    if isinstance(stored, dict) and stored.get(tree) == names:
        return
    kept = dict(list(trees.items())[-(NAMES_KEPT - 1) :])
    write_json(file, {**kept, tree: names})


def _parse(path: str, raw: bytes) -> Any:
    data = parse_yaml(path, raw).data
    return data if isinstance(data, dict) else None


def _merged(side: _Side, chain: list[str]) -> dict[str, Any]:
    """The effective raw settings of a chain of folders (child first); {} if one is broken."""
    datas = [side.manifests[folder] for folder in chain]
    if any(not isinstance(data, dict) for data in datas):
        return {}
    try:
        return merge_chain(list(zip(datas, chain, strict=True))[::-1])
    except (TypeError, AttributeError, ValueError):
        return {}


def _docker(merged: Mapping[str, Any]) -> dict[str, Any]:
    docker = merged.get("docker")
    return docker if isinstance(docker, dict) else {}


def _families(merged: Mapping[str, Any]) -> set[str]:
    """The templates render_environment may pick for these settings (a superset)."""
    docker = _docker(merged)
    if docker.get("enabled") is False:
        return {INSTALL_TEMPLATE}
    if python_settings(merged.get("python")).get("user_managed_dependencies"):
        return {USER_MANAGED_TEMPLATE}
    if merged.get("conda"):
        return {CONDA_TEMPLATE}
    return {CONDA_TEMPLATE, PIP_TEMPLATE} if merged.get("conda_file") else {PIP_TEMPLATE}


def _references(merged: Mapping[str, Any]) -> list[str]:
    docker = _docker(merged)
    found = [
        merged.get("conda_file"),
        merged.get("requirements_file"),
        docker.get("base_dockerfile"),
    ]
    return [posixpath.normpath(path) for path in found if isinstance(path, str)]


def _catalog_choices(catalog: Any, merged: Mapping[str, Any]) -> tuple[str, ...]:
    """What the environment takes from the base-image catalog (nothing with its own image)."""
    docker = _docker(merged)
    if docker.get("enabled") is False or docker.get("base_image") or catalog is None:
        return ()
    if isinstance(catalog, str):
        return (catalog,)  # a broken catalog: its message
    python = python_settings(merged.get("python")).get("version")
    choices = []
    for has_conda in sorted({family == CONDA_TEMPLATE for family in _families(merged)}):
        try:
            compute, cuda = docker.get("compute", "cpu"), docker.get("cuda")
            choices.append(catalog.for_environment(compute, cuda, python, has_conda))
        except EnvcError as exc:
            choices.append(str(exc))
        if has_conda:
            choices.append(catalog.micromamba)
    return tuple(choices)


class _Graph:
    """Which environments of one side a path can affect: the environment whose folder holds
    it or whose manifest references it (or a file beside it), and their descendants."""

    def __init__(self, side: _Side) -> None:
        self.side = side
        self.names = side.names()
        self.at_folder = {folder: name for name, folder in self.names.items()}
        self.children: dict[str, list[str]] = {}
        for name, folder in self.names.items():
            parent = _parent(side.manifests[folder])
            if parent is not None:
                self.children.setdefault(parent, []).append(name)
        self.by_reference: dict[str, set[str]] = {}
        for name, folder in self.names.items():
            data = side.manifests[folder]
            if _REFERENCE_KEYS & (data.keys() | _docker(data).keys()):
                # A requirements file's `-r` includes sit beside it, as a rule.
                for path in _references(rebase(data, folder)):
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
            self._merged[name] = rebase(data, chain[0]) if single else _merged(self.side, chain)
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


def _template_sources(git: Git, side: _Side) -> dict[str, str]:
    """Template name -> source as this side renders it: the repository's, else envc's."""
    packaged = data_dir(TEMPLATES)
    sources = {p.name: p.read_text(encoding="utf-8") for p in packaged.iterdir() if p.is_file()}
    own = {p: r for p, r in side.files.items() if p.startswith(f"{TEMPLATES}/")}
    for path, raw in git.read(own).items():
        sources[path[len(TEMPLATES) + 1 :]] = raw.decode("utf-8", errors="replace")
    return sources


def _catalog(git: Git, side: _Side) -> Any:
    """This side's base-image catalog, or the message saying why it is broken."""
    from compiler.render.templating import load_catalog, parse_catalog

    ref = side.files.get(CATALOG_PATH)
    try:
        if ref is None:
            return load_catalog(None)
        return parse_catalog(git.read({CATALOG_PATH: ref})[CATALOG_PATH], CATALOG_PATH)
    except EnvcError as exc:
        return str(exc)


@dataclass(frozen=True)
class _State:
    """An environment as one side builds it: rendered, or the reason it cannot be."""

    folder: str
    rendered: RenderedEnvironment | None = None
    error: str | None = None


def _owner(path: str, manifest_folders: Collection[str]) -> str | None:
    """The nearest folder at or above `path`'s folder that holds a manifest."""
    folder = posixpath.dirname(path)
    while folder:
        if folder in manifest_folders:
            return folder
        folder = posixpath.dirname(folder)
    return None


def _materialize(
    git: Git, side: _Side, folders: set[str], references: set[str], target: Path
) -> None:
    """Write what building `folders` reads from this side into `target`: those folders (without
    nested environments), referenced files and the folders beside them, templates, config."""
    paths = [p for f in folders for p in side.under(f) if _owner(p, side.manifests) == f]
    for folder in {posixpath.dirname(path) for path in references}:
        paths += [p for p in side.under(folder) if posixpath.dirname(p) == folder]
    paths += [*references, *side.under(TEMPLATES), CONFIG_FILE]
    wanted = {
        path: side.files[path]
        for path in paths
        if path in side.files and side.files[path].mode != SUBMODULE_MODE
    }
    for path, raw in git.read(wanted).items():
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if wanted[path].mode == SYMLINK_MODE:
            os.symlink(raw.decode(), file)
        else:
            file.write_bytes(raw)


def _evaluate(
    git: Git,
    side: _Side,
    graph: _Graph,
    names: Collection[str],
    scratch: Path,
    check: bool,
    unnamed: Collection[str] = (),
) -> tuple[dict[str, _State], list[Diagnostic]]:
    """Render `names` as this side has them; with `check`, validate them first (the head), and
    the manifests in folders `unnamed` too (changed, but without a name to plan them by)."""
    from compiler.manifest.config import load_config
    from compiler.manifest.model import resolve
    from compiler.render.context import render_environment
    from compiler.render.templating import load_catalog, template_environment
    from compiler.validate.repository import validate

    if not names and not unnamed:
        return {}, []
    folders = {folder for name in names for folder in graph.chain(name)} | set(unnamed)
    references = {path for name in names for path in _references(graph.merged(name))}
    scratch.mkdir()
    _materialize(git, side, folders, references, scratch)
    diagnostics: list[Diagnostic] = []
    if check:
        report = validate(root=scratch, cwd=scratch)
        diagnostics.extend(report.diagnostics)
        manifests = report.manifests
    else:
        manifests = {
            name: (side.manifests[graph.names[name]], graph.names[name])
            for name in {n for n in graph.names if graph.names[n] in folders}
        }
    states = {}
    try:
        catalog, environment = load_catalog(scratch), template_environment(scratch)
        channels = load_config(scratch).channels
    except EnvcError as exc:
        return {name: _State(graph.names[name], error=str(exc)) for name in names}, diagnostics
    for name in sorted(names):
        folder = graph.names[name]
        try:
            if name not in manifests:
                raise EnvcError("the manifest is not valid")
            manifest = resolve(name, manifests)
            folder_path = scratch / folder
            rendered = render_environment(
                manifest, folder_path, scratch, catalog, environment, channels
            )
            states[name] = _State(folder, rendered)
        except (EnvcError, ValueError, OSError) as exc:
            states[name] = _State(folder, error=_one_line(exc))
    return states, diagnostics


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


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
class _Comparison:
    """What both sides know, for explaining one environment's change."""

    base: _Side
    head: _Side
    base_graph: _Graph
    head_graph: _Graph
    changed_templates: set[str]
    head_templates: Mapping[str, str]  # template name -> source, on the head side

    @functools.cached_property
    def template_uses(self) -> dict[str, set[str]]:
        """Family -> templates it reads, on the head side."""
        return _template_uses(self.head_templates)


def _reasons(name: str, before: _State, after: _State, comparison: _Comparison) -> list[str]:
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
        parent_name = _name(parent_data)
        base_folder = comparison.base_graph.names.get(parent_name or "")
        if base_folder is None or comparison.base.manifests[base_folder] != parent_data:
            reasons.append(f"parent {parent_name} changed")
    if old_document["locks"] != new_document["locks"]:
        packages = _package_changes(old.lockfiles, new.lockfiles)
        reasons.append(f"locked: {', '.join(packages)}" if packages else "lockfiles changed")
    if comparison.changed_templates:
        families = _families(comparison.head_graph.merged(name))
        used = set().union(*(comparison.template_uses[f] for f in families))
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


def _apply(files: Mapping[str, FileRef], changes: Iterable[Change]) -> dict[str, FileRef]:
    head = dict(files)
    for change in changes:
        if change.old_path is not None:
            head.pop(change.old_path, None)
        if change.new is None:
            head.pop(change.path, None)
        else:
            head[change.path] = change.new
    return head


def plan(
    root: Path,
    base_ref: str,
    head_ref: str | None = None,
    *,
    direct: bool = False,
    cache: bool = True,
    registered: Callable[[str, str], int | None] | None = None,
) -> Plan:
    """Compare the environments of `base_ref` (its merge base with the head unless `direct`)
    and `head_ref` (None: the working tree). With `registered` (name, content address ->
    registered version or None), what is to be built but already registered is `reuse`."""
    git = Git(root)
    base_commit = git.commit(base_ref)
    head_commit = None if head_ref is None else git.commit(head_ref)
    if not direct:
        tip = head_commit or git.commit("HEAD")
        if tip != base_commit:  # a commit is its own merge base: spare the call
            base_commit = git.merge_base(base_commit, tip)
    head_label = "working tree" if head_ref is None else head_ref
    changes = git.changes(base_commit, head_commit)
    names_cache = root / CACHE_DIR / NAMES_CACHE if cache else None
    tree = git.tree_id(base_commit)
    if not changes and names_cache is not None and tree is not None:
        known = _cached_names(names_cache, tree)
        if known is not None:  # nothing changed, and the base's names are known: no parsing
            unchanged = (EnvironmentPlan(n, "unchanged", f) for n, f in sorted(known.items()))
            return Plan(base_ref, base_commit, head_label, head_commit, direct, tuple(unchanged))
    base = _Side(git.tree(base_commit))
    head = _Side(_apply(base.files, changes))
    manifests = _ManifestCache(root, cache)
    manifests.load(git, base, _manifest_folders(base.files))
    head_folders = _manifest_folders(head.files)
    kept = [
        f
        for f in head_folders
        if head.files[f"{f}/{MANIFEST}"] == base.files.get(f"{f}/{MANIFEST}")
    ]
    head.manifests = {folder: base.manifests[folder] for folder in kept}
    manifests.load(git, head, sorted(set(head_folders) - set(kept)))
    manifests.save()
    if names_cache is not None and tree is not None:
        _remember_names(names_cache, tree, base.names())
    changed = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
    if not changed:
        unchanged = (EnvironmentPlan(n, "unchanged", f) for n, f in sorted(base.names().items()))
        return Plan(base_ref, base_commit, head_label, head_commit, direct, tuple(unchanged))
    base_graph, head_graph = _Graph(base), _Graph(head)
    candidates = _candidates(git, base, head, base_graph, head_graph, changed)
    changed_templates = {p[len(TEMPLATES) + 1 :] for p in changed if p.startswith(f"{TEMPLATES}/")}
    comparison = _Comparison(
        base,
        head,
        base_graph,
        head_graph,
        changed_templates,
        _template_sources(git, head) if changed_templates else {},
    )
    head_names, base_names = head_graph.names, base_graph.names
    with tempfile.TemporaryDirectory(prefix="envc-plan-", dir=_scratch_parent()) as scratch:
        unnamed = [
            folder
            for folder in _manifest_folders(changed)
            if folder in head.manifests and _name(head.manifests[folder]) is None
        ]
        after, diagnostics = _evaluate(
            git,
            head,
            head_graph,
            candidates & set(head_names),
            Path(scratch, "head"),
            True,
            unnamed,
        )
        diagnostics += _duplicate_names(head)
        before, _ = _evaluate(
            git,
            base,
            base_graph,
            candidates & set(base_names) & set(head_names),
            Path(scratch, "base"),
            False,
        )
    for state in after.values():
        if state.error and not any(d.path.startswith(f"{state.folder}/") for d in diagnostics):
            diagnostics.append(Diagnostic(f"{state.folder}/{MANIFEST}", 1, 1, state.error, "plan"))
    environments = []
    for name in sorted(set(base_names) | set(head_names)):
        environment = _environment_plan(
            name, before.get(name), after.get(name), comparison, changed
        )
        if registered is not None and environment.rebuild and environment.address:
            version = registered(name, environment.address)
            if version is not None:
                note = f"registered as {name}@{version}"
                environment = replace(environment, status="reuse", notes=(*environment.notes, note))
        environments.append(environment)
    return Plan(
        base_ref,
        base_commit,
        head_label,
        head_commit,
        direct,
        tuple(environments),
        tuple(sorted(set(diagnostics))),
    )


def _scratch_parent() -> str | None:
    """Where the sides are written: memory (/dev/shm) unless TMPDIR says otherwise; thousands of
    small files are created there, which costs 50x more on some disks."""
    if "TMPDIR" not in os.environ and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return None


def _template_uses(sources: Mapping[str, str]) -> dict[str, set[str]]:
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


def _candidates(
    git: Git, base: _Side, head: _Side, base_graph: _Graph, head_graph: _Graph, changed: set[str]
) -> set[str]:
    """The environments a change to `changed` may affect, on either side."""
    everyone = set(base_graph.names) | set(head_graph.names)
    if CONFIG_FILE in changed:
        return everyone
    found: set[str] = set()
    for path in changed:
        found |= base_graph.affected(path) | head_graph.affected(path)
    templates = {p[len(TEMPLATES) + 1 :] for p in changed if p.startswith(f"{TEMPLATES}/")}
    if templates:
        for side, graph in ((base, base_graph), (head, head_graph)):
            uses = _template_uses(_template_sources(git, side))
            found |= {
                name
                for name in graph.names
                if any(uses[family] & templates for family in _families(graph.merged(name)))
            }
    if CATALOG_PATH in changed:
        old, new = _catalog(git, base), _catalog(git, head)
        found |= {
            name
            for name in set(base_graph.names) & set(head_graph.names)
            if _catalog_choices(old, base_graph.merged(name))
            != _catalog_choices(new, head_graph.merged(name))
        }
    return found


def _duplicate_names(side: _Side) -> list[Diagnostic]:
    folders: dict[str, list[str]] = {}
    for folder, data in side.manifests.items():
        name = _name(data)
        if name is not None:
            folders.setdefault(name, []).append(folder)
    return [
        Diagnostic(
            f"{folder}/{MANIFEST}",
            1,
            1,
            f"environment name {name!r} is also used by {sorted(found)[0]}/{MANIFEST}",
            "unique-name",
        )
        for name, found in folders.items()
        if len(found) > 1
        for folder in sorted(found)[1:]
    ]


def _environment_plan(
    name: str,
    before: _State | None,
    after: _State | None,
    comparison: _Comparison,
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
        was = _name(comparison.base.manifests.get(head_folder))
        if was is not None:
            notes.append(f"renamed from {was}")
        return EnvironmentPlan(name, "added", head_folder, address, notes=tuple(notes), image=image)
    if after is None or before is None:
        return EnvironmentPlan(name, "unchanged", head_folder, notes=tuple(notes))
    base_address = before.rendered.address.digest if before.rendered else None
    if address is not None and address == base_address:
        if any(_owner(path, {head_folder, base_folder}) for path in changed):
            notes.append("files changed, content address did not")
        return EnvironmentPlan(
            name, "unchanged", head_folder, address, base_address, notes=tuple(notes), image=image
        )
    reasons = tuple(_reasons(name, before, after, comparison))
    return EnvironmentPlan(
        name, "changed", head_folder, address, base_address, reasons, tuple(notes), image
    )
