"""Schema stage: check manifest data against schemas/manifest.schema.json (and envc.yaml against
schemas/config.schema.json).

The happy path asks jsonschema-rs (compiled, microseconds per manifest) for a yes/no; only a file
that fails is explained, by python-jsonschema, which reports every violation and picks the
best-matching branch of an `anyOf`. Messages are rewritten for people writing YAML: "did you mean"
for unknown keys, what a pattern means, and a hint when an unquoted version became a number.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from compiler._util.resources import schema_path
from compiler.errors import Diagnostic, close_matches
from compiler.load.yamlio import Document, JsonPath
from compiler.manifest.patterns import EXPLANATIONS

# Keys people bring from conda environment.yml and Azure ML definitions, and where they go here.
_FOREIGN_KEYS = {
    "dependencies": "'conda' (or 'conda_file' for an environment.yml)",
    "environment_variables": "'variables'",
    "image": "'docker.base_image'",
    "build": "'docker.base_dockerfile'",
    "conda_dependencies": "'conda_file'",
    "pip_requirements": "'requirements_file'",
}


MANIFEST = "manifest"
CONFIG = "config"  # envc.yaml
CATALOG = "catalog"  # templates/base-images.yaml


@cache
def load_schema(name: str = MANIFEST) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return schema


@cache
def _fast_validator(name: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(load_schema(name))


@cache
def _explaining_validator(name: str) -> Any:
    import jsonschema

    # JSON Schema counts 1.0 as an integer; the model (and YAML readers) do not.
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = jsonschema.validators.extend(base, type_checker=checker)  # type: ignore[no-untyped-call]
    return strict(load_schema(name))


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


def conforms(data: Any, *, has_float: bool | None = None, schema: str = MANIFEST) -> bool:
    """Whether `data` is a valid manifest (or other format: `schema`). No value of envc's formats
    is a float, so 1.0 is refused (`has_float`, when the reader already knows, saves walking the
    data)."""
    if has_float is None:
        has_float = _has_float(data)
    return not has_float and bool(_fast_validator(schema).is_valid(data))


def check_schema(doc: Document, schema: str = MANIFEST) -> list[Diagnostic]:
    """Every violation of `schema` in `doc`, located; empty when the data conforms."""
    if conforms(doc.data, has_float=doc.has_float, schema=schema):
        return []
    from jsonschema.exceptions import best_match

    found = {
        d
        for error in _explaining_validator(schema).iter_errors(doc.data)
        for d in _describe(doc, error, best_match)
    }
    # A value of the wrong type also fails its const/enum/pattern: report only the type.
    mistyped = {d.json_path for d in found if d.rule in ("schema-type", "unquoted-value")}
    return sorted(
        d
        for d in found
        if d.json_path not in mistyped or d.rule in ("schema-type", "unquoted-value")
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null"


_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_message(
    doc: Document, path: JsonPath, expected: list[str], value: Any
) -> tuple[str, str]:
    wanted = " or ".join(_TYPE_WORDS.get(name, name) for name in expected)
    message = f"expected {wanted}, got {_kind(value)}"
    if not isinstance(value, (dict, list)):
        message += f" ({_shown(value)})"
    source = doc.plain_text.get(path)
    if "string" in expected and source is not None and not isinstance(value, str):
        return (
            f'{message}: YAML reads {source} as {_kind(value)}; quote it: "{source}"'
        ), "unquoted-value"
    return message, "schema-type"


def _fits(schema_type: str, value: Any) -> bool:
    """Whether `value` is of JSON Schema type `schema_type`."""
    if isinstance(value, bool) or value is None:
        return schema_type == ("boolean" if isinstance(value, bool) else "null")
    python_types = {"string": str, "object": dict, "array": list, "integer": int}
    return isinstance(value, python_types.get(schema_type, (int, float)))


def _describe(doc: Document, error: Any, best_match: Any) -> list[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = error.validator
    if keyword in ("anyOf", "oneOf") and error.context:
        types = [sub.validator_value for sub in error.context if sub.validator == "type"]
        branch_types = [s.get("type", "object") for s in error.validator_value]
        # The value has the shape of one branch (a mapping where a string or a mapping goes):
        # what is wrong is inside it, so say that, at the key that is wrong.
        fitting = [i for i, kind in enumerate(branch_types) if _fits(kind, error.instance)]
        inside = [
            sub for sub in error.context if fitting and sub.relative_schema_path[0] in fitting
        ]
        if len(fitting) == 1 and inside:
            return _describe(doc, best_match(inside), best_match)
        if len(types) == len(error.validator_value) or all(
            sub.validator in ("type", "$ref") for sub in error.context
        ):
            message, rule = _type_message(doc, path, branch_types, error.instance)
            return [doc.diagnostic(path, message, rule)]
        return _describe(doc, best_match(error.context), best_match)
    if keyword == "type":
        expected = error.validator_value
        message, rule = _type_message(
            doc, path, expected if isinstance(expected, list) else [expected], error.instance
        )
        return [doc.diagnostic(path, message, rule)]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        out = []
        for key in sorted(set(error.instance) - set(known)):
            close = close_matches(key, known)
            if close:
                hint = f" (did you mean {_shown(close[0])}?)"
            elif not path and key in _FOREIGN_KEYS:
                hint = f"; envc calls this {_FOREIGN_KEYS[key]}"
            else:
                hint = f"; known keys: {', '.join(known)}"
            out.append(
                doc.diagnostic(
                    (*path, key), f"unknown key {_shown(key)}{hint}", "schema-unknown-key", key=True
                )
            )
        return out
    if keyword == "required" and isinstance(error.instance, dict):
        return [
            doc.diagnostic(path, f"missing required key {_shown(key)}", "schema-required")
            for key in error.validator_value
            if key not in error.instance
        ]
    if keyword == "pattern" and "propertyNames" in error.schema_path:
        what = EXPLANATIONS.get(error.validator_value, f"matching {error.validator_value}")
        return [
            doc.diagnostic(
                (*path, error.instance),
                f"key {_shown(error.instance)} is not {what}",
                "schema-key",
                key=True,
            )
        ]
    if keyword == "pattern":
        what = EXPLANATIONS.get(error.validator_value, f"matching {error.validator_value}")
        return [doc.diagnostic(path, f"{_shown(error.instance)} is not {what}", "schema-pattern")]
    if keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        options = ", ".join(_shown(option) for option in allowed)
        message = f"{_shown(error.instance)} is not allowed here; expected one of: {options}"
        if keyword == "const":
            message = f"{_shown(error.instance)} is not allowed here; expected {options}"
        if isinstance(error.instance, str):
            close = close_matches(error.instance, [str(a) for a in allowed])
            if close:
                message += f" (did you mean {_shown(close[0])}?)"
        return [doc.diagnostic(path, message, "schema-enum")]
    if keyword == "uniqueItems" and isinstance(error.instance, list):
        seen: set[str] = set()
        out = []
        for index, item in enumerate(error.instance):
            token = json.dumps(item, sort_keys=True)
            if token in seen:
                out.append(
                    doc.diagnostic(
                        (*path, index), f"duplicate item {_shown(item)}", "schema-unique"
                    )
                )
            seen.add(token)
        return out
    return [doc.diagnostic(path, str(error.message), f"schema-{keyword.lower()}")]
