"""`${VAR}` placeholders: how manifests and settings name credentials without holding them.

Values come from the environment only where they are used (a solve, an index, a base-image
pull); what envc writes or prints keeps the placeholder, and messages are redacted. A value is
sent only to a host that ENVC_CREDENTIAL_HOSTS lists: the URL around a placeholder comes from
the repository, which a pull request can change (a channel pointed at another host would
receive the token), while that variable is set where the secrets are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from compiler.errors import UsageError

CREDENTIAL_HOSTS = "ENVC_CREDENTIAL_HOSTS"
# The build secret that holds an environment's pip indexes with credentials, filled (a
# requirements file of index options): rendered Dockerfiles mount it, `envc build` provides it.
PIP_INDEX_SECRET = "envc-pip-indexes"
# The variable that names such a file for an install script (docker.enabled: false).
PIP_INDEX_FILE = "ENVC_PIP_INDEXES"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPED_PLACEHOLDER = re.compile(r"\$%7B([A-Za-z_][A-Za-z0-9_]*)%7D", re.IGNORECASE)
_USERINFO = re.compile(r"(?<=://)[^/@]*@")
# Where a URL carries a credential: its user info, or an anaconda.org `/t/<token>/`.
_URL_USERINFO = re.compile(r"(?<=://)([^/@\s]+)@")
_CHANNEL_TOKEN = re.compile(r"/t/([^/\s]+)/")
# Characters that change what text shows without showing themselves: bidirectional marks,
# overrides and isolates, zero-width and invisible characters, tags. Validation refuses them in
# manifests; printing escapes them (with C0/C1 controls and line separators).
INVISIBLE = "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f"
_UNSHOWN = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{INVISIBLE}]")


def is_placeholder(text: str) -> bool:
    """Whether `text` is one `${VAR}` placeholder (what credentials must be written as)."""
    return _PLACEHOLDER.fullmatch(text) is not None


def _only_placeholders(secret: str) -> bool:
    return all(is_placeholder(part) for part in secret.split(":"))


def holds_url_credentials(text: str) -> bool:
    """Whether `text` holds a URL credential (user info, `/t/<token>/`) that is not a
    `${VAR}` placeholder."""
    return any(
        match is not None and not _only_placeholders(match.group(1))
        for match in (_URL_USERINFO.search(text), _CHANNEL_TOKEN.search(text))
    )


def placeholders(text: str) -> list[str]:
    """Names of the `${VAR}` placeholders in `text`."""
    return _PLACEHOLDER.findall(text)


def unescaped_placeholders(url: str) -> str:
    """`url` with the placeholders a URL parser percent-encoded (`$%7BVAR%7D`: rattler's, reading
    a lock) written back as locks hold them."""
    return _ESCAPED_PLACEHOLDER.sub(r"${\1}", url)


def without_credentials(url: str) -> str:
    """`url` as recorded in lockfiles: no user name or password, placeholders included."""
    return _USERINFO.sub("", url)


def url_place(url: str) -> str:
    """Where `url` points, whoever logs in: without user info nor an anaconda.org
    `/t/<token>/`, and no trailing `/` (what a policy's lists of places are compared with)."""
    return _CHANNEL_TOKEN.sub("/", without_credentials(url), count=1).rstrip("/")


def expand(texts: Sequence[str], what: str, destination: str | None) -> tuple[list[str], list[str]]:
    """`texts` with `${VAR}` replaced from the environment, and the values put in (secrets),
    for sending to `destination` (a host, or host:port; None: to no host); `what` names them
    in the errors about missing variables (all of them at once) and about a host
    ENVC_CREDENTIAL_HOSTS does not list."""
    names = [name for text in texts for name in placeholders(text)]
    missing = [name for name in dict.fromkeys(names) if not os.environ.get(name)]
    if missing:
        raise UsageError(f"{what} needs the environment variable(s) {', '.join(missing)}")
    if destination is not None:
        _check_placeholders(names, destination, what)
    expanded = [_PLACEHOLDER.sub(lambda match: os.environ[match.group(1)], t) for t in texts]
    return expanded, [os.environ[name] for name in names]


def _check_placeholders(names: Sequence[str], destination: str, what: str) -> None:
    if names:
        shown = ", ".join(f"${{{name}}}" for name in dict.fromkeys(names))
        check_destination(shown, destination, what)


def check_destination(shown: str, destination: str, what: str) -> None:
    """Refuse (exit 2) to send credentials (`shown`: which, as messages name them) to a host
    ENVC_CREDENTIAL_HOSTS does not list (an entry without a port stands for the host on any
    port)."""
    listed = {h.lower() for h in re.split(r"[\s,]+", os.environ.get(CREDENTIAL_HOSTS, "")) if h}
    host = destination.lower()
    if host and (host in listed or host.rsplit(":", 1)[0] in listed):
        return
    raise UsageError(
        f"{what}: {shown} would be sent to {host or 'a host that cannot be told'}, which "
        f"{CREDENTIAL_HOSTS} does not list; a repository can name any host, so envc sends "
        "credentials only to the hosts that the environment holding them lists"
        + (f" (if it is yours: {CREDENTIAL_HOSTS}={host})" if host else "")
    )


def url_destination(url: str) -> str:
    """Where a URL sends what it holds: its host, with its port when it names one ('' when
    that cannot be told)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number
        return ""
    return f"{host}:{port}" if host and port else host


def expand_url(url: str, what: str) -> tuple[str, list[str]]:
    """`url` with its `${VAR}` placeholders filled (as `expand`: sent only to a host
    ENVC_CREDENTIAL_HOSTS lists, told from the filled URL; a file:// URL goes to none); a value
    that lands in the URL's credentials (user info, an anaconda.org `/t/<token>/`) is
    percent-encoded, so a secret with '/', '#', '?' or '@' stays the credential it is. Returns
    the URL and the secrets (as given and as encoded) to redact."""
    expand([url], what, None)  # every variable is set, or one error names all that are not
    secrets: list[str] = []

    def fill(text: str, encode: bool) -> str:
        def value(match: re.Match[str]) -> str:
            raw = os.environ[match.group(1)]
            encoded = quote(raw, safe="") if encode else raw
            secrets.extend({raw, encoded})
            return encoded

        return _PLACEHOLDER.sub(value, text)

    def credentials(match: re.Match[str]) -> str:
        return match.group(0).replace(match.group(1), fill(match.group(1), True))

    filled = _URL_USERINFO.sub(credentials, url, count=1)
    filled = fill(_CHANNEL_TOKEN.sub(credentials, filled, count=1), False)
    if not filled.startswith("file:"):  # (told from the filled URL: `${MIRROR}/t/${TOKEN}/x`)
        _check_placeholders(placeholders(url), url_destination(filled), what)
    return filled, secrets


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def _unless_placeholders(match: re.Match[str], kept: str) -> str:
    return match.group(0) if _only_placeholders(match.group(1)) else kept


def for_display(text: str, *, lines: bool = True) -> str:
    """`text` as envc prints it: credentials in URLs (user info, anaconda.org `/t/<token>/`)
    replaced by ***, ${VAR} placeholders kept; characters a reader would not see escaped
    (`\\u202e`), so a message cannot hide or forge what it says. Without `lines`, newlines are
    escaped too (one diagnostic, one line)."""
    text = _URL_USERINFO.sub(lambda m: _unless_placeholders(m, "***@"), text)
    text = _CHANNEL_TOKEN.sub(lambda m: _unless_placeholders(m, "/t/***/"), text)
    text = _UNSHOWN.sub(lambda m: ascii(m.group())[1:-1], text)  # \u202e, \U000e0041
    return text if lines else text.replace("\n", "\\n")
