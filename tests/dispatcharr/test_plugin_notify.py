"""The plugin's *Notify media servers* action, answered in the request as Dispatcharr calls it, and
the media-server fields the settings page shows (API keys and the password masked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.library_helpers import make_settings, small_catalog
from tests.mediaserver.standin import StandIn, closed_port
from vod2strm import application
from vod2strm.dispatcharr.plugin import ACTIONS, Plugin

KEY = "k3y-SECRET-jelly"


def context(tmp_path: Path, **saved: Any) -> dict[str, Any]:
    return {
        "settings": {"output_root": str(tmp_path / "library"), "state_dir": str(tmp_path / "state"), **saved}
    }


def test_the_action_and_the_fields_are_declared() -> None:
    (action,) = [a for a in ACTIONS if a["id"] == "notify_servers"]
    assert action["label"] == "Notify media servers" and action["button_label"] == "Notify"
    fields = {f["id"]: f for f in Plugin.fields}
    for name in ("jellyfin_api_key", "emby_api_key", "kodi_password"):
        assert fields[name]["input_type"] == "password" and fields[name]["default"] == ""
    for name in ("jellyfin_path_map", "emby_path_map", "kodi_path_map"):
        assert fields[name]["type"] == "text"
    assert fields["notify_timeout"]["type"] == "number" and fields["notify_timeout"]["default"] == 10.0
    assert fields["kodi_url"]["placeholder"] == "http://192.168.1.30:8080/jsonrpc"


@pytest.mark.django_db
def test_notify_answers_in_the_request_with_what_it_sent(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    saved = {"jellyfin_url": closed_port(), "jellyfin_api_key": KEY}
    application.generate(make_settings(tmp_path, **saved))  # unreachable: pending
    with StandIn(api_key=KEY) as jf:
        answer = Plugin().run(
            "notify_servers", {}, context(tmp_path, jellyfin_url=jf.url, jellyfin_api_key=KEY)
        )
        assert len(jf.updates()) == 2
    assert answer["status"] == "ok"
    assert answer["message"] == "Told Jellyfin about 2 changed folders."
    assert answer["data"]["summary"]["servers"]["jellyfin"]["sent"] == 2
    assert KEY not in json.dumps(answer)


@pytest.mark.django_db
def test_an_unreachable_server_is_an_error_answer_without_the_key(tmp_path: Path) -> None:
    small_catalog(movies=1, series=0)
    saved = {"emby_url": closed_port(), "emby_api_key": KEY, "notify_timeout": "1"}
    application.generate(make_settings(tmp_path, **saved))
    answer = Plugin().run("notify_servers", {}, context(tmp_path, **saved))
    assert answer["status"] == "error"
    assert answer["message"].startswith("Could not tell Emby: cannot reach")
    assert answer["data"]["summary"]["servers"]["emby"]["failed"] == 1
    assert KEY not in json.dumps(answer)


def test_without_a_server_the_answer_names_the_setting(tmp_path: Path) -> None:
    answer = Plugin().run("notify_servers", {}, context(tmp_path))
    assert answer["status"] == "error"
    assert (
        answer["message"]
        == "jellyfin_url: no media server is configured: set jellyfin_url, emby_url or kodi_url"
    )


def test_a_bad_media_server_setting_names_its_field_and_not_its_value(tmp_path: Path) -> None:
    answer = Plugin().run(
        "notify_servers", {}, context(tmp_path, jellyfin_url="http://jf:8096", jellyfin_api_key="has space")
    )
    assert answer["status"] == "error" and answer["data"]["field"] == "jellyfin_api_key"
    assert "has space" not in answer["message"]
