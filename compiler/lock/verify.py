"""Verifying a lock's contents, not only its digests: reviewers do not read lockfiles, so envc does.

A header's digest proves only that the body was not edited after the header was written; anyone
can recompute it. So every lock that is otherwise fresh is also checked for what it says:

* conda: every URL is a package file of a channel the inputs declare (their canonical URLs, which
  locks record even when solved from a mirror), in the platform's subdir or `noarch`; the explicit
  files and `conda-lock.yml` name the same packages; every spec is satisfied by a locked record
  (py-rattler's MatchSpec);
* pip: hashed requirements hold pins and `--hash` lines and nothing else (an `--extra-index-url`
  or a URL requirement would reach pip in the build); every pin has a hash; `pylock.<platform>.toml`
  parses and pins exactly the same packages; every requirement without a marker is met by a pin
  (or left to conda).

Findings are `file:line: message` (the line of the lockfile, header included); never raised.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from compiler._util.credentials import unescaped_placeholders, without_credentials
from compiler.lock.inputs import CONDA_LOCK_FILE, LockInputs, explicit_file, pip_file, pylock_file
from compiler.lock.lockfiles import LOCK_SET_KEY, lock_set_id, read_header

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[A-Za-z0-9._,-]*\])?"
    r"==(?P<version>[A-Za-z0-9.+!_-]+)(?:\s*;\s*[^\\]+?)?\s*(?P<more>\\)?$"
)
_HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*(?P<more>\\)?$")
_PACKAGE_FILE = re.compile(r"^[^/#\s]+\.(?:conda|tar\.bz2)$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_EXCERPT = 80
_UNDECLARED = "is not from a declared channel"


@dataclass(frozen=True)
class LockProblem:
    file: str  # the lockfile's name, in the environment's folder
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _excerpt(text: str) -> str:
    text = without_credentials(text.strip())
    return repr(text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…")


def _body(texts: Mapping[str, str], name: str) -> tuple[str, int] | None:
    """The body of lockfile `name` and how many header lines precede it."""
    if name not in texts:
        return None
    read = read_header(Path(name), texts[name])
    if read is None:
        return None
    body = read[1]
    return body, texts[name][: len(texts[name]) - len(body)].count("\n")


def verify(inputs: LockInputs, folder: Path, texts: Mapping[str, str]) -> list[LockProblem]:
    """What is wrong with the contents of the lockfiles in `folder` (`texts`: name -> text,
    as read) for `inputs`."""
    problems = _one_set(texts)
    channels = [without_credentials(c).rstrip("/") + "/" for c in inputs.channels]
    explicit: dict[str, set[str]] = {}
    for platform in inputs.platforms if inputs.specs else ():
        name = explicit_file(platform)
        found = _body(texts, name)
        if found is not None:
            urls, found_problems = _explicit(name, *found, platform, channels)
            explicit[platform] = urls
            problems += found_problems
    in_conda_lock: dict[str, dict[str, str]] = {}
    if inputs.specs and CONDA_LOCK_FILE in texts:
        found_problems, in_conda_lock = _conda_lock(inputs, folder, channels, explicit)
        problems += found_problems
    if not inputs.pip and any(in_conda_lock.values()):
        problems.append(LockProblem(CONDA_LOCK_FILE, 1, "holds pip packages no manifest asks for"))
    for platform in inputs.platforms if inputs.pip else ():
        requirements = _body(texts, pip_file(platform))
        if requirements is None:
            continue
        pins, found_problems = _requirements(pip_file(platform), *requirements)
        problems += found_problems
        # Locks written before envc recorded the pip part in conda-lock.yml have none there.
        listed = in_conda_lock.get(platform)
        if listed and listed != pins:
            differing = sorted(set(listed.items()) ^ set(pins.items()))
            problems.append(
                LockProblem(
                    CONDA_LOCK_FILE,
                    1,
                    f"{platform}: its pip packages disagree with {pip_file(platform)} about "
                    f"{len(differing)} pin(s), e.g. {_excerpt('=='.join(differing[0]))}",
                )
            )
        pylock = _body(texts, pylock_file(platform))
        if pylock is not None:
            problems += _pylock(pylock_file(platform), *pylock, pins)
        problems += _pip_specs(inputs, platform, pins, explicit.get(platform, set()))
    return problems


def _one_set(texts: Mapping[str, str]) -> list[LockProblem]:
    """Whether the files come from one lock run: each names the same lock set, and that set is
    theirs (locks written before lock sets existed name none, all of them)."""
    named: dict[str, str] = {}
    bodies: dict[str, str] = {}
    for name, text in texts.items():
        read = read_header(Path(name), text)
        if read is not None:
            bodies[name] = read[1]
            if LOCK_SET_KEY in read[0]:
                named[name] = read[0][LOCK_SET_KEY]
    if not named:
        return []
    expected = lock_set_id(bodies)
    return [
        LockProblem(
            name,
            1,
            "from another lock run than the rest of the environment's lockfiles (a lock "
            "interrupted while writing, or an edit)",
        )
        for name in sorted(bodies)
        if named.get(name) != expected
    ]


def _explicit(
    name: str, body: str, offset: int, platform: str, channels: list[str]
) -> tuple[set[str], list[LockProblem]]:
    urls: set[str] = set()
    problems = []
    subdirs = (f"/{platform}/", "/noarch/")
    for number, line in enumerate(body.splitlines(), start=offset + 1):
        if not line.strip() or line.startswith("#") or line == "@EXPLICIT":
            continue
        url, _, md5 = line.partition("#")
        channel = next((c for c in channels if url.startswith(c)), None)
        rest = url[len(channel) - 1 :] if channel else ""
        if channel is None:
            problems.append(LockProblem(name, number, f"{_excerpt(url)} {_UNDECLARED}"))
        elif not rest.startswith(subdirs) or not _PACKAGE_FILE.match(rest.split("/", 2)[-1]):
            problems.append(
                LockProblem(name, number, f"{_excerpt(url)} is not a {platform} or noarch package")
            )
        elif md5 and not _MD5.match(md5):
            problems.append(LockProblem(name, number, f"{_excerpt(md5)} is not an MD5 digest"))
        else:
            urls.add(line)
    return urls, problems


def _conda_lock(
    inputs: LockInputs, folder: Path, channels: list[str], explicit: Mapping[str, set[str]]
) -> tuple[list[LockProblem], dict[str, dict[str, str]]]:
    """conda-lock.yml, read with py-rattler's lockfile reader (the format's own, and fast):
    conda packages of declared channels only, the same as the explicit files, every spec met;
    and its pip packages (platform -> canonical name -> version), checked by the caller."""
    from packaging.utils import canonicalize_name
    from rattler import LockFile, MatchSpec

    try:
        environment = LockFile.from_path(folder / CONDA_LOCK_FILE).default_environment()
    except Exception as exc:  # py-rattler's parse errors are its own types
        message = f"not a conda-lock file: {_excerpt(str(exc))}"
        return [LockProblem(CONDA_LOCK_FILE, 1, message)], {}
    if environment is None:
        return [LockProblem(CONDA_LOCK_FILE, 1, "no default environment")], {}
    problems = []
    platforms = {platform.name: platform for platform in environment.platforms()}
    for name in sorted(set(platforms) - set(inputs.platforms)):
        problems.append(LockProblem(CONDA_LOCK_FILE, 1, f"locks {name}, not a locked platform"))
    pip = {
        platform: {str(canonicalize_name(p.name)): str(p.version) for p in packages}
        for platform, packages in (
            (name, environment.pypi_packages_for_platform(lock_platform) or [])
            for name, lock_platform in platforms.items()
        )
    }
    for platform in inputs.platforms:
        records = (
            environment.conda_repodata_records_for_platform(platforms[platform]) or []
            if platform in platforms
            else []
        )
        listed = set()
        for record in records:
            url = unescaped_placeholders(record.url)  # (rattler reads `${` as `$%7B`)
            if not any(url.startswith(c) for c in channels):
                problems.append(LockProblem(CONDA_LOCK_FILE, 1, f"{_excerpt(url)} {_UNDECLARED}"))
            md5 = record.md5.hex() if record.md5 else ""
            listed.add(f"{url}#{md5}" if md5 else url)
        if platform in explicit and listed != explicit[platform]:
            differing = sorted(listed ^ explicit[platform])
            problems.append(
                LockProblem(
                    CONDA_LOCK_FILE,
                    1,
                    f"{platform}: disagrees with {explicit_file(platform)} about "
                    f"{len(differing)} package(s), e.g. {_excerpt(differing[0])}",
                )
            )
        for spec in inputs.specs:
            if not any(MatchSpec(spec).matches(record) for record in records):
                problems.append(
                    LockProblem(
                        CONDA_LOCK_FILE, 1, f"{platform}: no locked package satisfies {spec!r}"
                    )
                )
    return problems, pip


def _requirements(name: str, body: str, offset: int) -> tuple[dict[str, str], list[LockProblem]]:
    """The pins (canonical name -> version) of hashed requirements, and what else is there."""
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    problems = []
    current: str | None = None  # the pin whose hash lines follow
    hashes = 0
    continued = False

    def close(number: int) -> None:
        if current is not None and hashes == 0:
            problems.append(LockProblem(name, number, f"{current} has no --hash"))

    for number, line in enumerate(body.splitlines(), start=offset + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        hashed = _HASH.match(line)
        pin = None if hashed else _PIN.match(line)
        if hashed and continued:
            hashes += 1
            continued = bool(hashed["more"])
        elif pin and not continued:
            close(number)
            current, hashes = pin["name"], 0
            pins[canonicalize_name(pin["name"])] = pin["version"]
            continued = bool(pin["more"])
        else:
            problems.append(
                LockProblem(
                    name,
                    number,
                    f"only name==version pins and --hash lines belong here, not {_excerpt(line)}",
                )
            )
            continued = False
    close(offset + len(body.splitlines()))
    return pins, problems


def _pylock(name: str, body: str, offset: int, pins: Mapping[str, str]) -> list[LockProblem]:
    from packaging.utils import canonicalize_name

    try:
        document = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"line (\d+)", str(exc))
        line = offset + int(where.group(1)) if where else 1
        return [LockProblem(name, line, f"not valid TOML: {_excerpt(str(exc))}")]
    packages = document.get("packages")
    if not isinstance(packages, list):
        return [LockProblem(name, offset + 1, "no [[packages]]")]
    pinned = {
        canonicalize_name(str(p.get("name"))): str(p.get("version"))
        for p in packages
        if isinstance(p, dict)
    }
    if pinned != dict(pins):
        differing = sorted(set(pinned.items()) ^ set(pins.items()))
        return [
            LockProblem(
                name,
                offset + 1,
                f"pins {len(differing)} package version(s) the hashed requirements do not, "
                f"e.g. {differing[0][0]}=={differing[0][1]}",
            )
        ]
    return []


def _pip_specs(
    inputs: LockInputs, platform: str, pins: Mapping[str, str], conda_urls: set[str]
) -> list[LockProblem]:
    """Requirements (without markers) that no pin meets; those conda installs are conda's."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    conda_names = {
        canonicalize_name(url.split("#")[0].rsplit("/", 1)[-1].rsplit("-", 2)[0])
        for url in conda_urls
    }
    problems = []
    for text in inputs.pip:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # validation reports it
        if requirement.marker is not None or requirement.url:
            continue  # depends on the interpreter and platform; uv decided
        name = canonicalize_name(requirement.name)
        if name in pins:
            if not requirement.specifier.contains(pins[name], prereleases=True):
                problems.append(
                    LockProblem(
                        pip_file(platform),
                        1,
                        f"{name}=={pins[name]} does not satisfy {_excerpt(text)}",
                    )
                )
        elif name not in conda_names:
            problems.append(LockProblem(pip_file(platform), 1, f"{_excerpt(text)} is not locked"))
    return problems
