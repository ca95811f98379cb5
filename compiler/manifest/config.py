"""The repository's own settings: `envc.yaml` beside `environments/` (optional).

```yaml
config_version: 1
channels: [conda-forge]            # for environments that name no channels
mirrors:                           # solve a channel from here, record the channel
  conda-forge: file:///srv/mirrors/conda-forge
pip:
  index_url: https://pypi.example.com/simple    # may hold ${VAR} credentials
  find_links: [wheels]             # relative to the repository, or URLs
registry: sqlite:.envc/registry.db # where envc register records versions
image_prefix: contoso.azurecr.io/environments/   # images are <prefix><name>:<version>
```

Command-line options win over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compiler._util.resources import CONFIG_FILE
from compiler.errors import EnvcError
from compiler.load.yamlio import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PipSettings(_Strict):
    index_url: str | None = None
    find_links: list[str] = Field(default_factory=list)


class RepositoryConfig(_Strict):
    config_version: Literal[1] = 1
    channels: list[str] = Field(default_factory=lambda: ["conda-forge"], min_length=1)
    mirrors: dict[str, str] = Field(default_factory=dict)
    pip: PipSettings = Field(default_factory=PipSettings)
    registry: str | None = None  # a registry URL; default sqlite:.envc/registry.db
    image_prefix: str | None = None  # registered images are <prefix><name>:<version>


def load_config(root: Path) -> RepositoryConfig:
    """`envc.yaml` of the repository at `root`, or the defaults when there is none."""
    file = root / CONFIG_FILE
    if not file.exists():
        return RepositoryConfig()
    doc = read_yaml(file, CONFIG_FILE)
    if not doc.ok:
        raise EnvcError(
            "\n".join(f"{d.path}:{d.line}:{d.col}: error: {d.message}" for d in doc.diagnostics)
        )
    try:
        return RepositoryConfig.model_validate(doc.data or {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
            line, col = doc.locate(path, key=error["type"] == "extra_forbidden")
            where = ".".join(str(part) for part in path) or "(top level)"
            problems.append(f"{CONFIG_FILE}:{line}:{col}: error: {where}: {error['msg']}")
        raise EnvcError("\n".join(problems)) from None
