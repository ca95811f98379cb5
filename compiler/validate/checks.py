"""The single-file checks of manifests: one at a time, or many spread over the CPU cores.

load (yamlio) -> schema -> per-file rules, for a manifest validated in full (a target); a
manifest only needed by cross-file rules is parsed and schema-tested. Worker processes send back
the data as JSON text and the findings, not positions (`light`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from compiler.errors import Diagnostic
from compiler.load.yamlio import parse_yaml, read_yaml
from compiler.validate.manifest_file import ManifestFile
from compiler.validate.packages import SpecChecks
from compiler.validate.rules import check_manifest
from compiler.validate.schema import check_schema, conforms
from compiler.validate.values import check_strings

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 400
# Manifests per job of a worker: few enough that the answers stream back, not all at the end.
MAX_CHUNK = 500


class Display:
    """Paths as people typed them: relative to the working directory when below it."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = str(cwd)
        self.prefix = os.path.join(self.cwd, "")

    def __call__(self, path: Path | str) -> str:
        text = path if isinstance(path, str) else str(path)
        if text.startswith(self.prefix):
            relative = text[len(self.prefix) :]
        else:
            relative = os.path.relpath(text, self.cwd)
        return relative if os.sep == "/" else relative.replace(os.sep, "/")


def check_file(
    file: Path,
    display: Display,
    root: Path,
    specs: SpecChecks,
    target: bool,
    light: bool = False,
    raw: bytes | None = None,
) -> tuple[ManifestFile, list[Diagnostic]]:
    """Every single-file check of a manifest; a non-target is only parsed and schema-tested, so
    that cross-file rules can use it. `light`: keep the data as text, drop the positions (a
    worker process sends back less, and the parent holds less; a cross-file finding reads the
    file again to place itself). `raw`: the manifest's bytes, read elsewhere (git's index)."""
    manifest, found = _checked(file, display, root, specs, target, raw)
    return (ManifestFile.storing(manifest) if light else manifest), found


def _checked(
    file: Path, display: Display, root: Path, specs: SpecChecks, target: bool, raw: bytes | None
) -> tuple[ManifestFile, list[Diagnostic]]:
    doc = read_yaml(file, display(file)) if raw is None else parse_yaml(display(file), raw)
    found = list(doc.diagnostics)
    if doc.ok and doc.data is None:
        found.append(doc.diagnostic((), "manifest is empty", "empty"))
    if found:
        return ManifestFile(file, doc, schema_ok=False), found
    if not target:
        return ManifestFile(file, doc, conforms(doc.data, has_float=doc.has_float)), []
    found.extend(check_strings(doc))
    schema_problems = check_schema(doc)
    found.extend(schema_problems)
    manifest = ManifestFile(file, doc, schema_ok=not schema_problems)
    if isinstance(doc.data, dict):
        found.extend(check_manifest(manifest, root, display, specs))
    return manifest, found


def check_files(
    jobs: list[tuple[Path, bool]],
    display: Display,
    root: Path,
    specs: SpecChecks,
    light: bool = False,
) -> Iterator[tuple[ManifestFile, list[Diagnostic]]]:
    """check_file over many files, in order, each as it is done (the caller can let go of one
    before the next comes); large repositories are spread over the CPU cores."""
    if len(jobs) >= PARALLEL_THRESHOLD:  # (the hook's few files import no worker machinery)
        from compiler._util.processes import in_workers, process_pool, worker_count

        workers = worker_count()
        if workers >= 2:
            work = ((file, display, root, specs, target, light) for file, target in jobs)
            chunks = max(1, min(len(jobs) // (workers * 4), MAX_CHUNK))
            yield from in_workers(process_pool(workers), _check_job, work, chunksize=chunks)
            return
    for file, target in jobs:
        yield check_file(file, display, root, specs, target, light)


def _check_job(
    job: tuple[Path, Display, Path, SpecChecks, bool, bool],
) -> tuple[ManifestFile, list[Diagnostic]]:
    return check_file(*job)
