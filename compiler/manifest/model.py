"""The manifest model: frozen, strict pydantic classes, and the JSON Schema generated from them.

These classes are the single source of the manifest contract. `schemas/manifest.schema.json` is
generated from them (`envc schema > schemas/manifest.schema.json`) and a test keeps the two equal;
`envc validate` checks files against that schema without importing pydantic, so the pre-commit hook
stays fast. Later pipeline stages build these models from already-validated data, with `resolve`
merging an environment's parents in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from compiler.errors import EnvcError
from compiler.manifest.inherit import merge_chain
from compiler.manifest.patterns import (
    ABSOLUTE_PATH_PATTERN,
    CHANNEL_PATTERN,
    CUDA_VERSION_PATTERN,
    IMAGE_PATTERN,
    INDEX_URL_PATTERN,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    PLACEHOLDER_PATTERN,
    PYTHON_VERSION_PATTERN,
    REGISTRY_ADDRESS_PATTERN,
    RELATIVE_PATH_PATTERN,
    TAG_KEY_PATTERN,
    USER_PATTERN,
    VARIABLE_NAME_PATTERN,
)
from compiler.manifest.sources import ValidManifests

SCHEMA_VERSION = 1
# Registry version numbers stay far from the 64-bit limits of SQLite and JSON readers.
MAX_VERSION = 2**31 - 1
SCHEMA_ID = "https://envc.dev/schemas/manifest-v1.schema.json"

Platform = Literal["linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"]
Compute = Literal["cpu", "gpu"]
DEFAULT_PLATFORMS: tuple[Platform, ...] = ("linux-64",)

_Item = TypeVar("_Item")


def _unique(items: list[_Item]) -> list[_Item]:
    duplicates = sorted({str(item) for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"duplicate items: {', '.join(duplicates)}")
    return items


def _integer_only(value: Any) -> Any:
    # Literal[1] would accept True and 1.0 (both == 1); the schema (and `conforms`) do not.
    if isinstance(value, (bool, float)):
        raise ValueError(f"expected the integer 1, got {value!r}")
    return value


PythonVersion = Annotated[
    str,
    Field(
        pattern=PYTHON_VERSION_PATTERN,
        description='Python version; quote it ("3.10", not 3.10)',
        examples=["3.12"],
    ),
]
RelativePath = Annotated[str, Field(pattern=RELATIVE_PATH_PATTERN, max_length=255)]
Channel = Annotated[str, Field(pattern=CHANNEL_PATTERN, max_length=512)]
CondaSpec = Annotated[str, Field(min_length=1, max_length=512)]
PipRequirement = Annotated[str, Field(min_length=1, max_length=1024)]
IndexUrl = Annotated[str, Field(pattern=INDEX_URL_PATTERN, max_length=512)]
TagKey = Annotated[str, Field(pattern=TAG_KEY_PATTERN)]
TagValue = Annotated[str, Field(max_length=256)]
VariableName = Annotated[str, Field(pattern=VARIABLE_NAME_PATTERN)]
VariableValue = Annotated[str, Field(max_length=4096)]


class _Strict(BaseModel):
    """Frozen, no coercion, no unknown keys, and `null` is never a value (omit the key instead)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(str(key) for key, value in data.items() if value is None)
            if nulls:
                raise ValueError(
                    f"null is not allowed for {', '.join(nulls)}; omit the key instead"
                )
        return data


class RegistryCredentials(_Strict):
    """A private registry for the base image. Credentials are `${VAR}` placeholders only."""

    address: str = Field(
        pattern=REGISTRY_ADDRESS_PATTERN,
        max_length=255,
        description="Registry host, e.g. myregistry.azurecr.io",
        examples=["myregistry.azurecr.io"],
    )
    username: str | None = Field(
        None,
        pattern=PLACEHOLDER_PATTERN,
        description="`${VAR}` naming the variable that holds the user name",
    )
    password: str | None = Field(
        None,
        pattern=PLACEHOLDER_PATTERN,
        description="`${VAR}` naming the variable that holds the password",
    )


class DockerSettings(_Strict):
    """How the environment becomes an image (or not, with `enabled: false`)."""

    enabled: bool = Field(
        True,
        description="Build a container image. When false, envc renders an "
        "install script that creates the environment directly on the compute target.",
    )
    base_image: str | None = Field(
        None,
        pattern=IMAGE_PATTERN,
        max_length=512,
        description="Custom base image; pin it with @sha256:<digest>",
        examples=["mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"],
    )
    base_image_registry: RegistryCredentials | None = Field(
        None, description="Private registry that serves the base image"
    )
    base_dockerfile: RelativePath | None = Field(
        None,
        description="Dockerfile (relative to the manifest) used as "
        "the base stage; the environment is installed on top",
    )
    user: str | None = Field(
        None,
        pattern=USER_PATTERN,
        description="Run the image as this user (name or uid, optionally :group); the user "
        "must exist in the base image, a numeric uid works in any image. Default: the base "
        "image's user",
        examples=["1000:1000"],
    )
    compute: Compute = Field("cpu", description="Compute target; picks the default base image")
    cuda: str | None = Field(
        None,
        pattern=CUDA_VERSION_PATTERN,
        description='CUDA version for `compute: gpu` (quote it: "12.1")',
        examples=["12.1"],
    )


CudaVersion = Annotated[str, Field(pattern=CUDA_VERSION_PATTERN)]


class Variants(_Strict):
    """Flavours of this environment, each a sibling environment named after what it varies
    (`<name>-gpu-cu124-py311`), generated by `envc variants` as a manifest that extends this
    one; the combination equal to this environment's own settings is this environment."""

    compute: Annotated[list[Compute], AfterValidator(_unique)] | None = Field(
        None, min_length=1, json_schema_extra={"uniqueItems": True}
    )
    cuda: Annotated[list[CudaVersion], AfterValidator(_unique)] | None = Field(
        None,
        min_length=1,
        description='CUDA versions of the gpu variants (quote them: "12.4")',
        json_schema_extra={"uniqueItems": True},
    )
    python: Annotated[list[PythonVersion], AfterValidator(_unique)] | None = Field(
        None, min_length=1, json_schema_extra={"uniqueItems": True}
    )


class PythonSettings(_Strict):
    """Python version, or a user-managed interpreter that envc does not install into."""

    version: PythonVersion | None = None
    user_managed_dependencies: bool = Field(
        False,
        description="The image or host already has every package; envc creates no environment",
    )
    interpreter_path: str | None = Field(
        None,
        pattern=ABSOLUTE_PATH_PATTERN,
        max_length=255,
        description="Interpreter to use with user-managed dependencies",
        examples=["/opt/conda/bin/python"],
    )


class Manifest(_Strict):
    """One environment, written as `environments/<name>/env.yaml`."""

    schema_version: Annotated[Literal[1], BeforeValidator(_integer_only)] = Field(
        description="Version of this manifest format"
    )
    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=NAME_MAX_LENGTH,
        description="Environment name, unique in the repository",
    )
    version: int | None = Field(
        None,
        ge=1,
        le=MAX_VERSION,
        description="Explicit registry version (optional; by default the next free integer)",
    )
    description: str | None = Field(None, max_length=4000)
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, description="Free-form key/value labels"
    )
    extends: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        max_length=NAME_MAX_LENGTH,
        description="Name of a parent environment whose settings this one inherits and overrides",
    )
    python: PythonVersion | PythonSettings | None = Field(
        None, description='Python version ("3.12") or detailed Python settings'
    )
    channels: Annotated[list[Channel], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="Conda channels in priority order (default: conda-forge)",
        json_schema_extra={"uniqueItems": True},
    )
    conda: list[CondaSpec] = Field(
        default_factory=list, description='Conda MatchSpecs, e.g. "numpy >=1.26"'
    )
    pip: list[PipRequirement] = Field(
        default_factory=list,
        description="PEP 508 requirements, installed with pip after the conda packages",
    )
    pip_indexes: Annotated[list[IndexUrl], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="More pip indexes, searched in this order before envc.yaml's index "
        "(default PyPI); a package comes only from the first that has it "
        "(e.g. https://download.pytorch.org/whl/cu121 for CUDA builds of torch)",
        json_schema_extra={"uniqueItems": True},
    )
    conda_file: RelativePath | None = Field(
        None,
        description="A conda environment.yml beside the manifest, merged with the inline lists",
    )
    requirements_file: RelativePath | None = Field(
        None,
        description="A pip requirements.txt beside the manifest, merged with `pip`",
    )
    platforms: Annotated[list[Platform], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(DEFAULT_PLATFORMS),
        min_length=1,
        description="Platforms to lock for",
        json_schema_extra={"uniqueItems": True},
    )
    docker: DockerSettings = Field(default_factory=DockerSettings)
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        description="Environment variables; secrets only as `${VAR}` placeholders",
    )
    variants: Variants | None = Field(
        None,
        description="CPU/GPU, CUDA and Python flavours of this environment, generated as "
        "sibling environments by `envc variants` (not inherited)",
    )

    @property
    def python_version(self) -> str | None:
        """The Python version, whichever way `python:` gives it."""
        python = self.python
        return python.version if isinstance(python, PythonSettings) else python

    @property
    def python_settings(self) -> PythonSettings | None:
        """`python:` as settings, None when it is a bare version or absent."""
        return self.python if isinstance(self.python, PythonSettings) else None

    @property
    def user_managed(self) -> bool:
        """The image or host already has every package: envc creates no environment."""
        settings = self.python_settings
        return bool(settings and settings.user_managed_dependencies)


class _ManifestSchema(GenerateJsonSchema):
    """Editor-friendly output: no generated titles, and optional fields are not nullable."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        # pydantic writes constrained keys as patternProperties, which lets other keys through;
        # propertyNames + additionalProperties says what the model enforces.
        result = super().dict_schema(schema)
        patterns = result.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            result["propertyNames"] = {"pattern": pattern}
            result["additionalProperties"] = values
        return result

    def generate(self, schema: core_schema.CoreSchema, mode: Any = "validation") -> JsonSchemaValue:
        result = super().generate(schema, mode)
        for definition in [result, *result.get("$defs", {}).values()]:
            definition.pop("title", None)
            for prop in definition.get("properties", {}).values():
                if prop.get("default", "") is None:
                    del prop["default"]
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
            "$comment": "Generated from compiler/model.py by `envc schema`; do not edit.",
            "title": "envc environment manifest",
            **result,
        }


def manifest_json_schema() -> dict[str, Any]:
    return Manifest.model_json_schema(schema_generator=_ManifestSchema)


def resolve(name: str, manifests: ValidManifests) -> Manifest:
    """The environment `name` with its parents merged in.

    `manifests` maps each name to (validated data, folder relative to the repository root);
    file references in the result are relative to the repository root."""
    chain: list[tuple[Mapping[str, Any], str]] = []
    current: str | None = name
    while current is not None:
        if current not in manifests or any(data.get("name") == current for data, _ in chain):
            raise EnvcError(
                f"environment {name!r}: cannot resolve parent {current!r}; run envc validate"
            )
        data, folder = manifests[current]
        chain.append((data, folder))
        current = data.get("extends")
    return Manifest.model_validate(merge_chain(chain[::-1]))
