"""Fixtures of the fault-injection suite (``pytest -m faults``).

Most tests follow one scenario: a library generated from catalog v1, then the catalog changes to
v2 (plots, stream ids, new movies, a new show, a renumbered episode, a new season), and the v2 run
meets a fault. The checks after every fault are the same (see :func:`check_after_fault`):

- exit status of docs/cli.md and one clear message;
- no partial file: every file holds its v1 bytes or its v2 bytes, never anything else, and
  nothing that existed is gone;
- the manifest agrees with the disk;
- the next normal run (then cleanup) converges to exactly what a clean generate of v2 writes
  into an empty folder, with no temp file left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
)
from tests.faults import helpers
from vod2strm import conf
from vod2strm.jobs import cleanup, generate
from vod2strm.standalone import models


@pytest.fixture(autouse=True)
def atomic_hooks(monkeypatch):
    helpers.install_atomic_hooks(monkeypatch)


def build_catalog(movies: int = 24, series: int = 3, seasons: int = 2, episodes: int = 3):
    account = M3UAccountFactory(name="Main", priority=1)
    for i in range(movies):
        movie = MovieFactory(name=f"Film {i:02d}", year=1990 + i)
        M3UMovieRelationFactory(movie=movie, m3u_account=account, stream_id=f"m{i}")
    for s in range(series):
        add_series(account, f"Show {s}", seasons=seasons, episodes=episodes, tag=f"s{s}")
    return account


def add_series(account, name: str, *, seasons: int, episodes: int, tag: str):
    show = SeriesFactory(name=name, year=2010)
    rel = M3USeriesRelationFactory(series=show, m3u_account=account)
    for season in range(1, seasons + 1):
        for e in range(1, episodes + 1):
            add_episode(rel, season, e, f"{tag}-{season}-{e}")
    return show, rel


def add_episode(series_relation, season: int, number: int, stream: str):
    episode = EpisodeFactory(
        series=series_relation.series, season_number=season, episode_number=number, name=f"Part {number}"
    )
    M3UEpisodeRelationFactory(
        episode=episode, m3u_account=series_relation.m3u_account, series_relation=series_relation,
        stream_id=stream,
    )  # fmt: skip
    return episode


def change_catalog(account) -> None:
    """Catalog v1 -> v2: rewrites, new folders and a new path, all small enough for cleanup's valve."""
    movies = list(models.Movie.objects.order_by("pk"))
    for movie in movies[2:6]:
        models.Movie.objects.filter(pk=movie.pk).update(description=f"New plot of {movie.name}.")
    for movie in movies[8:10]:
        models.M3UMovieRelation.objects.filter(movie=movie).update(stream_id=f"moved-{movie.pk}")
    for i in range(3):
        movie = MovieFactory(name=f"Newcomer {i}", year=2024)
        M3UMovieRelationFactory(movie=movie, m3u_account=account, stream_id=f"new{i}")
    add_series(account, "Fresh Show", seasons=1, episodes=3, tag="fresh")
    episode = models.Episode.objects.filter(series__name="Show 0").order_by("pk").first()
    # Renumbered (and retitled): a new SxxEyy is a new file name, the old one an orphan. (A title
    # alone that changes keeps its file name: tests/jobs/test_renames.py.)
    models.Episode.objects.filter(pk=episode.pk).update(name="Renamed Part", episode_number=4)
    rel = models.M3USeriesRelation.objects.get(series__name="Show 1")
    add_episode(rel, 3, 1, "s1-3-1")


@dataclass
class Scenario:
    settings: conf.Settings
    tmp: Path
    before: dict[str, bytes]  # the v1 library (marker excluded)
    wanted: dict[str, bytes]  # what a clean v2 generate writes

    @property
    def root(self) -> Path:
        return self.settings.output_root

    def fresh(self) -> dict[str, bytes]:
        return helpers.library_tree(self.root)


def make_settings(tmp_path: Path, **overrides) -> conf.Settings:
    values = {
        "output_root": tmp_path / "library",
        "state_dir": tmp_path / "state",
        "max_workers": 4,
        "chunk_size": 5,
    }
    values.update(overrides)
    return conf.build(values)


@pytest.fixture
def scenario(tmp_path) -> Scenario:
    account = build_catalog()
    settings = make_settings(tmp_path)
    first = generate.run(settings)
    assert first.exit_code == 0, first.as_dict()
    before = helpers.library_tree(settings.output_root)
    change_catalog(account)
    wanted = helpers.reference_tree(settings, tmp_path / "reference")
    return Scenario(settings, tmp_path, before, wanted)


def check_no_damage(sc: Scenario, *, deleted_by_hand=()) -> None:
    """What must hold right after any fault, before anything is repaired."""
    after = sc.fresh()
    assert helpers.library_problems(sc.root, temps_allowed=True) == []
    assert helpers.old_or_new_problems(sc.before, after, sc.wanted) == []
    assert helpers.manifest_problems(sc.settings, deleted_by_hand=deleted_by_hand) == []


def check_converges(sc: Scenario, *, fs=None, not_ours=()) -> None:
    """The next normal generate, then cleanup, leave exactly the clean v2 tree and no temp file.

    ``not_ours``: v1 paths the manifest no longer knows (the test threw it away), which cleanup
    rightly never deletes.
    """
    again = generate.run(sc.settings, fs=fs)
    assert again.exit_code == 0, again.as_dict()
    assert again.sections == {"movies": "complete", "series": "complete"}
    cleaned = cleanup.run(sc.settings)
    assert cleaned.exit_code == 0, cleaned.as_dict()
    assert helpers.library_problems(sc.root) == []
    tree = sc.fresh()
    for rel in not_ours:
        assert tree.pop(rel) == sc.before[rel]
    assert tree == sc.wanted
    assert helpers.manifest_problems(sc.settings) == []
    rerun = generate.run(sc.settings)
    assert rerun.written == 0 and rerun.exit_code == 0


@pytest.fixture
def between_chunks(monkeypatch):
    """``between_chunks(hook)``: call ``hook(model, n, rows)`` after the pipeline consumed chunk ``n``
    of a catalog stream and before the next chunk is read."""
    from vod2strm.catalog import queries

    # Private on purpose: "between two chunks of one stream" exists only inside the keyset loop
    # (no public door yields there, and the next page's SQL does not say which stream it is).
    real = queries._keyset_chunks

    def install(hook):
        def chunks(queryset, columns, chunk_size):
            for n, rows in enumerate(real(queryset, columns, chunk_size)):
                yield rows
                hook(queryset.model, n, rows)

        monkeypatch.setattr(queries, "_keyset_chunks", chunks)

    return install
