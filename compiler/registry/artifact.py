"""What an OCI registry keeps of a version besides its files: the record (the artifact's config
blob, which `envc show` reads back) and the annotations registries and `oras` show."""

from __future__ import annotations

import time
from typing import Any

from compiler.registry.base import Candidate


def version_record(
    candidate: Candidate, version: int, claim: str, claimed_at: float
) -> dict[str, Any]:
    """The config blob of `candidate` registered as `version` under the tag `claim`, claimed at
    `claimed_at` by the registry's clock."""
    return {
        "name": candidate.name,
        "version": version,
        "content_address": candidate.content_address,
        "manifest": dict(candidate.manifest),
        "lock_digests": dict(candidate.lock_digests),
        "image": f"{candidate.image_repository}:{version}" if candidate.image_repository else None,
        "image_digest": candidate.image_digest,
        "commit": candidate.commit,
        "author_time": candidate.author_time,
        "registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "claimed_at": claimed_at,
        # Distinct bytes for every claim: deleting a lost claim (by digest) must never delete
        # another writer's identical one.
        "claim": claim,
    }


def version_annotations(record: dict[str, Any]) -> dict[str, str]:
    """The artifact manifest's annotations for a `version_record`."""
    annotations = {
        "org.opencontainers.image.created": record["registered_at"],
        "dev.envc.name": record["name"],
        "dev.envc.version": str(record["version"]),
        "dev.envc.content-address": record["content_address"],
    }
    if record["commit"]:
        annotations["org.opencontainers.image.revision"] = record["commit"]
    return annotations
