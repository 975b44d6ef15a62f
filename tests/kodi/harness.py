"""A real Kodi, headless, on a throwaway profile: start it, talk JSON-RPC to it, stop it.

Kodi (Debian's ``kodi``, 20.x) runs under a private Xvfb with ``--windowing=x11``. Its profile is
a fresh ``HOME`` (``special://home`` is ``$HOME/.kodi``) holding:

- ``userdata/advancedsettings.xml``: JSON-RPC over raw TCP on a free port (``<jsonrpc><tcpport>``),
  debug logging (the scanner then logs how it parsed each file name and which exclude rule
  skipped a path), on top of a document the test may give (exclude rules);
- ``userdata/guisettings.xml``: the TCP JSON-RPC server stays on loopback
  (``services.esallinterfaces`` false: it binds 127.0.0.1 only, no password needed), the event
  server's UDP port moved to a free one, and every other network service (UPnP, zeroconf,
  WS-Discovery, AirPlay; the web server unless the profile asks for it, see :class:`WebServer`)
  and add-on updates off;
- ``userdata/sources.xml``: one video source per library folder.

A source's content (movies or tvshows) and scraper live in the video database's ``path`` table,
not in sources.xml, and JSON-RPC cannot set them. So :meth:`Kodi.start` starts Kodi once to
create its databases, quits it, writes one ``path`` row per source (content, ``metadata.local``
= "Local information only", recursion as Kodi's content dialog would set it), and starts it
again. ``VideoLibrary.Scan`` (no directory) then scans every path that has a content.

The TCP transport also carries Kodi's notifications (``VideoLibrary.OnScanFinished``), which
:meth:`Kodi.scan` waits for. Kodi and Xvfb each run in their own process group; :meth:`Kodi.stop`
asks Kodi to quit (``Application.Quit``), then kills what is left of both groups, so nothing
outlives a test: not on a failure, nor on Ctrl-C or SIGTERM (turned into SystemExit while Kodi
runs), and not even when the test process is SIGKILLed (a watchdog process, :class:`_Reaper`,
then kills both groups).

Kodi 20 cannot bind its web server to loopback, so the harness talks to Kodi over the raw TCP
JSON-RPC server (the one ``services.esallinterfaces`` keeps on 127.0.0.1), which needs no password
and no HTTP. A test of a client that speaks JSON-RPC over HTTP (vod2strm's Kodi notifier) turns
the web server on with :class:`WebServer`: a random free port and a random password, since it
listens on every interface while the test runs.

Kodi's log (debug level) is ``<root>/home/.kodi/temp/kodi.log``; a failure to start or to finish a
scan quotes its tail.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

#: How long Kodi may take to answer JSON-RPC after it is started (seconds).
START_TIMEOUT = 90.0
#: How long a library scan may take.
SCAN_TIMEOUT = 240.0
#: How long Kodi may take to exit after Application.Quit before it is killed.
QUIT_TIMEOUT = 30.0

#: Kodi's "scan recursively" for a movie source (``INT_MAX``, as its content dialog stores it).
RECURSIVE = 2_147_483_647


class KodiError(RuntimeError):
    """Kodi did not start, answer or finish in time; the message carries the tail of its log."""


def kodi_binary() -> str | None:
    """The Kodi launcher: ``VOD2STRM_TEST_KODI_BIN`` when set, else ``kodi`` on PATH."""
    configured = os.environ.get("VOD2STRM_TEST_KODI_BIN")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("kodi")


def xvfb_binary() -> str | None:
    return shutil.which("Xvfb")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now on 127.0.0.1 (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class WebServer:
    """Kodi's web server, which serves JSON-RPC over HTTP at ``/jsonrpc`` (HTTP Basic auth).

    Kodi 20 binds it to every interface (it has no loopback-only setting), so while a test runs
    it is reachable from the network: :meth:`random` gives it a free port and a random password
    (authentication on), never Kodi's well-known 8080 and empty password.
    """

    port: int
    username: str
    password: str = field(repr=False)

    @classmethod
    def random(cls) -> WebServer:
        return cls(free_port(), "vod2strm-test", secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        """The JSON-RPC address, as a client on this machine reaches it."""
        return f"http://127.0.0.1:{self.port}/jsonrpc"

    def settings(self) -> dict[str, object]:
        """Its ``guisettings.xml`` values."""
        return {
            "services.webserver": True,
            "services.webserverport": self.port,
            "services.webserverauthentication": True,
            "services.webserverusername": self.username,
            "services.webserverpassword": self.password,
            "services.webserverssl": False,
        }


@dataclass(frozen=True)
class Source:
    """A video source: its name in sources.xml, its folder, and what Kodi should find in it."""

    name: str
    path: Path
    content: str  # "movies" | "tvshows"

    @property
    def url(self) -> str:
        """The path as Kodi stores it: absolute, with a trailing slash."""
        return str(self.path.resolve()).rstrip("/") + "/"


def _xml_settings(values: Mapping[str, object]) -> str:
    lines = ['<settings version="2">']
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f'  <setting id="{escape(key)}">{escape(text)}</setting>')
    lines.append("</settings>")
    return "\n".join(lines) + "\n"


def _sources_xml(sources: list[Source]) -> str:
    out = ["<sources>", "  <video>", '    <default pathversion="1"></default>']
    for source in sources:
        out += [
            "    <source>",
            f"      <name>{escape(source.name)}</name>",
            f'      <path pathversion="1">{escape(source.url)}</path>',
            "      <allowsharing>true</allowsharing>",
            "    </source>",
        ]
    out += ["  </video>", "</sources>"]
    return "\n".join(out) + "\n"


@dataclass
class Profile:
    """A throwaway Kodi home: ``home/.kodi`` is special://home."""

    root: Path
    sources: list[Source]
    #: An ``advancedsettings.xml`` document to start from (e.g. exclude rules); the harness adds
    #: its own elements (logging, the JSON-RPC port) to it.
    advancedsettings: str | None = None
    rpc_port: int = field(default_factory=free_port)
    es_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    #: Kodi's web server (JSON-RPC over HTTP); off when None.
    webserver: WebServer | None = None

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def userdata(self) -> Path:
        return self.home / ".kodi" / "userdata"

    @property
    def log(self) -> Path:
        return self.home / ".kodi" / "temp" / "kodi.log"

    def write(self) -> None:
        self.userdata.mkdir(parents=True, exist_ok=True)
        (self.userdata / "advancedsettings.xml").write_text(self._advancedsettings(), encoding="utf-8")
        settings: dict[str, object] = {
            "services.esenabled": True,  # the TCP JSON-RPC server runs only with the event server
            "services.esallinterfaces": False,  # ... and then listens on 127.0.0.1 only
            "services.esport": self.es_port,
            "services.esportrange": 1,
            "services.webserver": False,
            "services.upnp": False,
            "services.zeroconf": False,
            "services.wsdiscovery": False,
            "services.airplay": False,
            "general.addonupdates": 2,  # never: there is no network to ask
            "general.addonnotifications": False,
            "videolibrary.backgroundupdate": False,
            "videolibrary.updateonstartup": False,
        }
        if self.webserver is not None:
            settings.update(self.webserver.settings())
        (self.userdata / "guisettings.xml").write_text(_xml_settings(settings), encoding="utf-8")
        (self.userdata / "sources.xml").write_text(_sources_xml(self.sources), encoding="utf-8")

    def _advancedsettings(self) -> str:
        root = ElementTree.fromstring(self.advancedsettings or "<advancedsettings/>")
        if root.tag != "advancedsettings":
            raise ValueError(
                f"advancedsettings.xml must have <advancedsettings> as its root, not <{root.tag}>"
            )
        for tag in ("loglevel", "jsonrpc"):
            for old in root.findall(tag):
                root.remove(old)
        ElementTree.SubElement(root, "loglevel").text = "1"  # debug: the scanner says what it parsed
        jsonrpc = ElementTree.SubElement(root, "jsonrpc")
        ElementTree.SubElement(jsonrpc, "tcpport").text = str(self.rpc_port)
        ElementTree.SubElement(jsonrpc, "compactoutput").text = "true"
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode") + "\n"

    def video_database(self) -> Path:
        found = sorted((self.userdata / "Database").glob("MyVideos*.db"))
        if not found:
            raise KodiError(f"Kodi made no video database in {self.userdata / 'Database'}")
        return max(found, key=lambda p: int("".join(ch for ch in p.stem if ch.isdigit()) or 0))

    def seed_paths(self) -> None:
        """One ``path`` row per source: its content, the local-information scraper, recursion.

        What Kodi's "Set content" dialog stores: movies recursive, one show per folder for tvshows;
        no folder names used for titles (every item has its NFO).
        """
        with contextlib.closing(sqlite3.connect(self.video_database())) as db, db:
            for source in self.sources:
                recursive = RECURSIVE if source.content == "movies" else 0
                db.execute("DELETE FROM path WHERE strPath = ?", (source.url,))
                db.execute(
                    "INSERT INTO path (strPath, strContent, strScraper, scanRecursive, useFolderNames,"
                    " strSettings, noUpdate, exclude, allAudio, idParentPath)"
                    " VALUES (?, ?, 'metadata.local', ?, 0, '', 0, 0, 0, NULL)",
                    (source.url, source.content, recursive),
                )


class RpcClient:
    """JSON-RPC 2.0 over Kodi's raw TCP transport: requests, their answers, and notifications.

    Kodi writes JSON objects back to back with no separator, so replies are split with
    ``raw_decode``; notifications seen while waiting for an answer are kept for
    :meth:`wait_for`.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = ""
        self._bytes = b""
        self._decoder = json.JSONDecoder()
        self._next_id = 0
        self.notifications: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        while True:
            text = self._buffer.lstrip()
            if text:
                try:
                    message, end = self._decoder.raw_decode(text)
                except json.JSONDecodeError:
                    pass  # an object cut in two: read on
                else:
                    self._buffer = text[end:]
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from Kodi in time")
            self._sock.settimeout(min(remaining, 5.0))
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("Kodi closed the JSON-RPC connection")
            self._bytes += chunk
            try:
                self._buffer += self._bytes.decode("utf-8")
                self._bytes = b""
            except UnicodeDecodeError:
                continue  # a character cut in two: wait for the rest

    def call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 60.0) -> Any:
        self._next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            request["params"] = dict(params)
        self._sock.sendall(json.dumps(request).encode("utf-8"))
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise KodiError(f"{method}: {message['error']}")
                return message.get("result")
            if "method" in message and "id" not in message:
                self.notifications.append(message)

    def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Every notification Kodi sends within ``seconds`` (kept in :attr:`notifications` too)."""
        before = len(self.notifications)
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            while True:
                message = self._read(deadline)
                if "method" in message and "id" not in message:
                    self.notifications.append(message)
        return self.notifications[before:]

    def wait_for(self, method: str, timeout: float) -> dict[str, Any]:
        """The first notification ``method`` (one already received counts), or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.notifications):
                if message.get("method") == method:
                    return self.notifications.pop(i)
            message = self._read(deadline)
            if "method" in message and "id" not in message:
                self.notifications.append(message)


#: The reaper: a watchdog process that SIGKILLs the process groups it was told about when the test
#: process dies without saying "done" (SIGKILL, a crash), so that even then no Kodi or Xvfb is
#: left behind. Kodi's own launcher passes a SIGTERM on to Kodi, but Kodi hangs on its way out once
#: its X server is gone, so the groups get SIGKILL, all at once.
_REAPER = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    word = line.strip()
    if word == "done":
        sys.exit(0)
    if word[:1] in "+-" and word[1:].isdigit():
        (groups.add if word[0] == "+" else groups.discard)(int(word[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


class _Reaper:
    """Tells the reaper process which process groups to kill should this process die."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _REAPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the test run is not for it
        )

    def _say(self, word: str) -> None:
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.write(word.encode() + b"\n")
                stdin.flush()

    def watch(self, proc: subprocess.Popen[bytes]) -> None:
        self._say(f"+{proc.pid}")

    def forget(self, proc: subprocess.Popen[bytes]) -> None:
        self._say(f"-{proc.pid}")

    def close(self) -> None:
        """Everything is stopped: the reaper exits without killing anything."""
        self._say("done")
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _kill_group(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, to the process group ``proc`` leads; waits for ``proc``."""
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; members it left behind get the same signal once more.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Kodi:
    """One headless Kodi on ``profile``; use as a context manager (always stopped at exit)."""

    def __init__(self, profile: Profile, *, kodi: str, xvfb: str) -> None:
        self.profile = profile
        self._kodi_bin = kodi
        self._xvfb_bin = xvfb
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._kodi: subprocess.Popen[bytes] | None = None
        self._display = ""
        self.rpc: RpcClient | None = None
        self.timings: dict[str, float] = {}
        self._old_sigterm: Any = None
        self._reaper: _Reaper | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Kodi:
        # A SIGTERM to the test run (a CI timeout) unwinds through __exit__ instead of leaving
        # Kodi and Xvfb behind; the run's own handler is back once they are stopped.
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
                self._old_sigterm = None

    def start(self) -> None:
        started = time.monotonic()
        self.profile.write()
        self._reaper = _Reaper()
        self._start_xvfb()
        self._launch()
        self.quit()
        self.profile.seed_paths()
        self.timings["first start"] = time.monotonic() - started
        started = time.monotonic()
        self._launch()
        self.timings["second start"] = time.monotonic() - started

    def _start_xvfb(self) -> None:
        log = open(self.profile.root / "xvfb.log", "wb")  # noqa: SIM115 (closed below)
        read_fd, write_fd = os.pipe()
        try:
            self._xvfb = subprocess.Popen(
                [
                    self._xvfb_bin,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    "1280x720x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            self._watch(self._xvfb)
        finally:
            os.close(write_fd)
            log.close()  # the child has its own copy
        with os.fdopen(read_fd, "rb") as pipe:
            number = b""
            deadline = time.monotonic() + 30
            while not number.endswith(b"\n") and time.monotonic() < deadline:
                chunk = pipe.read(1)
                if not chunk:
                    break
                number += chunk
        if not number.strip().isdigit():
            raise KodiError(f"Xvfb gave no display number: {self._tail(self.profile.root / 'xvfb.log')}")
        self._display = ":" + number.strip().decode()

    def _launch(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("KODI_", "XDG_", "WAYLAND_", "DBUS_", "PULSE_"))
        }
        env.update(
            HOME=str(self.profile.home),
            DISPLAY=self._display,
            XDG_RUNTIME_DIR=str(self.profile.root / "run"),
            LANG="C.UTF-8",
            LC_ALL="C.UTF-8",
        )
        (self.profile.root / "run").mkdir(mode=0o700, exist_ok=True)
        with open(self.profile.root / "kodi.out", "ab") as out:  # the child has its own copy
            self._kodi = subprocess.Popen(
                [self._kodi_bin, "--windowing=x11"],
                env=env,
                cwd=self.profile.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._watch(self._kodi)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._kodi.poll() is not None:
                raise KodiError(f"Kodi exited with {self._kodi.returncode} while starting{self.log_tail()}")
            try:
                rpc = RpcClient(self.profile.rpc_port)
            except OSError:
                rpc = None
            if rpc is not None:
                try:
                    if rpc.call("JSONRPC.Ping", timeout=10) == "pong":
                        self.rpc = rpc
                        return
                except (OSError, KodiError):
                    pass
                rpc.close()
            if time.monotonic() > deadline:
                raise KodiError(f"Kodi did not answer JSON-RPC within {START_TIMEOUT:.0f} s{self.log_tail()}")
            time.sleep(0.5)

    def quit(self) -> None:
        """Application.Quit and wait for Kodi to exit; then (or at once, when Kodi does not answer
        JSON-RPC yet) SIGTERM and SIGKILL whatever is left of its process group."""
        proc, self._kodi = self._kodi, None
        if proc is None:
            return
        if self.rpc is not None:
            with contextlib.suppress(OSError, KodiError, TimeoutError):
                self.rpc.call("Application.Quit", timeout=10)
            self.rpc.close()
            self.rpc = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=QUIT_TIMEOUT)
        _kill_group(proc)
        if self._reaper is not None:
            self._reaper.forget(proc)

    def stop(self) -> None:
        """Stop Kodi and Xvfb; safe to call more than once, and after a failed start."""
        try:
            self.quit()
        finally:
            xvfb, self._xvfb = self._xvfb, None
            _kill_group(xvfb)
            reaper, self._reaper = self._reaper, None
            if reaper is not None:
                reaper.close()

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        if self._reaper is not None:
            self._reaper.watch(proc)

    # -- library --------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 60.0) -> Any:
        if self.rpc is None:
            raise KodiError("Kodi is not running")
        return self.rpc.call(method, params, timeout=timeout)

    def scan(self, timeout: float = SCAN_TIMEOUT) -> float:
        """VideoLibrary.Scan of every source with a content; returns when Kodi says it finished."""
        if self.rpc is None:
            raise KodiError("Kodi is not running")
        started = time.monotonic()
        self.rpc.notifications.clear()
        result = self.call("VideoLibrary.Scan", {"showdialogs": False})
        if result != "OK":
            raise KodiError(f"VideoLibrary.Scan answered {result!r}")
        try:
            self.rpc.wait_for("VideoLibrary.OnScanFinished", timeout)
        except TimeoutError:
            raise KodiError(f"the scan did not finish within {timeout:.0f} s{self.log_tail()}") from None
        # OnScanFinished is sent when the job ends; the library must also say it is idle.
        if not self.wait_idle(30):
            raise KodiError("Kodi still reports a video scan 30 s after OnScanFinished")
        self.timings["scan"] = time.monotonic() - started
        return self.timings["scan"]

    def scanning(self) -> bool:
        """Whether Kodi's video library queue holds a scan or a clean (``Library.IsScanningVideo``)."""
        answer = self.call("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanningVideo"]}) or {}
        return bool(answer.get("Library.IsScanningVideo"))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until Kodi neither scans nor cleans its video library; False when it still does."""
        deadline = time.monotonic() + timeout
        while self.scanning():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def movies(self) -> list[dict[str, Any]]:
        props = ["title", "year", "uniqueid", "imdbnumber", "art", "thumbnail", "file", "premiered"]
        return self._list("VideoLibrary.GetMovies", "movies", {"properties": props})

    def tvshows(self) -> list[dict[str, Any]]:
        props = ["title", "year", "uniqueid", "imdbnumber", "art", "thumbnail", "file", "premiered", "season"]
        return self._list("VideoLibrary.GetTVShows", "tvshows", {"properties": props})

    def seasons(self, tvshowid: int) -> list[dict[str, Any]]:
        params = {"tvshowid": tvshowid, "properties": ["season", "showtitle", "episode", "tvshowid"]}
        return self._list("VideoLibrary.GetSeasons", "seasons", params)

    def episodes(self, tvshowid: int) -> list[dict[str, Any]]:
        props = ["title", "season", "episode", "showtitle", "tvshowid", "file", "uniqueid"]
        return self._list("VideoLibrary.GetEpisodes", "episodes", {"tvshowid": tvshowid, "properties": props})

    def _list(self, method: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        result = self.call(method, params) or {}
        return list(result.get(key) or [])

    # -- diagnostics ----------------------------------------------------------------------------

    @staticmethod
    def _tail(path: Path, lines: int = 40) -> str:
        try:
            text = path.read_text("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def log_tail(self, lines: int = 40) -> str:
        tail = self._tail(self.profile.log, lines) or self._tail(self.profile.root / "kodi.out", lines)
        return f"\n--- last lines of {self.profile.log} ---\n{tail}" if tail else ""

    def log_lines(self, needle: str) -> Iterator[str]:
        try:
            text = self.profile.log.read_text("utf-8", "replace")
        except OSError:
            return
        yield from (line for line in text.splitlines() if needle in line)


def image_url(value: str | None) -> str:
    """The URL inside Kodi's ``image://<url-encoded>/`` wrapper (art and thumbnails)."""
    if not value:
        return ""
    if value.startswith("image://"):
        return unquote(value[len("image://") :].rstrip("/"))
    return value
