"""The demo catalog: every awkward case the core must handle is present, loads are deterministic."""

from __future__ import annotations

import re

import pytest
from django.db.models import Count, Max

from tests.factories import M3UAccountFactory, MovieFactory
from vod2strm.errors import ConfigError
from vod2strm.standalone import demo
from vod2strm.standalone.models import (
    Episode,
    M3UAccount,
    M3UEpisodeRelation,
    M3UMovieRelation,
    M3USeriesRelation,
    M3UVODCategoryRelation,
    Movie,
    Series,
    VODCategory,
    VODLogo,
)

pytestmark = pytest.mark.django_db

SIZE = {"movies": 50, "series": 10, "seasons": 3, "episodes": 4}


@pytest.fixture
def loaded():
    stages: list[tuple[str, int, int]] = []
    counts = demo.load_demo(**SIZE, seed=7, progress=lambda *event: stages.append(event))
    return counts, stages


def _snapshot() -> dict[str, list]:
    return {
        "movies": list(
            Movie.objects.order_by("pk").values_list("name", "year", "tmdb_id", "imdb_id", "uuid")
        ),
        "series": list(Series.objects.order_by("pk").values_list("name", "year", "tmdb_id")),
        "episodes": list(
            Episode.objects.order_by("pk").values_list(
                "series__name", "season_number", "episode_number", "name"
            )
        ),
        "movie_relations": list(
            M3UMovieRelation.objects.order_by("pk").values_list(
                "m3u_account__name", "movie__name", "stream_id"
            )
        ),
        "episode_relations": list(
            M3UEpisodeRelation.objects.order_by("pk").values_list("m3u_account__name", "stream_id")
        ),
    }


def test_counts_match_the_rows_and_the_requested_size(loaded):
    counts, _ = loaded
    empty_series = Series.objects.filter(episodes__isnull=True).count()

    assert counts == {
        "accounts": M3UAccount.objects.count(),
        "categories": VODCategory.objects.count(),
        "category_relations": M3UVODCategoryRelation.objects.count(),
        "logos": VODLogo.objects.count(),
        "movies": Movie.objects.count(),
        "movie_relations": M3UMovieRelation.objects.count(),
        "series": Series.objects.count(),
        "series_relations": M3USeriesRelation.objects.count(),
        "episodes": Episode.objects.count(),
        "episode_relations": M3UEpisodeRelation.objects.count(),
    }
    assert (counts["accounts"], counts["movies"], counts["series"]) == (3, 50, 10)
    assert counts["episodes"] == (10 - empty_series) * 3 * 4
    assert counts["movie_relations"] > counts["movies"]  # some movies are offered twice
    assert counts["episode_relations"] > counts["episodes"]


def test_progress_reports_every_stage_to_completion(loaded):
    _, stages = loaded
    final = {stage: (done, total) for stage, done, total in stages}

    assert final == {"movies": (50, 50), "series": (10, 10), "episodes": (final["episodes"][1],) * 2}
    assert final["episodes"][1] == Episode.objects.count()


def test_accounts(loaded):
    accounts = {a.name: a for a in M3UAccount.objects.all()}

    assert set(accounts) == {"Provider A", "Provider B", "Old Provider"}
    a, b, old = accounts["Provider A"], accounts["Provider B"], accounts["Old Provider"]
    assert (a.account_type, a.is_active, a.priority) == ("XC", True, 10)
    assert (b.account_type, b.is_active, b.priority) == ("XC", True, 5)
    assert (old.account_type, old.is_active, old.priority) == ("STD", False, 20)


def test_categories_are_enabled_or_disabled_per_account(loaded):
    assert set(VODCategory.objects.values_list("category_type", flat=True)) == {"movie", "series"}
    for account in M3UAccount.objects.all():
        states = set(
            M3UVODCategoryRelation.objects.filter(m3u_account=account).values_list("enabled", flat=True)
        )
        assert states == {True, False}, account.name
    # Items really sit in a disabled category, and some relations have no category at all.
    assert M3UMovieRelation.objects.filter(
        category__m3u_relations__enabled=False,
        category__m3u_relations__m3u_account=M3UAccount.objects.get(name="Provider A"),
        m3u_account__name="Provider A",
    ).exists()
    assert M3UMovieRelation.objects.filter(category__isnull=True).exists()
    assert M3USeriesRelation.objects.filter(category__isnull=True).exists()


def test_awkward_titles(loaded):
    names = list(Movie.objects.values_list("name", flat=True)) + list(
        Series.objects.values_list("name", flat=True)
    )

    for prefix in ("EN - ", "|UK| ", "4K-"):
        assert any(name.startswith(prefix) for name in names), prefix
    for script in (r"[\u0400-\u04ff]", r"[\u3040-\u30ff\u4e00-\u9fff]", r"[\u0600-\u06ff]"):
        assert any(re.search(script, name) for name in names), script
    for char in ":?/":
        assert any(char in name for name in names), char
    assert any(len(name.encode()) > 255 for name in names)  # longer than one path component
    assert Movie.objects.filter(name__regex=r"\(\d{4}\)$").exists()  # year doubled in the title


def test_same_title_and_year_with_different_tmdb_ids(loaded):
    pair = Movie.objects.filter(name="The Return", year=2019)

    assert pair.count() == 2
    assert len({m.tmdb_id for m in pair}) == 2 and None not in {m.tmdb_id for m in pair}


def test_adult_titles(loaded):
    adult = Movie.objects.filter(is_adult=True)

    assert adult.exists()
    assert Movie.objects.filter(is_adult=False).exists()
    assert adult.filter(m3u_relations__category__name=demo.ADULT_CATEGORY).exists()


def test_optional_metadata_is_sometimes_missing(loaded):
    assert Movie.objects.filter(year__isnull=True).exists()
    assert Movie.objects.filter(tmdb_id__isnull=True, imdb_id__isnull=True).exists()
    assert Movie.objects.filter(tmdb_id__isnull=True, imdb_id__isnull=False).exists()
    assert Movie.objects.filter(logo__isnull=True).exists()
    assert Movie.objects.filter(logo__isnull=False).exists()
    assert Movie.objects.filter(custom_properties__isnull=True).exists()


def test_custom_properties_carry_rich_and_oddly_typed_metadata(loaded):
    props = [p for p in Movie.objects.values_list("custom_properties", flat=True) if p]

    rich = [p for p in props if isinstance(p.get("backdrop_path"), list)]
    assert rich
    assert any("director" in p and "youtube_trailer" in p and "release_date" in p for p in rich)
    assert any("actors" in p for p in props) and any("cast" in p for p in props)
    assert any(isinstance(p.get("backdrop_path"), str) for p in props)  # oddly typed
    assert Episode.objects.filter(custom_properties__has_key="movie_image").exists()


def test_movies_at_two_providers(loaded):
    multi = Movie.objects.annotate(n=Count("m3u_relations")).filter(n__gte=2)
    assert multi.exists()

    harbor = Movie.objects.get(name="EN - The Silent Harbor")
    accounts = {r.m3u_account.name: r.m3u_account.priority for r in harbor.m3u_relations.all()}
    assert accounts == {"Provider A": 10, "Provider B": 5}
    copper = Movie.objects.get(name="Copper Canyon")
    assert {r.m3u_account.name for r in copper.m3u_relations.all()} == {"Provider B", "Old Provider"}


def test_ineligible_items_exist(loaded):
    only_old = Movie.objects.exclude(m3u_relations__m3u_account__is_active=True)

    assert only_old.filter(m3u_relations__m3u_account__name="Old Provider").exists()


def test_series_structure(loaded):
    assert Episode.objects.filter(season_number=0).exists()  # specials
    assert Episode.objects.filter(episode_number__gt=99).exists()  # a daily show
    assert Series.objects.filter(episodes__isnull=True).exists()
    assert Series.objects.annotate(n=Count("m3u_relations")).filter(n__gte=2).exists()
    assert Episode.objects.filter(air_date__isnull=False).exists()
    assert not Episode.objects.filter(name="").exists()
    seasons = Episode.objects.values("series").annotate(n=Count("season_number", distinct=True))
    assert {row["n"] for row in seasons} == {3}
    # A series without episodes has never had them fetched.
    empty = M3USeriesRelation.objects.filter(series__episodes__isnull=True)
    assert empty.exists() and not empty.filter(last_episode_refresh__isnull=False).exists()


def test_episode_relations_are_consistent(loaded):
    relations = M3UEpisodeRelation.objects.select_related("episode", "series_relation")

    assert relations.exists()
    for relation in relations:
        assert relation.series_relation is not None
        assert relation.series_relation.series_id == relation.episode.series_id
        assert relation.series_relation.m3u_account_id == relation.m3u_account_id
    # Every episode of a series is offered by every provider that carries the series.
    for series_relation in M3USeriesRelation.objects.annotate(n=Count("episode_relations")):
        assert series_relation.n == Episode.objects.filter(series_id=series_relation.series_id).count()


def test_provider_urls_of_demo_relations(loaded):
    relation = M3UMovieRelation.objects.filter(m3u_account__name="Provider B").first()
    url = relation.get_stream_url()

    assert url.startswith("http://provider-b.example.net/movie/demo_b/secret_b/")
    assert "player_api.php" not in url
    old = M3UMovieRelation.objects.filter(m3u_account__name="Old Provider").first()
    assert old.get_stream_url() is None


def test_same_seed_gives_the_same_catalog_and_another_seed_does_not(loaded):
    first = _snapshot()

    demo.load_demo(**SIZE, seed=7, reset=True)
    assert _snapshot() == first

    demo.load_demo(**SIZE, seed=8, reset=True)
    assert _snapshot()["movies"] != first["movies"]


def test_refuses_a_non_empty_catalog_without_reset(loaded):
    with pytest.raises(ConfigError, match="--reset") as excinfo:
        demo.load_demo(**SIZE)

    assert excinfo.value.exit_code == 2
    assert Movie.objects.count() == 50  # untouched


def test_reset_replaces_everything():
    stray = MovieFactory(name="Not a demo movie")
    M3UAccountFactory(name="Someone Else")

    counts = demo.load_demo(movies=5, series=2, seasons=1, episodes=2, reset=True)

    assert not Movie.objects.filter(pk=stray.pk, name="Not a demo movie").exists()
    assert not M3UAccount.objects.filter(name="Someone Else").exists()
    assert Movie.objects.count() == counts["movies"] == 5
    assert counts["series"] == 2


def test_new_rows_after_a_load_get_fresh_primary_keys(loaded):
    top = Movie.objects.aggregate(top=Max("pk"))["top"]

    movie = MovieFactory()  # on PostgreSQL this needs the sequences moved past the explicit pks

    assert movie.pk > top


def test_small_and_empty_sizes():
    counts = demo.load_demo(movies=3, series=1, seasons=0, episodes=5)

    assert list(Movie.objects.order_by("pk").values_list("name", flat=True)) == [
        "EN - The Silent Harbor",
        "|UK| Morning Tide",
        "4K-Northern Lights",
    ]
    assert counts["episodes"] == 0 and counts["series"] == 1

    counts = demo.load_demo(movies=0, series=0, seasons=0, episodes=0, reset=True)
    assert counts["movies"] == counts["series"] == counts["logos"] == 0
    assert counts["accounts"] == 3


def test_specials_need_two_seasons_and_the_daily_show_any_episode_count():
    demo.load_demo(movies=0, series=3, seasons=1, episodes=2)

    assert not Episode.objects.filter(season_number=0).exists()
    daily = Episode.objects.filter(series__name="The Late Evening Show")
    assert sorted(daily.values_list("episode_number", flat=True)) == [198, 199]


@pytest.mark.parametrize("bad", [{"movies": -1}, {"episodes": 1.5}, {"seasons": True}])
def test_invalid_sizes_are_configuration_errors(bad):
    with pytest.raises(ConfigError):
        demo.load_demo(**{**SIZE, **bad})


def test_refuses_outside_the_standalone_home(settings):
    settings.VOD2STRM = {**settings.VOD2STRM, "CATALOG": "dispatcharr"}
    with pytest.raises(ConfigError) as excinfo:
        demo.load_demo(**SIZE)

    assert excinfo.value.field == "CATALOG"
    assert "standalone" in str(excinfo.value)
    assert not M3UAccount.objects.exists()
