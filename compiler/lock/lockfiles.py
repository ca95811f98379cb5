"""Lock stage: an environment's inputs -> a solve per platform -> lockfiles beside it.

Every lock records a versioned fingerprint of its *inputs* (conda specs, pip requirements,
channels, Python version, platforms, virtual packages), so staleness is decided without solving
and without looking at file bytes: a comment or key order in the manifest does not make a lock
stale, a spec or channel change does.

Files written beside `env.yaml`, each starting with a header (source, regenerate command, input
fingerprint, the inputs themselves, a digest of the body):
* `conda-lock.yml`: conda-lock's unified format, version 1 (read by `conda-lock install` and
  `micromamba create -f`); the inputs are also in `metadata.custom_metadata`;
* `conda-<platform>.lock`: explicit files (`@EXPLICIT`, URLs with `#md5`) for conda/micromamba;
* `requirements-<platform>.txt`: the pip part, with hashes (see pip_lock.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler._util.credentials import placeholders, without_credentials
from compiler.errors import EnvcError
from compiler.load.yamlio import read_yaml
from compiler.lock.conda import canonical_channel
from compiler.manifest.model import Manifest, PythonSettings
from compiler.validate.references import read_requirements

LOCK_FORMAT_VERSION = 1
CONDA_LOCK_FILE = "conda-lock.yml"
DEFAULT_CHANNELS = ("conda-forge",)
MAX_LOCK_BYTES = 64 * 1024 * 1024

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
    _fingerprint: str = field(default="", compare=False, repr=False)

    def document(self) -> dict[str, Any]:
        return {
            "format_version": LOCK_FORMAT_VERSION,
            "channels": list(self.channels),
            "specs": list(self.specs),
            "pip": list(self.pip),
            "python": self.python,
            "platforms": list(self.platforms),
            "virtual_packages": {p: [list(v) for v in self.virtual[p]] for p in self.platforms},
        }

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
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return unicodedata.normalize("NFC", text)


def _python_version(manifest: Manifest) -> str | None:
    python = manifest.python
    return python.version if isinstance(python, PythonSettings) else python


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
                specs.append(item)
            elif isinstance(item, dict):
                pip += [r for r in item.get("pip") or [] if isinstance(r, str)]
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
    version = _python_version(manifest)
    if specs and version and not any(re.match(r"python\b(?!-)", spec) for spec in specs):
        specs.append(f"python {version}.*" if version.count(".") == 1 else f"python =={version}")
    cuda = manifest.docker.cuda if manifest.docker.compute == "gpu" else None
    platforms = tuple(sorted(manifest.platforms))
    return LockInputs(
        name=manifest.name,
        channels=tuple(canonical_channel(c) for c in (channels or default_channels)),
        specs=tuple(sorted(set(specs))),
        platforms=platforms,
        virtual={platform: virtual_packages(platform, cuda) for platform in platforms},
        pip=tuple(sorted(set(pip))),
        python=version,
    )


def _dependencies(depends: Sequence[str]) -> dict[str, str]:
    out = {}
    for dependency in depends:
        name, _, constraint = dependency.partition(" ")
        out[name] = constraint.strip() or "*"
    return out


def render_conda_lock(
    inputs: LockInputs, records: Mapping[str, list[dict[str, Any]]], manifest_name: str
) -> str:
    """conda-lock's unified lockfile (version 1), byte-stable."""
    from io import StringIO

    from ruamel.yaml import YAML

    packages = [
        {
            "name": record["name"],
            "version": record["version"],
            "manager": "conda",
            "platform": platform,
            "dependencies": _dependencies(record["depends"]),
            "url": record["url"],
            "hash": {key: record[key] for key in ("md5", "sha256") if record[key]},
            "category": "main",
            "optional": False,
        }
        for platform in inputs.platforms
        for record in records[platform]
    ]
    document = {
        "version": 1,
        "metadata": {
            "content_hash": {p: inputs.fingerprint() for p in inputs.platforms},
            "channels": [
                {"url": without_credentials(c), "used_env_vars": placeholders(c)}
                for c in inputs.channels
            ],
            "platforms": list(inputs.platforms),
            "sources": [manifest_name],
            "custom_metadata": {
                "envc_input_fingerprint": inputs.fingerprint(),
                "envc_inputs": canonical_json(inputs.document()),
            },
        },
        "package": packages,
    }
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = StringIO()
    yaml.dump(document, buffer)
    return _with_header(inputs, manifest_name, [], buffer.getvalue())


def render_explicit(
    inputs: LockInputs, platform: str, records: list[dict[str, Any]], manifest_name: str
) -> str:
    urls = [f"{r['url']}#{r['md5']}" if r["md5"] else r["url"] for r in records]
    body = "@EXPLICIT\n" + "".join(url + "\n" for url in urls)
    return _with_header(inputs, manifest_name, [f"# platform: {platform}"], body)


def render_pip(inputs: LockInputs, platform: str, locked: str, manifest_name: str) -> str:
    """uv's hashed requirements for `platform`, under envc's header."""
    extra = [
        f"# platform: {platform}",
        "# Install with: pip install --require-hashes -r <this file>",
    ]
    return _with_header(inputs, manifest_name, extra, locked)


def render_pylock(inputs: LockInputs, platform: str, pylock: str, manifest_name: str) -> str:
    """uv's PEP 751 lock for `platform`, under envc's header (TOML comments)."""
    extra = [f"# platform: {platform}", "# Install with: uv pip sync <this file>"]
    return _with_header(inputs, manifest_name, extra, pylock)


def _with_header(inputs: LockInputs, manifest_name: str, extra: list[str], body: str) -> str:
    """Prefix a header naming the source, the command, the input fingerprint and a digest of
    the body: `--check` compares those two lines instead of parsing the file."""
    lines = [
        f"# Generated by envc from {manifest_name}; do not edit.",
        f"# Regenerate with: envc lock {inputs.name}",
        *extra,
        f"# input-fingerprint: {inputs.fingerprint()}",
        f"# inputs: {canonical_json(inputs.document())}",
        f"# body-sha256: {hashlib.sha256(body.encode()).hexdigest()}",
    ]
    return "\n".join(lines) + "\n" + body


def read_lockfiles(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """The text of each of `names` in `folder` that exists and is UTF-8."""
    texts = {}
    for name in names:
        with suppress(OSError, UnicodeDecodeError):
            texts[name] = (folder / name).read_text(encoding="utf-8")
    return texts


def _read_header(file: Path, text: str | None = None) -> tuple[dict[str, str], str] | None:
    """The `# key: value` header of a lockfile envc wrote (or of its `text`, already read),
    and the rest of it."""
    if text is None:
        text = read_lockfiles(file.parent, [file.name]).get(file.name)
        if text is None:
            return None
    header: dict[str, str] = {}
    position = 0
    while text.startswith("# ", position):
        end = text.find("\n", position)
        if end < 0:
            return None
        key, _, value = text[position + 2 : end].partition(": ")
        header[key] = value
        position = end + 1
    return header, text[position:]


def _intact(file: Path, fingerprint: str, text: str | None = None) -> bool:
    """Whether `file` was written by envc from inputs with `fingerprint` and not edited since."""
    read = _read_header(file, text)
    if read is None:
        return False
    header, body = read
    return (
        header.get("input-fingerprint") == fingerprint
        and header.get("body-sha256") == hashlib.sha256(body.encode()).hexdigest()
    )


def write_atomically(target: Path, content: str | bytes) -> bool:
    """Write `content` unless the file already holds it; True when the file changed."""
    data = content.encode() if isinstance(content, str) else content
    try:
        if target.read_bytes() == data:
            return False
    except OSError:
        pass
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)  # nothing half-written stays behind
        if isinstance(exc, OSError):  # name the file the caller asked for, not the temporary
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise
    return True


def remove_abandoned_temporaries(folder: Path) -> None:
    """Delete temporary files that a killed `envc lock` left (their process is gone)."""
    for temporary in folder.glob(".*.*.tmp"):
        pid = temporary.name.rsplit(".", 2)[-2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            temporary.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, and someone else's


def _explicit_records(body: str) -> list[tuple[str, str, str]]:
    """(name, version, build) of each URL line of an explicit lockfile's body."""
    records = []
    for line in body.splitlines():
        if "://" not in line:
            continue
        file_name = line.split("#", 1)[0].rsplit("/", 1)[-1]
        stem = file_name.removesuffix(".conda").removesuffix(".tar.bz2")
        parts = stem.rsplit("-", 2)
        if len(parts) == 3:
            records.append((parts[0], parts[1], parts[2]))
    return records


def _pip_pins(body: str) -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line of a hashed requirements file."""
    return [
        (name, version.split(" ", 1)[0].rstrip("\\").strip())
        for line in body.splitlines()
        if "==" in line and not line.startswith((" ", "#"))
        for name, version in [line.split("==", 1)]
    ]


def locked_explicit(folder: Path, platform: str) -> list[tuple[str, str, str]]:
    """(name, version, build) of the records in an explicit lockfile; [] when there is none."""
    read = _read_header(folder / explicit_file(platform))
    return [] if read is None else _explicit_records(read[1])


def locked_pip(folder: Path, platform: str) -> tuple[str, list[str]]:
    """The body of the pip lockfile for `platform` ("" when none) and the names it pins."""
    read = _read_header(folder / pip_file(platform))
    if read is None:
        return "", []
    return read[1], [name for name, _ in _pip_pins(read[1])]


def locked_versions(lockfiles: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Package -> version, per explicit or pip lockfile of `lockfiles` (name -> text)."""
    versions = {}
    for name, text in lockfiles.items():
        if name.startswith("conda-") and name.endswith(".lock"):
            versions[name] = {p: v for p, v, _ in _explicit_records(text)}
        elif name.startswith("requirements-"):
            versions[name] = dict(_pip_pins(text))
    return versions


def _locked_packages(folder: Path) -> list[dict[str, Any]]:
    """The package entries of `conda-lock.yml` (read with envc's fast YAML reader)."""
    content = read_yaml(folder / CONDA_LOCK_FILE, CONDA_LOCK_FILE, max_bytes=MAX_LOCK_BYTES).data
    packages = content.get("package") if isinstance(content, dict) else None
    return [p for p in packages if isinstance(p, dict)] if isinstance(packages, list) else []


def _stored_inputs(folder: Path, files: Sequence[str]) -> dict[str, Any] | None:
    for name in files:
        read = _read_header(folder / name)
        if read is not None and "inputs" in read[0]:
            try:
                stored = json.loads(read[0]["inputs"])
            except ValueError:
                continue
            if isinstance(stored, dict):
                return stored
    return None


def fresh_lockfiles(inputs: LockInputs, folder: Path) -> dict[str, str]:
    """The lockfiles of `inputs` in `folder`, read once; an error naming why when they are not
    fresh (the user's next step is `envc lock NAME`)."""
    texts = read_lockfiles(folder, inputs.files())
    reasons = staleness(inputs, folder, texts)
    if reasons:
        raise EnvcError(
            f"{inputs.name}: the lock is stale ({'; '.join(reasons)}); run envc lock {inputs.name}"
        )
    return texts


def staleness(
    inputs: LockInputs, folder: Path, texts: Mapping[str, str] | None = None
) -> list[str]:
    """Why the lock in `folder` does not match `inputs` (empty: fresh). Never solves.

    Fast path: every lockfile's header carries these inputs' fingerprint and its body's digest
    (`texts`: lockfiles already read, by name). Otherwise the inputs stored in the headers are
    compared to say what changed."""
    files = inputs.files()
    fingerprint = inputs.fingerprint()
    texts = texts or {}
    if all(_intact(folder / name, fingerprint, texts.get(name)) for name in files):
        return []
    stored = _stored_inputs(folder, files)
    if stored is None:
        return ["not locked yet"]
    current = inputs.document()
    reasons = []
    if stored.get("format_version") != current["format_version"]:
        reasons.append(f"lock format {stored.get('format_version')} -> {LOCK_FORMAT_VERSION}")
    for key, noun in (
        ("specs", "spec"),
        ("pip", "pip requirement"),
        ("channels", "channel"),
        ("platforms", "platform"),
    ):
        before, after = stored.get(key) or [], current[key]
        reasons += [f"{noun} added: {item}" for item in after if item not in before]
        reasons += [f"{noun} removed: {item}" for item in before if item not in after]
    if key_order_changed(stored.get("channels") or [], current["channels"]):
        reasons.append("channel order changed")
    if stored.get("python") != current["python"]:
        reasons.append(f"python {stored.get('python')} -> {current['python']}")
    for platform in current["platforms"]:
        before_virtual = (stored.get("virtual_packages") or {}).get(platform)
        if before_virtual not in (None, current["virtual_packages"][platform]):
            reasons.append(f"virtual packages changed for {platform}")
    if not reasons and canonical_json(stored) != canonical_json(current):
        reasons.append("lock inputs changed")
    if not reasons:
        if inputs.specs:
            reasons += unsatisfied(inputs, _locked_packages(folder))
        for name in files:
            if not (folder / name).is_file():
                reasons.append(f"{name} is missing")
            elif not _intact(folder / name, fingerprint):
                reasons.append(f"{name} was edited by hand")
    return reasons


def key_order_changed(before: list[str], after: list[str]) -> bool:
    common = [c for c in after if c in before]
    return common != [c for c in before if c in after]


def unsatisfied(inputs: LockInputs, packages: list[dict[str, Any]]) -> list[str]:
    """Specs no locked record satisfies (a hand-edited lock), per platform."""
    from rattler import BuildString, MatchSpec, PackageRecord

    reasons = []
    for platform in inputs.platforms:
        records = []
        for package in packages:
            if package.get("platform") != platform or package.get("manager") != "conda":
                continue
            try:
                build = str(package["url"]).rsplit("/", 1)[-1].rsplit("-", 1)[-1]
                build = build.removesuffix(".conda").removesuffix(".tar.bz2")
                records.append(
                    PackageRecord(
                        str(package["name"]),
                        str(package["version"]),
                        BuildString(build),
                        0,
                        platform,
                    )
                )
            except Exception:
                reasons.append(f"unreadable package entry in {CONDA_LOCK_FILE}")
        for spec in inputs.specs:
            match = MatchSpec(spec)
            if not any(match.matches(record) for record in records):
                reasons.append(f"{platform}: no locked package satisfies {spec!r}")
    return reasons
