"""A plan, printed: a table for people, Markdown for a pull-request comment, versioned JSON
(schemas/plan.schema.json), a GitHub Actions matrix, and a `docker buildx bake` file."""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring  # what json.dumps writes a str with
from typing import Any

from compiler._util.heap import cycle_collection_paused
from compiler._util.jsontext import compact_json
from compiler.errors import Diagnostic
from compiler.plan.result import PLAN_FORMAT_VERSION, EnvironmentPlan, Plan

# Statuses in the order people read them: what will be built first.
STATUS_ORDER = ("added", "changed", "reuse", "removed", "unchanged")


def _ordered(plan: Plan) -> list[EnvironmentPlan]:
    return sorted(plan.environments, key=lambda e: (STATUS_ORDER.index(e.status), e.name))


def _short(address: str | None) -> str:
    return address.removeprefix("sha256:")[:12] if address else "-"


def _why(environment: EnvironmentPlan) -> str:
    return "; ".join((*environment.reasons, *environment.notes))


def _counts(plan: Plan) -> str:
    counts = {s: sum(e.status == s for e in plan.environments) for s in STATUS_ORDER}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no environments"


def _head(plan: Plan) -> str:
    return plan.head_ref if plan.head is None else f"{plan.head_ref} ({plan.head[:12]})"


def _compared(plan: Plan) -> str:
    how = "" if plan.direct else "merge base of "
    return f"{how}{plan.base_ref} ({plan.base[:12]}) -> {_head(plan)}"


def table(plan: Plan, show_all: bool = False) -> str:
    """One line per environment (unchanged ones only when `show_all`), then a summary."""
    rows = [e for e in _ordered(plan) if show_all or e.status != "unchanged" or e.notes]
    width = max([len(e.name) for e in rows] + [4])
    lines = [f"{'STATUS':<10} {'NAME':<{width}} {'ADDRESS':<12} WHY"]
    lines += [
        f"{e.status:<10} {e.name:<{width}} {_short(e.address):<12} {_why(e)}".rstrip() for e in rows
    ]
    lines.append(f"{_counts(plan)} ({_compared(plan)})")
    return "\n".join(lines) + "\n"


def markdown(plan: Plan) -> str:
    """A summary for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    build = plan.to_build
    lines = [
        "### envc plan",
        "",
        f"Compared {_compared(plan).replace('->', '→')}: {_counts(plan)}.",
        "",
    ]
    if plan.diagnostics:
        lines += ["**The head does not build:**", ""]
        lines += [f"- `{_diagnostic(d)}`" for d in plan.diagnostics]
        lines.append("")
    rows = [e for e in _ordered(plan) if e.status != "unchanged" or e.notes]
    if rows:
        lines += ["| status | environment | content address | why |", "|---|---|---|---|"]
        for e in rows:
            why = _why(e).replace("|", "\\|").replace("->", "→")
            lines.append(f"| {e.status} | `{e.name}` | `{_short(e.address)}` | {why} |")
        lines.append("")
    lines.append(
        f"{len(build)} to build." if build else "Nothing to build: every image is up to date."
    )
    return "\n".join(lines) + "\n"


def _diagnostic(diagnostic: Diagnostic) -> str:
    d = diagnostic
    return f"{d.path}:{d.line}:{d.col}: {d.severity}: {d.message}"


@cycle_collection_paused()
def as_json(plan: Plan) -> str:
    document: dict[str, Any] = {
        "plan_format_version": PLAN_FORMAT_VERSION,
        "base": {"ref": plan.base_ref, "commit": plan.base, "merge_base": not plan.direct},
        "head": {"ref": plan.head_ref, "commit": plan.head},
        "environments": [],
        "diagnostics": [d.as_dict() for d in plan.diagnostics],
    }
    text = compact_json(document)
    rows = ",".join(map(_environment_json, sorted(plan.environments, key=lambda e: e.name)))
    # The first match is the key: inside a string json.dumps writes `\"`, never a bare quote.
    return text.replace('"environments":[]', f'"environments":[{rows}]', 1) + "\n"


def _environment_json(e: EnvironmentPlan) -> str:
    """One environment of the JSON plan, as json.dumps writes it (keys sorted, compact): a plan
    lists every environment, and a dict per one of 50,000 doubled the time to print it."""
    return (
        f'{{"address":{_json(e.address)},"base_address":{_json(e.base_address)},'
        f'"folder":{_json(e.folder)},"image":{_JSON_BOOL[e.image]},"name":{_json(e.name)},'
        f'"notes":[{",".join(map(_json, e.notes))}],'
        f'"reasons":[{",".join(map(_json, e.reasons))}],'
        f'"rebuild":{_JSON_BOOL[e.rebuild]},"status":{_json(e.status)}}}'
    )


_JSON_BOOL = {True: "true", False: "false"}


def _json(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def bake_target(name: str) -> str:
    """A bake target name (letters, digits, '-' and '_') for an environment name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def github_output(plan: Plan, contexts: str) -> str:
    """`$GITHUB_OUTPUT` lines: a job matrix of the images to build (`rebuild`, `count`), and the
    environments to register that have no image (`docker.enabled: false`, space-separated in
    `definitions`): a matrix build job would find no Dockerfile for those."""
    include = [
        {
            "name": e.name,
            "target": bake_target(e.name),
            "folder": e.folder,
            "context": f"{contexts}/{e.name}",
            "address": e.address,
            "tag": _short(e.address),  # the image tag the bake file uses too
        }
        for e in sorted(plan.to_build, key=lambda e: e.name)
        if e.image
    ]
    definitions = " ".join(sorted(e.name for e in plan.to_build if not e.image))
    matrix = json.dumps({"include": include}, sort_keys=True, separators=(",", ":"))
    return (
        f"matrix={matrix}\nrebuild={'true' if include else 'false'}\ncount={len(include)}\n"
        f"definitions={definitions}\n"
    )


def bake_file(plan: Plan, contexts: str, image_prefix: str) -> str:
    """A `docker buildx bake` file (JSON) building every planned image in parallel; `contexts`
    is where `envc render` wrote the build contexts, relative to where bake runs."""
    targets = {}
    for e in sorted(plan.to_build, key=lambda e: e.name):
        if not e.image or e.address is None:
            continue
        target: dict[str, object] = {
            "context": f"{contexts}/{e.name}",
            "dockerfile": "Dockerfile",
            "platforms": ["linux/amd64"],
            "tags": [f"{image_prefix}{e.name}:{_short(e.address)}"],
            "labels": {"dev.envc.content-address": e.address},
        }
        if _registry_host(image_prefix):  # layers cached beside the image, for every builder
            cache = f"type=registry,ref={image_prefix}{e.name}:buildcache"
            target.update({"cache-from": [cache], "cache-to": [f"{cache},mode=max"]})
        targets[bake_target(e.name)] = target
    document = {"group": {"default": {"targets": sorted(targets)}}, "target": targets}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _registry_host(image_prefix: str) -> bool:
    """Whether images named with `image_prefix` live in a registry (`ghcr.io/org/`,
    `localhost:5000/`) rather than only on the machine that builds them (`envc/`)."""
    first = image_prefix.split("/", 1)[0]
    return "/" in image_prefix and ("." in first or ":" in first or first == "localhost")
