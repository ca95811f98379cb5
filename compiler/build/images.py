"""Building images from rendered build contexts, with buildah.

Each environment's context (`envc render`) is built with `buildah bud`, tagged
`<prefix><name>:<first 12 hex digits of its content address>`, and with `push` pushed, the
digest buildah reports kept for the registry record. After registering, `tag_version` adds the
`<prefix><name>:<version>` tag. One failed build does not stop the others. buildah is
configured the usual way (`CONTAINERS_STORAGE_CONF`, `BUILDAH_ISOLATION`, registries.conf);
`plain_http` allows registries without TLS (`--tls-verify=false`).

An environment's `docker.base_image_registry` is logged in to for its build only: its `${VAR}`
credentials are filled from the environment into a temporary auth file (0600, with the entries
of the user's own auth file) that `buildah bud --authfile` reads; they appear in no log.

Not yet: `docker buildx bake` as the builder where a Docker daemon exists.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compiler._util.credentials import expand, redact
from compiler._util.progress import Progress, no_progress
from compiler.errors import UsageError
from compiler.manifest.sources import ValidManifests

if TYPE_CHECKING:
    from compiler.manifest.model import RegistryCredentials

LOG_LINES = 30
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    image: str  # the address tag
    status: Literal["built", "failed"]
    digest: str | None = None  # sha256:… of the pushed manifest
    log: str = ""  # the end of buildah's output, when the build failed


@dataclass(frozen=True)
class BuildContext:
    folder: Path  # the rendered build context
    image: str  # the tag to build
    base_registry: RegistryCredentials | None = None  # logged in to for this build


def build_context(manifests: ValidManifests, name: str, out: Path, image: str) -> BuildContext:
    """How to build environment `name`, rendered into `out`/`name`, as `image`."""
    from compiler.manifest.model import resolve

    registry = resolve(name, manifests).docker.base_image_registry
    return BuildContext(out / name, image, registry)


def _buildah() -> str:
    binary = shutil.which("buildah")
    if binary is None:
        raise UsageError("buildah is not installed (apt-get install buildah); envc build uses it")
    return binary


def _run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", shlex.join(arguments))
    started = time.monotonic()
    result = subprocess.run(arguments, capture_output=True, text=True, check=False)
    log.debug("exit %d after %.1f s", result.returncode, time.monotonic() - started)
    return result


def image_tag(image_prefix: str, name: str, address: str) -> str:
    return f"{image_prefix}{name}:{address.removeprefix('sha256:')[:12]}"


def build_images(
    contexts: Mapping[str, BuildContext],
    *,
    push: bool = False,
    plain_http: bool = False,
    progress: Progress = no_progress,
) -> list[BuildOutcome]:
    """Build each context (by environment name); with `push`, push each image built."""
    buildah = _buildah()
    tls = [f"--tls-verify={'false' if plain_http else 'true'}"]
    outcomes = []
    for done, (name, context) in enumerate(sorted(contexts.items())):
        progress(name, done, len(contexts))
        with tempfile.TemporaryDirectory(prefix="envc-build-") as scratch:
            try:
                login, secrets = _login(context.base_registry, Path(scratch))
            except UsageError as exc:
                outcomes.append(BuildOutcome(name, context.image, "failed", log=str(exc)))
                continue
            built = _run(
                [
                    buildah,
                    "bud",
                    *tls,
                    *login,
                    "--quiet",
                    "--tag",
                    context.image,
                    str(context.folder),
                ]
            )
        if built.returncode != 0:
            tail = redact(_tail(built), secrets)
            outcomes.append(BuildOutcome(name, context.image, "failed", log=tail))
            continue
        digest = None
        if push:
            digest, problem = _push(buildah, tls, context.image)
            if problem:
                outcomes.append(BuildOutcome(name, context.image, "failed", log=problem))
                continue
        outcomes.append(BuildOutcome(name, context.image, "built", digest))
    return outcomes


def _login(registry: RegistryCredentials | None, scratch: Path) -> tuple[list[str], list[str]]:
    """buildah's arguments to log in to `registry` (an auth file in `scratch`), and the secrets
    that went into it."""
    if registry is None or not (registry.username or registry.password):
        return [], []
    what = f"docker.base_image_registry {registry.address}"
    (username, password), secrets = expand([registry.username or "", registry.password or ""], what)
    auths = _user_auths()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[registry.address] = {"auth": token}
    authfile = scratch / "auth.json"
    descriptor = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"auths": auths}, handle)
    return ["--authfile", str(authfile)], [*secrets, token]


def _user_auths() -> dict[str, Any]:
    """The logins buildah would use without --authfile, so the base registry's is added to
    them rather than replacing them."""
    candidates = [os.environ.get("REGISTRY_AUTH_FILE")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(f"{os.environ['XDG_RUNTIME_DIR']}/containers/auth.json")
    candidates += [
        os.path.expanduser("~/.config/containers/auth.json"),
        os.path.expanduser("~/.docker/config.json"),
    ]
    for candidate in filter(None, candidates):
        try:
            auths = json.loads(Path(candidate).read_text(encoding="utf-8")).get("auths")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(auths, dict):
            return dict(auths)
    return {}


def build_repository(
    root: Path,
    manifests: ValidManifests,
    names: Sequence[str],
    *,
    out: Path,
    image_prefix: str,
    push: bool = False,
    plain_http: bool = False,
    progress: Progress = no_progress,
) -> list[BuildOutcome]:
    """Render the named environments into `out` and build each that is an image; one that
    cannot be rendered is a failed build."""
    from compiler.render.context import render_repository

    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise UsageError(f"no environment named {', '.join(unknown)}")
    contexts, failed = {}, []
    for outcome in render_repository(root, manifests, names, out=out):
        if outcome.rendered is None:
            failed.append(BuildOutcome(outcome.name, "", "failed", log=outcome.error))
        elif outcome.rendered.base_image is not None:
            tag = image_tag(image_prefix, outcome.name, outcome.rendered.address.digest)
            contexts[outcome.name] = build_context(manifests, outcome.name, out, tag)
    built = build_images(contexts, push=push, plain_http=plain_http, progress=progress)
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
