"""Lock inputs: everything that decides an environment's lock, in canonical form, fingerprinted.

Every lock records a versioned fingerprint of its *inputs* (conda specs, pip requirements,
channels, Python version, platforms, virtual packages), so staleness is decided without solving
and without looking at file bytes: a comment or key order in the manifest does not make a lock
stale, a spec or channel change does.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler._util.jsontext import compact_json
from compiler.load.yamlio import read_yaml
from compiler.lock.conda import expand_channels
from compiler.manifest.model import Manifest
from compiler.validate.config import DEFAULT_CHANNELS
from compiler.validate.packages import conda_file_spec
from compiler.validate.references import read_requirements

LOCK_FORMAT_VERSION = 1
CONDA_LOCK_FILE = "conda-lock.yml"


# What the solver may assume each platform provides (the oldest systems we build for).
_BASE_VIRTUAL_PACKAGES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "linux-64": (("__unix", "0", "0"), ("__glibc", "2.28", "0"), ("__archspec", "1", "x86_64")),
    "linux-aarch64": (
        ("__unix", "0", "0"),
        ("__glibc", "2.28", "0"),
        ("__archspec", "1", "aarch64"),
    ),
    "osx-64": (("__unix", "0", "0"), ("__osx", "11.0", "0"), ("__archspec", "1", "x86_64")),
    "osx-arm64": (("__unix", "0", "0"), ("__osx", "11.0", "0"), ("__archspec", "1", "arm64")),
    "win-64": (("__win", "0", "0"), ("__archspec", "1", "x86_64")),
}


def explicit_file(platform: str) -> str:
    return f"conda-{platform}.lock"


def pip_file(platform: str) -> str:
    return f"requirements-{platform}.txt"


def pylock_file(platform: str) -> str:
    return f"pylock.{platform}.toml"  # PEP 751's name for a named lock: pylock.<name>.toml


def virtual_packages(platform: str, cuda: str | None) -> tuple[tuple[str, str, str], ...]:
    """Virtual packages for `platform`; `__cuda` for GPU environments off macOS."""
    base = _BASE_VIRTUAL_PACKAGES[platform]
    if cuda and not platform.startswith("osx"):
        return (*base, ("__cuda", cuda, "0"))
    return base


@dataclass(frozen=True)
class LockInputs:
    """Everything that decides a conda lock, in canonical form."""

    name: str
    channels: tuple[str, ...]
    specs: tuple[str, ...]
    platforms: tuple[str, ...]
    virtual: dict[str, tuple[tuple[str, str, str], ...]] = field(compare=False)
    pip: tuple[str, ...] = ()
    python: str | None = None
    pip_indexes: tuple[str, ...] = ()  # searched before the repository's index, in this order
    _fingerprint: str = field(default="", compare=False, repr=False)

    def document(self) -> dict[str, Any]:
        document = {
            "format_version": LOCK_FORMAT_VERSION,
            "channels": list(self.channels),
            "specs": list(self.specs),
            "pip": list(self.pip),
            "python": self.python,
            "platforms": list(self.platforms),
            "virtual_packages": {p: [list(v) for v in self.virtual[p]] for p in self.platforms},
        }
        if self.pip_indexes:  # only then: the locks of every other environment stay fresh
            document["pip_indexes"] = list(self.pip_indexes)
        return document

    def files(self) -> list[str]:
        """The lockfiles these inputs produce."""
        conda = [CONDA_LOCK_FILE, *map(explicit_file, self.platforms)] if self.specs else []
        pip = [f(p) for p in self.platforms for f in (pip_file, pylock_file)] if self.pip else []
        return conda + pip

    def fingerprint(self) -> str:
        # Asked for by every check and header of an environment: computed once.
        if not self._fingerprint:
            digest = hashlib.sha256(canonical_json(self.document()).encode()).hexdigest()
            object.__setattr__(self, "_fingerprint", "sha256:" + digest)
        return self._fingerprint


def canonical_json(value: Any) -> str:
    """Sorted keys, fixed separators, NFC strings: the same bytes on every machine."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
    elif isinstance(value, dict):
        value = {unicodedata.normalize("NFC", k): v for k, v in value.items()}
    return unicodedata.normalize("NFC", compact_json(value))


def declared_packages(manifest: Manifest, root: Path) -> tuple[list[str], list[str], list[str]]:
    """(channels, conda specs, pip requirements) as the manifest declares them, referenced
    files included, in their order."""
    specs = list(manifest.conda)
    channels = list(manifest.channels)
    pip = list(manifest.pip)
    if manifest.conda_file:
        data = read_yaml(root / manifest.conda_file, manifest.conda_file).data or {}
        channels += [c for c in data.get("channels") or [] if c not in channels]
        for item in data.get("dependencies") or []:
            if isinstance(item, str):
                specs.append(conda_file_spec(item))
            elif isinstance(item, dict):
                # (an option line left by validation names PyPI, the default)
                pip += [
                    r
                    for r in item.get("pip") or []
                    if isinstance(r, str) and not r.strip().startswith("-")
                ]
    if manifest.requirements_file:
        pip += read_requirements(root / manifest.requirements_file, root)
    return channels, specs, pip


def lock_inputs(
    manifest: Manifest, root: Path, default_channels: Sequence[str] = DEFAULT_CHANNELS
) -> LockInputs | None:
    """The lock inputs of a resolved manifest; None when it has nothing to lock."""
    channels, specs, pip = declared_packages(manifest, root)
    if not specs and not pip:
        return None
    version = manifest.python_version
    if specs and version and not any(re.match(r"python\b(?!-)", spec) for spec in specs):
        specs.append(f"python {version}.*" if version.count(".") == 1 else f"python =={version}")
    cuda = manifest.docker.cuda if manifest.docker.compute == "gpu" else None
    platforms = tuple(sorted(manifest.platforms))
    return LockInputs(
        name=manifest.name,
        channels=expand_channels(channels or default_channels, platforms),
        specs=tuple(sorted(set(specs))),
        platforms=platforms,
        virtual={platform: virtual_packages(platform, cuda) for platform in platforms},
        pip=tuple(sorted(set(pip))),
        python=version,
        pip_indexes=tuple(manifest.pip_indexes) if pip else (),
    )
