"""Generate end to end: the tree, incremental reruns that touch nothing unchanged, the lock, the
root marker, --verify, adoption of an existing tree, and query counts per chunk."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from lxml import etree

from tests.library_helpers import age_files, make_settings, mtimes, small_catalog, tree
from vod2strm.errors import LockedError, RefusedError
from vod2strm.jobs import generate
from vod2strm.output import lock
from vod2strm.output.fs import LocalFS
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db


def strm_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: b for p, b in files.items() if p.endswith(".strm")}


def test_generate_writes_movies_shows_seasons_and_episodes(tmp_path):
    small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path)
    result = generate.run(settings)
    assert result.exit_code == 0, result.as_dict()
    files = tree(settings.output_root)
    movie_strm = sorted(p for p in files if p.startswith("Movies/") and p.endswith(".strm"))
    assert next(p.split("/")[1] for p in movie_strm).startswith("Film 0 (2000)")
    assert len(movie_strm) == 2
    assert any(p.endswith("/tvshow.nfo") for p in files)
    assert any(p.endswith("Season 01/season.nfo") for p in files)
    episodes = sorted(p for p in files if p.startswith("TV Shows/") and p.endswith(".strm"))
    assert [p.rsplit("/", 1)[1].split(" - ")[0] for p in episodes] == ["Show 0 S01E01", "Show 0 S01E02"]
    for path, body in strm_files(files).items():
        lines = body.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("http"), path
        nfo = path[: -len(".strm")] + ".nfo"
        assert nfo in files  # an episode NFO has exactly its .strm base name
    for path, body in files.items():
        if path.endswith(".nfo"):
            etree.fromstring(body)
    assert result.items == 2 + 1 + 2
    assert result.files == len(files)
    assert result.written == len(files)
    assert result.sections == {"movies": "complete", "series": "complete"}
    # A first run builds the manifest's files-by-item index at its end (Manifest.defer_item_index).
    (manifest,) = settings.state_dir.glob("manifest-*.sqlite3")
    with sqlite3.connect(manifest) as db:
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'files_item'").fetchone()


def test_unchanged_rerun_writes_nothing_and_keeps_mtimes(tmp_path):
    small_catalog()
    settings = make_settings(tmp_path)
    first = generate.run(settings)
    age_files(settings.output_root)
    before = mtimes(settings.output_root)
    again = generate.run(settings)
    assert again.written == 0
    assert again.unchanged == first.files == again.files
    assert mtimes(settings.output_root) == before


class _CountingFS(LocalFS):
    """Counts every call through the filesystem boundary, by method name."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if name.startswith("_") or name == "calls" or not callable(attr):
            return attr
        calls = super().__getattribute__("calls")

        def counted(*args, **kwargs):
            calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def test_unchanged_rerun_touches_the_share_only_to_check_the_root(tmp_path):
    """No per-file or per-folder I/O at all (no stat, listing, read or write): on a NAS, an
    unchanged nightly run costs a few round trips for the root marker, whatever the library size."""
    small_catalog(movies=6, series=3, episodes=4)
    settings = make_settings(tmp_path)
    first = generate.run(settings)
    assert first.files > 30
    fs = _CountingFS()
    again = generate.run(settings, fs=fs)
    assert again.written == 0 and again.unchanged == first.files
    # The marker check: the root exists, is a folder, is writable, is marked, and the marker (read
    # once) names this state as its owner (output/marker.py).
    assert set(fs.calls) <= {"exists", "is_dir", "access", "stat", "read_bytes"}, fs.calls
    assert fs.calls["read_bytes"] <= 1, fs.calls
    assert sum(fs.calls.values()) <= 6, fs.calls


def test_new_uuids_everywhere_rewrite_nothing(tmp_path):
    small_catalog()
    settings = make_settings(tmp_path)
    generate.run(settings)
    age_files(settings.output_root)
    before = mtimes(settings.output_root)
    for model in (models.Movie, models.Series, models.Episode):
        for pk in model.objects.values_list("pk", flat=True):
            model.objects.filter(pk=pk).update(uuid=uuid.uuid4())
    result = generate.run(settings)
    assert result.written == 0
    assert mtimes(settings.output_root) == before


def test_a_change_rewrites_exactly_the_affected_files(tmp_path):
    _, movies, series = small_catalog(movies=3, series=1, episodes=3)
    settings = make_settings(tmp_path)
    generate.run(settings)
    age_files(settings.output_root)
    before_files = tree(settings.output_root)
    before = mtimes(settings.output_root)

    models.Movie.objects.filter(pk=movies[1].pk).update(description="A brand new plot.")
    relation = models.M3UEpisodeRelation.objects.filter(episode__series=series[0]).order_by("pk").first()
    relation.stream_id = "changed-stream"
    relation.save()
    result = generate.run(settings)

    after = mtimes(settings.output_root)
    changed = {p for p in after if after[p] != before.get(p)}
    assert len(changed) == 2, changed
    (nfo,) = [p for p in changed if p.endswith(".nfo")]
    assert nfo.startswith("Movies/Film 1")
    (strm,) = [p for p in changed if p.endswith(".strm")]
    assert b"changed-stream" in tree(settings.output_root)[strm]
    assert strm.startswith("TV Shows/")
    assert result.written == 2
    assert set(tree(settings.output_root)) == set(before_files)


def test_renamed_title_keeps_its_path(tmp_path):
    """By default; with follow_renames it moves (tests/jobs/test_renames.py has both in detail)."""
    _, movies, _ = small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    generate.run(settings)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    generate.run(settings)
    folders = {p.split("/")[1] for p in tree(settings.output_root) if p.startswith("Movies/")}
    assert len(folders) == 1 and next(iter(folders)).startswith("Film 0 (2000)")


def test_verify_restores_a_file_deleted_by_hand(tmp_path):
    small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    generate.run(settings)
    victim = next(p for p in tree(settings.output_root) if p.endswith(".strm"))
    body = tree(settings.output_root)[victim]
    (settings.output_root / victim).unlink()
    assert generate.run(settings).written == 0  # a normal rerun trusts the manifest
    result = generate.run(settings, verify=True)
    assert result.written == 1
    assert (settings.output_root / victim).read_bytes() == body


def test_existing_identical_files_are_adopted_without_rewriting(tmp_path):
    small_catalog(movies=2, series=1)
    first = make_settings(tmp_path)
    generate.run(first)
    # Pretend another tool made this tree: same bytes, but no manifest of ours.
    age_files(first.output_root)
    before = mtimes(first.output_root)
    other_state = make_settings(tmp_path, state_dir=tmp_path / "fresh-state")
    (first.output_root / ".vod2strm-root").unlink(missing_ok=True)
    result = generate.run(other_state)
    assert result.exit_code == 0
    after = mtimes(first.output_root)
    assert {p: t for p, t in after.items() if not p.startswith(".vod2strm")} == {
        p: t for p, t in before.items() if not p.startswith(".vod2strm")
    }
    assert result.adopted == len(tree(first.output_root))


def test_second_run_is_refused_while_one_holds_the_lock(tmp_path):
    small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    with lock.run_lock(settings.state_dir, settings.output_root), pytest.raises(LockedError) as info:
        generate.run(settings)
    assert info.value.exit_code == 3
    assert "in progress" in str(info.value)


def test_unmounted_root_is_refused_when_the_manifest_has_files(tmp_path):
    small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    generate.run(settings)
    (settings.output_root / ".vod2strm-root").unlink()
    with pytest.raises(RefusedError) as info:
        generate.run(settings)
    assert info.value.exit_code == 5


def test_dry_run_writes_nothing(tmp_path):
    small_catalog()
    settings = make_settings(tmp_path)
    result = generate.run(settings, dry_run=True)
    assert result.written == result.files > 0
    assert not settings.output_root.exists() or tree(settings.output_root) == {}


def test_cancel_before_start_stops_and_the_next_run_completes(tmp_path):
    small_catalog()
    settings = make_settings(tmp_path)
    cancel = threading.Event()
    cancel.set()
    result = generate.run(settings, cancel=cancel)
    assert result.exit_code == 130
    assert "cancelled" in result.sections.values()
    full = generate.run(settings)
    assert full.sections == {"movies": "complete", "series": "complete"}


class _CancelAfterFS(LocalFS):
    """Sets the run's cancel event once ``after`` library files (not the root marker) are written."""

    def __init__(self, cancel: threading.Event, after: int) -> None:
        self.cancel, self.after, self.writes = cancel, after, 0
        self.lock = threading.Lock()

    def write_atomic(self, path, data, **kw):
        super().write_atomic(path, data, **kw)
        if not str(path).endswith((".strm", ".nfo")):
            return
        with self.lock:
            self.writes += 1
            if self.writes == self.after:
                self.cancel.set()


def test_cancel_mid_chunk_stops_within_a_few_files_and_loses_nothing(tmp_path):
    """A cancel is obeyed within the writer's queue, not at the end of the chunk."""
    small_catalog(movies=60, series=0)
    settings = make_settings(tmp_path, chunk_size=500, min_workers=1, max_workers=1)
    cancel = threading.Event()
    fs = _CancelAfterFS(cancel, after=4)
    result = generate.run(settings, cancel=cancel, fs=fs)
    assert result.exit_code == 130 and result.sections["movies"] == "cancelled"
    # One worker queues 2 folders (2 files each) beyond the one being written.
    assert 4 <= fs.writes <= 10, fs.writes
    assert result.written == fs.writes
    full = generate.run(settings)
    assert full.sections == {"movies": "complete", "series": "complete"}
    assert full.written == 120 - fs.writes
    assert len(strm_files(tree(settings.output_root))) == 60


def test_series_without_episodes_is_counted_not_written(tmp_path):
    from tests.factories import M3USeriesRelationFactory, SeriesFactory

    small_catalog(movies=0, series=1)
    M3USeriesRelationFactory(series=SeriesFactory(name="Empty Show"))
    settings = make_settings(tmp_path)
    result = generate.run(settings)
    assert result.series_without_episodes == 1
    assert not any("Empty Show" in p for p in tree(settings.output_root))


def _bulk_movies(start: int, count: int, account) -> None:
    movies = models.Movie.objects.bulk_create(
        models.Movie(name=f"Bulk {i}", year=1990 + i % 30, tmdb_id=str(700000 + i))
        for i in range(start, start + count)
    )
    models.M3UMovieRelation.objects.bulk_create(
        models.M3UMovieRelation(movie=m, m3u_account=account, stream_id=f"b{m.pk}") for m in movies
    )


def test_generate_queries_grow_with_chunks_only(tmp_path):
    from tests.factories import M3UAccountFactory

    account = M3UAccountFactory()
    settings = make_settings(tmp_path, chunk_size=10)
    _bulk_movies(0, 25, account)
    small = generate.run(settings, only="movies", dry_run=True).queries
    _bulk_movies(25, 230, account)
    large = generate.run(settings, only="movies", dry_run=True).queries
    per_chunk = (large - small) / (math.ceil(255 / 10) - math.ceil(25 / 10))
    assert per_chunk == 2
    assert small - 2 * 3 == large - 2 * 26


def test_cli_json_summary_has_the_contract_keys(tmp_path, capsys):
    small_catalog(movies=1, series=1, episodes=1)
    settings = make_settings(tmp_path)
    from django.test import override_settings

    with override_settings(
        VOD2STRM={"output_root": str(settings.output_root), "state_dir": str(settings.state_dir)}
    ):
        call_command("vod2strm", "generate", "--json")
    data = json.loads(capsys.readouterr().out)
    for key in ("items", "files", "written", "unchanged", "removed", "errors", "queries", "seconds"):
        assert key in data
    assert data["written"] == data["files"] > 0


def test_selected_run_never_takes_a_path_another_item_owns(tmp_path):
    from tests.factories import M3UAccountFactory, M3UMovieRelationFactory, MovieFactory

    account = M3UAccountFactory()
    first = MovieFactory(name="Twin", year=2000, tmdb_id=None, imdb_id=None)
    # Same title and year, no ids: the partial unique constraint forbids it, so differ by case.
    second = MovieFactory(name="TWIN", year=2000, tmdb_id=None, imdb_id=None)
    for movie in (first, second):
        M3UMovieRelationFactory(movie=movie, m3u_account=account)
    settings = make_settings(tmp_path)
    generate.run(settings)
    before = tree(settings.output_root)
    assert len([p for p in before if p.endswith(".strm")]) == 2
    models.Movie.objects.filter(pk=second.pk).update(description="changed, so it renders again")
    result = generate.run(settings, movie_ids=[second.pk])
    after = tree(settings.output_root)
    assert set(after) == set(before)
    changed = [p for p in after if after[p] != before[p]]
    assert len(changed) == 1 and result.written == 1
    twin_files = [p for p in before if p.startswith("Movies/Twin (2000)/")]
    assert all(after[p] == before[p] for p in twin_files)


def test_a_value_xml_cannot_carry_costs_only_that_field(tmp_path, caplog):
    """One episode's still URL holds a character XML cannot carry (on SQLite a lone surrogate, which a
    JSON column's "\\ud800" decodes to; PostgreSQL refuses that, so U+FFFF there): the series keeps
    every file, the run ends well, and the field is named once and counted."""
    import logging

    from django.db import connection

    _, _, (show,) = small_catalog(movies=1, series=1, episodes=3)
    still = "https://img.example/still.jpg"
    unusable = "\ud800" if connection.vendor == "sqlite" else "\uffff"
    for episode in models.Episode.objects.filter(series=show):
        bad = unusable if episode.episode_number == 2 else ""
        models.Episode.objects.filter(pk=episode.pk).update(custom_properties={"movie_image": still + bad})
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="vod2strm.library.items"):
        result = generate.run(settings)
    assert result.exit_code == 0 and result.errors == 0, result.as_dict()
    assert result.fields_dropped == 1 and result.as_dict()["fields_dropped"] == 1
    files = tree(settings.output_root)
    assert len(files) == result.files == result.written == 2 + 2 + 2 * 3
    episode_nfos = {p: b for p, b in files.items() if "S01E" in p and p.endswith(".nfo")}
    thumbs = {p: etree.fromstring(b).findtext("thumb") for p, b in episode_nfos.items()}
    bad_nfo = next(p for p in thumbs if "S01E02" in p)
    assert thumbs.pop(bad_nfo) is None and list(thumbs.values()) == [still, still]
    assert [r.getMessage() for r in caplog.records] == [
        f"'Show 0 (2010)': {bad_nfo}: left out thumb (characters XML cannot carry)"
    ]
