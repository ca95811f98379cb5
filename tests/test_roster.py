"""The roster: `envc validate FILE` knows the other manifests by a line scan of their names, and
reports exactly what a whole-repository run reports on that file."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler._util.git import blob_id, staged_files
from compiler.load.discover import discover
from compiler.load.yamlio import read_yaml
from compiler.validate.repository import validate
from compiler.validate.roster import UNSURE, scan_name
from tests.conftest import RepoFactory, run_envc

PROJECT = Path(__file__).resolve().parent.parent
OK = "schema_version: 1\nname: {name}\n"

# Texts a scan could misread: the name hidden, doubled, spelled differently or spread out.
TRICKY = [
    "name: a\n",
    "name: a # the name\n  # more\nconda: [x]\n",
    "name: a\n  b\n",
    "name: a\n\n  b\n",
    "name: a\n  # note\n  b\n",
    '"name": a\n',
    "'name': a\n",
    "name : a\n",
    "? name\n: a\n",
    "  name: a\n  conda: [x]\n",
    "# c\n  name: a\n",
    "---\nname: a\n",
    "--- \nname: a\n...\n",
    "%YAML 1.2\n---\nname: a\n",
    "{name: a}\n",
    "{\nname: a}\n",
    "name: a\nname: b\n",
    "name: 'a'\n",
    'name: "a"\n',
    "name: true\n",
    "name: 1.0\n",
    "name: 12\n",
    "name: null\n",
    "name: ~\n",
    "name: no\n",
    "name: a#b\n",
    "name: a b\n",
    "name: &x a\n",
    "name: !!str a\n",
    "name: |\n  a\n",
    "name: >-\n  a\n",
    "name:\n  a\n",
    "name:\n",
    'description: "multi\nname: b"\n',
    "description: 'multi\nname: b'\n",
    'description: "multi\nname: b"\nname: a\n',
    'description: "multi\nname: b\nx: y"\nname: a\n',
    "description: [x,\nname: b]\n",
    "description: |\n  name: b\nname: a\n",
    "tags:\n  name: b\n",
    "name: a\r\nconda: [x]\r\n",
    "name: a\rconda: [x]\n",
    "\ufeffname: a\n",
    "name: a\u2028conda: [x]\n",
    "name:\ta\n",
    "\tname: a\n",
    "<<: {name: b}\nname: a\n",
    "<<: {name: b}\n",
    "- name: a\n",
    "name: a\n- b\n",
    "# only a comment\n",
    "",
    "name: é\n",
    "name: a\x85conda: [x]\n",
    "description: x\nname: a\nconda:\n- numpy\n",
]


def _loaded_name(tmp_path: Path, text: str | bytes) -> tuple[bool, object]:
    file = tmp_path / "env.yaml"
    file.write_bytes(text.encode() if isinstance(text, str) else text)
    doc = read_yaml(file, "env.yaml")
    name = doc.data.get("name") if isinstance(doc.data, dict) else None
    return doc.ok, name if isinstance(name, str) else None


def _agrees(tmp_path: Path, text: str | bytes) -> None:
    raw = text.encode() if isinstance(text, str) else text
    claim = scan_name(raw)
    loads, name = _loaded_name(tmp_path, raw)
    if claim is not UNSURE and loads:
        assert claim == name, text


@pytest.mark.parametrize("text", TRICKY)
def test_a_name_the_scan_reads_is_the_one_a_full_parse_reads(tmp_path: Path, text: str) -> None:
    _agrees(tmp_path, text)


def test_the_scan_reads_the_real_manifests_without_parsing(tmp_path: Path) -> None:
    found = [*discover(PROJECT / "environments"), *discover(PROJECT / "tests" / "cases")]
    files = [file for file in found if file.is_file() and not file.is_symlink()]
    sure = 0
    for file in files:
        raw = file.read_bytes()
        _agrees(tmp_path, raw)
        sure += scan_name(raw) is not UNSURE
    assert sure >= len(files) * 0.8  # the plain form is the usual one


def test_the_scan_agrees_with_a_full_parse_on_spliced_manifests(tmp_path: Path) -> None:
    """Lines of real manifests and tricky texts spliced and re-indented at random."""
    sources = [f.read_text() for f in discover(PROJECT / "environments")] + TRICKY
    lines = [line for text in sources for line in text.splitlines()]
    rng = random.Random(19)
    for _ in range(1500):
        picked = rng.sample(lines, rng.randint(1, 8))
        if rng.random() < 0.5:
            picked.insert(rng.randint(0, len(picked)), f"name: {rng.choice(['a', 'b', 'x1'])}")
        shifted = [(" " * rng.choice([0, 0, 0, 2])) + line for line in picked]
        _agrees(tmp_path, "\n".join(shifted) + rng.choice(["\n", "", "\r\n"]))


def _named_equals_whole(root: Path) -> None:
    """What `envc validate FILE` reports for each file, with and without the cache, is what a
    whole-repository run reports at that file; and so is what `envc validate --staged FILE`
    reports with every file staged (the others read from git's blobs, names remembered per
    blob after the first run)."""
    for arguments in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *arguments], cwd=root, check=True, capture_output=True)
    whole = validate(root=root, cwd=root)
    for target in whole.checked:
        expected = [d for d in whole.diagnostics if d.path == target]
        for cache, staged in ((False, False), (True, False), (True, False), (True, True)) * 2:
            report = validate([Path(target)], root=root, cwd=root, cache=cache, staged=staged)
            assert list(report.diagnostics) == expected, (target, cache, staged)


def test_a_broken_manifest_claiming_a_name_is_no_namesake(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            # loads as nothing (a tab in the indentation), but its line says "name: app"
            "environments/copy/env.yaml": OK.format(name="app") + "conda:\n\t- x\n",
            # a multi-line string whose second line looks like a name
            "environments/text/env.yaml": 'schema_version: 1\ndescription: "two\nname: app"\n',
            "environments/base/env.yaml": OK.format(name="base"),
            "environments/real-twin/env.yaml": OK.format(name="base"),
        }
    )
    _named_equals_whole(root)
    report = validate([Path("environments/app/env.yaml")], root=root, cwd=root)
    assert [d.rule for d in report.diagnostics] == []


def test_unknown_parents_and_suggestions_match_a_full_parse(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            # the suggestion skips a name whose manifest does not load
            "environments/a/env.yaml": OK.format(name="a") + "extends: base-pyhton\n",
            "environments/broken/env.yaml": OK.format(name="base-pythn") + "conda: [\n",
            "environments/fine/env.yaml": OK.format(name="base-python-x"),
            # a parent whose manifest is broken answers to its folder's name: no "unknown parent"
            "environments/b/env.yaml": OK.format(name="b") + "extends: gone\n",
            "environments/gone/env.yaml": OK.format(name="other") + "conda: [\n",
            "environments/c/env.yaml": OK.format(name="c") + "extends: c2\n",
            "environments/c2/env.yaml": OK.format(name="c"),
        }
    )
    _named_equals_whole(root)
    report = validate([Path("environments/a/env.yaml")], root=root, cwd=root)
    [unknown] = report.diagnostics
    assert "did you mean 'base-python-x'" in unknown.message


def test_parents_variants_and_conflicts_across_files_match_a_full_parse(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {
            "environments/base/env.yaml": OK.format(name="base") + "docker:\n  enabled: false\n",
            "environments/child/env.yaml": OK.format(name="child")
            + "extends: base\ndocker:\n  base_image: example.com/x:1\n",
            "environments/loop-a/env.yaml": OK.format(name="loop-a") + "extends: loop-b\n",
            "environments/loop-b/env.yaml": OK.format(name="loop-b") + "extends: loop-a\n",
            "environments/gpu/env.yaml": OK.format(name="gpu")
            + "python: '3.12'\nconda: [numpy]\nvariants:\n  python: ['3.11', '3.12']\n",
        }
    )
    _named_equals_whole(root)


def test_many_random_repositories_report_the_same_per_file(make_repo: RepoFactory) -> None:
    rng = random.Random(7)
    names = ["a", "b", "c", "d"]
    texts = [
        OK.format(name="{n}"),
        OK.format(name="{n}") + "extends: {p}\n",
        OK.format(name="{n}") + "conda: [\n",
        'schema_version: 1\ndescription: "x\nname: {n}"\n',
        "schema_version: 1\n",
    ]
    for trial in range(6):
        files = {}
        for index, (template, name, parent) in enumerate(
            itertools.islice(
                ((rng.choice(texts), rng.choice(names), rng.choice(names)) for _ in range(9)), 9
            )
        ):
            files[f"environments/{trial}-{index}/env.yaml"] = template.format(n=name, p=parent)
        _named_equals_whole(make_repo(files))


def staged_repository(
    make_repo: RepoFactory, git: Callable[..., str], files: dict[str, str | bytes], *init: str
) -> Path:
    """A repository of `files`, every one staged and none committed (as at a first commit's
    pre-commit hook); `init`: options of `git init`."""
    root = make_repo(files)
    git(root, "init", "-q", *init)
    git(root, "add", "-A")
    return root


def test_staged_runs_see_the_commit_not_the_working_tree(
    make_repo: RepoFactory, git: Callable[..., str]
) -> None:
    """`envc validate --staged FILE` (the pre-commit hook) judges FILE against the other
    manifests as git's index holds them: an untracked namesake is not in the commit, an unstaged
    edit neither, and a parent deleted but still staged is still there."""
    root = staged_repository(
        make_repo,
        git,
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            "environments/base/env.yaml": OK.format(name="base"),
            "environments/other/env.yaml": OK.format(name="other"),
        },
    )
    (root / "environments/copy").mkdir()
    (root / "environments/copy/env.yaml").write_text(OK.format(name="app"))  # untracked
    (root / "environments/other/env.yaml").write_text(OK.format(name="app"))  # not staged
    (root / "environments/base/env.yaml").unlink()  # deleted, not staged

    def rules(*options: str) -> tuple[int, list[str]]:
        done = run_envc(root, "validate", *options, "environments/app/env.yaml")
        return done.returncode, sorted(set(re.findall(r"\((\S+)\)$", done.stdout, re.M)))

    assert rules() == (1, ["duplicate-name", "unknown-parent"])
    assert rules("--staged") == (0, [])
    git(root, "add", "environments/other")
    assert rules("--staged") == (1, ["duplicate-name"])
    assert run_envc(root, "validate", "--staged").returncode == 2  # names the files it checks
    shutil.rmtree(root / ".git")
    done = run_envc(root, "validate", "--staged", "environments/app/env.yaml")
    assert done.returncode == 2 and "not in a git repository" in done.stderr


@pytest.mark.parametrize("replacement", ["fifo", "link", "folder", "huge"])
def test_a_staged_parent_whose_working_copy_is_not_a_file_is_read_from_git(
    make_repo: RepoFactory, git: Callable[..., str], replacement: str
) -> None:
    """Where the staged parent's working-tree path holds a FIFO (a read would wait for a writer
    for ever), a link to the same bytes, a folder or a file over the cap, the blob comes from
    git: the same findings, no hang."""
    root = staged_repository(
        make_repo,
        git,
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            "environments/base/env.yaml": OK.format(name="base") + "extends: app\n",
        },
    )
    parent = root / "environments/base/env.yaml"
    staged_text = parent.read_text()
    parent.unlink()
    if replacement == "fifo":
        os.mkfifo(parent)
    elif replacement == "link":
        (root / "copy.yaml").write_text(staged_text)
        parent.symlink_to(root / "copy.yaml")
    elif replacement == "folder":
        parent.mkdir()
    else:
        parent.write_text(staged_text + "#" * (2 * 1024 * 1024))
    report = validate([Path("environments/app/env.yaml")], root=root, cwd=root, staged=True)
    assert [d.rule for d in report.diagnostics] == ["extends-cycle"]


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_staged_parents_are_the_index_blobs_whatever_the_working_tree_holds(
    make_repo: RepoFactory, git: Callable[..., str], object_format: str
) -> None:
    """A parent the rules read in full is the staged blob: its working-tree copy stands for it
    only when it holds the same bytes (git's blob id says so), in either object format; an
    unstaged edit (one that makes a cycle, then one of the same size that undoes it) is not
    seen."""
    root = staged_repository(
        make_repo,
        git,
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            "environments/base/env.yaml": OK.format(name="base") + "extends: root\n",
            "environments/root/env.yaml": OK.format(name="root"),
        },
        f"--object-format={object_format}",
    )

    def findings() -> list[str]:
        report = validate([Path("environments/app/env.yaml")], root=root, cwd=root, staged=True)
        return [d.rule for d in report.diagnostics]

    assert findings() == []
    parent = root / "environments/base/env.yaml"
    staged_id = git(root, "rev-parse", ":environments/base/env.yaml")
    assert blob_id(parent.read_bytes(), like=staged_id) == staged_id  # as git names it
    parent.write_text(OK.format(name="base") + "extends: app\n")  # a cycle, not staged
    assert findings() == []
    git(root, "add", "-A")
    assert findings() == ["extends-cycle"]
    parent.write_text(OK.format(name="base") + "extends: rot\n")  # the staged size, no cycle
    assert findings() == ["extends-cycle"]


def test_staged_runs_without_the_cache_write_none_and_a_damaged_one_is_read_again(
    make_repo: RepoFactory, git: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--no-cache` reads and writes no cache, the names remembered per blob included (a run
    with the cache writes them: the test can tell); a damaged memory of names is not believed:
    the blobs are read again and the findings stay."""
    root = staged_repository(
        make_repo,
        git,
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            "environments/base/env.yaml": OK.format(name="base"),
            "environments/copy/env.yaml": OK.format(name="app"),
        },
    )
    cache = root.parent / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))

    def rules(use_cache: bool) -> list[str]:
        target = [Path("environments/app/env.yaml")]
        report = validate(target, root=root, cwd=root, staged=True, cache=use_cache)
        return [d.rule for d in report.diagnostics]

    assert rules(use_cache=False) == ["duplicate-name"]
    assert not cache.exists() and not (root / ".envc").exists()
    assert rules(use_cache=True) == ["duplicate-name"]
    (memory,) = cache.rglob("staged-names.json")
    stored = json.loads(memory.read_text())
    assert stored["scanned"] or stored["parsed"]
    blobs = [*stored["scanned"], *stored["parsed"]]
    for damaged in (
        {**stored, "scanned": dict.fromkeys(blobs, 5), "parsed": {}},
        {**stored, "scanned": {}, "parsed": {blob: ["app"] for blob in blobs}},
        {**stored, "parsed": [1]},
        ["not", "a", "memory"],
    ):
        memory.write_text(json.dumps(damaged))
        assert rules(use_cache=True) == ["duplicate-name"], damaged
    memory.write_text("{not json")
    assert rules(use_cache=True) == ["duplicate-name"]


def test_the_staged_listing_reads_any_path_and_leaves_out_conflicts(
    tmp_path: Path, git: Callable[..., str]
) -> None:
    """git's index as `--staged` lists it: manifests at any depth whatever their folders are
    called (spaces, tabs, newlines), not other files; a path in a merge conflict (stages 1-3)
    is left out, even one spelled like further entries of the listing."""
    odd = ["a b", "tab\there", "new\nline", "deep/er", ""]
    for folder in odd:
        (tmp_path / "environments" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "environments" / folder / "env.yaml").write_text(OK.format(name="x"))
    (tmp_path / "environments/a b/other.yaml").write_text(OK.format(name="y"))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    blob = git(tmp_path, "rev-parse", ":environments/a b/env.yaml")
    forged = f"environments/z 100644 {blob} 0\tenvironments/forged/env.yaml"
    conflict = "".join(f"100644 {blob} {stage}\t{forged}\0" for stage in (1, 2, 3))
    subprocess.run(
        ["git", "update-index", "-z", "--index-info"],
        cwd=tmp_path,
        input=conflict.encode(),
        check=True,
    )
    assert f" 3\t{forged}\0" in git(tmp_path, "ls-files", "--stage", "-z")
    listed = staged_files(tmp_path, "environments/**/env.yaml")
    expected = {f"environments/{folder}/env.yaml".replace("//", "/") for folder in odd}
    assert set(listed) == expected
    assert {ref.oid for ref in listed.values()} == {blob}


def test_staged_links_huge_files_and_hidden_folders_read_as_the_working_tree_reads_them(
    make_repo: RepoFactory,
) -> None:
    """A staged manifest that is a symbolic link, one larger than validation reads (never read
    from git: its size says so), and one in a hidden folder (not discovered) claim what they
    claim in a working-tree run: the findings of a staged run are the same."""
    root = make_repo(
        {
            "environments/app/env.yaml": OK.format(name="app") + "extends: base\n",
            "environments/base/env.yaml": OK.format(name="base"),
            "environments/.hidden/env.yaml": OK.format(name="app"),
            "environments/team/deeper/env.yaml": OK.format(name="base"),
            "environments/huge/env.yaml": OK.format(name="app") + "#" * (2 * 1024 * 1024),
        }
    )
    (root / "environments/linked").mkdir()
    (root / "environments/linked/env.yaml").symlink_to("../base/env.yaml")
    _named_equals_whole(root)
    report = validate([Path("environments/app/env.yaml")], root=root, cwd=root, staged=True)
    assert list(report.diagnostics) == []
