"""The OCI registry backend against a real registry: Debian's docker-registry (distribution 2.8)
started here on 127.0.0.1 with throwaway storage."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from compiler.cli import main
from compiler.errors import UsageError
from compiler.registry.base import Candidate, RegistryError, open_registry
from compiler.registry.oci import OciRegistry
from tests.conftest import PROJECT
from tests.gitrepos import Git, commit
from tests.oci_server import Server, guarded_registry
from tests.registry_workers import address, answers, assert_contiguous, start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("oci"))
    running.start()
    yield running
    running.stop()


@pytest.fixture
def url(server: Server, request: pytest.FixtureRequest) -> str:
    """A registry URL of its own for each test (a path prefix on the shared server)."""
    return f"oci://{server.host}/t{abs(hash(request.node.name)) % 10**8}"


def candidate(name: str, number: int, **extra: object) -> Candidate:
    return Candidate(name, address(number), {"name": name}, **extra)  # type: ignore[arg-type]


def test_versions_labels_archive_and_listing(url: str) -> None:
    registry = open_registry(url, PROJECT, plain_http=True)
    first = registry.register(
        candidate("a", 1, context={"Dockerfile": "FROM x\n"}, image_repository="img/a")
    )
    assert (first.record.version, first.created, first.record.image) == (1, True, "img/a:1")
    again = registry.register(candidate("a", 1))
    assert (again.record.version, again.created) == (1, False)
    assert registry.register(candidate("a", 2)).record.version == 2
    assert registry.register(candidate("b", 7)).record.version == 1
    assert registry.find("a", address(2)).version == 2  # type: ignore[union-attr]
    assert registry.find("a", address(9)) is None
    assert registry.get("a").labels == ("latest",)
    registry.label("a", 1, "prod")
    assert registry.get("a", label="prod").version == 1
    registry.archive("a", 2)
    assert registry.get("a").version == 1
    assert [(r.name, r.version) for r in registry.versions()] == [("a", 1), ("b", 1)]
    assert [r.version for r in registry.versions("a", archived=True)] == [1, 2]
    assert registry.register(candidate("a", 3)).record.version == 3  # 2 is never reused
    with pytest.raises(RegistryError, match="a@9 is not registered"):
        registry.get("a", 9)
    with pytest.raises(RegistryError, match="taken by content address"):
        registry.register(candidate("a", 4, requested_version=1))
    assert registry.register(candidate("a", 5, requested_version=10)).record.version == 10


def test_the_artifact_holds_the_record_and_the_build_context(url: str, server: Server) -> None:
    registry = open_registry(url, PROJECT, plain_http=True)
    context = {"Dockerfile": "FROM x\n", "conda-linux-64.lock": "@EXPLICIT\n"}
    registry.register(candidate("ctx", 1, context=context, commit="ab" * 20))
    assert isinstance(registry, OciRegistry)
    manifest = requests.get(
        f"http://{server.host}/v2/{registry.path}/ctx/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).json()
    titles = [
        layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]
    ]
    assert sorted(titles) == sorted(context)
    assert manifest["config"]["mediaType"] == "application/vnd.envc.environment.v1+json"
    assert manifest["annotations"]["dev.envc.content-address"] == address(1)
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "ab" * 20


def test_a_registration_cut_off_after_its_claim_is_redone_by_the_next(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = open_registry(url, PROJECT, plain_http=True)
    assert isinstance(registry, OciRegistry)

    def registry_goes_away(*args: object) -> None:
        raise UsageError("cannot reach the registry")

    with monkeypatch.context() as patch:
        patch.setattr(OciRegistry, "_tag", registry_goes_away)
        with pytest.raises(UsageError):
            registry.register(candidate("cut", 1))
    assert registry.versions("cut") == []  # nothing half-done is visible
    # Once the claim is older than STALE_SECONDS (by the registry's clock), the next
    # registration of the address drops it and registers the address again.
    monkeypatch.setattr("compiler.registry.oci.STALE_SECONDS", 0)
    finished = registry.register(candidate("cut", 1))
    assert (finished.record.version, finished.created) == (1, True)
    assert registry.register(candidate("cut", 2)).record.version == 2


def test_a_writer_stopped_between_its_two_tags_never_loses_its_version(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer tags N, then dies before the address tag (a kill, a dropped connection): N is
    readable, a retry of the same address answers N (and puts the address tag back), plan's
    look-up never calls an unreadable version `reuse`, and the next address gets N+1."""
    registry = open_registry(url, PROJECT, plain_http=True)
    assert isinstance(registry, OciRegistry)
    real_tag = OciRegistry._tag

    def dies_at_the_address_tag(self: OciRegistry, name: str, tag: str, manifest: bytes) -> None:
        if tag.startswith("sha256-"):
            raise UsageError("the connection dropped")
        real_tag(self, name, tag, manifest)

    registry.register(candidate("cut", 1))
    with monkeypatch.context() as patch:
        patch.setattr(OciRegistry, "_tag", dies_at_the_address_tag)
        with pytest.raises(UsageError):
            registry.register(candidate("cut", 2))
    assert registry.get("cut", 2).content_address == address(2)  # N is whole and readable
    found = registry.find("cut", address(2))  # plan's look-up: read-only, still right
    assert found is not None and found.version == 2
    again = registry.register(candidate("cut", 2))
    assert (again.record.version, again.created) == (2, False)
    assert registry.register(candidate("cut", 3)).record.version == 3
    assert [r.version for r in registry.versions("cut")] == [1, 2, 3]


def test_a_version_tag_listed_before_it_can_be_read_is_waited_for_not_skipped(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """distribution 2.8 lists a tag while its PUT is still running, and answers 404 for it. A
    second writer of the same address that looked then (N listed, unreadable; the address tag
    not yet there) took N + 1: one address, two versions (seen with 32 writers on a loaded
    machine). It waits, and then answers N."""
    registry = open_registry(url, PROJECT, plain_http=True)
    assert isinstance(registry, OciRegistry)
    first = registry.register(candidate("flux", 1))
    real_tags, real_manifest = OciRegistry._tags, OciRegistry._manifest
    looks: list[str] = []

    def tags_between_the_two_tags(self: OciRegistry, name: str) -> list[str]:
        listed = real_tags(self, name)
        looks.append("tags")
        if len(looks) == 1:  # the first look: N listed, the address tag not yet
            listed = [t for t in listed if t != "sha256-" + address(1).removeprefix("sha256:")]
        return listed

    def n_not_readable_yet(self: OciRegistry, name: str, reference: str) -> Any:
        if reference == "1" and len(looks) == 1:
            return None
        return real_manifest(self, name, reference)

    monkeypatch.setattr(OciRegistry, "_tags", tags_between_the_two_tags)
    monkeypatch.setattr(OciRegistry, "_manifest", n_not_readable_yet)
    monkeypatch.setattr("compiler.registry.oci._wait", lambda attempt: None)
    again = open_registry(url, PROJECT, plain_http=True).register(candidate("flux", 1))
    assert (again.record.version, again.created) == (first.record.version, False)
    assert len(looks) >= 2  # it looked again rather than taking a number
    monkeypatch.undo()
    assert [r.version for r in registry.versions("flux")] == [1]


def test_an_address_tag_without_its_version_is_not_an_acknowledgement(url: str) -> None:
    """What the old order could leave (the address tagged, N never): not registered, not reuse."""
    registry = open_registry(url, PROJECT, plain_http=True)
    assert isinstance(registry, OciRegistry)
    registry.register(candidate("old", 1))
    first = registry._manifest("old", "1")
    assert first is not None
    registry._tag("old", "sha256-" + address(2).removeprefix("sha256:"), first[0])
    assert registry.find("old", address(2)) is None  # it points at version 1's record


def test_32_concurrent_writers_on_a_real_registry(url: str) -> None:
    pool = [(f"env-{n}", address(a)) for n in range(3) for a in range(6)]
    rng = random.Random(3)
    given = answers([start(url, rng.sample(pool, 6)) for _ in range(32)])
    registry = open_registry(url, PROJECT, plain_http=True)
    stored = {(r.name, r.content_address): r.version for r in registry.versions()}
    assert {key: {version} for key, version in stored.items()} == given
    assert_contiguous(stored)


def test_register_all_and_find_all_work_on_several_names_at_once_each_in_order(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dozen requests in a row per registration: register_all runs names side by side (a
    remote registry's round trips set the pace), each name's candidates in their order, the
    answers in the candidates' order; a failing candidate stops only what follows it of its
    name, and its error comes once the others are done."""
    from compiler.registry.distribution import Distribution

    in_flight, most = [0], [0]
    real = Distribution.request

    def counted(self: Distribution, method: str, address_: str, **kwargs: Any) -> Any:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        try:
            return real(self, method, address_, **kwargs)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(Distribution, "request", counted)
    registry = open_registry(url, PROJECT, plain_http=True)
    names = [f"env-{n}" for n in range(6)]
    wanted = [candidate(name, 10 * n + k) for k in range(2) for n, name in enumerate(names)]
    got = registry.register_all(wanted)
    assert [(r.record.name, r.record.version, r.created) for r in got] == [
        (name, 1 + k, True) for k in range(2) for name in names
    ]
    assert [r.record.content_address for r in got] == [c.content_address for c in wanted]
    assert most[0] > 1  # names were registered side by side
    found = registry.find_all([(c.name, c.content_address) for c in wanted] + [("env-0", "x")])
    assert [r and (r.name, r.version) for r in found] == [
        (r.record.name, r.record.version) for r in got
    ] + [None]
    # again: nothing new; a taken version fails its candidate and the next of its name only
    again = [candidate("env-0", 0), candidate("env-1", 99, requested_version=1)]
    again += [candidate("env-1", 98), candidate("env-2", 97)]
    with pytest.raises(RegistryError, match=r"env-1: version 1 .* is taken"):
        registry.register_all(again)
    stored = {(r.name, r.content_address) for r in registry.versions()}
    assert ("env-2", address(97)) in stored
    assert ("env-1", address(98)) not in stored


def test_a_registry_that_is_down_is_a_quick_usage_error(
    tmp_path: Path, repo: Path, git: Git
) -> None:
    down = Server(tmp_path)  # never started: nothing listens on its port
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        ["register", "--registry", f"oci://{down.host}/envs", "--plain-http", "--repo", str(repo)],
    )
    assert result.exit_code == 2 and "cannot reach the registry" in result.output
    assert time.monotonic() - started < 10
    tls = CliRunner().invoke(
        main, ["list", "--registry", f"oci://{down.host}/envs", "--repo", str(repo)]
    )
    assert tls.exit_code == 2


def test_plain_http_only_when_asked(url: str, server: Server) -> None:
    with pytest.raises(UsageError, match="--plain-http"):
        open_registry(url, PROJECT).versions()


def test_register_and_plan_reuse_through_the_command_line(url: str, repo: Path, git: Git) -> None:
    runner = CliRunner()
    options = ["--registry", url, "--plain-http", "--repo", str(repo)]
    registered = runner.invoke(main, ["register", "other", "--format", "json", *options])
    assert registered.exit_code == 0, registered.output
    assert json.loads(registered.output)[0]["version"] == 1
    other = repo / "environments/other/env.yaml"
    original = other.read_text()
    other.write_text(original.replace("other:1", "other:2"))
    commit(git, repo, "other 2")
    assert runner.invoke(main, ["register", "other", *options]).exit_code == 0
    other.write_text(original)
    commit(git, repo, "back to other 1")
    planned = runner.invoke(main, ["plan", "--base", "HEAD~1", *options])
    assert planned.output.splitlines()[1].split()[:2] == ["reuse", "other"]
    assert "registered as other@1" in planned.output
    listed = runner.invoke(main, ["list", "--format", "json", *options])
    assert [(r["name"], r["version"]) for r in json.loads(listed.output)] == [
        ("other", 1),
        ("other", 2),
    ]


def test_credentials_from_the_environment_or_docker_config_and_never_shown(
    tmp_path: Path, repo: Path, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cret-Passw0rd"
    with guarded_registry(tmp_path / "guarded", "ci", secret) as guarded:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
        options = ["--registry", f"oci://{guarded.host}/envs", "--plain-http", "--repo", str(repo)]
        refused = CliRunner().invoke(main, ["register", "other", *options])
        assert refused.exit_code == 2 and "refused" in refused.output

        monkeypatch.setenv("ENVC_REGISTRY_USERNAME", "ci")
        monkeypatch.setenv("ENVC_REGISTRY_PASSWORD", secret)
        unlisted = CliRunner().invoke(main, ["register", "other", *options])
        assert unlisted.exit_code == 2 and "ENVC_CREDENTIAL_HOSTS does not list" in unlisted.output
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", guarded.host)
        accepted = CliRunner().invoke(main, ["register", "other", "--format", "json", *options])
        assert accepted.exit_code == 0, accepted.output
        shown = CliRunner().invoke(main, ["show", "other", "--format", "json", *options])
        assert secret not in accepted.output + shown.output
        stored = b"".join(p.read_bytes() for p in guarded.folder.rglob("*") if p.is_file())
        assert secret.encode() not in stored

        monkeypatch.delenv("ENVC_REGISTRY_USERNAME")
        monkeypatch.delenv("ENVC_REGISTRY_PASSWORD")
        docker = tmp_path / "docker"
        docker.mkdir()
        token = base64.b64encode(f"ci:{secret}".encode()).decode()
        (docker / "config.json").write_text(json.dumps({"auths": {guarded.host: {"auth": token}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(docker))
        listed = CliRunner().invoke(main, ["list", "--format", "json", *options])
        assert listed.exit_code == 0, listed.output
        assert [r["name"] for r in json.loads(listed.output)] == ["other"]


@pytest.mark.parametrize("fault", ["drop", "hang", "garbage", "trickle", "delay"])
@pytest.mark.parametrize("command", ["list", "show env-0", "register"])
def test_a_faulty_registry_is_a_bounded_usage_error_and_loses_nothing(
    server: Server, url: str, monkeypatch: pytest.MonkeyPatch, fault: str, command: str
) -> None:
    """Through a proxy that drops, hangs, answers garbage, trickles or delays: exit 2 naming the
    registry within the deadline (delay: it works), and what was registered stays exactly so."""
    import time as clock

    from tests.fault_proxy import fault_proxy

    monkeypatch.setattr("compiler.registry.distribution.TIMEOUT_SECONDS", 1)
    monkeypatch.setattr("compiler.registry.distribution.REQUEST_DEADLINE_SECONDS", 2)
    registry = open_registry(url, PROJECT, plain_http=True)
    registry.register(candidate("env-0", 1))
    path = url.split("/", 3)[3]
    with fault_proxy(server.host, fault) as proxy:
        proxied = f"oci://{proxy}/{path}"
        started = clock.monotonic()
        if command == "register":
            try:
                faulty = open_registry(proxied, PROJECT, plain_http=True)
                outcome = faulty.register(candidate("env-0", 2))
            except UsageError as exc:
                assert proxy in str(exc)
                outcome = None
            code = 0 if outcome is not None else 2
        else:
            result = CliRunner().invoke(
                main,
                [*command.split(), "--registry", proxied, "--plain-http", "--repo", str(PROJECT)],
            )
            code = result.exit_code
            assert "Traceback" not in result.output
            if code:
                assert proxy in result.output, result.output
        elapsed = clock.monotonic() - started
    assert code == (0 if fault == "delay" else 2), (fault, command)
    assert elapsed < 30, elapsed
    # nothing half-registered: env-0 is 1 (and 2 only if that registration was acknowledged)
    versions = [r.version for r in registry.versions("env-0")]
    assert versions == ([1, 2] if command == "register" and code == 0 else [1]), versions


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from compiler.registry.base import Candidate, open_registry
from compiler.registry.distribution import Distribution
put, after = Distribution.put_manifest, int(sys.argv[2])
count = [0]
def killed_after(self, repository, reference, manifest):
    put(self, repository, reference, manifest)
    count[0] += 1
    if count[0] == after:
        os.kill(os.getpid(), signal.SIGKILL)
Distribution.put_manifest = killed_after
registry = open_registry(sys.argv[1], Path("."), plain_http=True)
registry.register(Candidate("killed", sys.argv[3], {"name": "killed"}))
"""


@pytest.mark.parametrize("after", [1, 2, 3])
def test_a_writer_killed_after_each_write_loses_and_doubles_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    """SIGKILL right after the claim, the version tag or the address tag lands: the next writer
    of that address gets one version for it (the same N once N was tagged), numbers stay
    contiguous, and no address is registered twice."""
    import subprocess
    import sys

    registry = open_registry(url, PROJECT, plain_http=True)
    registry.register(candidate("killed", 1))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, url, str(after), address(2)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    monkeypatch.setattr("compiler.registry.oci.STALE_SECONDS", 0)  # the dead claim is abandoned
    again = registry.register(candidate("killed", 2))
    assert again.record.version == 2
    assert again.created == (after == 1)  # tagged N: already registered, finished by the next
    assert registry.register(candidate("killed", 3)).record.version == 3
    records = registry.versions("killed")
    assert [r.version for r in records] == [1, 2, 3]
    assert [r.content_address for r in records] == [address(1), address(2), address(3)]


def test_a_record_envc_cannot_read_is_a_usage_error(url: str) -> None:
    """A version whose manifest or record someone else wrote (missing fields, not JSON)."""
    from compiler.registry.oci import CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE

    registry = open_registry(url, PROJECT, plain_http=True)
    assert isinstance(registry, OciRegistry)
    repository = registry._repository("bad")
    for number, config in enumerate([b'{"name": "bad"}', b"[1, 2]", b"not json"], start=1):
        descriptor = registry.http.push_blob(repository, config, CONFIG_MEDIA_TYPE)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": descriptor}
        registry.http.put_manifest(repository, str(number), json.dumps(manifest).encode())
        with pytest.raises(UsageError, match=r"cannot read|malformed|not JSON"):
            registry.get("bad", number)


def test_the_sbom_is_an_artifact_referring_to_the_version(url: str, server: Server) -> None:
    registry = open_registry(url, PROJECT, plain_http=True)
    sbom = '{"bomFormat": "CycloneDX", "specVersion": "1.6"}\n'
    context = {"Dockerfile": "FROM x\n", "sbom.cdx.json": sbom}
    registry.register(candidate("sb", 1, context=context))
    assert isinstance(registry, OciRegistry)
    base = f"http://{server.host}/v2/{registry.path}/sb"
    version = requests.get(
        f"{base}/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    subject = version.headers["Docker-Content-Digest"]
    # distribution 2.8 has no referrers API: the spec's fallback tag lists the artifact
    index = requests.get(
        f"{base}/manifests/{subject.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    ).json()
    [listed] = index["manifests"]
    assert listed["artifactType"] == "application/vnd.cyclonedx+json"
    artifact = requests.get(
        f"{base}/manifests/{listed['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).json()
    assert artifact["subject"]["digest"] == subject
    assert artifact["subject"]["size"] == len(version.content)
    [layer] = artifact["layers"]
    assert layer["annotations"]["org.opencontainers.image.title"] == "sbom.cdx.json"
    blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=10)
    assert blob.text == sbom
    assert registry.sboms("sb", 1) == {"sbom.cdx.json": sbom.encode()}  # as envc show reads it
    # registering the same content again attaches nothing more
    assert not registry.register(candidate("sb", 1, context=context)).created
    again = requests.get(
        f"{base}/manifests/{subject.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    ).json()
    assert again == index
    # and a registration that stopped before attaching is completed by the next
    from compiler.registry.referrers import referrers

    registry.register(candidate("sb2", 2, context={"Dockerfile": "FROM x\n"}))
    assert not registry.register(candidate("sb2", 2, context=context)).created
    sb2 = requests.get(
        f"{base}2/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).headers["Docker-Content-Digest"]
    assert len(referrers(registry.http, f"{registry.path}/sb2", sb2)) == 1
