"""Package spec checks with the real parsers, and the cache of specs known to parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import Requirement

from compiler.validate import packages
from compiler.validate.packages import PLAIN_CONDA, PLAIN_PIP, KnownGoodSpecs, SpecChecks


def conda_spec_problem(spec: str) -> str | None:
    return SpecChecks().conda(spec)


def pip_requirement_problem(spec: str) -> str | None:
    return SpecChecks().pip(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "numpy",
        "numpy >=1.26,<3",
        "conda-forge::pytorch >=2.4 cuda*",
        "python=3.12",
        "numpy[version='>=1.2']",
        "cuda-version 12.4.*",
    ],
)
def test_real_matchspecs_pass(spec: str) -> None:
    assert conda_spec_problem(spec) is None


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (">=1.2", "missing package name"),
        ("python=3.12.*", "incompatible"),
        ("numpy >=1.2; rm -rf /", "';' is not allowed"),
        ("numpy`id`", "'`' is not allowed"),
        # conda's looser forms: refused, with the strict spelling of what they mean
        ("libblas=*=*mkl", "write it as 'libblas * *mkl'"),
        ("pytorch::pytorch=2.1=*cuda*", "write it as 'pytorch::pytorch ==2.1 *cuda*'"),
        ("python=3.12.*", "write it as 'python 3.12.*'"),
    ],
)
def test_bad_matchspecs_explain_themselves(spec: str, words: str) -> None:
    problem = conda_spec_problem(spec)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    "spec",
    [
        "requests",
        "mlflow-skinny==2.16.2",
        "torch @ https://x/t.whl",
        "azureml-mlflow>=1.57; python_version >= '3.9'",
    ],
)
def test_real_requirements_pass(spec: str) -> None:
    assert pip_requirement_problem(spec) is None


@pytest.mark.parametrize("spec", ["foo bar", "torch; rm -rf /", "pkg $(curl x)", "a | b"])
def test_bad_requirements_are_refused(spec: str) -> None:
    assert pip_requirement_problem(spec) is not None


def test_cache_remembers_only_specs_that_parsed(tmp_path: Path) -> None:
    file = tmp_path / "cache" / "specs.json"
    known = KnownGoodSpecs.load(file)
    checks = SpecChecks(known)
    assert checks.conda("conda-forge::numpy >=1.26") is None
    assert checks.conda(">=1") is not None
    assert checks.pip("requests>=2; python_version > '3'") is None
    known.save()
    stored = json.loads(file.read_text())
    assert (stored["conda"], stored["pip"]) == (
        ["conda-forge::numpy >=1.26"],
        ["requests>=2; python_version > '3'"],
    )
    assert (file.parent / ".gitignore").read_text().endswith("*\n")


def test_cached_specs_skip_the_parser_and_upgrades_invalidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "specs.json"
    first = KnownGoodSpecs.load(file)
    SpecChecks(first).conda("conda-forge::numpy >=1.26")
    first.save()

    parsed: list[str] = []
    real = packages._match_spec()

    def counting(spec: str, strict: bool) -> object:
        parsed.append(spec)
        return real(spec, strict=strict)

    monkeypatch.setattr(packages, "_match_spec", lambda: counting)
    assert SpecChecks(KnownGoodSpecs.load(file)).conda("conda-forge::numpy >=1.26") is None
    assert parsed == []
    # another parser version: the cache is not trusted, the spec is parsed again
    monkeypatch.setattr(packages, "_parsers_fingerprint", lambda: "other")
    assert SpecChecks(KnownGoodSpecs.load(file)).conda("conda-forge::numpy >=1.26") is None
    assert parsed == ["conda-forge::numpy >=1.26"]


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    file = tmp_path / "specs.json"
    for content in ["{not json", "[]", '{"format_version": 1, "parsers": 3}', "\x00"]:
        file.write_text(content)
        known = KnownGoodSpecs.load(file)
        assert not known.conda and not known.pip


@given(st.from_regex(PLAIN_CONDA, fullmatch=True))
def test_every_plain_conda_spec_is_one_rattler_takes(spec: str) -> None:
    """The specs checked without rattler (the pre-commit hook then does not import it) are
    ones its strict parser accepts: the plain form is narrower, never wider."""
    assert packages.strict_parse_error(spec) is None, spec


@given(st.from_regex(PLAIN_PIP, fullmatch=True))
def test_every_plain_requirement_is_one_packaging_takes(spec: str) -> None:
    Requirement(spec)


@pytest.mark.parametrize(
    ("kind", "spec", "plain"),
    [
        ("conda", "numpy", True),
        ("conda", "scikit-learn >=1.5,<1.7", True),
        ("conda", "pandas 2.2.*", True),
        ("conda", "numpy 1.2", False),  # rattler refuses it, and says how to write it
        ("conda", "numpy >=1.26.*", False),
        ("conda", "conda-forge::openssl >=3", False),
        ("pip", "requests[socks]>=2.32", True),
        ("pip", "pydantic>=2,<3", True),
        ("pip", "torch~=2.4", True),
        ("pip", "torch~=2", False),  # packaging refuses a compatible release of one part
        ("pip", "rich; python_version >= '3.9'", False),
    ],
)
def test_plain_specs_skip_the_parser_and_others_reach_it(
    kind: str, spec: str, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real_conda, real_pip = packages._match_spec(), packages._requirement()

    def conda(text: str, strict: bool = False) -> object:
        parsed.append(text)
        return real_conda(text, strict=strict)

    def pip(text: str) -> object:
        parsed.append(text)
        return real_pip[0](text)

    monkeypatch.setattr(packages, "_match_spec", lambda: conda)
    monkeypatch.setattr(packages, "_requirement", lambda: (pip, real_pip[1]))
    problem = SpecChecks().conda(spec) if kind == "conda" else SpecChecks().pip(spec)
    assert (parsed == []) is plain
    assert (problem is None) is (spec not in ("numpy 1.2", "numpy >=1.26.*", "torch~=2"))


@pytest.mark.parametrize(
    ("spec", "written"),
    [
        ("libblas=*=*mkl", "libblas * *mkl"),
        ("python=3.12.*", "python 3.12.*"),
        # pytorch's channel names its builds with dots, which the strict parser takes only
        # inside brackets
        (
            "pytorch::pytorch=2.1.0=py3.10_cuda12.1_cudnn8.9.2_0",
            "pytorch::pytorch ==2.1.0[build='py3.10_cuda12.1_cudnn8.9.2_0']",
        ),
        ("numpy=*=py3.10*", "numpy[build='py3.10*']"),
    ],
)
def test_conda_equals_forms_are_rewritten_into_a_form_the_strict_parser_takes(
    spec: str, written: str
) -> None:
    assert packages.strict_conda_form(spec) == written
    assert packages.strict_parse_error(written) is None
    # the same spec: the lenient parser reads the same name, version, build and channel
    read = [packages._match_spec()(text) for text in (spec, written)]
    assert len({(str(m.name), m.version or "*", m.build, str(m.channel)) for m in read}) == 1
