"""The shared registry: environments as OCI artifacts in an OCI registry (`oci://host[:port]/path`).

Each environment name is a repository `<path>/<name>`. Each version is one artifact (an OCI image
manifest, pushed with compiler/registry/distribution.py): its config blob is the record (JSON,
media type `CONFIG_MEDIA_TYPE`), its layers the rendered build-context files, its annotations the
name, version, content address and commit. Tags: `<version>`; `sha256-<address>` for reuse
look-ups; labels; `archived-<version>`. `latest` is worked out when read (the highest version not
archived).

Version allocation without compare-and-swap (an OCI registry has none). A writer:

1. lists the tags; an address already tagged is returned as it is (idempotent);
2. takes N = the highest version + 1; while another writer's claim for N or for the same
   address is pending, it waits (exponential, jittered back-off);
3. pushes its record as a *claim*, tagged `claim-<N>-<address>-<nonce>`, and lists the tags
   again. If no other claim for N and no tag N exists, it won N: it tags the artifact N and
   `sha256-<address>`. Otherwise it deletes its claim, backs off and starts again.

Two claimants of N cannot both win: each lists after its own claim, so the later lister sees the
earlier claim. A claim of the address whose N is listed but not readable yet (distribution lists
a tag while its PUT still runs) is waited for, never taken as "not registered". No number is
skipped: N is always the highest version + 1. A claim whose writer stopped (killed, or the
registry went away) is deleted by the next writer it blocks once it is `STALE_SECONDS` old by the
registry's clock; it was never acknowledged, and re-running the job registers the address again.

Credentials: see compiler/registry/distribution.py. Plain HTTP is used only when asked
(`--plain-http`).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from compiler.errors import UsageError
from compiler.registry.base import (
    LATEST,
    Candidate,
    EnvironmentRecord,
    Registration,
    Registry,
    RegistryError,
    check_label,
    sbom_files,
    summaries_json,
)
from compiler.registry.distribution import MANIFEST_MEDIA_TYPE, Distribution

T = TypeVar("T")
CONFIG_MEDIA_TYPE = "application/vnd.envc.environment.v1+json"

# Each build-context file is a layer named by its path, as `oras pull` reads them.
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
TITLE_ANNOTATION = "org.opencontainers.image.title"
GIVE_UP_SECONDS = 300  # a registration that has not got a version by then fails
MAX_WAIT_SECONDS = 2.0
STALE_SECONDS = 60  # a claim this old, by the registry's clock, was abandoned
SIDE_BY_SIDE = 8  # names register_all and find_all work on at once
CLAIM = re.compile(r"^claim-(?P<version>[0-9]+)-(?P<address>[0-9a-f]{64})-(?P<nonce>[0-9a-f]+)$")


class OciRegistry(Registry):
    def __init__(self, host: str, path: str, plain_http: bool = False) -> None:
        self.host = host
        self.path = path.strip("/")
        self.plain_http = plain_http
        self.http = Distribution(host, plain_http)
        # The API version check (and the login it may ask for) first: a registry that is down or
        # refuses us is a problem at opening, which callers that can go on without one handle.
        self.http.check(self.http.request("GET", self.http.url("/v2/")), "its API")

    # -- one environment's repository -------------------------------------------------------

    def _repository(self, name: str) -> str:
        return f"{self.path}/{name}" if self.path else name

    def _tags(self, name: str) -> list[str]:
        return self.http.tags(self._repository(name))

    def _manifest(self, name: str, reference: str) -> tuple[bytes, str] | None:
        """The manifest's bytes and digest, or None when `reference` is not there."""
        return self.http.manifest(self._repository(name), reference)

    def _tag(self, name: str, tag: str, manifest: bytes) -> None:
        """Point `tag` at exactly these manifest bytes (the same digest as the original)."""
        self.http.put_manifest(self._repository(name), tag, manifest)

    def _delete(self, name: str, digest: str) -> None:
        self.http.delete_manifest(self._repository(name), digest)

    def _record(self, name: str, manifest: bytes, tags: list[str]) -> EnvironmentRecord:
        try:
            return self._read_record(name, manifest, tags)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UsageError(
                f"the registry at {self.host} holds a record of {name} envc cannot read"
            ) from None

    def _read_record(self, name: str, manifest: bytes, tags: list[str]) -> EnvironmentRecord:
        document = self._config(name, manifest)
        version = document["version"]
        labels = [
            tag
            for tag in tags
            if not tag.isdigit()
            and not tag.startswith(("sha256-", "claim-", "archived-"))
            and self._points_at(name, tag, manifest)
        ]
        archived = f"archived-{version}" in tags
        versions = self._live_versions(tags)
        if not archived and versions and max(versions) == version:
            labels.append(LATEST)
        return EnvironmentRecord(
            name=document["name"],
            version=version,
            content_address=document["content_address"],
            manifest=document["manifest"],
            lock_digests=document["lock_digests"],
            image=document["image"],
            image_digest=document["image_digest"],
            commit=document["commit"],
            author_time=document["author_time"],
            registered_at=document["registered_at"],
            labels=tuple(sorted(labels)),
            archived=archived,
        )

    def _points_at(self, name: str, tag: str, manifest: bytes) -> bool:
        found = self._manifest(name, tag)
        return found is not None and found[0] == manifest

    @staticmethod
    def _live_versions(tags: list[str]) -> list[int]:
        archived = {t.removeprefix("archived-") for t in tags if t.startswith("archived-")}
        return [int(t) for t in tags if t.isdigit() and t not in archived]

    # -- the Registry protocol ----------------------------------------------------------------

    def close(self) -> None:
        self.http.close()

    def find(self, name: str, content_address: str) -> EnvironmentRecord | None:
        return self._registered(name, content_address, self._tags(name), heal=False)

    def _registered(
        self, name: str, address: str, tags: list[str], *, heal: bool
    ) -> EnvironmentRecord | None:
        """The version that holds `address`: the one its address tag points at, when that record
        is of `address` and its version's tag points there too; else a won claim for `address`
        whose number is tagged (its writer stopped between its two tags), whose address tag is
        put back with `heal`."""
        if _address_tag(address) in tags:
            found = self._manifest(name, _address_tag(address))
            config = self._config(name, found[0]) if found is not None else {}
            if (
                found is not None
                and config.get("content_address") == address
                and self._points_at(name, str(config.get("version")), found[0])
            ):
                return self._record(name, found[0], tags)
        hex_address = address.removeprefix("sha256:")
        for claim in map(CLAIM.match, tags):
            if claim is None or claim["address"] != hex_address or claim["version"] not in tags:
                continue
            found = self._manifest(name, claim.string)
            numbered = self._manifest(name, claim["version"])
            if found is not None and numbered is not None and numbered[0] == found[0]:
                if heal:
                    self._tag(name, _address_tag(address), found[0])
                return self._record(name, found[0], tags)
            if found is not None and numbered is None and heal:
                # The registry lists a tag before it can be read: N is being tagged, maybe
                # with this claim. Taking N + 1 now would register the address twice.
                raise _InFlux
        return None

    def register(self, candidate: Candidate) -> Registration:
        name, address = candidate.name, candidate.content_address
        hex_address = address.removeprefix("sha256:")
        deadline = time.monotonic() + GIVE_UP_SECONDS
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            tags = self._tags(name)
            try:
                registered = self._registered(name, address, tags, heal=True)
            except _InFlux:
                _wait(attempt)
                continue
            if registered is not None:
                self._attach_sboms(candidate, registered.version)
                return Registration(registered, created=False)
            versions = {int(t) for t in tags if t.isdigit()}
            version = candidate.requested_version or max(versions, default=0) + 1
            if version in versions:
                holder = self.get(name, version).content_address
                raise RegistryError(
                    f"{name}: version {version} (the manifest's version:) is taken by content "
                    f"address {holder}; remove version: or pick a free one"
                )
            blockers = self._claiming(name, tags, version, hex_address)
            if blockers:
                # Another writer is claiming this number or this address: let it finish,
                # unless its claim was abandoned long ago.
                if not self._drop_stale(name, blockers):
                    _wait(attempt)
                continue
            claim = f"claim-{version}-{hex_address}-{secrets.token_hex(8)}"
            manifest, digest = self._push(candidate, version, claim)
            after = self._tags(name)
            if not self._claiming(name, after, version, mine=claim) and str(version) not in after:
                # N first, then the address: an address tag only ever points at a version that
                # is readable. A writer of the same address that lists in between finds this
                # claim with N tagged, and takes it as registered (_registered).
                self._tag(name, str(version), manifest)
                self._tag(name, _address_tag(address), manifest)
                if not self._points_at(name, str(version), manifest):
                    raise RegistryError(f"{name}@{version}: the registry did not keep the tag")
                self._attach_sboms(candidate, version, manifest)
                return Registration(self._record(name, manifest, self._tags(name)), created=True)
            self._delete(name, digest)
            _wait(attempt)
        raise RegistryError(
            f"{name}: no version could be allocated in {GIVE_UP_SECONDS} s; too many writers "
            "at once, or claims left by killed writers (claim-* tags)"
        )

    def register_all(self, candidates: Sequence[Candidate]) -> list[Registration]:
        """`register` of each candidate, SIDE_BY_SIDE names at once: a registration is a dozen
        requests in a row, so a remote registry's round trips set the pace (side_by_side)."""
        names = [candidate.name for candidate in candidates]
        return self._side_by_side(names, lambda registry, i: registry.register(candidates[i]))

    def find_all(self, wanted: Sequence[tuple[str, str]]) -> list[EnvironmentRecord | None]:
        names = [name for name, _ in wanted]
        return self._side_by_side(names, lambda registry, i: registry.find(*wanted[i]))

    def _side_by_side(self, names: Sequence[str], act: Callable[[OciRegistry, int], T]) -> list[T]:
        if len(set(names)) < 2:
            return [act(self, index) for index in range(len(names))]
        from compiler._util.threads import side_by_side

        connect = partial(OciRegistry, self.host, self.path, self.plain_http)
        return side_by_side(names, act, connect, SIDE_BY_SIDE)

    def _attach_sboms(self, candidate: Candidate, version: int, manifest: bytes = b"") -> None:
        """The version's SBOMs (from its build context) as an artifact referring to it, unless
        one does already (a registration that stopped before it is completed here)."""
        from compiler.registry.referrers import attach_once

        sboms = sbom_files(candidate.context)
        if sboms:
            manifest = manifest or self._versioned(candidate.name, version)
            attach_once(self.http, self._repository(candidate.name), manifest, sboms)

    def sboms(self, name: str, version: int) -> dict[str, bytes]:
        from compiler.registry.referrers import sbom_artifacts

        manifest = self._versioned(name, version)
        return sbom_artifacts(self.http, self._repository(name), manifest)

    def _claiming(
        self, name: str, tags: list[str], version: int, address: str = "", mine: str = ""
    ) -> list[re.Match[str]]:
        """The live claims of `tags` for `version` not yet tagged, or for `address`, but `mine`."""
        versions = {int(t) for t in tags if t.isdigit()}
        return self._live(
            name,
            [
                m
                for m in _pending_claims(tags, versions)
                if (int(m["version"]) == version or m["address"] == address) and m.string != mine
            ],
        )

    def _live(self, name: str, claims: list[re.Match[str]]) -> list[re.Match[str]]:
        """The claims whose artifact is still there. Under concurrent deletes, distribution 2.8
        can keep listing a tag whose manifest is gone: such a claim was deleted by its writer,
        and must not block anyone."""
        return [m for m in claims if self._manifest(name, m.string) is not None]

    def _drop_stale(self, name: str, claims: list[re.Match[str]]) -> bool:
        """Delete the claims among `claims` that are older than `STALE_SECONDS` by the
        registry's clock (their writers stopped; none was acknowledged); True if any was."""
        dropped = False
        for match in claims:
            found = self._manifest(name, match.string)
            if found is None:
                continue
            claimed_at = self._config(name, found[0]).get("claimed_at", 0)
            if self.http.server_time - claimed_at > STALE_SECONDS:
                self._delete(name, found[1])
                dropped = True
        return dropped

    def _config(self, name: str, manifest: bytes) -> dict[str, Any]:
        try:
            config = json.loads(manifest)["config"]["digest"]
        except (KeyError, TypeError, ValueError):
            raise UsageError(
                f"the registry at {self.host} holds a manifest envc cannot read"
            ) from None
        return self.http.blob_json(self._repository(name), config)

    def _push(self, candidate: Candidate, version: int, tag: str) -> tuple[bytes, str]:
        from compiler.registry.artifact import version_annotations, version_record

        record = version_record(candidate, version, tag, self.http.server_time)
        annotations = version_annotations(record)
        from compiler.render.output import as_bytes  # only registering needs it: keep `list` light

        repository = self._repository(candidate.name)
        config = self.http.push_blob(
            repository, json.dumps(record, sort_keys=True).encode(), CONFIG_MEDIA_TYPE
        )
        layers = [
            {
                **self.http.push_blob(repository, as_bytes(content), LAYER_MEDIA_TYPE),
                "annotations": {TITLE_ANNOTATION: file_name},
            }
            for file_name, content in sorted(candidate.context.items())
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config,
            "layers": layers,
            "annotations": annotations,
        }
        self._tag(candidate.name, tag, json.dumps(manifest, sort_keys=True).encode())
        found = self._manifest(candidate.name, tag)
        if found is None:
            raise UsageError(f"the registry at {self.host} lost {candidate.name}:{tag}")
        return found

    def get(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> EnvironmentRecord:
        tags = self._tags(name)
        if version is not None:
            reference, what = str(version), f"{name}@{version}"
        elif label is not None and label != LATEST:
            reference, what = label, f"{name}:{label}"
        else:
            live = self._live_versions(tags)
            reference, what = (str(max(live)) if live else ""), f"{name}:{LATEST}"
        found = self._manifest(name, reference) if reference in tags else None
        if found is None:
            raise RegistryError(f"{what} is not registered")
        return self._record(name, found[0], tags)

    def versions(self, name: str | None = None, archived: bool = False) -> list[EnvironmentRecord]:
        names = [name] if name is not None else self._names()
        records = []
        for each in sorted(names):
            tags = self._tags(each)
            live = set(self._live_versions(tags))
            for tag in sorted((t for t in tags if t.isdigit()), key=int):
                if archived or int(tag) in live:
                    found = self._manifest(each, tag)
                    if found is not None:
                        record = self._record(each, found[0], tags)
                        records.append(_without_manifest(record))
        return records

    def versions_json(self, name: str | None = None, archived: bool = False) -> str:
        return summaries_json(self.versions(name, archived))

    def _names(self) -> list[str]:
        prefix = f"{self.path}/" if self.path else ""
        return [
            r[len(prefix) :]
            for r in self.http.catalog()
            if r.startswith(prefix) and "/" not in r[len(prefix) :]
        ]

    def label(self, name: str, version: int, label: str) -> EnvironmentRecord:
        check_label(label)
        found = self._versioned(name, version)
        self._tag(name, label, found)
        return self.get(name, version)

    def archive(self, name: str, version: int) -> EnvironmentRecord:
        self._tag(name, f"archived-{version}", self._versioned(name, version))
        return self.get(name, version)

    def _versioned(self, name: str, version: int) -> bytes:
        found = self._manifest(name, str(version))
        if found is None:
            raise RegistryError(f"{name}@{version} is not registered")
        return found[0]


class _InFlux(Exception):
    """A version of the address is being tagged: look again shortly."""


def _pending_claims(tags: list[str], versions: set[int]) -> list[re.Match[str]]:
    """Claims for numbers not yet tagged (a winner's claim stays, but its number is tagged)."""
    return [m for m in map(CLAIM.match, tags) if m and int(m["version"]) not in versions]


def _address_tag(address: str) -> str:
    return "sha256-" + address.removeprefix("sha256:")


def _wait(attempt: int) -> None:
    """Exponential back-off with full jitter: writers that collided spread out."""
    time.sleep(random.uniform(0, min(MAX_WAIT_SECONDS, 0.05 * 2**attempt)))


def _without_manifest(record: EnvironmentRecord) -> EnvironmentRecord:
    return replace(record, manifest=None)
