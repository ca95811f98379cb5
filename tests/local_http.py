"""HTTP servers on 127.0.0.1 for tests: a channel, an index or a registry stand-in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


def simple_index(
    folder: Path, authorization: str | None = None, asked: list[str | None] | None = None
) -> type[BaseHTTPRequestHandler]:
    """A PEP 503 simple index of the wheels in `folder` (`/simple/<name>/`, files under
    `/files/`, each link with its sha256); with `authorization`, every request without that
    Authorization header gets 401. `asked` collects the header of every request."""
    import hashlib
    from urllib.parse import unquote

    class SimpleIndex(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.do_GET(body_too=False)

        def do_GET(self, body_too: bool = True) -> None:
            if asked is not None:
                asked.append(self.headers.get("Authorization"))
            if authorization is not None and self.headers.get("Authorization") != authorization:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="pypi"')
                self.end_headers()
                return
            name = unquote(self.path.strip("/").split("/")[-1])  # pip writes + as %2B
            files = sorted(folder.glob(f"{name}-*.whl"))
            if self.path.startswith("/files/") and (folder / name).is_file():
                body = (folder / name).read_bytes()
            elif self.path.startswith("/simple/") and files:
                body = "".join(
                    f'<a href="/files/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}"'
                    f">{w.name}</a>\n"
                    for w in files
                ).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            page = self.path.startswith("/simple/")
            self.send_header("Content-Type", "text/html" if page else "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body_too:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return SimpleIndex
