"""A stand-in media server on 127.0.0.1: records every request and answers as Jellyfin, Emby or
Kodi would, by their documented APIs.

- Jellyfin: ``POST /Library/Media/Updated`` (``{"Updates": [{"Path", "UpdateType"}]}``) and
  ``POST /Library/Refresh``, authorised by ``Authorization: MediaBrowser Token="<key>"``; 204.
- Emby: the same under ``/emby``, authorised by ``X-Emby-Token: <key>``; 204.
- Kodi: JSON-RPC 2.0 at ``/jsonrpc`` (single calls and batches), HTTP Basic when a user is set;
  ``VideoLibrary.GetMovies`` / ``GetTVShows`` / ``GetEpisodes`` answer from :attr:`library` by a
  ``path`` ``startswith`` filter, ``Scan`` / ``Clean`` / ``Refresh*`` / ``RemoveTVShow`` answer
  ``"OK"``, ``XBMC.GetInfoBooleans`` says whether the library is busy (:attr:`kodi_busy`).

Failures on demand: :attr:`fail_with` answers the next requests with those statuses,
:attr:`delay` holds every answer back (a stalled server), and :func:`closed_port` gives an
address where nothing listens.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KODI_METHODS = {
    "VideoLibrary.Scan",
    "VideoLibrary.Clean",
    "VideoLibrary.RefreshMovie",
    "VideoLibrary.RefreshTVShow",
    "VideoLibrary.RefreshEpisode",
    "VideoLibrary.GetMovies",
    "VideoLibrary.GetTVShows",
    "VideoLibrary.GetEpisodes",
    "VideoLibrary.RemoveTVShow",
    "XBMC.GetInfoBooleans",
}
_LISTS = {
    "VideoLibrary.GetMovies": ("movies", "movieid"),
    "VideoLibrary.GetTVShows": ("tvshows", "tvshowid"),
    "VideoLibrary.GetEpisodes": ("episodes", "episodeid"),
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class StandIn:
    """One stand-in server; ``with StandIn(...) as server:`` serves until the block ends."""

    api_key: str = "k3y-SECRET-jelly"
    kodi_user: str = ""
    kodi_password: str = ""
    #: Kodi's library: list name ("movies", "tvshows", "episodes") -> [(id, folder path)].
    library: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    #: Kodi: how many ``XBMC.GetInfoBooleans`` answers say ``Library.IsScanningVideo`` before idle.
    kodi_busy: int = 0
    fail_with: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with standin._lock:
                    standin.requests.append(request)
                    failure = standin.fail_with.pop(0) if standin.fail_with else None
                if standin.delay:
                    time.sleep(standin.delay)
                if failure is not None:
                    self._answer(failure, b"")
                    return
                status, answer = standin.answer(request)
                self._answer(status, answer)

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    if 300 <= status < 400:  # a redirect elsewhere: the client must not follow it
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", str(len(body)))
                    if body:
                        self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a deadline test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what the servers answer ------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, bytes]:
        path = request.path.rstrip("/")
        if path.endswith("/jsonrpc"):
            return self._kodi(request)
        jellyfin = request.headers.get("authorization") == f'MediaBrowser Token="{self.api_key}"'
        emby = request.headers.get("x-emby-token") == self.api_key
        # Behind a reverse proxy the API sits under a path prefix (``/jellyfin/Library/...``).
        if path.endswith(("/emby/Library/Media/Updated", "/emby/Library/Refresh")):
            return (204, b"") if emby else (401, b"")
        if path.endswith(("/Library/Media/Updated", "/Library/Refresh")):
            return (204, b"") if jellyfin else (401, b"")
        return 404, b""

    def _kodi(self, request: Request) -> tuple[int, bytes]:
        if self.kodi_user:
            token = base64.b64encode(f"{self.kodi_user}:{self.kodi_password}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {token}":
                return 401, b""
        try:
            calls = request.json
        except ValueError:
            return 200, json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32700}}).encode()
        single = isinstance(calls, dict)
        answers = [self._kodi_call(call) for call in ([calls] if single else calls)]
        return 200, json.dumps(answers[0] if single else answers).encode()

    def _kodi_call(self, call: dict[str, Any]) -> dict[str, Any]:
        method, params = call.get("method"), call.get("params") or {}
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": call.get("id")}
        if call.get("jsonrpc") != "2.0" or method not in KODI_METHODS:
            reply["error"] = {"code": -32601, "message": "Method not found."}
        elif method in _LISTS:
            rule = params.get("filter") or {}
            if set(rule) != {"field", "operator", "value"} or rule["field"] != "path":
                reply["error"] = {"code": -32602, "message": "Invalid params."}
                return reply
            key, id_key = _LISTS[method]
            found = [
                {id_key: item_id, "label": folder}
                for item_id, folder in self.library.get(key, [])
                if folder.startswith(rule["value"])
            ]
            reply["result"] = {key: found, "limits": {"start": 0, "end": len(found), "total": len(found)}}
        elif method == "XBMC.GetInfoBooleans":
            with self._lock:
                busy, self.kodi_busy = self.kodi_busy > 0, max(self.kodi_busy - 1, 0)
            reply["result"] = {"Library.IsScanningVideo": busy}
        else:
            reply["result"] = "OK"
        return reply

    # -- what was received --------------------------------------------------------------------------

    def updates(self) -> list[dict[str, str]]:
        """Every ``Updates`` entry received (Jellyfin, Emby), in order."""
        return [u for r in self.requests if r.path.endswith("/Media/Updated") for u in r.json["Updates"]]

    def kodi_calls(self) -> list[dict[str, Any]]:
        """Every JSON-RPC call received, in order."""
        calls: list[dict[str, Any]] = []
        for r in self.requests:
            if r.path.rstrip("/").endswith("/jsonrpc"):
                body = r.json
                calls += body if isinstance(body, list) else [body]
        return calls


def closed_port() -> str:
    """An address on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
