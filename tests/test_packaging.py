"""The wheel carries schemas/ and templates/, and the installed package finds them there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import PROJECT


def test_wheel_ships_schema_and_templates(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(PROJECT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("envc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "compiler/_data/schemas/manifest.schema.json" in names
    assert "compiler/_data/templates/README.md" in names
    assert "compiler/cli.py" in names
    # an installed wheel resolves its data inside the package, not in a checkout
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from compiler._util.resources import manifest_schema_path as p; print(p())",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(unpacked / "compiler/_data/schemas/manifest.schema.json")
