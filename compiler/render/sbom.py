"""A CycloneDX 1.6 SBOM of one environment and platform, from its locks: no image is built.

Every locked package is a component with its package URL (`pkg:conda/…` with build, channel
and subdir; `pkg:pypi/…`, with the environment's own index a package came from; made with
packageurl-python), the hashes the lock records (conda: SHA-256 and MD5 of the package file;
pip: SHA-256 of each file the lock lets pip install), the license the conda channel records
(docs/policy.md) and where the file is downloaded from. The base image is a component too (a
`pkg:oci` URL when pinned by digest), conda's dependency graph is the `dependencies` section,
and the environment itself is the metadata's component, depending on what its manifest asks
for.

Byte-stable: no timestamp, a serial number derived from the lock, components in a fixed order,
and no tool versions (a new envc or library release must not change every content address).
Written by hand rather than with cyclonedx-python-lib, whose serializer takes ~200 ms for an
environment of 150 packages (render writes thousands); the tests validate every SBOM against
CycloneDX's own schema with that library.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from compiler._util.credentials import url_destination, without_credentials
from compiler._util.jsontext import compact_json as _json
from compiler.lock.inputs import CONDA_LOCK_FILE, LockInputs, pylock_file
from compiler.lock.lockfiles import (
    CondaEntry,
    conda_lock_entries,
    locked_licenses,
    pylock_packages,
)
from compiler.manifest.patterns import spec_package

SBOM_FILE = "sbom.cdx.json"
SPEC_VERSION = "1.6"
# A fixed namespace for serial numbers: the same locks give the same SBOM everywhere.
SERIAL_NAMESPACE = uuid.UUID("6f1f0a52-3d2b-4be4-9b52-6a3c0c6ee9a1")


def sbom_file(platform: str, docker: bool) -> str:
    """The image's SBOM is `sbom.cdx.json`; without docker there is one per platform."""
    return SBOM_FILE if docker else f"sbom-{platform}.cdx.json"


def environment_sbom(
    inputs: LockInputs,
    folder: Path,
    lockfiles: Mapping[str, str],
    platform: str,
    base_image: str | None,
    docker: bool,
) -> str:
    """The SBOM of the environment locked by `inputs` for `platform` (`lockfiles`: its fresh
    lockfiles, read once by render; `folder`: where they are, for the conda-lock reader)."""
    components: list[tuple[str, str]] = []  # (bom-ref, its JSON)
    graph: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}  # package -> bom-ref, for conda's dependency graph
    if CONDA_LOCK_FILE in lockfiles:
        licenses = locked_licenses(lockfiles[CONDA_LOCK_FILE])
        text = lockfiles[CONDA_LOCK_FILE]
        every_platform = conda_lock_entries(text) or _conda_records(
            str(folder / CONDA_LOCK_FILE), text
        )
        records = every_platform.get(platform, [])
        for record in records:
            reference, encoded = _conda_component(record, licenses.get(record.name))
            components.append((reference, encoded))
            by_name[spec_package(record.name)] = reference
        for record in records:
            depends = {by_name.get(spec_package(d)) for d in record.depends}
            graph[by_name[spec_package(record.name)]] = sorted(filter(None, depends))
    pylock = lockfiles.get(pylock_file(platform))
    if pylock is not None:
        for component in _pip_components(pylock, inputs.pip_indexes):
            components.append((component["bom-ref"], _json(component)))
            by_name.setdefault(spec_package(component["name"]), component["bom-ref"])
            graph.setdefault(component["bom-ref"], [])
    if base_image:
        components.append(("base-image", _json(_image_component(base_image))))
    direct = {by_name.get(spec_package(spec)) for spec in (*inputs.specs, *inputs.pip)}
    root_ref = f"envc:{inputs.name}"
    graph[root_ref] = sorted(filter(None, direct | ({"base-image"} if base_image else set())))
    serial = uuid.uuid5(SERIAL_NAMESPACE, f"{inputs.name}\0{platform}\0{inputs.fingerprint()}")
    document = {
        "$schema": f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "envc"}]},
            "component": {
                "type": "container" if docker else "application",
                "bom-ref": root_ref,
                "name": inputs.name,
            },
            "properties": [
                {"name": "dev.envc:platform", "value": platform},
                {"name": "dev.envc:lock-fingerprint", "value": inputs.fingerprint()},
            ],
        },
    }
    # Compact, keys sorted: what json.dumps(sort_keys=True) writes of the whole document, with
    # each package's component and dependencies encoded once per process (environments share
    # most packages).
    members = [(key, _json(value)) for key, value in document.items()]
    ordered = "[" + ",".join(encoded for _, encoded in sorted(components, key=_by_reference)) + "]"
    members.append(("components", ordered))
    dependencies = ",".join(_dependency(ref, tuple(graph[ref])) for ref in sorted(graph))
    members.append(("dependencies", "[" + dependencies + "]"))
    return "{" + ",".join(f"{_json(key)}:{value}" for key, value in sorted(members)) + "}\n"


@functools.lru_cache(maxsize=65536)
def _dependency(reference: str, depends_on: tuple[str, ...]) -> str:
    return _json({"ref": reference, "dependsOn": list(depends_on)})


def _by_reference(component: tuple[str, str]) -> str:
    return component[0]


@functools.lru_cache(maxsize=4)
def _conda_records(lockfile: str, text: str) -> dict[str, list[CondaEntry]]:
    """Platform -> conda-lock.yml's packages, read with py-rattler, for a file not in the shape
    envc writes; read once for the SBOMs of every platform. `text`: what render checked, so a
    file changed since is read again."""
    from rattler import LockFile

    environment = LockFile.from_path(Path(lockfile)).default_environment()
    if environment is None:
        return {}
    return {
        platform.name: [
            CondaEntry(
                record.name.normalized,
                str(record.version),
                str(record.build),
                str(record.subdir),
                str(record.channel).rstrip("/"),
                str(record.url),
                record.sha256.hex() if record.sha256 else "",
                record.md5.hex() if record.md5 else "",
                tuple(sorted({spec.split(" ", 1)[0] for spec in record.depends})),
            )
            for record in environment.conda_repodata_records_for_platform(platform) or []
        ]
        for platform in environment.platforms()
    }


@functools.lru_cache(maxsize=65536)
def _conda_component(record: CondaEntry, license_text: str | None) -> tuple[str, str]:
    """A package's component: (bom-ref, its JSON), made once per process (environments share
    most packages)."""
    url = record.url
    file_name = url.rsplit("/", 1)[-1]
    purl = _purl(
        "conda",
        record.name,
        record.version,
        (
            ("build", record.build),
            ("channel", _channel_name(record.channel)),
            ("subdir", record.subdir),
            ("type", "conda" if file_name.endswith(".conda") else "tar.bz2"),
        ),
    )
    hashes = [
        {"alg": algorithm, "content": digest}
        for algorithm, digest in (("SHA-256", record.sha256), ("MD5", record.md5))
        if digest
    ]
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl,
        "name": record.name,
        "version": record.version,
        "purl": purl,
        "hashes": hashes,
        "externalReferences": [{"type": "distribution", "url": url}],
    }
    if license_text and license_text.strip().lower() != "none":
        component["licenses"] = [{"license": {"name": license_text}}]
    return purl, _json(component)


@functools.lru_cache(maxsize=65536)
def _purl(
    kind: str, name: str, version: str | None, qualifiers: tuple[tuple[str, str], ...]
) -> str:
    """A package URL, as packageurl-python spells it (environments share most packages:
    each is spelled once per process)."""
    return PackageURL(kind, name=name, version=version, qualifiers=dict(qualifiers)).to_string()


def _channel_name(channel: str) -> str:
    """The purl spec's channel: a name on anaconda.org and repo.anaconda.com, else the URL."""
    channel = channel.rstrip("/")
    for prefix in ("https://conda.anaconda.org/", "https://repo.anaconda.com/pkgs/"):
        if channel.startswith(prefix) and "/" not in channel[len(prefix) :]:
            return channel[len(prefix) :]
    return channel


def _pip_components(pylock: str, indexes: Sequence[str]) -> list[dict[str, Any]]:
    """One component per package of a PEP 751 lock (envc's header is TOML comments); one from
    an environment's own index names it (`repository_url`: the purl's default is PyPI)."""
    components = []
    for name, version, files in pylock_packages(pylock):
        repository = _repository([url for url, _ in files], indexes)
        qualifiers = (("repository_url", repository),) if repository else ()
        purl = _purl("pypi", name, version or None, qualifiers)
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        }
        hashes = sorted({digest for _, digest in files if digest})
        if hashes:
            component["hashes"] = [{"alg": "SHA-256", "content": digest} for digest in hashes]
        urls = sorted({url for url, _ in files})
        if urls:
            component["externalReferences"] = [{"type": "distribution", "url": u} for u in urls]
        components.append(component)
    return components


def _repository(urls: Sequence[str], indexes: Sequence[str]) -> str | None:
    """Which of the environment's own indexes a package's files came from (uv takes a package
    from one index): the one their URL lies under, else the first on their host (an index may
    serve its files from another path); None for any other source, PyPI or envc.yaml's."""
    if not urls:
        return None
    for index in indexes:
        if urls[0].startswith(without_credentials(index).rstrip("/") + "/"):
            return without_credentials(index)
    host = url_destination(urls[0])
    return next(
        (without_credentials(i) for i in indexes if host and url_destination(i) == host), None
    )


def _image_component(image: str) -> dict[str, Any]:
    """The base image: `name:tag@sha256:…` as a container component."""
    reference, _, digest = image.partition("@")
    repository, tag = reference, ""
    if ":" in reference.rsplit("/", 1)[-1]:  # a tag, not a registry's port
        repository, tag = reference.rsplit(":", 1)
    component: dict[str, Any] = {
        "type": "container",
        "bom-ref": "base-image",
        "name": repository,
        "version": digest or tag or "latest",
        "description": f"base image {image}",
    }
    if digest:
        qualifiers = {"repository_url": repository}
        if tag:
            qualifiers["tag"] = tag
        component["purl"] = PackageURL(
            "oci", name=repository.rsplit("/", 1)[-1].lower(), version=digest, qualifiers=qualifiers
        ).to_string()
        component["hashes"] = [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}]
    return component
