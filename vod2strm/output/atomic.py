"""Atomic file replacement and the sweep of temp files a crashed run left behind.

A media server may read a ``.strm``/``.nfo`` at any moment, and a run may die at any moment (Ctrl-C,
SIGKILL, a share that drops). Writing the new bytes to a temp file in the *same* folder and then
``os.replace``-ing it onto the target means a reader sees either the old file or the new one, never
a truncated mix: rename within one folder is atomic on local filesystems, NFS and SMB alike. (A temp
file elsewhere would make the rename a cross-device copy, which is not atomic.)

Temp names start with :data:`TEMP_PREFIX` and end in ``.tmp``: hidden, with an extension no media
scanner indexes, and recognisable so :func:`sweep_temp_files` can remove exactly them and nothing
else. They are short (prefix, token, serial) rather than carrying the target's name: a name
the length of an episode's cost the kernel ~3% more per file on ext4 (bench/writer_replay.py's
disk, docs/performance.md), and building it cost the writer process more than the ``os.write``.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vod2strm.output.fs import Entry, LocalFS

TEMP_PREFIX = ".vod2strm-tmp-"
_TEMP_SUFFIX = ".tmp"

# Temp names are this process's random token plus a counter: unique without a ``getrandom`` call
# per file (each syscall hands the GIL to the rendering thread and back; see docs/performance.md).
# ``O_EXCL`` still refuses a clash with a stray file. A forked child draws its own token.
_head = TEMP_PREFIX + secrets.token_hex(4)
_serial = itertools.count()


def _new_token() -> None:
    global _head, _serial
    _head, _serial = TEMP_PREFIX + secrets.token_hex(4), itertools.count()


os.register_at_fork(after_in_child=_new_token)

_OPEN_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
)


def temp_name() -> str:
    """A fresh temp file name: prefix, this process's token and a serial (ASCII, under 40 bytes)."""
    return f"{_head}{next(_serial):x}{_TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temp files (anything else in a folder is never swept)."""
    return name.startswith(TEMP_PREFIX)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write less than asked).

    The one place :func:`atomic_write` puts bytes into its temp file, looked up at each call: the
    fault and kill tests replace it to fail or pause a write midway, with half the bytes written.
    """
    written = os.write(fd, data)  # a regular file takes it all at once, short of a full disk
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - a regular file never returns 0 for a non-empty write
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    fsync: bool = False,
    file_mode: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically: the old file stays intact unless the new one is complete.

    - The temp file is created with ``os.open(..., 0o666)``, so the process umask decides its mode,
      exactly as for any file the user's tools create. ``file_mode`` (when set) is applied with
      ``fchmod`` before the rename, so the file never appears with the wrong mode.
    - ``gid``: hand the file to a media server's group (``fchown``), also before the rename.
    - ``fsync``: flush data to stable storage before the rename, and the folder after it (best
      effort: some network filesystems reject a directory fsync). Off by default: on a NAS it costs
      round trips per file, and a crash is already safe without it (old bytes or new).
    - On any failure (including KeyboardInterrupt) the temp file is removed and the error re-raised.
    """
    # Plain strings: pathlib, and then os.path.split/join, cost more per file than the syscalls
    # they wrap (docs/performance.md).
    target = path if isinstance(path, str) else os.fspath(path)
    folder, slash, _ = target.rpartition("/")
    tmp = f"{folder}{slash}{temp_name()}"
    fd = os.open(tmp, _OPEN_FLAGS, 0o666)
    try:
        try:
            write_all(fd, data)
            if file_mode is not None:
                os.fchmod(fd, file_mode)
            if gid is not None:
                os.fchown(fd, -1, gid)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(folder or ".")


def _fsync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


def sweep_temp_files(folder: Path, fs: LocalFS, *, recursive: bool = False) -> int:
    """Remove our leftover temp files in ``folder`` (and below, if ``recursive``); return how many.

    Only regular files whose name starts with :data:`TEMP_PREFIX` are removed: never a folder,
    never a symlink (even one named like ours), never anything else. Recursion does not follow
    symlinks. A missing folder counts as empty. Must not run on a folder the writer is writing into
    in the same moment (the run lock guarantees no *other* run is).
    """
    removed = 0
    pending: list[Path] = [Path(folder)]
    while pending:
        current = pending.pop()
        for entry in _list_or_empty(current, fs):
            if entry.is_file and is_temp_name(entry.name):
                try:
                    fs.unlink(entry.path)
                except FileNotFoundError:
                    continue
                removed += 1
            elif recursive and entry.is_dir:
                pending.append(entry.path)
    return removed


def _list_or_empty(folder: Path, fs: LocalFS) -> Iterator[Entry]:
    try:
        yield from fs.scandir(folder)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        raise
