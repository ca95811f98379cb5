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

from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_text
from compiler.errors import EnvcError
from compiler.validate.catalog import template_folders

MAX_TEMPLATE_BYTES = MAX_FILE_BYTES


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


def referenced_templates(source: str) -> set[str]:
    """The templates `source` includes, imports or extends by a constant name."""
    try:
        return {n for n in meta.find_referenced_templates(Environment().parse(source)) if n}
    except TemplateSyntaxError:
        return set()  # rendering reports it; a template that does not parse includes nothing
