"""envc.yaml's policy: banned packages and floors checked against the committed locks (direct or
transitive, conda or pip) by envc lock --check, allowed channels and digest-pinned base images by
envc validate; exceptions with a reason and an expiry; bad rules are errors at their line."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from packaging.version import Version

from compiler.lock.policy import allowed_source, check_policy
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
    # the package as PyPI or conda may spell it: the same exception
    config.write_text(config.read_text().replace("rule: threadpoolctl", "rule: ThreadPoolCtl"))
    spelled = check_policy(locked, report.manifests, load_config(locked).policy)
    assert not any("threadpoolctl" in f.message for f in spelled)


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


def _pinned_idna_and_requests(folder: Path) -> tuple[str, str]:
    from compiler.lock.lockfiles import locked_explicit

    versions = {name: version for name, version, _ in locked_explicit(folder, "linux-64")}
    return versions["idna"], versions["requests"]


def test_floors_bound_the_solver_and_a_lock_below_one_moves_only_that_package(
    make_repo: RepoFactory,
) -> None:
    from compiler.lock.repository import lock_repository
    from tests.test_lock import MIRRORS

    manifest = (
        "schema_version: 1\nname: web\npython: '3.12'\nplatforms: [linux-64]\n"
        "conda: [requests <2.33, {spec}]\n"
    )
    root = make_repo({"environments/web/env.yaml": manifest.format(spec="idna <3.7")})
    folder = root / "environments" / "web"
    (first,) = lock_repository(root, mirrors=MIRRORS)
    assert first.status == "locked", first
    idna, requests = _pinned_idna_and_requests(folder)
    assert idna == "3.6"

    # The spec that held idna back goes: the solver keeps the locked 3.6 where it can …
    (folder / "env.yaml").write_text(manifest.format(spec="pip"))
    lock_repository(root, mirrors=MIRRORS)
    assert _pinned_idna_and_requests(folder) == ("3.6", requests)

    # … until a floor says otherwise: the fresh lock is relocked, idna alone moves.
    (root / "envc.yaml").write_text(
        "config_version: 1\npolicy:\n  floors:\n"
        "    - {package: idna, minimum: '3.7', reason: GHSA-jjg7-2v4v-x38h}\n"
    )
    policy = load_config(root).policy
    (outcome,) = lock_repository(root, mirrors=MIRRORS, policy=policy)
    assert outcome.status == "locked", outcome
    assert "idna 3.6 is below the policy floor 3.7" in outcome.reasons
    new_idna, new_requests = _pinned_idna_and_requests(folder)
    assert Version(new_idna) >= Version("3.7"), new_idna
    assert new_requests == requests
    assert any(reason.startswith("idna 3.6 -> ") for reason in outcome.reasons), outcome.reasons
    manifests = validate(root=root).manifests
    assert check_policy(root, manifests, policy) == []
    # Fresh and above its floor: nothing more to do.
    (again,) = lock_repository(root, mirrors=MIRRORS, policy=policy)
    assert again.status == "fresh"


def test_a_floor_no_version_satisfies_fails_the_lock_with_the_solver_reason(
    make_repo: RepoFactory,
) -> None:
    from compiler.lock.repository import lock_repository
    from tests.test_lock import MIRRORS

    root = make_repo(
        {
            "environments/web/env.yaml": (
                "schema_version: 1\nname: web\npython: '3.12'\nplatforms: [linux-64]\n"
                "conda: [requests]\n"
            ),
            "envc.yaml": (
                "config_version: 1\npolicy:\n  floors:\n"
                "    - {package: idna, minimum: '99', reason: nothing is this new}\n"
            ),
        }
    )
    (outcome,) = lock_repository(root, mirrors=MIRRORS, policy=load_config(root).policy)
    assert outcome.status == "failed"
    assert "idna" in " ".join(outcome.reasons)
    assert not (root / "environments" / "web" / "conda-lock.yml").exists()


WEB = "schema_version: 1\nname: web\npython: '3.12'\nplatforms: [linux-64]\nconda: [requests]\n"


def test_licenses_recorded_by_the_lock_are_checked_at_their_line(
    make_repo: RepoFactory,
) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    from compiler.lock.repository import lock_repository
    from tests.test_lock import MIRRORS

    root = make_repo({"environments/web/env.yaml": WEB})
    lock_repository(root, mirrors=MIRRORS)
    lockfile = root / "environments" / "web" / "conda-lock.yml"
    parse_conda_lock_file(lockfile)  # conda-lock still reads what envc records in it
    (root / "envc.yaml").write_text(
        "config_version: 1\npolicy:\n  licenses:\n"
        "    allow: [mit, BSD-3-Clause, ISC, PSF-2.0, Python-2.0, Apache-2.0, Zlib,\n"
        "            GPL-2.0-or-later, LGPL-2.1-or-later, bzip2-1.0.6, OpenSSL, Unlicense,\n"
        "            BSD-2-Clause, TCL, Tcl, GPL-3.0-or-later, LicenseRef-Public-Domain,\n"
        "            blessing, Apache-2.0 WITH LLVM-exception, curl, X11, MIT-0, 0BSD]\n"
        "    deny: [Apache-2.0]\n"
        "    reason: our distribution terms\n"
    )
    run = run_envc(root, "lock", "--check")
    assert run.returncode == 1, run.stdout + run.stderr
    found = [line for line in run.stdout.splitlines() if "requests is licensed" in line]
    assert len(found) == 1, run.stdout
    assert "which the policy denies: our distribution terms" in found[0]
    number = int(found[0].split(":")[1])
    assert found[0].startswith("environments/web/conda-lock.yml:")
    assert lockfile.read_text().splitlines()[number - 1].strip() == (
        "envc_license/requests: Apache-2.0"
    )
    assert "urllib3" not in run.stdout and "idna" not in run.stdout  # MIT, BSD: allowed

    (root / "envc.yaml").write_text(
        (root / "envc.yaml").read_text()
        + "  exceptions:\n"
        + "    - {environment: web, rule: licenses, reason: r, expires: 2999-01-01}\n"
    )
    assert run_envc(root, "lock", "--check").returncode == 0


@pytest.mark.parametrize(
    ("expression", "verdict"),
    [
        ("MIT", None),
        ("mit", None),
        ("MIT AND BSD-3-Clause", None),
        ("MIT AND GPL-3.0-only", "not in the policy's allow list"),
        ("GPL-3.0-only OR MIT", None),  # one allowed alternative suffices
        ("(GPL-3.0-only OR MIT) AND BSD-3-Clause", None),
        ("AGPL-3.0-only", "which the policy denies"),
        ("AGPL-3.0-only OR GPL-3.0-only", "not in the policy's allow list"),
        ("Apache-2.0 WITH LLVM-exception", None),
    ],
)
def test_license_expressions(expression: str, verdict: str | None) -> None:
    from compiler.lock.policy import license_problem
    from compiler.validate.config import LicenseRules

    rules = LicenseRules(allow=("MIT", "BSD-3-Clause", "Apache-2.0"), deny=("AGPL-3.0-only",))
    problem = license_problem(expression, rules)
    assert (problem is None) if verdict is None else (verdict in (problem or "")), problem


def test_mirrors_and_indexes_outside_the_policy(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/web/env.yaml": WEB,
            "envc.yaml": (
                "config_version: 1\n"
                "mirrors:\n  conda-forge: https://mirror.example.net/conda-forge\n"
                "pip:\n  index_url: https://pypi.internal.example.com/simple\n"
                "policy:\n"
                "  mirrors:\n    - https://mirror.example.com/\n"
                "  indexes:\n    - https://pypi.internal.example.com/simple\n"
            ),
        }
    )
    run = run_envc(root, "validate")
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        "envc.yaml:3:1: error: https://mirror.example.net/conda-forge is not one of the mirrors "
        "the policy allows (https://mirror.example.com/)"
    ) in run.stdout
    assert "pypi.internal" not in run.stdout  # allowed
    locked = run_envc(root, "lock", "--pip-index", "https://user:secret@pypi.org/simple")
    assert locked.returncode == 2, locked.stdout + locked.stderr
    assert "https://pypi.org/simple is not one of the indexes the policy allows" in locked.stderr
    assert "mirror.example.net/conda-forge is not one of the mirrors" in locked.stderr
    assert "secret" not in locked.stderr


def test_an_index_with_credentials_is_judged_by_where_it_is(make_repo: RepoFactory) -> None:
    """The policy names places, not logins: an index (envc.yaml's, or an environment's own) or
    a channel written with `${VAR}` credentials is allowed where the same URL without them is."""
    private = "https://${INDEX_USER}:${INDEX_TOKEN}@pypi.internal.example.com/simple"
    channel = "https://${CONDA_USER}:${CONDA_TOKEN}@conda.internal.example.com/ml"
    token = "https://conda.anaconda.org/t/${CONDA_TOKEN}/team"
    root = make_repo(
        {
            "environments/web/env.yaml": WEB
            + f"pip_indexes: ['{private}/team']\nchannels: ['{channel}', '{token}']\n",
            "envc.yaml": (
                f"config_version: 1\npip:\n  index_url: '{private}'\n"
                "policy:\n  indexes:\n    - https://pypi.internal.example.com/simple\n"
                "  channels:\n    - https://conda.internal.example.com/ml\n"
                "    - https://conda.anaconda.org/team\n"
            ),
        }
    )
    run = run_envc(root, "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    # The allowed host as a user name is no way in.
    allowed = ["https://pypi.internal.example.com/simple"]
    assert not allowed_source("https://pypi.internal.example.com@evil.example/simple", allowed)
    (root / "envc.yaml").write_text(
        (root / "envc.yaml").read_text().replace("internal.example.com/simple\n", "x.example/\n")
    )
    run = run_envc(root, "validate")
    assert run.returncode == 1
    assert run.stdout.count("is not one of the indexes the policy allows") == 2, run.stdout
