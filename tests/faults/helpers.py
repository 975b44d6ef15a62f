"""Helpers shared by the fault, kill, memory and property tests.

- :class:`FaultFS`: the writer's filesystem boundary (``vod2strm.output.fs.LocalFS``) with
  ``OSError(errno)`` injected on chosen operations, paths, or after N calls. ``write`` and
  ``rename`` faults run the *real* ``atomic_write`` and fail it midway (half the bytes in the temp
  file) or at its ``os.replace``, so the cleanup of the temp file is exercised, not imitated.
- Library checks: every ``.strm`` one http(s) line, every ``.nfo`` parses, no temp file, no
  empty file; the manifest agrees with the disk; old bytes are kept unless the run meant to
  change them.
- Subprocess plumbing: the test database as ``DATABASE_URL``, a child environment, a
  ``sitecustomize`` hook that slows writes/unlinks so a run can be caught in the act.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from vod2strm import conf
from vod2strm.jobs import generate
from vod2strm.output import atomic
from vod2strm.output.atomic import is_temp_name
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import content_hash, manifest_path, owned_hashes
from vod2strm.output.marker import MARKER_NAME

REPO = Path(__file__).resolve().parents[2]

# -- fault injection ------------------------------------------------------------------------------

#: Operations a :class:`Fault` can target. ``create``: the temp file cannot be created (nothing
#: touched); ``write``: half the bytes reach the temp file, then the error; ``rename``: the temp
#: file is complete but ``os.replace`` fails.
OPS = ("create", "write", "rename", "mkdir", "read", "scandir", "unlink", "rmdir", "stat")

_armed = threading.local()


@dataclass
class Fault:
    """Raise ``OSError(code)`` on ``op`` for paths matching ``match``.

    ``match``: None (every path of the library, never the root marker), a substring of the path,
    or a predicate. ``after``: let that many matching calls succeed first. ``times``: fail at
    most that many times (None: for ever).
    """

    op: str
    code: int
    match: str | Callable[[Path], bool] | None = None
    after: int = 0
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}")

    def matches(self, path: Path) -> bool:
        if self.match is None:
            return path.name != MARKER_NAME and not path.name.endswith(MARKER_NAME + ".tmp")
        if isinstance(self.match, str):
            return self.match in str(path)
        return bool(self.match(path))


@dataclass
class FaultFS(LocalFS):
    """A LocalFS that fails on purpose. Thread-safe; ``raised`` lists ``(op, path, errno)``."""

    faults: list[Fault] = field(default_factory=list)
    on_call: Callable[[str, Path], None] | None = None
    calls: Counter = field(default_factory=Counter)
    raised: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, *faults: Fault) -> FaultFS:
        self.faults.extend(faults)
        return self

    def _due(self, op: str, path: Path) -> Fault | None:
        with self._lock:
            self.calls[op] += 1
            for fault in self.faults:
                if fault.op != op or not fault.matches(Path(path)):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after or (fault.times is not None and fault.fired >= fault.times):
                    continue
                fault.fired += 1
                self.raised.append((op, str(path), fault.code))
                return fault
        return None

    def _check(self, op: str, path: Path) -> None:
        if self.on_call is not None:
            self.on_call(op, Path(path))
        fault = self._due(op, path)
        if fault is not None:
            raise OSError(fault.code, os.strerror(fault.code), str(path))

    # -- the boundary ---------------------------------------------------------------------------

    def makedirs(self, path: str, mode: int = 0o777, *, within: str | None = None) -> list[str]:
        self._check("mkdir", path)
        return super().makedirs(path, mode, within=within)

    def write_atomic(self, path: Path, data: bytes, **kw) -> None:  # type: ignore[override]
        self._check("create", path)
        armed = self._due("write", path) or self._due("rename", path)
        _armed.fault = armed
        try:
            super().write_atomic(path, data, **kw)
        finally:
            _armed.fault = None

    def read_bytes(self, path: Path, limit: int | None = None, *, follow_symlinks: bool = True) -> bytes:
        self._check("read", path)
        return super().read_bytes(path, limit, follow_symlinks=follow_symlinks)

    def scandir(self, path: Path):
        self._check("scandir", path)
        return super().scandir(path)

    def unlink(self, path: Path) -> None:
        self._check("unlink", path)
        super().unlink(path)

    def rmdir(self, path: Path) -> None:
        self._check("rmdir", path)
        super().rmdir(path)

    def exists(self, path: Path) -> bool:
        self._check("stat", path)
        return super().exists(path)

    def is_dir(self, path: Path) -> bool:
        self._check("stat", path)
        return super().is_dir(path)

    def stat(self, path: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        self._check("stat", path)
        return super().stat(path, follow_symlinks=follow_symlinks)


def install_atomic_hooks(monkeypatch) -> None:
    """Route the real ``atomic_write`` through the fault armed by :meth:`FaultFS.write_atomic`.

    Only the thread that armed a fault is affected; every other ``os.replace`` (lock owner file,
    status file) goes through untouched.
    """
    real_write_all = atomic.write_all
    real_replace = os.replace

    def write_all(fd: int, data: bytes) -> None:
        fault = getattr(_armed, "fault", None)
        if fault is not None and fault.op == "write":
            os.write(fd, data[: max(1, len(data) // 2)])
            raise OSError(fault.code, os.strerror(fault.code))
        real_write_all(fd, data)

    def replace(src, dst, *args, **kwargs):
        fault = getattr(_armed, "fault", None)
        if fault is not None and fault.op == "rename":
            raise OSError(fault.code, os.strerror(fault.code), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic, "write_all", write_all)
    monkeypatch.setattr(os, "replace", replace)


# -- the library on disk ----------------------------------------------------------------------------


def files_on_disk(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (temp files and the marker included), not following links."""
    found: dict[str, bytes] = {}
    if not root.exists():
        return found
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def library_tree(root: Path) -> dict[str, bytes]:
    """The library as a reader sees it: everything but the root marker."""
    return {p: b for p, b in files_on_disk(root).items() if p != MARKER_NAME}


def temp_files(root: Path) -> list[str]:
    return sorted(p for p in files_on_disk(root) if is_temp_name(p.rsplit("/", 1)[-1]))


_URL = re.compile(rb"https?://[^\s]+\n\Z")


def library_problems(root: Path | dict[str, bytes], *, temps_allowed: bool = False) -> list[str]:
    """What is wrong with a library a reader could see right now (empty list: nothing).

    Every ``.strm`` is exactly one http(s) URL line, every ``.nfo`` is well-formed XML with one of
    the four roots, no file is empty, and (unless ``temps_allowed``) no temp file is left.
    ``root`` may also be :func:`files_on_disk`'s answer, read once by the caller.
    """
    problems = []
    files = root if isinstance(root, dict) else files_on_disk(root)
    for rel, data in files.items():
        name = rel.rsplit("/", 1)[-1]
        if is_temp_name(name):
            if not temps_allowed:
                problems.append(f"leftover temp file {rel}")
            continue
        if rel == MARKER_NAME:
            continue
        if not data:
            problems.append(f"empty file {rel}")
        elif rel.endswith(".strm"):
            if not _URL.match(data) or data.count(b"\n") != 1:
                problems.append(f"bad .strm {rel}: {data[:80]!r}")
        elif rel.endswith(".nfo"):
            try:
                element = etree.fromstring(data)
            except etree.XMLSyntaxError as exc:
                problems.append(f"unparsable .nfo {rel}: {exc}")
                continue
            if element.tag not in ("movie", "tvshow", "season", "episodedetails"):
                problems.append(f"unexpected root <{element.tag}> in {rel}")
    return problems


def manifest_rows(settings: conf.Settings) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """``(root, path, hash, pending, kept)`` of every file the manifest records, read without
    touching the store.

    Reads a copy of the database and its write-ahead log: after a SIGKILL the log may need
    recovery, which a ``mode=ro`` connection cannot do ("attempt to write a readonly
    database"), and recovering the original would change what the next run finds.
    """
    path = manifest_path(settings.state_dir, settings.output_root)
    if not path.exists():
        return []
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        db = sqlite3.connect(copy)
        try:
            return db.execute(
                "SELECT root, path, hash, pending, kept FROM files ORDER BY root, path"
            ).fetchall()
        finally:
            db.close()


def manifest_problems(
    settings: conf.Settings, *, deleted_by_hand: Iterable[str] = (), files: dict[str, bytes] | None = None
) -> list[str]:
    """Manifest paths with a hash whose file is missing or holds bytes the manifest does not
    record as ours (its hash, or one of a write-ahead mark's; "maybe gone" allows it to be missing).
    Files recorded as kept (someone else's, or edited since) are not ours to check.

    ``files``: the main root's :func:`files_on_disk`, if the caller has read it already.
    """
    roots = settings.roots()
    skip = set(deleted_by_hand)
    problems = []
    for root_name, rel, digest, pending, kept in manifest_rows(settings):
        owned = owned_hashes(digest, pending)
        if not owned or kept or rel in skip:
            continue
        if files is not None and root_name == "main":
            data = files.get(rel)
        else:
            try:
                data = (roots[root_name] / rel).read_bytes()
            except FileNotFoundError:
                data = None
        if data is None:
            if "-" not in (pending or "").split():
                problems.append(f"manifest lists {rel} but it is missing")
            continue
        if content_hash(data) not in owned:
            problems.append(f"manifest hash of {rel} differs from the file")
    return problems


def old_or_new_problems(
    before: dict[str, bytes],
    after: dict[str, bytes],
    wanted: dict[str, bytes],
    *,
    removed: Iterable[str] = (),
) -> list[str]:
    """Each file of ``after`` holds its old bytes or the bytes the run meant to write; nothing
    that existed before is gone (generate deletes only the old files of a move: ``removed``, the
    paths the uninterrupted run removed)."""
    problems = []
    for rel, data in after.items():
        if data != before.get(rel) and data != wanted.get(rel):
            problems.append(f"{rel} holds neither its old nor its new bytes")
    may_go = set(removed)
    problems.extend(f"{rel} disappeared" for rel in before if rel not in after and rel not in may_go)
    return problems


def reference_tree(settings: conf.Settings, where: Path) -> dict[str, bytes]:
    """What an uninterrupted generate of the current catalog writes into an empty folder."""
    clean = conf.build(
        {
            **{f: getattr(settings, f) for f in _SHAPING_FIELDS},
            "output_root": where / "library",
            "state_dir": where / "state",
        }
    )
    result = generate.run(clean)
    assert result.exit_code == 0, result.as_dict()
    return library_tree(clean.output_root)


_SHAPING_FIELDS = (
    "base_url",
    "url_mode",
    "write_nfo",
    "id_tag_style",
    "name_clean_regex",
    "adult_mode",
    "movies_folder",
    "series_folder",
    "max_path_bytes",
    "max_workers",
    "chunk_size",
)


def one_line(message: str | None) -> bool:
    return bool(message) and "\n" not in message.strip() and "Traceback" not in message


def plant_temp_file(folder: Path, data: bytes = b"half") -> Path:
    """A temp file as a crashed run leaves it (named as ``atomic_write`` names them)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / atomic.temp_name()
    path.write_bytes(data)
    return path


# -- subprocesses -----------------------------------------------------------------------------------


def database_url() -> str:
    """The test database as a DATABASE_URL for child processes (SQLite file or PostgreSQL)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        assert name != ":memory:" and "mode=memory" not in name, "child processes need a file database"
        return f"sqlite:///{os.path.abspath(name)}"
    if connection.vendor == "postgresql":
        auth = ""
        if s.get("USER"):
            auth = quote(s["USER"], safe="")
            if s.get("PASSWORD"):
                auth += ":" + quote(str(s["PASSWORD"]), safe="")
            auth += "@"
        host = s.get("HOST") or "localhost"
        if host.startswith("/"):
            return f"postgres://{auth}/{quote(s['NAME'], safe='')}?host={quote(host, safe='')}"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"
    raise AssertionError(f"unsupported test database {connection.vendor}")


#: Loaded by child processes through PYTHONPATH. ``VOD2STRM_TEST_WRITE_DELAY`` (seconds) makes every
#: atomic write pause with half its bytes in the temp file; ``VOD2STRM_TEST_UNLINK_DELAY`` pauses
#: before each delete of the share; ``VOD2STRM_TEST_GATE`` (a path) holds every write and delete
#: until that file exists, after touching ``<path>.reached``; ``VOD2STRM_TEST_MANIFEST_ROOM`` (pages)
#: lets the manifest grow only that much past its size at open, as on a full state disk.
#: Test-only; never shipped.
SITECUSTOMIZE = """
import os
import time


def _gate():
    # With VOD2STRM_TEST_GATE set: announce (touch GATE.reached), then wait until GATE exists.
    gate = os.environ.get("VOD2STRM_TEST_GATE")
    if not gate:
        return
    with open(gate + ".reached", "a"):
        pass
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


def _install():
    write_delay = float(os.environ.get("VOD2STRM_TEST_WRITE_DELAY") or 0)
    unlink_delay = float(os.environ.get("VOD2STRM_TEST_UNLINK_DELAY") or 0)
    gated = bool(os.environ.get("VOD2STRM_TEST_GATE"))
    if write_delay or gated:
        from vod2strm.output import atomic

        real = atomic.write_all

        def slow_write_all(fd, data):
            _gate()
            half = len(data) // 2
            real(fd, data[:half])
            time.sleep(write_delay)
            real(fd, data[half:])

        atomic.write_all = slow_write_all
    if unlink_delay or gated:
        from vod2strm.output.fs import LocalFS

        real_unlink = LocalFS.unlink

        def slow_unlink(self, path):
            _gate()
            time.sleep(unlink_delay)
            real_unlink(self, path)

        LocalFS.unlink = slow_unlink
    room = int(os.environ.get("VOD2STRM_TEST_MANIFEST_ROOM") or 0)
    if room:
        # At SQLite's door, not in the manifest's state: each connection to a manifest file
        # (never the temp one it is built in) may grow the file only ``room`` pages.
        import sqlite3

        real_connect = sqlite3.connect

        def full_disk_connect(database, *args, **kwargs):
            db = real_connect(database, *args, **kwargs)
            name = os.path.basename(os.fspath(database))
            if name.startswith("manifest-") and name.endswith(".sqlite3"):
                pages = db.execute("PRAGMA page_count").fetchone()[0]
                db.execute(f"PRAGMA max_page_count={pages + room}")
            return db

        sqlite3.connect = full_disk_connect


try:
    _install()
except Exception as exc:  # never break the interpreter start
    import sys

    print(f"test sitecustomize failed: {exc}", file=sys.stderr)
"""


def write_hook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    return folder


def child_env(settings: conf.Settings, hook_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for ``manage.py vod2strm …`` against the test database and ``settings``' folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOD2STRM_")}
    path = [str(REPO)]
    if hook_dir is not None:
        path.insert(0, str(hook_dir))
    env.update(
        {
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "vod2strm.standalone.settings",
            "PYTHONPATH": os.pathsep.join(path),
            "VOD2STRM_OUTPUT_ROOT": str(settings.output_root),
            "VOD2STRM_STATE_DIR": str(settings.state_dir),
            "VOD2STRM_MAX_WORKERS": str(settings.max_workers),
            "VOD2STRM_CHUNK_SIZE": str(settings.chunk_size),
            "VOD2STRM_BASE_URL": settings.base_url,
            "VOD2STRM_URL_MODE": settings.url_mode,
            "VOD2STRM_CLEANUP_MAX_SHARE": str(settings.cleanup_max_share),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def cli_args(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "manage.py"), "vod2strm", *args]


@dataclass
class CliResult:
    code: int
    data: dict
    stderr: str


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> CliResult:
    """Run ``manage.py vod2strm <args> --json``; stdout must be exactly one JSON object."""
    proc = subprocess.run(
        cli_args(*args, "--json"), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"stdout is not one JSON object: {proc.stdout!r}\n{proc.stderr}") from None
    return CliResult(proc.returncode, data, proc.stderr)


def error_lines(stderr: str) -> list[str]:
    """The ``vod2strm: …`` lines a failed command printed (the one clear message)."""
    return [line for line in stderr.splitlines() if line.startswith("vod2strm: ")]
