"""The CI job: every stage in order, one report.

Pull request mode: validate everything, check that locks are fresh (no solving), plan against
the base (with the registry's `reuse`), and render the build contexts of what is to be built
(with a `docker buildx bake` file beside them). Main mode: the same, then register what the
plan builds. Each step's outcome goes into one JSON report (`CI_REPORT_VERSION`) and a Markdown
summary; a step whose inputs failed is `skipped`. Registering is idempotent, so a job re-run
after a failure picks up where it stopped.

Main mode builds the planned images with buildah (compiler/build.py) and registers only what
built, with the digests pushed images got; `--no-build` registers definitions only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from compiler._util.files import write_atomically
from compiler._util.progress import Progress, no_progress
from compiler.build.images import (
    BUILD_LOGS,
    build_context,
    build_images,
    default_jobs,
    image_tag,
    tag_version,
)
from compiler.errors import Diagnostic, EnvcError
from compiler.lock.repository import lock_repository
from compiler.manifest.sources import ValidManifests
from compiler.plan.output import as_json, bake_file, markdown
from compiler.plan.plan import plan
from compiler.plan.result import Plan
from compiler.registry.base import LazyRegistry, Registry
from compiler.registry.register import register_repository
from compiler.render.repository import render_repository
from compiler.validate.config import load_config
from compiler.validate.report import text as diagnostics_text
from compiler.validate.repository import validate

CI_REPORT_VERSION = 1
BAKE_FILE = "docker-bake.json"


@dataclass
class Step:
    name: str
    status: Literal["passed", "failed", "skipped"] = "skipped"
    summary: str = ""
    details: list[str] = field(default_factory=list)


@dataclass
class CiReport:
    mode: str  # "pull-request" or "main"
    steps: list[Step]
    plan: Plan | None = None
    registered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.status != "failed" for step in self.steps)

    def document(self) -> dict[str, Any]:
        return {
            "ci_report_version": CI_REPORT_VERSION,
            "mode": self.mode,
            "passed": self.passed,
            "steps": [vars(step) for step in self.steps],
            "plan": json.loads(as_json(self.plan)) if self.plan else None,
            "registered": self.registered,
        }

    def markdown(self) -> str:
        icons = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}
        lines = [f"## envc ci ({self.mode}): {'passed' if self.passed else 'failed'}", ""]
        lines += ["| step | outcome | |", "|---|---|---|"]
        lines += [
            f"| {s.name} | {icons[s.status]} {s.status} | {_cell(s.summary)} |" for s in self.steps
        ]
        for step in self.steps:
            if step.status == "failed" and step.details:
                lines += ["", f"**{step.name}**", "", "```", *step.details, "```"]
        if self.plan is not None:
            lines += ["", markdown(self.plan).replace("### envc plan", "### Plan", 1).rstrip()]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _diagnostic_lines(diagnostics: tuple[Diagnostic, ...]) -> list[str]:
    return diagnostics_text(diagnostics, ()).splitlines()


def run_ci(
    root: Path,
    base_ref: str,
    head_ref: str | None = None,
    *,
    main: bool = False,
    out: Path | None = None,
    image_prefix: str = "envc/",
    open_registry: Callable[[], Registry | None] = lambda: None,
    build: bool = True,
    push: bool = False,
    plain_http: bool = False,
    progress: Progress = no_progress,
) -> CiReport:
    """Run the job; `open_registry` gives the registry (None: none), opened when first used.
    In main mode, `build` builds the planned images with buildah (`push`: and pushes them);
    without it, definitions are registered without images."""
    report = CiReport("main" if main else "pull-request", [])
    out = out or root / "build"
    steps = 6 if main else 4

    def step(name: str) -> Step:
        progress(name, len(report.steps), steps)
        report.steps.append(Step(name))
        return report.steps[-1]

    checked = step("validate")
    validation = validate(root=root, cache=True)
    checked.status = "passed" if validation.ok else "failed"
    checked.summary = f"{len(validation.checked)} manifests, {len(validation.diagnostics)} problems"
    checked.details = _diagnostic_lines(validation.diagnostics)

    locks = step("locks")
    if validation.ok:
        outcomes = lock_repository(
            root,
            check=True,
            default_channels=load_config(root).channels,
            manifests=validation.manifests,
        )
        stale = [o for o in outcomes if o.status in ("stale", "failed")]
        locks.status = "failed" if stale else "passed"
        locks.summary = f"{len(stale)} stale" if stale else "every lock is fresh"
        locks.details = [f"{o.name}: {o.status}: {'; '.join(o.reasons)}" for o in stale]

    planned = step("plan")
    registry = LazyRegistry(open_registry, tolerate=True)  # problems go into the report
    if locks.status == "passed":
        result = plan(root, base_ref, head_ref, registered=registry.versions_of)
        report.plan = result
        planned.status = "failed" if result.diagnostics else "passed"
        planned.summary = f"{len(result.to_build)} to build"
        planned.details = _diagnostic_lines(result.diagnostics)
        if registry.problem:
            planned.summary += " (registry unavailable: reuse not checked)"
            planned.details += registry.problem

    rendered = step("render")
    buildable: list[Buildable] = []
    if planned.status == "passed" and report.plan is not None:
        names = [e.name for e in report.plan.to_build]
        unregistered = _unregistered(registry, validation.manifests, names) if main else []
        try:  # (an empty list would render every environment)
            selected = [*names, *unregistered]
            renders = (
                render_repository(root, validation.manifests, selected, out=out) if selected else []
            )
        except EnvcError as exc:
            rendered.status, rendered.details = "failed", str(exc).splitlines()
        else:
            failed = [outcome for outcome in renders if outcome.address is None]
            if failed:
                rendered.status, rendered.summary = "failed", f"{len(failed)} failed"
                rendered.details = [f"{o.name}: {o.error}" for o in failed]
            else:
                out.mkdir(parents=True, exist_ok=True)  # (nothing rendered: no folder yet)
                write_atomically(out / BAKE_FILE, bake_file(report.plan, str(out), image_prefix))
                rendered.status = "passed"
                rendered.summary = f"{len(names)} build contexts in {out}"
                if unregistered:
                    more = " …" if len(unregistered) > 5 else ""
                    rendered.summary += (
                        f", and {len(unregistered)} of environments the registry does not have "
                        f"yet ({', '.join(unregistered[:5])}{more})"
                    )
                buildable = [
                    Buildable(o.name, o.address, o.base_image is not None)
                    for o in renders
                    if o.address is not None
                ]

    if main:
        built, stored = step("build"), step("register")
        if rendered.status == "passed":
            _build_and_register(
                report,
                buildable,
                built,
                stored,
                registry=registry,
                root=root,
                manifests=validation.manifests,
                out=out,
                image_prefix=image_prefix,
                build=build,
                push=push,
                plain_http=plain_http,
            )
    return report


@dataclass(frozen=True)
class Buildable:
    """What main mode builds and registers: an environment rendered into `out`."""

    name: str
    address: str
    image: bool  # docker.enabled: registered without an image otherwise


def _unregistered(
    registry: LazyRegistry, manifests: ValidManifests, planned: list[str]
) -> list[str]:
    """Environments the registry has no version of, beyond what the plan builds: a registry
    new to an existing repository gets every environment, not only what the diff reaches."""
    target = registry.get()
    if target is None:
        return []
    known = {record.name for record in target.versions(archived=True)}
    return sorted(set(manifests) - known - set(planned))


def _build_and_register(
    report: CiReport,
    buildable: list[Buildable],
    built: Step,
    stored: Step,
    *,
    registry: LazyRegistry,
    root: Path,
    manifests: ValidManifests,
    out: Path,
    image_prefix: str,
    build: bool,
    push: bool,
    plain_http: bool,
) -> None:
    """Build what the plan builds (and what the registry lacks), then register what built
    (nothing that failed)."""
    planned = buildable
    if not planned:
        built.status, built.summary = "passed", "nothing to build"
        stored.status, stored.summary = "passed", "nothing to register"
        return
    digests: dict[str, str] = {}
    images: dict[str, str] = {}
    names = [e.name for e in planned]
    if build:
        contexts = {
            e.name: build_context(
                manifests, e.name, out, image_tag(image_prefix, e.name, e.address)
            )
            for e in planned
            if e.image
        }
        try:
            outcomes = build_images(
                contexts,
                push=push,
                plain_http=plain_http,
                jobs=default_jobs(),
                logs=root / BUILD_LOGS,
            )
        except EnvcError as exc:
            built.status, built.details = "failed", str(exc).splitlines()
            return
        failed = [o for o in outcomes if o.status == "failed"]
        built.status = "failed" if failed else "passed"
        built.summary = f"{len(outcomes) - len(failed)} built, {len(failed)} failed"
        for outcome in failed:
            built.details += [f"{outcome.name}:", *outcome.log.splitlines()]
        images = {o.name: o.image for o in outcomes if o.status == "built"}
        digests = {o.name: o.digest for o in outcomes if o.digest}
        names = [n for n in names if n not in {o.name for o in failed}]
    else:
        built.summary = "--no-build: definitions are registered without images"
    if not names:
        stored.summary = "nothing built, so nothing registered"
        return
    target = registry.get()
    if target is None:
        stored.status = "failed"
        stored.summary = "registry unavailable" if registry.problem else "no registry"
        stored.details = registry.problem
        return
    try:
        registrations = register_repository(
            root, manifests, target, names, image_prefix=image_prefix, digests=digests
        )
    except EnvcError as exc:
        stored.status, stored.details = "failed", str(exc).splitlines()
        return
    report.registered = [
        {**o.registration.record.summary(), "created": o.registration.created}
        for o in registrations
    ]
    stored.status, stored.summary = "passed", f"{len(registrations)} registered"
    for registered in registrations:
        record = registered.registration.record
        if record.name in images and record.image:
            problem = tag_version(
                images[record.name], record.image, push=push, plain_http=plain_http
            )
            if problem:
                stored.status = "failed"
                stored.details += [
                    f"{record.name}: tagging {record.image} failed:",
                    *problem.splitlines(),
                ]
