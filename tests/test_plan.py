"""The plan stage on real git repositories built here: statuses, reasons, the dependency graph,
git edge cases, and every output format."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from compiler.cli import main
from compiler.errors import UsageError
from compiler.lock.repository import lock_repository
from compiler.plan.plan import plan
from compiler.plan.result import EnvironmentPlan, Plan
from compiler.plan.sides import NAMES_CACHE, plan_cache
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory
from tests.gitrepos import Git, commit, pip_only, user_managed
from tests.test_lock import MIRRORS


def statuses(result: Plan) -> dict[str, str]:
    return {e.name: e.status for e in result.environments}


def entry(result: Plan, name: str) -> EnvironmentPlan:
    return next(e for e in result.environments if e.name == name)


def test_nothing_changed_plans_nothing(repo: Path, git: Git) -> None:
    result = plan(repo, "HEAD")
    assert set(statuses(result).values()) == {"unchanged"}
    assert len(result.environments) == 7 and not result.to_build and not result.diagnostics
    # The names of the base tree are remembered by its id: the next such plan reads no manifest.
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    (names,) = plan_cache(repo, NAMES_CACHE).glob(f"{tree}-*.json")
    assert json.loads(names.read_text())["other"] == "environments/other"
    assert plan(repo, "HEAD") == result


def test_comments_key_order_and_line_endings_do_not_rebuild(repo: Path) -> None:
    manifest = repo / "environments/base/env.yaml"
    lines = manifest.read_text().splitlines()
    reordered = [lines[1], lines[0], *lines[2:], "# a comment"]
    manifest.write_bytes("\r\n".join(reordered).encode() + b"\r\n")
    result = plan(repo, "HEAD")
    base = entry(result, "base")
    assert base.status == "unchanged" and base.address == base.base_address
    assert base.notes == ("files changed, content address did not",)
    assert not result.to_build


def test_a_parent_change_rebuilds_it_and_its_children_only(repo: Path) -> None:
    manifest = repo / "environments/base/env.yaml"
    manifest.write_text(manifest.read_text().replace("A: '1'", "A: '2'"))
    result = plan(repo, "HEAD")
    assert {e.name for e in result.to_build} == {"base", "child"}
    assert entry(result, "base").reasons == ("manifest: variables.A",)
    assert entry(result, "child").reasons == ("manifest: variables.A", "parent base changed")
    other = entry(result, "other")
    assert other.status == "unchanged" and other.address is None  # not even rendered


def test_template_change_marks_exactly_the_environments_of_that_family(
    repo: Path, git: Git
) -> None:
    base = commit(git, repo, "nothing")
    tail = (PROJECT / "templates/Dockerfile.pip.j2").read_text()
    (repo / "templates").mkdir()
    (repo / "templates/Dockerfile.pip.j2").write_text(tail.replace("FROM", "# pip\nFROM", 1))
    result = plan(repo, base)
    # Without conda packages the GPU environments are pip-family too.
    assert {e.name for e in result.to_build} == {"slim", "gpu-old", "gpu-new"}
    assert entry(result, "slim").reasons == ("template Dockerfile.pip.j2",)
    assert entry(result, "other").address is None  # user-managed: never a candidate

    # An include shared by every Dockerfile family: everything but the host environment.
    commit(git, repo, "pip template")
    shared = (PROJECT / "templates/Dockerfile.tail.j2").read_text()
    (repo / "templates/Dockerfile.tail.j2").write_text("# shared\n" + shared)
    result = plan(repo, "HEAD")
    built = {e.name for e in result.to_build}
    assert built == {"base", "child", "other", "gpu-old", "gpu-new", "slim"}
    assert entry(result, "onhost").address is None  # never a candidate


def test_catalog_change_marks_only_environments_whose_entry_changed(repo: Path) -> None:
    catalog = (PROJECT / "templates/base-images.yaml").read_text()
    old = "docker.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    assert old in catalog
    (repo / "templates").mkdir()
    (repo / "templates/base-images.yaml").write_text(catalog.replace(old, "example.com/cuda:12.4"))
    result = plan(repo, "HEAD")
    assert {e.name for e in result.to_build} == {"gpu-new"}
    assert entry(result, "gpu-new").reasons == (f"base image {old} -> example.com/cuda:12.4",)
    assert entry(result, "gpu-old").address is None


def test_moves_renames_deletions_and_additions(repo: Path, git: Git) -> None:
    git(repo, "mv", "environments/other", "environments/moved here")
    manifest = repo / "environments/gpu-old/env.yaml"
    manifest.write_text(manifest.read_text().replace("name: gpu-old", "name: gpu-legacy"))
    git(repo, "rm", "-q", "-r", "environments/slim")
    (repo / "environments/ünïcode").mkdir()
    (repo / "environments/ünïcode/env.yaml").write_text(user_managed("unicode"))
    (repo / "environments/ünïcode/blob.bin").write_bytes(bytes(range(256)))
    result = plan(repo, "HEAD")
    assert statuses(result) == {
        "base": "unchanged",
        "child": "unchanged",
        "other": "unchanged",
        "gpu-old": "removed",
        "gpu-legacy": "added",
        "gpu-new": "unchanged",
        "slim": "removed",
        "onhost": "unchanged",
        "unicode": "added",
    }
    assert entry(result, "other").notes == (
        "moved from environments/other",
        "files changed, content address did not",
    )
    assert entry(result, "other").folder == "environments/moved here"
    assert entry(result, "gpu-legacy").notes == ("renamed from gpu-old",)
    assert entry(result, "unicode").address is not None


def test_untracked_and_unstaged_files_are_the_head_unless_a_ref_is_given(repo: Path) -> None:
    (repo / "environments/new").mkdir()
    (repo / "environments/new/env.yaml").write_text(user_managed("new"))
    assert statuses(plan(repo, "HEAD"))["new"] == "added"
    assert "new" not in statuses(plan(repo, "HEAD", "HEAD"))


def test_invalid_at_base_valid_at_head_and_the_reverse(repo: Path, git: Git) -> None:
    manifest = repo / "environments/other/env.yaml"
    good = manifest.read_text()
    manifest.write_text(good.replace("base_image:", "base_imag:"))
    broken = commit(git, repo, "break other")
    manifest.write_text(good)
    result = plan(repo, broken)
    other = entry(result, "other")
    assert other.status == "changed" and not result.diagnostics
    assert other.reasons[0].startswith("could not be built at the base")

    commit(git, repo, "fix other")
    manifest.write_text(good.replace("base_image:", "base_imag:"))
    result = plan(repo, "HEAD")
    assert [d.path for d in result.diagnostics] == ["environments/other/env.yaml"]
    assert "base_imag" in result.diagnostics[0].message


def test_a_manifest_that_does_not_parse_at_head_fails_the_plan(repo: Path) -> None:
    (repo / "environments/other/env.yaml").write_text("schema_version: 1\nname: [unclosed\n")
    result = plan(repo, "HEAD")
    assert [d.path for d in result.diagnostics] == ["environments/other/env.yaml"]
    assert result.diagnostics[0].line == 3


def test_a_stale_lock_at_head_fails_the_plan(repo: Path) -> None:
    (repo / "environments/slim/env.yaml").write_text(pip_only("slim") + "pip: [alpha]\n")
    result = plan(repo, "HEAD")
    assert [(d.path, d.rule) for d in result.diagnostics] == [
        ("environments/slim/env.yaml", "plan")
    ]
    assert "run envc lock slim" in result.diagnostics[0].message


def test_a_base_from_before_envc_existed_adds_everything(
    make_repo: RepoFactory, git: Git, tmp_path: Path
) -> None:
    root = make_repo({"README.md": "hello\n"})
    (root / "environments").rmdir()
    git(root, "init", "-q", "-b", "main")
    first = commit(git, root, "before envc")
    (root / "environments/a").mkdir(parents=True)
    (root / "environments/a/env.yaml").write_text(user_managed("a"))
    commit(git, root, "envc")
    assert statuses(plan(root, first)) == {"a": "added"}


def test_merge_base_by_default_and_direct_on_request(repo: Path, git: Git) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "environments/f").mkdir()
    (repo / "environments/f/env.yaml").write_text(user_managed("f"))
    commit(git, repo, "feature env")
    git(repo, "checkout", "-q", "main")
    (repo / "environments/m").mkdir()
    (repo / "environments/m/env.yaml").write_text(user_managed("m"))
    commit(git, repo, "main env")
    git(repo, "checkout", "-q", "feature")
    pull_request = plan(repo, "main")
    assert {e.name for e in pull_request.to_build} == {"f"}
    assert "m" not in statuses(pull_request)
    direct = plan(repo, "main", direct=True)
    assert statuses(direct)["m"] == "removed" and statuses(direct)["f"] == "added"


def test_git_problems_are_usage_errors(repo: Path, git: Git, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        plan(repo, "nope")
    with pytest.raises(UsageError, match="not a git revision"):
        plan(repo, "--output=/tmp/x")
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    commit(git, repo, "unrelated root")
    with pytest.raises(UsageError, match="unrelated histories"):
        plan(repo, "main")
    assert not plan(repo, "main", direct=True).to_build

    git(repo, "checkout", "-q", "main")
    (repo / "environments/later").mkdir()
    (repo / "environments/later/env.yaml").write_text(user_managed("later"))
    first = git(repo, "rev-list", "--max-parents=0", "main")
    commit(git, repo, "later")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    with pytest.raises(UsageError, match="shallow clone; fetch more history"):
        plan(shallow, first)


def test_a_name_taken_twice_at_head_fails_the_plan_with_validations_rule(repo: Path) -> None:
    """The unique-name rule is validation's, also when the other manifest is not a candidate."""
    (repo / "environments/copy").mkdir()
    (repo / "environments/copy/env.yaml").write_text(user_managed("other"))
    result = plan(repo, "HEAD")
    found = {(d.path, d.rule, d.message) for d in result.diagnostics}
    assert found == {
        (
            "environments/copy/env.yaml",
            "duplicate-name",
            "name 'other' is also used by environments/other/env.yaml",
        ),
        (
            "environments/other/env.yaml",
            "duplicate-name",
            "name 'other' is also used by environments/copy/env.yaml",
        ),
    }


def test_the_bake_file_names_images_with_envc_yamls_prefix(repo: Path, tmp_path: Path) -> None:
    """One image prefix for every command: --image-prefix, else envc.yaml's, else envc/."""
    manifest = repo / "environments/other/env.yaml"
    manifest.write_text(manifest.read_text().replace("other:1", "other:2"))
    bake = tmp_path / "bake.json"
    args = ["plan", "--base", "HEAD", "--repo", str(repo), "--bake", str(bake)]

    def tags() -> list[str]:
        assert CliRunner().invoke(main, args).exit_code == 0
        return [t.split(":")[0] for t in json.loads(bake.read_text())["target"]["other"]["tags"]]

    assert tags() == ["envc/other"]
    (repo / "envc.yaml").write_text("config_version: 1\nimage_prefix: ghcr.io/acme/\n")
    assert tags() == ["ghcr.io/acme/other"]
    args += ["--image-prefix", "registry.local/x-"]
    assert tags() == ["registry.local/x-other"]


def test_cli_exit_codes_and_formats(repo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    manifest = repo / "environments/other/env.yaml"
    manifest.write_text(manifest.read_text().replace("other:1", "other:2"))
    args = ["plan", "--base", "HEAD", "--repo", str(repo)]

    table = runner.invoke(main, args)
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[1].split()[:2] == ["changed", "other"]
    assert runner.invoke(main, [*args, "--exit-code"]).exit_code == 1

    document = json.loads(runner.invoke(main, [*args, "--format", "json"]).output)
    schema = json.loads((PROJECT / "schemas/plan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    other = next(e for e in document["environments"] if e["name"] == "other")
    assert other["reasons"] == ["manifest: docker.base_image"] and other["image"]

    markdown = runner.invoke(main, [*args, "--format", "markdown"]).output
    assert "| changed | `other` |" in markdown and "1 to build." in markdown

    output, bake = tmp_path / "github_output", tmp_path / "bake.json"
    output.write_text("earlier=1\n")
    result = runner.invoke(main, [*args, "--github-output", str(output), "--bake", str(bake)])
    assert result.exit_code == 0
    lines = output.read_text().splitlines()
    assert lines[0] == "earlier=1" and lines[2:] == ["rebuild=true", "count=1", "definitions="]
    matrix = json.loads(lines[1].removeprefix("matrix="))
    assert [m["name"] for m in matrix["include"]] == ["other"]
    targets = json.loads(bake.read_text())["target"]
    assert targets["other"]["context"] == "build/other"
    assert targets["other"]["labels"]["dev.envc.content-address"] == other["address"]

    assert runner.invoke(main, ["plan", "--base", "nope", "--repo", str(repo)]).exit_code == 2
    manifest.write_text("schema_version: 1\nname: other\nconda: [3]\n")
    failed = runner.invoke(main, args)
    assert failed.exit_code == 1 and "environments/other/env.yaml:" in failed.output


def test_the_github_matrix_holds_images_and_definitions_go_apart(
    repo: Path, tmp_path: Path
) -> None:
    for name in ("other", "onhost"):
        manifest = repo / f"environments/{name}/env.yaml"
        manifest.write_text(manifest.read_text() + "variables:\n  CHANGED: '1'\n")
    output = tmp_path / "github_output"
    result = CliRunner().invoke(
        main, ["plan", "--base", "HEAD", "--repo", str(repo), "--github-output", str(output)]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    matrix = json.loads(lines["matrix"])
    assert [m["name"] for m in matrix["include"]] == ["other"]  # onhost has no Dockerfile
    assert (lines["count"], lines["definitions"]) == ("1", "onhost")
    # The bake file caches layers in the registry the images go to (not for local names).
    for prefix, cached in (("ghcr.io/contoso/", True), ("envc/", False)):
        bake = tmp_path / f"bake-{cached}.json"
        options = ["--bake", str(bake), "--image-prefix", prefix, "--repo", str(repo)]
        assert CliRunner().invoke(main, ["plan", "--base", "HEAD", *options]).exit_code == 0
        [target] = json.loads(bake.read_text())["target"].values()
        assert ("cache-to" in target) is cached
        if cached:
            assert target["cache-from"] == ["type=registry,ref=ghcr.io/contoso/other:buildcache"]


def test_plan_address_is_what_render_records(repo: Path) -> None:
    manifest = repo / "environments/other/env.yaml"
    manifest.write_text(manifest.read_text().replace("other:1", "other:2"))
    planned = entry(plan(repo, "HEAD"), "other").address
    report = validate(root=repo, cwd=repo)
    render_repository(repo, report.manifests, ["other"])
    metadata = json.loads((repo / "build/other/envc-build.json").read_text())
    assert metadata["content_address"] == planned


def test_locked_package_changes_are_reasons(make_repo: RepoFactory, git: Git) -> None:
    spec = "schema_version: 1\nname: ml\npython: '3.12'\nconda: ['numpy {}']\n"
    root = make_repo({"environments/ml/env.yaml": spec.format("<2")})
    assert {o.status for o in lock_repository(root, mirrors=MIRRORS)} == {"locked"}
    git(root, "init", "-q", "-b", "main")
    commit(git, root, "lock")
    (root / "environments/ml/env.yaml").write_text(spec.format(">=2"))
    assert {o.status for o in lock_repository(root, mirrors=MIRRORS)} == {"locked"}
    reasons = entry(plan(root, "HEAD"), "ml").reasons
    assert reasons[0] == "manifest: conda"
    assert any(r.startswith("locked: ") and "numpy 1." in r and " -> 2." in r for r in reasons)


def test_a_referenced_file_is_part_of_the_address(make_repo: RepoFactory, git: Git) -> None:
    manifest = pip_only("custom") + "docker:\n  base_dockerfile: base.Dockerfile\n"
    root = make_repo(
        {
            "environments/custom/env.yaml": manifest,
            "environments/custom/base.Dockerfile": "FROM debian:bookworm-slim\n",
            "environments/plain/env.yaml": user_managed("plain"),
        }
    )
    git(root, "init", "-q", "-b", "main")
    commit(git, root, "custom")
    (root / "environments/custom/base.Dockerfile").write_text("FROM debian:trixie-slim\n")
    result = plan(root, "HEAD")
    assert statuses(result) == {"custom": "changed", "plain": "unchanged"}
    assert entry(result, "custom").reasons == ("manifest: docker.base_dockerfile",)


def test_a_committed_plan_cache_cannot_hide_a_change(repo: Path, git: Git) -> None:
    """The plan's caches are keyed by git object ids, which a pull request can compute: one
    committed into .envc/cache/ (forging the base manifest's data as the head's, so that both
    sides render alike) must not be read. They live in the user's cache folder."""
    base = commit(git, repo, "nothing")
    manifest = repo / "environments/base/env.yaml"
    manifest.write_text(manifest.read_text().replace("A: '1'", "A: '2'"))
    # the base manifest's blob, mapped to the data of the head's
    forged = {
        git(repo, "rev-parse", f"{base}:environments/base/env.yaml"): dict(
            validate(root=repo).manifests["base"].data
        )
    }
    cache = repo / ".envc/cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "plan-manifests.json").write_text(json.dumps({"version": 1, "manifests": forged}))
    git(repo, "add", "-f", ".envc/cache/plan-manifests.json", "environments")
    git(repo, "commit", "-q", "-m", "a change, and a forged cache")
    result = plan(repo, base, "HEAD")
    assert {e.name for e in result.to_build} == {"base", "child"}
    assert entry(result, "base").reasons == ("manifest: variables.A",)


def _rendering_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a plan that renders fails (what it needs must come from earlier plans)."""
    import compiler.render.batch

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(compiler.render.batch, "rendered_in_memory", refused)


def test_a_plan_does_not_render_again_what_an_earlier_one_rendered_from_the_same_inputs(
    make_repo: RepoFactory, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides of a plan made before (the pull request pushed again) come from the user's
    cache: the same plan, reasons about locked packages included (their texts read from git)."""
    spec = "schema_version: 1\nname: ml\npython: '3.12'\nconda: ['numpy {}']\n"
    root = make_repo(
        {
            "environments/ml/env.yaml": spec.format("<2"),
            "environments/slim/env.yaml": pip_only("slim"),
        }
    )
    lock_repository(root, mirrors=MIRRORS)
    git(root, "init", "-q", "-b", "main")
    base = commit(git, root, "lock")
    (root / "environments/ml/env.yaml").write_text(spec.format(">=2"))
    assert [o.status for o in lock_repository(root, ["ml"], mirrors=MIRRORS)] == ["locked"]
    (root / "templates").mkdir()
    shared = (PROJECT / "templates/Dockerfile.tail.j2").read_text()
    (root / "templates/Dockerfile.tail.j2").write_text("# shared\n" + shared)
    head = commit(git, root, "relock, and a shared template")
    first = plan(root, base, head)
    assert {e.name for e in first.to_build} == {"ml", "slim"}
    locked = [r for r in entry(first, "ml").reasons if r.startswith("locked: ")]
    assert len(locked) == 1 and "numpy 1." in locked[0] and " -> 2." in locked[0]
    _rendering_refused(monkeypatch)
    assert plan(root, base, head) == first
    with pytest.raises(AssertionError, match="rendered again"):
        plan(root, base, head, cache=False)


def test_a_working_tree_plan_is_remembered_by_the_content_of_its_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of the working tree has no git id: its render is keyed by the blob id of its
    bytes, so the same edits plan again without rendering, and another edit renders anew."""
    manifest = repo / "environments/slim/env.yaml"
    manifest.write_text(pip_only("slim") + "variables:\n  A: '1'\n")
    (repo / "environments/slim/extra.txt").write_text("untracked\n")
    first = plan(repo, "HEAD")
    assert entry(first, "slim").status == "changed"
    _rendering_refused(monkeypatch)
    assert plan(repo, "HEAD") == first
    (repo / "environments/slim/extra.txt").write_text("untracked, edited\n")
    with pytest.raises(AssertionError, match="rendered again"):
        plan(repo, "HEAD")
    manifest.write_text(pip_only("slim") + "variables:\n  A: '2'\n")
    with pytest.raises(AssertionError, match="rendered again"):
        plan(repo, "HEAD")


@pytest.mark.parametrize("change", ["referenced file", "parent manifest", "template", "envc.yaml"])
def test_a_remembered_render_stands_only_for_the_same_inputs(
    make_repo: RepoFactory, git: Git, change: str
) -> None:
    """Every kind of file an environment's render reads is part of what its remembered render
    is keyed by: after a plan of one head, a head that differs in only that file plans as a
    plan without the cache does (the environment's address, or its stale lock, is new)."""
    child = "schema_version: 1\nname: app\nextends: base\nrequirements_file: sub/r.txt\n"
    root = make_repo(
        {
            "environments/base/env.yaml": "schema_version: 1\nname: base\nconda: [numpy]\n",
            "environments/app/env.yaml": child,
            # (in a nested environment's folder: not one of app's own files)
            "environments/app/sub/env.yaml": user_managed("sub"),
            "environments/app/sub/r.txt": "",
        }
    )
    lock_repository(root, mirrors=MIRRORS)
    git(root, "init", "-q", "-b", "main")
    base = commit(git, root, "environments")
    (root / "templates").mkdir()
    tail = (PROJECT / "templates/Dockerfile.tail.j2").read_text()
    (root / "templates/Dockerfile.tail.j2").write_text("# one\n" + tail)
    first_head = commit(git, root, "a template")
    first = plan(root, base, first_head)
    assert entry(first, "app").status == "changed"
    if change == "referenced file":
        (root / "environments/app/sub/r.txt").write_text("# nothing yet\n")
    elif change == "parent manifest":
        (root / "environments/base/env.yaml").write_text(
            "schema_version: 1\nname: base\nconda: [numpy]\nvariables: {A: '1'}\n"
        )
    elif change == "template":
        (root / "templates/Dockerfile.tail.j2").write_text("# two\n" + tail)
    else:  # the channels the locks were made from
        (root / "envc.yaml").write_text("config_version: 1\nchannels: [bioconda]\n")
    head = commit(git, root, change)
    result = plan(root, base, head)
    assert result == plan(root, base, head, cache=False)
    assert entry(result, "app") != entry(first, "app")


def test_only_a_render_the_heads_validation_passed_stands_for_a_heads_validation(
    repo: Path, git: Git
) -> None:
    """A base's render is remembered unvalidated (a plan validates only its head): when the same
    inputs are a later plan's head, they are validated, and what validation finds fails it."""
    manifest = repo / "environments/slim/env.yaml"
    manifest.write_text(pip_only("slim") + "variables:\n  NOTE: 'zero\u200bwidth'\n")
    invisible = commit(git, repo, "an invisible character")
    (repo / "templates").mkdir()
    pip = (PROJECT / "templates/Dockerfile.pip.j2").read_text()
    (repo / "templates/Dockerfile.pip.j2").write_text("# pip\n" + pip)
    template = commit(git, repo, "a template")
    forward = plan(repo, invisible, template)  # the invisible one is the base: not validated
    assert entry(forward, "slim").status == "changed"
    backward = plan(repo, template, invisible, direct=True)
    assert [d.path for d in backward.diagnostics] == ["environments/slim/env.yaml"]
    assert backward == plan(repo, template, invisible, direct=True, cache=False)


def test_a_damaged_cache_of_renders_is_started_afresh_and_bad_rows_rendered_anew(
    repo: Path, git: Git
) -> None:
    import contextlib
    import sqlite3

    from compiler.plan.renders import RENDERS_CACHE

    base = commit(git, repo, "nothing")
    (repo / "templates").mkdir()
    tail = (PROJECT / "templates/Dockerfile.tail.j2").read_text()
    (repo / "templates/Dockerfile.tail.j2").write_text("# shared\n" + tail)
    head = commit(git, repo, "a shared template")
    expected = plan(repo, base, head, cache=False)
    cache = plan_cache(repo, RENDERS_CACHE)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    assert plan(repo, base, head) == expected
    with contextlib.closing(sqlite3.connect(cache, isolation_level=None)) as remade:
        assert remade.execute("SELECT COUNT(*) FROM renders").fetchone()[0] > 0
        # rows of a shape this envc does not read: rendered anew, and written again
        remade.execute("UPDATE renders SET value = '{\"name\": 1}'")
    assert plan(repo, base, head) == expected
    with contextlib.closing(sqlite3.connect(cache)) as rewritten:
        shapes = "SELECT COUNT(*), SUM(value LIKE '%\"address\"%') FROM renders"
        total, readable = rewritten.execute(shapes).fetchone()
        assert total > 0 and readable == total
    assert plan(repo, base, head) == expected


# A plan in a process of its own (this one may hold threads, and envc never forks then), its
# candidates rendered by two workers, forked or spawned; a forked worker inherits the recording.
PLAN_IN_WORKERS = """
import os, sys
from pathlib import Path
import compiler._util.processes as processes
import compiler.render.batch as batch
from compiler.plan.output import as_json
from compiler.plan.plan import plan

root, start, pids = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
processes.FORKED_FROM = processes.SPAWNED_FROM = 2
processes.worker_count = lambda: 2
if start == "spawn":
    processes.can_fork = lambda: False
real = batch._Batch.rendered

def recording(self, name, manifests):
    with pids.open("a") as handle:
        handle.write(f"{os.getpid()}\\\\n")
    return real(self, name, manifests)

batch._Batch.rendered = recording
print(as_json(plan(root, "HEAD")))
print(os.getpid(), file=sys.stderr)
"""


def test_worker_processes_plan_what_one_process_plans(repo: Path, git: Git, tmp_path: Path) -> None:
    """Many candidates are rendered by worker processes (forked, or spawned when the plan's
    process cannot fork): the plan is the one a single process makes, errors included."""
    import os
    import subprocess
    import sys

    from compiler.plan.output import as_json

    commit(git, repo, "nothing")
    (repo / "templates").mkdir()
    shared = (PROJECT / "templates/Dockerfile.tail.j2").read_text()
    (repo / "templates/Dockerfile.tail.j2").write_text("# shared\n" + shared)
    manifest = repo / "environments/base/env.yaml"
    manifest.write_text(manifest.read_text().replace("A: '1'", "A: '2'"))
    other = repo / "environments/other/env.yaml"
    other.write_text(other.read_text().replace("example.com/other:1", "bad image name!"))
    alone = as_json(plan(repo, "HEAD"))
    assert '"changed"' in alone and "bad image name" in alone
    pids = tmp_path / "pids"
    for start in ("fork", "spawn"):
        pids.write_text("")
        result = subprocess.run(
            [sys.executable, "-c", PLAN_IN_WORKERS, repo, start, pids],
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout == alone + "\n", start
        rendered_by = set(pids.read_text().split())
        if start == "fork":
            assert rendered_by and result.stderr.strip() not in rendered_by
        else:
            assert not rendered_by  # spawned workers rendered; the parent did not


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # quotes, controls, non-ASCII
_ENVIRONMENT_PLANS = st.builds(
    EnvironmentPlan,
    name=_TEXT,
    status=st.sampled_from(["added", "changed", "reuse", "removed", "unchanged"]),
    folder=_TEXT,
    address=st.none() | _TEXT,
    base_address=st.none() | _TEXT,
    reasons=st.lists(_TEXT, max_size=3).map(tuple),
    notes=st.lists(_TEXT, max_size=3).map(tuple),
    image=st.booleans(),
)


@given(st.lists(_ENVIRONMENT_PLANS, max_size=6), _TEXT)
def test_json_plan_is_what_json_dumps_writes(environments: list[EnvironmentPlan], ref: str) -> None:
    """The plan's JSON writes its environments without a dict each (50,000 of them): the bytes
    are json.dumps' of the documented shape, sorted keys and compact, whatever the text holds."""
    from compiler.errors import Diagnostic
    from compiler.plan.output import as_json

    diagnostic = Diagnostic(f"{ref}/env.yaml", 1, 2, f'"environments":[] {ref}', "rule")
    result = Plan(ref, "a" * 40, ref, None, False, tuple(environments), (diagnostic,))
    expected = {
        "plan_format_version": 1,
        "base": {"ref": ref, "commit": "a" * 40, "merge_base": True},
        "head": {"ref": ref, "commit": None},
        "environments": [
            {**e._asdict(), "rebuild": e.rebuild, "reasons": [*e.reasons], "notes": [*e.notes]}
            for e in sorted(environments, key=lambda e: e.name)
        ],
        "diagnostics": [diagnostic.as_dict()],
    }
    dumped = json.dumps(expected, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert as_json(result) == dumped + "\n"
