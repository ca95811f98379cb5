"""A small client of the OCI distribution API (https://github.com/opencontainers/distribution-spec)
over `requests`: authentication, blob uploads, manifests.

Why not oras: every call envc makes but two (upload, authentication) was already a plain request,
and oras's public API retries a failed request for minutes (sleeps of 3 to 83 s) and turns a 500
into an exception, which a registry protocol built on retrying 5xx answers cannot use; reaching
into its internals to undo that broke with its releases. What is left is small and in the spec:

* authentication answers the registry's challenge (`WWW-Authenticate`): `Basic` with the
  credentials, or `Bearer`, a token fetched from the realm the challenge names for the scope it
  names (Docker Hub, GHCR, ACR, a distribution behind a token server);
* credentials: `ENVC_REGISTRY_USERNAME` / `ENVC_REGISTRY_PASSWORD`, else the docker config file
  (`DOCKER_CONFIG`, `~/.docker/config.json`): its `auths` entry for the host, or its credential
  helper (`credHelpers`, `credsStore`: `docker-credential-<helper> get`). Never printed or stored;
* a blob is uploaded whole (POST, then PUT with its digest), unless the registry has it already.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import requests

from compiler._util.credentials import check_destination
from compiler.errors import UsageError

TIMEOUT_SECONDS = 30  # for the connection, and between two reads of an answer
REQUEST_DEADLINE_SECONDS = 120  # for one request, its whole answer read
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Answer:
    """A registry's whole answer, read within the deadline."""

    status_code: int
    headers: Mapping[str, str]  # requests' case-insensitive mapping
    content: bytes
    host: str

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:  # garbage: a proxy's error page, a truncated body
            raise UsageError(
                f"the registry at {self.host} answered {self.status_code} with something that "
                "is not JSON"
            ) from None

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The Link header's links by rel (pagination), as requests parses them."""
        header = self.headers.get("link")
        if not header:
            return {}
        found = requests.utils.parse_header_links(header)
        return {link.get("rel") or link.get("url", ""): link for link in found}


def send(host: str, request: Callable[[], Answer]) -> Answer:
    """Run `request`; network failures become usage errors that say what to do."""
    try:
        return request()
    except requests.exceptions.SSLError:
        raise UsageError(
            f"TLS with the registry at {host} failed (--plain-http for a registry without TLS)"
        ) from None
    except requests.ConnectionError:
        raise UsageError(f"cannot reach the registry at {host}") from None
    except requests.Timeout:
        raise UsageError(f"the registry at {host} did not answer in time") from None
    except requests.RequestException as exc:  # a broken answer (bad chunking, bad encoding)
        raise UsageError(
            f"the registry at {host} answered unreadably ({type(exc).__name__})"
        ) from None


def fetch(session: requests.Session, host: str, method: str, url: str, **kwargs: Any) -> Answer:
    """One request, its answer read whole within REQUEST_DEADLINE_SECONDS (a registry that
    trickles its answer is cut off, not waited on for ever) and MAX_ANSWER_BYTES."""
    deadline = time.monotonic() + REQUEST_DEADLINE_SECONDS

    def run() -> Answer:
        response = session.request(method, url, timeout=TIMEOUT_SECONDS, stream=True, **kwargs)
        with response:
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise requests.Timeout()
                if size > MAX_ANSWER_BYTES:
                    raise UsageError(f"the registry at {host} answered more than envc reads")
            return Answer(response.status_code, response.headers, b"".join(chunks), host)

    return send(host, run)


def credentials(host: str) -> tuple[str, str] | None:
    """(username, password) for `host`: from the environment, else the docker config file."""
    username = os.environ.get("ENVC_REGISTRY_USERNAME")
    password = os.environ.get("ENVC_REGISTRY_PASSWORD")
    if username and password:
        # The registry may be the one envc.yaml names, which a pull request can change: these
        # go only where ENVC_CREDENTIAL_HOSTS says (the docker config's are kept per host).
        check_destination("ENVC_REGISTRY_USERNAME/PASSWORD", host, f"the registry at {host}")
        return username, password
    folder = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        config = json.loads(Path(folder, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    entry = (config.get("auths") or {}).get(host)
    if isinstance(entry, dict):
        if entry.get("username") and entry.get("password"):
            return str(entry["username"]), str(entry["password"])
        if isinstance(entry.get("auth"), str):
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError:
                return None
            return (user, secret) if user and secret else None
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    return _from_helper(str(helper), host) if helper else None


def _from_helper(helper: str, host: str) -> tuple[str, str] | None:
    """Ask docker's credential helper `helper` for `host` (its protocol: host on stdin, JSON
    with Username and Secret on stdout)."""
    try:
        answer = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=True,
        )
        found = json.loads(answer.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if isinstance(found, dict) and found.get("Username") and found.get("Secret"):
        return str(found["Username"]), str(found["Secret"])
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAMETER.findall(rest))


class Distribution:
    """Requests to one registry host, authenticated as its challenges ask."""

    def __init__(self, host: str, plain_http: bool) -> None:
        self.host = host
        self.base = f"{'http' if plain_http else 'https'}://{host}"
        self.session = requests.Session()
        self.server_time = 0.0  # the registry's clock, by its last Date header
        self._credentials: tuple[str, str] | None = None
        self._looked_up = False
        self._authorization: str | None = None

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return urljoin(self.base, path)

    def request(self, method: str, url: str, **kwargs: Any) -> Answer:
        """One request; a server error is tried twice more (every request envc makes is
        idempotent), a network failure is a usage error at once."""
        for pause in (0.05, 0.3, None):
            response = self._authenticated(method, url, **kwargs)
            if response.status_code < 500 or pause is None:
                return response
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _authenticated(self, method: str, url: str, **kwargs: Any) -> Answer:
        """When the registry asks for credentials, the request is made once more with them."""
        response = self._send(method, url, **kwargs)
        if response.status_code == 401 and self._authenticate(response):
            response = self._send(method, url, **kwargs)
        return response

    def check(self, response: Answer, what: str) -> Answer:
        if response.status_code in (401, 403):
            raise UsageError(f"the registry at {self.host} refused access to {what}")
        if response.status_code >= 400:
            raise UsageError(
                f"the registry at {self.host} answered {response.status_code} for {what}"
            )
        return response

    def _pages(self, url: str, what: str, key: str) -> list[str] | None:
        """Every item under `key` of a paginated listing (Link: next); None when not found."""
        items: list[str] = []
        while url:
            response = self.request("GET", url)
            self._note_time(response)
            if response.status_code == 404:
                return None
            self.check(response, what)
            document = response.json()
            found = document.get(key) if isinstance(document, dict) else None
            if not isinstance(found, (list, type(None))) or not all(
                isinstance(item, str) for item in found or []
            ):
                raise UsageError(f"the registry at {self.host} answered a malformed {what}")
            items += found or []
            link = response.links.get("next", {}).get("url")
            url = self.url(link) if link else ""
        return items

    def _note_time(self, response: Answer) -> None:
        """Remember the registry's clock: claims are aged by it, so writers' clocks never
        matter."""
        with suppress(KeyError, TypeError, ValueError):
            self.server_time = parsedate_to_datetime(response.headers["Date"]).timestamp()

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` ([] when it does not exist yet)."""
        url = self.url(f"/v2/{repository}/tags/list")
        return self._pages(url, f"the tags of {repository}", "tags") or []

    def catalog(self) -> list[str]:
        url = self.url("/v2/_catalog?n=1000")
        found = self._pages(url, "the catalog", "repositories")
        if found is None:
            raise UsageError(f"the registry at {self.host} has no catalog")
        return found

    def manifest(
        self, repository: str, reference: str, media_type: str = MANIFEST_MEDIA_TYPE
    ) -> tuple[bytes, str] | None:
        """The manifest's bytes and digest, or None when `reference` is not there."""
        response = self.request(
            "GET",
            self.url(f"/v2/{repository}/manifests/{reference}"),
            headers={"Accept": media_type},
        )
        if response.status_code == 404:
            return None
        self.check(response, f"{repository}:{reference}")
        return response.content, response.headers.get("Docker-Content-Digest", "")

    def put_manifest(
        self,
        repository: str,
        reference: str,
        manifest: bytes,
        media_type: str = MANIFEST_MEDIA_TYPE,
    ) -> Answer:
        response = self.request(
            "PUT",
            self.url(f"/v2/{repository}/manifests/{reference}"),
            data=manifest,
            headers={"Content-Type": media_type},
        )
        return self.check(response, f"tagging {repository}:{reference}")

    def blob(self, repository: str, digest: str) -> bytes:
        response = self.request("GET", self.url(f"/v2/{repository}/blobs/{digest}"))
        return self.check(response, f"{repository}@{digest}").content

    def delete_manifest(self, repository: str, digest: str) -> None:
        self.request("DELETE", self.url(f"/v2/{repository}/manifests/{digest}"))

    def blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        response = self.request("GET", self.url(f"/v2/{repository}/blobs/{digest}"))
        document = self.check(response, f"{repository}@{digest}").json()
        if not isinstance(document, dict):
            raise UsageError(f"the registry at {self.host} answered a malformed record")
        return document

    def _send(self, method: str, url: str, **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", None) or {})
        if self._authorization:
            headers["Authorization"] = self._authorization
        return fetch(self.session, self.host, method, url, headers=headers, **kwargs)

    def _login(self) -> tuple[str, str] | None:
        if not self._looked_up:
            self._credentials, self._looked_up = credentials(self.host), True
        return self._credentials

    def _authenticate(self, response: Answer) -> bool:
        """Set the Authorization the challenge of `response` asks for; False when it cannot be
        met (no credentials for Basic, no token from the realm)."""
        scheme, parameters = _challenge(response.headers.get("WWW-Authenticate", ""))
        login = self._login()
        if scheme == "basic":
            if login is None:
                return False
            pair = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
            self._authorization = f"Basic {pair}"
            return True
        if scheme != "bearer" or not parameters.get("realm"):
            return False
        query = {k: v for k, v in parameters.items() if k in ("service", "scope")}
        realm = parameters["realm"] + ("?" + urlencode(query) if query else "")
        answer = fetch(self.session, self.host, "GET", realm, auth=login)
        if answer.status_code >= 400:
            raise UsageError(f"the registry at {self.host} refused access ({answer.status_code})")
        try:
            document = answer.json()
            token: Any = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            return False
        self._authorization = "Bearer " + token
        return True

    def push_blob(self, repository: str, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload `data` (unless the registry has it) and return its descriptor."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(data)}
        blob = self.url(f"/v2/{repository}/blobs/{digest}")
        if self.request("HEAD", blob).status_code == 200:
            return descriptor
        started = self.request("POST", self.url(f"/v2/{repository}/blobs/uploads/"))
        location = started.headers.get("Location")
        if started.status_code != 202 or not location:
            raise UsageError(
                f"the registry at {self.host} answered {started.status_code} to an upload"
            )
        target = self.url(location)
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        finished = self.request(
            "PUT",
            target,
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if finished.status_code != 201:
            raise UsageError(
                f"the registry at {self.host} answered {finished.status_code} to an upload"
            )
        return descriptor
