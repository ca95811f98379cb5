"""What rendering one environment makes: its build context, lockfiles, base image and content
address. Apart from the renderer, so that what reads renders (a plan's remembered ones) does not
import Jinja, the lock readers and the manifest model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler.render.output import FileContent


@dataclass(frozen=True)
class Address:
    digest: str  # "sha256:<hex>"
    document: dict[str, Any]  # what was hashed, kept to explain a difference


@dataclass(frozen=True)
class RenderedEnvironment:
    name: str
    files: dict[str, FileContent]  # the build context, metadata included
    lockfiles: Mapping[str, str]  # every lockfile of the environment, all platforms
    base_image: str | None  # None without docker
    address: Address
    manifest: dict[str, Any]  # the resolved manifest as the model dumps it (JSON mode)
