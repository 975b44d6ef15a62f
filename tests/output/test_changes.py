"""The change log the media servers are told from: what generate and cleanup record (folders, not
files; created, modified, deleted; an NFO among them), what they do not (a dry run, an unchanged
rerun, no server configured), and how it stays bounded (a run's cap, starting afresh, cursors)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tests.factories import EpisodeFactory, M3UEpisodeRelationFactory
from tests.library_helpers import make_settings, small_catalog
from vod2strm.jobs import cleanup, generate
from vod2strm.output import changes
from vod2strm.output.changes import CREATED, DELETED, MODIFIED, ChangeLog, FolderChange, Recorder
from vod2strm.standalone import models

SERVER = {"jellyfin_url": "http://127.0.0.1:9", "jellyfin_api_key": "k3y"}


def log_of(tmp_path: Path) -> ChangeLog:
    (tmp_path / "state").mkdir(exist_ok=True)
    return ChangeLog(tmp_path / "state", tmp_path / "library")


def lines(log: ChangeLog) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def folders(log: ChangeLog) -> list[tuple[str, str, bool]]:
    return [(d["f"], d["t"], bool(d.get("n"))) for d in lines(log) if "f" in d]


def read(log: ChangeLog, start: int = 0, **limits: int) -> changes.Pending:
    with log.snapshot() as (state, handle):
        return ChangeLog.read(
            handle,
            start,
            generation=state["generation"],
            detail_limit=limits.get("detail_limit", 1000),
            nfo_limit=limits.get("nfo_limit", 200),
        )


# -- the recorder ------------------------------------------------------------------------------------


def test_a_recorder_that_records_nothing_writes_nothing(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    Recorder(log, "generate", ["jellyfin"]).close()
    assert list((tmp_path / "state").iterdir()) == []


def test_a_run_is_one_header_then_one_line_per_folder(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    recorder = Recorder(log, "generate", ["jellyfin", "kodi"])
    recorder.record("main", "Movies/A (2001)", CREATED, nfo=True)
    recorder.record("main", "Movies/A (2001)", CREATED, nfo=True)  # the same folder's next result
    recorder.record("main", "TV Shows/S/Season 01", MODIFIED)
    recorder.close()
    header, *rest = lines(log)
    assert header["run"] == "generate"
    assert rest == [
        {"r": "main", "f": "Movies/A (2001)", "t": "c", "n": 1},
        {"r": "main", "f": "TV Shows/S/Season 01", "t": "m"},
    ]
    state = log.read_state()
    assert state["servers"] == {"jellyfin": {"offset": 0}, "kodi": {"offset": 0}}


def test_a_run_lists_at_most_its_cap_then_says_it_overflowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(changes, "RUN_DETAIL_MAX", 3)
    log = log_of(tmp_path)
    recorder = Recorder(log, "cleanup", ["jellyfin"])
    for i in range(10):
        recorder.record("main", f"Movies/M{i}", MODIFIED)
    recorder.record("main", "Movies/Gone", DELETED)
    recorder.close()
    assert [d for d in lines(log) if "o" in d] == [{"o": 1, "t": "w"}, {"o": 1, "t": "d"}]
    pending = read(log)
    assert pending.full and pending.overflow and pending.deleted and pending.records == 3


def test_a_state_folder_that_refuses_the_log_is_one_warning(tmp_path: Path, caplog) -> None:
    (tmp_path / "state").write_text("a file, not a folder")
    recorder = Recorder(ChangeLog(tmp_path / "state", tmp_path / "library"), "generate", ["kodi"])
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            recorder.record("main", f"Movies/M{i}", CREATED)
        recorder.close()
    assert len([r for r in caplog.records if "cannot record changes" in r.getMessage()]) == 1


# -- reading -------------------------------------------------------------------------------------------


def test_a_folder_changed_twice_is_told_once_with_its_kinds_merged(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    for job, records in [
        ("generate", [("A", CREATED, False), ("B", MODIFIED, False), ("C", MODIFIED, True)]),
        ("generate", [("A", MODIFIED, True), ("B", MODIFIED, True), ("D", CREATED, False)]),
        ("cleanup", [("C", DELETED, False), ("D", DELETED, True)]),
        ("generate", [("D", CREATED, False)]),
    ]:
        recorder = Recorder(log, job, ["jellyfin"])
        for folder, kind, nfo in records:
            recorder.record("main", f"Movies/{folder}", kind, nfo)
        recorder.close()
    pending = read(log)
    assert pending.changes == [
        FolderChange("main", "Movies/A", CREATED, True),
        FolderChange("main", "Movies/B", MODIFIED, True),
        FolderChange("main", "Movies/C", DELETED),
        FolderChange("main", "Movies/D", CREATED),  # back after its removal: new files again
    ]
    assert pending.records == 9 and pending.deleted and pending.deleted_sections == {("main", "Movies")}
    assert pending.end == log.size()


def test_a_line_still_being_written_is_left_for_the_next_reader(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    recorder = Recorder(log, "generate", ["jellyfin"])
    recorder.record("main", "Movies/A", CREATED)
    recorder.close()
    complete = log.size()
    with log.path.open("ab") as handle:
        handle.write(b'{"r":"main","f":"Movies/B","t"')
    pending = read(log)
    assert [c.folder for c in pending.changes] == ["Movies/A"] and pending.end == complete


def test_more_folders_than_the_detail_limit_owe_a_full_scan_and_keep_nfo_refreshes(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    recorder = Recorder(log, "generate", ["kodi"])
    for i in range(50):
        recorder.record("main", f"Movies/M{i}", MODIFIED, nfo=i % 10 == 0)
    recorder.close()
    pending = read(log, detail_limit=20, nfo_limit=3)
    assert pending.full and pending.folders == 50
    assert [c.folder for c in pending.nfo_modified] == ["Movies/M0", "Movies/M10", "Movies/M20"]


# -- bounded -----------------------------------------------------------------------------------------


def test_the_log_starts_afresh_once_every_server_read_it(tmp_path: Path) -> None:
    log = log_of(tmp_path)
    first = Recorder(log, "generate", ["jellyfin", "kodi"])
    first.record("main", "Movies/A", CREATED)
    first.close()
    size = log.size()
    assert log.advance("jellyfin", 0, 0, size, {})
    second = Recorder(log, "generate", ["jellyfin", "kodi"])
    second.record("main", "Movies/B", CREATED)
    second.close()
    assert log.read_state()["generation"] == 0  # kodi had not read it: kept
    assert [f for f, _, _ in folders(log)] == ["Movies/A", "Movies/B"]
    for name in ("jellyfin", "kodi"):
        assert log.advance(name, 0, 0, log.size(), {})
    third = Recorder(log, "cleanup", ["jellyfin", "kodi"])
    third.record("main", "Movies/A", DELETED)
    third.close()
    state = log.read_state()
    assert state["generation"] == 1 and folders(log) == [("Movies/A", "d", False)]
    assert {c["offset"] for c in state["servers"].values()} == {0}
    assert not log.advance("jellyfin", 0, 0, 999, {})  # read before it started afresh: no move


def test_a_log_grown_too_large_owes_the_lagging_servers_a_full_scan(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(changes, "MAX_LOG_BYTES", 100)
    log = log_of(tmp_path)
    recorder = Recorder(log, "generate", ["jellyfin", "kodi"])
    for i in range(5):
        recorder.record("main", f"Movies/M{i}", CREATED)
    recorder.close()
    assert log.advance("jellyfin", 0, 0, log.size(), {})
    with caplog.at_level(logging.WARNING):
        recorder = Recorder(log, "generate", ["jellyfin", "kodi"])
        recorder.record("main", "Movies/Z", CREATED)
        recorder.close()
    state = log.read_state()
    assert state["generation"] == 1 and [f for f, _, _ in folders(log)] == ["Movies/Z"]
    assert state["servers"]["kodi"]["full"] is True and not state["servers"]["jellyfin"].get("full")
    assert "kodi will be asked for a full scan" in caplog.text


# -- what generate and cleanup record ------------------------------------------------------------------


@pytest.mark.django_db
def test_generate_records_every_folder_it_wrote_once(tmp_path: Path) -> None:
    _, movies, series = small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path, **SERVER)
    assert generate.run(settings).exit_code == 0
    log = ChangeLog.of(settings)
    film = [f"Movies/Film {i} ({2000 + i}) [tmdbid-{movies[i].tmdb_id}]" for i in range(2)]
    show = f"TV Shows/Show 0 (2010) [tmdbid-{series[0].tmdb_id}]"
    assert sorted(folders(log)) == [  # new files, no NFO rewritten
        (film[0], "c", False),
        (film[1], "c", False),
        (show, "c", False),
        (f"{show}/Season 01", "c", False),
    ]
    size = log.size()

    assert generate.run(settings).written == 0  # unchanged rerun: nothing recorded
    assert log.size() == size

    models.Movie.objects.filter(pk=movies[1].pk).update(description="A brand new plot.")
    assert generate.run(settings).written == 1
    assert folders(log)[-1] == (film[1], "m", True)

    assert generate.run(settings, dry_run=True).exit_code == 0
    models.Movie.objects.filter(pk=movies[0].pk).update(description="Changed again.")
    assert generate.run(settings, dry_run=True).written == 1  # a dry run records nothing
    assert folders(log)[-1] == (film[1], "m", True)


@pytest.mark.django_db
def test_a_folder_with_a_new_file_and_a_rewritten_nfo_is_both(tmp_path: Path) -> None:
    """A new episode beside one whose NFO changed: Kodi must scan for the one and re-read the other."""
    account, _, series = small_catalog(movies=0, series=1, episodes=1)
    settings = make_settings(tmp_path, **SERVER)
    generate.run(settings)
    show = series[0]
    models.Episode.objects.filter(series=show).update(description="A new plot.")
    episode = EpisodeFactory(series=show, season_number=1, episode_number=2, name="Chapter 2")
    relation = models.M3USeriesRelation.objects.get(series=show)
    M3UEpisodeRelationFactory(episode=episode, m3u_account=account, series_relation=relation, stream_id="new")
    generate.run(settings)
    season = [f for f in folders(ChangeLog.of(settings)) if f[0].endswith("/Season 01")]
    assert season[-1][1:] == ("c", True)


@pytest.mark.django_db
def test_cleanup_records_the_folders_it_removed_files_from(tmp_path: Path) -> None:
    _, movies, _ = small_catalog(movies=6, series=1, episodes=1)
    settings = make_settings(tmp_path, cleanup_max_share=0.5, **SERVER)
    generate.run(settings)
    movies[2].delete()
    generate.run(settings)
    log = ChangeLog.of(settings)
    before = len(lines(log))
    assert cleanup.run(settings, dry_run=True).would_remove == 2
    assert len(lines(log)) == before  # a dry run records nothing
    assert cleanup.run(settings).removed == 2
    assert folders(log)[-1:] == [(f"Movies/Film 2 (2002) [tmdbid-{movies[2].tmdb_id}]", "d", False)]
    assert lines(log)[before]["run"] == "cleanup"


@pytest.mark.django_db
def test_nothing_is_recorded_when_no_media_server_is_configured(tmp_path: Path) -> None:
    small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    assert generate.run(settings).written == 2
    assert not [p for p in os.listdir(settings.state_dir) if p.startswith(("changes-", "notify-"))]
