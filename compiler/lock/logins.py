"""Channel credentials for py-rattler as logins per host, never inside the URLs it is given.

A channel (or its mirror) names credentials as `${VAR}` placeholders, in its user info or as an
anaconda.org token (`https://host/t/${TOKEN}/channel`). They are filled from the environment
only for a host ENVC_CREDENTIAL_HOSTS lists (credentials.expand_url), then taken out of the URL:
rattler keeps the URLs it fetches in its repodata cache, its package cache and the prefix's
`conda-meta/`, where a CI cache or a shared machine would hand them on. rattler sends them
itself instead: HTTP basic auth, or the token put back into the path, from a logins file of its
own (`RATTLER_AUTH_FILE`, 0600, in a private folder, removed afterwards).

Used by the solve (in its child process) and by `envc install`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from compiler._util.credentials import (
    expand_url,
    placeholders,
    unescaped_placeholders,
    without_credentials,
)
from compiler.errors import UsageError

# rattler's logins file (host -> login), read by its authentication middleware.
RATTLER_AUTH_FILE = "RATTLER_AUTH_FILE"
_LEADING_TOKEN = re.compile(r"^/t/([^/]+)(/.*)?$")
_TOKEN_PLACEHOLDER = re.compile(r"/t/[^/]*\$\{")


class ChannelLogins:
    """Channel sources filled, with their credentials moved into `logins` (host -> rattler's
    form of a login) and `secrets` (the values, to redact from rattler's messages)."""

    def __init__(self) -> None:
        self.logins: dict[str, dict[str, Any]] = {}
        self.secrets: list[str] = []

    def source(self, source: str, shown: str) -> str:
        """`source` (a channel or mirror URL, `shown` in messages) with its placeholders filled
        and its credentials taken out into a login."""
        if not placeholders(source):
            return source
        filled, secrets = expand_url(source, f"channel {shown}")
        self.secrets += secrets
        parts = urlsplit(filled)
        login: dict[str, Any] | None = None
        if parts.username is not None or parts.password is not None:
            username, password = unquote(parts.username or ""), unquote(parts.password or "")
            login = {"BasicHTTP": {"username": username, "password": password}}
            parts = urlsplit(without_credentials(filled))
        if _TOKEN_PLACEHOLDER.search(source):
            token = _LEADING_TOKEN.match(parts.path)
            if token is None:  # rattler puts a token right after the host, as anaconda.org has it
                raise UsageError(f"channel {shown}: a `/t/<token>/` must follow the host")
            if login is not None:
                raise UsageError(f"channel {shown}: a user and a token at once cannot be sent")
            login = {"CondaToken": unquote(token.group(1))}
            parts = parts._replace(path=token.group(2) or "/")
        if login is not None:
            host = parts.hostname or ""
            if self.logins.setdefault(host, login) != login:
                raise UsageError(f"channel {shown}: {host} is given two different logins")
        return parts.geturl()

    @contextmanager
    def file(self) -> Iterator[dict[str, str]]:
        """The environment variables that give rattler these logins (none when there are
        none), for as long as the block runs."""
        if not self.logins:
            yield {}
            return
        folder = tempfile.mkdtemp(prefix="envc-logins-")
        try:
            file = os.path.join(folder, "credentials.json")
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(self.logins, handle)
            yield {RATTLER_AUTH_FILE: file}
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def rattler_client() -> Any:
    """py-rattler's client with the logins of RATTLER_AUTH_FILE when it is set; None (rattler's
    default client) when not."""
    if not os.environ.get(RATTLER_AUTH_FILE):
        return None
    from rattler.networking import AuthenticationMiddleware, Client, RetryMiddleware

    return Client([AuthenticationMiddleware(), RetryMiddleware()])


class PackageSources:
    """Where `envc install` downloads the packages a lock records: from each channel's source
    (envc.yaml's mirror, or the channel), its credentials as `logins`."""

    def __init__(self, channels: Sequence[str], mirrors: Mapping[str, str]) -> None:
        # Longest first: a channel inside another's path is told by its own prefix.
        self._routes = sorted(
            ((without_credentials(c).rstrip("/") + "/", c) for c in channels),
            key=lambda route: -len(route[0]),
        )
        self._mirrors = mirrors
        self._bases: dict[str, str] = {}  # channel -> where its packages are read
        self.logins = ChannelLogins()

    def url(self, recorded: str) -> str:
        """Where to download the package the lock records at `recorded`."""
        url = unescaped_placeholders(recorded)
        for prefix, channel in self._routes:
            if url.startswith(prefix):
                if channel not in self._bases:
                    source = self._mirrors.get(channel, channel)
                    shown = without_credentials(channel)
                    self._bases[channel] = self.logins.source(source, shown).rstrip("/") + "/"
                return self._bases[channel] + url[len(prefix) :]
        return url  # (the lock's check refuses a package of no declared channel before this)
