"""The .strm body: one http(s) URL line, proxy by default, provider URL in direct mode."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from vod2strm import conf
from vod2strm.catalog.rows import Source
from vod2strm.library.strm import is_http_url, proxy_url, render_strm, uuid_text


def make_settings(**overrides: object) -> conf.Settings:
    return conf.build({"output_root": "/tmp/x", "state_dir": "/tmp/x-state", **overrides})


def make_source(stream_id: str = "1001", account_id: int = 3, direct_url: str | None = None) -> Source:
    return Source(
        relation_id=9,
        account_id=account_id,
        account_name="Provider",
        stream_id=stream_id,
        container_extension="mkv",
        category_id=None,
        category_name=None,
        direct_url=direct_url,
    )


def test_proxy_url_exact_bytes() -> None:
    body = render_strm("movie", "abc-123", make_source(), make_settings())
    assert body == b"http://127.0.0.1:9191/proxy/vod/movie/abc-123?stream_id=1001&m3u_account_id=3\n"
    body = render_strm(
        "episode", "e-1", make_source("77", 5), make_settings(base_url="https://d.example:8443/")
    )
    assert body == b"https://d.example:8443/proxy/vod/episode/e-1?stream_id=77&m3u_account_id=5\n"


def test_base_url_with_path_prefix() -> None:
    body = render_strm("movie", "u", make_source(), make_settings(base_url="http://h/dispatcharr//"))
    assert body.startswith(b"http://h/dispatcharr/proxy/vod/movie/u?")


def test_stream_id_is_quoted() -> None:
    url = proxy_url("movie", "u/../x", make_source("a b&c=d/é#"), make_settings())
    parts = urlsplit(url)
    assert parts.path == "/proxy/vod/movie/u%2F..%2Fx"
    assert parse_qs(parts.query) == {"stream_id": ["a b&c=d/é#"], "m3u_account_id": ["3"]}
    assert not parts.fragment


def test_direct_mode_uses_provider_url() -> None:
    direct = "http://prov.example:8080/movie/user/secret/1001.mkv"
    settings = make_settings(url_mode="direct")
    assert render_strm("movie", "u", make_source(direct_url=direct), settings) == (direct + "\n").encode()


@pytest.mark.parametrize(
    "direct",
    [
        None,
        "",
        "ftp://prov/x.mkv",
        "/movie/x.mkv",
        "http://",
        "http://prov/x\nhttp://evil/",
        " http://prov/x",
    ],
)
def test_direct_mode_falls_back_to_proxy(direct: str | None) -> None:
    body = render_strm("movie", "u", make_source(direct_url=direct), make_settings(url_mode="direct"))
    assert body == b"http://127.0.0.1:9191/proxy/vod/movie/u?stream_id=1001&m3u_account_id=3\n"


def test_proxy_mode_ignores_provider_url() -> None:
    body = render_strm("movie", "u", make_source(direct_url="http://prov/secret"), make_settings())
    assert b"secret" not in body


def test_body_is_one_http_line() -> None:
    for kind in ("movie", "episode"):
        body = render_strm(kind, "u", make_source("x\ny"), make_settings())  # type: ignore[arg-type]
        text = body.decode("utf-8")
        assert text.endswith("\n") and text.count("\n") == 1
        assert is_http_url(text[:-1])


def test_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        render_strm("series", "u", make_source(), make_settings())  # type: ignore[arg-type]


def test_uuid_reaches_the_url() -> None:
    # Documented trade-off: the uuid is in the URL but not in the fingerprint (see items tests).
    a = render_strm("movie", "old-uuid", make_source(), make_settings())
    b = render_strm("movie", "new-uuid", make_source(), make_settings())
    assert b"old-uuid" in a and b"new-uuid" in b


@pytest.mark.parametrize(
    "given",
    [
        UUID("18cc6ae9-17a9-4c7b-8b93-42b6409808ad"),
        "18cc6ae917a94c7b8b9342b6409808ad",  # SQLite's column, as the driver returns it
        "18CC6AE917A94C7B8B9342B6409808AD",
        "18CC6AE9-17A9-4C7B-8B93-42B6409808AD",
        "{18cc6ae9-17a9-4c7b-8b93-42b6409808ad}",
    ],
)
def test_every_text_form_of_a_uuid_gives_the_same_url(given) -> None:
    body = render_strm("episode", given, make_source(), make_settings())
    assert b"/proxy/vod/episode/18cc6ae9-17a9-4c7b-8b93-42b6409808ad?" in body


@pytest.mark.parametrize("given", ["g" * 32, "18cc6ae917a94c7b8b9342b6409808a", "old-uuid"])
def test_text_that_is_no_uuid_is_kept_as_it_is(given) -> None:
    assert uuid_text(given) == given
