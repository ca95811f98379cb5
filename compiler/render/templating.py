"""Templates and the base-image catalog, for the render stage.

Templates are files: the packaged `templates/` and, overriding it file by file, a repository's
own `templates/`. They run in Jinja's sandbox with undefined names as errors; the loader serves
only regular files inside those folders (no `..`, no symbolic links). A template problem is an
`EnvcError` reading `template:line: message`, never a traceback. Python builds every value a
template sees; templates only format.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
)
from jinja2.sandbox import SandboxedEnvironment

from compiler._util.resources import data_dir
from compiler.errors import EnvcError
from compiler.load.yamlio import parse_yaml

CATALOG_FILE = "base-images.yaml"


class _RootedLoader(FileSystemLoader):
    """A FileSystemLoader that refuses files reached through a symbolic link or outside its root."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root.resolve()

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        candidate = self.root / template
        current = self.root
        for part in Path(template).parts:
            current = current / part
            if current.is_symlink():
                raise TemplateNotFound(template, f"{template} goes through a symbolic link")
        if not candidate.resolve().is_relative_to(self.root):
            raise TemplateNotFound(template)
        return super().get_source(environment, template)


def template_folders(repo_root: Path | None) -> list[Path]:
    """Where templates are looked up, first match wins: the repository's, then envc's."""
    folders = [repo_root / "templates"] if repo_root and (repo_root / "templates").is_dir() else []
    return [*folders, data_dir("templates")]


def template_environment(repo_root: Path | None) -> SandboxedEnvironment:
    loaders: Sequence[BaseLoader] = [
        _RootedLoader(folder) for folder in template_folders(repo_root)
    ]
    return SandboxedEnvironment(
        loader=ChoiceLoader(list(loaders)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template_line(name: str) -> int:
    """The line of template `name` that was running when the current exception was raised."""
    traceback = sys.exc_info()[2]
    line = 0
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_filename.endswith(name):
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def render(environment: SandboxedEnvironment, name: str, context: Mapping[str, Any]) -> str:
    """Render template `name`; every template problem becomes `name:line: message`."""
    try:
        return environment.get_template(name).render(context)
    except TemplateSyntaxError as exc:
        raise EnvcError(f"{exc.name or name}:{exc.lineno}: {exc.message}") from None
    except TemplateNotFound as exc:
        raise EnvcError(f"{name}: template not found ({exc.message or exc.name})") from None
    except TemplateError as exc:  # undefined names, sandbox violations
        raise EnvcError(f"{name}:{_template_line(name)}: {exc}") from None


@dataclass(frozen=True)
class BaseImageCatalog:
    micromamba: str
    cpu: str
    gpu: Mapping[str, str]
    python: str

    def for_environment(
        self, compute: str, cuda: str | None, python: str | None, has_conda: bool
    ) -> str:
        """The default base image of an environment that names none."""
        if compute == "gpu":
            if cuda is None:
                cuda = max(self.gpu, key=lambda v: tuple(int(p) for p in v.split(".")))
            if cuda not in self.gpu:
                raise EnvcError(
                    f"no default base image for CUDA {cuda}; the catalog has "
                    f"{', '.join(sorted(self.gpu))} (or set docker.base_image)"
                )
            return self.gpu[cuda]
        if has_conda:
            return self.cpu
        if python is None:
            raise EnvcError("a pip-only environment needs python: to pick its base image")
        return self.python.format(version=".".join(python.split(".")[:2]))


def catalog_file(repo_root: Path | None) -> Path:
    """The base-image catalog in use: the repository's templates/base-images.yaml, else envc's."""
    for folder in template_folders(repo_root):
        if (folder / CATALOG_FILE).is_file():
            return folder / CATALOG_FILE
    return data_dir("templates") / CATALOG_FILE


def load_catalog(repo_root: Path | None) -> BaseImageCatalog:
    file = catalog_file(repo_root)
    return parse_catalog(file.read_bytes(), str(file))


def parse_catalog(raw: bytes, display: str) -> BaseImageCatalog:
    doc = parse_yaml(display, raw)
    data = doc.data
    try:
        if doc.diagnostics:
            raise ValueError(doc.diagnostics[0].message)
        if data.get("catalog_version") != 1:
            raise ValueError("catalog_version must be 1")
        catalog = BaseImageCatalog(
            str(data["micromamba"]),
            str(data["cpu"]),
            {str(k): str(v) for k, v in data["gpu"].items()},
            str(data["python"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvcError(f"{display}: not a valid base-image catalog: {exc}") from None
    return catalog


def referenced_templates(source: str) -> set[str]:
    """The templates `source` includes, imports or extends by a constant name."""
    try:
        return {n for n in meta.find_referenced_templates(Environment().parse(source)) if n}
    except TemplateSyntaxError:
        return set()  # rendering reports it; a template that does not parse includes nothing
