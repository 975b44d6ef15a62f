"""What Jellyfin, Emby and Kodi receive for a set of changed folders, checked against their
documented APIs by a stand-in server: endpoints, bodies, authentication headers, path mapping,
batches of at most 500, a full scan instead of a long list, Kodi's look-up-then-refresh and clean."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.mediaserver.standin import StandIn
from vod2strm import conf
from vod2strm.mediaserver import servers
from vod2strm.mediaserver.http import Deadline, DeliveryError, Transport
from vod2strm.output.changes import CREATED, DELETED, MODIFIED, FolderChange, Pending

KEY = "k3y-SECRET-jelly"
LIB = "/data/vod2strm/library"


def settings(tmp_path: Path, **overrides: Any) -> conf.Settings:
    return conf.build({"output_root": LIB, "state_dir": tmp_path / "state", **overrides})


def pending(*changes: FolderChange, full: bool = False, **extra: Any) -> Pending:
    p = Pending(0, 100, 0, changes=None if full else list(changes), records=len(changes) or 1, **extra)
    return p


def send(server: servers.Server, work: servers.Work) -> list[str]:
    return server.send(work, Transport(timeout=5, deadline=Deadline(10), secrets=server.secrets))


# -- Jellyfin -------------------------------------------------------------------------------------


def test_jellyfin_gets_the_documented_body_and_authorization(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as standin:
        s = settings(tmp_path, jellyfin_url=standin.url, jellyfin_api_key=KEY,
                     jellyfin_path_map=f"{LIB}=/media/vod")  # fmt: skip
        server = servers.server("jellyfin", s)
        work = servers.plan(
            pending(
                FolderChange("main", "Movies/Film (2001)", CREATED),
                FolderChange("main", "TV Shows/Show (2010)/Season 01", MODIFIED, nfo=True),
                FolderChange("main", "Movies/Gone (1999)", DELETED),
            ),
            s,
            server.path_map(),
        )
        assert send(server, work) == []
    (request,) = standin.requests
    assert request.path == "/Library/Media/Updated"
    assert request.headers["authorization"] == f'MediaBrowser Token="{KEY}"'
    assert "x-emby-token" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "Updates": [
            {"Path": "/media/vod/Movies/Film (2001)", "UpdateType": "Created"},
            {"Path": "/media/vod/TV Shows/Show (2010)/Season 01", "UpdateType": "Modified"},
            {"Path": "/media/vod/Movies/Gone (1999)", "UpdateType": "Deleted"},
        ]
    }


def test_jellyfin_gets_at_most_500_paths_a_request(tmp_path: Path) -> None:
    changes = [FolderChange("main", f"Movies/Film {i}", CREATED) for i in range(1200)]
    with StandIn(api_key=KEY) as standin:
        s = settings(tmp_path, jellyfin_url=standin.url + "/jf/", jellyfin_api_key=KEY)
        server = servers.server("jellyfin", s)
        send(server, servers.plan(pending(*changes), s, server.path_map()))
    assert [r.path for r in standin.requests] == ["/jf/Library/Media/Updated"] * 3  # the path prefix kept
    assert [len(r.json["Updates"]) for r in standin.requests] == [500, 500, 200]
    assert [u["Path"] for u in standin.updates()] == [f"{LIB}/Movies/Film {i}" for i in range(1200)]


def test_a_full_scan_is_one_library_refresh(tmp_path: Path) -> None:
    with StandIn(api_key=KEY) as standin:
        s = settings(tmp_path, jellyfin_url=standin.url, jellyfin_api_key=KEY)
        server = servers.server("jellyfin", s)
        work = servers.plan(pending(full=True, overflow=True), s, server.path_map())
        assert work.full and work.updates == []
        send(server, work)
    (request,) = standin.requests
    assert (request.path, request.body) == ("/Library/Refresh", b"")
    assert request.headers["authorization"] == f'MediaBrowser Token="{KEY}"'


# -- Emby -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/emby", "/emby/"])
def test_emby_gets_its_prefix_once_and_its_token_header(tmp_path: Path, suffix: str) -> None:
    with StandIn(api_key=KEY) as standin:
        s = settings(
            tmp_path, emby_url=standin.url + suffix, emby_api_key=KEY, emby_path_map=f"{LIB}=/mnt/vod"
        )
        server = servers.server("emby", s)
        send(
            server,
            servers.plan(pending(FolderChange("main", "Movies/Film (2001)", CREATED)), s, server.path_map()),
        )
        send(server, servers.plan(pending(full=True), s, server.path_map()))
    assert [r.path for r in standin.requests] == ["/emby/Library/Media/Updated", "/emby/Library/Refresh"]
    assert all(
        r.headers["x-emby-token"] == KEY and "authorization" not in r.headers for r in standin.requests
    )
    assert standin.updates() == [{"Path": "/mnt/vod/Movies/Film (2001)", "UpdateType": "Created"}]


# -- Kodi -----------------------------------------------------------------------------------------


#: The question asked before each scan or clean: is Kodi's library idle?
IDLE = ("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanningVideo"]})


def kodi_settings(tmp_path: Path, url: str, **overrides: Any) -> conf.Settings:
    return settings(tmp_path, kodi_url=url + "/jsonrpc", kodi_path_map=f"{LIB}=smb://nas/vod", **overrides)


def methods(standin: StandIn) -> list[tuple[str, dict[str, Any]]]:
    return [(c["method"], c["params"]) for c in standin.kodi_calls()]


def test_kodi_scans_the_section_of_new_files_and_refreshes_what_it_knows(tmp_path: Path) -> None:
    season = "smb://nas/vod/TV Shows/Show (2010)/Season 01/"
    library = {
        "movies": [(7, "smb://nas/vod/Movies/Film (2001)/"), (8, "smb://nas/vod/Movies/Film (2001) (2)/")],
        "tvshows": [(3, "smb://nas/vod/TV Shows/Show (2010)/")],
        "episodes": [(21, season), (22, season)],
    }
    with StandIn(library=library, kodi_user="kodi", kodi_password="pa ss:w0rd") as standin:
        s = kodi_settings(tmp_path, standin.url, kodi_user="kodi", kodi_password="pa ss:w0rd")
        server = servers.server("kodi", s)
        work = servers.plan(
            pending(
                FolderChange("main", "Movies/New (2024)", CREATED),
                FolderChange("main", "Movies/Film (2001)", MODIFIED, nfo=True),
                FolderChange("main", "Movies/Plain (2002)", MODIFIED),  # a .strm only: nothing for Kodi
                FolderChange("main", "TV Shows/Show (2010)", MODIFIED, nfo=True),
                FolderChange("main", "TV Shows/Show (2010)/Season 01", MODIFIED, nfo=True),
            ),
            s,
            server.path_map(),
        )
        assert send(server, work) == []
    token = base64.b64encode(b"kodi:pa ss:w0rd").decode()
    assert all(r.headers["authorization"] == f"Basic {token}" for r in standin.requests)
    assert all(r.path == "/jsonrpc" for r in standin.requests)
    lookups, idle, actions = (r.json for r in standin.requests)
    assert [(c["method"], c["params"]) for c in idle] == [IDLE]
    assert [c["jsonrpc"] for c in lookups + actions] == ["2.0"] * (len(lookups) + len(actions))
    assert [(c["method"], c["params"]) for c in lookups] == [
        ("VideoLibrary.GetMovies", {"filter": {"field": "path", "operator": "startswith",
                                               "value": "smb://nas/vod/Movies/Film (2001)/"}}),
        ("VideoLibrary.GetTVShows", {"filter": {"field": "path", "operator": "startswith",
                                                "value": "smb://nas/vod/TV Shows/Show (2010)/"}}),
        ("VideoLibrary.GetEpisodes", {"filter": {"field": "path", "operator": "startswith",
                                                 "value": "smb://nas/vod/TV Shows/Show (2010)/Season 01/"}}),
    ]  # fmt: skip
    assert [(c["method"], c["params"]) for c in actions] == [
        ("VideoLibrary.RefreshMovie", {"movieid": 7, "ignorenfo": False}),  # not Film (2001) (2)
        ("VideoLibrary.RefreshTVShow", {"tvshowid": 3, "ignorenfo": False}),
        ("VideoLibrary.RefreshEpisode", {"episodeid": 21, "ignorenfo": False}),
        ("VideoLibrary.RefreshEpisode", {"episodeid": 22, "ignorenfo": False}),
        ("VideoLibrary.Scan", {"directory": "smb://nas/vod/Movies/", "showdialogs": False}),
    ]
    assert len({c["id"] for c in actions}) == len(actions)


def test_kodi_scans_for_an_item_it_does_not_know_and_cleans_after_removals(tmp_path: Path) -> None:
    with StandIn() as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        work = servers.plan(
            pending(
                FolderChange("main", "TV Shows/Show (2010)/Season 02", MODIFIED, nfo=True),
                FolderChange("main", "Movies/Gone (1999)", DELETED),
            ),
            s,
            server.path_map(),
        )
        send(server, work)
    assert "authorization" not in standin.requests[0].headers
    assert methods(standin)[1:] == [
        IDLE,
        ("VideoLibrary.Scan", {"directory": "smb://nas/vod/TV Shows/", "showdialogs": False}),
        IDLE,  # Kodi refuses a clean while it scans: the clean waits until Kodi says it is idle
        ("VideoLibrary.Clean", {"showdialogs": False, "content": "movies"}),
    ]


def test_kodi_owed_a_full_scan_scans_the_whole_library(tmp_path: Path) -> None:
    with StandIn() as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        work = servers.plan(
            pending(full=True, deleted=True, deleted_sections={("main", "Movies"), ("main", "TV Shows")}),
            s,
            server.path_map(),
        )
        send(server, work)
    assert methods(standin) == [
        IDLE,
        ("VideoLibrary.Scan", {"showdialogs": False}),
        IDLE,
        ("VideoLibrary.Clean", {"showdialogs": False, "content": "video"}),
    ]


def test_kodi_gets_one_scan_of_the_whole_library_when_two_sections_got_new_files(tmp_path: Path) -> None:
    # A second VideoLibrary.Scan while the first is queued stops it (Kodi's updatelibrary toggles).
    with StandIn() as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        changes = pending(
            FolderChange("main", "Movies/New (2024)", CREATED),
            FolderChange("main", "TV Shows/Show (2010)/Season 02", CREATED),
        )
        send(server, servers.plan(changes, s, server.path_map()))
    assert methods(standin) == [IDLE, ("VideoLibrary.Scan", {"showdialogs": False})]


def test_kodi_is_asked_to_scan_and_clean_only_once_its_library_is_idle(tmp_path: Path) -> None:
    # A Scan sent while Kodi scans or cleans would stop that scan; a Clean would be refused.
    slept: list[float] = []
    with StandIn(kodi_busy=2) as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        changes = pending(
            FolderChange("main", "Movies/New (2024)", CREATED),
            FolderChange("main", "Movies/Gone (1999)", DELETED),
        )
        transport = Transport(timeout=5, deadline=Deadline(10), sleep=slept.append)
        server.send(servers.plan(changes, s, server.path_map()), transport)
    assert methods(standin) == [
        IDLE,
        IDLE,
        IDLE,
        ("VideoLibrary.Scan", {"directory": "smb://nas/vod/Movies/", "showdialogs": False}),
        IDLE,
        ("VideoLibrary.Clean", {"showdialogs": False, "content": "movies"}),
    ]
    assert slept == [servers.KODI_IDLE_POLL] * 2


def test_a_kodi_busy_for_all_its_time_is_not_asked_to_scan(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with StandIn(kodi_busy=1000) as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        changes = pending(FolderChange("main", "Movies/New (2024)", CREATED))
        transport = Transport(timeout=5, deadline=Deadline(3, clock=lambda: now[0]), sleep=sleep)
        with pytest.raises(
            DeliveryError, match="Kodi was scanning or cleaning its library for all of the 3 s"
        ):
            server.send(servers.plan(changes, s, server.path_map()), transport)
    assert {method for method, _ in methods(standin)} == {"XBMC.GetInfoBooleans"}


def test_kodi_removes_a_show_whose_folder_vod2strm_removed(tmp_path: Path) -> None:
    # Kodi's clean drops the episodes of a show whose folder is gone but keeps the show.
    root = tmp_path / "library"
    (root / "TV Shows" / "Kept (2002)").mkdir(parents=True)  # lost a file only: still there
    shows = [(5, f"{root}/TV Shows/Gone (2001)/"), (6, f"{root}/TV Shows/Kept (2002)/")]
    with StandIn(library={"tvshows": shows}) as standin:
        s = settings(tmp_path, output_root=root, kodi_url=standin.url)
        server = servers.server("kodi", s)
        changes = pending(
            FolderChange("main", "TV Shows/Gone (2001)", DELETED),
            FolderChange("main", "TV Shows/Gone (2001)/Season 01", DELETED),
            FolderChange("main", "TV Shows/Kept (2002)", DELETED),
        )
        work = servers.plan(changes, s, server.path_map())
        assert server.preview(work)[0] == {
            "method": "VideoLibrary.GetTVShows",
            "params": {
                "filter": {
                    "field": "path",
                    "operator": "startswith",
                    "value": f"{root}/TV Shows/Gone (2001)/",
                }
            },
            "then": "VideoLibrary.RemoveTVShow of what it finds",
        }
        send(server, work)
    assert methods(standin) == [
        ("VideoLibrary.GetTVShows", {"filter": {"field": "path", "operator": "startswith",
                                                "value": f"{root}/TV Shows/Gone (2001)/"}}),
        IDLE,
        ("VideoLibrary.RemoveTVShow", {"tvshowid": 5}),
        ("VideoLibrary.Clean", {"showdialogs": False, "content": "tvshows"}),
    ]  # fmt: skip


def test_kodi_gets_at_most_500_calls_a_request(tmp_path: Path) -> None:
    episodes = [(i, f"{LIB}/TV Shows/Show/Season 01/") for i in range(1, 700)]
    with StandIn(library={"episodes": episodes}) as standin:
        s = settings(tmp_path, kodi_url=standin.url)  # a bare address gets /jsonrpc
        server = servers.server("kodi", s)
        changed = pending(FolderChange("main", "TV Shows/Show/Season 01", MODIFIED, nfo=True))
        send(server, servers.plan(changed, s, server.path_map()))
    assert [r.path for r in standin.requests] == ["/jsonrpc"] * 2
    lookups, refreshes = (r.json for r in standin.requests)
    assert len(lookups) == 1 and len(refreshes) == servers.KODI_REFRESH_MAX  # refreshes are capped
    assert max(len(r.json) for r in standin.requests) <= servers.BATCH


def test_a_kodi_call_answered_with_an_error_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    with StandIn() as standin:
        s = kodi_settings(tmp_path, standin.url)
        server = servers.server("kodi", s)
        transport = Transport(timeout=5, deadline=Deadline(10))
        results = server._call(transport, [{"method": "VideoLibrary.Nope", "params": {}}], [])
        assert results == [None]
        collected: list[str] = []
        server._call(transport, [{"method": "VideoLibrary.Nope", "params": {}}], collected)
    assert collected == ["VideoLibrary.Nope: Method not found."]


def test_a_dry_run_preview_names_every_request(tmp_path: Path) -> None:
    s = settings(tmp_path, jellyfin_url="http://jf:8096", jellyfin_api_key=KEY, kodi_url="http://kodi:8080")
    changes = pending(FolderChange("main", "Movies/Film (2001)", MODIFIED, nfo=True))
    jf = servers.server("jellyfin", s)
    assert jf.preview(servers.plan(changes, s, jf.path_map())) == [
        {"request": "POST /Library/Media/Updated",
         "body": {"Updates": [{"Path": f"{LIB}/Movies/Film (2001)", "UpdateType": "Modified"}]}}
    ]  # fmt: skip
    kodi = servers.server("kodi", s)
    (lookup,) = kodi.preview(servers.plan(changes, s, kodi.path_map()))
    assert lookup["method"] == "VideoLibrary.GetMovies" and "RefreshMovie" in lookup["then"]
