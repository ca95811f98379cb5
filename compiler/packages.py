"""Checks of single package specifications: conda MatchSpecs (py-rattler) and PEP 508 (packaging).

Both parsers are imported on first use only: `envc validate` of a manifest without packages does
not pay for them. A spec must parse *and* stay inside a conservative character set, because specs
end up in lockfiles, Dockerfiles and shell lines (rattler, for one, reads `numpy >=1; rm -rf` as a
build string).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Characters a conda MatchSpec can need: names, versions, operators, channel::name, [key='value'].
_CONDA_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-*=<>!,|~\[\]'\"/:@+ ]")
# PEP 508 needs quotes and ';' for markers and '@' for URLs; command substitution and escapes it
# never needs.
_PIP_UNSAFE = re.compile(r"[`$\\|&]")


def _unsafe(pattern: re.Pattern[str], spec: str) -> str | None:
    found = pattern.search(spec)
    if found:
        return f"character {found.group()!r} is not allowed in a package specification"
    return None


@cache
def _match_spec() -> Any:
    from rattler import MatchSpec

    return MatchSpec


@cache
def _requirement() -> tuple[Any, Any]:
    from packaging.requirements import InvalidRequirement, Requirement

    return Requirement, InvalidRequirement


@cache  # the same pins recur across a repository's environments
def conda_spec_problem(spec: str) -> str | None:
    """Why `spec` is not an acceptable conda MatchSpec, or None."""
    problem = _unsafe(_CONDA_UNSAFE, spec)
    if problem:
        return problem
    try:
        _match_spec()(spec, strict=True)
    except Exception as exc:  # rattler raises its own error types for every parse failure
        return f"invalid conda MatchSpec {spec!r}: {str(exc).splitlines()[0]}"
    return None


@cache
def pip_requirement_problem(spec: str) -> str | None:
    """Why `spec` is not an acceptable PEP 508 requirement, or None."""
    problem = _unsafe(_PIP_UNSAFE, spec)
    if problem:
        return problem
    requirement, invalid = _requirement()
    try:
        requirement(spec)
    except invalid as exc:
        return f"invalid pip requirement {spec!r}: {str(exc).splitlines()[0]}"
    return None
