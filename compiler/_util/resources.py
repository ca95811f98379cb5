"""Where envc's own data files (schemas/, templates/) are: inside the wheel, or in the checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # compiler/
CONFIG_FILE = "envc.yaml"  # the repository's settings (compiler/config.py)


def data_dir(kind: str) -> Path:
    """`schemas` or `templates`: packaged in the wheel as compiler/_data/<kind>, top-level here."""
    packaged = _PACKAGE / "_data" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / kind


def schema_path(name: str) -> Path:
    """`manifest` or `config`: the JSON Schema of that format."""
    return data_dir("schemas") / f"{name}.schema.json"


def manifest_schema_path() -> Path:
    return schema_path("manifest")
