"""``vod2strm notify``: sends what is pending (or the last run's changes again), ``--dry-run``
prints what each server would get after path mapping and sends nothing, ``--json`` is one object,
and without a media server configured it is a configuration error naming the setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.library_helpers import call_cli, small_catalog
from tests.mediaserver.standin import StandIn, closed_port

pytestmark = pytest.mark.django_db

KEY = "k3y-SECRET-jelly"


def configure(settings: Any, tmp_path: Path, **servers: str) -> None:
    settings.VOD2STRM = {
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
        "max_workers": 2,
        **servers,
    }


def test_without_a_media_server_it_is_a_configuration_error(tmp_path: Path, settings: Any) -> None:
    configure(settings, tmp_path)
    code, out, err = call_cli("notify")
    assert code == 2 and out == ""
    assert "jellyfin_url: no media server is configured: set jellyfin_url, emby_url or kodi_url" in err
    code, out, _ = call_cli("notify", "--json")
    assert code == 2 and json.loads(out)["exit"] == 2


def test_a_dry_run_prints_the_mapped_paths_per_server_and_sends_nothing(
    tmp_path: Path, settings: Any
) -> None:
    small_catalog(movies=1, series=0)
    dead = closed_port()
    configure(
        settings,
        tmp_path,
        jellyfin_url=dead,
        jellyfin_api_key=KEY,
        jellyfin_path_map=f"{tmp_path / 'library'}=/media/vod",
        kodi_url=dead,
        kodi_path_map=f"{tmp_path / 'library'}=smb://nas/vod",
    )
    assert call_cli("generate")[0] == 0  # the servers are unreachable: the folders stay pending
    with StandIn(api_key=KEY) as jf:
        configure(settings, tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY,
                  jellyfin_path_map=f"{tmp_path / 'library'}=/media/vod", kodi_url=jf.url + "/jsonrpc",
                  kodi_path_map=f"{tmp_path / 'library'}=smb://nas/vod")  # fmt: skip
        code, out, err = call_cli("notify", "--dry-run")
        assert jf.requests == []
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Jellyfin: would send (1 changed folders):"
    assert lines[1].startswith("  POST /Library/Media/Updated: Created /media/vod/Movies/Film 0 (2000)")
    assert lines[2] == "Kodi: would send (1 changed folders):"
    assert lines[3] == "  VideoLibrary.Scan smb://nas/vod/Movies/"
    assert lines[-1] == "Dry run: nothing was sent."


def test_notify_sends_the_pending_then_the_last_runs_changes_again(tmp_path: Path, settings: Any) -> None:
    small_catalog(movies=2, series=0)
    configure(settings, tmp_path, jellyfin_url=closed_port(), jellyfin_api_key=KEY)
    assert call_cli("generate")[0] == 0
    with StandIn(api_key=KEY) as jf:
        configure(settings, tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        code, out, _ = call_cli("notify", "--json")
        assert code == 0 and len(jf.updates()) == 2
        data = json.loads(out)
        assert data == {
            "servers": {"jellyfin": {"sent": 2, "failed": 0, "requests": 1, "full_scan": False}},
            "source": "pending",
            "dry_run": False,
            "exit": 0,
        }
        code, out, _ = call_cli("notify")
        assert code == 0 and len(jf.updates()) == 4
    assert out.splitlines() == [
        "Nothing was pending; sent the last run's changes again.",
        "Told Jellyfin about 2 changed folders.",
    ]


def test_an_unreachable_server_ends_notify_with_status_1(tmp_path: Path, settings: Any) -> None:
    small_catalog(movies=1, series=0)
    dead = closed_port()
    configure(settings, tmp_path, emby_url=dead, emby_api_key=KEY, notify_timeout=1)
    call_cli("generate")
    code, out, err = call_cli("notify")
    assert code == 1
    assert out.startswith(f"Could not tell Emby: cannot reach {dead.removeprefix('http://')}")
    assert err.rstrip().endswith("vod2strm: some media servers could not be told; their changes stay pending")
    assert KEY not in out + err
