"""${VAR} credentials in URLs: filled percent-encoded where they are credentials, redacted in
everything envc prints."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from compiler._util.credentials import expand, expand_url, for_display
from compiler.errors import UsageError
from compiler.lock.logins import ChannelLogins, PackageSources

AWKWARD = "p/ss#w?rd@x:y%z"


def test_a_secret_in_the_user_info_is_percent_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_USER", "alice")
    monkeypatch.setenv("CHANNEL_TOKEN", AWKWARD)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "conda.example.com")
    url, secrets = expand_url(
        "https://${CHANNEL_USER}:${CHANNEL_TOKEN}@conda.example.com/private", "channel"
    )
    parts = urlsplit(url)
    assert (parts.hostname, parts.path) == ("conda.example.com", "/private")
    assert unquote(parts.password or "") == AWKWARD and parts.username == "alice"
    assert AWKWARD in secrets and url.split("@")[0].split(":")[-1] in secrets


def test_an_anaconda_token_in_the_path_is_percent_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANACONDA_TOKEN", AWKWARD)
    monkeypatch.setenv("MIRROR", "https://mirror.example.com")
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "other.example.com, MIRROR.example.com")
    url, _ = expand_url("${MIRROR}/t/${ANACONDA_TOKEN}/private", "channel")
    assert url.startswith("https://mirror.example.com/t/")  # a base URL is not encoded
    token = url.removeprefix("https://mirror.example.com/t/").removesuffix("/private")
    assert "/" not in token and unquote(token) == AWKWARD


@pytest.mark.parametrize(
    ("url", "listed", "sent"),
    [
        ("https://${T}@conda.example.com/x", "conda.example.com", True),
        ("https://${T}@conda.example.com:8443/x", "conda.example.com", True),  # any port
        ("https://${T}@conda.example.com:8443/x", "conda.example.com:443", False),
        ("https://conda.example.com/t/${T}/x", "example.com", False),  # no suffix matching
        ("https://${T}@conda.example.com.evil.test/x", "conda.example.com", False),
        ("https://${T}@evil.test/conda.example.com/x", "conda.example.com", False),
        ("${T}", "conda.example.com", False),  # no host to tell
        ("https://${T}@conda.example.com/x", "", False),  # nothing listed: nowhere
        ("file:///srv/${T}/channel", "", True),  # sent to no host
    ],
)
def test_a_placeholder_is_filled_only_for_a_host_the_environment_lists(
    monkeypatch: pytest.MonkeyPatch, url: str, listed: str, sent: bool
) -> None:
    monkeypatch.setenv("T", "s3cret")
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", listed)
    if sent:
        assert "s3cret" in expand_url(url, "channel")[0]
        return
    with pytest.raises(
        UsageError, match=r"\$\{T\} would be sent to .*ENVC_CREDENTIAL_HOSTS"
    ) as caught:
        expand_url(url, "channel")
    assert "s3cret" not in str(caught.value)


def test_registry_credentials_go_only_to_a_listed_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWORD", "s3cret")
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "registry.example.com")
    assert expand(["${PASSWORD}"], "login", "registry.example.com:5000")[0] == ["s3cret"]
    with pytest.raises(UsageError, match=r"would be sent to evil\.test"):
        expand(["${PASSWORD}"], "login", "evil.test")
    assert expand(["plain"], "login", "evil.test")[0] == ["plain"]  # nothing secret to send


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("https://alice:S3CRET@host/x", "S3CRET"),
        ("see -ihttps://bob:S3CRET@pypi.example.com/simple", "S3CRET"),
        ("https://conda.anaconda.org/t/S3CRET/private", "S3CRET"),
        ("https://tok-S3CRET@host/x", "S3CRET"),
    ],
)
def test_printed_text_never_holds_a_credential(text: str, hidden: str) -> None:
    assert hidden not in for_display(text)


def test_placeholders_are_shown_as_written() -> None:
    text = "https://${USER}:${TOKEN}@host/t/${ANACONDA_TOKEN}/x"
    assert for_display(text) == text


def test_channel_credentials_become_logins_per_host_and_leave_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "conda.example.com,mirror.example.com")
    monkeypatch.setenv("USER_NAME", "ci bot")
    monkeypatch.setenv("TOKEN", "a/b@c")
    logins = ChannelLogins()
    basic = logins.source("https://${USER_NAME}:${TOKEN}@conda.example.com/private", "shown")
    token = logins.source("https://mirror.example.com/t/${TOKEN}/forge/", "shown")
    assert (basic, token) == (
        "https://conda.example.com/private",
        "https://mirror.example.com/forge/",
    )
    assert logins.logins == {
        "conda.example.com": {"BasicHTTP": {"username": "ci bot", "password": "a/b@c"}},
        "mirror.example.com": {"CondaToken": "a/b@c"},
    }
    assert "a/b@c" in logins.secrets
    assert logins.source("https://conda.example.com/public", "shown") == (
        "https://conda.example.com/public"
    )
    with pytest.raises(UsageError, match="given two different logins"):
        logins.source("https://${TOKEN}:x@conda.example.com/other", "shown")
    with pytest.raises(UsageError, match="must follow the host"):
        ChannelLogins().source("https://conda.example.com/mirror/t/${TOKEN}/x", "shown")
    with pytest.raises(UsageError, match="does not list"):
        ChannelLogins().source("https://${TOKEN}@elsewhere.example/x", "shown")


def test_install_routes_each_locked_package_to_its_channels_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The longest channel prefix wins; rattler's `$%7BVAR%7D` reads as the lock's `${VAR}`."""
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "conda.example.com")
    monkeypatch.setenv("TOKEN", "s3cret")
    channels = [
        "https://conda.example.com/t/${TOKEN}/ml",
        "https://conda.example.com/t/${TOKEN}/ml/gpu",
    ]
    sources = PackageSources(channels, {channels[0]: "file:///srv/mirror/ml"})
    read = "https://conda.example.com/t/$%7BTOKEN%7D/ml/linux-64/a-1-0.conda"
    assert sources.url(read) == "file:///srv/mirror/ml/linux-64/a-1-0.conda"
    gpu = "https://conda.example.com/t/${TOKEN}/ml/gpu/linux-64/b-1-0.conda"
    assert sources.url(gpu) == "https://conda.example.com/ml/gpu/linux-64/b-1-0.conda"
    assert sources.logins.logins == {"conda.example.com": {"CondaToken": "s3cret"}}
