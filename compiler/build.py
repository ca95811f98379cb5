"""Building images from rendered build contexts, with buildah.

Each environment's context (`envc render`) is built with `buildah bud`, tagged
`<prefix><name>:<first 12 hex digits of its content address>`, and with `push` pushed, the
digest buildah reports kept for the registry record. After registering, `tag_version` adds the
`<prefix><name>:<version>` tag. One failed build does not stop the others. buildah is
configured the usual way (`CONTAINERS_STORAGE_CONF`, `BUILDAH_ISOLATION`, registries.conf);
`plain_http` allows registries without TLS (`--tls-verify=false`).

Not yet: `docker buildx bake` as the builder where a Docker daemon exists.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.errors import UsageError

LOG_LINES = 30


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    image: str  # the address tag
    status: str  # "built" or "failed"
    digest: str | None = None  # sha256:… of the pushed manifest
    log: str = ""  # the end of buildah's output, when the build failed


def _buildah() -> str:
    binary = shutil.which("buildah")
    if binary is None:
        raise UsageError("buildah is not installed (apt-get install buildah); envc build uses it")
    return binary


def _run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(arguments, capture_output=True, text=True, check=False)


def image_tag(image_prefix: str, name: str, address: str) -> str:
    return f"{image_prefix}{name}:{address.removeprefix('sha256:')[:12]}"


def build_images(
    contexts: Mapping[str, tuple[Path, str]],
    *,
    push: bool = False,
    plain_http: bool = False,
) -> list[BuildOutcome]:
    """Build each context (name -> (folder, image tag)); with `push`, push each image built."""
    buildah = _buildah()
    tls = [f"--tls-verify={'false' if plain_http else 'true'}"]
    outcomes = []
    for name, (folder, image) in sorted(contexts.items()):
        built = _run([buildah, "bud", *tls, "--quiet", "--tag", image, str(folder)])
        if built.returncode != 0:
            outcomes.append(BuildOutcome(name, image, "failed", log=_tail(built)))
            continue
        digest = None
        if push:
            digest, problem = _push(buildah, tls, image)
            if problem:
                outcomes.append(BuildOutcome(name, image, "failed", log=problem))
                continue
        outcomes.append(BuildOutcome(name, image, "built", digest))
    return outcomes


def build_repository(
    root: Path,
    manifests: Mapping[str, tuple[Any, str]],
    names: Sequence[str],
    *,
    out: Path,
    image_prefix: str,
    push: bool = False,
    plain_http: bool = False,
) -> list[BuildOutcome]:
    """Render the named environments into `out` and build each that is an image; one that
    cannot be rendered is a failed build."""
    from compiler.render import render_repository

    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise UsageError(f"no environment named {', '.join(unknown)}")
    contexts, failed = {}, []
    for outcome in render_repository(root, manifests, names, out=out):
        if outcome.rendered is None:
            failed.append(BuildOutcome(outcome.name, "", "failed", log=outcome.error))
        elif outcome.rendered.base_image is not None:
            tag = image_tag(image_prefix, outcome.name, outcome.rendered.address.digest)
            contexts[outcome.name] = (out / outcome.name, tag)
    built = build_images(contexts, push=push, plain_http=plain_http)
    return sorted([*built, *failed], key=lambda outcome: outcome.name)


def tag_version(image: str, version_tag: str, *, push: bool, plain_http: bool) -> str | None:
    """Add `version_tag` to a built image (and push it); a problem's message, or None."""
    buildah = _buildah()
    tagged = _run([buildah, "tag", image, version_tag])
    if tagged.returncode != 0:
        return _tail(tagged)
    if push:
        _, problem = _push(
            buildah, [f"--tls-verify={'false' if plain_http else 'true'}"], version_tag
        )
        return problem
    return None


def _push(buildah: str, tls: list[str], image: str) -> tuple[str | None, str]:
    with tempfile.TemporaryDirectory(prefix="envc-push-") as scratch:
        digest_file = Path(scratch, "digest")
        pushed = _run(
            [buildah, "push", *tls, "--digestfile", str(digest_file), image, f"docker://{image}"]
        )
        if pushed.returncode != 0:
            return None, _tail(pushed)
        return digest_file.read_text().strip(), ""


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    return "\n".join(lines[-LOG_LINES:])
