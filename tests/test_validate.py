"""validate(): file selection, cross-file rules in pre-commit mode, and references on disk."""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import UsageError
from compiler.load.discover import find_root
from compiler.load.yamlio import read_yaml
from compiler.validate.manifest_file import ValidByName
from compiler.validate.repository import validate
from tests.conftest import RepoFactory

OK = "schema_version: 1\nname: {name}\n"
PROJECT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def found(root: Path, *paths: str) -> list[tuple[str, int, int, str]]:
    report = validate([Path(p) for p in paths], root=root, cwd=root)
    return [(d.path, d.line, d.col, d.rule) for d in report.diagnostics]


def test_named_files_get_every_check_but_cross_file_rules_see_the_whole_tree(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {
            "environments/parent/env.yaml": OK.format(name="parent") + "conda: [bad spec ;]\n",
            "environments/child/env.yaml": OK.format(name="child") + "extends: parent\n",
            "environments/twin/env.yaml": OK.format(name="child"),
        }
    )
    # Only child is named: parent's own problem is not reported, but parent is known (no
    # "unknown parent") and the twin's duplicate name is.
    assert found(root, "environments/child/env.yaml") == [
        ("environments/child/env.yaml", 2, 7, "duplicate-name"),
    ]


def test_a_changed_spec_file_selects_the_environment_that_owns_it(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/web/env.yaml": OK.format(name="web")
            + "python: '3.12'\nrequirements_file: req.txt\n",
            "environments/web/req.txt": "fastapi==0.115.0\nnot valid\n",
        }
    )
    assert found(root, "environments/web/req.txt") == [
        ("environments/web/req.txt", 2, 1, "pip-spec"),
    ]


def test_an_unknown_parent_that_is_close_to_a_name_gets_a_suggestion(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {
            "environments/base/env.yaml": OK.format(name="base-python"),
            "environments/child/env.yaml": OK.format(name="child") + "extends: base-pyhton\n",
        }
    )
    (diagnostic,) = validate(root=root, cwd=root).diagnostics
    assert "did you mean 'base-python'?" in diagnostic.message


def test_reference_through_a_symlink_is_refused_even_inside_the_repo(
    make_repo: RepoFactory,
    tmp_path: Path,
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("token=abc\n")
    root = make_repo(
        {
            "environments/a/env.yaml": OK.format(name="a") + "requirements_file: req.txt\n"
            "conda_file: env.yml\n",
            "environments/a/real.yml": "dependencies: [numpy]\n",
        }
    )
    (root / "environments/a/req.txt").symlink_to(outside)
    (root / "environments/a/env.yml").symlink_to(root / "environments/a/real.yml")
    messages = [d.message for d in validate(root=root, cwd=root).diagnostics]
    assert messages == [
        "requirements_file: 'req.txt' goes through a symbolic link; copy the file instead",
        "conda_file: 'env.yml' goes through a symbolic link; copy the file instead",
    ]


def test_symlinked_folder_cannot_smuggle_a_file_from_outside(
    make_repo: RepoFactory,
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_text("FROM scratch\n")
    root = make_repo(
        {
            "environments/a/env.yaml": OK.format(name="a")
            + "docker:\n  base_dockerfile: ctx/Dockerfile\n"
        }
    )
    (root / "environments/a/ctx").symlink_to(elsewhere, target_is_directory=True)
    (diagnostic,) = validate(root=root, cwd=root).diagnostics
    assert diagnostic.rule == "reference"
    assert "symbolic link" in diagnostic.message


def test_manifest_symlinks_are_not_followed_when_discovering(
    make_repo: RepoFactory,
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "x").mkdir(parents=True)
    (elsewhere / "x" / "env.yaml").write_text("not: [valid\n")
    root = make_repo({"environments/a/env.yaml": OK.format(name="a")})
    (root / "environments/linked").symlink_to(elsewhere, target_is_directory=True)
    report = validate(root=root, cwd=root)
    assert report.ok
    assert report.checked == ("environments/a/env.yaml",)


def test_paths_are_shown_relative_to_the_working_directory(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/a/env.yaml": "schema_version: 1\n"})
    report = validate(root=root, cwd=root / "environments")
    assert [d.path for d in report.diagnostics] == ["a/env.yaml"]


def test_find_root_walks_up_and_fails_clearly(make_repo: RepoFactory, tmp_path: Path) -> None:
    root = make_repo({"environments/a/env.yaml": OK.format(name="a")})
    assert find_root(root / "environments" / "a") == root.resolve()
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(UsageError, match="no environments/ folder"):
        find_root(lonely)


def test_output_is_the_same_whatever_order_the_filesystem_lists(make_repo: RepoFactory) -> None:
    files = {f"environments/e{i}/env.yaml": OK.format(name=f"e{i % 3}") for i in range(9)}
    root = make_repo(files)
    first = validate(root=root, cwd=root)
    reversed_args = validate([Path(p) for p in sorted(files, reverse=True)], root=root, cwd=root)
    assert first.diagnostics == reversed_args.diagnostics
    assert len(first.diagnostics) == 9


def test_parallel_and_serial_checks_report_the_same(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compiler.validate.checks as stage

    files = {}
    for i in range(60):
        body = OK.format(name=f"env-{i % 50}")  # ten duplicate names
        if i % 7 == 0:
            body += "python: 3.10\n"
        if i % 5 == 0:
            body += f"extends: env-{(i + 1) % 60}\n"
        files[f"environments/e{i:02d}/env.yaml"] = body
    root = make_repo(files)
    serial = validate(root=root, cwd=root)
    monkeypatch.setattr(stage, "PARALLEL_THRESHOLD", 2)
    parallel = validate(root=root, cwd=root)
    assert serial.diagnostics and parallel.diagnostics == serial.diagnostics
    assert parallel.checked == serial.checked


def _age(root: Path) -> None:
    """Make every file and folder older than the cache's racy-timestamp window."""
    for path in [*root.rglob("*"), root]:
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The manifests validation parses from now on, as they are shown."""
    import compiler.validate.checks as stage

    parsed: list[str] = []
    real = stage.read_yaml

    def counting(file: Path, display: str) -> object:
        parsed.append(display)
        return real(file, display)

    monkeypatch.setattr(stage, "read_yaml", counting)
    return parsed


def test_manifest_index_spares_parsing_unchanged_manifests(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo({f"environments/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(5)})
    _age(root)
    assert validate(root=root, cwd=root, cache=True).ok  # fills the index
    parsed = _parses(monkeypatch)
    # a whole-repository run takes all five from the index: unchanged, and clean last time
    assert validate(root=root, cwd=root, cache=True).ok
    assert parsed == []
    # a run over one file (the hook) checks that file, and knows the others by name only
    target = Path("environments/e0/env.yaml")
    assert validate([target], root=root, cwd=root, cache=True).ok
    assert parsed == ["environments/e0/env.yaml"]

    # a changed manifest is read again: it now claims e0's name, so it is parsed to confirm it
    (root / "environments/e3/env.yaml").write_text(OK.format(name="e0"))
    for cache in (True, False):
        parsed.clear()
        report = validate([target], root=root, cwd=root, cache=cache)
        assert sorted(parsed) == ["environments/e0/env.yaml", "environments/e3/env.yaml"]
        assert [d.rule for d in report.diagnostics] == ["duplicate-name"]
    # without the cache, a whole-repository run parses everything, and the two manifests with a
    # cross-file finding once more, for its line (checks keep data, not positions)
    parsed.clear()
    validate(root=root, cwd=root, cache=False)
    assert len(set(parsed)) == 5
    assert sorted(parsed[5:]) == ["environments/e0/env.yaml", "environments/e3/env.yaml"]


def test_the_cache_never_changes_a_result(make_repo: RepoFactory) -> None:
    """Validation with the cache reports exactly what validation without it reports, positions
    included, through edits that the index cannot see coming: a parent change that makes an
    unchanged (vouched-for) child conflict, and a broken file that a manifest references."""
    root = make_repo(
        {
            "environments/base/env.yaml": OK.format(name="base"),
            "environments/child/env.yaml": OK.format(name="child")
            + "extends: base\ndocker:\n  base_image: example.com/x:1\n",
            "environments/web/env.yaml": OK.format(name="web")
            + "python: '3.12'\nrequirements_file: req.txt\n",
            "environments/web/req.txt": "fastapi==0.115.0\n",
        }
    )
    _age(root)

    def both() -> tuple[object, ...]:
        cached = validate(root=root, cwd=root, cache=True).diagnostics
        assert cached == validate(root=root, cwd=root, cache=False).diagnostics
        return cached

    assert both() == ()
    assert both() == ()  # from the index this time
    (root / "environments/base/env.yaml").write_text(
        OK.format(name="base") + "docker:\n  enabled: false\n"
    )
    [conflict] = both()
    assert (conflict.path, conflict.line, conflict.rule) == (
        "environments/child/env.yaml",
        5,
        "conflict",
    )
    (root / "environments/base/env.yaml").write_text(OK.format(name="base"))
    _age(root)
    assert both() == ()
    (root / "environments/web/req.txt").write_text("fastapi==0.115.0\nnot valid\n")
    [broken] = both()
    assert (broken.path, broken.line) == ("environments/web/req.txt", 2)


def test_the_data_index_gives_back_what_parsing_gave(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index keeps manifests as JSON text and the report decodes them on demand: every
    value type, non-ASCII text and the order of keys come back as a parse reads them (repr
    tells 1 from 1.0 and True, and shows the order)."""
    manifest = (
        'schema_version: 1\nname: {name}\nversion: 7\ndescription: Café — 東京 "q" \\\\ \n'
        "python: '3.12'\nconda: [numpy >=1.26, 'pip']\n"
        "variables:\n  ZETA: 'z'\n  ALPHA: '1'\n  MIDDLE: ''\n"
        "docker:\n  enabled: false\n"
    )
    names = [f"e{i}" for i in range(3)] + ["child"]
    files = {f"environments/{n}/env.yaml": manifest.format(name=n) for n in names}
    files["environments/child/env.yaml"] += "extends: e0\n"
    root = make_repo(files)
    _age(root)

    monkeypatch.setattr(ValidByName, "_RECENT", 2)  # decoded manifests are forgotten, too

    def seen(cache: bool) -> dict[str, str]:
        report = validate(root=root, cwd=root, cache=cache)
        assert report.ok, report.diagnostics
        forward = {name: repr(tuple(report.manifests[name])) for name in sorted(names)}
        backward = {name: repr(tuple(report.manifests[name])) for name in sorted(names)[::-1]}
        assert forward == backward
        return forward

    parsed = {  # what the YAML reader gives
        name: repr((read_yaml(root / file, file).data, posixpath.dirname(file)))
        for name, file in sorted((n, f"environments/{n}/env.yaml") for n in names)
    }
    assert "'Café — 東京 \"q\" \\\\\\\\'" in parsed["e1"]
    assert seen(cache=False) == parsed
    assert seen(cache=True) == parsed  # parsed, and the index filled
    reads = _parses(monkeypatch)
    assert seen(cache=True) == parsed  # from the index: nothing parsed
    assert reads == []
    # many manifests are checked in worker processes, which send back the text
    monkeypatch.setattr("compiler.validate.checks.PARALLEL_THRESHOLD", 1)
    shutil.rmtree(root / ".envc")
    assert seen(cache=True) == parsed


def _index_rows(root: Path) -> dict[str, str]:
    """Key -> text of every manifest the repository's data index holds."""
    import sqlite3

    from compiler._util.cache import repository_key, user_cache

    file = user_cache("validate", repository_key(root), "manifests.db")
    with sqlite3.connect(file) as db:
        return dict(db.execute("SELECT key, text FROM manifests"))


def test_manifest_index_forgets_removed_environments_and_survives_corruption(
    make_repo: RepoFactory,
) -> None:
    from compiler._util.cache import repository_key, user_cache

    root = make_repo({f"environments/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(3)})
    _age(root)
    validate(root=root, cwd=root, cache=True)
    assert len(_index_rows(root)) == 3
    assert not (root / ".envc/cache/manifests.json").exists()  # outside the repository
    shutil.rmtree(root / "environments/e2")
    validate(root=root, cwd=root, cache=True)
    assert sorted(_index_rows(root)) == ["environments/e0/env.yaml", "environments/e1/env.yaml"]
    index_file = user_cache("validate", repository_key(root), "manifests.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{index_file}{suffix}").unlink(missing_ok=True)
    index_file.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))  # damaged
    assert validate(root=root, cwd=root, cache=True).ok
    assert sorted(_index_rows(root)) == ["environments/e0/env.yaml", "environments/e1/env.yaml"]


def test_the_report_reads_texts_from_the_index_and_the_file_when_the_index_lost_them(
    make_repo: RepoFactory,
) -> None:
    """Manifests vouched for by the data index are not held as text: the report reads each
    from the index when a stage asks; one the index lost (another run saw it change) is read
    from its file while that is unchanged, and is an error once it changed."""
    import sqlite3

    from compiler._util.cache import repository_key, user_cache

    files = {f"environments/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(3)}
    files["environments/e1/env.yaml"] += "description: 'Café \"q\"'\n"
    root = make_repo(files)
    _age(root)
    validate(root=root, cwd=root, cache=True)  # fills the index
    parsed = {f"e{i}": read_yaml(root / _manifest_path(i), "").data for i in range(3)}
    report = validate(root=root, cwd=root, cache=True)
    stored = report.manifests._by_name  # type: ignore[attr-defined]
    assert all(m._stored.text is None for m in stored.values())
    for name in ("e2", "e1", "e0", "e1"):  # read ahead, and not
        assert report.manifests[name].data == parsed[name]
    lost = validate(root=root, cwd=root, cache=True)
    with sqlite3.connect(user_cache("validate", repository_key(root), "manifests.db")) as db:
        # another run saw every file change: it holds other texts, under other stamps
        db.execute("""UPDATE manifests SET stamp = 'other', text = '{"name": "forged"}'""")
    assert lost.manifests["e1"].data == parsed["e1"]  # from the unchanged file
    (root / _manifest_path(0)).write_text(OK.format(name="e0") + "description: now\n")
    with pytest.raises(UsageError, match=r"e0/env\.yaml: changed while envc was running"):
        lost.manifests["e0"]


def test_another_envc_version_reads_nothing_this_one_parsed(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two envc versions on one repository share the index file, not what is in it: each
    parses what the other wrote, and neither skips the rules across files because the other
    found nothing."""
    import compiler.validate.repository as repository

    root = make_repo({_manifest_path(i): OK.format(name=f"e{i}") for i in range(3)})
    _age(root)
    assert validate(root=root, cwd=root, cache=True).ok
    assert validate(root=root, cwd=root, cache=True).ok  # the rules found nothing, twice
    across: list[int] = []
    real_rules = repository.check_repository

    def counted(*arguments: Any) -> Any:
        across.append(1)
        return real_rules(*arguments)

    monkeypatch.setattr(repository, "check_repository", counted)
    parsed = _parses(monkeypatch)
    monkeypatch.setattr(repository, "__version__", "0.0.0-other")
    assert validate(root=root, cwd=root, cache=True).ok
    assert sorted(parsed) == [_manifest_path(i) for i in range(3)] and across == [1]
    assert validate(root=root, cwd=root, cache=True).ok  # its own rows, its own clean state
    assert len(parsed) == 3 and across == [1]


def _manifest_path(number: int) -> str:
    return f"environments/e{number}/env.yaml"


def test_variable_value_ending_in_a_backslash_is_refused(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/a/env.yaml": OK.format(name="a")
            + "variables:\n  WINDOWS_DIR: 'C:\\\\'\n  FINE: 'a\\\\b'\n"
        }
    )
    assert found(root) == [("environments/a/env.yaml", 4, 16, "unsafe-value")]


def test_a_base_dockerfile_must_be_utf8_text(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/geo/env.yaml": OK.format(name="geo")
            + "docker:\n  base_dockerfile: Dockerfile\n",
            "environments/geo/Dockerfile": "FROM debian\nRUN echo caf\xe9\n".encode("latin-1"),
        }
    )
    assert found(root) == [("environments/geo/Dockerfile", 1, 1, "encoding")]


def test_the_folder_listing_cache_sees_manifests_come_and_go(make_repo: RepoFactory) -> None:
    """Folders unchanged since the last run are not listed again; one that gained or lost a
    manifest (or a sub-folder) is."""
    files = {f"environments/team/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(3)}
    root = make_repo(files)  # type: ignore[arg-type]
    _age(root)
    target = [Path("environments/team/e0/env.yaml")]
    assert validate(target, root=root, cwd=root, cache=True).ok
    assert (root / ".envc/cache/folders.json").is_file()
    (root / "environments/team/new").mkdir()
    (root / "environments/team/new/env.yaml").write_text(OK.format(name="e0"))
    [clash] = validate(target, root=root, cwd=root, cache=True).diagnostics
    assert clash.rule == "duplicate-name" and "environments/team/new/env.yaml" in clash.message
    _age(root)
    assert not validate(target, root=root, cwd=root, cache=True).ok  # from the cache now
    (root / "environments/team/new/env.yaml").unlink()
    assert validate(target, root=root, cwd=root, cache=True).ok
    assert len(validate(root=root, cwd=root, cache=True).checked) == 3


def test_concurrent_runs_parse_the_repository_once(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands started together (a CI job's registers) share one parse: the first fills the
    index under a lock while the others wait, then read it."""
    import threading

    files = {f"environments/e{i:03d}/env.yaml": OK.format(name=f"e{i:03d}") for i in range(100)}
    root = make_repo(files)  # type: ignore[arg-type]
    _age(root)
    parsed = _parses(monkeypatch)
    reports: list[object] = []
    runs = [
        threading.Thread(target=lambda: reports.append(validate(root=root, cwd=root, cache=True)))
        for _ in range(4)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert len(reports) == 4 and all(r.ok for r in reports)  # type: ignore[attr-defined]
    assert sorted(parsed) == sorted(files)


def test_a_corrupt_folder_listing_cache_is_ignored(make_repo: RepoFactory) -> None:
    import json

    files = {f"environments/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(3)}
    root = make_repo(files)  # type: ignore[arg-type]
    _age(root)
    validate(root=root, cwd=root, cache=True)
    listing = root / ".envc/cache/folders.json"
    stored = json.loads(listing.read_text())
    for index, path in enumerate(sorted(stored["folders"])):
        stamp = stored["folders"][path][0]
        stored["folders"][path] = [[stamp, 5, None], [stamp, [1, 2], True], 7][index % 3]
    listing.write_text(json.dumps(stored))
    assert len(validate(root=root, cwd=root, cache=True).checked) == 3
    listing.write_text("[not json")
    assert len(validate(root=root, cwd=root, cache=True).checked) == 3


def test_cross_file_rules_are_skipped_only_when_nothing_changed(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compiler.validate.repository as stage

    files = {f"environments/e{i}/env.yaml": OK.format(name=f"e{i}") for i in range(3)}
    root = make_repo(files)  # type: ignore[arg-type]
    _age(root)
    runs: list[int] = []
    real = stage.check_repository

    def counting(*args: object, **options: object) -> object:
        runs.append(1)
        return real(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "check_repository", counting)
    assert validate(root=root, cwd=root, cache=True).ok
    assert validate(root=root, cwd=root, cache=True).ok
    assert len(runs) == 1  # the second run: every manifest and the catalog as they were
    (root / "environments/e9").mkdir()
    (root / "environments/e9/env.yaml").write_text(OK.format(name="e1"))
    _age(root)
    assert [d.rule for d in validate(root=root, cwd=root, cache=True).diagnostics] == [
        "duplicate-name",
        "duplicate-name",
    ]
    assert [d.rule for d in validate(root=root, cwd=root, cache=True).diagnostics] == [
        "duplicate-name",
        "duplicate-name",
    ]
    (root / "environments/e9/env.yaml").unlink()
    assert validate(root=root, cwd=root, cache=True).ok
    runs.clear()
    assert validate(root=root, cwd=root, cache=True).ok and runs == []
    (root / "templates").mkdir()
    (root / "templates/base-images.yaml").write_text(
        (PROJECT_TEMPLATES / "base-images.yaml").read_text()
    )
    assert validate(root=root, cwd=root, cache=True).ok and runs == [1]


def test_a_manifest_evicted_by_another_thread_is_decoded_again() -> None:
    """Stages may read the report's manifests from threads: when another thread evicts a
    decoded manifest between a reader's lookup and its bookkeeping, the reader still gets its
    manifest, never an error (the interleaving is played here, deterministically)."""
    from collections import OrderedDict

    from compiler.validate.manifest_file import ManifestFile, StoredData

    class EvictedMeanwhile(OrderedDict):  # type: ignore[type-arg]
        def get(self, key: object, default: object = None) -> object:
            found = super().get(key, default)
            self.pop(key, None)  # another thread evicts it right after the lookup
            return found

    by_name = {
        name: ManifestFile.stored(
            f"/r/environments/{name}/env.yaml",
            StoredData(name, f'{{"name":"{name}"}}', name, None),
            True,
        )
        for name in ("a", "b")
    }
    manifests = ValidByName(by_name, lambda folder: folder.removeprefix("/r/"))
    manifests._recent = EvictedMeanwhile()
    for name in ("a", "a", "b", "a"):
        data, folder = manifests[name]
        assert (data["name"], folder) == (name, f"environments/{name}")


def test_caches_are_written_in_pieces_as_json_writes_them_whole(tmp_path: Path) -> None:
    """A large cache is encoded entry by entry, byte for byte what json.dumps writes; a write
    that fails on the way leaves the old file."""
    import json

    from compiler._util.cache import json_chunks, read_json, write_json

    entries = {
        f"environments/é-{i}/env.yaml": [[i, 2**40 + i], {"text": f'"q" \\ \u202e {i}', "n": None}]
        for i in range(1000)
    }
    document = {"format_version": 2, "entries": entries, "nested": {"a": entries, "b": [1.5]}}
    pieces = list(json_chunks(document))
    assert len(pieces) > 2000  # the mappings were taken apart
    assert "".join(pieces) == json.dumps(document, separators=(",", ":"))
    file = tmp_path / "cache.json"
    write_json(file, document)
    assert read_json(file) == document
    with pytest.raises(TypeError):
        write_json(file, {"entries": {number: "not a text key" for number in range(1000)}})
    assert read_json(file) == document
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "cache.json"]


def test_a_conda_file_may_use_conda_s_own_equals_forms_and_the_lock_reads_their_meaning(
    make_repo: RepoFactory,
) -> None:
    """A referenced environment.yml is the user's conda file: `conda env export` pins each
    package as `name=version=build`, and conda reads `libblas=*=*mkl`. The strict parser refuses
    both; the file is accepted, and the lock reads the specs they mean. A spec no strict form
    fits still fails, as do unsafe characters."""
    from compiler.lock.inputs import lock_inputs
    from compiler.manifest.model import resolve

    root = make_repo(
        {
            "environments/cf/env.yaml": (
                "schema_version: 1\nname: cf\nconda_file: environment.yml\n"
            ),
            "environments/cf/environment.yml": (
                "channels: [pytorch, conda-forge]\ndependencies:\n  - python=3.10\n"
                "  - numpy=1.26.4=py311h64a7726_0\n  - libblas=*=*mkl\n"
                "  - pytorch::pytorch=2.1.0=py3.10_cuda12.1_cudnn8.9.2_0\n"
            ),
        }
    )
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    inputs = lock_inputs(resolve("cf", report.manifests), root)
    assert inputs is not None
    assert set(inputs.specs) == {
        "python=3.10",
        "numpy ==1.26.4 py311h64a7726_0",
        "libblas * *mkl",
        "pytorch::pytorch ==2.1.0[build='py3.10_cuda12.1_cudnn8.9.2_0']",
    }
    bad = root / "environments/cf/environment.yml"
    bad.write_text("dependencies:\n  - nump y=1\n  - numpy=1;rm -rf /\n")
    rules = sorted(d.rule for d in validate(root=root, cwd=root).diagnostics)
    assert rules == ["conda-spec", "conda-spec"]


def test_a_requirements_file_may_name_pypi_as_its_index_and_no_other(
    make_repo: RepoFactory,
) -> None:
    """pip-compile writes `--index-url https://pypi.org/simple` at the top of what it compiles:
    PyPI is envc's default, so that line changes nothing and is accepted; another index is not
    the manifest's to name."""
    from compiler.validate.references import read_requirements

    root = make_repo(
        {
            "environments/rq/env.yaml": (
                "schema_version: 1\nname: rq\npython: '3.11'\nrequirements_file: req.txt\n"
            ),
            "environments/rq/req.txt": (
                "--index-url https://pypi.org/simple\n-i https://pypi.org/simple/\n"
                "certifi==2024.2.2 \\\n    --hash=sha256:" + "0" * 64 + "\n"
            ),
        }
    )
    assert validate(root=root, cwd=root).ok
    requirements = read_requirements(root / "environments/rq/req.txt", root)
    assert requirements == ["certifi==2024.2.2"]
    (root / "environments/rq/req.txt").write_text(
        "--index-url https://pypi.example.com/simple\n"
        "--extra-index-url https://download.pytorch.org/whl/cpu\ncertifi\n"
    )
    found = validate(root=root, cwd=root).diagnostics
    assert [(d.line, d.rule) for d in found] == [(1, "pip-option"), (2, "pip-option")]


def test_reading_a_conda_file_for_its_lock_imports_no_parser_for_strict_specs(
    make_repo: RepoFactory,
) -> None:
    """render and plan read every environment's lock inputs: a conda file of strict specs
    (`python=3.10`, `conda-forge::numpy >=1.26`) must not make them import py-rattler, which
    only conda's `=` forms need."""
    import subprocess
    import sys

    root = make_repo(
        {
            "environments/cf/env.yaml": (
                "schema_version: 1\nname: cf\nconda_file: environment.yml\n"
            ),
            "environments/cf/environment.yml": (
                "channels: [conda-forge]\ndependencies:\n  - python=3.10\n"
                "  - conda-forge::numpy >=1.26\n  - pip\n"
            ),
        }
    )
    probe = (
        "import sys\nfrom pathlib import Path\n"
        "from compiler.lock.inputs import declared_packages\n"
        "from compiler.manifest.model import Manifest\n"
        "manifest = Manifest.model_validate({'schema_version': 1, 'name': 'cf', "
        "'conda_file': 'environments/cf/environment.yml'})\n"
        "print(declared_packages(manifest, Path(sys.argv[1]))[1], 'rattler' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(root)], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("] ")[-1].strip() == "False", result.stdout
    assert "conda-forge::numpy >=1.26" in result.stdout
