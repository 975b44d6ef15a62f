"""What Jellyfin, Emby and Kodi are sent for a set of changed library folders.

:func:`plan` turns the pending changes (:class:`vod2strm.output.changes.Pending`) into a
:class:`Work` in one server's view of the paths; each server class sends it (``send``) or says what
it would send (``preview``, for dry runs).

- **Jellyfin** ``POST {url}/Library/Media/Updated`` with
  ``{"Updates": [{"Path": ..., "UpdateType": "Created" | "Modified" | "Deleted"}]}``, at most
  :data:`BATCH` paths a request, authenticated with ``Authorization: MediaBrowser Token="<key>"``
  (the scheme Jellyfin 10.x and 12 both accept; 12 turns ``X-Emby-Token`` off by default). Owed a
  full scan: ``POST {url}/Library/Refresh``.
- **Emby** the same body at ``{url}/emby/Library/Media/Updated`` (``/emby`` is not added twice),
  with ``X-Emby-Token: <key>``; a full scan is ``POST {url}/emby/Library/Refresh``.
- **Kodi** JSON-RPC 2.0 batches (at most :data:`BATCH` calls a request) over HTTP, with HTTP Basic
  authentication when a user is set: for folders whose NFO changed, the item is looked up by its
  folder (``VideoLibrary.GetMovies`` / ``GetTVShows`` / ``GetEpisodes`` with a ``path``
  ``startswith`` filter) and refreshed (``RefreshMovie`` / ``RefreshTVShow`` / ``RefreshEpisode``,
  NFO read: Kodi's scan never re-reads a changed NFO); for new files, ``VideoLibrary.Scan`` of the
  section folder that got them (a scan of a folder Kodi has never scanned does nothing, in
  Kodi 20 as in 21, so the section folder, a source Kodi knows, is scanned: Kodi skips its unchanged
  subfolders), of the whole library when several did or a full scan is owed;
  ``VideoLibrary.Clean`` after removals; ``VideoLibrary.RemoveTVShow`` for a show whose folder
  vod2strm removed (Kodi's clean removes its episodes but keeps the show: it clears the folder's
  hash before it checks which folders are gone).

  Kodi runs one scan or clean at a time and says so only in its log: a ``VideoLibrary.Scan`` while
  one is queued or running stops that scan instead of starting one, and a ``VideoLibrary.Clean``
  then is refused. So at most one scan is sent, then the clean, each only once Kodi reports its
  library idle (``XBMC.GetInfoBooleans`` ``Library.IsScanningVideo``, asked every
  :data:`KODI_IDLE_POLL` s within the server's time); a Kodi still busy when that time runs out
  is a server that could not be told (the changes stay pending).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vod2strm.mediaserver.http import DeliveryError, Transport
from vod2strm.mediaserver.pathmap import PathMap
from vod2strm.output.changes import CREATED, DELETED, MODIFIED, FolderChange, Pending

if TYPE_CHECKING:
    from vod2strm.conf import Settings

#: Paths (Jellyfin, Emby) or calls (Kodi) per request.
BATCH = 500
#: Kodi items refreshed for a changed NFO per notification (each is one more job in Kodi's queue).
KODI_REFRESH_MAX = 200
#: Seconds between two questions to Kodi whether its library scan or clean is done.
KODI_IDLE_POLL = 0.5
UPDATE_TYPES = {CREATED: "Created", MODIFIED: "Modified", DELETED: "Deleted"}
NAMES = {"jellyfin": "Jellyfin", "emby": "Emby", "kodi": "Kodi"}

#: Kodi's look-up and refresh method and id key per kind of folder.
_KODI_KINDS = {
    "movie": ("VideoLibrary.GetMovies", "movies", "VideoLibrary.RefreshMovie", "movieid"),
    "tvshow": ("VideoLibrary.GetTVShows", "tvshows", "VideoLibrary.RefreshTVShow", "tvshowid"),
    "episode": ("VideoLibrary.GetEpisodes", "episodes", "VideoLibrary.RefreshEpisode", "episodeid"),
}


@dataclass
class Refresh:
    """A Kodi item (or a season folder's episodes) whose NFO changed, found by its folder."""

    kind: str  # "movie" | "tvshow" | "episode"
    folder: str  # the folder as Kodi stores it (trailing separator)
    section: str  # its section folder as Kodi stores it: scanned when the item is unknown


@dataclass
class Work:
    """What one server is to be told, in its view of the paths."""

    folders: int  # changed folders this covers
    full: bool  # a full library scan instead of the folders
    updates: list[tuple[str, str]] = field(default_factory=list)  # (path, UpdateType): Jellyfin, Emby
    scans: list[str] = field(default_factory=list)  # Kodi: section folders to scan
    refreshes: list[Refresh] = field(default_factory=list)  # Kodi: NFO changed
    clean: str | None = None  # Kodi: the content to clean ("movies", "tvshows", "video")
    removed_shows: list[str] = field(default_factory=list)  # Kodi: show folders that are gone


def plan(pending: Pending, settings: Settings, paths: PathMap) -> Work:
    """The pending changes as one server sees them (``paths``: its mapping)."""
    roots = {name: PurePosixPath(path) for name, path in settings.roots().items()}
    contents = {settings.movies_folder: "movies", settings.series_folder: "tvshows"}
    work = Work(folders=pending.folders, full=pending.full)
    cleaned: set[str] = set()
    scans: dict[str, None] = {}

    def refresh(change: FolderChange) -> None:
        parts = change.folder.split("/")
        content = contents.get(parts[0])
        if content is None or change.root not in roots or len(work.refreshes) >= KODI_REFRESH_MAX:
            return
        kind = "movie" if content == "movies" else ("tvshow" if len(parts) == 2 else "episode")
        folder = paths.map(str(roots[change.root] / change.folder), folder=True)
        section = paths.map(str(roots[change.root] / parts[0]), folder=True)
        work.refreshes.append(Refresh(kind, folder, section))

    for change in pending.changes or ():
        root = roots.get(change.root)
        if root is None:  # a root no longer configured: nobody to tell
            continue
        work.updates.append((paths.map(str(root / change.folder)), UPDATE_TYPES[change.kind]))
        section = change.folder.split("/", 1)[0]
        if contents.get(section) is None:
            continue
        if change.kind == DELETED:
            cleaned.add(contents[section])
            show = contents[section] == "tvshows" and change.folder.count("/") == 1
            if show and not Path(root, change.folder).exists():  # the whole show is gone
                work.removed_shows.append(paths.map(str(root / change.folder), folder=True))
            continue
        if change.kind == CREATED:  # new files: a scan finds them (and reads their NFOs)
            scans[paths.map(str(root / section), folder=True)] = None
        if change.nfo:  # a rewritten NFO: only a refresh re-reads it
            refresh(change)
    if pending.full:
        work.updates = []
        for change in pending.nfo_modified:
            refresh(change)
        cleaned |= {contents.get(section, "video") for _, section in pending.deleted_sections}
        if pending.deleted and not pending.deleted_sections:
            cleaned.add("video")
    work.scans = list(scans)
    if cleaned:
        work.clean = cleaned.pop() if len(cleaned) == 1 else "video"
    return work


class Server:
    """One configured media server."""

    name = ""

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()

    def path_map(self) -> PathMap:
        return PathMap(getattr(self.settings, f"{self.name}_path_map"))

    def preview(self, work: Work) -> list[dict[str, Any]]:
        raise NotImplementedError

    def send(self, work: Work, transport: Transport) -> list[str]:
        """Tell the server; returns warnings (answers that were errors for single items).
        Raises :class:`DeliveryError` when the server could not be told."""
        raise NotImplementedError


class Jellyfin(Server):
    name = "jellyfin"
    api_prefix = ""

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def key(self) -> str:
        return str(getattr(self.settings, f"{self.name}_api_key"))

    @property
    def base(self) -> str:
        url = str(getattr(self.settings, f"{self.name}_url")).rstrip("/")
        prefix = self.api_prefix
        if prefix and urlsplit(url).path.rstrip("/").lower().endswith(prefix):
            prefix = ""
        return url + prefix

    def headers(self) -> dict[str, str]:
        return {"Authorization": f'MediaBrowser Token="{self.key}"'}

    def requests(self, work: Work) -> list[tuple[str, dict[str, Any] | None]]:
        """(endpoint, JSON body) per request."""
        if work.full:
            return [("/Library/Refresh", None)]
        return [
            (
                "/Library/Media/Updated",
                {
                    "Updates": [
                        {"Path": path, "UpdateType": kind} for path, kind in work.updates[i : i + BATCH]
                    ]
                },
            )
            for i in range(0, len(work.updates), BATCH)
        ]

    def preview(self, work: Work) -> list[dict[str, Any]]:
        shown = self.api_prefix if self.base.endswith(self.api_prefix) else ""
        return [
            {"request": f"POST {shown}{endpoint}", **({"body": body} if body is not None else {})}
            for endpoint, body in self.requests(work)
        ]

    def send(self, work: Work, transport: Transport) -> list[str]:
        for endpoint, body in self.requests(work):
            data = json.dumps(body).encode("utf-8") if body is not None else None
            transport.post(self.base + endpoint, data, self.headers())
        return []


class Emby(Jellyfin):
    name = "emby"
    api_prefix = "/emby"

    def headers(self) -> dict[str, str]:
        return {"X-Emby-Token": self.key}


class Kodi(Server):
    name = "kodi"

    @property
    def secrets(self) -> tuple[str, ...]:
        password = self.settings.kodi_password
        if not self.settings.kodi_user:
            return ()
        token = base64.b64encode(f"{self.settings.kodi_user}:{password}".encode()).decode("ascii")
        return tuple(s for s in (password, token) if s)

    def headers(self) -> dict[str, str]:
        if not self.settings.kodi_user:
            return {}
        return {"Authorization": "Basic " + self.secrets[-1]}

    @staticmethod
    def lookup(refresh: Refresh) -> dict[str, Any]:
        method = _KODI_KINDS[refresh.kind][0]
        return {"method": method, "params": {"filter": _path_filter(refresh.folder)}}

    @staticmethod
    def show_lookup(folder: str) -> dict[str, Any]:
        return {"method": "VideoLibrary.GetTVShows", "params": {"filter": _path_filter(folder)}}

    def actions(self, work: Work, unknown: list[Refresh]) -> list[dict[str, Any]]:
        """The library jobs, in the order they are sent, once the look-ups are known (``unknown``:
        items Kodi lacks): one scan, then the clean (see the module docstring)."""
        calls: list[dict[str, Any]] = []
        sections = [] if work.full else list(dict.fromkeys([*work.scans, *(r.section for r in unknown)]))
        if work.full or len(sections) > 1:
            calls.append({"method": "VideoLibrary.Scan", "params": {"showdialogs": False}})
        elif sections:
            calls.append(
                {"method": "VideoLibrary.Scan", "params": {"directory": sections[0], "showdialogs": False}}
            )
        if work.clean:
            calls.append(
                {"method": "VideoLibrary.Clean", "params": {"showdialogs": False, "content": work.clean}}
            )
        return calls

    def preview(self, work: Work) -> list[dict[str, Any]]:
        looked_up = [
            {
                **self.lookup(r),
                "then": f"{_KODI_KINDS[r.kind][2]} of what it finds, else a scan of {r.section}",
            }
            for r in work.refreshes
        ]
        removed = [
            {**self.show_lookup(f), "then": "VideoLibrary.RemoveTVShow of what it finds"}
            for f in work.removed_shows
        ]
        return looked_up + removed + self.actions(work, [])

    def send(self, work: Work, transport: Transport) -> list[str]:
        warnings: list[str] = []
        lookups = [self.lookup(r) for r in work.refreshes] + [self.show_lookup(f) for f in work.removed_shows]
        found = self._call(transport, lookups, warnings)
        removals = [
            {"method": "VideoLibrary.RemoveTVShow", "params": {"tvshowid": item["tvshowid"]}}
            for answer in found[len(work.refreshes) :]
            if isinstance(answer, dict)
            for item in answer.get("tvshows") or []
            if isinstance(item, dict) and isinstance(item.get("tvshowid"), int)
        ]
        refreshes: list[dict[str, Any]] = []
        unknown: list[Refresh] = []
        for refresh, answer in zip(work.refreshes, found[: len(work.refreshes)], strict=True):
            _, key, method, id_key = _KODI_KINDS[refresh.kind]
            items = (answer or {}).get(key) if isinstance(answer, dict) else None
            if not items:
                unknown.append(refresh)  # not in Kodi's library yet: a scan adds it with its NFO
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get(id_key), int):
                    refreshes.append({"method": method, "params": {id_key: item[id_key], "ignorenfo": False}})
        calls = refreshes[:KODI_REFRESH_MAX] + removals
        for job in self.actions(work, unknown):  # one at a time, each once Kodi runs no other
            self._wait_idle(transport)
            self._call(transport, [*calls, job], warnings)
            calls = []
        self._call(transport, calls, warnings)  # no library job: the refreshes and removals alone
        return warnings

    def _wait_idle(self, transport: Transport) -> None:
        """Return once Kodi's video library runs no scan or clean; DeliveryError when it still does
        as the server's time runs out (the changes stay pending)."""
        ask = {"method": "XBMC.GetInfoBooleans", "params": {"booleans": ["Library.IsScanningVideo"]}}
        while True:
            (answer,) = self._call(transport, [ask], [])
            if not (isinstance(answer, dict) and answer.get("Library.IsScanningVideo")):
                return
            if transport.deadline.remaining() <= KODI_IDLE_POLL:
                seconds = transport.deadline.seconds
                raise DeliveryError(
                    f"Kodi was scanning or cleaning its library for all of the {seconds:g} s allowed, "
                    "so it was not asked to scan or clean"
                )
            transport.sleep(KODI_IDLE_POLL)

    def _call(self, transport: Transport, calls: list[dict[str, Any]], warnings: list[str]) -> list[Any]:
        """Each call's result (None for one Kodi answered with an error), in batches."""
        results: list[Any] = []
        for start in range(0, len(calls), BATCH):
            chunk = calls[start : start + BATCH]
            batch = [{"jsonrpc": "2.0", "id": i, **call} for i, call in enumerate(chunk, 1)]
            raw = transport.post(self.settings.kodi_url, json.dumps(batch).encode("utf-8"), self.headers())
            try:
                answers = json.loads(raw)
            except ValueError:
                raise DeliveryError(
                    "Kodi answered something that is not JSON-RPC (is the address its /jsonrpc?)"
                ) from None
            if isinstance(answers, dict):  # one error for the whole request
                raise DeliveryError(f"Kodi refused the request: {_error(answers.get('error'))}")
            by_id = (
                {a.get("id"): a for a in answers if isinstance(a, dict)} if isinstance(answers, list) else {}
            )
            for i, call in enumerate(chunk, 1):
                answer = by_id.get(i, {})
                if "error" in answer or "result" not in answer:
                    warnings.append(f"{call['method']}: {_error(answer.get('error'))}")
                    results.append(None)
                else:
                    results.append(answer["result"])
        return results


def _path_filter(folder: str) -> dict[str, str]:
    return {"field": "path", "operator": "startswith", "value": folder}


def _error(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "error")
    return "no answer" if error is None else str(error)


SERVERS: dict[str, type[Server]] = {"jellyfin": Jellyfin, "emby": Emby, "kodi": Kodi}


def server(name: str, settings: Settings) -> Server:
    return SERVERS[name](settings)
