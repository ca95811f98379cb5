"""SBOMs written by envc render from the locks: CycloneDX 1.6 that CycloneDX's own schema accepts
(checked with cyclonedx-python-lib), every locked package with the lock's hashes and a package
URL, licenses as the channel records them, the base image, conda's dependency graph, and the
same bytes from every render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from compiler.lock.lockfiles import read_header
from compiler.lock.pip import PipIndex, write_wheel
from compiler.lock.repository import lock_repository
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import RepoFactory
from tests.test_lock import CHANNELS, MIRRORS

DIGEST = "sha256:" + "ab" * 32
ML = (
    "schema_version: 1\nname: ml\npython: '3.12'\nconda: [numpy, pip]\npip: [alpha]\n"
    f"docker:\n  base_image: registry.example.com:5000/base/runtime:1.2@{DIGEST}\n"
)
HOST = (
    "schema_version: 1\nname: host\npython: '3.12'\nconda: [numpy]\n"
    "platforms: [linux-64, osx-arm64]\ndocker:\n  enabled: false\n"
)


@pytest.fixture
def rendered(make_repo: RepoFactory, tmp_path: Path) -> Path:
    root = make_repo({"environments/ml/env.yaml": ML, "environments/host/env.yaml": HOST})
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0", ("beta>=2",))
    write_wheel(wheels, "beta", "2.1")
    lock_repository(root, mirrors=MIRRORS, pip_index=PipIndex(find_links=(str(wheels),)))
    outcomes = render_repository(root, validate(root=root).manifests)
    assert {o.status for o in outcomes} == {"rendered"}, outcomes
    return root


def sbom(root: Path, name: str, file: str = "sbom.cdx.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((root / "build" / name / file).read_text())
    return document


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["components"]}


def channel_licenses() -> dict[tuple[str, str, str], str]:
    """(name, version, build) -> license, read from the channel snapshot itself."""
    found = {}
    for subdir in ("linux-64", "noarch", "osx-arm64"):
        repodata = json.loads((CHANNELS / "conda-forge" / subdir / "repodata.json").read_text())
        for record in (*repodata["packages"].values(), *repodata["packages.conda"].values()):
            found[(record["name"], record["version"], record["build"])] = record.get("license")
    return found


def test_every_sbom_is_valid_cyclonedx(rendered: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    files = sorted((rendered / "build").rglob("sbom*.cdx.json"))
    assert [f.relative_to(rendered / "build").as_posix() for f in files] == [
        "host/sbom-linux-64.cdx.json",
        "host/sbom-osx-arm64.cdx.json",
        "ml/sbom.cdx.json",
    ]
    for file in files:
        assert validator.validate_str(file.read_text()) is None, file


def test_components_carry_the_locks_hashes_purls_and_licenses(rendered: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    document = sbom(rendered, "ml")
    components = by_name(document)
    locked = [
        p
        for p in parse_conda_lock_file(rendered / "environments/ml/conda-lock.yml").package
        if p.platform == "linux-64" and p.manager == "conda"
    ]
    licenses = channel_licenses()
    assert locked
    for package in locked:
        component = components[package.name]
        assert component["version"] == package.version
        hashes = {h["alg"]: h["content"] for h in component["hashes"]}
        assert hashes == {"SHA-256": package.hash.sha256, "MD5": package.hash.md5}
        purl = PackageURL.from_string(component["purl"])
        build = package.url.rsplit("/", 1)[-1].rsplit("-", 1)[-1].split(".")[0]
        assert (purl.type, purl.name, purl.version) == ("conda", package.name, package.version)
        assert purl.qualifiers["subdir"] == package.url.split("/")[-2]
        assert purl.qualifiers["build"] == build and purl.qualifiers["channel"] == "conda-forge"
        assert component["externalReferences"] == [{"type": "distribution", "url": package.url}]
        license_text = licenses[(package.name, package.version, build)]
        if license_text and license_text != "None":
            assert component["licenses"] == [{"license": {"name": license_text}}]
    numpy = components["numpy"]
    assert "licenses" in numpy  # the snapshot records numpy's license
    # pip: both packages, with the hash the hashed requirements hold for the wheel
    read = read_header(rendered / "environments/ml/requirements-linux-64.txt")
    assert read is not None
    for name, version in (("alpha", "1.0"), ("beta", "2.1")):
        component = components[name]
        assert component["purl"] == f"pkg:pypi/{name}@{version}"
        [digest] = [h["content"] for h in component["hashes"]]
        assert f"--hash=sha256:{digest}" in read[1]


def test_base_image_dependency_graph_and_the_environment_itself(rendered: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    document = sbom(rendered, "ml")
    image = next(c for c in document["components"] if c["type"] == "container")
    assert image["name"] == "registry.example.com:5000/base/runtime"
    assert image["version"] == DIGEST
    purl = PackageURL.from_string(image["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "runtime", DIGEST)
    assert purl.qualifiers == {
        "repository_url": "registry.example.com:5000/base/runtime",
        "tag": "1.2",
    }
    assert document["metadata"]["component"] == {
        "type": "container",
        "bom-ref": "envc:ml",
        "name": "ml",
    }
    graph = {d["ref"]: set(d["dependsOn"]) for d in document["dependencies"]}
    refs = {c["name"]: c["bom-ref"] for c in document["components"]}
    # what the manifest asks for, and the base image
    assert {refs["numpy"], refs["pip"], refs["alpha"], "base-image"} <= graph["envc:ml"]
    assert refs["beta"] not in graph["envc:ml"]  # transitive: alpha needs it
    numpy = next(
        p
        for p in parse_conda_lock_file(rendered / "environments/ml/conda-lock.yml").package
        if p.name == "numpy" and p.platform == "linux-64" and p.manager == "conda"
    )
    assert {refs[name] for name in numpy.dependencies if name in refs} == graph[refs["numpy"]]
    assert graph[refs["numpy"]]  # numpy does depend on something locked


def test_without_docker_one_sbom_per_platform_and_no_image(rendered: Path) -> None:
    for platform in ("linux-64", "osx-arm64"):
        document = sbom(rendered, "host", f"sbom-{platform}.cdx.json")
        assert all(c["type"] == "library" for c in document["components"])
        subdirs = {
            PackageURL.from_string(c["purl"]).qualifiers["subdir"] for c in document["components"]
        }
        assert subdirs == {platform, "noarch"}
        assert document["metadata"]["component"]["type"] == "application"


def test_the_same_locks_give_the_same_bytes(rendered: Path, tmp_path: Path) -> None:
    manifests = validate(root=rendered).manifests
    render_repository(rendered, manifests, out=tmp_path / "again")
    for file in (rendered / "build").rglob("sbom*.cdx.json"):
        relative = file.relative_to(rendered / "build")
        assert (tmp_path / "again" / relative).read_bytes() == file.read_bytes()
    text = (rendered / "build/ml/sbom.cdx.json").read_text()
    assert "timestamp" not in text and "cyclonedx-python-lib" not in text


def test_an_sbom_is_its_content_in_canonical_json(rendered: Path) -> None:
    """Each SBOM is assembled from components encoded once per process: the bytes must be what
    json.dumps writes of the whole document (compact, keys sorted), components by bom-ref."""
    files = sorted((rendered / "build").rglob("sbom*.cdx.json"))
    assert len(files) == 3  # ml, host for linux-64 and osx-arm64
    for file in files:
        text = file.read_text()
        document = json.loads(text)
        canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert text == canonical + "\n", file
        references = [component["bom-ref"] for component in document["components"]]
        assert references == sorted(references)


def test_pip_packages_read_as_tomllib_reads_them() -> None:
    """The fast reader of uv's pylock.toml agrees with tomllib on every bundled lock, and
    leaves anything of another shape to tomllib."""
    import tomllib

    from compiler.lock.lockfiles import _scanned_pylock
    from tests.conftest import PROJECT

    files = sorted((PROJECT / "environments").glob("*/pylock.*.toml"))
    assert files
    for file in files:
        read = read_header(file)
        assert read is not None
        expected = [
            (p["name"], p["version"], [(w["url"], w["hashes"]["sha256"]) for w in p["wheels"]])
            for p in tomllib.loads(read[1])["packages"]
        ]
        assert _scanned_pylock(read[1]) == expected, file
    odd = (
        '\n[[packages]]\nname = "x"\nversion = "1"\n'
        'archive = { url = "https://example.com/x.zip", hashes = { sha256 = "'
        + "0" * 64
        + '" } }\n'
    )
    assert _scanned_pylock(odd) is None
    escaped = '\n[[packages]]\nname = "x\\"y"\nversion = "1"\n'
    assert _scanned_pylock(escaped) is None


def test_conda_packages_read_as_py_rattler_reads_them(rendered: Path) -> None:
    """The fast reader of conda-lock.yml agrees with py-rattler's on every bundled lock and the
    locks made here, and leaves a file of another shape to py-rattler."""
    from compiler.lock.lockfiles import conda_lock_entries
    from compiler.render.sbom import _conda_records
    from tests.conftest import PROJECT

    files = [
        *sorted((PROJECT / "environments").glob("*/conda-lock.yml")),
        *sorted((rendered / "environments").glob("*/conda-lock.yml")),
    ]
    assert len(files) >= 5
    for file in files:
        text = file.read_text()
        scanned = conda_lock_entries(text)
        assert scanned is not None, file
        read = _conda_records(str(file), text)
        assert {p: sorted(e, key=lambda r: r.url) for p, e in scanned.items()} == {
            p: sorted(e, key=lambda r: r.url) for p, e in read.items()
        }, file
    text = files[0].read_text()
    odd = text.replace("  manager: conda\n  name:", "  manager: conda\n  extra: 1\n  name:", 1)
    assert conda_lock_entries(odd) is None


LICENSE_LINE_PIECES = [
    "    envc_license/numpy: BSD-3-Clause",
    "    envc_license/odd: 'it''s: MIT'",
    '    envc_license/quoted: "Apache-2.0 \\u00e9"',
    "    envc_license/bare",
    "  envc_license/not-indented-enough: MIT",
    "metadata:",
    "\r",
    "\x85",
    "\u2028",
    "\x0b",
    "\n",
    "    ",
]


@given(st.lists(st.sampled_from(LICENSE_LINE_PIECES), max_size=30))
@settings(max_examples=300, deadline=None)
def test_license_lines_are_found_as_a_line_by_line_reading_finds_them(pieces: list[str]) -> None:
    """locked_licenses scans with one regular expression when the text breaks lines only at
    "\\n": every text must give what reading str.splitlines()' lines one by one gives."""
    import json as json_module

    from compiler.lock.lockfiles import LICENSE_KEY, locked_licenses

    text = "\n".join(pieces)
    marker = f"    {LICENSE_KEY}"
    expected = {}
    for line in text.splitlines():
        if line.startswith(marker):
            name, _, value = line[len(marker) :].partition(": ")
            if value.startswith("'") and value.endswith("'") and len(value) > 1:
                value = value[1:-1].replace("''", "'")
            elif value.startswith('"'):
                value = json_module.loads(value)
            expected[name] = value
    assert locked_licenses(text) == expected
