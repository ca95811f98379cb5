"""Hash stage: the content address of a rendered environment.

Equal addresses mean the same image, so the plan stage rebuilds only what changed and a registry
reuses what it already holds. The address is a sha256 over the canonical JSON (`canonical_json`)
of one document, version `ADDRESS_VERSION`:

- `manifest`: the resolved manifest after `extends`, as the model dumps it, with each referenced
  file (`conda_file`, `requirements_file`, `docker.base_dockerfile`) replaced by the sha256 of its
  bytes, so moving a folder changes nothing and editing a referenced file does; a field added
  to the manifest since address version 1 (`LATER_FIELDS`) only when it is set, so that an
  environment that does not use it keeps its address;
- `locks`: the sha256 of every lockfile of the environment, all platforms;
- `context`: the sha256 of every rendered build-context file except the metadata file (which
  records the address);
- `formats`: the lock, render and address format versions.

Not in it: the manifest's bytes (comments, key order, line endings), its path, the envc version
(a release that renders the same bytes rebuilds nothing; one that changes the output changes
`context` or a format version).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler._util.files import MAX_FILE_BYTES, normalized_newlines, read_bounded
from compiler.lock.inputs import LOCK_FORMAT_VERSION, canonical_json
from compiler.manifest.sources import FILE_REFERENCES
from compiler.render.output import FileContent, as_bytes, file_digest
from compiler.render.rendered import Address

ADDRESS_VERSION = 1
# Manifest fields newer than address version 1, left out of the address while empty.
LATER_FIELDS = ("pip_indexes",)
MAX_REFERENCED_BYTES = MAX_FILE_BYTES  # as validation reads them


def _content_bytes(file: Path) -> bytes:
    """A referenced file's bytes as hashed: text with `\n` line endings (Windows and Linux
    checkouts agree), other files as they are; read within the cap, never a FIFO or a link."""
    raw = read_bounded(file, MAX_REFERENCED_BYTES)
    try:
        return normalized_newlines(raw.decode("utf-8")).encode()
    except UnicodeDecodeError:
        return raw


def _manifest_part(dumped: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The manifest's dump with each referenced file replaced by its digest (copied where it
    differs: `dumped` stays as it is)."""
    part = {key: value for key, value in dumped.items() if value or key not in LATER_FIELDS}
    for keys in FILE_REFERENCES:
        holder = part
        for key in keys[:-1]:
            holder[key] = holder = dict(holder[key])
        if holder.get(keys[-1]) is not None:
            holder[keys[-1]] = file_digest(_content_bytes(root / holder[keys[-1]]))
    return part


def content_address(
    manifest: Mapping[str, Any],
    root: Path,
    lockfiles: Mapping[str, str],
    context: Mapping[str, FileContent],
    render_format: int,
) -> Address:
    """The address of `manifest` (a resolved manifest as the model dumps it in JSON mode, file
    references relative to `root`), locked as `lockfiles` and rendered as `context` (file
    name -> content)."""
    document = {
        "address_version": ADDRESS_VERSION,
        "formats": {"lock": LOCK_FORMAT_VERSION, "render": render_format},
        "manifest": _manifest_part(manifest, root),
        "locks": {name: file_digest(text.encode()) for name, text in sorted(lockfiles.items())},
        "context": {name: file_digest(as_bytes(data)) for name, data in sorted(context.items())},
    }
    digest = hashlib.sha256(canonical_json(document).encode()).hexdigest()
    return Address("sha256:" + digest, document)
