"""Conda packages built here, indexed into a local channel by py-rattler's own indexer.

The offline snapshot in tests/data/channels holds repodata only (no package files): tests that
install need packages, so they build small real ones (`.tar.bz2` with `info/index.json`,
`info/paths.json`) and index them with `rattler.index.index_fs`, as a channel owner would.

`python_package` makes a stand-in interpreter: a conda package holding `pyvenv.cfg` and a
`bin/python` link to the Python running the tests, so the prefix is a virtual environment of it
(`sys.prefix` is the prefix, site-packages is inside it) and uv installs into it as into any
environment's Python.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SITE_PACKAGES = f"lib/python{PYTHON_VERSION}/site-packages"


def build_package(
    channel: Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes],
    *,
    depends: Sequence[str] = (),
    subdir: str = "linux-64",
    build: str = "0",
    links: Mapping[str, str] | None = None,
    license_text: str = "MIT",
) -> Path:
    """Write `<channel>/<subdir>/<name>-<version>-<build>.tar.bz2` holding `files` (relative
    path -> content) and symbolic `links` (relative path -> target)."""
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "license": license_text,
        "subdir": subdir,
        "timestamp": 1767225600000,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    entries = []
    payload: dict[str, bytes] = {}
    for path, content in sorted(files.items()):
        data = content.encode() if isinstance(content, str) else content
        payload[path] = data
        entries.append(
            {
                "_path": path,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
        )
    for path in sorted(links or {}):
        entries.append({"_path": path, "path_type": "softlink"})
    paths = {"paths": entries, "paths_version": 1}
    folder = channel / subdir
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{version}-{build}.tar.bz2"
    with tarfile.open(target, "w:bz2") as archive:
        for path, data in [
            *payload.items(),
            ("info/index.json", json.dumps(index).encode()),
            ("info/paths.json", json.dumps(paths).encode()),
            ("info/files", "".join(f"{p}\n" for p in sorted({*payload, *(links or {})})).encode()),
        ]:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = (
                len(data),
                0,
                0o755 if "/bin/" in f"/{path}" else 0o644,
            )
            archive.addfile(info, io.BytesIO(data))
        for path, link_target in sorted((links or {}).items()):
            info = tarfile.TarInfo(path)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, link_target, 0
            archive.addfile(info)
    return target


def python_package(channel: Path, version: str = "") -> Path:
    """A `python` package whose prefix is a virtual environment of the Python running here."""
    base = Path(sys.base_prefix)
    executable = Path(sys.executable).resolve()
    full = version or ".".join(map(str, sys.version_info[:3]))
    return build_package(
        channel,
        "python",
        full,
        {
            "pyvenv.cfg": (
                f"home = {executable.parent}\ninclude-system-site-packages = false\n"
                f"version = {full}\n"
            ),
            f"{SITE_PACKAGES}/.keep": "",
        },
        links={"bin/python": str(executable), f"bin/python{PYTHON_VERSION}": str(executable)},
        license_text=f"Python-2.0 ({base.name})",
    )


def module_package(channel: Path, name: str, version: str, depends: Sequence[str] = ()) -> Path:
    """A package installing an importable module `name` that knows its version."""
    return build_package(
        channel,
        name,
        version,
        {f"{SITE_PACKAGES}/{name}/__init__.py": f'__version__ = "{version}"\n'},
        depends=depends,
    )


def index_channel(channel: Path) -> None:
    """repodata.json for every subdir of `channel`, by py-rattler's indexer."""
    from rattler.index import index_fs

    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(channel, force=True))
