"""The repository's own settings: `envc.yaml` beside `environments/` (optional).

```yaml
config_version: 1
channels: [conda-forge]            # for environments that name no channels
mirrors:                           # solve a channel from here, record the channel
  conda-forge: file:///srv/mirrors/conda-forge
pip:
  index_url: https://pypi.example.com/simple    # ${VAR} credentials: see ENVC_CREDENTIAL_HOSTS
  find_links: [wheels]             # relative to the repository, or URLs
registry: sqlite:.envc/registry.db # where envc register records versions
image_prefix: contoso.azurecr.io/environments/   # images are <prefix><name>:<version>
policy:                            # rules for every environment (docs/policy.md)
  channels: [conda-forge]
  floors: [{package: idna, minimum: "3.7", reason: GHSA-jjg7-2v4v-x38h}]
```

Checked against schemas/config.schema.json (errors at `envc.yaml:line:col`, as for manifests),
then held in named tuples: every command reads this file (the pre-commit hook too: a named tuple is
quicker to define than a dataclass), and the registry's bookkeeping commands must start without
pydantic. Command-line options win over the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from compiler._util.resources import CONFIG_FILE
from compiler.errors import ConfigError, Diagnostic
from compiler.load.yamlio import Document, read_yaml

DEFAULT_CHANNELS = ("conda-forge",)
DEFAULT_IMAGE_PREFIX = "envc/"


class PipSettings(NamedTuple):
    index_url: str | None = None
    find_links: tuple[str, ...] = ()


class PackageRule(NamedTuple):
    """A banned package (`versions`: a PEP 440 specifier, "" for all) or a floor (`minimum`)."""

    package: str
    reason: str
    versions: str = ""
    minimum: str = ""


class PolicyException(NamedTuple):
    environment: str
    rule: str  # a package of a banned/floor rule, "channels", "indexes", "mirrors",
    # "base_images" or "licenses"
    reason: str
    expires: str  # YYYY-MM-DD


class LicenseRules(NamedTuple):
    allow: tuple[str, ...] = ()  # empty: any
    deny: tuple[str, ...] = ()
    reason: str = ""


class Policy(NamedTuple):
    channels: tuple[str, ...] = ()  # empty: any
    indexes: tuple[str, ...] = ()  # URL prefixes; empty: any
    mirrors: tuple[str, ...] = ()  # URL prefixes; empty: any
    banned: tuple[PackageRule, ...] = ()
    floors: tuple[PackageRule, ...] = ()
    base_images: str = "any"  # or "digest"
    licenses: LicenseRules = LicenseRules()
    exceptions: tuple[PolicyException, ...] = ()

    @property
    def empty(self) -> bool:
        return self == Policy()


class RepositoryConfig(NamedTuple):
    config_version: int = 1
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    mirrors: Mapping[str, str] = MappingProxyType({})  # (read-only: one can be shared)
    pip: PipSettings = PipSettings()
    registry: str | None = None  # a registry URL; default sqlite:.envc/registry.db
    image_prefix: str | None = None  # images are <prefix><name>:<version>
    policy: Policy = Policy()

    def images(self, option: str | None = None) -> str:
        """The image prefix: the command line's, else this file's, else envc's default."""
        if option is not None:
            return option
        return DEFAULT_IMAGE_PREFIX if self.image_prefix is None else self.image_prefix


def load_config(root: Path) -> RepositoryConfig:
    """`envc.yaml` of the repository at `root`, or the defaults when there is none."""
    file = root / CONFIG_FILE
    if not file.exists() and not file.is_symlink():
        return RepositoryConfig()
    from compiler.validate.schema import CONFIG, check_schema

    doc = read_yaml(file, CONFIG_FILE)
    problems = list(doc.diagnostics) if not doc.ok else check_schema(doc, CONFIG)
    if doc.ok and not isinstance(doc.data, (dict, type(None))):
        problems = [doc.diagnostic((), "expected a mapping of settings", "schema-type")]
    if not problems and isinstance(doc.data, dict):
        problems = _policy_versions(doc, doc.data.get("policy") or {})
    if problems:
        raise ConfigError(
            "\n".join(f"{d.path}:{d.line}:{d.col}: error: {_where(d)}{d.message}" for d in problems)
        )
    data = doc.data or {}
    pip = data.get("pip") or {}
    return RepositoryConfig(
        config_version=data.get("config_version", 1),
        channels=tuple(data.get("channels", DEFAULT_CHANNELS)),
        mirrors=MappingProxyType(dict(data.get("mirrors") or {})),
        pip=PipSettings(pip.get("index_url"), tuple(pip.get("find_links") or ())),
        registry=data.get("registry"),
        image_prefix=data.get("image_prefix"),
        policy=_policy(data.get("policy") or {}),
    )


def _policy_versions(doc: Document, policy: Mapping[str, Any]) -> list[Diagnostic]:
    """The versions in policy rules: PEP 440, or an error at the value."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    problems = []
    for key, field_name, parse, what in (
        ("banned", "versions", SpecifierSet, "specifier"),
        ("floors", "minimum", Version, "version"),
    ):
        for index, rule in enumerate(policy.get(key) or ()):
            value = rule.get(field_name)
            if value is None:
                continue
            try:
                parse(value)
            except (InvalidSpecifier, InvalidVersion):
                path = ("policy", key, index, field_name)
                problems.append(
                    doc.diagnostic(path, f"{value!r} is not a PEP 440 {what}", "policy")
                )
    return problems


def _policy(data: Mapping[str, Any]) -> Policy:
    """The schema has checked the shape; this only builds the values."""
    licenses = data.get("licenses") or {}
    return Policy(
        channels=tuple(data.get("channels") or ()),
        indexes=tuple(data.get("indexes") or ()),
        mirrors=tuple(data.get("mirrors") or ()),
        licenses=LicenseRules(
            tuple(licenses.get("allow") or ()),
            tuple(licenses.get("deny") or ()),
            licenses.get("reason", ""),
        ),
        banned=tuple(
            PackageRule(rule["package"], rule["reason"], versions=rule.get("versions", ""))
            for rule in data.get("banned") or ()
        ),
        floors=tuple(
            PackageRule(rule["package"], rule["reason"], minimum=rule["minimum"])
            for rule in data.get("floors") or ()
        ),
        base_images=data.get("base_images", "any"),
        exceptions=tuple(
            PolicyException(e["environment"], e["rule"], e["reason"], e["expires"])
            for e in data.get("exceptions") or ()
        ),
    )


def _where(problem: Diagnostic) -> str:
    """`$.mirrors.conda-forge` -> `mirrors.conda-forge: `; nothing for the whole file, or when
    the message names the key already."""
    dotted = problem.json_path.removeprefix("$").removeprefix(".")
    return f"{dotted}: " if dotted and problem.rule != "schema-unknown-key" else ""
