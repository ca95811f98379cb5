"""The cycle collector, for the stages that build hundreds of thousands of objects at once."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No cycle collection inside: every young collection walks each new object, which for
    a 50,000-environment plan (parsed manifests, trees, plan entries) took a quarter of its time,
    and for a register of 5,000 a twentieth. (Validation keeps it: ruamel's parse leaves cycles,
    and without it the memory grew by two thirds for no time saved.)
    What is built inside is kept, or freed by reference counting; cycles left behind are
    collected once it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
