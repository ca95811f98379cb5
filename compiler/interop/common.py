"""Import environments from the formats they live in today (TOML formats: pyproject.py; telling
which format a source is: sources.py; export: export.py). This module: what every importer
shares; conda.py, requirements.py and azureml.py: the importers.

Import: a conda `environment.yml` (channels, conda and nested pip dependencies, `name`,
`variables`, conda-lock's `platforms`), a conda spec list, a pip `requirements.txt` (with `-r`
includes), an installed conda environment, an Azure ML SDK v1 saved environment, an Azure ML CLI v2
environment (`image`, `conda_file`, `build.path`; referenced files are copied) or an
azureml-assets environment folder becomes a manifest. What a manifest cannot say is never
dropped silently: each import returns notes (platform selectors, `pip-repositories` and index
options, editable installs, azureml-assets' `{{latest-…}}` placeholders kept as unpinned specs,
unknown keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from compiler._util.files import write_atomically
from compiler.errors import EnvcError, UsageError
from compiler.load.discover import MANIFEST_FILENAME
from compiler.load.yamlio import read_yaml
from compiler.manifest.patterns import NAME_PATTERN

DEFAULT_PLATFORM = "linux-64"
# azureml-assets' templating: `name=={{latest-pypi-version}}`, resolved at their build time.
_PLACEHOLDER = re.compile(r"\s*(?:={1,2}|~=|>=|<=)?\s*\{\{[^}]*\}\}")


class NotAnEnvironment(EnvcError):
    """A source that is not an environment definition (a lockfile, a system package list, an
    azureml-assets component or model): `envc import --all` reports it and goes on."""


@dataclass
class Imported:
    name: str
    manifest: dict[str, Any]
    source: str
    notes: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # copied beside the manifest
    # Other environments the same source defines (a pixi workspace's), written with it.
    companions: list[Imported] = field(default_factory=list)
    locked_as: str = "default"  # its environment in the source's lockfile (pixi.lock)


def manifest_name(text: str) -> str:
    """`text` made a valid environment name (lower case, runs of other characters as '-')."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    name = re.sub(r"[._-]*-[._-]*|[._]{2,}", "-", name).strip("-._")[:64].strip("-._")
    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"cannot make an environment name of {text!r}; pass --name")
    return name


# What SDK v1 names every environment file it writes: it says nothing about the environment.
GENERIC_ENVIRONMENT_NAMES = {"project_environment"}


def folder_name(file: Path) -> str:
    """The name a file's folder gives the environment: the asset's name for a file in an
    azureml-assets context (`<asset>/context/requirements.txt`), else the folder's name."""
    asset = file.parent.parent / "asset.yaml"
    if asset.is_file():
        try:
            name = read_mapping(asset).get("name")
        except EnvcError:
            name = None
        if isinstance(name, str) and name.strip():
            return name
    return file.parent.name


def strings(value: Any) -> list[str]:
    """The strings of a YAML sequence or TOML array; anything else (a string too) holds none."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def new_manifest(name: str, **fields: Any) -> dict[str, Any]:
    """A manifest of `name` with `fields` in the order given; empty ones, and platforms that
    are just the default (unless a parent's would be inherited instead), are left out."""
    manifest: dict[str, Any] = {"schema_version": 1, "name": name}
    implied = None if fields.get("extends") else [DEFAULT_PLATFORM]
    for key, value in fields.items():
        if value and not (key == "platforms" and list(value) == implied):
            manifest[key] = value
    return manifest


def unpinned(spec: str, notes: list[str]) -> str:
    if "{{" not in spec:
        return spec
    bare = _PLACEHOLDER.sub("", spec).strip()
    notes.append(f"{spec!r} is a template placeholder: imported as {bare!r} (unpinned)")
    return bare


def conda_spec(text: str, notes: list[str]) -> str:
    """A conda spec as a manifest carries it: placeholders unpinned, and conda's forms that
    envc's strict check refuses (`libblas=*=*mkl`, `pytorch=2.1=*cuda*`: a build after a second
    `=`) written as the MatchSpec they mean (`libblas * *mkl`), noted."""
    from compiler.validate.packages import strict_conda_form, strict_parse_error

    spec = unpinned(text.strip(), notes)
    if strict_parse_error(spec) is None:
        return spec
    written = strict_conda_form(spec)
    if written is None:  # not one of conda's `=` forms: kept, and validation says why
        return spec
    notes.append(f"{spec!r} is written as {written!r} (the same MatchSpec, in strict form)")
    return written


_NAMELESS_URL = re.compile(r"^(?:git\+|hg\+|svn\+|bzr\+|https?://|file:)")
# An archive's file name says what it is: `en_core_web_sm-3.7.1.tar.gz`, `pkg-1.0-py3-none-any.whl`.
_EGG = re.compile(r"egg=[A-Za-z0-9][A-Za-z0-9._-]*")
# `.`, `./pkg`, `../pkg`, `/abs/pkg`, `~/pkg`, `C:\pkg`: a folder or file of the machine.
_LOCAL_PATH = re.compile(r"^(?:\.{1,2}(?:[/\\]|$|\[)|[/\\~]|[A-Za-z]:[/\\])")
_ARCHIVE = re.compile(r"/([A-Za-z0-9][A-Za-z0-9_.]*?)-\d[^/]*\.(?:tar\.gz|zip|whl)(?:[#?].*)?$")


def pip_requirement(text: str, notes: list[str]) -> str | None:
    """A pip requirement as a manifest carries it: placeholders unpinned, and a URL without a
    name (`https://…/pkg-1.0.tar.gz`) as `pkg @ URL` when its file name says the name; a URL
    that does not (`git+https://…@sha`), or a local path (`./pkg`: the project's own code), is
    noted and not carried (None)."""
    text = unpinned(text.strip(), notes)
    if _LOCAL_PATH.match(text):
        notes.append(
            f"{text!r} is not carried: a local path, not a package an index or URL serves "
            "(install it from the build context)"
        )
        return None
    if not _NAMELESS_URL.match(text):
        return text
    url, _, fragment = text.partition("#")
    parts = fragment.split("&") if fragment else []
    egg = next((p for p in parts if _EGG.fullmatch(p)), None)
    if egg:  # pip's older spelling of the name: `git+https://…@v1#egg=name`
        rest = "&".join(p for p in parts if p != egg)
        named = f"{egg.removeprefix('egg=')} @ {url}{f'#{rest}' if rest else ''}"
        notes.append(f"{text!r} is carried as {named!r} (#egg= names it)")
        return named
    archive = _ARCHIVE.search(text)
    if archive:
        named = f"{archive.group(1)} @ {text}"
        notes.append(f"{text!r} has no name: carried as {named!r} (from its file name)")
        return named
    notes.append(f"{text!r} is not carried: a URL requirement needs a name (NAME @ URL)")
    return None


_HASH_OPTION = re.compile(r"(?:^|\s)--hash[=\s]\S+")
_LOCAL_VERSION = re.compile(r"===?\s*[0-9][^,;\s]*\+([A-Za-z0-9.]+)")


@dataclass
class PipOptions:
    """The pip options of a requirements file, a conda file's pip section, or pixi's, uv's and
    Poetry's index settings, as an import carries them. An index other than PyPI goes to the
    manifest's `pip_indexes`, in uv's order (the extra indexes first, then one that took PyPI's
    place); PyPI is searched after them, where pip would not search at all (noted). Hashes are
    the lock's own. An index envc cannot take (not an http(s) URL it accepts, or credentials
    written out) is noted, with the requirements pinned to a local version (`torch==2.2.1+cpu`),
    which PyPI does not serve."""

    extra: list[str] = field(default_factory=list)
    instead_of_pypi: str | None = None
    stranded: list[str] = field(default_factory=list)
    hashes: bool = False

    @property
    def indexes(self) -> list[str]:
        """What the manifest's `pip_indexes` get, in the order uv searches them."""
        last = [self.instead_of_pypi] if self.instead_of_pypi else []
        return list(dict.fromkeys([*self.extra, *last]))

    def requirement(self, text: str) -> str:
        """`text` without its `--hash` options."""
        stripped = _HASH_OPTION.sub("", text)
        self.hashes = self.hashes or stripped != text
        return stripped.strip()

    def option(self, text: str, where: str, notes: list[str]) -> None:
        """Carry or note option line `text` (`where`: the place to name, `file:line: `)."""
        from compiler.validate.references import INDEX_OPTION

        index = INDEX_OPTION.fullmatch(text.strip())
        if index is not None:
            self.index(
                index.group(2), where, notes, instead_of_pypi=index.group(1) != "--extra-index-url"
            )
        elif _HASH_OPTION.match(text.strip()):
            self.hashes = True
        else:
            notes.append(f"{where}option {text.split()[0]} is not carried")

    def index(self, url: str, where: str, notes: list[str], *, instead_of_pypi: bool) -> None:
        """Carry pip index `url`, searched before PyPI, or (`instead_of_pypi`) in its place."""
        from compiler._util.credentials import holds_url_credentials, without_credentials
        from compiler.manifest.patterns import INDEX_URL_PATTERN
        from compiler.validate.references import is_pypi

        if is_pypi(url):
            return
        shown = without_credentials(url)
        if holds_url_credentials(url):
            why = "it holds credentials: add it with ${VAR} placeholders"
        elif "{{" in url or not re.fullmatch(INDEX_URL_PATTERN, url):
            why = "not an http(s) URL envc takes"
        else:
            why = ""
        if why:
            self.stranded.append(shown)
            notes.append(f"{where}index {shown} is not carried ({why})")
        elif instead_of_pypi and self.instead_of_pypi not in (None, url):
            self.extra.append(url)
            notes.append(f"{where}a second index in PyPI's place, {url}, is searched before it")
        elif instead_of_pypi:
            self.instead_of_pypi = url
            notes.append(f"{where}index {url} is searched first, and then PyPI (not instead of it)")
        else:
            self.extra.append(url)

    def index_table(
        self, value: Any, where: str, notes: list[str], *, instead_of_pypi: bool
    ) -> str | None:
        """An index table's URL (uv's `[[tool.uv.index]]`, Poetry's `[[tool.poetry.source]]`)
        when it is carried (index()); None when it is not, or has no URL (noted)."""
        url = value.get("url") if isinstance(value, dict) else None
        if not isinstance(url, str):
            notes.append(f"{where}{value!r} has no URL: not carried")
            return None
        self.index(url, where, notes, instead_of_pypi=instead_of_pypi)
        return url if url in self.indexes else None

    def finish(self, requirements: list[str], notes: list[str]) -> None:
        """The notes about what was carried, once every line was read."""
        if self.hashes:
            notes.append(
                "--hash options are not carried: the lock records the hashes of what it resolves"
            )
        for requirement in requirements if self.stranded else []:
            local = _LOCAL_VERSION.search(requirement)
            if local is not None:
                notes.append(
                    f"{requirement!r} pins a local version (+{local.group(1)}), which PyPI does "
                    f"not serve: if it comes from {', '.join(self.stranded)}, not carried, the "
                    "lock will not find it"
                )


def source_url(source: dict[str, Any]) -> str | None:
    """A source table as uv, pixi and Poetry write them, as a PEP 508 URL: `git+URL@rev` (its
    rev, tag or branch; a subdirectory as a fragment), or a direct `url`; None for any other
    kind (a path, a workspace member, an index)."""
    if isinstance(source.get("url"), str):
        return str(source["url"])
    git = source.get("git")
    if not isinstance(git, str):
        return None
    revision = next(
        (source[k] for k in ("rev", "tag", "branch") if isinstance(source.get(k), str)), None
    )
    url = (git if git.startswith("git+") else f"git+{git}") + (f"@{revision}" if revision else "")
    if isinstance(source.get("subdirectory"), str):
        url += f"#subdirectory={source['subdirectory']}"
    return url


def source_requirement(package: str, source: dict[str, Any], notes: list[str]) -> str | None:
    """A pixi or Poetry dependency from a source table as the direct reference pip reads
    (`name @ git+URL@ref`, `name @ URL`); a path is the project's own code: noted, not carried
    (None)."""
    extras = strings(source.get("extras"))
    name = f"{package}[{','.join(extras)}]" if extras else package
    url = source_url(source)
    if url is not None:
        return f"{name} @ {url}"
    what = "a local path, the project's own code" if "path" in source else "a source without a URL"
    notes.append(f"{package} = {source!r} is not carried: {what}")
    return None


# `-e TARGET` / `--editable TARGET`: pip's editable install of a checkout or a folder.
_EDITABLE = re.compile(r"(?:-e|--editable)(?:\s+|=)(\S+)")


def editable_requirement(text: str, notes: list[str]) -> str | None:
    """What an editable install line (`-e git+…#egg=name`) carries: the same source, installed
    (a manifest's packages are built into the image, not checked out for editing); None for a
    line that is no editable install, or one of a local folder (noted)."""
    editable = _EDITABLE.fullmatch(text.strip())
    carried = pip_requirement(editable.group(1), notes) if editable else None
    if carried is not None:
        notes.append(f"{carried!r} is installed, not editable")
    return carried


def is_editable(text: str) -> bool:
    return _EDITABLE.fullmatch(text.strip()) is not None


def read_mapping(file: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; its first problem is an error at path:line:col."""
    document = read_yaml(file, str(file))
    if document.diagnostics:
        d = document.diagnostics[0]
        raise EnvcError(f"{d.path}:{d.line}:{d.col}: error: {d.message}")
    if not isinstance(document.data, dict):
        raise EnvcError(f"{file}:1:1: error: expected a mapping at the top")
    return document.data


def read_bytes(file: Path, max_bytes: int | None = None) -> bytes:
    """A source file's bytes, through the bounded reader (at most `max_bytes`, else
    MAX_FILE_BYTES); its problem names the file."""
    from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded

    try:
        return read_bounded(file, max_bytes or MAX_FILE_BYTES)
    except UnreadableFile as exc:
        raise EnvcError(f"{file}: {exc}") from None


def read_text(file: Path) -> str:
    """A source file's text, through the bounded reader (a regular file, no link, UTF-8, at
    most MAX_FILE_BYTES; a byte-order mark dropped); its problem names the file."""
    from compiler._util.files import UnreadableFile
    from compiler._util.files import read_text as read_bounded_text

    try:
        return read_bounded_text(file, bom=True)
    except UnreadableFile as exc:
        raise EnvcError(f"{file}: {exc}") from None


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder`, by its '/'-separated path inside it, read through the
    bounded reader. Symbolic links are not followed (one may point anywhere on the machine):
    a Dockerfile that copies one then fails validation, naming it."""
    from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded

    found = {}
    pending = [folder]
    while pending:
        current = pending.pop()
        for item in sorted(current.iterdir()):
            if item.is_symlink():
                continue
            if item.is_dir():
                pending.append(item)
                continue
            try:
                found[item.relative_to(folder).as_posix()] = read_bounded(item, 64 * MAX_FILE_BYTES)
            except UnreadableFile as exc:
                raise EnvcError(f"{item}: {exc}") from None
    return dict(sorted(found.items()))


def yaml_text(document: Any) -> str:
    """`document` as block-style YAML, as envc writes the files it imports."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def manifest_text(imported: Imported) -> str:
    """The manifest as YAML, with a header naming its source."""
    return f"# Imported by envc from {Path(imported.source).name}.\n" + yaml_text(imported.manifest)


def write_imported(
    imported: Imported, into: Path, force: bool = False, force_hint: str = "pass --force"
) -> list[Path]:
    """Write environments/<name>/env.yaml under `into` for the import and its companions
    (each atomically; none when any would replace an existing manifest, unless `force`;
    `force_hint` says how the caller asks for that)."""
    every = [imported, *imported.companions]
    targets = [into / each.name / MANIFEST_FILENAME for each in every]
    taken = [target for target in targets if target.exists()]
    if taken and not force:
        raise UsageError(f"{taken[0]} exists; {force_hint} to replace it")
    for each, target in zip(every, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        for relative, content in sorted(each.files.items()):
            copy = target.parent / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(copy, content)
        write_atomically(target, manifest_text(each))
    return targets
