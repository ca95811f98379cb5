"""The base-image catalog (templates/base-images.yaml): the default base image of an environment
that names none, by compute, CUDA version and whether it has a conda part. Read and checked here
so that validation can say which environments it cannot serve, before lock or render.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler._util.files import UnreadableFile, read_bounded
from compiler._util.resources import data_dir
from compiler.errors import EnvcError
from compiler.load.yamlio import parse_yaml
from compiler.manifest.patterns import CUDA_VERSION_PATTERN, IMAGE_PATTERN

CATALOG_FILE = "base-images.yaml"
MAX_REPORTED = 20
# An image reference with `{version}` where the Python version goes (python:{version}-slim).
PYTHON_IMAGE_PATTERN = r"^[A-Za-z0-9._/:@-]*\{version\}[A-Za-z0-9._/:@-]*$"


def template_folders(repo_root: Path | None) -> list[Path]:
    """Where templates are looked up, first match wins: the repository's, then envc's."""
    folders = [repo_root / "templates"] if repo_root and (repo_root / "templates").is_dir() else []
    return [*folders, data_dir("templates")]


@dataclass(frozen=True)
class BaseImageCatalog:
    micromamba: str
    cpu: str
    gpu: Mapping[str, str]
    python: str
    gpu_default: str | None = None  # None: a GPU environment naming no CUDA takes the newest

    @property
    def default_cuda(self) -> str:
        """The CUDA of a GPU environment that names none (`gpu_default`, else the newest)."""
        return self.gpu_default or max(self.gpu, key=lambda v: tuple(map(int, v.split("."))))

    def for_environment(
        self, compute: str, cuda: str | None, python: str | None, has_conda: bool
    ) -> str:
        """The default base image of an environment that names none."""
        if compute == "gpu":
            if cuda is None:
                cuda = self.default_cuda
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
            "gpu_default": {
                "description": "The CUDA of a GPU environment that names none (default: the "
                "newest of gpu); one of gpu's versions.",
                "type": "string",
                "pattern": CUDA_VERSION_PATTERN,
            },
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
    gpu, default = dict(data["gpu"]), data.get("gpu_default")
    if default is not None and default not in gpu:
        line, col = doc.locate(("gpu_default",))
        raise EnvcError(
            f"{display}:{line}:{col}: not a valid base-image catalog: gpu_default {default} is "
            f"not one of gpu's versions ({', '.join(sorted(gpu))})"
        )
    return BaseImageCatalog(data["micromamba"], data["cpu"], gpu, data["python"], default)
