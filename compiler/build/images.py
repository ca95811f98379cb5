"""Building images from rendered build contexts, with buildah.

Each environment's context (`envc render`) is built with `buildah bud`, tagged
`<prefix><name>:<first 12 hex digits of its content address>`, and with `push` pushed, the
digest buildah reports kept for the registry record. After registering, `tag_version` adds the
`<prefix><name>:<version>` tag. One failed build does not stop the others. buildah is
configured the usual way (`CONTAINERS_STORAGE_CONF`, `BUILDAH_ISOLATION`, registries.conf);
`plain_http` allows registries without TLS (`--tls-verify=false`).

An environment's `docker.base_image_registry` is logged in to for its build only: its `${VAR}`
credentials are filled from the environment into a temporary auth file (0600, with the entries
of the user's own auth file) that `buildah bud --authfile` reads; they appear in no log. Its pip
indexes with `${VAR}` credentials are filled the same way into a build secret (`buildah bud
--secret`), which the rendered Dockerfile's pip step mounts: they reach no layer of the image.

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
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compiler._util.credentials import (
    PIP_INDEX_SECRET,
    expand,
    expand_url,
    placeholders,
    redact,
    url_destination,
    without_credentials,
)
from compiler._util.files import shown_path, write_atomically
from compiler._util.progress import Progress, no_progress
from compiler.errors import UsageError
from compiler.manifest.sources import ValidManifests

if TYPE_CHECKING:
    from compiler.manifest.model import RegistryCredentials

LOG_LINES = 30
BUILD_LOGS = ".envc/logs/build"  # in the repository: each environment's last build, whole
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    image: str  # the address tag
    status: Literal["built", "failed", "skipped"]
    digest: str | None = None  # sha256:… of the pushed manifest
    log: str = ""  # the end of buildah's output when the build failed; why it was skipped


@dataclass(frozen=True)
class BuildContext:
    folder: Path  # the rendered build context
    image: str  # the tag to build
    base_registry: RegistryCredentials | None = None  # logged in to for this build
    # its pip indexes with `${VAR}` credentials, given to the build as a secret
    private_indexes: tuple[str, ...] = ()


def build_context(manifests: ValidManifests, name: str, out: Path, image: str) -> BuildContext:
    """How to build environment `name`, rendered into `out`/`name`, as `image`."""
    from compiler.manifest.model import resolve

    manifest = resolve(name, manifests)
    private = tuple(url for url in manifest.pip_indexes if placeholders(url))
    return BuildContext(out / name, image, manifest.docker.base_image_registry, private)


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
    jobs: int = 1,
    cache: bool = True,
    logs: Path | None = None,
    progress: Progress = no_progress,
) -> list[BuildOutcome]:
    """Build each context (by environment name), `jobs` at a time; with `push`, push each
    image built. With `cache`, buildah keeps each step as a layer and reuses it when the step
    and what it reads are unchanged (`--layers`); without, every step runs again. With `logs`,
    each build's whole output goes to `<logs>/<name>.log`."""
    if not contexts:
        return []
    buildah = _buildah()
    tls = [f"--tls-verify={'false' if plain_http else 'true'}"]
    layers = ["--layers"] if cache else ["--layers=false", "--no-cache"]
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    started: list[str] = []

    def build_one(name: str) -> BuildOutcome:
        with lock:  # progress counts builds started, whichever thread starts one
            progress(name, len(started), len(contexts))
            started.append(name)
        context = contexts[name]
        with tempfile.TemporaryDirectory(prefix="envc-build-") as scratch:
            try:
                login, secrets = _login(context.base_registry, Path(scratch))
                indexes, index_secrets = _index_secret(context.private_indexes, Path(scratch))
            except UsageError as exc:
                return BuildOutcome(name, context.image, "failed", log=str(exc))
            secrets += index_secrets
            options = [*tls, *login, *indexes, *layers, "--tag", context.image]
            built = _run([buildah, "bud", *options, str(context.folder)])
        if logs is not None:
            write_atomically(
                logs / f"{name}.log", redact(built.stdout + built.stderr, secrets), durable=False
            )
        if built.returncode != 0:
            tail = redact(_tail(built), secrets)
            return BuildOutcome(name, context.image, "failed", log=tail)
        digest = None
        if push:
            digest, problem = _push(buildah, tls, context.image)
            if problem:
                return BuildOutcome(name, context.image, "failed", log=problem)
        return BuildOutcome(name, context.image, "built", digest)

    # Builds wait on buildah, not on Python: threads are enough to run several at once.
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(build_one, sorted(contexts)))


def default_jobs() -> int:
    """Parallel builds by default: one per two CPUs (a build uses more than one), at least 1."""
    return max(1, (os.cpu_count() or 1) // 2)


def _login(registry: RegistryCredentials | None, scratch: Path) -> tuple[list[str], list[str]]:
    """buildah's arguments to log in to `registry` (an auth file in `scratch`), and the secrets
    that went into it."""
    if registry is None or not (registry.username or registry.password):
        return [], []
    what = f"docker.base_image_registry {registry.address}"
    texts = [registry.username or "", registry.password or ""]
    (username, password), secrets = expand(texts, what, registry.address)
    auths = _user_auths()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[registry.address] = {"auth": token}
    authfile = scratch / "auth.json"
    descriptor = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"auths": auths}, handle)
    return ["--authfile", str(authfile)], [*secrets, token]


def _index_secret(urls: Sequence[str], scratch: Path) -> tuple[list[str], list[str]]:
    """buildah's arguments that give the build the secret the rendered Dockerfile's pip step
    reads (PIP_INDEX_SECRET): a requirements file (0600, in `scratch`) of `urls` as index
    options, their `${VAR}` credentials filled (only for hosts ENVC_CREDENTIAL_HOSTS lists);
    and the secrets that went into it."""
    if not urls:
        return [], []
    lines, secrets = [], []
    for url in urls:
        filled, values = expand_url(url, f"pip index {without_credentials(url)}")
        secrets += values
        lines.append(f"--extra-index-url {filled}\n")
        if url.startswith("http://") and (host := url_destination(filled)):
            lines.append(f"--trusted-host {host}\n")
    file = scratch / PIP_INDEX_SECRET
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    return ["--secret", f"id={PIP_INDEX_SECRET},src={file}"], secrets


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
    jobs: int = 1,
    cache: bool = True,
    progress: Progress = no_progress,
) -> list[BuildOutcome]:
    """Render the named environments into `out` and build each that is an image (`jobs` at a
    time, each build's log in `.envc/logs/build/`); one that cannot be rendered is a failed
    build."""
    from compiler.render.repository import render_repository

    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise UsageError(f"no environment named {', '.join(unknown)}")
    contexts, failed = {}, []
    for outcome in render_repository(root, manifests, names, out=out):
        if outcome.address is None:
            failed.append(BuildOutcome(outcome.name, "", "failed", log=outcome.error))
        elif outcome.base_image is not None:
            tag = image_tag(image_prefix, outcome.name, outcome.address)
            contexts[outcome.name] = build_context(manifests, outcome.name, out, tag)
        else:
            where = shown_path(out / outcome.name, root)
            why = f"docker.enabled is false: no image; its install script is in {where}/"
            failed.append(BuildOutcome(outcome.name, "", "skipped", log=why))
    built = build_images(
        contexts,
        push=push,
        plain_http=plain_http,
        jobs=jobs,
        cache=cache,
        logs=root / BUILD_LOGS,
        progress=progress,
    )
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
