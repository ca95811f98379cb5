"""Compact JSON with sorted keys: what digests, fingerprints and byte-stable documents encode."""

from __future__ import annotations

import json
from typing import Any

# One encoder for the process: json.dumps given options makes a new one per call, and digests
# are taken tens of thousands of times in a command. Without indentation the C encoder runs.
_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """`value` as json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    writes it."""
    return _COMPACT.encode(value)
