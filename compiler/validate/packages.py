"""Checks of single package specifications: conda MatchSpecs (py-rattler) and PEP 508 (packaging).

A spec must parse *and* stay inside a conservative character set, because specs end up in
lockfiles, Dockerfiles and shell lines (rattler, for one, reads `numpy >=1; rm -rf` as a build
string). Both parsers are imported on first use only: the usual shapes (`numpy >=1.26,<3`,
`requests[socks]>=2.32`) need neither, and other specs that parsed before with the same parser
versions are remembered in the user's cache folder (KnownGoodSpecs), so the pre-commit hook
usually imports neither.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import read_json, write_json

# Characters a conda MatchSpec can need: names, versions, operators, channel::name, [key='value'].
_CONDA_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-*=<>!,|~\[\]'\"/:@+ ]")
# PEP 508 needs quotes and ';' for markers and '@' for URLs; command substitution and escapes it
# never needs.
_PIP_UNSAFE = re.compile(r"[`$\\|&]")


# The usual shapes, checked without importing a parser (the pre-commit hook on a fresh clone):
# a name and comma-joined version bounds, and for pip extras. Narrower than what the parsers
# accept (tests generate from these patterns and parse with the real ones); all else is parsed.
_NUMBER = r"[0-9]{1,9}(?:\.[0-9]{1,9})*"  # (rattler refuses a number past 64 bits)
_CONDA_BOUND = rf"(?:>=|<=|>|<|==|!=){_NUMBER}|{_NUMBER}\.\*"
PLAIN_CONDA = re.compile(rf"[a-z0-9_][a-z0-9_.-]*(?: (?:{_CONDA_BOUND})(?:,(?:{_CONDA_BOUND}))*)?")
_PIP_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PIP_BOUND = rf"(?:>=|<=|>|<|==|!=){_NUMBER}|(?:==|!=){_NUMBER}\.\*|~={_NUMBER}\.[0-9]{{1,9}}"
PLAIN_PIP = re.compile(
    rf"{_PIP_NAME}(?:\[{_PIP_NAME}(?:,{_PIP_NAME})*\])?(?:(?:{_PIP_BOUND})(?:,(?:{_PIP_BOUND}))*)?"
)


def _unsafe(pattern: re.Pattern[str], spec: str) -> str | None:
    found = pattern.search(spec)
    if found:
        return f"character {found.group()!r} is not allowed in a package specification"
    return None


@cache
def _match_spec() -> Any:
    from rattler import MatchSpec

    return MatchSpec


def strict_parse_error(spec: str) -> str | None:
    """Why rattler's strict MatchSpec parser refuses `spec` (its first line), or None."""
    try:
        _match_spec()(spec, strict=True)
    except Exception as exc:  # rattler raises its own error types for every parse failure
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    return None


def strict_conda_form(spec: str) -> str | None:
    """The MatchSpec conda's `=` forms mean, in the form the strict parser takes
    (`libblas=*=*mkl` -> `libblas * *mkl`, `python=3.12.*` -> `python 3.12.*`); None for a
    spec of another form (a typo such as `nump y` must not be given a meaning)."""
    if "=" not in spec or any(c.isspace() for c in spec.strip()):
        return None
    try:
        parsed = _match_spec()(spec.strip())
    except Exception:  # rattler raises its own error types for every parse failure
        return None
    written, build = str(parsed), parsed.build
    if build and written.endswith(f" {build}") and strict_parse_error(written) is not None:
        # A build with a dot (pytorch's `py3.10_cuda12.1_cudnn8.9.2_0`), which the strict
        # parser takes only inside brackets.
        head = written[: -len(build) - 1].removesuffix(" *")
        written = f"{head}[build='{build}']"
    return written if strict_parse_error(written) is None else None


# conda's `=` forms the strict parser refuses: a build after a second `=`, or a `.*` after `=`
# (`numpy=1.26.4=py311h64a7726_0`, `python=3.12.*`); `python=3.10` it takes.
_EQUALS_FORM = re.compile(r"[^=<>!~\s]+==?[^=\s]*(?:=[^=\s]+|\.\*)")


def conda_file_spec(spec: str) -> str:
    """A line of a conda environment file as the lock reads it: conda's own `=` forms
    (`numpy=1.26.4=py311h64a7726_0`, as `conda env export` writes them) as the strict spec they
    mean (`strict_conda_form`); any other spec as it is. Only those forms are given to the
    parser: render and plan read every lock's inputs and otherwise never import it."""
    if not _EQUALS_FORM.fullmatch(spec) or strict_parse_error(spec) is None:
        return spec
    return _equals_form_meaning(spec) or spec


def _equals_form_meaning(spec: str) -> str | None:
    """The strict spec one of conda's `=` forms means (_EQUALS_FORM), None for another spec:
    what a conda file may say besides strict specs, and what the lock reads it as."""
    return strict_conda_form(spec) if _EQUALS_FORM.fullmatch(spec) else None


@cache
def _requirement() -> tuple[Any, Any]:
    from packaging.requirements import InvalidRequirement, Requirement

    return Requirement, InvalidRequirement


def _parsers_fingerprint() -> str:
    """Changes whenever envc, py-rattler or packaging is upgraded (without importing them)."""
    from importlib.util import find_spec

    parts = [__version__]
    for name in ("rattler", "packaging"):
        origin = getattr(find_spec(name), "origin", None)
        status = os.stat(origin) if origin else None
        parts.append(f"{name}:{status.st_mtime_ns}:{status.st_size}" if status else name)
    return "|".join(parts)


class KnownGoodSpecs:
    """Specs that parsed in an earlier run with the same parsers. Only successes are kept, so a
    stale or missing cache only costs a parse; it is never trusted across parser upgrades."""

    FORMAT_VERSION = 1
    LIMIT = 50_000

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._specs: tuple[set[str], set[str]] | None = None  # (conda, pip), once read
        self.learned = False
        self.fingerprint = ""

    @classmethod
    def load(cls, file: Path) -> KnownGoodSpecs:
        """The specs remembered in `file`, read when first asked for (plain specs never ask)."""
        return cls(file)

    @property
    def conda(self) -> set[str]:
        return self._read()[0]

    @property
    def pip(self) -> set[str]:
        return self._read()[1]

    def _read(self) -> tuple[set[str], set[str]]:
        if self._specs is not None:
            return self._specs
        self._specs = (set(), set())
        if self.file is None:
            return self._specs
        self.fingerprint = _parsers_fingerprint()
        stored = read_json(self.file)
        if (
            isinstance(stored, dict)
            and stored.get("format_version") == self.FORMAT_VERSION
            and stored.get("parsers") == self.fingerprint
            and isinstance(stored.get("conda"), list)
            and isinstance(stored.get("pip"), list)
        ):
            self._specs = (
                {spec for spec in stored["conda"] if isinstance(spec, str)},
                {spec for spec in stored["pip"] if isinstance(spec, str)},
            )
        return self._specs

    def learn(self, kind: str, spec: str) -> None:
        if self.file is not None and len(self.conda) + len(self.pip) < self.LIMIT:
            (self.conda if kind == "conda" else self.pip).add(spec)
            self.learned = True

    def save(self) -> None:
        if self.file is not None and self.learned:
            write_json(
                self.file,
                {
                    "format_version": self.FORMAT_VERSION,
                    "parsers": self.fingerprint,
                    "conda": sorted(self.conda),
                    "pip": sorted(self.pip),
                },
            )


class SpecChecks:
    """The spec checks of one validation run: each distinct spec is checked once (the same pins
    recur across a repository's environments), and specs `known` to parse skip the parser. A
    value, passed to the rules that check specs; nothing here is global."""

    def __init__(self, known: KnownGoodSpecs | None = None) -> None:
        self.known = known if known is not None else KnownGoodSpecs()
        self._answers: dict[tuple[str, str], str | None] = {}

    def conda(self, spec: str) -> str | None:
        """Why `spec` is not an acceptable conda MatchSpec, or None."""
        key = ("conda", spec)
        if key not in self._answers:
            self._answers[key] = self._check_conda(spec)
        return self._answers[key]

    def conda_in_file(self, spec: str) -> str | None:
        """Why `spec`, a line of a conda environment file, is not acceptable, or None: conda's
        own `=` forms are, as the strict spec they mean (conda_file_spec)."""
        problem = self.conda(spec)
        if problem is None or _unsafe(_CONDA_UNSAFE, spec) or _equals_form_meaning(spec) is None:
            return problem
        return None

    def pip(self, spec: str) -> str | None:
        """Why `spec` is not an acceptable PEP 508 requirement, or None."""
        key = ("pip", spec)
        if key not in self._answers:
            self._answers[key] = self._check_pip(spec)
        return self._answers[key]

    def _check_conda(self, spec: str) -> str | None:
        if PLAIN_CONDA.fullmatch(spec):
            return None
        problem = _unsafe(_CONDA_UNSAFE, spec)
        if problem or spec in self.known.conda:
            return problem
        refused = strict_parse_error(spec)
        if refused is not None:
            why = f"invalid conda MatchSpec {spec!r}: {refused}"
            strict = strict_conda_form(spec)
            return f"{why}; write it as {strict!r}" if strict else why
        self.known.learn("conda", spec)
        return None

    def _check_pip(self, spec: str) -> str | None:
        if PLAIN_PIP.fullmatch(spec):
            return None
        problem = _unsafe(_PIP_UNSAFE, spec)
        if problem or spec in self.known.pip:
            return problem
        requirement, invalid = _requirement()
        try:
            requirement(spec)
        except invalid as exc:
            return f"invalid pip requirement {spec!r}: {str(exc).splitlines()[0]}"
        self.known.learn("pip", spec)
        return None
