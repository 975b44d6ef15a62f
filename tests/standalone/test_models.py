"""The standalone catalog models: provider URLs, Dispatcharr's uniqueness rules, and the resolver."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
    VODLogoFactory,
)
from vod2strm.catalog import resolver
from vod2strm.errors import EXIT_CONFIG, ConfigError
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db


def _integrity_error(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


# --- get_stream_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server_url",
    [
        "http://xc.example.com:8080",
        "http://xc.example.com:8080/",
        "http://xc.example.com:8080/player_api.php",
        "http://xc.example.com:8080/player_api.php?username=u&password=p",
    ],
)
def test_movie_stream_url_for_xc_account(server_url):
    account = M3UAccountFactory(server_url=server_url, username="alice", password="s3cret")
    relation = M3UMovieRelationFactory(m3u_account=account, stream_id="4711", container_extension="mkv")

    assert relation.get_stream_url() == "http://xc.example.com:8080/movie/alice/s3cret/4711.mkv"


def test_stream_url_keeps_a_base_path_and_defaults_to_mp4():
    account = M3UAccountFactory(
        server_url="https://cdn.example.net/iptv/player_api.php", username="u", password="p"
    )
    relation = M3UMovieRelationFactory(m3u_account=account, stream_id="9", container_extension=None)

    assert relation.get_stream_url() == "https://cdn.example.net/iptv/movie/u/p/9.mp4"


def test_episode_stream_url_uses_the_series_path():
    account = M3UAccountFactory(
        server_url="http://xc.example.com/player_api.php", username="bob", password="pw"
    )
    relation = M3UEpisodeRelationFactory(
        series_relation=M3USeriesRelationFactory(m3u_account=account),
        stream_id="123",
        container_extension="avi",
    )

    assert relation.m3u_account == account
    assert relation.get_stream_url() == "http://xc.example.com/series/bob/pw/123.avi"


def test_stream_url_is_none_for_standard_accounts_and_missing_servers():
    std = M3UAccountFactory(std=True)
    assert M3UMovieRelationFactory(m3u_account=std).get_stream_url() is None
    assert M3UEpisodeRelationFactory(series_relation__m3u_account=std).get_stream_url() is None
    no_server = M3UAccountFactory(server_url=None)
    assert M3UMovieRelationFactory(m3u_account=no_server).get_stream_url() is None


# --- uniqueness rules (mirroring Dispatcharr) -----------------------------------------------------


def test_account_name_is_unique():
    M3UAccountFactory(name="Provider A")
    _integrity_error(lambda: M3UAccountFactory(name="Provider A"))


@pytest.mark.parametrize("factory", [MovieFactory, SeriesFactory])
@pytest.mark.parametrize("field", ["tmdb_id", "imdb_id"])
def test_external_ids_are_unique_when_set(factory, field):
    factory(**{field: "603" if field == "tmdb_id" else "tt0133093"})
    _integrity_error(lambda: factory(**{field: "603" if field == "tmdb_id" else "tt0133093"}))


@pytest.mark.parametrize("factory", [MovieFactory, SeriesFactory])
def test_null_external_ids_may_repeat(factory):
    factory(tmdb_id=None, imdb_id=None, name="One", year=2001)
    factory(tmdb_id=None, imdb_id=None, name="Two", year=2001)

    assert factory._meta.model.objects.filter(tmdb_id__isnull=True, imdb_id__isnull=True).count() == 2


@pytest.mark.parametrize("factory", [MovieFactory, SeriesFactory])
def test_name_and_year_are_unique_only_without_any_external_id(factory):
    factory(no_ids=True, name="The Return", year=2019)
    _integrity_error(lambda: factory(no_ids=True, name="The Return", year=2019))

    # Same title and year with an id on either side: allowed (remakes, provider duplicates).
    factory(name="The Return", year=2019, imdb_id=None)
    factory(name="The Return", year=2019, tmdb_id=None)
    # Another year: allowed.
    factory(no_ids=True, name="The Return", year=2020)

    assert factory._meta.model.objects.filter(name="The Return").count() == 4


def test_episode_is_unique_per_series_season_and_number():
    series = SeriesFactory()
    EpisodeFactory(series=series, season_number=1, episode_number=1)
    EpisodeFactory(series=series, season_number=2, episode_number=1)
    EpisodeFactory(series=SeriesFactory(), season_number=1, episode_number=1)

    _integrity_error(lambda: EpisodeFactory(series=series, season_number=1, episode_number=1))


def test_stream_ids_are_unique_per_account():
    account = M3UAccountFactory()
    M3UMovieRelationFactory(m3u_account=account, stream_id="1")
    M3UMovieRelationFactory(stream_id="1")  # another account: fine
    _integrity_error(lambda: M3UMovieRelationFactory(m3u_account=account, stream_id="1"))


def test_logo_url_is_unique():
    VODLogoFactory(url="https://img.example/x.jpg")
    _integrity_error(lambda: VODLogoFactory(url="https://img.example/x.jpg"))


def test_related_names_match_dispatcharr():
    movie_relation = M3UMovieRelationFactory()
    episode_relation = M3UEpisodeRelationFactory()
    series = episode_relation.series_relation.series

    assert list(movie_relation.movie.m3u_relations.all()) == [movie_relation]
    assert list(series.episodes.all()) == [episode_relation.episode]
    assert list(series.m3u_relations.all()) == [episode_relation.series_relation]
    assert list(episode_relation.episode.m3u_relations.all()) == [episode_relation]
    assert list(episode_relation.series_relation.episode_relations.all()) == [episode_relation]


# --- resolver --------------------------------------------------------------------------------------


@pytest.fixture
def fresh_resolver():
    """The resolver, which needs no reset between tests: its cache is per home, the home is read
    from the settings at each call, and a home that fails to resolve is never cached."""
    return resolver


def test_resolver_returns_the_standalone_models(fresh_resolver):
    catalog = fresh_resolver.models()

    assert fresh_resolver.is_standalone()
    assert catalog.Movie is models.Movie
    assert catalog.M3UAccount is models.M3UAccount
    assert catalog.M3UEpisodeRelation is models.M3UEpisodeRelation
    assert set(catalog._fields) == {  # a NamedTuple's public field names
        "M3UAccount",
        "VODCategory",
        "M3UVODCategoryRelation",
        "VODLogo",
        "Movie",
        "Series",
        "Episode",
        "M3UMovieRelation",
        "M3USeriesRelation",
        "M3UEpisodeRelation",
    }
    assert all(getattr(catalog, name) is getattr(models, name) for name in catalog._fields)


def test_resolver_detects_the_standalone_home_without_a_setting(fresh_resolver, settings):
    settings.VOD2STRM = {key: value for key, value in settings.VOD2STRM.items() if key != "CATALOG"}

    assert fresh_resolver.home() == "standalone"
    assert fresh_resolver.models().Movie is models.Movie


def test_unknown_catalog_is_a_configuration_error(fresh_resolver, settings):
    settings.VOD2STRM = {**settings.VOD2STRM, "CATALOG": "jellyfin"}

    with pytest.raises(ConfigError) as excinfo:
        fresh_resolver.models()

    assert excinfo.value.exit_code == EXIT_CONFIG == 2
    assert excinfo.value.field == "CATALOG"
    assert "jellyfin" in str(excinfo.value)


def test_dispatcharr_catalog_that_is_not_installed_is_a_configuration_error(fresh_resolver, settings):
    settings.VOD2STRM = {**settings.VOD2STRM, "CATALOG": "dispatcharr"}

    with pytest.raises(ConfigError) as excinfo:
        fresh_resolver.models()

    assert excinfo.value.exit_code == 2
    assert "not installed" in str(excinfo.value)
