"""SDK v1's `Workspace`, as envc has it: an environments repository (git, `envc.yaml`) and the
registry its `envc.yaml` names (the embedded SQLite one by default, an OCI registry when
configured).

Every change is all or nothing: `save` and `register` write the environment's folder,
validate it, lock it and register it, and put the folder back as it was when any step fails.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.errors import EnvcError, UsageError
from compiler.interop.common import Imported, write_imported

if TYPE_CHECKING:
    from compiler.azureml.environment import Environment
    from compiler.manifest.sources import ValidManifests
    from compiler.registry.base import EnvironmentRecord, Registry

FORCE_HINT = "pass force=True"
MAX_WHEEL_BYTES = 100 * 1024 * 1024  # a private wheel committed to git: GitHub's file limit


class DraftWarning(UserWarning):
    """A version registered from files no commit holds."""


class NotCarriedWarning(UserWarning):
    """Something the script set that a manifest cannot say (a run option, a Spark package):
    written nowhere, so said once when the environment is saved or registered."""


class Workspace:
    """`Workspace.from_config()` inside a repository, or `Workspace(repository=PATH)`."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        auth: Any = None,
        *,
        repository: str | os.PathLike[str] | None = None,
        registry: str | None = None,
        plain_http: bool = False,
        **_ignored: Any,
    ) -> None:
        if repository is None:
            raise UsageError(
                "an envc workspace is an environments repository, not an Azure subscription: "
                "use Workspace.from_config() inside it, or Workspace(repository=PATH)"
            )
        self.root = Path(repository).resolve()
        self.name = self.root.name
        self.registry_url = registry
        self.plain_http = plain_http

    @staticmethod
    def from_config(
        path: str | os.PathLike[str] | None = None, auth: Any = None, **_ignored: Any
    ) -> Workspace:
        """The repository at or above `path` (default: the working directory): the nearest
        folder with an `environments/` folder or an `envc.yaml`."""
        from compiler._util.resources import CONFIG_FILE
        from compiler.load.discover import ENVIRONMENTS_DIR

        start = Path(path or Path.cwd()).resolve()
        start = start if start.is_dir() else start.parent  # SDK v1 also takes a config file
        for folder in (start, *start.parents):
            if (folder / ENVIRONMENTS_DIR).is_dir() or (folder / CONFIG_FILE).is_file():
                return Workspace(repository=folder)
        raise UsageError(
            f"no environments repository at or above {start} (a folder with environments/ "
            "or envc.yaml); create one, or pass path="
        )

    def __repr__(self) -> str:
        return f"Workspace(repository={str(self.root)!r})"

    def add_wheel(self, file_path: str | os.PathLike[str], exist_ok: bool = False) -> str:
        """A private wheel kept where locks find it: in the repository's wheel folder (the
        first folder of envc.yaml's `pip.find_links`), committed with the environments; the
        requirement that pins it (`name==version`). SDK v1 uploaded it to the workspace's
        storage and gave back a URL; this gives back what a manifest's `pip:` holds."""
        from packaging.utils import InvalidWheelFilename, parse_wheel_filename

        from compiler._util.files import UnreadableFile, read_bounded, write_atomically
        from compiler.validate.config import load_config

        source = Path(file_path)
        try:
            name, version, _, _ = parse_wheel_filename(source.name)
            data = read_bounded(source, MAX_WHEEL_BYTES)
        except InvalidWheelFilename as exc:
            raise EnvcError(f"{source}: not a wheel file name ({exc})") from None
        except UnreadableFile as exc:
            raise EnvcError(f"{source}: {exc}") from None
        folders = [link for link in load_config(self.root).pip.find_links if "://" not in link]
        if not folders:
            raise EnvcError(
                f"{source.name}: envc.yaml names no wheel folder for locks to read; add "
                "`pip: {find_links: [wheels]}` to it, then add the wheel again"
            )
        target = self.root / folders[0] / source.name
        if target.exists() and not exist_ok:
            raise EnvcError(f"{target} exists (exist_ok=True replaces it)")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
        return f"{name}=={version}"

    @property
    def environments(self) -> dict[str, Environment]:
        """The latest version of every registered environment, by name."""
        from compiler.registry.base import RegistryError

        found = {}
        with self._registry() as registry:
            for name in sorted({record.name for record in registry.versions()}):
                try:
                    found[name] = self._environment(registry.get(name))
                except RegistryError:  # every version archived
                    continue
        return found

    def environment(
        self, name: str, version: str | int | None = None, label: str | None = None
    ) -> Environment:
        """The registered version of `name` (as a script spells it) a version or label names."""
        from compiler.interop.common import manifest_name
        from compiler.registry.base import RegistryError

        try:
            with self._registry() as registry:
                record = registry.get(manifest_name(name), _version(version), label)
        except RegistryError as exc:
            if not name.lower().startswith("azureml-"):
                raise
            raise RegistryError(
                f"{exc}: {name} is one of Azure ML's curated environments, of which envc has "
                "no copy; import its definition from the azureml-assets repository (envc import "
                "assets/…/environments/<its folder>) and register it, or name its image with "
                "Environment.from_docker_image"
            ) from None
        return self._environment(record)

    def record(self, name: str, version: str | int) -> EnvironmentRecord:
        """The registered version `version` of `name` (as a script spells it)."""
        from compiler.interop.common import manifest_name

        with self._registry() as registry:
            return registry.get(manifest_name(name), _version(version))

    def _environment(self, record: EnvironmentRecord) -> Environment:
        from compiler.azureml.environment import Environment

        # The registry keeps the resolved manifest, whose file references are relative to
        # the repository root.
        environment = Environment.from_manifest(record.manifest or {}, folder=self.root)
        environment.version, environment._record = str(record.version), record
        return environment

    @contextmanager
    def _registry(self) -> Iterator[Registry]:
        from compiler.registry.base import configured_registry

        registry = configured_registry(self.root, self.registry_url, self.plain_http)
        try:
            yield registry
        finally:
            registry.close()

    # Changes to the repository.

    def save(self, imported: Imported, force: bool = False) -> Path:
        """Write and validate the environment's manifest; its path."""
        _warn_not_carried(imported)
        with self._change(imported.name):
            target, _ = self._write(imported, force)
        return target

    def register(self, imported: Imported, commit: bool = False) -> EnvironmentRecord:
        """Write, validate and lock the environment, then register it (see
        Environment.register for what `commit` does)."""
        _warn_not_carried(imported)
        with self._change(imported.name):  # the commit, when asked for, is the last step
            _, manifests = self._write(imported, force=True)
            self._lock(imported.name, manifests)
            draft = self._commit(imported.name, manifests, commit)
        record = self._register(imported.name, manifests, draft)
        if record.commit is None:
            warnings.warn(
                f"{record.name}@{record.version} is registered from files no commit holds, "
                "so it records no commit: commit them (register(workspace, commit=True) does) "
                "for a version anyone can rebuild",
                DraftWarning,
                stacklevel=3,
            )
        return record

    @contextmanager
    def _change(self, name: str) -> Iterator[None]:
        """Put the environment's folder back as it was when the change fails."""
        from compiler._util.files import FolderSnapshot
        from compiler.load.discover import ENVIRONMENTS_DIR

        snapshot = FolderSnapshot(self.root / ENVIRONMENTS_DIR / name)
        try:
            yield
        except BaseException:
            snapshot.restore()
            raise

    def _write(self, imported: Imported, force: bool) -> tuple[Path, ValidManifests]:
        from compiler.load.discover import ENVIRONMENTS_DIR

        [target] = write_imported(imported, self.root / ENVIRONMENTS_DIR, force, FORCE_HINT)
        return target, _validated(self.root, [target])

    def _lock(self, name: str, manifests: ValidManifests) -> None:
        from compiler.lock.repository import configured_sources, lock_repository
        from compiler.validate.config import load_config

        config = load_config(self.root)
        mirrors, index = configured_sources(self.root, config)
        [outcome] = lock_repository(
            self.root,
            [name],
            mirrors=mirrors,
            pip_index=index,
            default_channels=config.channels,
            manifests=manifests,
            policy=config.policy,
        )
        if outcome.status == "failed":
            raise EnvcError(f"{name}: cannot lock: {'; '.join(outcome.reasons)}")

    def _commit(self, name: str, manifests: ValidManifests, commit: bool) -> bool:
        """Commit the environment's files when asked; whether what is registered is a draft
        that no commit holds."""
        from compiler._util.git import Git
        from compiler.registry.register import uncommitted_paths

        try:
            git = Git(self.root)
        except EnvcError:
            if commit:
                raise UsageError(
                    f"{self.root} is not a git repository: nothing to commit to"
                ) from None
            return True
        changed = uncommitted_paths(git, manifests, [name])
        if not changed:
            return git.head() is None
        if commit:
            git.commit_paths(changed, f"envc: register environment {name}")
        return not commit

    def _register(self, name: str, manifests: ValidManifests, draft: bool) -> EnvironmentRecord:
        from compiler.registry.register import register_repository
        from compiler.validate.config import load_config

        with self._registry() as registry:
            [outcome] = register_repository(
                self.root,
                manifests,
                registry,
                [name],
                image_prefix=load_config(self.root).images(None),
                allow_dirty=draft,
            )
        return outcome.registration.record


def export_v1(imported: Imported, target: Path, overwrite: bool) -> None:
    """Write SDK v1's saved form of a definition into `target`: validated in a scratch
    repository, then exported as `envc export --format azureml-v1` does."""
    from compiler._util.files import write_atomically
    from compiler.interop.export import export_environment
    from compiler.manifest.model import resolve

    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise UsageError(f"{target} exists; pass overwrite=True to replace it")
    with tempfile.TemporaryDirectory(prefix="envc-save-") as scratch:
        root = Path(scratch)
        [manifest_file] = write_imported(imported, root / "environments")
        manifest = resolve(imported.name, _validated(root, [manifest_file]))
        exported = export_environment(manifest, root, manifest_file.parent, "azureml-v1")
    target.mkdir(parents=True, exist_ok=True)
    for relative, content in exported.files.items():
        write_atomically(target / relative, content)


def _validated(root: Path, files: list[Path]) -> ValidManifests:
    """The repository's valid manifests, once `files` validate; else every finding raised."""
    from compiler.azureml.environment import InvalidEnvironment
    from compiler.validate.repository import validate

    report = validate(files, root=root, cwd=root)
    if not report.ok:
        raise InvalidEnvironment(
            [f"{d.path}:{d.line}:{d.col}: error: {d.message}" for d in report.diagnostics]
        )
    return report.manifests


def _version(version: str | int | None) -> int | None:
    if version is None:
        return None
    if not str(version).isdigit():
        raise UsageError(f"version {version!r}: expected a number (a label goes in label=)")
    return int(version)


def _warn_not_carried(imported: Imported) -> None:
    """One NotCarriedWarning per note, at the script's save or register call."""
    for note in imported.notes:
        warnings.warn(f"{imported.name}: {note}", NotCarriedWarning, stacklevel=4)


def image_details(record: EnvironmentRecord) -> dict[str, Any]:
    """SDK v1's get_image_details of a registered version: its image repository:version, digest
    (once built and registered with it), content address and commit."""
    image = record.image
    return {
        "name": record.name,
        "version": str(record.version),
        "contentAddress": record.content_address,
        "commit": record.commit,
        "dockerImage": {
            "name": image,
            "digest": record.image_digest,
            "registry": {"address": image.split("/", 1)[0] if image and "/" in image else None},
        },
        "imageExistsInRegistry": record.image_digest is not None,
    }
