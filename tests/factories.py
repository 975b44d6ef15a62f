"""factory-boy factories for every standalone catalog model (docs/catalog.md).

Defaults make an *eligible* item: relations point at an active XC account and carry no category
(``category=None`` is eligible). Category relations are never created implicitly: to test category
rules, create an ``M3UVODCategoryRelationFactory`` for the account and category. Unique fields come from
sequences, so factories never collide with each other; pass explicit values to test collisions.

Typical use::

    movie = MovieFactory(name="Heat", year=1995)
    M3UMovieRelationFactory(movie=movie, m3u_account=account, category=category)
    series = SeriesFactory()
    rel = M3USeriesRelationFactory(series=series)
    M3UEpisodeRelationFactory.create_batch(3, series_relation=rel)  # 3 episodes of that series
"""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from vod2strm.standalone import models


class M3UAccountFactory(DjangoModelFactory):
    class Meta:
        model = models.M3UAccount

    name = factory.Sequence(lambda n: f"Provider {n}")
    server_url = factory.Sequence(lambda n: f"http://provider{n}.example.com:8080")
    account_type = models.M3UAccount.Types.XC
    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.Sequence(lambda n: f"pass{n}")
    is_active = True
    priority = 0

    class Params:
        std = factory.Trait(
            account_type=models.M3UAccount.Types.STANDARD,
            server_url=factory.LazyAttribute(
                lambda o: f"http://{o.name.lower().replace(' ', '-')}.example/get.php"
            ),
            username=None,
            password=None,
        )


class VODCategoryFactory(DjangoModelFactory):
    class Meta:
        model = models.VODCategory

    name = factory.Sequence(lambda n: f"Category {n}")
    category_type = "movie"


class M3UVODCategoryRelationFactory(DjangoModelFactory):
    class Meta:
        model = models.M3UVODCategoryRelation

    m3u_account = factory.SubFactory(M3UAccountFactory)
    category = factory.SubFactory(VODCategoryFactory)
    enabled = True


class VODLogoFactory(DjangoModelFactory):
    class Meta:
        model = models.VODLogo

    name = factory.Sequence(lambda n: f"Logo {n}")
    url = factory.Sequence(lambda n: f"https://image.example.org/posters/{n}.jpg")


class MovieFactory(DjangoModelFactory):
    class Meta:
        model = models.Movie

    name = factory.Sequence(lambda n: f"Movie {n}")
    description = "A plot."
    year = 2001
    rating = "7.1"
    genre = "Drama"
    duration_secs = 5400
    is_adult = False
    logo = None
    tmdb_id = factory.Sequence(lambda n: str(100_000 + n))
    imdb_id = factory.Sequence(lambda n: f"tt{1_000_000 + n:07d}")
    custom_properties = None

    class Params:
        no_ids = factory.Trait(tmdb_id=None, imdb_id=None)
        with_logo = factory.Trait(logo=factory.SubFactory(VODLogoFactory))


class SeriesFactory(DjangoModelFactory):
    class Meta:
        model = models.Series

    name = factory.Sequence(lambda n: f"Series {n}")
    description = "A show."
    year = 2010
    rating = "8.0"
    genre = "Drama"
    logo = None
    tmdb_id = factory.Sequence(lambda n: str(200_000 + n))
    imdb_id = factory.Sequence(lambda n: f"tt{2_000_000 + n:07d}")
    custom_properties = None

    class Params:
        no_ids = factory.Trait(tmdb_id=None, imdb_id=None)
        with_logo = factory.Trait(logo=factory.SubFactory(VODLogoFactory))


class EpisodeFactory(DjangoModelFactory):
    class Meta:
        model = models.Episode

    series = factory.SubFactory(SeriesFactory)
    name = factory.Sequence(lambda n: f"Episode {n}")
    description = None
    air_date = None
    rating = None
    duration_secs = 2700
    season_number = 1
    # Unique within (series, season) across the whole test run: numbers grow from 1.
    episode_number = factory.Sequence(lambda n: n + 1)
    tmdb_id = None
    imdb_id = None
    custom_properties = None


class M3UMovieRelationFactory(DjangoModelFactory):
    class Meta:
        model = models.M3UMovieRelation

    m3u_account = factory.SubFactory(M3UAccountFactory)
    movie = factory.SubFactory(MovieFactory)
    category = None
    stream_id = factory.Sequence(lambda n: str(10_000 + n))
    container_extension = "mkv"


class M3USeriesRelationFactory(DjangoModelFactory):
    class Meta:
        model = models.M3USeriesRelation

    m3u_account = factory.SubFactory(M3UAccountFactory)
    series = factory.SubFactory(SeriesFactory)
    category = None
    external_series_id = factory.Sequence(lambda n: str(50_000 + n))
    last_episode_refresh = None


class M3UEpisodeRelationFactory(DjangoModelFactory):
    """An episode at a provider; by default the episode belongs to the series relation's series."""

    class Meta:
        model = models.M3UEpisodeRelation

    series_relation = factory.SubFactory(M3USeriesRelationFactory)
    m3u_account = factory.Maybe(
        "series_relation",
        yes_declaration=factory.SelfAttribute("series_relation.m3u_account"),
        no_declaration=factory.SubFactory(M3UAccountFactory),
    )
    episode = factory.Maybe(
        "series_relation",
        yes_declaration=factory.SubFactory(
            EpisodeFactory, series=factory.SelfAttribute("..series_relation.series")
        ),
        no_declaration=factory.SubFactory(EpisodeFactory),
    )
    stream_id = factory.Sequence(lambda n: str(500_000 + n))
    container_extension = "mp4"
