"""Register stage: environment versions, behind one Protocol.

A name has versions 1, 2, 3 …; each version is immutable and holds one content address.
Registering an address the name already has returns that version and changes nothing, so two CI
jobs registering the same thing get the same answer. A manifest's explicit `version:` is used
when free and refused when another address holds it. `latest` is the highest version that is
not archived; other labels are set by hand and move.

Backends are chosen by URL: `sqlite:PATH` (the embedded default, `.envc/registry.db`,
sqlite.py) and `oci://host[:port]/path` (an OCI registry shared by CI runners, oci.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from compiler.errors import EnvcError, UsageError

if TYPE_CHECKING:
    from compiler.render.output import FileContent

DEFAULT_REGISTRY = "sqlite:.envc/registry.db"
LATEST = "latest"
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")
REFERENCE = re.compile(r"^(?P<name>[^@:\s]+)(?:@(?P<version>[^@:\s]+)|:(?P<label>[^@:\s]+))?$")


class RegistryError(EnvcError):
    """A request the registry refuses (a version taken, an unknown name or label)."""


class TrackedRegistry(UsageError):
    """The registry is a file git tracks: the repository, which a pull request can change,
    would decide what is registered. Never tolerated (see LazyRegistry)."""


@dataclass(frozen=True)
class Candidate:
    """What to register: one environment's head state."""

    name: str
    content_address: str
    manifest: Mapping[str, Any]  # the resolved manifest, enough to render this version again
    lock_digests: Mapping[str, str] = field(default_factory=dict)
    image_repository: str | None = None  # the image is <repository>:<version>
    image_digest: str | None = None  # sha256:… as the builder reported it
    commit: str | None = None
    author_time: str | None = None  # ISO 8601, the commit's author date
    requested_version: int | None = None  # the manifest's `version:`
    # The rendered build context (file name -> content): the OCI backend stores it with the
    # record; the embedded one keeps its SBOMs only (re-render the rest from the commit).
    context: Mapping[str, FileContent] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvironmentRecord:
    name: str
    version: int
    content_address: str
    manifest: Mapping[str, Any] | None  # None in listings (Registry.versions)
    lock_digests: Mapping[str, str]
    image: str | None  # <repository>:<version>
    image_digest: str | None
    commit: str | None
    author_time: str | None
    registered_at: str  # ISO 8601 UTC, when the version was created
    labels: tuple[str, ...] = ()
    archived: bool = False

    def summary(self) -> dict[str, Any]:
        """Everything but the manifest copy, for listings."""
        document = {name: getattr(self, name) for name in _SUMMARY_FIELDS}
        document["labels"] = list(self.labels)
        document["lock_digests"] = dict(self.lock_digests)
        return document

    def as_dict(self) -> dict[str, Any]:
        # Shallow: dataclasses.asdict deep-copies every value, which dominates long listings.
        document = self.summary()
        document["manifest"] = None if self.manifest is None else dict(self.manifest)
        return document


# dataclasses.fields() costs as much as the rest of a listing's row: looked up once.
_SUMMARY_FIELDS = tuple(f.name for f in fields(EnvironmentRecord) if f.name != "manifest")


def summaries_json(records: Sequence[EnvironmentRecord]) -> str:
    """The records' summaries as one JSON array: compact (listings can be long, and indenting
    makes the json module slow), keys sorted: what `envc list --format json` prints."""
    from compiler._util.jsontext import compact_json

    return compact_json([record.summary() for record in records])


@dataclass(frozen=True)
class Registration:
    record: EnvironmentRecord
    created: bool  # False: the name already had this content address


class Registry(Protocol):
    def register(self, candidate: Candidate) -> Registration: ...

    def register_all(self, candidates: Sequence[Candidate]) -> list[Registration]:
        """`register` of each candidate, in order; the versions of an error's batch (one
        candidate here; a transaction's worth in SQLite) are not kept."""
        return [self.register(candidate) for candidate in candidates]

    def find(self, name: str, content_address: str) -> EnvironmentRecord | None: ...

    def find_all(self, wanted: Sequence[tuple[str, str]]) -> list[EnvironmentRecord | None]:
        """`find` of each (name, content address), in order."""
        return [self.find(name, address) for name, address in wanted]

    def get(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> EnvironmentRecord:
        """One version: by number, by label, or `latest`."""
        ...

    def versions(
        self, name: str | None = None, archived: bool = False
    ) -> list[EnvironmentRecord]: ...

    def versions_json(self, name: str | None = None, archived: bool = False) -> str:
        """`summaries_json` of `versions(name, archived)`."""
        ...

    def label(self, name: str, version: int, label: str) -> EnvironmentRecord: ...

    def archive(self, name: str, version: int) -> EnvironmentRecord: ...

    def sboms(self, name: str, version: int) -> dict[str, bytes]:
        """The SBOMs registered with a version (file name -> bytes); {} for none."""
        ...

    def close(self) -> None: ...


def sbom_files(context: Mapping[str, FileContent]) -> dict[str, bytes]:
    """The SBOMs among a build context's files (render/sbom.py names them)."""
    return {
        name: content.encode() if isinstance(content, str) else content
        for name, content in sorted(context.items())
        if name.startswith("sbom") and name.endswith(".cdx.json")
    }


class LazyRegistry:
    """A registry opened on first use: a plan with nothing to build never opens one. `opener`
    returns it, or None when there is none. With `tolerate`, a registry that cannot be opened
    (unless git tracks it) counts as none and the reason is kept in `problem` (the CI job
    reports it per step)."""

    def __init__(self, opener: Callable[[], Registry | None], tolerate: bool = False) -> None:
        self._opener = opener
        self._tolerate = tolerate
        self._opened: list[Registry | None] = []
        self.problem: list[str] = []

    def get(self) -> Registry | None:
        if not self._opened:
            try:
                self._opened.append(self._opener())
            except TrackedRegistry:
                raise
            except EnvcError as exc:
                if not self._tolerate:
                    raise
                self._opened.append(None)
                self.problem = str(exc).splitlines()
        return self._opened[0]

    def versions_of(self, wanted: list[tuple[str, str]]) -> list[tuple[int, bool] | None]:
        """For each (name, content address): (the version it has, whether it is archived),
        if a registry holds it."""
        registry = self.get()
        found = [None] * len(wanted) if registry is None else registry.find_all(wanted)
        return [None if record is None else (record.version, record.archived) for record in found]


def parse_reference(text: str) -> tuple[str, int | None, str | None]:
    """`NAME`, `NAME@VERSION` or `NAME:LABEL` -> (name, version, label). Azure ML's spelling is
    read too (`azureml:NAME:VERSION`, `NAME@LABEL`): a version is digits and a label starts with
    a letter, so either separator says which one it is."""
    match = REFERENCE.match(text.removeprefix("azureml:"))
    if match is None:
        raise UsageError(
            f"expected NAME, NAME@VERSION or NAME:LABEL (or Azure ML's NAME:VERSION, "
            f"NAME@LABEL), got {text!r}"
        )
    given = match["version"] or match["label"]
    if given is None:
        return match["name"], None, None
    if given.isdigit():
        return match["name"], int(given), None
    if not given[0].isalpha():
        raise UsageError(f"{text!r}: a version is a number, a label starts with a letter")
    return match["name"], None, given


def check_label(label: str) -> None:
    if label == LATEST:
        raise UsageError(f"{LATEST!r} is maintained by envc: the highest version not archived")
    if not LABEL_PATTERN.match(label):
        raise UsageError(
            f"label {label!r}: use lower-case letters, digits, '.', '_' and '-', "
            "starting with a letter"
        )


def configured_registry(root: Path, url: str | None, plain_http: bool = False) -> Registry:
    """The registry at `url`, else the one envc.yaml names, else the embedded one."""
    if url is None:
        from compiler.validate.config import load_config

        url = load_config(root).registry or DEFAULT_REGISTRY
    return open_registry(url, root, plain_http)


def open_registry(url: str, root: Path, plain_http: bool = False) -> Registry:
    """The registry at `url`; relative `sqlite:` paths are relative to the repository `root`.
    `plain_http` allows an OCI registry without TLS."""
    scheme, _, rest = url.partition(":")
    if scheme == "sqlite" and rest:
        from compiler.registry.sqlite import SqliteRegistry

        path = Path(rest.removeprefix("//")) if rest.startswith("///") else Path(rest)
        return SqliteRegistry(path if path.is_absolute() else root / path)
    if scheme == "oci":
        from compiler.registry.oci import OciRegistry

        return OciRegistry(*_oci_location(url), plain_http)
    raise UsageError(
        f"unsupported registry URL {url!r}; expected sqlite:PATH or oci://host[:port]/path"
    )


def _oci_location(url: str) -> tuple[str, str]:
    """`oci://host[:port]/path` -> (host[:port], path)."""
    host, _, path = url.removeprefix("oci://").partition("/")
    if not host or not re.match(r"^[A-Za-z0-9.-]+(:[0-9]+)?$", host):
        raise UsageError(f"expected oci://host[:port]/path, got {url!r}")
    return host, path
