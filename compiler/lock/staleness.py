"""Staleness: whether a committed lock still matches its inputs, and why not. Never solves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.lock.inputs import LOCK_FORMAT_VERSION, LockInputs, canonical_json
from compiler.lock.lockfiles import intact, read_header, read_lockfiles
from compiler.lock.verified import VerifiedLocks
from compiler.lock.verify import verify

_LIST_KEYS = ("specs", "pip", "channels", "platforms")


def _stored_inputs(texts: Mapping[str, str], files: Sequence[str]) -> dict[str, Any] | None:
    """The inputs recorded in the first lockfile header (of `texts`, as read) that has them in
    envc's shape (a header written by hand with another shape is as good as none)."""
    for name in files:
        read = read_header(Path(name), texts[name]) if name in texts else None
        if read is not None and "inputs" in read[0]:
            try:
                stored = json.loads(read[0]["inputs"])
            except ValueError:
                continue
            if _well_formed(stored):
                return stored  # type: ignore[no-any-return]
    return None


def _well_formed(stored: Any) -> bool:
    return (
        isinstance(stored, dict)
        and all(
            isinstance(stored.get(key, []), list)
            and all(isinstance(item, str) for item in stored.get(key, []))
            for key in _LIST_KEYS
        )
        and isinstance(stored.get("python"), (str, type(None)))
        and isinstance(stored.get("virtual_packages", {}), dict)
    )


def fresh_lockfiles(
    inputs: LockInputs, folder: Path, shown: str = "", verified: VerifiedLocks | None = None
) -> dict[str, str]:
    """The lockfiles of `inputs` in `folder`, read once; an error naming why when they are not
    fresh (the user's next step is `envc lock NAME`). `shown`: the folder as findings name it;
    `verified`: locks this machine has verified already (their contents are not checked again)."""
    texts = read_lockfiles(folder, inputs.files())
    reasons = staleness(inputs, folder, texts, shown, verified)
    if reasons:
        raise EnvcError(
            f"{inputs.name}: the lock is stale ({'; '.join(reasons)}); run envc lock {inputs.name}"
        )
    return texts


def staleness(
    inputs: LockInputs,
    folder: Path,
    texts: Mapping[str, str] | None = None,
    shown: str = "",
    verified: VerifiedLocks | None = None,
) -> list[str]:
    """Why the lock in `folder` does not match `inputs` (empty: fresh). Never solves.

    Fast path: every lockfile's header carries these inputs' fingerprint and its body's digest
    (`texts`: lockfiles already read, by name); then what the files say is verified (verify.py),
    each finding as `<shown>/<file>:<line>: message`. Otherwise the inputs stored in the headers
    are compared to say what changed."""
    files = inputs.files()
    fingerprint = inputs.fingerprint()
    texts = texts or read_lockfiles(folder, files)
    if all(intact(folder / name, fingerprint, texts.get(name)) for name in files):
        key = VerifiedLocks.key(inputs, texts) if verified is not None else ""
        if verified is not None and key in verified.keys:
            return []
        prefix = f"{shown}/" if shown else ""
        found = [f"{prefix}{problem}" for problem in verify(inputs, folder, texts)]
        if verified is not None and not found:
            verified.add(key)
        return found
    stored = _stored_inputs(texts, files)
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
        ("pip_indexes", "pip index"),
        ("platforms", "platform"),
    ):
        before, after = stored.get(key) or [], current.get(key) or []
        reasons += [f"{noun} added: {item}" for item in after if item not in before]
        reasons += [f"{noun} removed: {item}" for item in before if item not in after]
        if key in ("channels", "pip_indexes") and key_order_changed(before, after):
            reasons.append(f"{noun} order changed")
    if stored.get("python") != current["python"]:
        reasons.append(f"python {stored.get('python')} -> {current['python']}")
    for platform in current["platforms"]:
        before_virtual = (stored.get("virtual_packages") or {}).get(platform)
        if before_virtual not in (None, current["virtual_packages"][platform]):
            reasons.append(f"virtual packages changed for {platform}")
    if not reasons and canonical_json(stored) != canonical_json(current):
        reasons.append("lock inputs changed")
    if not reasons:  # the same inputs: the files were changed, say how
        prefix = f"{shown}/" if shown else ""
        reasons += [f"{prefix}{problem}" for problem in verify(inputs, folder, texts)]
        for name in files:
            if not (folder / name).is_file():
                reasons.append(f"{name} is missing")
            elif not intact(folder / name, fingerprint, texts.get(name)):
                reasons.append(f"{name} was edited by hand")
    return reasons


def key_order_changed(before: list[str], after: list[str]) -> bool:
    common = [c for c in after if c in before]
    return common != [c for c in before if c in after]
