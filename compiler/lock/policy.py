"""envc.yaml's `policy:` checked against the manifests and the committed locks.

Manifest rules (allowed channels, base images by digest) are checked by `envc validate`; lock
rules (banned packages, version floors, direct or transitive, conda or pip, every platform) by
`envc lock` and `envc lock --check`, from the lockfiles as committed: no solving. Each finding
is at the line that causes it, with the rule's reason. A per-environment exception needs a
reason and an expiry date; an expired one is a finding itself. A rule that matches nothing, or
an exception for an environment that does not exist, is a warning.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compiler._util.files import UnreadableFile, read_text
from compiler.errors import Diagnostic
from compiler.lock.inputs import explicit_file, pip_file
from compiler.lock.lockfiles import locked_explicit, locked_pip, locked_versions
from compiler.manifest.model import Manifest, resolve
from compiler.manifest.sources import ValidManifests
from compiler.validate.config import DEFAULT_CHANNELS, PackageRule, Policy

RULE = "policy"


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
                excused.add(exception.rule)
        if manifest_rules:
            manifest = resolve(name, manifests)
            found += _manifest_rules(root, folder, manifest, policy, excused, default_channels)
        if locks:
            platforms = _locked_platforms(root / folder)
            found += _lock_rules(root / folder, folder, name, platforms, rules, excused, matched)
    if locks and not names:
        for package in sorted(set(rules) - matched):
            found.append(_warning("envc.yaml", f"the policy rule on {package} matches no lock"))
    return found


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
            if channel.rstrip("/") not in allowed:
                found.append(
                    _error(
                        f"{folder}/env.yaml",
                        _line_of(file, channel),
                        f"{manifest.name}: channel {channel} is not one the policy allows "
                        f"({', '.join(policy.channels)})",
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
        pip = pip_file(platform)
        pinned = [
            (package, version, explicit_file(platform))
            for package, version, _ in locked_explicit(folder, platform)
        ]
        pip_pins = locked_versions({pip: locked_pip(folder, platform)[0]})[pip]
        pinned += [(package, version, pip) for package, version in pip_pins.items()]
        for package, version, lockfile in pinned:
            key = str(canonicalize_name(package))
            for message in _violations(key, version, rules, matched):
                if key in excused:
                    continue
                pin = (
                    f"{package}-{version}"
                    if lockfile == explicit_file(platform)
                    else (f"{package}=={version}")
                )
                line = _line_of(folder / lockfile, pin)
                finding = _error(f"{shown}/{lockfile}", line, f"{name}: {message}")
                found.setdefault((lockfile, key, message), finding)
    return list(found.values())


def _rules_by_package(policy: Policy) -> dict[str, list[PackageRule]]:
    """Banned and floor rules by canonical package name: a lock holds hundreds of packages and
    a policy may hold hundreds of rules."""
    rules: dict[str, list[PackageRule]] = {}
    for rule in (*policy.banned, *policy.floors):
        rules.setdefault(str(canonicalize_name(rule.package)), []).append(rule)
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
