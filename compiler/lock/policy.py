"""envc.yaml's `policy:` checked against the manifests and the committed locks.

Manifest rules (allowed channels and pip indexes, base images by digest) are checked by
`envc validate`, and an environment's own pip indexes again before it is locked or installed;
lock rules (banned packages, version floors, direct or transitive, conda or pip, every platform) by
`envc lock` and `envc lock --check`, from the lockfiles as committed: no solving. Each finding
is at the line that causes it, with the rule's reason. A per-environment exception needs a
reason and an expiry date; an expired one is a finding itself. A rule that matches nothing, or
an exception for an environment that does not exist, is a warning.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from compiler._util.credentials import url_place, without_credentials
from compiler._util.files import UnreadableFile, read_text
from compiler.errors import Diagnostic, UsageError
from compiler.lock.inputs import CONDA_LOCK_FILE, explicit_file, pip_file
from compiler.lock.lockfiles import (
    LICENSE_KEY,
    locked_explicit,
    locked_licenses,
    locked_pip_pins,
    read_lockfiles,
)
from compiler.lock.pip import PipIndex
from compiler.manifest.model import Manifest, resolve
from compiler.manifest.patterns import spec_package
from compiler.manifest.sources import ValidManifests
from compiler.validate.config import (
    DEFAULT_CHANNELS,
    LicenseRules,
    PackageRule,
    Policy,
    RepositoryConfig,
)

RULE = "policy"
PYPI_INDEX = "https://pypi.org/simple"
# An exception's `rule` is one of these, else the package of a banned or floor rule.
RULE_NAMES = frozenset({"channels", "indexes", "mirrors", "base_images", "licenses"})


def check_policy(
    root: Path,
    manifests: ValidManifests,
    policy: Policy,
    names: Sequence[str] = (),
    *,
    manifest_rules: bool = True,
    locks: bool = True,
    default_channels: Sequence[str] = DEFAULT_CHANNELS,
    today: datetime.date | None = None,
) -> list[Diagnostic]:
    """Findings (errors) and warnings of `policy` over the named environments (default: all):
    the manifest rules and/or the lock rules."""
    if policy.empty:
        return []
    today = today or datetime.date.today()
    found: list[Diagnostic] = []
    matched: set[str] = set()
    rules = _rules_by_package(policy)
    selected = sorted(names or manifests)
    for exception in policy.exceptions:
        if exception.environment not in manifests:
            message = f"an exception for {exception.environment}, which is no environment"
            found.append(_warning("envc.yaml", message))
    for name in selected:
        folder = manifests[name][1]
        excused = set()
        for exception in (e for e in policy.exceptions if e.environment == name):
            if datetime.date.fromisoformat(exception.expires) < today:
                found.append(
                    _error(
                        f"{folder}/env.yaml",
                        1,
                        f"{name}: the policy exception for {exception.rule} expired on "
                        f"{exception.expires} ({exception.reason})",
                    )
                )
            else:
                excused.add(_rule_key(exception.rule))
        if manifest_rules:
            manifest = resolve(name, manifests)
            found += _manifest_rules(root, folder, manifest, policy, excused, default_channels)
        if locks:
            platforms = _locked_platforms(root / folder)
            found += _lock_rules(root / folder, folder, name, platforms, rules, excused, matched)
            if (policy.licenses.allow or policy.licenses.deny) and "licenses" not in excused:
                found += _license_rules(root / folder, folder, name, policy.licenses, excused)
    if locks and not names:
        for package in sorted(set(rules) - matched):
            found.append(_warning("envc.yaml", f"the policy rule on {package} matches no lock"))
    return found


def _rule_key(rule: str) -> str:
    """What an exception excuses: a rule's name, or a package (as PEP 503 spells it)."""
    return rule if rule in RULE_NAMES else spec_package(rule)


def check_sources(config: RepositoryConfig, config_file: Path) -> list[Diagnostic]:
    """envc.yaml's mirrors and pip index/find-links against the policy's `mirrors` and
    `indexes` (URL prefixes), at the envc.yaml line of each value."""
    urls = (config.pip.index_url, *config.pip.find_links)
    return [
        _error(config_file.name, _line_of(config_file, url), f"{message} ({', '.join(allowed)})")
        for url, message, allowed in _outside(config.policy, config.mirrors, urls)
    ]


def refuse_sources(policy: Policy, mirrors: Mapping[str, str], index: PipIndex) -> None:
    """Refuse (exit 2) to lock or install from a mirror or pip index the policy does not allow,
    wherever it was given (envc.yaml, --mirror, --pip-index, --pip-find-links)."""
    # No index and no find-links: uv asks PyPI.
    index_url = index.index_url or (None if index.find_links else PYPI_INDEX)
    refused = [
        message.replace(url, without_credentials(url))
        for url, message, _ in _outside(policy, mirrors, (index_url, *index.find_links))
    ]
    if refused:
        raise UsageError("; ".join(refused))


def refuse_environment_indexes(policy: Policy, name: str, urls: Sequence[str]) -> None:
    """Refuse (exit 2) to lock or install environment `name` from its own pip indexes
    (`pip_indexes`) where the policy does not allow them, unless an exception excuses it
    (expired or not, as for floors: an expired exception is a finding of its own)."""
    if "indexes" in {e.rule for e in policy.exceptions if e.environment == name}:
        return
    refused = [message for _, message, _ in _outside(policy, {}, urls)]
    if refused:
        raise UsageError(f"{name}: {'; '.join(refused)}")


def _outside(
    policy: Policy, mirrors: Mapping[str, str], pip_urls: Sequence[str | None]
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(url, why, what is allowed) of each mirror and pip URL outside the policy's lists; a
    local folder of wheels is the repository's own."""
    given = [(url, "mirrors", policy.mirrors) for url in mirrors.values()]
    given += [(url, "indexes", policy.indexes) for url in pip_urls if url and "://" in url]
    return [
        (url, f"{url} is not one of the {kind} the policy allows", allowed)
        for url, kind, allowed in given
        if allowed and not allowed_source(url, allowed)
    ]


def allowed_source(url: str, allowed: Sequence[str]) -> bool:
    """Whether `url` is one of `allowed` or under one (a URL prefix ending at a `/`); its
    credentials (`${USER}:${TOKEN}@`, `/t/${TOKEN}/`) aside: the policy names places, not
    logins."""
    url = url_place(url)
    return any(url == a.rstrip("/") or url.startswith(a.rstrip("/") + "/") for a in allowed)


def applicable_floors(policy: Policy, name: str) -> dict[str, str]:
    """Package -> minimum version, for the floors that apply to environment `name` (all but
    those an exception excuses, expired or not: an expired exception is a finding of its own,
    and the lock should not change under it by the calendar)."""
    excused = {_rule_key(e.rule) for e in policy.exceptions if e.environment == name}
    return {
        rule.package: rule.minimum
        for rule in policy.floors
        if not excused or spec_package(rule.package) not in excused
    }


def below_floors(pinned: Mapping[str, set[str]], floors: Mapping[str, str]) -> dict[str, str]:
    """Package -> why, for each package of `pinned` (canonical name -> its locked versions)
    locked below its floor."""
    below = {}
    for package, minimum in floors.items():
        key = spec_package(package)
        low = sorted(v for v in pinned.get(key, ()) if _below(v, minimum))
        if low:
            below[key] = f"{key} {'/'.join(low)} is below the policy floor {minimum}"
    return below


def _locked_platforms(folder: Path) -> list[str]:
    """The platforms the committed conda and pip lockfiles of `folder` are for."""
    found = {
        f.name.removeprefix("conda-").removesuffix(".lock") for f in folder.glob("conda-*.lock")
    }
    found |= {
        f.name.removeprefix("requirements-").removesuffix(".txt")
        for f in folder.glob("requirements-*.txt")
    }
    return sorted(found)


def _error(path: str, line: int, message: str) -> Diagnostic:
    return Diagnostic(path, line, 1, message, RULE, json_path="")


def _warning(path: str, message: str) -> Diagnostic:
    return Diagnostic(path, 1, 1, message, RULE, json_path="", severity="warning")


def _line_of(file: Path, text: str) -> int:
    """The first line of `file` that holds `text` (1 when none does)."""
    try:
        lines = read_text(file).splitlines()
    except UnreadableFile:
        return 1
    return next((n for n, line in enumerate(lines, start=1) if text in line), 1)


def _manifest_rules(
    root: Path,
    folder: str,
    manifest: Manifest,
    policy: Policy,
    excused: set[str],
    default_channels: Sequence[str],
) -> list[Diagnostic]:
    found = []
    file = root / folder / "env.yaml"
    if policy.channels and "channels" not in excused:
        allowed = {c.rstrip("/") for c in policy.channels}
        for channel in manifest.channels or list(default_channels):
            if url_place(channel) not in allowed:
                found.append(
                    _error(
                        f"{folder}/env.yaml",
                        _line_of(file, channel),
                        f"{manifest.name}: channel {channel} is not one the policy allows "
                        f"({', '.join(policy.channels)})",
                    )
                )
    if "indexes" not in excused:
        for url, message, indexes in _outside(policy, {}, manifest.pip_indexes):
            found.append(
                _error(
                    f"{folder}/env.yaml",
                    _line_of(file, url),
                    f"{manifest.name}: pip index {message} ({', '.join(indexes)})",
                )
            )
    image = manifest.docker.base_image or ""
    by_digest = policy.base_images == "digest" and "base_images" not in excused
    if by_digest and image and "@sha256:" not in image:
        found.append(
            _error(
                f"{folder}/env.yaml",
                _line_of(file, image),
                f"{manifest.name}: base image {image} is not pinned by digest "
                "(the policy wants image@sha256:…)",
            )
        )
    return found


def _lock_rules(
    folder: Path,
    shown: str,
    name: str,
    platforms: Sequence[str],
    rules: dict[str, list[PackageRule]],
    excused: set[str],
    matched: set[str],
) -> list[Diagnostic]:
    found: dict[tuple[str, str, str], Diagnostic] = {}  # one finding per lockfile and package
    for platform in platforms:
        pip, explicit = pip_file(platform), explicit_file(platform)
        pinned = [(p, v, explicit) for p, v, _ in locked_explicit(folder, platform)]
        pinned += [(p, v, pip) for p, v in locked_pip_pins(folder, platform)]
        for package, version, lockfile in pinned:
            key = spec_package(package)
            if key not in rules:  # the usual case: a lock holds hundreds, a policy names few
                continue
            for message in _violations(key, version, rules, matched):
                if key in excused:
                    continue
                pin = f"{package}-{version}" if lockfile == explicit else f"{package}=={version}"
                line = _line_of(folder / lockfile, pin)
                finding = _error(f"{shown}/{lockfile}", line, f"{name}: {message}")
                found.setdefault((lockfile, key, message), finding)
    return list(found.values())


def _rules_by_package(policy: Policy) -> dict[str, list[PackageRule]]:
    """Banned and floor rules by canonical package name: a lock holds hundreds of packages and
    a policy may hold hundreds of rules."""
    rules: dict[str, list[PackageRule]] = {}
    for rule in (*policy.banned, *policy.floors):
        rules.setdefault(spec_package(rule.package), []).append(rule)
    return rules


def _violations(
    package: str, version: str, rules: dict[str, list[PackageRule]], matched: set[str]
) -> list[str]:
    messages = []
    for rule in rules.get(package, ()):
        matched.add(package)
        if rule.minimum:
            if _below(version, rule.minimum):
                floor = f"{package} {version} is below the floor {rule.minimum}: {rule.reason}"
                messages.append(floor)
        elif not rule.versions or _in(version, rule.versions):
            what = f" ({rule.versions})" if rule.versions else ""
            messages.append(f"{package} {version} is banned{what}: {rule.reason}")
    return messages


def _in(version: str, specifier: str) -> bool:
    try:
        return Version(version) in SpecifierSet(specifier, prereleases=True)
    except (InvalidVersion, InvalidSpecifier):
        return False


def _below(version: str, minimum: str) -> bool:
    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return False


def _license_rules(
    folder: Path, shown: str, name: str, rules: LicenseRules, excused: set[str]
) -> list[Diagnostic]:
    """The licenses conda-lock.yml records for the locked conda packages, against the policy's
    allow and deny lists; a lock that records none (written before envc recorded them) or a
    package whose channel records none is a warning when there is an allow list."""
    text = read_lockfiles(folder, [CONDA_LOCK_FILE]).get(CONDA_LOCK_FILE)
    if text is None:
        return []
    licenses = locked_licenses(text)
    path = f"{shown}/{CONDA_LOCK_FILE}"
    if not licenses:
        message = f"{name}: the lock records no licenses; relock (envc lock --force {name})"
        return [_warning(path, message)] if rules.allow else []
    lines = {
        line.strip().removeprefix(LICENSE_KEY).partition(":")[0]: number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith(f"    {LICENSE_KEY}")
    }
    reason = f": {rules.reason}" if rules.reason else ""
    found = []
    unknown = sorted(p for p, e in licenses.items() if e.strip().lower() in ("", "none"))
    if unknown and rules.allow:
        shown_names = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        message = f"{name}: the channel records no license for {shown_names}"
        found.append(_warning(path, message))
    for package, expression in sorted(licenses.items()):
        if spec_package(package) in excused or package in unknown:
            continue
        problem = license_problem(expression, rules)
        if problem:
            message = f"{name}: {package} {problem}{reason}"
            found.append(_error(path, lines.get(package, 1), message))
    return found


def license_problem(expression: str, rules: LicenseRules) -> str | None:
    """Why `expression` (a channel's license field, SPDX-like) breaks `rules`, or None.

    One alternative of an OR that is allowed and not denied suffices; an alternative is all of
    its AND-ed identifiers (a WITH's exception is not a license). Case-insensitive."""
    allow = {a.lower() for a in rules.allow}
    deny = {d.lower() for d in rules.deny}
    flat = expression.replace("(", " ").replace(")", " ")
    alternatives = [
        [part.split(" with ")[0].strip() for part in alternative.split(" and ")]
        for alternative in " ".join(flat.split()).lower().split(" or ")
    ]
    if any(
        (not allow or all(i in allow for i in ids)) and not any(i in deny for i in ids)
        for ids in alternatives
    ):
        return None
    if all(any(i in deny for i in ids) for ids in alternatives):
        return f"is licensed {expression}, which the policy denies"
    return f"is licensed {expression}, which is not in the policy's allow list"
