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
