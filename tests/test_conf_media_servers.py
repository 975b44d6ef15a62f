"""The media-server settings (``conf.SCHEMA``): off by default, addresses checked like
``base_url``, credentials required together and never repeated in an error or a repr, path
mappings parsed into pairs. (tests/test_conf.py holds the schema to the README and the plugin.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.library_helpers import call_cli
from vod2strm import conf
from vod2strm.errors import ConfigError

SECRET = "k3y-SECRET"


def build(**overrides: Any) -> conf.Settings:
    return conf.build({"output_root": "/data/lib", "state_dir": "/data/state", **overrides})


def test_every_server_is_off_by_default() -> None:
    settings = build()
    assert settings.media_servers() == ()
    assert (settings.jellyfin_url, settings.emby_url, settings.kodi_url) == ("", "", "")
    assert settings.jellyfin_path_map == () and settings.notify_timeout == 10.0


def test_configured_servers_are_named_in_a_fixed_order() -> None:
    settings = build(kodi_url="http://kodi:8080", jellyfin_url="http://jf:8096", jellyfin_api_key=SECRET)
    assert settings.media_servers() == ("jellyfin", "kodi")
    assert settings.kodi_url == "http://kodi:8080/jsonrpc"  # a bare address gets Kodi's endpoint
    assert build(kodi_url="https://kodi.lan/kodi/jsonrpc/").kodi_url == "https://kodi.lan/kodi/jsonrpc"
    assert build(emby_url="http://emby:8096/", emby_api_key=SECRET).emby_url == "http://emby:8096"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://jf:8096", "must be an http(s) URL with a host"),
        ("http://", "must be an http(s) URL with a host"),
        ("http://jf:0", "needs a port from 1 to 65535"),
        ("http://jf:99999", "needs a port from 1 to 65535"),
        ("http://jf :8096", "must not contain spaces"),
        ("http://jf:8096/?x=1", "must not have a query"),
    ],
)
def test_a_bad_address_is_refused_naming_the_setting(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as info:
        build(jellyfin_url=value, jellyfin_api_key=SECRET)
    assert info.value.field == "jellyfin_url"


def test_credentials_in_an_address_are_refused_without_repeating_them() -> None:
    with pytest.raises(ConfigError) as info:
        build(kodi_url=f"http://kodi:{SECRET}@kodi:8080/jsonrpc")
    assert info.value.field == "kodi_url" and SECRET not in str(info.value)
    assert "user or password" in str(info.value)


def test_an_api_key_is_required_with_its_address_and_never_echoed() -> None:
    with pytest.raises(ConfigError, match=r"^emby_api_key: is required when emby_url is set$"):
        build(emby_url="http://emby:8096")
    with pytest.raises(ConfigError) as info:
        build(jellyfin_url="http://jf:8096", jellyfin_api_key=f"{SECRET} x")
    assert info.value.field == "jellyfin_api_key" and SECRET not in str(info.value)


def test_kodis_credentials() -> None:
    assert build(kodi_url="http://k:8080", kodi_user="kodi", kodi_password=" pass word ").kodi_password == (
        " pass word "
    )  # a password is kept as given
    with pytest.raises(ConfigError, match=r"^kodi_user: is required when kodi_password is set$"):
        build(kodi_url="http://k:8080", kodi_password="x")
    with pytest.raises(ConfigError) as info:
        build(kodi_user=f"{SECRET}:x")
    assert info.value.field == "kodi_user" and SECRET not in str(info.value)
    with pytest.raises(ConfigError) as info:
        build(kodi_user="kodi", kodi_password=f"{SECRET}\n")
    assert info.value.field == "kodi_password" and SECRET not in str(info.value)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = build(
        jellyfin_url="http://jf:8096",
        jellyfin_api_key=SECRET + "1",
        emby_url="http://e:1",
        emby_api_key=SECRET + "2",
        kodi_url="http://k:1",
        kodi_user="kodi-user",
        kodi_password=SECRET + "3",
    )
    text = repr(settings)
    assert "http://jf:8096" in text
    assert SECRET not in text and "kodi-user" not in text


def test_path_maps_are_pairs() -> None:
    settings = build(
        jellyfin_path_map="/data/lib=/media/vod, /data/adult/ = /media/adult/",
        kodi_path_map="/data/lib=smb://nas/vod/\n/data/x=D:\\Media\\",
    )
    assert settings.jellyfin_path_map == (("/data/lib", "/media/vod"), ("/data/adult", "/media/adult"))
    assert settings.kodi_path_map == (("/data/lib", "smb://nas/vod"), ("/data/x", "D:\\Media"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/data/lib", "each entry must be 'vod2strm path=server path'"),
        ("/data/lib=", "each entry must be 'vod2strm path=server path'"),
        ("data/lib=/media", "the vod2strm side must be an absolute path"),
        ("/data/lib=/a,/data/lib/=/b", "'/data/lib' is mapped twice"),
    ],
)
def test_a_bad_path_map_is_refused(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as info:
        build(emby_path_map=value)
    assert info.value.field == "emby_path_map"


def test_the_environment_names_them_too() -> None:
    found = conf.from_environment(
        {
            "VOD2STRM_JELLYFIN_URL": "http://jf:8096",
            "VOD2STRM_JELLYFIN_API_KEY": SECRET,
            "VOD2STRM_NOTIFY_TIMEOUT": "5",
        }
    )
    assert conf.build({"output_root": "/data/lib", "state_dir": "/data/state", **found}).notify_timeout == 5


@pytest.mark.django_db
def test_the_command_line_refuses_a_bad_setting_in_one_line(tmp_path: Path, settings: Any) -> None:
    settings.VOD2STRM = {
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
        "jellyfin_url": "http://jf:8096",
        "jellyfin_api_key": f"{SECRET} x",
    }
    code, out, err = call_cli("generate")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("vod2strm: jellyfin_api_key: must not contain spaces")
    assert SECRET not in err
    assert not (tmp_path / "library").exists()
