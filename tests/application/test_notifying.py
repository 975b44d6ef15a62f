"""After a run, the media servers are told what it changed (``vod2strm.application.notifying``):
Jellyfin, Emby and Kodi stand-ins get the run's folders (mapped), an unchanged rerun and a dry
run send nothing, removals arrive as Deleted and a Kodi clean, and a server that cannot be reached
is one warning and a count that leaves the run's exit status alone, with its changes resent by
the next run. No token or password ever shows: not in logs, output, JSON or the status file."""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.library_helpers import call_cli, make_settings, small_catalog
from tests.mediaserver.standin import StandIn, closed_port
from vod2strm import application
from vod2strm.management.commands.vod2strm import WORDING
from vod2strm.output.changes import ChangeLog
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db

KEY = "k3y-SECRET-jelly"
PASSWORD = "kodi-PASSWORD-s3cret"
MEDIA = "/media/vod"


def servers(tmp_path: Path, jellyfin: str, kodi: str | None = None, **extra: Any) -> dict[str, Any]:
    library = tmp_path / "library"
    values = {
        "jellyfin_url": jellyfin,
        "jellyfin_api_key": KEY,
        "jellyfin_path_map": f"{library}={MEDIA}",
        **extra,
    }
    if kodi is not None:
        values.update(
            kodi_url=kodi, kodi_user="kodi", kodi_password=PASSWORD, kodi_path_map=f"{library}=smb://nas/vod"
        )
    return values


def test_a_generate_tells_the_servers_what_it_wrote_and_a_rerun_tells_nothing(tmp_path: Path) -> None:
    small_catalog(movies=2, series=1, episodes=2)
    with StandIn(api_key=KEY) as jf, StandIn(kodi_user="kodi", kodi_password=PASSWORD) as kodi:
        settings = make_settings(tmp_path, **servers(tmp_path, jf.url, kodi.url))
        outcome = application.generate(settings)
        assert outcome.exit_code == 0
        assert outcome.data["notified"] == {
            "jellyfin": {"sent": 4, "failed": 0, "requests": 1, "full_scan": False},
            "kodi": {"sent": 4, "failed": 0, "requests": 2, "full_scan": False},
        }
        paths = sorted(u["Path"] for u in jf.updates())
        assert len(paths) == 4 and all(p.startswith(f"{MEDIA}/") for p in paths)
        assert {u["UpdateType"] for u in jf.updates()} == {"Created"}
        assert any(p.endswith("/Season 01") for p in paths)
        # Both sections got new files: one scan of the whole library (a second scan would stop the
        # first), once Kodi says its library is idle.
        assert [(c["method"], c["params"].get("directory")) for c in kodi.kodi_calls()] == [
            ("XBMC.GetInfoBooleans", None),
            ("VideoLibrary.Scan", None),
        ]
        assert "Told Jellyfin about 4 changed folders." in outcome.lines(WORDING)

        rerun = application.generate(settings)
        assert rerun.data["written"] == 0
        assert len(jf.requests) == 1 and len(kodi.requests) == 2
    assert rerun.data["notified"]["jellyfin"] == {"sent": 0, "failed": 0, "requests": 0, "full_scan": False}
    assert not [line for line in rerun.lines(WORDING) if "Jellyfin" in line]


def test_a_changed_nfo_is_refreshed_in_kodi_and_modified_in_jellyfin(tmp_path: Path) -> None:
    _, movies, _ = small_catalog(movies=2, series=0)
    with StandIn(api_key=KEY) as jf, StandIn(kodi_user="kodi", kodi_password=PASSWORD) as kodi:
        settings = make_settings(tmp_path, **servers(tmp_path, jf.url, kodi.url))
        application.generate(settings)
        folder = next(
            p.name for p in (settings.output_root / "Movies").iterdir() if p.name.startswith("Film 1")
        )
        kodi.library = {"movies": [(11, f"smb://nas/vod/Movies/{folder}/")]}
        jf.requests.clear()
        kodi.requests.clear()
        models.Movie.objects.filter(pk=movies[1].pk).update(description="A brand new plot.")
        application.generate(settings)
    assert jf.updates() == [{"Path": f"{MEDIA}/Movies/{folder}", "UpdateType": "Modified"}]
    assert [(c["method"], c["params"]) for c in kodi.kodi_calls()] == [
        ("VideoLibrary.GetMovies", {"filter": {"field": "path", "operator": "startswith",
                                               "value": f"smb://nas/vod/Movies/{folder}/"}}),
        ("VideoLibrary.RefreshMovie", {"movieid": 11, "ignorenfo": False}),
    ]  # fmt: skip


def test_cleanup_removals_arrive_as_deleted_and_a_kodi_clean(tmp_path: Path) -> None:
    _, movies, _ = small_catalog(movies=6, series=0)
    with StandIn(api_key=KEY) as jf, StandIn(kodi_user="kodi", kodi_password=PASSWORD) as kodi:
        settings = make_settings(tmp_path, cleanup_max_share=0.5, **servers(tmp_path, jf.url, kodi.url))
        application.generate(settings)
        gone = next(
            p.name for p in (settings.output_root / "Movies").iterdir() if p.name.startswith("Film 2")
        )
        movies[2].delete()
        jf.requests.clear()
        kodi.requests.clear()
        outcome = application.generate(
            settings, cleanup=True
        )  # the generate changes nothing; its cleanup does
        assert outcome.exit_code == 0 and outcome.data["removed"] == 2
    assert jf.updates() == [{"Path": f"{MEDIA}/Movies/{gone}", "UpdateType": "Deleted"}]
    assert [(c["method"], c["params"]) for c in kodi.kodi_calls()] == [
        ("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanningVideo"]}),
        ("VideoLibrary.Clean", {"showdialogs": False, "content": "movies"}),
    ]
    assert outcome.data["notified"]["kodi"]["sent"] == 1


def test_the_cleanup_command_tells_the_servers_too(tmp_path: Path) -> None:
    _, movies, _ = small_catalog(movies=6, series=0)
    with StandIn(api_key=KEY) as jf:
        settings = make_settings(tmp_path, cleanup_max_share=0.5, **servers(tmp_path, jf.url))
        application.generate(settings)
        movies[2].delete()
        application.generate(settings)
        jf.requests.clear()
        preview = application.cleanup(settings, dry_run=True)
        assert jf.requests == [] and "notified" not in preview.data
        outcome = application.cleanup(settings)
    assert [u["UpdateType"] for u in jf.updates()] == ["Deleted"]
    assert outcome.data["notified"]["jellyfin"]["sent"] == 1
    assert "Told Jellyfin about 1 changed folders." in outcome.lines(WORDING)


def test_an_unreachable_server_is_a_warning_and_a_count_and_the_next_run_resends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    small_catalog(movies=2, series=0)
    dead = closed_port()
    settings = make_settings(tmp_path, **servers(tmp_path, dead))
    with caplog.at_level(logging.INFO, logger="vod2strm"):
        outcome = application.generate(settings)
    assert outcome.exit_code == 0  # the run's status is the run's
    notified = outcome.data["notified"]["jellyfin"]
    assert (notified["sent"], notified["failed"]) == (0, 2)
    assert notified["error"].startswith(f"cannot reach {dead.removeprefix('http://')}: connection refused")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "Jellyfin was not told about 2 changed folder(s)" in warnings[0]
    (sentence,) = [line for line in outcome.lines(WORDING) if "Jellyfin" in line]
    assert (
        sentence.startswith("Could not tell Jellyfin: cannot reach")
        and "2 changed folders stay pending" in sentence
    )

    with StandIn(api_key=KEY) as jf:  # the server is back; the next run (which changes nothing) resends
        settings = make_settings(tmp_path, **servers(tmp_path, jf.url))
        again = application.generate(settings)
        assert again.data["written"] == 0
    assert len(jf.updates()) == 2 and again.data["notified"]["jellyfin"]["sent"] == 2


def test_a_dry_run_and_an_interrupted_run_send_nothing(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path, **servers(tmp_path, closed_port()))
    application.generate(settings)  # leaves 2 folders pending for an unreachable server
    with StandIn(api_key=KEY) as jf:
        settings = make_settings(tmp_path, **servers(tmp_path, jf.url))
        dry = application.generate(settings, dry_run=True)
        cancel = threading.Event()
        cancel.set()
        stopped = application.generate(settings, cancel=cancel)
        assert jf.requests == []
    assert "notified" not in dry.data
    assert stopped.data["notified"] == {"skipped": "the run was interrupted; its changes stay pending"}
    assert ChangeLog.of(settings).read_state()["servers"]["jellyfin"]["offset"] == 0


def test_no_server_configured_changes_nothing(tmp_path: Path) -> None:
    small_catalog(movies=1, series=0)
    outcome = application.generate(make_settings(tmp_path))
    assert "notified" not in outcome.data


def test_no_secret_shows_anywhere(tmp_path: Path, settings, caplog, capfd) -> None:
    """Through the command line: logs, stdout, stderr, the JSON and the status file."""
    small_catalog(movies=2, series=0)
    caplog.set_level(logging.DEBUG, logger="vod2strm")
    with StandIn(api_key=KEY) as jf:
        settings.VOD2STRM = {
            "output_root": str(tmp_path / "library"),
            "state_dir": str(tmp_path / "state"),
            **servers(tmp_path, jf.url, closed_port(), emby_url=closed_port(), emby_api_key=KEY + "-emby"),
        }
        code, out, err = call_cli("generate", "--json")
        code2, out2, err2 = call_cli("notify")
        code3, out3, err3 = call_cli("notify", "--dry-run", "--json")
    assert code == 0 and code2 == 1 and code3 == 0
    data = json.loads(out)
    assert data["notified"]["jellyfin"]["sent"] == 2 and data["notified"]["kodi"]["failed"] == 2
    status = (tmp_path / "state" / "status.json").read_text()
    captured = capfd.readouterr()
    state_files = "".join(p.read_text(errors="replace") for p in (tmp_path / "state").glob("notify-*.json"))
    everything = "\n".join(
        [out, err, out2, err2, out3, err3, caplog.text, status, state_files, captured.out, captured.err]
    )
    basic = base64.b64encode(f"kodi:{PASSWORD}".encode()).decode()
    for secret in (KEY, PASSWORD, KEY + "-emby", basic):
        assert secret not in everything
    print(out2, err2, out3, sep="\n---\n")
    assert "cannot reach" in err2 or "cannot reach" in out2
