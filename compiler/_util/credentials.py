"""`${VAR}` placeholders: how manifests and settings name credentials without holding them.

Values come from the environment only where they are used (a solve, an index, a base-image
pull); what envc writes or prints keeps the placeholder, and messages are redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from compiler.errors import UsageError

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def placeholders(text: str) -> list[str]:
    """Names of the `${VAR}` placeholders in `text`."""
    return _PLACEHOLDER.findall(text)


def without_credentials(url: str) -> str:
    """`url` as recorded in lockfiles: no user name or password, placeholders included."""
    return _USERINFO.sub("", url)


def expand(texts: Sequence[str], what: str) -> tuple[list[str], list[str]]:
    """`texts` with `${VAR}` replaced from the environment, and the values put in (secrets);
    `what` names them in the error about missing variables (all of them at once)."""
    names = [name for text in texts for name in placeholders(text)]
    missing = [name for name in dict.fromkeys(names) if not os.environ.get(name)]
    if missing:
        raise UsageError(f"{what} needs the environment variable(s) {', '.join(missing)}")
    expanded = [_PLACEHOLDER.sub(lambda match: os.environ[match.group(1)], t) for t in texts]
    return expanded, [os.environ[name] for name in names]


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


_URL_USERINFO = re.compile(r"(?<=://)([^/@\s]+)@")
_CHANNEL_TOKEN = re.compile(r"/t/([^/\s]+)/")
# What a terminal or a log reader would not show as it is: C0/C1 controls, line and paragraph
# separators, bidirectional overrides and isolates, zero-width and invisible characters, tags.
_UNSHOWN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
    "\U000e0000-\U000e007f]"
)


def _unless_placeholders(match: re.Match[str], kept: str) -> str:
    secret = match.group(1)
    if all(_PLACEHOLDER.fullmatch(part) for part in secret.split(":")):
        return match.group(0)
    return kept


def for_display(text: str, *, lines: bool = True) -> str:
    """`text` as envc prints it: credentials in URLs (user info, anaconda.org `/t/<token>/`)
    replaced by ***, ${VAR} placeholders kept; characters a reader would not see escaped
    (`\\u202e`), so a message cannot hide or forge what it says. Without `lines`, newlines are
    escaped too (one diagnostic, one line)."""
    text = _URL_USERINFO.sub(lambda m: _unless_placeholders(m, "***@"), text)
    text = _CHANNEL_TOKEN.sub(lambda m: _unless_placeholders(m, "/t/***/"), text)
    text = _UNSHOWN.sub(lambda m: ascii(m.group())[1:-1], text)  # \u202e, \U000e0041
    return text if lines else text.replace("\n", "\\n")
