"""Plan stage: which environments to rebuild between two git revisions, and why.

Both sides are read from git objects (`compiler/_util/git.py`); the head side may be the working
tree. The decision is by content address (`compiler/render/address.py`), the explanation by git
diff:

1. `git diff --raw` between the base (by default the merge base, as a pull request compares) and
   the head lists the changed paths; `git ls-tree` lists the base, and the head is the base with
   those changes applied. No change: nothing else is read.
2. A dependency graph over the manifests of each side (parsed once per blob, cached in the
   user's cache folder) maps each changed path to the environments that may depend on it: a file in
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

import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from compiler._util.git import Git
from compiler._util.heap import cycle_collection_paused
from compiler.errors import Diagnostic
from compiler.manifest.sources import name_of
from compiler.plan.evaluate import duplicate_names, evaluate, scratch_parent
from compiler.plan.explain import Comparison, environment_plan
from compiler.plan.graph import Graph, affected_environments, template_sources
from compiler.plan.result import EnvironmentPlan, Plan, archived_content
from compiler.plan.sides import (
    MANIFEST,
    NAMES_CACHE,
    TEMPLATES,
    ManifestCache,
    Side,
    apply_changes,
    cached_names,
    manifest_folders,
    plan_cache,
    remember_names,
)


@cycle_collection_paused()
def plan(
    root: Path,
    base_ref: str,
    head_ref: str | None = None,
    *,
    direct: bool = False,
    cache: bool = True,
    registered: Callable[[list[tuple[str, str]]], list[tuple[int, bool] | None]] | None = None,
) -> Plan:
    """Compare the environments of `base_ref` (its merge base with the head unless `direct`)
    and `head_ref` (None: the working tree). With `registered` (each (name, content address)
    -> (registered version, archived) or None, asked once for all), what is to be built but
    already registered is `reuse`, and the content of an archived version is an error
    (register refuses it)."""
    git = Git(root)
    base_commit = git.commit(base_ref)
    head_commit = None if head_ref is None else git.commit(head_ref)
    if not direct:
        tip = head_commit or git.commit("HEAD")
        if tip != base_commit:  # a commit is its own merge base: spare the call
            base_commit = git.merge_base(base_commit, tip)
    head_label = "working tree" if head_ref is None else head_ref
    changes = git.changes(base_commit, head_commit)
    names_cache = plan_cache(root, NAMES_CACHE) if cache else None
    tree = git.tree_id(base_commit)
    if not changes and names_cache is not None and tree is not None:
        known = cached_names(names_cache, tree)
        if known is not None:  # nothing changed, and the base's names are known: no parsing
            unchanged = (EnvironmentPlan(n, "unchanged", f) for n, f in sorted(known.items()))
            return Plan(base_ref, base_commit, head_label, head_commit, direct, tuple(unchanged))
    listing = git.tree_later(base_commit)  # git lists the tree while the cache is read
    manifests = ManifestCache(root, cache)
    base = Side(listing())
    head = Side(apply_changes(base.files, changes))
    manifests.load(git, base, manifest_folders(base.files))
    changed = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
    # The head's manifests are the base's but for the few whose file changed.
    touched = manifest_folders(changed)
    head.manifests = dict(base.manifests)
    for folder in touched:
        head.manifests.pop(folder, None)
    manifests.load(git, head, sorted(f for f in touched if f"{f}/{MANIFEST}" in head.files))
    manifests.save()
    if names_cache is not None and tree is not None:
        remember_names(names_cache, tree, base.names())
    if not changed:
        unchanged = (EnvironmentPlan(n, "unchanged", f) for n, f in sorted(base.names().items()))
        return Plan(base_ref, base_commit, head_label, head_commit, direct, tuple(unchanged))
    base_graph, head_graph = Graph(base), Graph(head)
    candidates = affected_environments(git, base, head, base_graph, head_graph, changed)
    changed_templates = {p[len(TEMPLATES) + 1 :] for p in changed if p.startswith(f"{TEMPLATES}/")}
    comparison = Comparison(
        base,
        head,
        base_graph,
        head_graph,
        changed_templates,
        template_sources(git, head) if changed_templates else {},
    )
    head_names, base_names = head_graph.names, base_graph.names
    from compiler.lock.verified import VerifiedLocks  # (a plan with no change needs neither)
    from compiler.plan.renders import PlanRenders

    # Locks this machine verified before (by content) are not parsed again, as in render.
    verified = VerifiedLocks.of_user() if candidates else None
    renders = PlanRenders.open(root) if cache and candidates else PlanRenders()
    with (
        tempfile.TemporaryDirectory(prefix="envc-plan-", dir=scratch_parent()) as scratch,
        contextlib.closing(renders),
    ):
        unnamed = [
            folder
            for folder in manifest_folders(changed)
            if folder in head.manifests and name_of(head.manifests[folder]) is None
        ]
        after, diagnostics = evaluate(
            git,
            head,
            head_graph,
            candidates & set(head_names),
            Path(scratch, "head"),
            True,
            unnamed,
            verified=verified,
            renders=renders,
        )
        # Located where validation of the candidates already found it; at 1:1 elsewhere.
        located = {(d.path, d.rule) for d in diagnostics}
        diagnostics += [d for d in duplicate_names(head) if (d.path, d.rule) not in located]
        before, _ = evaluate(
            git,
            base,
            base_graph,
            candidates & set(base_names) & set(head_names),
            Path(scratch, "base"),
            False,
            verified=verified,
            renders=renders,
        )
    if verified is not None:
        verified.save()
    for state in after.values():
        if state.error and not any(d.path.startswith(f"{state.folder}/") for d in diagnostics):
            diagnostics.append(Diagnostic(f"{state.folder}/{MANIFEST}", 1, 1, state.error, "plan"))
    planned = [
        environment_plan(name, before.get(name), after.get(name), comparison, changed)
        for name in sorted(set(base_names) | set(head_names))
    ]
    versions: dict[str, tuple[int, bool] | None] = {}
    built = [(e.name, e.address) for e in planned if e.rebuild and e.address]
    if registered is not None and built:  # asked at once: a remote registry, names side by side
        versions = dict(zip([name for name, _ in built], registered(built), strict=True))
    environments = []
    for environment in planned:
        name = environment.name
        found = versions.get(name)
        if found is not None and found[1]:
            state = after[name]
            message = archived_content(name, found[0])
            diagnostics.append(Diagnostic(f"{state.folder}/{MANIFEST}", 1, 1, message, "archived"))
        elif found is not None:
            note = f"registered as {name}@{found[0]}"
            environment = environment._replace(status="reuse", notes=(*environment.notes, note))
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
