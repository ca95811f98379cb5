"""Lockfiles: the formats envc writes beside `env.yaml`, and reading them back.

Files written beside `env.yaml`, each starting with a header (source, regenerate command, input
fingerprint, the inputs themselves, a digest of the body):
* `conda-lock.yml`: conda-lock's unified format, version 1 (read by `conda-lock install` and
  `micromamba create -f`); the inputs are also in `metadata.custom_metadata`;
* `conda-<platform>.lock`: explicit files (`@EXPLICIT`, URLs with `#md5`) for conda/micromamba;
* `requirements-<platform>.txt`: the pip part, with hashes (see pip.py);
* `pylock.<platform>.toml`: the same pins as PEP 751's lock.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler._util.credentials import placeholders, without_credentials
from compiler._util.files import UnreadableFile, read_text
from compiler.lock.inputs import (
    LockInputs,
    canonical_json,
    explicit_file,
    pip_file,
)

MAX_LOCK_BYTES = 64 * 1024 * 1024
LICENSE_KEY = "envc_license/"


def _dependencies(depends: Sequence[str]) -> dict[str, str]:
    out = {}
    for dependency in depends:
        name, _, constraint = dependency.partition(" ")
        out[name] = constraint.strip() or "*"
    return out


def render_conda_lock(
    inputs: LockInputs,
    records: Mapping[str, list[dict[str, Any]]],
    manifest_name: str,
    pylocks: Mapping[str, str] | None = None,
) -> str:
    """conda-lock's unified lockfile (version 1), byte-stable: the conda packages, and the pip
    packages of `pylocks` (platform -> PEP 751 lock) as `manager: pip` entries with the URL and
    SHA-256 of the file pip installs, so that `conda-lock install` installs the pip part too."""
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
    for platform in inputs.platforms:
        for name, version, files in pylock_packages((pylocks or {}).get(platform, "")):
            url, sha256 = files[0] if files else ("", None)
            packages.append(
                {
                    "name": name,
                    "version": version,
                    "manager": "pip",
                    "platform": platform,
                    "dependencies": {},
                    "url": url,
                    "hash": {"sha256": sha256} if sha256 else {},
                    "category": "main",
                    "optional": False,
                }
            )
    custom = {
        "envc_input_fingerprint": inputs.fingerprint(),
        "envc_inputs": canonical_json(inputs.document()),
    }
    # conda-lock's format has no license field; its free-form metadata keeps what the channel
    # says (envc's policy and SBOMs read it back without the channel).
    for platform in inputs.platforms:
        for record in records[platform]:
            if record.get("license"):
                custom.setdefault(LICENSE_KEY + record["name"], record["license"])
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
            "custom_metadata": dict(sorted(custom.items())),
        },
        "package": packages,
    }
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 1 << 20  # one line per value: locked_licenses reads them without a parser
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


LOCK_SET_KEY = "lock-set"


def lock_set_id(bodies: Mapping[str, str]) -> str:
    """The id of one run's lockfiles: a digest of every file's name and body."""
    digest = hashlib.sha256()
    for name in sorted(bodies):
        digest.update(f"{name}\0{bodies[name]}\0".encode())
    return "sha256:" + digest.hexdigest()


def seal_lock_set(contents: Mapping[str, str]) -> dict[str, str]:
    """`contents` (name -> lockfile text) with one `# lock-set:` line in every header, naming
    them as one set: a reader that finds files of two runs (a lock killed between writes) sees
    the ids disagree, however valid each file is on its own."""
    bodies = {}
    for name, text in contents.items():
        read = read_header(Path(name), text)
        assert read is not None, name  # envc's own header
        bodies[name] = read[1]
    line = f"# {LOCK_SET_KEY}: {lock_set_id(bodies)}\n"
    return {
        name: text.replace("\n# body-sha256: ", f"\n{line.rstrip()}\n# body-sha256: ", 1)
        for name, text in contents.items()
    }


def read_lockfiles(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """The text of each of `names` in `folder` that is a regular file of UTF-8 text within the
    size cap (a FIFO or a huge file is as good as missing: the lock is stale, never waited on)."""
    texts = {}
    for name in names:
        with suppress(UnreadableFile):
            texts[name] = read_text(folder / name, MAX_LOCK_BYTES)
    return texts


def read_header(file: Path, text: str | None = None) -> tuple[dict[str, str], str] | None:
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


def intact(file: Path, fingerprint: str, text: str | None = None) -> bool:
    """Whether `file` was written by envc from inputs with `fingerprint` and not edited since."""
    read = read_header(file, text)
    if read is None:
        return False
    header, body = read
    return (
        header.get("input-fingerprint") == fingerprint
        and header.get("body-sha256") == hashlib.sha256(body.encode()).hexdigest()
    )


# One match per package line: a URL's file name (name-version-build.conda|.tar.bz2), and a
# requirement's `name==version` (continuation and comment lines start otherwise). Regular
# expressions, not a loop over lines: the policy reads every lock of the repository.
# Anchored at "\n" rather than at `^` with re.M: ~8x faster over a file of hash lines.
_EXPLICIT_RECORD = re.compile(
    r"\n[ \t]*(?!#)[^#\n]*://[^#\n]*/([^/#\n]+)-([^-/#\n]+)-([^-/#\n]+?)"
    r"(?:\.conda|\.tar\.bz2)?[ \t]*(?=#|\n|$)"
)
_PIP_PIN = re.compile(r"\n([^\s#=][^=\n]*)==([^\s\\]*)")


def _explicit_records(body: str) -> list[tuple[str, str, str]]:
    """(name, version, build) of each URL line of an explicit lockfile's body."""
    return _EXPLICIT_RECORD.findall("\n" + body)


def _pip_pins(body: str) -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line of a hashed requirements file."""
    return _PIP_PIN.findall("\n" + body)


def locked_explicit(folder: Path, platform: str) -> list[tuple[str, str, str]]:
    """(name, version, build) of the records in an explicit lockfile; [] when there is none."""
    read = read_header(folder / explicit_file(platform))
    return [] if read is None else _explicit_records(read[1])


def locked_pip(folder: Path, platform: str) -> tuple[str, list[str]]:
    """The body of the pip lockfile for `platform` ("" when none) and the names it pins."""
    read = read_header(folder / pip_file(platform))
    if read is None:
        return "", []
    return read[1], [name for name, _ in _pip_pins(read[1])]


def locked_pip_pins(folder: Path, platform: str) -> list[tuple[str, str]]:
    """(name, version) of each pin of the pip lockfile for `platform`; [] when there is none."""
    read = read_header(folder / pip_file(platform))
    return [] if read is None else _pip_pins(read[1])


def locked_versions(lockfiles: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Package -> version, per explicit or pip lockfile of `lockfiles` (name -> text)."""
    versions = {}
    for name, text in lockfiles.items():
        if name.startswith("conda-") and name.endswith(".lock"):
            versions[name] = {p: v for p, v, _ in _explicit_records(text)}
        elif name.startswith("requirements-"):
            versions[name] = dict(_pip_pins(text))
    return versions


# What str.splitlines() breaks lines at besides "\n".
_RARE_LINE_BREAKS = ("\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
# Anchored at "\n" (the text is scanned with one prepended): ~8x faster than `^` with re.M.
_LICENSE_LINE = re.compile(rf"\n    {re.escape(LICENSE_KEY)}([^\n]*)")


def locked_licenses(text: str) -> dict[str, str]:
    """Package -> the license its channel records, from a conda-lock.yml envc wrote (`text`).

    A scan of the `envc_license/` lines, not a YAML parse: the policy reads every lock of the
    repository. envc's writer puts each value on one line, plain or quoted as YAML quotes it."""
    import json

    found = {}
    marker = f"    {LICENSE_KEY}"
    if any(separator in text for separator in _RARE_LINE_BREAKS):
        entries = [line[len(marker) :] for line in text.splitlines() if line.startswith(marker)]
    else:  # the same lines, found without a Python loop over every line
        entries = _LICENSE_LINE.findall("\n" + text)
    for entry in entries:
        name, _, value = entry.partition(": ")
        if value.startswith("'") and value.endswith("'") and len(value) > 1:
            value = value[1:-1].replace("''", "'")
        elif value.startswith('"'):
            with suppress(ValueError):
                value = json.loads(value)
        found[name] = value
    return found


def pylock_packages(pylock: str) -> list[tuple[str, str, list[tuple[str, str | None]]]]:
    """(name, version, [(url, sha256)] of the files pip may install) of each package of a PEP
    751 lock (with or without envc's header): its wheels, else its sdist."""
    read = read_header(Path(), pylock)
    body = read[1] if read else pylock
    scanned = _scanned_pylock(body)
    if scanned is not None:
        return scanned
    import tomllib

    return [
        (
            str(package["name"]),
            str(package.get("version", "")),
            [
                (file["url"], file.get("hashes", {}).get("sha256"))
                for file in (package.get("wheels") or [package.get("sdist") or {}])
                if "url" in file
            ],
        )
        for package in tomllib.loads(body).get("packages", [])
    ]


# uv writes each package of a pylock.toml as `name`, `version`, then one line per sdist and one
# inline table per wheel: read that shape with regular expressions (tomllib, pure Python, takes
# ~12 ms for 50 packages); anything else is left to tomllib.
_PYLOCK_KEYS = re.compile(r"^(name|version|sdist|wheels|marker|index|requires-python) = ", re.M)
_PYLOCK_FILE = re.compile(r'\{ url = "([^"\\]+)"[^{}]*?hashes = \{ sha256 = "([0-9a-f]{64})" \} \}')
_PYLOCK_STRING = re.compile(r'^(name|version) = "([^"\\]*)"$', re.M)


def _scanned_pylock(body: str) -> list[tuple[str, str, list[tuple[str, str | None]]]] | None:
    """(name, version, [(url, sha256)]) of each package of uv's pylock.toml, or None when
    the text is not in the shape uv writes."""
    blocks = body.split("\n[[packages]]\n")[1:]
    packages = []
    for block in blocks:
        keys = [line.split(" = ", 1)[0] for line in block.splitlines() if " = " in line[:30]]
        keys = [k for k in keys if not k.startswith((" ", "{"))]
        if len(_PYLOCK_KEYS.findall(block)) != len(keys) or "\\" in block:
            return None
        strings = dict(_PYLOCK_STRING.findall(block))
        if "name" not in strings:
            return None
        wheels = block.partition("\nwheels = ")[2]
        source = wheels or block.partition("sdist = ")[2]
        files = _PYLOCK_FILE.findall(source)
        packages.append((strings["name"], strings.get("version", ""), files))
    return packages


@dataclass(frozen=True)
class CondaEntry:
    """A conda package of conda-lock.yml, as SBOMs read it."""

    name: str
    version: str
    build: str
    subdir: str
    channel: str  # the URL the package's subdir is under
    url: str
    sha256: str
    md5: str
    depends: tuple[str, ...]  # the names of the packages it depends on


# One conda package of the conda-lock.yml envc writes (keys sorted, one value per line).
# Anchored at "\n" (the body is scanned with one prepended), each match leaving the "\n" that
# ends it to the next: faster than `^` with re.M.
_CONDA_ENTRY = re.compile(
    r"\n- category: \S+\n  dependencies:(?: \{\})?\n((?:    .*\n)*)  hash:\n"
    r"(?:    md5: ([0-9a-f]{32})\n)?(?:    sha256: ([0-9a-f]{64})\n)?"
    r"  manager: conda\n  name: (\S+)\n  optional: \S+\n  platform: (\S+)\n  url: (\S+)(?=\n)"
)


def conda_lock_entries(text: str) -> dict[str, list[CondaEntry]] | None:
    """Platform -> the conda packages of a conda-lock.yml envc wrote, in order, read with one
    regular expression (py-rattler's reader takes ~6 ms for 300 packages; render reads every
    lock); None when the text holds an entry of another shape (read it with py-rattler)."""
    read = read_header(Path(), text)
    body = read[1] if read else text
    found: dict[str, list[CondaEntry]] = {}
    for depends, md5, sha256, name, platform, url in _CONDA_ENTRY.findall("\n" + body):
        entry = _conda_entry(depends, md5, sha256, name, url)
        if entry is None:
            return None
        found.setdefault(platform, []).append(entry)
    if sum(map(len, found.values())) != body.count("  manager: conda\n"):
        return None
    return found


@functools.lru_cache(maxsize=65536)
def _conda_entry(depends: str, md5: str, sha256: str, name: str, url: str) -> CondaEntry | None:
    """One package of conda-lock.yml, made once per process (locks share most packages)."""
    records = _explicit_records(url)
    subdir_at = url.rfind("/", 0, url.rfind("/"))
    if not records or subdir_at < 0:
        return None
    _, version, build = records[0]
    return CondaEntry(
        name,
        version,
        build,
        url[subdir_at + 1 : url.rfind("/")],
        url[:subdir_at],
        url,
        sha256,
        md5,
        tuple(sorted({line.strip().split(":", 1)[0] for line in depends.splitlines()})),
    )
