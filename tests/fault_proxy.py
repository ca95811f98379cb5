"""A fault-injecting TCP proxy on 127.0.0.1, in front of a real registry: each connection is
forwarded, or dropped, left hanging, answered with garbage, trickled or delayed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

FAULTS = ("none", "drop", "hang", "garbage", "trickle", "delay")


@contextmanager
def fault_proxy(upstream: str, fault: str) -> Iterator[str]:
    """`host:port` of a proxy to `upstream` (host:port) that applies `fault` to every
    connection; stopped when the block ends."""
    assert fault in FAULTS, fault
    target_host, target_port = upstream.rsplit(":", 1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stopping = threading.Event()
    held: list[socket.socket] = []

    def pump(source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(1 if slow else 65536):
                if slow:
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def serve(client: socket.socket) -> None:
        if fault == "drop":
            client.close()
            return
        if fault == "hang":
            held.append(client)  # read nothing, answer nothing
            return
        if fault == "garbage":
            client.recv(65536)
            client.sendall(b"\x00\xffnot http at all\r\n\r\n" * 64)
            client.close()
            return
        if fault == "delay":
            time.sleep(0.3)
        upstream_socket = socket.create_connection((target_host, int(target_port)))
        threading.Thread(target=pump, args=(client, upstream_socket, False), daemon=True).start()
        threading.Thread(
            target=pump, args=(upstream_socket, client, fault == "trickle"), daemon=True
        ).start()

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        listener.close()
        for client in held:
            client.close()
