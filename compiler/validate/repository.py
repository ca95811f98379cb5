"""Validation: find the repository's manifests and run every check over them, in one pass.

load (yamlio) -> schema -> per-file rules -> cross-file rules. Files named on the command line (as
pre-commit passes them) get every check; the rest of the repository is parsed only so that
cross-file rules (unique names, `extends`) still see the whole tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from compiler._util.cache import CACHE_DIR
from compiler._util.resources import manifest_schema_path
from compiler.errors import Diagnostic
from compiler.load.discover import ENVIRONMENTS_DIR, MANIFEST_FILENAME, discover, find_root
from compiler.load.yamlio import Document, read_yaml
from compiler.manifest.sources import ValidManifest
from compiler.validate.index import ManifestIndex
from compiler.validate.packages import KnownGoodSpecs, SpecChecks
from compiler.validate.rules import ManifestFile, check_manifest, check_repository
from compiler.validate.schema import check_schema, conforms
from compiler.validate.values import check_strings

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 400
MAX_WORKERS = 8


@dataclass(frozen=True, slots=True)
class ValidationReport:
    diagnostics: tuple[Diagnostic, ...]
    checked: tuple[str, ...]  # display paths of the manifests that were validated
    # Every valid manifest of the repository: name -> (data, folder relative to the root), for
    # the stages after validation (they need not read the files again).
    manifests: dict[str, ValidManifest] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def _owning_manifest(root: Path, file: Path) -> Path:
    """The manifest a file belongs to: itself if named env.yaml, else the one in a parent folder
    (so `envc validate environments/x/requirements.txt` validates environment x)."""
    if file.name == MANIFEST_FILENAME:
        return file
    for folder in file.parents:
        if not folder.is_relative_to(root) or folder == root:
            break
        if (folder / MANIFEST_FILENAME).exists():
            return folder / MANIFEST_FILENAME
    return file


def _targets(root: Path, paths: Sequence[Path]) -> list[Path]:
    targets: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink() and path.name != MANIFEST_FILENAME:
            targets.extend(discover(path))
        else:  # files, and paths that are missing or not regular: read_yaml reports them
            targets.append(_owning_manifest(root, Path(os.path.abspath(path))))
    return sorted({Path(os.path.abspath(p)) for p in targets})


class _Display:
    """Paths as people typed them: relative to the working directory when below it."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = str(cwd)
        self.prefix = os.path.join(self.cwd, "")

    def __call__(self, path: Path) -> str:
        text = str(path)
        if text.startswith(self.prefix):
            relative = text[len(self.prefix) :]
        else:
            relative = os.path.relpath(text, self.cwd)
        return relative.replace(os.sep, "/")


def _check_file(
    file: Path, display: _Display, root: Path, specs: SpecChecks, target: bool
) -> tuple[ManifestFile, list[Diagnostic]]:
    """Every single-file check of a manifest; a non-target is only parsed and schema-tested, so
    that cross-file rules can use it."""
    doc = read_yaml(file, display(file))
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


def _check_files(
    jobs: list[tuple[Path, bool]], display: _Display, root: Path, specs: SpecChecks
) -> list[tuple[ManifestFile, list[Diagnostic]]]:
    """_check_file over many files; large repositories are spread over the CPU cores."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if len(jobs) < PARALLEL_THRESHOLD or workers < 2:
        return [_check_file(file, display, root, specs, target) for file, target in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork starts workers in milliseconds with everything imported; elsewhere, spawn.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    files, targets = zip(*jobs, strict=True)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(
            pool.map(
                _check_file,
                files,
                repeat(display),
                repeat(root),
                repeat(specs),
                targets,
                chunksize=max(1, len(jobs) // (workers * 4)),
            )
        )


def _references_files(data: Any) -> bool:
    """Whether a manifest names other files, whose checks a cached result could not vouch for."""
    docker = data.get("docker") if isinstance(data, dict) else None
    return isinstance(data, dict) and bool(
        data.get("conda_file")
        or data.get("requirements_file")
        or (isinstance(docker, dict) and docker.get("base_dockerfile"))
    )


def _from_index(
    files: list[Path],
    target_set: set[Path],
    index_key: _Display,
    display: _Display,
    index: ManifestIndex,
) -> tuple[dict[Path, ManifestFile], dict[Path, os.stat_result]]:
    """Manifests the index vouches for (unchanged since it saw them; for the ones validated this
    run, also clean then); and the stat of every manifest, to index what gets parsed."""
    remembered: dict[Path, ManifestFile] = {}
    statuses: dict[Path, os.stat_result] = {}
    for file in files:
        try:
            status = os.stat(file, follow_symlinks=False)
        except OSError:
            continue
        statuses[file] = status
        hit = index.get(index_key(file), status)
        if hit is None:
            continue
        data, schema_ok, clean = hit
        if file not in target_set or clean:
            remembered[file] = ManifestFile(file, Document(display(file), data, ()), schema_ok)
    return remembered, statuses


def validate(
    paths: Iterable[Path] = (),
    *,
    root: Path | None = None,
    cwd: Path | None = None,
    cache: bool = False,
) -> ValidationReport:
    """Validate the named manifests (default: all of them) of the repository at `root`.

    With `cache`, .envc/cache/ remembers package specs that parsed and the data of manifests, so
    that a run over a few files does not re-parse the rest of a large repository."""
    cwd = (cwd or Path.cwd()).resolve()
    root = find_root(cwd) if root is None else root.resolve()
    cache_dir = root / CACHE_DIR
    known = KnownGoodSpecs.load(cache_dir / "specs.json") if cache else KnownGoodSpecs()
    specs = SpecChecks(known)
    index = (
        ManifestIndex.load(cache_dir / "manifests.json", manifest_schema_path())
        if cache
        else ManifestIndex()
    )
    display = _Display(cwd)
    everything = discover(root / ENVIRONMENTS_DIR)
    requested = list(paths)
    targets = _targets(root, [Path(cwd, p) for p in requested]) if requested else everything
    target_set = set(targets)
    files = sorted(target_set | set(everything), key=str)
    index_key = _Display(root)  # index entries are keyed by the path inside the repository
    loaded, statuses = _from_index(files, target_set, index_key, display, index)
    vouched = {display(file): file for file in target_set if file in loaded}
    jobs = [(file, file in target_set) for file in files if file not in loaded]
    diagnostics: list[Diagnostic] = []
    for manifest, found in _check_files(jobs, display, root, specs):
        loaded[manifest.file] = manifest
        diagnostics.extend(found)
        if manifest.file in statuses and manifest.file.is_relative_to(root):
            data = manifest.doc.data
            index.put(
                index_key(manifest.file),
                statuses[manifest.file],
                data,
                manifest.schema_ok,
                clean=manifest.file in target_set and not found and not _references_files(data),
            )
    across = check_repository([loaded[file] for file in targets], [loaded[f] for f in files], root)
    # A target the index vouched for has no positions: when a cross-file rule reports on it
    # (its parent changed, say), read it again so the report points at the line.
    unplaced = {d.path for d in across} & set(vouched)
    if unplaced:
        again = [(vouched[path], True) for path in sorted(unplaced)]
        for manifest, found in _check_files(again, display, root, specs):
            loaded[manifest.file] = manifest
            diagnostics.extend(found)
        across = check_repository(
            [loaded[file] for file in targets], [loaded[f] for f in files], root
        )
    diagnostics.extend(across)
    manifests = [loaded[file] for file in files]
    index.keep_only({index_key(file) for file in everything})
    index.save()
    known.save()
    valid = {
        manifest.name: ValidManifest(manifest.doc.data, index_key(manifest.file.parent))
        for manifest in manifests
        if manifest.schema_ok and manifest.name is not None
    }
    return ValidationReport(
        tuple(sorted(set(diagnostics))), tuple(display(file) for file in targets), valid
    )
