"""A manifest as validation sees it (`ManifestFile`): parsed with positions, or kept as JSON text
(from the data index, or sent back by a worker process) and decoded when a rule asks; and the
valid manifests by name, as the validation report hands them to the stages after it."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from compiler._util.cache import file_stamp
from compiler.errors import UsageError
from compiler.load.yamlio import Document, read_yaml
from compiler.manifest.sources import ValidManifest, name_of, parent_of

if TYPE_CHECKING:
    from compiler.validate.data_index import IndexedText


class StoredData(NamedTuple):
    """A manifest's data kept as JSON text (here, or in the data index: `indexed`), with what
    the cross-file rules ask of every manifest (its name and `extends`) read out beforehand."""

    path: str  # as messages show it
    text: str | None  # None: the data index holds it
    name: str | None
    extends: str | None
    indexed: IndexedText | None = None


class ManifestFile:
    """A manifest as validation sees it: where it is, and what it parsed to.

    One from the data index or from a worker process keeps its data as JSON text (`stored`), or
    only where the data index holds that text; it is decoded when a rule asks for its `doc` and
    dropped again by `release`: 50,000 manifests' parsed trees would take hundreds of MB."""

    __slots__ = ("_doc", "_file", "_stored", "schema_ok")

    def __init__(self, file: Path, doc: Document, schema_ok: bool) -> None:
        self._file: Path | str = file
        self.schema_ok = schema_ok
        self._doc: Document | None = doc
        self._stored: StoredData | None = None

    @classmethod
    def stored(cls, file: Path | str, stored: StoredData, schema_ok: bool) -> ManifestFile:
        """A manifest kept as text; `file` may be the path's text (a Path is made when asked:
        tens of thousands of them weigh tens of MB)."""
        manifest = cls.__new__(cls)
        manifest._file, manifest.schema_ok = file, schema_ok
        manifest._doc, manifest._stored = None, stored
        return manifest

    @property
    def file(self) -> Path:
        return Path(self._file) if isinstance(self._file, str) else self._file

    @property
    def path(self) -> str:
        """The file, as text (no Path made: validation asks for it per manifest, many times)."""
        return self._file if isinstance(self._file, str) else str(self._file)

    @property
    def folder(self) -> str:
        """The folder of the file, as text (no Path made)."""
        return os.path.dirname(self.path)

    @classmethod
    def storing(cls, manifest: ManifestFile) -> ManifestFile:
        """`manifest` as text, without positions (what a worker process sends back)."""
        data = manifest.doc.data
        stored = StoredData(manifest.doc.path, manifest.text, name_of(data), parent_of(data))
        return cls.stored(manifest.path, stored, manifest.schema_ok)  # (no Path kept)

    def indexed(self, indexed: IndexedText) -> None:
        """Let go of a stored manifest's text: the data index holds it (`indexed`)."""
        if self._stored is not None:
            self._stored = self._stored._replace(text=None, indexed=indexed)

    @property
    def doc(self) -> Document:
        if self._doc is None:
            assert self._stored is not None
            self._doc = Document(self._stored.path, json.loads(self.text), ())
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
        return json.loads(self.text)

    @property
    def text(self) -> str:
        """The data as JSON text (what the data index keeps)."""
        if self._stored is None:
            return json.dumps(self.doc.data, separators=(",", ":"))
        if self._stored.text is not None:
            return self._stored.text
        assert self._stored.indexed is not None
        text = self._stored.indexed.read()
        return text if text is not None else self._read_again(self._stored)

    def _read_again(self, stored: StoredData) -> str:
        """The text, from the file itself, when the data index no longer holds it (another run
        saw a file change, or the index failed): the same data while the file is unchanged."""
        assert stored.indexed is not None
        doc = read_yaml(self.file, stored.path)
        # Unchanged now is unchanged since it was stamped (a change moves its ctime).
        if file_stamp(str(self._file)) != stored.indexed.stamp or not doc.ok:
            raise UsageError(f"{doc.path}: changed while envc was running; run envc again")
        return json.dumps(doc.data, separators=(",", ":"))

    @property
    def placed(self) -> bool:
        """Whether findings on it can say where (a stored manifest has no positions)."""
        return self._stored is None and bool(self.doc.positions)

    @property
    def name(self) -> str | None:
        return self._stored.name if self._stored is not None else name_of(self.doc.data)

    @property
    def parent(self) -> str | None:
        if not self.schema_ok:
            return None
        return self._stored.extends if self._stored is not None else parent_of(self.doc.data)


class ValidByName(Mapping[str, ValidManifest]):
    """Name -> ValidManifest of the valid manifests. A stored manifest's data is decoded when
    asked for, and only the most recent are kept: the stages after validation go environment
    by environment, and a repository's worth of parsed trees would not fit in flat memory."""

    _RECENT = 512  # parents are asked for again by each of their children

    def __init__(self, by_name: dict[str, ManifestFile], key: Callable[[str], str]) -> None:
        self._by_name, self._key = by_name, key
        self._recent: OrderedDict[str, ValidManifest] = OrderedDict()

    def __getitem__(self, name: str) -> ValidManifest:
        # Each OrderedDict call is atomic; a reader in another thread may evict between two
        # of them, which only costs a decode (the KeyErrors are that race).
        recent = self._recent.get(name)
        if recent is not None:
            with suppress(KeyError):
                self._recent.move_to_end(name)
            return recent
        manifest = self._by_name[name]
        valid = ValidManifest(manifest.data, self._key(manifest.folder))
        self._recent[name] = valid
        while len(self._recent) > self._RECENT:
            with suppress(KeyError):
                self._recent.popitem(last=False)
        return valid

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)
