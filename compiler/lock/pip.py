"""The pip part of a lock: uv's resolver (`uv pip compile --generate-hashes`) per platform.

The pip part is resolved after the conda part: every conda-locked package is offered to uv as an
empty "provided" wheel of exactly its locked version and pinned by a constraint, so pip agrees
with what conda installs without downloading it, and is then left out of the pip lock (pip does
not install it again). The result is a requirements file with `--hash` lines for
`pip install --require-hashes -r requirements-<platform>.txt`, and the same pins as a PEP 751
`pylock.<platform>.toml` (uv's second, fully pinned answer, with each file's URL).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name

from compiler._util.credentials import expand_url, redact, without_credentials
from compiler.errors import UsageError
from compiler.lock.conda import SolveError

log = logging.getLogger(__name__)
# uv's names for the platforms envc locks for (the oldest systems we build for).
UV_PLATFORMS = {
    "linux-64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "osx-64": "x86_64-apple-darwin",
    "osx-arm64": "aarch64-apple-darwin",
    "win-64": "x86_64-pc-windows-msvc",
}
_PYPI_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class PipIndex:
    """Where pip packages come from: PyPI by default, or an index URL and/or wheel folders; and
    an environment's own indexes (`pip_indexes`), searched first."""

    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    first_urls: tuple[str, ...] = ()

    def searching_first(self, urls: Sequence[str]) -> PipIndex:
        """This index with `urls` searched before it, in their order."""
        return replace(self, first_urls=tuple(urls))

    def for_uv(self) -> tuple[list[str], dict[str, str], list[str]]:
        """uv's arguments and environment variables for this index, `${VAR}` placeholders
        filled for the hosts ENVC_CREDENTIAL_HOSTS lists, and the secrets put in (to redact).
        The index URLs go in uv's environment (other users can read a process's arguments), as
        UV_DEFAULT_INDEX: that one would win over --index-url if the user's environment set it;
        and UV_INDEX for the first ones, which uv searches in order, taking a package from the
        first index that has it (its default strategy: no index can shadow an earlier one's)."""
        secrets: list[str] = []

        def filled(url: str) -> str:
            text, values = expand_url(url, f"pip index {without_credentials(url)}")
            secrets.extend(values)
            return text

        arguments = [f"--find-links={filled(link)}" for link in self.find_links]
        first = [filled(url) for url in self.first_urls]
        environment = {"UV_INDEX": " ".join(first)}  # (also: none of the user's own)
        if self.index_url:
            environment["UV_DEFAULT_INDEX"] = filled(self.index_url)
        elif self.find_links and first:  # wheel folders and those indexes, not PyPI
            environment.update(UV_INDEX=" ".join(first[:-1]), UV_DEFAULT_INDEX=first[-1])
        elif self.find_links:
            arguments.append("--no-index")
        return arguments, environment, secrets


def _is_pep440(version: str) -> bool:
    """Conda versions such as 2024a (tzdata) are no pip versions; those pins are left out."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def uv_executable() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise UsageError("locking pip requirements needs uv (pip install uv)") from exc
    return str(find_uv_bin())


@dataclass(frozen=True)
class PipLock:
    """One platform's pip lock, in two formats from one resolution."""

    requirements: str  # hashed requirements, for pip install --require-hashes
    pylock: str  # PEP 751 pylock.toml: the same pins with each file's URL


def resolve_pip(
    requirements: Sequence[str],
    python_version: str,
    platform: str,
    conda_pins: Iterable[tuple[str, str]],
    index: PipIndex,
    cache_dir: Path,
    previous: str = "",
    upgrade: Collection[str] | None = (),
    floors: Mapping[str, str] | None = None,
) -> PipLock:
    """The pip lock for `platform`, without the packages conda already installs.

    uv keeps the versions pinned in `previous` (the current hashed requirements) where it can,
    except for the packages in `upgrade` (None: upgrade everything). The pylock.toml is uv's
    answer for exactly the pins of the requirements, so both formats always agree. `floors`
    (package -> minimum) bound the packages conda does not provide, requiring none."""
    pins = {
        canonicalize_name(name): version
        for name, version in conda_pins
        if _PYPI_NAME.fullmatch(name) and _is_pep440(version)
    }
    with tempfile.TemporaryDirectory(prefix="envc-pip-") as scratch:
        folder = Path(scratch)
        constraints = folder / "conda-constraints.txt"
        bounds = [f"{name}=={version}" for name, version in sorted(pins.items())]
        bounds += [
            f"{name}>={minimum}"
            for name, minimum in sorted((floors or {}).items())
            if canonicalize_name(name) not in pins
        ]
        constraints.write_text("".join(line + "\n" for line in bounds), encoding="utf-8")
        provided = folder / "provided-by-conda"
        provided.mkdir()
        for name, version in pins.items():
            write_wheel(provided, name, version)

        index_arguments, index_environment, secrets = index.for_uv()

        def compile_to(output: Path, given: str, *options: str) -> str:
            command = [
                uv_executable(),
                "pip",
                "compile",
                "-",
                "--no-header",
                f"--python-version={python_version}",
                f"--python-platform={UV_PLATFORMS[platform]}",
                f"--constraints={constraints}",
                f"--cache-dir={cache_dir}",
                "--quiet",
                f"--find-links={provided}",
                f"--output-file={output}",
                *options,
                *index_arguments,
            ]
            log.debug("running %s", redact(without_credentials(shlex.join(command)), secrets))
            settings = dict(UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1", NO_COLOR="1")
            result = subprocess.run(
                command,
                input=given,
                capture_output=True,
                text=True,
                env={**os.environ, **settings, **index_environment},
                check=False,
            )
            if result.returncode != 0:
                stderr = redact(result.stderr, secrets)
                _fail(stderr, platform, {str(k): v for k, v in pins.items()})
            return output.read_text(encoding="utf-8")

        hashed = folder / "requirements.txt"
        hashed.write_text(previous, encoding="utf-8")
        upgrades = (
            ["--upgrade"]
            if upgrade is None
            else [f"--upgrade-package={name}" for name in sorted(upgrade)]
        )
        # What conda installs is resolved (as the stub wheels) but left out of the locks.
        provided_by_conda = [f"--no-emit-package={name}" for name in sorted(pins)]
        locked = compile_to(
            hashed,
            "".join(r + "\n" for r in requirements),
            "--generate-hashes",
            "--no-annotate",
            *provided_by_conda,
            *upgrades,
        )
        pylock = compile_to(
            folder / "pylock.toml", locked, "--format=pylock.toml", *provided_by_conda
        )
    return PipLock(_blank_lines_dropped(locked), without_credentials(pylock))


def _fail(stderr: str, platform: str, conda_pins: Mapping[str, str]) -> None:
    message = without_credentials(
        " ".join(
            line.strip()
            for line in stderr.splitlines()
            if line.strip() and not line.startswith("warning:")
        )
    )
    if "unsatisfiable" in message or "No solution found" in message:
        # A pip requirement on what the conda part installs can only be met by conda's version.
        clashes = sorted(
            name
            for name in conda_pins
            if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", message, re.IGNORECASE)
        )
        hint = "".join(
            f"; {name} {conda_pins[name]} is installed by the conda part (a conda spec or a "
            f"package one needs): a pip requirement cannot change it, so move that pin to conda:"
            for name in clashes
        )
        raise SolveError(f"cannot resolve pip requirements for {platform}: {message}{hint}")
    raise UsageError(f"resolving pip requirements for {platform} failed: {message}")


def write_wheel(folder: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    """Write a minimal, valid pure-Python wheel of `name` `version` into `folder`."""
    import base64
    import hashlib
    import zipfile

    dist = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    files = {
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {requirement}\n" for requirement in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: envc\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
            digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest())
            record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(content)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        archive.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def _blank_lines_dropped(locked: str) -> str:
    return "".join(line + "\n" for line in locked.splitlines() if line.strip())
