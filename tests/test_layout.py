"""The layout stays true: imports point down the pipeline, only the CLI imports click, modules
stay small, and light commands import no heavy library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "compiler"
# The pipeline, lowest first: a module may import from its own part and from parts before it.
ORDER = (
    ("__init__", "errors"),
    ("_util",),
    ("load",),
    ("manifest",),
    ("validate",),
    ("lock",),
    ("audit",),
    ("render",),
    ("plan",),
    ("build",),
    ("install",),
    ("registry",),
    ("interop",),
    ("azureml",),
    ("ci",),
    ("commands",),
    ("cli", "__main__"),
)
RANK = {part: rank for rank, parts in enumerate(ORDER) for part in parts}
MAX_MODULE_LINES = 420


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(module: str) -> str:
    """compiler.lock.pip -> lock; compiler.errors -> errors; compiler -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _module_name(file: Path) -> str:
    relative = file.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imports(file: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of compiler's own modules, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "compiler":  # from compiler import X: a part, or a name of __init__
                found += [
                    (node.lineno, f"compiler.{alias.name}" if _is_part(alias.name) else "compiler")
                    for alias in node.names
                ]
            elif node.module.startswith("compiler."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("compiler")]
    return found


def _third_party(file: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_every_part_of_the_package_has_a_place_in_the_order() -> None:
    parts = {_part(_module_name(file)) for file in _modules()}
    assert parts <= set(RANK), sorted(parts - set(RANK))


def test_imports_point_down_the_pipeline() -> None:
    upward = []
    for file in _modules():
        own = _part(_module_name(file))
        for line, module in _imports(file):
            target = _part(module)
            if target not in RANK or RANK[target] > RANK[own]:
                upward.append(f"{file.relative_to(PACKAGE.parent)}:{line}: {own} -> {module}")
    assert not upward, "\n".join(upward)


def test_the_order_check_can_fail() -> None:
    """The walk sees lazy imports inside functions, where the CLI's stages are imported."""
    source = PACKAGE / "lock" / "repository.py"
    assert any(_part(m) == "validate" for _, m in _imports(source))
    assert RANK["plan"] > RANK["lock"]  # so a lock module importing compiler.plan is caught


def test_only_the_command_line_imports_click() -> None:
    importers = {_module_name(file) for file in _modules() if "click" in _third_party(file)}
    assert importers, "the command line imports click"
    assert all(_part(m) in ("commands", "cli") for m in importers), sorted(importers)


def test_no_module_outgrows_its_responsibility() -> None:
    sizes = {
        str(file.relative_to(PACKAGE.parent)): len(file.read_text(encoding="utf-8").splitlines())
        for file in _modules()
    }
    assert {f: n for f, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_every_part_says_what_comes_in_and_what_goes_out() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, folder.name


HEAVY = ("pydantic", "jinja2", "rattler", "jsonschema", "requests", "oras", "rich")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--version"],
        ["--help"],
        ["list"],
        ["show", "base@1"],
        ["label", "base@1", "stable"],
        ["archive", "base@1"],
    ],
    ids=lambda arguments: " ".join(arguments),
)
def test_light_commands_import_no_heavy_library(tmp_path: Path, arguments: list[str]) -> None:
    """The registry's bookkeeping commands (and the help) start without pydantic, Jinja or
    py-rattler, with an envc.yaml to read, against a registry that holds a version."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "envc.yaml").write_text(
        "config_version: 1\nchannels: [conda-forge]\nregistry: sqlite:.envc/registry.db\n",
        encoding="utf-8",
    )
    _seed_registry(tmp_path)
    code, loaded = _run_and_list_imports(tmp_path, arguments, HEAVY)
    assert code in (0, None)
    assert loaded == [], loaded


def test_the_hook_on_plain_specs_imports_no_spec_parser(tmp_path: Path) -> None:
    """`envc validate FILE` without caches (a fresh clone's pre-commit hook) checks the usual
    shapes of specs without py-rattler or packaging (about 50 ms of imports each)."""
    folder = tmp_path / "environments" / "app"
    folder.mkdir(parents=True)
    (folder / "env.yaml").write_text(
        "schema_version: 1\nname: app\npython: '3.11'\nchannels: [conda-forge]\n"
        "conda: [numpy >=1.26, pandas 2.2.*, 'scikit-learn >=1.5,<1.7']\n"
        "pip: ['requests[socks]>=2.32', 'pydantic>=2,<3']\n",
        encoding="utf-8",
    )
    arguments = ["validate", "--no-cache", "environments/app/env.yaml"]
    code, loaded = _run_and_list_imports(tmp_path, arguments, ("rattler", "packaging"))
    assert code in (0, None)
    assert loaded == [], loaded


def _run_and_list_imports(
    cwd: Path, arguments: list[str], libraries: tuple[str, ...]
) -> tuple[object, list[str]]:
    """envc's exit code for `arguments`, run in a new interpreter in `cwd`, and the modules of
    `libraries` it imported."""
    probe = (
        "import sys, json\n"
        "from compiler.cli import main\n"
        "try:\n"
        f"    main({arguments!r}, prog_name='envc')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {libraries!r})\n"
        "print(json.dumps([code, loaded]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=False
    )
    code, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    return code, loaded


def _seed_registry(root: Path) -> None:
    from compiler.registry.base import Candidate, open_registry

    registry = open_registry("sqlite:.envc/registry.db", root)
    try:
        registry.register(Candidate(name="base", content_address="sha256:" + "a" * 64, manifest={}))
    finally:
        registry.close()
