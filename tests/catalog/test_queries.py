"""Catalog reading: the eligibility and best-relation rules, and query counts that grow with
chunks only (never with items, relations per item or episodes per series)."""

from __future__ import annotations

import dataclasses
import datetime
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    M3UVODCategoryRelationFactory,
    MovieFactory,
    SeriesFactory,
    VODCategoryFactory,
    VODLogoFactory,
)
from vod2strm import conf
from vod2strm.catalog import queries
from vod2strm.library import items, nfo
from vod2strm.library.strm import render_strm
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db


def make_settings(tmp_path, **overrides):
    return conf.build({"output_root": tmp_path / "lib", "state_dir": tmp_path / "state", **overrides})


# -- rules ----------------------------------------------------------------------------------


def test_eligibility_needs_active_account_and_enabled_or_null_category(tmp_path):
    active = M3UAccountFactory(name="Active")
    inactive = M3UAccountFactory(name="Inactive", is_active=False, priority=99)
    enabled_cat = VODCategoryFactory(name="Enabled")
    disabled_cat = VODCategoryFactory(name="Disabled")
    M3UVODCategoryRelationFactory(m3u_account=active, category=enabled_cat, enabled=True)
    M3UVODCategoryRelationFactory(m3u_account=active, category=disabled_cat, enabled=False)

    null_category = MovieFactory(name="Null category")
    M3UMovieRelationFactory(movie=null_category, m3u_account=active, category=None)
    enabled = MovieFactory(name="Enabled category")
    M3UMovieRelationFactory(movie=enabled, m3u_account=active, category=enabled_cat)
    disabled = MovieFactory(name="Disabled category")
    M3UMovieRelationFactory(movie=disabled, m3u_account=active, category=disabled_cat)
    only_inactive = MovieFactory(name="Inactive account")
    M3UMovieRelationFactory(movie=only_inactive, m3u_account=inactive, category=None)
    MovieFactory(name="No relation")
    # enabled for another account only: not enabled for this one
    other = M3UAccountFactory(name="Other")
    M3UVODCategoryRelationFactory(m3u_account=other, category=disabled_cat, enabled=True)

    names = [row.name for row in queries.iter_movies(make_settings(tmp_path))]
    assert names == ["Null category", "Enabled category"]


def test_best_relation_is_highest_priority_then_lowest_id(tmp_path):
    low = M3UAccountFactory(name="Low", priority=1)
    high = M3UAccountFactory(name="High", priority=10)
    inactive = M3UAccountFactory(name="Gone", priority=50, is_active=False)
    movie = MovieFactory()
    M3UMovieRelationFactory(movie=movie, m3u_account=low, stream_id="low")
    M3UMovieRelationFactory(movie=movie, m3u_account=inactive, stream_id="gone")
    first_high = M3UMovieRelationFactory(movie=movie, m3u_account=high, stream_id="high-1")
    tie = MovieFactory()
    a = M3UMovieRelationFactory(movie=tie, m3u_account=low, stream_id="a")
    M3UMovieRelationFactory(movie=tie, m3u_account=M3UAccountFactory(name="Low2", priority=1), stream_id="b")

    rows = {row.id: row for row in queries.iter_movies(make_settings(tmp_path))}
    assert rows[movie.id].source.relation_id == first_high.id
    assert rows[movie.id].source.account_name == "High"
    assert rows[tie.id].source.relation_id == a.id


def test_category_filters_apply_to_the_relation_used(tmp_path):
    account = M3UAccountFactory(priority=5)
    backup = M3UAccountFactory(priority=1)
    kids = VODCategoryFactory(name="Kids")
    drama = VODCategoryFactory(name="Drama")
    for acc in (account, backup):
        for cat in (kids, drama):
            M3UVODCategoryRelationFactory(m3u_account=acc, category=cat, enabled=True)
    movie = MovieFactory()
    M3UMovieRelationFactory(movie=movie, m3u_account=account, category=kids)
    fallback = M3UMovieRelationFactory(movie=movie, m3u_account=backup, category=drama)
    only_kids = MovieFactory()
    M3UMovieRelationFactory(movie=only_kids, m3u_account=account, category=kids)

    rows = list(queries.iter_movies(make_settings(tmp_path, categories_exclude="kids")))
    assert [(r.id, r.source.relation_id) for r in rows] == [(movie.id, fallback.id)]
    by_id = list(queries.iter_movies(make_settings(tmp_path, categories_include=[str(drama.id)])))
    assert [r.id for r in by_id] == [movie.id]


def test_adult_movies_are_excluded_by_default(tmp_path):
    account = M3UAccountFactory()
    adult = MovieFactory(is_adult=True)
    M3UMovieRelationFactory(movie=adult, m3u_account=account)
    assert list(queries.iter_movies(make_settings(tmp_path))) == []
    assert [r.id for r in queries.iter_movies(make_settings(tmp_path, adult_mode="include"))] == [adult.id]


def test_movie_row_carries_logo_url_and_direct_url_only_in_direct_mode(tmp_path):
    account = M3UAccountFactory(server_url="http://p.example:8080/player_api.php", username="u", password="p")
    logo = VODLogoFactory(url="https://img.example/poster.jpg")
    movie = MovieFactory(logo=logo)
    M3UMovieRelationFactory(movie=movie, m3u_account=account, stream_id="77", container_extension="mkv")
    (proxy_row,) = queries.iter_movies(make_settings(tmp_path))
    assert proxy_row.logo_url == "https://img.example/poster.jpg"
    assert proxy_row.source.direct_url is None
    (direct_row,) = queries.iter_movies(make_settings(tmp_path, url_mode="direct"))
    assert direct_row.source.direct_url == "http://p.example:8080/movie/u/p/77.mkv"
    assert "p" not in repr(direct_row.source).replace("proxy", "")  # credentials stay out of repr


def test_series_rows_bring_eligible_episodes_in_order_with_preferred_account(tmp_path):
    main = M3UAccountFactory(name="Main", priority=10)
    other = M3UAccountFactory(name="Other", priority=20)
    dead = M3UAccountFactory(name="Dead", priority=30, is_active=False)
    series = SeriesFactory(name="Show")
    series_rel = M3USeriesRelationFactory(series=series, m3u_account=main)
    M3USeriesRelationFactory(series=series, m3u_account=dead)
    e2 = EpisodeFactory(series=series, season_number=1, episode_number=2)
    e1 = EpisodeFactory(series=series, season_number=1, episode_number=1)
    special = EpisodeFactory(series=series, season_number=0, episode_number=1)
    orphan = EpisodeFactory(series=series, season_number=2, episode_number=1)
    main_rel = M3UEpisodeRelationFactory(episode=e1, m3u_account=main, series_relation=series_rel)
    M3UEpisodeRelationFactory(
        episode=e1, m3u_account=other, series_relation=None
    )  # higher priority, but not the series' account
    other_rel = M3UEpisodeRelationFactory(episode=e2, m3u_account=other, series_relation=None)
    M3UEpisodeRelationFactory(episode=special, m3u_account=main, series_relation=series_rel)
    M3UEpisodeRelationFactory(
        episode=orphan, m3u_account=dead, series_relation=None
    )  # only at an inactive account

    (row,) = queries.iter_series(make_settings(tmp_path))
    assert [(e.season_number, e.episode_number) for e in row.episodes] == [(0, 1), (1, 1), (1, 2)]
    by_id = {e.id: e for e in row.episodes}
    assert by_id[e1.id].source.relation_id == main_rel.id
    assert by_id[e2.id].source.relation_id == other_rel.id
    assert row.source.account_name == "Main"


def test_an_episode_without_the_series_account_takes_the_highest_priority_then_the_lowest_id(tmp_path):
    main = M3UAccountFactory(name="Main", priority=50)
    low, high, tie = (M3UAccountFactory(name=n, priority=p) for n, p in (("Low", 1), ("High", 9), ("Tie", 9)))
    series = SeriesFactory(name="Show")
    M3USeriesRelationFactory(series=series, m3u_account=main)
    by_priority, by_id = (EpisodeFactory(series=series, season_number=1, episode_number=n) for n in (1, 2))
    M3UEpisodeRelationFactory(episode=by_priority, m3u_account=low, series_relation=None)
    best = M3UEpisodeRelationFactory(episode=by_priority, m3u_account=high, series_relation=None)
    first = M3UEpisodeRelationFactory(episode=by_id, m3u_account=tie, series_relation=None)
    M3UEpisodeRelationFactory(episode=by_id, m3u_account=high, series_relation=None)

    (row,) = queries.iter_series(make_settings(tmp_path))
    chosen = {e.id: e.source.relation_id for e in row.episodes}
    assert chosen == {by_priority.id: best.id, by_id.id: first.id}


def test_episode_rows_keep_the_drivers_values_and_render_as_converted_ones_would(tmp_path):
    # Episodes skip Django's converters (see catalog/queries.py): SQLite gives the uuid as 32 hex
    # digits, a naive datetime and JSON text. The files must not see the difference.
    account = M3UAccountFactory()
    series = SeriesFactory(name="Show")
    series_relation = M3USeriesRelationFactory(series=series, m3u_account=account)
    props = {"movie_image": "https://img.example/e1.jpg", "plot": "A plot", "unused": [1, 2]}
    episode = EpisodeFactory(
        series=series, air_date=datetime.date(2020, 1, 2), description=None, custom_properties=props
    )
    M3UEpisodeRelationFactory(episode=episode, series_relation=series_relation)
    settings = make_settings(tmp_path)

    (row,) = queries.iter_series(settings)
    (got,) = row.episodes
    model = models.Episode.objects.get(pk=episode.pk)
    converted = dataclasses.replace(
        got,
        uuid=model.uuid,
        custom_properties=model.custom_properties,
        created_at=model.created_at,
        air_date=model.air_date,
    )
    assert nfo.episode_nfo(row, got, settings) == nfo.episode_nfo(row, converted, settings)
    assert render_strm("episode", got.uuid, got.source, settings) == render_strm(
        "episode", model.uuid, got.source, settings
    )
    assert str(model.uuid).encode() in render_strm("episode", got.uuid, got.source, settings)
    # The fingerprint takes the properties it uses as from the converted value.
    same_props = dataclasses.replace(row, episodes=(dataclasses.replace(got, custom_properties=props),))
    assert items.series_fingerprint(row, settings) == items.series_fingerprint(same_props, settings)


@pytest.mark.parametrize(
    "props", [{"movie_image": "https://img.example/e1.jpg"}, [1, 2], "plain", {}, None], ids=repr
)
def test_episode_properties_arrive_decoded_once_when_they_hold_an_object(tmp_path, props):
    # An object is decoded while the rows are built (see catalog/queries.py), so the fingerprint and
    # the NFO need not decode it again; anything else stays as the driver gave it. Either way the
    # fingerprint and the NFO are those of Django's converted value.
    account = M3UAccountFactory()
    series = SeriesFactory(name="Show")
    series_relation = M3USeriesRelationFactory(series=series, m3u_account=account)
    episode = EpisodeFactory(series=series, custom_properties=props)
    M3UEpisodeRelationFactory(episode=episode, series_relation=series_relation)
    settings = make_settings(tmp_path)

    (row,) = queries.iter_series(settings)
    (got,) = row.episodes
    if isinstance(props, dict):
        assert got.custom_properties == props and type(got.custom_properties) is dict
    converted = dataclasses.replace(got, custom_properties=props)
    converted_row = dataclasses.replace(row, episodes=(converted,))
    assert items.series_fingerprint(row, settings) == items.series_fingerprint(converted_row, settings)
    assert nfo.episode_nfo(row, got, settings) == nfo.episode_nfo(row, converted, settings)


def test_series_without_episodes_is_yielded_empty(tmp_path):
    series = SeriesFactory()
    M3USeriesRelationFactory(series=series)
    (row,) = queries.iter_series(make_settings(tmp_path))
    assert row.episodes == ()


# -- query counts ---------------------------------------------------------------------------


def _bulk_movies(count: int, accounts: list, relations_for) -> None:
    start = models.Movie.objects.count()
    movies = models.Movie.objects.bulk_create(
        models.Movie(name=f"Bulk {start + i}", year=2000 + i % 20, tmdb_id=str(100000 + start + i))
        for i in range(count)
    )
    rels = []
    for i, movie in enumerate(movies):
        for j in range(relations_for(i)):
            account = accounts[j % len(accounts)]
            rels.append(
                models.M3UMovieRelation(movie=movie, m3u_account=account, stream_id=f"{movie.pk}-{j}")
            )
    models.M3UMovieRelation.objects.bulk_create(rels)


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("relations_per_movie", [lambda i: 1, lambda i: 1 + i % 5])
def test_movie_queries_grow_with_chunks_only(tmp_path, relations_per_movie):
    accounts = [M3UAccountFactory(priority=p) for p in range(5)]
    settings = make_settings(tmp_path, chunk_size=10)
    _bulk_movies(25, accounts, relations_per_movie)  # 3 chunks
    small = _count(lambda: list(queries.iter_movies(settings)))
    _bulk_movies(230, accounts, relations_per_movie)  # 255 movies: 26 chunks
    large = _count(lambda: list(queries.iter_movies(settings)))
    chunks_small, chunks_large = math.ceil(25 / 10), math.ceil(255 / 10)
    per_chunk = (large - small) / (chunks_large - chunks_small)
    assert per_chunk == 2
    assert small - per_chunk * chunks_small == large - per_chunk * chunks_large == 1


def _bulk_series(count: int, account, episodes_for) -> None:
    start = models.Series.objects.count()
    series = models.Series.objects.bulk_create(
        models.Series(name=f"Show {start + i}", tmdb_id=str(500000 + start + i)) for i in range(count)
    )
    rels = models.M3USeriesRelation.objects.bulk_create(
        models.M3USeriesRelation(series=s, m3u_account=account, external_series_id=str(s.pk)) for s in series
    )
    for s, rel in zip(series, rels, strict=True):
        n = episodes_for(s.pk)
        eps = models.Episode.objects.bulk_create(
            models.Episode(series=s, name=f"E{k}", season_number=1 + k // 50, episode_number=1 + k % 50)
            for k in range(n)
        )
        models.M3UEpisodeRelation.objects.bulk_create(
            models.M3UEpisodeRelation(
                episode=e, m3u_account=account, series_relation=rel, stream_id=f"e{e.pk}"
            )
            for e in eps
        )


def test_series_queries_grow_with_chunks_only_whatever_the_episode_count(tmp_path):
    account = M3UAccountFactory()
    # chunk_size 10 -> 2 series per chunk (SERIES_CHUNK_DIVISOR = 5)
    settings = make_settings(tmp_path, chunk_size=10)
    _bulk_series(5, account, lambda pk: 1)  # 3 chunks, 1 episode each
    small = _count(lambda: list(queries.iter_series(settings)))
    models.Episode.objects.all().delete()
    models.Series.objects.all().delete()
    _bulk_series(5, account, lambda pk: 1 + (pk * 37) % 200)  # same chunks, 1..200 episodes each
    varied = _count(lambda: list(queries.iter_series(settings)))
    assert varied == small
    _bulk_series(46, account, lambda pk: 3)  # 51 series: 26 chunks
    large = _count(lambda: list(queries.iter_series(settings)))
    per_chunk = (large - small) / (26 - 3)
    assert per_chunk == 4
    assert small - 4 * 3 == large - 4 * 26 == 1
