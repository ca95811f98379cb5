"""The values of one manifest: strings free of controls and invisible characters, variable
values that read the same in a Dockerfile and a shell, and no credential written in clear
(variables, tags, channels, package lines), whatever it is called."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from compiler._util.credentials import INVISIBLE, holds_url_credentials, is_placeholder
from compiler.errors import Diagnostic
from compiler.load.yamlio import Document, JsonPath, format_json_path

# Controls, and the characters that change what text shows without showing themselves: they
# reach LABEL and ENV lines.
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{INVISIBLE}]")
# In the description, \t and \n are text.
_CONTROL_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{INVISIBLE}]")
_SHELL_SUBSTITUTION = re.compile(r"`|\$\(")
_SECRET_NAME = re.compile(
    r"(?i)passw(or)?d|pwd|pass(phrase)?$|secret|token|api_?key|access_?key|credential|"
    r"private_?key|auth(orization)?$|cookie|session_?id"
)
# Values that are credentials whatever their name: an Authorization header's, a key block.
_SECRET_VALUE = re.compile(r"(?i)^(bearer|basic|token)\s+\S{8,}|-----BEGIN [A-Z ]*PRIVATE KEY")


# azureml-assets' release-time templating (`=={{latest-pypi-version}}`, `:{{latest-image-tag}}`):
# nothing fills it for envc, so it must not reach a lock, a Dockerfile or an image.
TEMPLATE_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")


def placeholder_problem(found: str) -> str:
    return (
        f"{found} is a template placeholder that nothing fills here (azureml-assets fills it "
        "at release): write the spec or tag; `envc import` resolves them"
    )


def check_strings(doc: Document) -> list[Diagnostic]:
    """No control characters anywhere (a newline is one more Dockerfile instruction); the
    description alone may hold tabs and line breaks."""
    found = []
    for path, text, is_key in doc.non_printable:
        pattern = _CONTROL_IN_TEXT if path == ("description",) and not is_key else _CONTROL
        match = pattern.search(text)
        if match:
            where = " in a key" if is_key else ""
            found.append(
                doc.diagnostic(
                    path,
                    f"control character {match.group()!r} is not allowed{where}",
                    "unsafe-value",
                    key=is_key,
                )
            )
    return found


def strings_at(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, str]]:
    """(index, item) of the string items of list `key`; the schema reports anything else."""
    items = data.get(key)
    if isinstance(items, list):
        yield from ((i, item) for i, item in enumerate(items) if isinstance(item, str))


def _string_values(data: Mapping[str, Any], key: str) -> Iterator[tuple[str, str]]:
    mapping = data.get(key)
    if isinstance(mapping, dict):
        yield from ((k, v) for k, v in mapping.items() if isinstance(v, str))


def check_values(doc: Document, data: Mapping[str, Any]) -> list[Diagnostic]:
    """Variable values that would misbehave in a Dockerfile or shell, and inline secrets."""
    found = []
    for name, value in _string_values(data, "variables"):
        if value.endswith("\\"):
            found.append(
                doc.diagnostic(
                    ("variables", name),
                    "a value ending in a backslash is read differently by Dockerfile tools",
                    "unsafe-value",
                )
            )
        if _SHELL_SUBSTITUTION.search(value):
            found.append(
                doc.diagnostic(
                    ("variables", name),
                    "command substitution (`...` or $(...)) is not allowed in a variable",
                    "unsafe-value",
                )
            )
        if _SECRET_NAME.search(name) and value and not is_placeholder(value):
            found.append(
                doc.diagnostic(
                    ("variables", name),
                    f"{name} looks like a secret: write "
                    "a ${VARIABLE} placeholder and pass the value at build "
                    "time",
                    "secret",
                )
            )
    for key in ("channels", "pip_indexes"):  # specs: rules.py, with their checks
        for index, url in strings_at(data, key):
            if (placeholder := TEMPLATE_PLACEHOLDER.search(url)) is not None:
                message = placeholder_problem(placeholder.group())
                found.append(doc.diagnostic((key, index), message, "template-placeholder"))
    named = {d.json_path for d in found if d.rule == "secret"}  # one finding per value
    for path, value in _credential_holders(data):
        if _holds_credentials(value) and format_json_path(path) not in named:
            what = _HOLDERS[str(path[0])].format(path[-1])
            message = f"{what} holds credentials: use ${{VARIABLE}} placeholders"
            found.append(doc.diagnostic(path, message, "secret"))
    return found


_HOLDERS = {
    "channels": "channel URL",
    "pip_indexes": "pip index URL",
    "pip": "pip requirement",
    "conda": "conda spec",
    "variables": "the value of {}",
    "tags": "tag {}",
}


def _credential_holders(data: Mapping[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    """Every value a credential could be pasted into: variables, tags, channels, pip indexes,
    package lines."""
    for key in ("variables", "tags"):
        yield from (((key, name), value) for name, value in _string_values(data, key))
    for key in ("channels", "pip_indexes", "pip", "conda"):
        yield from (((key, index), value) for index, value in strings_at(data, key))


def _holds_credentials(value: str) -> bool:
    """A URL with a user name or password, an anaconda.org `/t/<token>/`, or a credential
    value; ${VARIABLE} placeholders in their place are what the rule asks for."""
    return holds_url_credentials(value) or bool(_SECRET_VALUE.search(value))
