"""What a plan says: per environment, what happens to it and why (the plan's JSON is this, see
schemas/plan.schema.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from compiler.errors import Diagnostic

PLAN_FORMAT_VERSION = 1
# "reuse": changed, but the registry already holds that content address.
Status = Literal["added", "changed", "reuse", "removed", "unchanged"]


class EnvironmentPlan(NamedTuple):
    """One environment's line of the plan (a named tuple: a plan of 50,000 makes 50,000)."""

    name: str
    status: Status
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


def archived_content(name: str, version: int) -> str:
    """Why the content of an archived version is not registered again (plan and register)."""
    return (
        f"{name} is the content of {name}@{version}, which is archived: an archived version "
        "is never registered again; change the environment to register a new version"
    )
