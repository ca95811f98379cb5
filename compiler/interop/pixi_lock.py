"""An environment's committed lock as a pixi.lock, written with py-rattler's LockFile (the
rattler-lock format pixi and conda's lockfile plugin read).

An export, not a lock output: envc's own lockfiles stay the source of truth (checked for
freshness, verified, installed), and a pixi.lock beside every env.yaml would be one more file
to keep in step on every relock for the users who do not use pixi; `envc export NAME --format
pixi-lock` writes it from the fresh lock when it is wanted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from compiler._util.files import read_text, shown_path
from compiler.errors import EnvcError
from compiler.lock.inputs import CONDA_LOCK_FILE, LockInputs, pylock_file
from compiler.lock.lockfiles import pylock_packages
from compiler.lock.staleness import fresh_lockfiles

ENVIRONMENT = "default"
NOTE = (
    "pixi.lock's pypi entries carry no SHA-256 (py-rattler's writer takes none): install the "
    "pip part from the hashed requirements (envc install) where hashes matter"
)


def pixi_lock(inputs: LockInputs, root: Path, folder: Path) -> tuple[str, list[str]]:
    """The text of the pixi.lock of the fresh lock of `inputs`, and what it cannot carry."""
    from rattler import LockChannel, LockFile, LockPlatform

    texts = fresh_lockfiles(inputs, folder, shown_path(folder, root))
    platforms = {name: LockPlatform(name) for name in inputs.platforms}
    lock = LockFile(list(platforms.values()))
    if inputs.specs:
        source = LockFile.from_path(folder / CONDA_LOCK_FILE).default_environment()
        if source is None:
            raise EnvcError(f"{inputs.name}: {CONDA_LOCK_FILE} holds no environment")
        for locked in source.platforms():
            for record in source.conda_repodata_records_for_platform(locked) or []:
                lock.add_conda_package(ENVIRONMENT, platforms[locked.name], record)
    notes = []
    for name, platform in platforms.items():
        pylock = texts.get(pylock_file(name))
        for package, version, files in pylock_packages(pylock) if pylock else []:
            if not files:
                raise EnvcError(f"{inputs.name}: {package} has no file in {pylock_file(name)}")
            lock.add_pypi_package(ENVIRONMENT, platform, package, version, files[0][0])
        if pylock and NOTE not in notes:
            notes.append(NOTE)
    lock.set_channels(ENVIRONMENT, [LockChannel(c.rstrip("/") + "/") for c in inputs.channels])
    with tempfile.TemporaryDirectory(prefix="envc-pixi-") as scratch:
        target = Path(scratch, "pixi.lock")
        lock.to_path(target)
        return read_text(target), notes
