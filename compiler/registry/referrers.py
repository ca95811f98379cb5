"""OCI 1.1 referrers: an artifact that refers to a registered version's manifest (its SBOM).

The artifact is an image manifest with `artifactType` and a `subject` naming the version's
manifest; its config is the empty descriptor, its layers the files. A registry with the
referrers API indexes it by its subject (it answers the push with an `OCI-Subject` header);
for one without (distribution 2.x, Debian's docker-registry), the distribution spec's fallback
applies: an image index tagged `sha256-<subject hex>` lists the referrers, which is where
`oras discover` and `cosign` look too. Pushing is idempotent: the same files give the same
artifact, listed once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from compiler.registry.distribution import MANIFEST_MEDIA_TYPE, Distribution

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
TITLE_ANNOTATION = "org.opencontainers.image.title"


def fallback_tag(digest: str) -> str:
    """The referrers tag of the manifest `digest` (`sha256:<hex>` -> `sha256-<hex>`)."""
    return digest.replace(":", "-", 1)


def attach(
    http: Distribution,
    repository: str,
    subject: bytes,
    files: Mapping[str, bytes],
    artifact_type: str = SBOM_MEDIA_TYPE,
) -> str:
    """Push `files` as one artifact referring to the manifest `subject` (its bytes); its
    digest."""
    subject_digest = _digest(subject)
    config = http.push_blob(repository, b"{}", EMPTY_MEDIA_TYPE)
    layers = [
        {
            **http.push_blob(repository, data, artifact_type),
            "annotations": {TITLE_ANNOTATION: name},
        }
        for name, data in sorted(files.items())
    ]
    artifact = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": config,
        "layers": layers,
        "subject": {
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": subject_digest,
            "size": len(subject),
        },
    }
    data = json.dumps(artifact, sort_keys=True).encode()
    digest = _digest(data)
    answer = http.put_manifest(repository, digest, data)
    if answer.headers.get("OCI-Subject") != subject_digest:  # no referrers API: the fallback
        descriptor = {
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": digest,
            "size": len(data),
            "artifactType": artifact_type,
        }
        listed = _fallback_index(http, repository, subject_digest)
        if all(m.get("digest") != digest for m in listed):
            index = {
                "schemaVersion": 2,
                "mediaType": INDEX_MEDIA_TYPE,
                "manifests": [*listed, descriptor],
            }
            encoded = json.dumps(index, sort_keys=True).encode()
            http.put_manifest(repository, fallback_tag(subject_digest), encoded, INDEX_MEDIA_TYPE)
    return digest


def attach_once(
    http: Distribution, repository: str, subject: bytes, sboms: Mapping[str, bytes]
) -> None:
    """`sboms` attached to the manifest `subject`, unless an artifact refers to it already."""
    if not referrers(http, repository, _digest(subject)):
        attach(http, repository, subject, sboms)


def sbom_artifacts(http: Distribution, repository: str, subject: bytes) -> dict[str, bytes]:
    """The files of the SBOM artifacts referring to the manifest `subject`."""
    found: dict[str, bytes] = {}
    for artifact in referrers(http, repository, _digest(subject)):
        if artifact.get("artifactType") == SBOM_MEDIA_TYPE and isinstance(
            artifact.get("digest"), str
        ):
            found.update(artifact_files(http, repository, artifact["digest"]))
    return found


def referrers(http: Distribution, repository: str, subject_digest: str) -> list[dict[str, Any]]:
    """The descriptors of the artifacts referring to `subject_digest`: the referrers API's
    answer where there is one, else the fallback tag's index."""
    answer = http.request("GET", http.url(f"/v2/{repository}/referrers/{subject_digest}"))
    if answer.status_code == 200:
        manifests = answer.json().get("manifests", [])
        return [m for m in manifests if isinstance(m, dict)]
    return _fallback_index(http, repository, subject_digest)


def artifact_files(http: Distribution, repository: str, digest: str) -> dict[str, bytes]:
    """The files (layer title -> bytes) of the artifact manifest `digest`."""
    found = http.manifest(repository, digest)
    try:
        layers = json.loads(found[0]).get("layers", []) if found is not None else []
    except (ValueError, AttributeError):
        return {}  # not a manifest: nothing of envc's
    return {
        layer["annotations"][TITLE_ANNOTATION]: http.blob(repository, layer["digest"])
        for layer in layers
        if isinstance(layer, dict)
        and isinstance(layer.get("digest"), str)
        and isinstance(layer.get("annotations"), dict)
        and isinstance(layer["annotations"].get(TITLE_ANNOTATION), str)
    }


def _fallback_index(
    http: Distribution, repository: str, subject_digest: str
) -> list[dict[str, Any]]:
    found = http.manifest(repository, fallback_tag(subject_digest), INDEX_MEDIA_TYPE)
    if found is None:
        return []
    try:
        manifests = json.loads(found[0]).get("manifests", [])
    except (ValueError, AttributeError):
        return []  # not an index: started again by the next push
    return [m for m in manifests if isinstance(m, dict)]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
