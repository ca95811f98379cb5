"""envc.yaml: repository-wide channels, mirrors and pip indexes, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.errors import EnvcError
from compiler.validate.config import load_config
from tests.conftest import RepoFactory
from tests.test_lock import CHANNELS


def envc_lock(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVC_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "envc"), "lock", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert (config.channels, config.mirrors, config.pip.index_url) == (("conda-forge",), {}, None)


def test_config_channels_and_mirrors_drive_the_lock(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "envc.yaml": "config_version: 1\nchannels: [conda-forge]\nmirrors:\n"
            f"  conda-forge: {(CHANNELS / 'conda-forge').as_uri()}\n",
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\nconda: [python 3.12.*]\n",
        }
    )
    result = envc_lock(root)
    assert result.returncode == 0, result.stdout + result.stderr
    explicit = (root / "environments/ml/conda-linux-64.lock").read_text()
    assert "https://conda.anaconda.org/conda-forge/linux-64/python-3.12" in explicit


def test_config_pip_find_links_are_relative_to_the_repository(make_repo: RepoFactory) -> None:
    from compiler.lock.pip import write_wheel

    root = make_repo(
        {
            "envc.yaml": "config_version: 1\npip:\n  find_links: [wheels]\n",
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\npython: '3.12'\n"
            "pip: [alpha]\n",
        }
    )
    (root / "wheels").mkdir()
    write_wheel(root / "wheels", "alpha", "3.0")
    result = envc_lock(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alpha==3.0" in (root / "environments/ml/requirements-linux-64.txt").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config_version: 2\n", "envc.yaml:1:17: error: config_version"),
        ("channels: []\n", "envc.yaml:1:11: error: channels"),
        ("mirrors:\n  conda-forge: 3\n", "envc.yaml:2:16: error: mirrors.conda-forge"),
        (
            "chanels: [x]\n",
            'envc.yaml:1:1: error: unknown key "chanels" (did you mean "channels"?)',
        ),
        ("a: [1\n", "envc.yaml:2:1: error: invalid YAML"),
    ],
)
def test_config_errors_point_at_the_value(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "envc.yaml").write_text(text)
    with pytest.raises(EnvcError) as raised:
        load_config(tmp_path)
    assert str(raised.value).startswith(message)
