"""The stats report: eligible counts in a fixed number of queries, manifest counts, runs, scan."""

from __future__ import annotations

import errno
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
)
from tests.faults.helpers import Fault, FaultFS
from tests.library_helpers import make_settings, small_catalog
from vod2strm.jobs import generate, stats
from vod2strm.output.marker import MARKER_NAME

pytestmark = pytest.mark.django_db


def _grow(accounts: int, movies: int, series: int) -> None:
    made = [M3UAccountFactory(priority=i) for i in range(accounts)]
    for i in range(movies):
        movie = MovieFactory()
        for account in made[: 1 + i % len(made)]:
            M3UMovieRelationFactory(movie=movie, m3u_account=account)
    for i in range(series):
        rel = M3USeriesRelationFactory(series=SeriesFactory(), m3u_account=made[i % len(made)])
        for _ in range(i % 3):
            M3UEpisodeRelationFactory(series_relation=rel)


def _catalog_queries(settings) -> int:
    with CaptureQueriesContext(connection) as ctx:
        stats.catalog_counts(settings)
    return len(ctx.captured_queries)


def test_catalog_counts_use_a_fixed_number_of_queries(tmp_path):
    settings = make_settings(tmp_path)
    _grow(accounts=1, movies=2, series=2)
    small = _catalog_queries(settings)
    _grow(accounts=6, movies=30, series=12)
    large = _catalog_queries(settings)
    assert small == large == 8


def test_counts_per_account_and_total(tmp_path):
    a = M3UAccountFactory(name="A", priority=2)
    b = M3UAccountFactory(name="B", priority=1)
    M3UAccountFactory(name="Off", is_active=False)
    both = MovieFactory()
    M3UMovieRelationFactory(movie=both, m3u_account=a)
    M3UMovieRelationFactory(movie=both, m3u_account=b)
    M3UMovieRelationFactory(movie=MovieFactory(), m3u_account=b)
    M3UMovieRelationFactory(movie=MovieFactory(is_adult=True), m3u_account=a)  # excluded by default
    rel = M3USeriesRelationFactory(m3u_account=a)
    M3UEpisodeRelationFactory.create_batch(3, series_relation=rel)
    M3USeriesRelationFactory(m3u_account=b)  # no episodes

    report = stats.catalog_counts(make_settings(tmp_path))
    assert report["total"] == {"movies": 2, "series": 2, "episodes": 3, "series_without_episodes": 1}
    by_name = {acc["name"]: acc for acc in report["accounts"]}
    assert by_name["A"]["movies"] == 1 and by_name["B"]["movies"] == 2
    assert by_name["A"]["episodes"] == 3 and by_name["B"]["series_without_episodes"] == 1
    assert "Off" not in by_name


def test_report_has_output_runs_and_scan(tmp_path):
    small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path)
    result = generate.run(settings)
    (settings.output_root / "Movies" / "poster.jpg").write_bytes(b"not ours")
    victim = next((settings.output_root / "Movies").glob("*/*.strm"))
    victim.unlink()
    report = stats.collect(settings, scan=True)
    assert report["output"]["files"] == result.files
    assert report["output"]["by_kind"]["movie_strm"]["files"] == 2
    assert report["runs"][0]["sections"] == {"movies": "complete", "series": "complete"}
    assert report["scan"] == {
        "ours": result.files - 1,
        "not_ours": 1,
        "missing": 1,
        "changed": 0,
        "unreadable": 0,
        "unknown": 0,
    }
    assert "Library:" in stats.as_text(report)


@pytest.mark.parametrize("where", ["folder", "root"])
def test_a_folder_that_cannot_be_listed_is_reported_not_raised(tmp_path, where):
    """EIO on one folder's listing (or the root's): the scan says so, and counts the manifest's files
    there as unknown rather than missing; the rest of the library is scanned as usual."""
    small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path)
    result = generate.run(settings)
    root = settings.output_root
    folder = root if where == "root" else next(p for p in sorted((root / "Movies").iterdir()) if p.is_dir())
    inside = sum(1 for p in folder.rglob("*") if p.is_file() and p.name != MARKER_NAME)
    fs = FaultFS().add(Fault("scandir", errno.EIO, match=lambda path: path == folder))
    report = stats.collect(settings, scan=True, fs=fs)
    assert fs.raised == [("scandir", str(folder), errno.EIO)]
    assert report["scan"] == {
        "ours": result.files - inside,
        "not_ours": 0,
        "missing": 0,
        "changed": 0,
        "unreadable": 1,
        "unknown": inside,
    }
    assert "1 folder(s) could not be read" in stats.as_text(report)


def test_stats_cli_json(tmp_path, capsys):
    small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    vod = {"output_root": str(settings.output_root), "state_dir": str(settings.state_dir)}
    with override_settings(VOD2STRM=vod):
        call_command("vod2strm", "stats", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["catalog"]["total"]["movies"] == 1
    assert data["output"]["files"] == 0 and data["runs"] == []
