"""HTTP servers on 127.0.0.1 for tests: a channel, an index or a registry stand-in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from typing import Any


@contextmanager
def serving(handler: Callable[..., BaseRequestHandler] | Any) -> Iterator[str]:
    """`handler` answering on 127.0.0.1 (a free port) from a thread; yields its host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
