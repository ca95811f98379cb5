"""The JSON Schema and the pydantic models are one contract: generated, committed, and agreeing."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import jsonschema_rs
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler._util.resources import manifest_schema_path
from compiler.load.discover import discover
from compiler.load.yamlio import parse_yaml, read_yaml
from compiler.manifest.model import Manifest, manifest_json_schema
from compiler.validate.schema import check_schema, conforms
from tests.conftest import CASES, PROJECT


def test_committed_schema_is_generated_from_the_models() -> None:
    committed = json.loads(manifest_schema_path().read_text(encoding="utf-8"))
    assert committed == manifest_json_schema(), "run: envc schema > schemas/manifest.schema.json"


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = manifest_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def model_accepts(data: Any) -> bool:
    try:
        Manifest.model_validate(data)
    except pydantic.ValidationError:
        return False
    return True


def all_case_manifests() -> list[Any]:
    found = []
    for file in [*discover(CASES), *discover(PROJECT / "environments")]:
        doc = read_yaml(file, str(file))
        if doc.ok and doc.data is not None:
            found.append(pytest.param(doc.data, id=str(file.relative_to(PROJECT))))
    return found


@pytest.mark.parametrize("data", all_case_manifests())
def test_schema_and_model_agree_on_every_case_file(data: Any) -> None:
    assert conforms(data) == model_accepts(data)


names = st.sampled_from(["env", "a", "team.env-2", "Bad", "-x", "x" * 70, ""])
versions = st.sampled_from(["3.12", "3.9.18", "3", "3.x", "2.7", "3.12\n"])
values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from([1.0, 3.1, 0.5]),
    st.sampled_from(
        [
            "",
            "x",
            "numpy",
            "conda-forge",
            "linux-64",
            "osx-arm",
            "gpu",
            "cpu",
            "12.1",
            "python:3.12-slim",
            "Dockerfile",
            "../x",
            "/opt/conda/bin/python",
            "${TOKEN}",
            "a b",
        ]
    ),
)
docker = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.one_of(st.booleans(), values),
        "base_image": st.one_of(
            st.sampled_from(
                ["python:3.12-slim", "mcr.microsoft.com/a/b:1", "UPPER:1", "x@sha256:" + "a" * 64]
            ),
            values,
        ),
        "base_image_registry": st.one_of(
            st.fixed_dictionaries(
                {"address": st.sampled_from(["acr.io", "a b"])},
                optional={"username": st.sampled_from(["${U}", "admin"])},
            ),
            values,
        ),
        "base_dockerfile": values,
        "compute": values,
        "cuda": st.one_of(st.sampled_from(["12.1", "12"]), values),
        "shm_size": values,
    },
)
python = st.one_of(
    versions,
    values,
    st.fixed_dictionaries(
        {},
        optional={
            "version": st.one_of(versions, values),
            "user_managed_dependencies": values,
            "interpreter_path": values,
        },
    ),
)
manifests = st.fixed_dictionaries(
    {"schema_version": st.one_of(st.just(1), values), "name": st.one_of(names, values)},
    optional={
        "version": values,
        "description": values,
        "tags": st.dictionaries(st.sampled_from(["owner", "bad key", "x/y"]), values, max_size=2),
        "extends": st.one_of(names, values),
        "python": python,
        "channels": st.lists(values, max_size=3),
        "conda": st.one_of(st.lists(values, max_size=3), values),
        "pip": st.lists(values, max_size=3),
        "conda_file": values,
        "requirements_file": values,
        "platforms": st.lists(values, max_size=3),
        "docker": st.one_of(docker, values),
        "variables": st.dictionaries(st.sampled_from(["A", "1B", "C_D"]), values, max_size=2),
        "dependencies": values,
    },
)


def has_line_break(value: Any) -> bool:
    if isinstance(value, str):
        return "\n" in value
    if isinstance(value, dict):
        return any(has_line_break(v) for v in value.values())
    if isinstance(value, list):
        return any(has_line_break(v) for v in value)
    return False


@settings(max_examples=600, deadline=None)
@given(manifests)
def test_schema_validators_and_model_agree_on_generated_manifests(data: dict[str, Any]) -> None:
    fast = jsonschema_rs.validator_for(manifest_json_schema()).is_valid(data)
    model = model_accepts(data)
    assert conforms(data) == model
    if not has_line_break(data):
        # python-jsonschema's `$` also matches before a final newline; the semantic rules
        # refuse control characters for that reason (see test_trailing_newline_...).
        assert fast == model or any(isinstance(v, float) for v in _leaves(data))
        assert (not check_schema(_doc(data))) == model


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _doc(data: Any) -> Any:
    return parse_yaml("generated.yaml", json.dumps(data).encode())


def test_trailing_newline_passes_python_re_but_not_the_fast_validator() -> None:
    data = {"schema_version": 1, "name": "env\n"}
    assert jsonschema.Draft202012Validator(manifest_json_schema()).is_valid(data)
    assert not conforms(data)
    assert not model_accepts(data)
