"""README.md starts with the two set-up commands, and CI runs exactly the second one."""

from __future__ import annotations

import re

from tests.conftest import PROJECT


def setup_commands() -> list[str]:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block, "README.md opens with a sh block"
    assert readme.index("```sh") < readme.index("## "), "the commands come first"
    return block.group(1).strip().splitlines()


def test_readme_has_exactly_two_setup_commands() -> None:
    main_job, tests = setup_commands()
    assert main_job.endswith("envc validate")
    assert "pytest" in tests and "[test]" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (PROJECT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == setup_commands()[1]
