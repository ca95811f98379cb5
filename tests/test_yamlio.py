"""The YAML reader: YAML 1.2 values, positions, and refusal of what a manifest must not use."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.load.yamlio import (
    MAX_FILE_BYTES,
    Document,
    JsonPath,
    format_json_path,
    parse_yaml,
    read_yaml,
)


def rules(raw: bytes) -> list[str]:
    return [d.rule for d in parse_yaml("f.yaml", raw).diagnostics]


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("3.10", 3.1),
        ("1e3", 1000.0),
        ("012", 12),
        ("0o17", 15),
        ("0x1F", 31),
        ("2024-10-01", "2024-10-01"),
        ("1_000", "1_000"),
        ("'3.10'", "3.10"),
        ('"no"', "no"),
        (".inf", float("inf")),
        ("-.INF", float("-inf")),
        ("+12", 12),
    ],
)
def test_plain_scalars_resolve_with_the_yaml_1_2_core_schema(source: str, value: object) -> None:
    doc = parse_yaml("f.yaml", f"key: {source}\n".encode())
    assert doc.ok
    assert doc.data == {"key": value}
    assert type(doc.data["key"]) is type(value)


def test_unquoted_numbers_keep_their_source_text_for_hints() -> None:
    doc = parse_yaml("f.yaml", b"python: 3.10\nname: x\nlist: [1, '2']\n")
    assert doc.plain_text == {("python",): "3.10", ("list", 0): "1"}


def test_positions_of_values_and_keys_are_one_based() -> None:
    doc = parse_yaml("f.yaml", b"a: 1\nb:\n  c: [x, y]\n  'd e': {f: g}\n")
    assert doc.locate(("a",)) == (1, 4)
    assert doc.locate(("b", "c", 1)) == (3, 10)
    assert doc.locate(("b", "d e", "f")) == (4, 14)
    assert doc.locate(("b", "d e"), key=True) == (4, 3)
    # a path that does not exist falls back to its nearest existing parent
    assert doc.locate(("b", "c", 7)) == (3, 6)


def test_duplicate_keys_name_both_lines_and_every_duplicate_is_reported() -> None:
    doc = parse_yaml("f.yaml", b"a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\n")
    assert [(d.line, d.col, d.message) for d in doc.diagnostics] == [
        (3, 1, "duplicate key 'a' (first defined on line 1)"),
        (6, 3, "duplicate key 'x' (first defined on line 5)"),
    ]


def test_alias_bomb_is_refused_before_expansion_in_bounded_time_and_memory() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghijklmnop":  # 16 levels: 9**16 strings if anything expanded it
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    raw = ("\n".join(lines) + "\n").encode()
    tracemalloc.start()
    started = time.perf_counter()
    doc = parse_yaml("bomb.yaml", raw)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [d.rule for d in doc.diagnostics] == ["alias"]
    assert doc.data is None
    assert elapsed < 2.0
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(opener: str) -> None:
    raw = ("k: " + opener * 50_000).encode()
    if opener == "- ":
        raw = "".join("  " * i + "-\n" for i in range(200)).encode()
    started = time.perf_counter()
    assert rules(raw) == ["too-deep"]
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"%YAML 1.1\n---\na: 1\n", "directive"),
        (b"%TAG !e! tag:example.com,2000:\n---\na: 1\n", "directive"),
        (b"a: !!python/object/apply:os.system [id]\n", "tag"),
        (b"a: !include other.yaml\n", "tag"),
        (b"a: !!binary aGVsbG8=\n", "tag"),
        (b"a: 1\n---\nb: 2\n", "multi-document"),
        (b"1: one\n", "non-string-key"),
        (b"null: x\n", "non-string-key"),
        (b"? [a]\n: 1\n", "non-string-key"),
        (b"a: [1\n", "yaml-syntax"),
        (b"a:\n\tb: 1\n", "yaml-syntax"),
        (b"a: b: c\n", "yaml-syntax"),
        (b"a: \x00\n", "encoding"),
        (b"a: caf\xe9\n", "encoding"),
        (b"\xff\xfea\x00:\x00", "encoding"),
        (b"a: \x07\n", "yaml-syntax"),
    ],
)
def test_refused_constructs_give_one_clean_diagnostic(raw: bytes, rule: str) -> None:
    found = rules(raw)
    assert found and set(found) == {rule}


def test_bom_and_crlf_read_like_plain_lf() -> None:
    plain = parse_yaml("f.yaml", b"a: 1\nb: [x, y]\n")
    windows = parse_yaml("f.yaml", b"\xef\xbb\xbfa: 1\r\nb: [x, y]\r\n")
    assert windows.ok and windows.data == plain.data
    assert windows.positions == plain.positions


def test_encoding_error_points_at_the_bad_byte() -> None:
    (diagnostic,) = parse_yaml("f.yaml", b"a: 1\nb: caf\xe9\n").diagnostics
    assert (diagnostic.line, diagnostic.col) == (2, 7)


def test_read_yaml_reports_files_it_cannot_use(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * MAX_FILE_BYTES + b"\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(big)
    assert [d.rule for d in read_yaml(big, "big.yaml").diagnostics] == ["too-large"]
    assert [d.rule for d in read_yaml(link, "link.yaml").diagnostics] == ["not-a-file"]
    assert [d.rule for d in read_yaml(tmp_path, "dir").diagnostics] == ["not-a-file"]
    assert [d.rule for d in read_yaml(tmp_path / "nope.yaml", "nope").diagnostics] == ["not-a-file"]
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert [d.message for d in read_yaml(fifo, "pipe.yaml").diagnostics] == [
        "is not a regular file, expected a YAML file"
    ]


def test_read_yaml_reports_an_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("a: 1\n")
    real_open = os.open

    def deny(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == secret:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    (diagnostic,) = read_yaml(secret, "secret.yaml").diagnostics
    assert diagnostic.rule == "unreadable"
    assert "Permission denied" in diagnostic.message


def test_json_paths_quote_keys_that_are_not_identifiers() -> None:
    assert format_json_path(("docker", "base_image")) == "$.docker.base_image"
    assert format_json_path(("conda", 2)) == "$.conda[2]"
    assert format_json_path(("tags", 'a "b"')) == '$.tags["a \\"b\\""]'


yaml_text = st.lists(
    st.sampled_from([*"ab1:- []{},'\"#&*!|>?%\n\t.~x0", "yes", "3.10", "  ", ": ", "\n  "]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(yaml_text)
def test_c_and_pure_python_parsers_agree(source: str) -> None:
    """Where both accept a text, libyaml (C) and ruamel's pure-Python parser build the same data.

    Their verdicts differ on some malformed block-scalar headers and on tabs inside plain
    scalars (which ruamel's pure parser refuses and YAML 1.2 allows); and for a block scalar as
    the whole document, whether a column-0 '#' line is content. A manifest is a mapping: the
    data of mappings and lists must be the same."""
    fast = parse_yaml("f.yaml", source.encode())
    pure = parse_yaml("f.yaml", source.encode(), pure=True)
    if fast.ok and pure.ok and isinstance(fast.data, (dict, list)):
        assert fast.data == pure.data
        # Where an *empty* value starts is a matter of taste the two parsers do not share.
        assert _non_empty(fast) == _non_empty(pure)


def _non_empty(doc: Document) -> dict[JsonPath, tuple[int, int]]:
    def value_at(path: JsonPath) -> object:
        value = doc.data
        for part in path:
            value = value[part]  # type: ignore[index]
        return value

    return {path: pos for path, pos in doc.positions.items() if value_at(path) is not None}
