"""The notify job: each configured server is sent what is pending after its cursor, the cursor
moves only when the server took it all, an unreachable server keeps its changes for the next
time, a dry run and an unchanged rerun send and write nothing."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tests.mediaserver.standin import StandIn, closed_port
from vod2strm import conf
from vod2strm.jobs import notify
from vod2strm.output.changes import CREATED, DELETED, MODIFIED, ChangeLog, Recorder

KEY = "k3y-SECRET-jelly"
LIB = "/data/vod2strm/library"


def settings(tmp_path: Path, **overrides: Any) -> conf.Settings:
    (tmp_path / "state").mkdir(exist_ok=True)
    return conf.build({"output_root": LIB, "state_dir": tmp_path / "state", **overrides})


def record(s: conf.Settings, *changes: tuple[str, str, bool], job: str = "generate") -> None:
    recorder = Recorder(ChangeLog.of(s), job, s.media_servers())
    for folder, kind, nfo in changes:
        recorder.record("main", folder, kind, nfo)
    recorder.close()


def test_no_server_configured_is_an_empty_result(tmp_path: Path) -> None:
    result = notify.run(settings(tmp_path))
    assert result.servers == {} and result.exit_code == 0


def test_pending_changes_go_to_each_server_once(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf, StandIn(library={"movies": [(4, f"{LIB}/Movies/B/")]}) as kodi:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY, kodi_url=kodi.url)
        record(s, ("Movies/A", CREATED, False), ("Movies/B", MODIFIED, True))
        result = notify.run(s)
        assert result.as_dict()["servers"] == {
            "jellyfin": {"sent": 2, "failed": 0, "requests": 1, "full_scan": False},
            "kodi": {"sent": 2, "failed": 0, "requests": 3, "full_scan": False},
        }
        assert [u["Path"] for u in jf.updates()] == [f"{LIB}/Movies/A", f"{LIB}/Movies/B"]
        assert [c["method"] for c in kodi.kodi_calls()] == [
            "VideoLibrary.GetMovies",
            "XBMC.GetInfoBooleans",
            "VideoLibrary.RefreshMovie",
            "VideoLibrary.Scan",
        ]
        again = notify.run(s)
        assert len(jf.requests) == 1 and len(kodi.requests) == 3  # nothing pending: nothing sent
    assert again.servers["jellyfin"].requests == 0
    state = ChangeLog.of(s).read_state()
    assert state["servers"]["jellyfin"]["offset"] == ChangeLog.of(s).size()
    assert state["servers"]["jellyfin"]["last"]["sent"] == 2


def test_an_unchanged_rerun_reads_and_writes_nothing_more(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        record(s, ("Movies/A", CREATED, False))
        notify.run(s)
        before = {p.name: p.stat().st_mtime_ns for p in s.state_dir.iterdir()}
        time.sleep(0.01)
        result = notify.run(s)
        assert {p.name: p.stat().st_mtime_ns for p in s.state_dir.iterdir()} == before
    assert result.servers["jellyfin"].requests == 0 and len(jf.requests) == 1


def test_an_unreachable_server_keeps_its_changes_for_the_next_time(tmp_path: Path, caplog) -> None:
    dead = closed_port()
    with StandIn(api_key=KEY) as jf:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY, emby_url=dead, emby_api_key=KEY)
        record(s, ("Movies/A", CREATED, False), ("Movies/B", DELETED, False))
        with caplog.at_level(logging.INFO, logger="vod2strm"):
            result = notify.run(s, sleep=lambda _: None)
        emby = result.servers["emby"]
        assert (emby.sent, emby.failed, emby.requests) == (0, 2, 3)
        assert emby.error.startswith(f"cannot reach {dead.removeprefix('http://')}: connection refused")
        assert result.servers["jellyfin"].sent == 2 and result.exit_code == 1
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and warnings[0].startswith("Emby was not told about 2 changed folder(s)")
        assert KEY not in caplog.text

        record(s, ("Movies/C", CREATED, False))  # the next run
        with StandIn(api_key=KEY) as emby_server:
            s = conf.build({**_raw(s), "emby_url": emby_server.url})
            result = notify.run(s)
        assert [u["Path"].rsplit("/", 1)[1] for u in emby_server.updates()] == ["A", "B", "C"]
        assert [u["Path"].rsplit("/", 1)[1] for u in jf.updates()] == ["A", "B", "C"]
    assert result.servers["emby"].sent == 3 and result.exit_code == 0


def _raw(s: conf.Settings) -> dict[str, Any]:
    return {name: getattr(s, name) for name in conf.SCHEMA}


def test_a_dry_run_sends_nothing_and_moves_no_cursor(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf:
        s = settings(
            tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY, jellyfin_path_map=f"{LIB}=/media/vod"
        )
        record(s, ("Movies/A", CREATED, False))
        state = ChangeLog.of(s).read_state()
        result = notify.run(s, dry_run=True)
        assert jf.requests == []
    assert ChangeLog.of(s).read_state() == state
    assert result.as_dict()["servers"]["jellyfin"]["would_send"] == [
        {
            "request": "POST /Library/Media/Updated",
            "body": {"Updates": [{"Path": "/media/vod/Movies/A", "UpdateType": "Created"}]},
        }
    ]


def test_with_nothing_pending_the_last_runs_changes_can_be_sent_again(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        record(s, ("Movies/A", CREATED, False))
        notify.run(s)
        record(s, ("Movies/B", MODIFIED, False))
        notify.run(s)
        assert notify.run(s).servers["jellyfin"].requests == 0
        result = notify.run(s, resend_last=True)
    assert result.source == "last run"
    assert [u["Path"] for u in jf.updates()] == [f"{LIB}/Movies/A", f"{LIB}/Movies/B", f"{LIB}/Movies/B"]


def test_more_changed_folders_than_the_threshold_ask_for_a_full_scan(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        record(s, *[(f"Movies/M{i}", CREATED, False) for i in range(30)])
        result = notify.run(s, full_scan_above=20)
    assert [r.path for r in jf.requests] == ["/Library/Refresh"]
    assert result.servers["jellyfin"].full_scan and result.servers["jellyfin"].sent == 30


def test_a_stalled_server_does_not_hold_up_the_others_beyond_its_budget(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf, StandIn(api_key=KEY, delay=5) as slow:
        s = settings(
            tmp_path,
            jellyfin_url=jf.url,
            jellyfin_api_key=KEY,
            emby_url=slow.url,
            emby_api_key=KEY,
            notify_timeout=1,
        )
        record(s, ("Movies/A", CREATED, False))
        started = time.monotonic()
        result = notify.run(s, budget=1.5)
        elapsed = time.monotonic() - started
    assert elapsed < 3.5, elapsed
    assert result.servers["jellyfin"].sent == 1
    assert result.servers["emby"].failed == 1 and "no answer in time" in result.servers["emby"].error


def test_a_server_owed_a_full_scan_gets_one(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as jf:
        s = settings(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        record(s, ("Movies/A", CREATED, False))
        log = ChangeLog.of(s)
        state = log.read_state()
        state["servers"]["jellyfin"]["full"] = True
        log.write_state(state)
        notify.run(s)
        notify.run(s)
    assert [r.path for r in jf.requests] == ["/Library/Refresh"]
    assert log.read_state()["servers"]["jellyfin"]["full"] is False
