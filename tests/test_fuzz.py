"""Property tests: whatever bytes a manifest holds, validation returns diagnostics, never raises."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.validate.repository import validate
from tests.conftest import PROJECT

SEEDS = sorted((PROJECT / "environments").glob("*/env.yaml"))
SEED_TEXTS = [p.read_bytes() for p in SEEDS]

FRAGMENTS = [
    b"\n",
    b": ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"&a ",
    b"*a",
    b"!!python/name:os.system",
    b"%YAML 1.1\n",
    b"---\n",
    b"\t",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"3.10",
    b"'",
    b'"',
    b"\\",
    b"#",
    b"? ",
    b"|\n",
    b">-\n",
    b"name: x\n",
    b"extends: x\n",
    b"conda_file: ../../etc/passwd\n",
    b"\r\n",
    b"\xe2\x80\xa8",
    b"$(id)",
    b"`id`",
]


@st.composite
def mutated_manifest(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEED_TEXTS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            data[position:position] = draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=4))
        elif action == "delete":
            data[position : position + draw(st.integers(1, 20))] = b""
        else:
            data[position : position + 1] = draw(st.binary(min_size=1, max_size=1))
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "schema_version",
                    "docker",
                    "python",
                    "conda",
                    "pip",
                    "extends",
                    "variables",
                    "tags",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _validate_bytes(tmp_path: Path, content: bytes) -> None:
    root = tmp_path / "repo"
    target = root / "environments" / "fuzz" / "env.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    report = validate(root=root, cwd=root)
    for diagnostic in report.diagnostics:
        assert diagnostic.line >= 1 and diagnostic.col >= 1
        assert diagnostic.message and diagnostic.rule


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutated_manifest())
def test_mutated_manifests_give_only_diagnostics(tmp_path: Path, content: bytes) -> None:
    _validate_bytes(tmp_path, content)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(json_values)
def test_generated_documents_give_only_diagnostics(tmp_path: Path, document: object) -> None:
    _validate_bytes(tmp_path, json.dumps(document).encode())
