"""Files a manifest refers to: where they may be, and what a conda or pip spec file may say.

A reference is relative to the manifest's folder and must resolve to a regular file inside the
repository: no absolute paths, no '..' escapes, no symbolic links (a link could point anywhere, and
the build context must be what the repository says).
"""

from __future__ import annotations

import re
from pathlib import Path

from compiler._util.credentials import without_credentials
from compiler._util.files import UnreadableFile, read_text
from compiler.errors import Diagnostic
from compiler.load.yamlio import Document, read_yaml
from compiler.validate.packages import SpecChecks
from compiler.validate.values import TEMPLATE_PLACEHOLDER, placeholder_problem

_CONDA_FILE_KEYS = {"name", "channels", "dependencies", "variables", "prefix", "platforms"}
_REQUIREMENT_INCLUDE = re.compile(r"(?:-r|--requirement)(?:\s+|=)(\S+)")
# Options that only change *how* pip reads a line's requirement are harmless here.
_PER_REQUIREMENT_OPTION = re.compile(r"\s--hash[=\s]\S+")
INDEX_OPTION = re.compile(r"(-i|--index-url|--extra-index-url)(?:\s+|=)(\S+)")


def is_pypi(url: str) -> bool:
    """Whether `url` is PyPI's index, envc's default: naming it changes nothing."""
    return url.rstrip("/") in ("https://pypi.org/simple", "https://pypi.python.org/simple")


def resolve_reference(root: Path, base: Path, relative: str) -> tuple[Path | None, str | None]:
    """The file `relative` (to folder `base`) names, or None and why it is not acceptable."""
    if "\x00" in relative or relative.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", relative):
        return None, f"{relative!r} must be a relative path inside the repository"
    if ".." in Path(relative).parts:
        return None, f"{relative!r} must not contain '..'"
    candidate = base / relative
    current = base
    for part in Path(relative).parts:
        current = current / part
        if current.is_symlink():
            return None, f"{relative!r} goes through a symbolic link; copy the file instead"
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, f"{relative!r} does not exist"
    if not resolved.is_relative_to(root.resolve()):
        return None, f"{relative!r} resolves outside the repository"
    if not resolved.is_file():
        return None, f"{relative!r} is not a regular file"
    return resolved, None


def check_conda_file(file: Path, display: str, specs: SpecChecks) -> list[Diagnostic]:
    """Problems in a conda environment.yml: its shape, channels, and every dependency spec."""
    doc = read_yaml(file, display)
    if not doc.ok:
        return list(doc.diagnostics)
    data = doc.data
    if not isinstance(data, dict):
        return [
            doc.diagnostic(
                (), "a conda environment file must be a mapping with 'dependencies'", "conda-file"
            )
        ]
    found = [
        doc.diagnostic(
            (key,),
            f"key {key!r} is not supported in a conda environment file "
            f"(allowed: {', '.join(sorted(_CONDA_FILE_KEYS))})",
            "conda-file",
            key=True,
        )
        for key in data
        if key not in _CONDA_FILE_KEYS
    ]
    for key in ("channels", "dependencies"):
        if key in data and not isinstance(data[key], list):
            found.append(doc.diagnostic((key,), f"'{key}' must be a list", "conda-file"))
    if data.get("variables"):
        found.append(
            doc.diagnostic(
                ("variables",),
                "variables in a conda file do not reach the environment envc builds: set them "
                "under variables: in env.yaml",
                "conda-file",
                key=True,
            )
        )
    for index, channel in enumerate(data.get("channels") or []):
        if not isinstance(channel, str):
            found.append(
                doc.diagnostic(("channels", index), "a channel must be a string", "conda-file")
            )
    dependencies = data.get("dependencies")
    for index, item in enumerate(dependencies if isinstance(dependencies, list) else []):
        found.extend(_conda_dependency(doc, index, item, specs))
    return found


def _conda_dependency(
    doc: Document, index: int, item: object, specs: SpecChecks
) -> list[Diagnostic]:
    path = ("dependencies", index)
    if isinstance(item, str) and (placeholder := TEMPLATE_PLACEHOLDER.search(item)):
        message = placeholder_problem(placeholder.group())
        return [doc.diagnostic(path, message, "template-placeholder")]
    if isinstance(item, str):
        problem = specs.conda_in_file(item)
        return [doc.diagnostic(path, problem, "conda-spec")] if problem else []
    if isinstance(item, dict) and list(item) == ["pip"] and isinstance(item["pip"], list):
        found = []
        for pip_index, spec in enumerate(item["pip"]):
            pip_path = (*path, "pip", pip_index)
            if not isinstance(spec, str):
                found.append(
                    doc.diagnostic(pip_path, "a pip requirement must be a string", "pip-spec")
                )
                continue
            placeholder = TEMPLATE_PLACEHOLDER.search(spec)
            if placeholder:
                message = placeholder_problem(placeholder.group())
                found.append(doc.diagnostic(pip_path, message, "template-placeholder"))
            elif spec.strip().startswith("-"):
                if problem := pip_option_problem(spec.strip(), "a conda file"):
                    found.append(doc.diagnostic(pip_path, problem, "pip-option"))
            elif problem := specs.pip(spec):
                found.append(doc.diagnostic(pip_path, problem, "pip-spec"))
        return found
    return [
        doc.diagnostic(
            path, "a dependency must be a MatchSpec string or a 'pip:' list", "conda-file"
        )
    ]


def pip_option_problem(option_line: str, where: str) -> str | None:
    """What is wrong with a pip option line in a file a manifest refers to (`where`: which kind
    of file); None for PyPI named as the index, envc's default (pip-compile writes it)."""
    index = INDEX_OPTION.fullmatch(option_line)
    if index is not None and is_pypi(index.group(2)):
        return None
    option = option_line.split()[0].split("=")[0]
    instead = (
        f"list {without_credentials(index.group(2))} under pip_indexes: in the manifest"
        if index is not None
        else "list requirements only"
    )
    return f"pip option {option!r} is not supported in {where} here; {instead}"


def _line_problem(display: str, line: int, col: int, message: str, rule: str) -> Diagnostic:
    """A problem in a line-based (non-YAML) file, which has no JSON path."""
    return Diagnostic(display, line, col, message, rule, json_path="")


def logical_lines(text: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of each requirement line: comments cut, continuations joined."""
    lines: list[tuple[int, int, str]] = []
    pending: tuple[int, int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        content = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        continued = content.endswith("\\")
        content = content[:-1] if continued else content
        if pending is not None:
            pending = (pending[0], pending[1], pending[2] + " " + content.strip())
        elif content.strip():
            stripped = content.lstrip()
            pending = (number, len(content) - len(stripped) + 1, stripped)
        if not continued and pending is not None:
            lines.append(pending)
            pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def check_base_dockerfile(root: Path, file: Path, display: str) -> list[Diagnostic]:
    """A base Dockerfile: it parses, has a FROM, and every COPY/ADD source is a file it may
    bring into the build context (confined, no special files, within the size caps). Problems
    are at the Dockerfile's line; no context file is read."""
    from compiler.load.buildcontext import read_base_dockerfile

    relative = file.relative_to(root).as_posix()
    _, problems = read_base_dockerfile(root, relative, read=False)
    found = [_line_problem(display, p.line, 1, p.message, p.rule) for p in problems]
    if not problems:  # it read: its text is small and regular
        found += _placeholders(read_text(file), display)
    return found


def _placeholders(text: str, display: str) -> list[Diagnostic]:
    """`{{…}}` template placeholders left in a referenced file, at their line and column."""
    return [
        _line_problem(
            display,
            number,
            match.start() + 1,
            placeholder_problem(match.group()),
            "template-placeholder",
        )
        for number, line in enumerate(text.splitlines(), start=1)
        for match in TEMPLATE_PLACEHOLDER.finditer(line)
    ]


def check_requirements_file(
    file: Path,
    display: str,
    root: Path,
    specs: SpecChecks,
    visiting: frozenset[Path] = frozenset(),
) -> list[Diagnostic]:
    """Problems in a pip requirements file and the files it includes with `-r`."""
    try:
        text = read_text(file, bom=True)
    except UnreadableFile as exc:
        return [_line_problem(display, 1, 1, str(exc), exc.rule)]
    visiting = visiting | {file}
    found: list[Diagnostic] = []
    for line, col, content in logical_lines(text):
        include = _REQUIREMENT_INCLUDE.fullmatch(content)
        if include:
            found.extend(
                _include(root, file, display, line, col, include.group(1), specs, visiting)
            )
            continue
        if content.startswith("-"):
            problem = pip_option_problem(content, "a requirements file")
            if problem:
                found.append(_line_problem(display, line, col, problem, "pip-option"))
            continue
        if TEMPLATE_PLACEHOLDER.search(content):
            continue  # said once below, with the column
        problem = specs.pip(_PER_REQUIREMENT_OPTION.sub("", content))
        if problem:
            found.append(_line_problem(display, line, col, problem, "pip-spec"))
    return found + _placeholders(text, display)


def _include(
    root: Path,
    file: Path,
    display: str,
    line: int,
    col: int,
    relative: str,
    specs: SpecChecks,
    visiting: frozenset[Path],
) -> list[Diagnostic]:
    target, problem = resolve_reference(root, file.parent, relative)
    if target is None:
        return [_line_problem(display, line, col, f"included file {problem}", "reference")]
    if target in visiting:
        return [
            _line_problem(display, line, col, f"{relative!r} includes itself (cycle)", "reference")
        ]
    shown = str(Path(display).parent / relative)
    return check_requirements_file(target, shown, root, specs, visiting)


def read_requirements(file: Path, root: Path) -> list[str]:
    """The requirement lines of a (validated) requirements file and the files it includes."""
    requirements: list[str] = []
    for _, _, content in logical_lines(read_text(file, bom=True)):
        include = _REQUIREMENT_INCLUDE.fullmatch(content)
        if include:
            target, _ = resolve_reference(root, file.parent, include.group(1))
            if target is not None and target != file:
                requirements += read_requirements(target, root)
        elif not content.startswith("-"):
            requirements.append(_PER_REQUIREMENT_OPTION.sub("", content).strip())
    return requirements
