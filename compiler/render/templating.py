"""Templates and the base-image catalog, for the render stage.

Templates are files: the packaged `templates/` and, overriding it file by file, a repository's
own `templates/`. They run in Jinja's sandbox with undefined names as errors; the loader serves
only regular files inside those folders (no `..`, no symbolic links). A template problem is an
`EnvcError` reading `template:line: message`, never a traceback. Python builds every value a
template sees; templates only format.
"""

from __future__ import annotations

import os
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

from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded, read_text
from compiler._util.resources import data_dir
from compiler.errors import EnvcError
from compiler.load.yamlio import parse_yaml
from compiler.manifest.patterns import CUDA_VERSION_PATTERN, IMAGE_PATTERN

CATALOG_FILE = "base-images.yaml"
MAX_TEMPLATE_BYTES = MAX_FILE_BYTES
MAX_REPORTED = 20
# An image reference with `{version}` where the Python version goes (python:{version}-slim).
PYTHON_IMAGE_PATTERN = r"^[A-Za-z0-9._/:@-]*\{version\}[A-Za-z0-9._/:@-]*$"


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
        try:
            source = read_text(candidate, MAX_TEMPLATE_BYTES)
        except UnreadableFile as exc:
            if str(exc) == "does not exist":
                raise TemplateNotFound(template) from None  # the next folder's, if any
            raise TemplateError(f"{template}: {exc}") from None  # not silently envc's instead
        return source, str(candidate), lambda: True


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
    except (RecursionError, MemoryError) as exc:  # a template that includes itself, say
        raise EnvcError(f"{name}: {type(exc).__name__} while rendering") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        # a repository template's own mistake: {{ 1 / 0 }}, {{ [][1] }}, {{ 'a' + 1 }}
        raise EnvcError(f"{name}:{_template_line(name)}: {type(exc).__name__}: {exc}") from None


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
        if os.path.lexists(folder / CATALOG_FILE):  # whatever it is: reading it says what is wrong
            return folder / CATALOG_FILE
    return data_dir("templates") / CATALOG_FILE


def load_catalog(repo_root: Path | None) -> BaseImageCatalog:
    file = catalog_file(repo_root)
    try:
        raw = read_bounded(file)
    except UnreadableFile as exc:
        raise EnvcError(f"{file}: {exc}") from None
    return parse_catalog(raw, str(file))


def catalog_json_schema() -> dict[str, Any]:
    """The catalog's JSON Schema (schemas/catalog.schema.json), from the manifest's patterns:
    every value is an image reference, so none can carry a newline into a Dockerfile."""
    image = {"type": "string", "pattern": IMAGE_PATTERN}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://envc.dev/schemas/catalog-v1.schema.json",
        "title": "templates/base-images.yaml",
        "description": "Default base images, chosen by compute, CUDA version and conda part.",
        "type": "object",
        "additionalProperties": False,
        "required": ["catalog_version", "micromamba", "cpu", "gpu", "python"],
        "properties": {
            "catalog_version": {"const": 1},
            "micromamba": image,
            "cpu": image,
            "gpu": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": CUDA_VERSION_PATTERN},
                "additionalProperties": image,
            },
            "python": {"type": "string", "pattern": PYTHON_IMAGE_PATTERN},
        },
    }


def parse_catalog(raw: bytes, display: str) -> BaseImageCatalog:
    """The catalog in `raw`; its problems as `path:line:col: message`, as a manifest's."""
    from compiler.validate.schema import CATALOG, check_schema

    doc = parse_yaml(display, raw)
    problems = list(doc.diagnostics) or check_schema(doc, CATALOG)
    if problems:
        raise EnvcError(
            "\n".join(
                f"{d.path}:{d.line}:{d.col}: not a valid base-image catalog: {d.message}"
                for d in problems[:MAX_REPORTED]
            )
        )
    data = doc.data
    return BaseImageCatalog(data["micromamba"], data["cpu"], dict(data["gpu"]), data["python"])


def referenced_templates(source: str) -> set[str]:
    """The templates `source` includes, imports or extends by a constant name."""
    try:
        return {n for n in meta.find_referenced_templates(Environment().parse(source)) if n}
    except TemplateSyntaxError:
        return set()  # rendering reports it; a template that does not parse includes nothing
