"""${VAR} credentials in URLs: filled percent-encoded where they are credentials, redacted in
everything envc prints."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from compiler._util.credentials import expand_url, for_display

AWKWARD = "p/ss#w?rd@x:y%z"


def test_a_secret_in_the_user_info_is_percent_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNEL_USER", "alice")
    monkeypatch.setenv("CHANNEL_TOKEN", AWKWARD)
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
    url, _ = expand_url("${MIRROR}/t/${ANACONDA_TOKEN}/private", "channel")
    assert url.startswith("https://mirror.example.com/t/")  # a base URL is not encoded
    token = url.removeprefix("https://mirror.example.com/t/").removesuffix("/private")
    assert "/" not in token and unquote(token) == AWKWARD


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
