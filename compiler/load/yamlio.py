"""Reading YAML: the one module that turns bytes into data, with a position for every value.

Manifests come from every data scientist in the company, so the reader is strict and cheap:

* it walks libyaml's event stream (ruamel.yaml.clib; ruamel's pure-Python YAML 1.2 parser when
  the C extension is missing) and builds plain JSON-like data itself, so anchors, aliases, tags,
  directives, duplicate and non-string keys are refused *before* anything is expanded
  (no alias bombs) and nesting is capped (no RecursionError);
* plain scalars resolve with the YAML 1.2 core schema (``no`` and ``on`` are strings; ``3.10`` is
  the number 3.1, and its source text is kept so later stages can hint at quoting it);
* every value's line and column are recorded on the way, so a diagnostic found later (schema,
  semantics) is located without a second parse.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded
from compiler.errors import Diagnostic

MAX_DEPTH = 32
_SHARED_LENGTH = 64

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
# A plain scalar starting with anything else is a string: skips the regexes for most values.
_NON_STRING_START = frozenset("-+.0123456789~nNtTfF")


def format_json_path(path: JsonPath) -> str:
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Document:
    """A YAML file as data, with where each value came from."""

    path: str
    data: Any
    diagnostics: tuple[Diagnostic, ...]
    positions: dict[JsonPath, Position] = field(default_factory=dict)
    key_positions: dict[JsonPath, Position] = field(default_factory=dict)
    # Source text of plain scalars that did not resolve to strings (for "quote it" hints).
    plain_text: dict[JsonPath, str] = field(default_factory=dict)
    has_float: bool = False
    non_printable: tuple[tuple[JsonPath, str, bool], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    def locate(self, path: JsonPath, *, key: bool = False) -> Position:
        """Position of the value at `path` (or of its key), else of the nearest enclosing value."""
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def diagnostic(
        self, path: JsonPath, message: str, rule: str, *, key: bool = False
    ) -> Diagnostic:
        line, col = self.locate(path, key=key)
        return Diagnostic(self.path, line, col, message, rule, format_json_path(path))


def resolve_plain(text: str) -> Any:
    """Resolve an untagged plain scalar with the YAML 1.2 core schema."""
    if text and text[0] not in _NON_STRING_START:
        return text
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    try:
        if _INT10.fullmatch(text):
            return int(text, 10)
        if _INT8.fullmatch(text):
            return int(text[2:], 8)
        if _INT16.fullmatch(text):
            return int(text[2:], 16)
    except ValueError:  # more digits than Python converts: keep the text
        return text
    if _FLOAT.fullmatch(text) or _INF.fullmatch(text) or _NAN.fullmatch(text):
        return float(
            text.replace(".inf", "inf")
            .replace(".Inf", "inf")
            .replace(".INF", "inf")
            .replace(".nan", "nan")
            .replace(".NaN", "nan")
            .replace(".NAN", "nan")
        )
    return text


def _position_in_text(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _decode(path: str, raw: bytes) -> tuple[str | None, Diagnostic | None]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, Diagnostic(path, 1, 1, "file is UTF-16; save it as UTF-8", "encoding")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position_in_text(raw[: exc.start].decode("utf-8", "replace"), exc.start)
        return None, Diagnostic(
            path, line, col, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})", "encoding"
        )
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _position_in_text(text, nul)
        return None, Diagnostic(path, line, col, "file contains a NUL byte", "encoding")
    return text, None


def _event_source(text: str, pure: bool) -> Callable[[], Any]:
    """A function returning the next parse event: libyaml's, or ruamel's pure-Python parser's."""
    if not pure:
        try:  # ruamel's public loader over libyaml (whichever C extension is installed)
            from ruamel.yaml.cyaml import CBaseLoader
        except ImportError:  # no C extension for this interpreter
            pass
        else:
            next_event: Callable[[], Any] = CBaseLoader(text).get_event
            return next_event
    from ruamel.yaml import YAML

    events: Iterator[Any] = iter(YAML(typ="safe", pure=True).parse(text))
    return events.__next__


class _Frame:
    __slots__ = ("container", "is_key", "path", "pending_key", "seen_keys")

    def __init__(self, container: dict[str, Any] | list[Any], path: JsonPath, is_key: bool) -> None:
        self.container = container
        self.path = path
        self.is_key = is_key  # a mapping or sequence written as a mapping key (refused)
        self.pending_key: str | _Discard | None = None
        self.seen_keys: dict[str, int] = {}


class _Discard:
    """Marks a mapping entry whose value is read but dropped (bad or duplicate key)."""


_DISCARD = _Discard()
_DISCARDED_KEY = "\x00discarded"  # cannot collide: NUL never survives decoding


class _Builder:
    def __init__(self, path: str) -> None:
        self.doc_path = path
        self.diagnostics: list[Diagnostic] = []
        self.positions: dict[JsonPath, Position] = {}
        self.key_positions: dict[JsonPath, Position] = {}
        self.plain_text: dict[JsonPath, str] = {}
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.anchors_seen = 0
        self.has_float = False
        # Strings holding a tab, line break or other non-printable character, for the rules
        # that decide where those are acceptable: (path, text, is_key).
        self.non_printable: list[tuple[JsonPath, str, bool]] = []

    def error(self, mark: Any, message: str, rule: str, path: JsonPath = ()) -> None:
        self.diagnostics.append(
            Diagnostic(
                self.doc_path, mark.line + 1, mark.column + 1, message, rule, format_json_path(path)
            )
        )

    def child_path(self) -> JsonPath | None:
        """Path of the next value, or None when the next scalar is a mapping key."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        key = frame.pending_key
        if key is None:
            return None
        return (*frame.path, key if isinstance(key, str) else _DISCARDED_KEY)

    def place(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            frame.container.append(value)
            return
        key = frame.pending_key
        frame.pending_key = None
        if isinstance(key, str):
            frame.container[key] = value

    def key(self, event: Any, value: Any) -> None:
        frame = self.stack[-1]
        mark = event.start_mark
        if not isinstance(value, str):
            shown = "a mapping or sequence" if value is _DISCARD else json.dumps(value)
            self.error(
                mark,
                f"mapping keys must be strings, not {shown}; quote the key",
                "non-string-key",
                frame.path,
            )
            frame.pending_key = _DISCARD
            return
        first_line = frame.seen_keys.get(value)
        if first_line is not None:
            self.error(
                mark,
                f"duplicate key {value!r} (first defined on line {first_line})",
                "duplicate-key",
                (*frame.path, value),
            )
            frame.pending_key = _DISCARD
            return
        frame.seen_keys[value] = mark.line + 1
        self.key_positions[(*frame.path, value)] = (mark.line + 1, mark.column + 1)
        frame.pending_key = value

    def build(self, text: str, pure: bool) -> None:
        from ruamel.yaml import events

        next_event = _event_source(text, pure)
        documents = 0
        while True:
            event = next_event()
            kind = type(event)
            if kind is events.ScalarEvent:
                path = self.child_path()
                tag = self._refuse_anchor_and_tag(event, path)
                raw = event.value
                value = raw if event.style or tag is not None else resolve_plain(raw)
                if isinstance(value, str) and len(value) <= _SHARED_LENGTH:
                    # Keys and short values recur across thousands of manifests: one copy each
                    # (and one copy in each batch a validation worker sends back).
                    value = sys.intern(value)
                if path is not None and not isinstance(value, str):
                    self.plain_text[path] = raw
                    self.has_float = self.has_float or isinstance(value, float)
                self._place_scalar(event, path, value)
            elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
                frame = self.stack.pop()
                if frame.is_key:
                    self.stack[-1].pending_key = _DISCARD
                else:
                    self.place(frame.container)
            elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
                path = self.child_path()
                self._refuse_anchor_and_tag(event, path)
                if len(self.stack) >= MAX_DEPTH:
                    self.error(
                        event.start_mark,
                        f"nesting is deeper than {MAX_DEPTH} levels",
                        "too-deep",
                        path or (),
                    )
                    return
                container: dict[str, Any] | list[Any] = (
                    {} if kind is events.MappingStartEvent else []
                )
                if path is None:  # a mapping or sequence used as a key
                    self.key(event, _DISCARD)
                    self.stack.append(
                        _Frame(container, (*self.stack[-1].path, _DISCARDED_KEY), True)
                    )
                else:
                    self.positions[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
                    self.stack.append(_Frame(container, path, False))
            elif kind is events.AliasEvent:
                path = self.child_path()
                self._refuse_anchor_and_tag(event, path)
                self._place_scalar(event, path, None)
            elif kind is events.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    self.error(
                        event.start_mark,
                        "a manifest holds one YAML document; remove '---'",
                        "multi-document",
                    )
                    return
                if event.tags or (event.version and event.explicit):
                    self.error(
                        event.start_mark,
                        "YAML directives (%YAML, %TAG) are not allowed; files are YAML 1.2",
                        "directive",
                    )
            elif kind is events.StreamEndEvent:
                return

    def _refuse_anchor_and_tag(self, event: Any, path: JsonPath | None) -> str | None:
        """Report an anchor, alias or tag on `event`; return its tag."""
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            # One diagnostic per file: an alias bomb would otherwise flood the report.
            self.anchors_seen += 1
            if self.anchors_seen == 1:
                sigil = "*" if type(event).__name__ == "AliasEvent" else "&"
                self.error(
                    event.start_mark,
                    f"YAML anchors and aliases are not allowed "
                    f"('{sigil}{anchor}'); write the value out",
                    "alias",
                    path or (),
                )
        tag: str | None = getattr(event, "tag", None)
        if tag is not None:
            self.error(event.start_mark, f"YAML tag {tag!r} is not allowed", "tag", path or ())
        return tag

    def _place_scalar(self, event: Any, path: JsonPath | None, value: Any) -> None:
        if path is None:
            self.key(event, value)
            if isinstance(value, str) and not value.isprintable():
                self.non_printable.append(((*self.stack[-1].path, value), value, True))
            return
        self.positions[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
        if isinstance(value, str) and not value.isprintable():
            self.non_printable.append((path, value, False))
        self.place(value)


def parse_yaml(path: str, raw: bytes, *, pure: bool = False) -> Document:
    """Parse `raw`, the bytes of `path` (a display path); bad input becomes diagnostics.

    `pure` forces ruamel's pure-Python parser (what runs where the C extension is missing)."""
    text, problem = _decode(path, raw)
    if problem is not None or text is None:
        return Document(path, None, (problem,) if problem else ())
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    builder = _Builder(path)
    try:
        builder.build(text, pure)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if mark and 0 <= mark.index < len(text) and text[mark.index] == "\t":
            message = "a tab character cannot start a token; indent with spaces"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        builder.diagnostics.append(
            Diagnostic(path, line, col, f"invalid YAML: {message}", "yaml-syntax")
        )
    except YAMLError as exc:  # reader errors: characters YAML does not allow
        position = getattr(exc, "position", None)
        line, col = _position_in_text(text, position) if isinstance(position, int) else (1, 1)
        builder.diagnostics.append(
            Diagnostic(path, line, col, f"invalid YAML: {exc}", "yaml-syntax")
        )
    return Document(
        path,
        builder.root if not builder.diagnostics else None,
        tuple(builder.diagnostics),
        builder.positions,
        builder.key_positions,
        builder.plain_text,
        builder.has_float,
        tuple(builder.non_printable),
    )


def read_yaml(file: Path | str, display: str, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read and parse a YAML file; unreadable, oversized or non-regular files become diagnostics.
    (`max_bytes` guards against hostile input; lockfiles envc wrote itself may be larger.)"""
    try:
        raw = read_bounded(file, max_bytes)
    except UnreadableFile as exc:
        message = str(exc)
        if exc.rule == "not-a-file" and message.startswith("is ") and "link" not in message:
            message += ", expected a YAML file"
        return Document(display, None, (Diagnostic(display, 1, 1, message, exc.rule),))
    return parse_yaml(display, raw)
