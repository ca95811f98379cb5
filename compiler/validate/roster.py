"""Who is who among a repository's manifests, for the cross-file rules.

`envc validate FILE` (the pre-commit hook) checks a few files, but unique names and `extends`
look at every manifest of the repository, and parsing thousands of them costs seconds. The roster
knows each manifest by the environment name it claims, read with a line scan (or remembered in
.envc/cache/names.json while the file is unchanged), and parses in full only the manifests a rule
looks at: parents, variants, namesakes of a checked file. Findings stay those of a full parse:

* the scan never misses a manifest's real name: where it cannot be sure, it says so, and that
  manifest is parsed (see scan_name);
* a name it reads may be wrong for a file that does not load (or whose `name:` line sits inside a
  multi-line string), so a manifest is parsed before a finding depends on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from compiler.errors import close_matches
from compiler.load.yamlio import resolve_plain

if TYPE_CHECKING:
    from compiler.validate.manifest_file import ManifestFile


class _Unsure:
    """The scan cannot tell: parse the manifest."""


UNSURE = _Unsure()
Claim = str | None | _Unsure

# In the text with a line break added at both ends (so each line starts after one):
# a line with content at column 0 that is not a plain `key:`,
_NOT_A_KEY = re.compile(r"\n(?![A-Za-z_][A-Za-z0-9_-]*:[ \n])[^ #\n]")
# a first line with content that is indented (a block mapping not at column 0),
_INDENTED_START = re.compile(r"\n(?:[ ]*(?:#.*)?\n)*[ ]+[^ #\n]")
# the name's value: a plain word, maybe a comment,
_NAME_VALUE = re.compile(r" +([A-Za-z0-9][A-Za-z0-9._-]*)(?: +#.*| *)")
# and after its line only blank and comment lines until the next key: the value ends there.
_VALUE_ENDS = re.compile(r"(?:\n[ ]*(?:#.*)?(?=\n))*\n(?:[^ \n]|\Z)")
_AWKWARD = re.compile("[\r\t\x00\x85\u2028\u2029]")  # breaks and blanks YAML reads apart
_NAME_KEY = "\nname:"


def scan_name(raw: bytes) -> Claim:
    """The environment name a manifest's text declares at its top level (None: no `name:` key),
    as a full parse reads it when the file loads; UNSURE when this scan cannot tell.

    A full parse's top-level `name` key of a block mapping at column 0 is a line `name: VALUE`
    at column 0: the scan finds every such line, so it never misses the real one; when there are
    several (one may be inside a multi-line string), or the value is not a plain word on that
    line, or a line at column 0 is not a plain `key:` (a quoted or complex key, a flow mapping, a
    document marker), it is UNSURE. A name it reads in a file that does not load is wrong, which
    is why the roster confirms a name with a full parse before a finding depends on it."""
    try:
        text = "\n" + raw.decode("utf-8").removeprefix("\ufeff") + "\n"
    except UnicodeDecodeError:
        return UNSURE
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if (
        ("\t" in text or "\r" in text or "\x00" in text)
        or (not text.isascii() and _AWKWARD.search(text))
        or _INDENTED_START.match(text)
        or _NOT_A_KEY.search(text)
    ):
        return UNSURE
    count = text.count(_NAME_KEY)
    if count == 0:
        return None
    start = text.index(_NAME_KEY) + len(_NAME_KEY)
    end = text.index("\n", start)
    value = _NAME_VALUE.fullmatch(text, start, end)
    if (
        count > 1
        or value is None
        or not isinstance(resolve_plain(value[1]), str)
        or not _VALUE_ENDS.match(text, end)
    ):
        return UNSURE
    return value[1]


class Roster:
    """Every manifest of a repository (paths in a stable order) by the name it claims; each one
    parsed by `load` when a rule needs it, and kept."""

    def __init__(
        self,
        files: Iterable[str],
        loaded: Mapping[str, ManifestFile],
        claims: Mapping[str, tuple[Claim, bool]],
        load: Callable[[str], ManifestFile],
    ) -> None:
        """`loaded`: manifests already parsed; `claims`: for the rest, (name, certain) — certain
        when it came from a full parse."""
        self.files = list(files)
        self.loaded = dict(loaded)
        self.claims = claims
        self._load = load
        self._by_claim: dict[str, list[str]] | None = None
        self._by_folder: dict[str, list[str]] | None = None
        self._owners: dict[str, list[str]] = {}

    @classmethod
    def of(cls, manifests: Iterable[ManifestFile]) -> Roster:
        """A roster of manifests all parsed already."""
        loaded = {manifest.path: manifest for manifest in manifests}
        return cls(loaded, loaded, {}, cls._unknown)

    @staticmethod
    def _unknown(file: str) -> ManifestFile:
        raise KeyError(file)

    def manifest(self, file: str) -> ManifestFile:
        if file not in self.loaded:
            self.loaded[file] = self._load(file)
        return self.loaded[file]

    def name_of(self, file: str) -> str | None:
        """The environment name of the manifest in `file`, as a full parse reads it."""
        if file in self.loaded:
            return self.loaded[file].name
        claim, certain = self.claims[file]
        return claim if certain and not isinstance(claim, _Unsure) else self.manifest(file).name

    def _files_by_claim(self) -> dict[str, list[str]]:
        if self._by_claim is None:
            self._by_claim = {}
            loaded, claims = self.loaded, self.claims
            for file in self.files:
                claim = loaded[file].name if file in loaded else claims[file][0]
                if isinstance(claim, str):
                    self._by_claim.setdefault(claim, []).append(file)
        return self._by_claim

    def names(self) -> list[str]:
        """Every environment name (each one confirmed)."""
        return [name for name in self._files_by_claim() if self.owners(name)]

    def owners(self, name: str) -> list[str]:
        """The files of the manifests named `name`, in the roster's order."""
        if name not in self._owners:
            claimed = self._files_by_claim().get(name, ())
            self._owners[name] = [file for file in claimed if self.name_of(file) == name]
        return self._owners[name]

    def has_nameless(self, folder_name: str) -> bool:
        """Whether a manifest without a name (it failed to load, or has no `name:`) is in a
        folder called `folder_name` (such a manifest still answers to its folder's name)."""
        if self._by_folder is None:
            self._by_folder = {}
            for file in self.files:
                folder = os.path.basename(os.path.dirname(file))
                self._by_folder.setdefault(folder, []).append(file)
        return any(self.name_of(file) is None for file in self._by_folder.get(folder_name, ()))

    def closest(self, word: str) -> str | None:
        """The environment name most like `word` (difflib's choice among the valid ones)."""
        claimed = self._files_by_claim()
        for candidate in close_matches(word, sorted(claimed), n=len(claimed) or 1):
            if self.owners(candidate):
                return candidate
        return None


class ByName(Mapping[str, "ManifestFile"]):
    """Environment name -> the first manifest of that name (parsed), looked up on demand."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    def __getitem__(self, name: str) -> ManifestFile:
        owners = self.roster.owners(name)
        if not owners:
            raise KeyError(name)
        return self.roster.manifest(owners[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.roster.names())

    def __len__(self) -> int:
        return len(self.roster.names())
