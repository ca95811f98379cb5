"""`envc import`: tell what a source is and hand it to its importer (conda.py,
requirements.py and azureml.py beside it for conda, pip and Azure ML formats, pyproject.py for
pixi and pyproject.toml).

Files that describe an environment in a way envc cannot carry (lockfiles, repo2docker's
runtime.txt and apt.txt, Pipfiles) are refused with a message that says what they are.
"""

from __future__ import annotations

from pathlib import Path

from compiler.errors import UsageError
from compiler.interop.azureml import V1_FILE, import_azureml_asset, import_azureml_v1, import_yaml
from compiler.interop.common import Imported, NotAnEnvironment, read_bytes
from compiler.interop.conda import (
    conda_prefix,
    import_conda_prefix,
    import_conda_specs,
    is_conda_spec_list,
)
from compiler.interop.pixi import has_pixi_tables, import_pixi
from compiler.interop.pyproject import import_pyproject
from compiler.interop.requirements import import_requirements

# Files recognised by name that envc does not import, and what to do instead.
REFUSED = {
    "pixi.lock": "a pixi lockfile; import the pixi.toml beside it",
    "Pipfile": "a Pipfile; write its requirements with `pipenv requirements` and import those",
    "Pipfile.lock": "a Pipfile lockfile; write requirements with `pipenv requirements`",
    "poetry.lock": "a Poetry lockfile; import the pyproject.toml beside it",
    "runtime.txt": "repo2docker's runtime.txt names a language runtime, not packages; set "
    "python: in the manifest",
    "apt.txt": "repo2docker's apt.txt lists system packages, which envc does not install; put "
    "them in a docker.base_dockerfile",
}
_MARKERS = ("conda-meta", V1_FILE, "asset.yaml")


def import_source(
    source: Path, name: str | None = None, history: bool = False, python: str | None = None
) -> Imported:
    """Whatever `source` is: a conda environment (prefix or name), an Azure ML v1 save or v2
    environment, an azureml-assets folder, a conda environment file or spec list, a pixi or
    pyproject.toml manifest, or a pip requirements file. `python` (X.Y) is the Python of a
    source that does not say one (or only a range), and replaces what one says, noted."""
    imported = _import_source(source, name, history, python)
    settings = imported.manifest.get("python")
    if python and not isinstance(settings, dict) and settings != python:
        if settings:
            imported.notes.append(f"python {settings} (from the source) replaced by --python")
        before = ("schema_version", "name", "version", "description", "tags", "extends")
        items = [(k, v) for k, v in imported.manifest.items() if k != "python"]
        at = sum(1 for k, _ in items if k in before)  # python: where a manifest has it
        imported.manifest.clear()
        imported.manifest.update([*items[:at], ("python", python), *items[at:]])
        imported.notes[:] = [n for n in imported.notes if "set python: to one version" not in n]
    return imported


def _import_source(source: Path, name: str | None, history: bool, python: str | None) -> Imported:
    prefix = conda_prefix(str(source))
    if prefix is not None:
        return import_conda_prefix(prefix, name, history)
    if (source / V1_FILE).is_file():
        return import_azureml_v1(source, name)
    if (source / "asset.yaml").is_file():
        return import_azureml_asset(source, name)
    if source.name == V1_FILE:
        return import_azureml_v1(source.parent, name)
    if source.is_dir():
        raise NotAnEnvironment(
            f"{source}: a folder that is no environment (no conda-meta/, {V1_FILE} or "
            "asset.yaml): name a file in it, or import what it holds with --all"
        )
    if not source.is_file():
        raise UsageError(f"{source}: no such file, conda prefix or conda environment name")
    if source.name in REFUSED:
        raise NotAnEnvironment(f"{source}: {REFUSED[source.name]}")
    if source.name == "pixi.toml":
        return import_pixi(source, name)
    if source.name == "pyproject.toml":  # pixi's manifest may live there
        read = import_pixi if has_pixi_tables(source) else import_pyproject
        return read(source, name)
    if source.suffix in (".yml", ".yaml"):
        return import_yaml(source, name)
    if source.suffix in (".txt", ".in", ".out") or source.name.startswith("requirements"):
        text = read_bytes(source).decode(errors="replace")
        if "@EXPLICIT" in text:
            raise NotAnEnvironment(
                f"{source}: an explicit conda lock (@EXPLICIT); import the spec or environment "
                "file it was made from"
            )
        if is_conda_spec_list(text):
            return import_conda_specs(source, name)
        return import_requirements(source, name, python)
    raise UsageError(
        f"{source}: cannot tell what this is; envc imports conda environment files (.yml), "
        "spec lists and pip requirements files (.txt), pixi.toml and pyproject.toml"
    )


def _is_candidate(file: Path) -> bool:
    name = file.name
    return (
        file.suffix in (".yml", ".yaml")
        or name in REFUSED
        or name in ("pixi.toml", "pyproject.toml")
        or (name.startswith("requirements") and file.suffix in (".txt", ".in"))
        or (file.suffix in (".in", ".out") and "env" in name)  # conda spec lists and locks
    )


def importable_sources(tree: Path) -> list[Path]:
    """What `envc import --all` imports (or reports) under `tree`: folders that are one
    environment (a conda prefix, an Azure ML v1 save, an azureml-assets folder, whose insides
    are not looked at again), and the files `import_source` reads or refuses by name."""
    found: list[Path] = []
    pending = [tree]
    while pending:
        folder = pending.pop()
        if any((folder / marker).exists() for marker in _MARKERS):
            found.append(folder)
            continue
        for entry in sorted(folder.iterdir(), reverse=True):
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and not entry.is_symlink():
                pending.append(entry)
            elif _is_candidate(entry):
                found.append(entry)
    return sorted(found)
