"""A manifest as validation sees it (`ManifestFile`): parsed with positions, or kept as JSON text
(from the data index, or sent back by a worker process) and decoded when a rule asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from compiler.load.yamlio import Document


class StoredData(NamedTuple):
    """A manifest's data kept as JSON text, with what the cross-file rules ask of every manifest
    (its name and `extends`) read out beforehand."""

    path: str  # as messages show it
    text: str
    name: str | None
    extends: str | None


def _name_in(data: Any) -> str | None:
    value = data.get("name") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _extends_in(data: Any) -> str | None:
    value = data.get("extends") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


class ManifestFile:
    """A manifest as validation sees it: where it is, and what it parsed to.

    One from the data index or from a worker process keeps its data as JSON text (`stored`),
    decoded when a rule asks for its `doc` and dropped again by `release`: 50,000 manifests'
    parsed trees would take hundreds of MB, their texts a fraction of that."""

    __slots__ = ("_doc", "_stored", "file", "schema_ok")

    def __init__(self, file: Path, doc: Document, schema_ok: bool) -> None:
        self.file, self.schema_ok = file, schema_ok
        self._doc: Document | None = doc
        self._stored: StoredData | None = None

    @classmethod
    def stored(cls, file: Path, stored: StoredData, schema_ok: bool) -> ManifestFile:
        manifest = cls.__new__(cls)
        manifest.file, manifest.schema_ok = file, schema_ok
        manifest._doc, manifest._stored = None, stored
        return manifest

    @classmethod
    def storing(cls, manifest: ManifestFile) -> ManifestFile:
        """`manifest` as text, without positions (what a worker process sends back)."""
        data = manifest.doc.data
        stored = StoredData(manifest.doc.path, manifest.text, _name_in(data), _extends_in(data))
        return cls.stored(manifest.file, stored, manifest.schema_ok)

    def __getstate__(self) -> tuple[Any, ...]:
        return self.file, self.schema_ok, self._doc, self._stored

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.file, self.schema_ok, self._doc, self._stored = state

    @property
    def doc(self) -> Document:
        if self._doc is None:
            assert self._stored is not None
            self._doc = Document(self._stored.path, json.loads(self._stored.text), ())
        return self._doc

    def release(self) -> None:
        """Forget the decoded data of a stored manifest (decoded again when next asked for)."""
        if self._stored is not None:
            self._doc = None

    @property
    def data(self) -> Any:
        """The data, decoded afresh for a stored manifest and not kept."""
        if self._doc is not None:
            return self._doc.data
        assert self._stored is not None
        return json.loads(self._stored.text)

    @property
    def text(self) -> str:
        """The data as JSON text (what the data index keeps)."""
        if self._stored is not None:
            return self._stored.text
        return json.dumps(self.doc.data, separators=(",", ":"))

    @property
    def placed(self) -> bool:
        """Whether findings on it can say where (a stored manifest has no positions)."""
        return self._stored is None and bool(self.doc.positions)

    @property
    def name(self) -> str | None:
        return self._stored.name if self._stored is not None else _name_in(self.doc.data)

    @property
    def parent(self) -> str | None:
        if not self.schema_ok:
            return None
        return self._stored.extends if self._stored is not None else _extends_in(self.doc.data)
