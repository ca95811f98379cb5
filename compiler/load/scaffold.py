"""A new environments repository: the layout every other stage reads (`environments/`,
`envc.yaml`), what git should not track (build contexts, envc's caches and logs), and a
pre-commit configuration that runs envc's hooks. Nothing that exists is overwritten."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from compiler._util.files import read_text, write_atomically
from compiler._util.resources import CONFIG_FILE
from compiler.load.discover import ENVIRONMENTS_DIR

CONFIG = """\
# envc's settings for this repository (docs/lock.md, docs/registry.md); all optional.
config_version: 1
# channels: [conda-forge]          # for environments that name none
# mirrors:                         # solve a channel from here; locks record the channel
#   conda-forge: file:///srv/mirrors/conda-forge
# pip:
#   index_url: https://${PIP_USER}:${PIP_PASSWORD}@pypi.example.com/simple
#     (filled only for hosts the environment lists: ENVC_CREDENTIAL_HOSTS=pypi.example.com)
# registry: oci://registry.example.com/envc   # default: sqlite:.envc/registry.db
# image_prefix: registry.example.com/envs/    # default: envc/
"""
IGNORED = ("/build/", ".envc/cache/", ".envc/logs/")
PRE_COMMIT = """\
# pre-commit (https://pre-commit.com) runs envc on every commit: pre-commit install
repos:
  - repo: local
    hooks:
      - id: envc-validate
        name: envc validate
        entry: envc validate
        language: system
        files: ^(environments/|envc\\.yaml$)
        pass_filenames: false
      - id: envc-lock-check
        name: envc lock --check
        entry: envc lock --check
        language: system
        files: ^(environments/|envc\\.yaml$)
        pass_filenames: false
"""


@dataclass
class Scaffold:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already there, left as they were


def initialize(root: Path, git: bool = True) -> Scaffold:
    """Lay out a repository at `root` (created if missing); with `git`, `git init` it when it
    is in no git work tree."""
    done = Scaffold()
    root.mkdir(parents=True, exist_ok=True)
    environments = root / ENVIRONMENTS_DIR
    if environments.is_dir():
        done.kept.append(f"{ENVIRONMENTS_DIR}/")
    else:
        environments.mkdir()
        write_atomically(environments / ".gitkeep", "")
        done.created.append(f"{ENVIRONMENTS_DIR}/")
    for name, content in ((CONFIG_FILE, CONFIG), (".pre-commit-config.yaml", PRE_COMMIT)):
        if (root / name).exists():
            done.kept.append(name)
        else:
            write_atomically(root / name, content)
            done.created.append(name)
    ignore = root / ".gitignore"
    existing = read_text(ignore) if ignore.is_file() else ""
    missing = [entry for entry in IGNORED if entry not in existing.splitlines()]
    if missing:
        separator = "" if not existing or existing.endswith("\n") else "\n"
        write_atomically(ignore, existing + separator + "".join(f"{e}\n" for e in missing))
        done.created.append(f".gitignore ({', '.join(missing)})")
    if git and shutil.which("git") and not _in_work_tree(root):
        subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
        done.created.append("a git repository")
    return done


def _in_work_tree(root: Path) -> bool:
    found = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True
    )
    return found.returncode == 0 and found.stdout.strip() == "true"
