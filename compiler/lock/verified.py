"""The locks this machine has verified, by content: the same bytes are not checked again.

Apart from the staleness check that fills it, so that a command which finds every render it
needs remembered (plan) does not import the lock readers and the manifest model for it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from compiler import __version__
from compiler._util.cache import read_json, user_cache, write_json

if TYPE_CHECKING:
    from compiler.lock.inputs import LockInputs


class VerifiedLocks:
    """Locks this machine has verified, by a digest of all that verification reads (envc's
    version, the inputs' fingerprint, every lockfile's text): the same bytes need not be read
    again (py-rattler parses a large conda-lock.yml in ~10 ms). Kept in the user's cache folder,
    never in the repository, so a pull request cannot vouch for its own lock."""

    LIMIT = 200_000

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        stored = read_json(file) if file else None
        self.keys = {k for k in stored if isinstance(k, str)} if isinstance(stored, list) else set()
        self.added: set[str] = set()  # verified by this process

    @classmethod
    def of_user(cls) -> VerifiedLocks:
        return cls(user_cache("verified-locks.json"))

    @staticmethod
    def key(inputs: LockInputs, texts: Mapping[str, str]) -> str:
        digest = hashlib.sha256(f"{__version__}\0{inputs.fingerprint()}\0".encode())
        for name in sorted(texts):
            digest.update(f"{name}\0{texts[name]}\0".encode())
        return digest.hexdigest()

    def add(self, key: str) -> None:
        if len(self.keys) >= self.LIMIT:
            self.keys.clear()
        self.keys.add(key)
        self.added.add(key)

    def save(self) -> None:
        if self.file is not None and self.added:
            write_json(self.file, sorted(self.keys))
