"""envc.yaml's policy: banned packages and floors checked against the committed locks (direct or
transitive, conda or pip) by envc lock --check, allowed channels and digest-pinned base images by
envc validate; exceptions with a reason and an expiry; bad rules are errors at their line."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from compiler.lock.policy import check_policy
from compiler.validate.config import load_config
from compiler.validate.repository import validate
from tests.conftest import PROJECT, RepoFactory, run_envc

POLICY = """\
config_version: 1
policy:
  channels: [conda-forge]
  base_images: digest
  banned:
    - package: threadpoolctl
      versions: "<3.7"
      reason: a transitive dependency of scikit-learn, banned below 3.7 here
  floors:
    - package: mlflow-skinny
      minimum: "3.10"
      reason: GHSA-aaaa-bbbb-cccc
    - package: not-locked-anywhere
      minimum: "1.0"
      reason: a rule that matches nothing
"""


@pytest.fixture
def locked(make_repo: RepoFactory) -> Path:
    root = make_repo({"envc.yaml": POLICY})
    for name in ("sklearn-cpu", "base-python"):
        shutil.copytree(PROJECT / "environments" / name, root / "environments" / name)
    return root


def test_lock_rules_at_the_lockfile_line_with_their_reason(locked: Path) -> None:
    run = run_envc(locked, "lock", "--check")
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    banned = [line for line in lines if "threadpoolctl 3.6.0 is banned (<3.7)" in line]
    assert banned and banned[0].startswith("environments/sklearn-cpu/conda-linux-64.lock:")
    line_number = int(banned[0].split(":")[1])
    lockfile = (locked / "environments/sklearn-cpu/conda-linux-64.lock").read_text()
    assert "threadpoolctl-3.6.0" in lockfile.splitlines()[line_number - 1]
    assert any(
        "requirements-linux-64.txt:" in line
        and "mlflow-skinny 3.9.0 is below the floor 3.10: GHSA-aaaa-bbbb-cccc" in line
        for line in lines
    )
    assert any(
        "warning: the policy rule on not-locked-anywhere matches no lock" in line for line in lines
    )
    assert "sklearn-cpu: fresh" in run.stdout  # the locks themselves are fresh


def test_an_exception_excuses_until_it_expires(locked: Path) -> None:
    config = locked / "envc.yaml"
    config.write_text(
        POLICY
        + "  exceptions:\n"
        + "    - environment: sklearn-cpu\n      rule: threadpoolctl\n"
        + "      reason: scikit-learn needs it; upstream fix pending\n      expires: 2099-01-01\n"
    )
    report = validate(root=locked, cwd=locked)
    policy = load_config(locked).policy
    findings = check_policy(locked, report.manifests, policy)
    assert not any("threadpoolctl" in f.message for f in findings)
    expired = check_policy(locked, report.manifests, policy, today=datetime.date(2099, 1, 2))
    assert any(
        "the policy exception for threadpoolctl expired on 2099-01-01" in f.message for f in expired
    )
    assert any("threadpoolctl 3.6.0 is banned" in f.message for f in expired)


def test_manifest_rules_in_validate(locked: Path) -> None:
    manifest = locked / "environments/sklearn-cpu/env.yaml"
    manifest.write_text(
        manifest.read_text() + "docker:\n  base_image: python:3.12-slim\n"
        if "docker:" not in manifest.read_text()
        else manifest.read_text()
    )
    (locked / "environments/other").mkdir()
    (locked / "environments/other/env.yaml").write_text(
        "schema_version: 1\nname: other\npython: '3.12'\nchannels: [bioconda]\nconda: [numpy]\n"
        "docker:\n  base_image: python:3.12-slim\n"
    )
    run = run_envc(locked, "validate")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "environments/other/env.yaml:4:1: error: other: channel bioconda is not one the " in (
        run.stdout
    )
    assert "other: base image python:3.12-slim is not pinned by digest" in run.stdout


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "  banned:\n    - package: x\n      versions: '<<1'\n      reason: r\n",
            "not a PEP 440 specifier",
        ),
        (
            "  floors:\n    - package: x\n      minimum: 'one'\n      reason: r\n",
            "not a PEP 440 version",
        ),
        ("  banned:\n    - package: x\n", 'missing required key "reason"'),
        (
            "  exceptions:\n    - {environment: a, rule: b, reason: c, expires: soon}\n",
            "is not a date, YYYY-MM-DD",
        ),
    ],
)
def test_a_bad_rule_is_an_error_at_its_line(
    make_repo: RepoFactory, rule: str, message: str
) -> None:
    root = make_repo({"envc.yaml": "config_version: 1\npolicy:\n" + rule})
    run = run_envc(root, "validate")
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert run.stderr.startswith("envc.yaml:")
