"""The single boundary between vod2strm and the output share.

Every call that touches the library folder (often a slow NAS over SMB/NFS, where each call is a
network round trip) goes through a :class:`LocalFS`. That gives three things:

- one place to count and reason about round trips (``makedirs`` tries the folder itself first, so
  an existing parent costs nothing; nothing here stats "just in case");
- fault injection: tests subclass or wrap it to raise ``ENOSPC``/``EACCES``/``EIO``/``EROFS`` on
  chosen calls, which is why the writer, marker and sweep code take an ``fs`` and never call
  ``os.*`` on the share themselves;
- one rule about symlinks: listings never follow them (:class:`Entry` reports the link itself), so a
  walk can never wander outside the output root through a link a user made.

Local state (the manifest, the lock) does not go through here: it lives on a local disk.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vod2strm.output import atomic


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry, classified without following symlinks.

    ``is_dir``/``is_file`` are False for a symlink whatever it points at, so code that recurses on
    ``is_dir`` or deletes on ``is_file`` cannot be led outside the tree by a link.
    """

    name: str
    path: Path
    is_dir: bool
    is_file: bool
    is_symlink: bool


def _strictly_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies below ``folder`` (both normalised, as ``os.path.normpath`` gives them)."""
    return path != folder and path.startswith(folder if folder.endswith("/") else folder + "/")


class LocalFS:
    """Share I/O through the local kernel (a mounted share looks local). Stateless and thread-safe."""

    def makedirs(
        self, path: str | os.PathLike[str], mode: int = 0o777, *, within: str | os.PathLike[str] | None = None
    ) -> list[str]:
        """Create ``path`` and any missing parents; return the folders this call created, parents first.

        The folder itself is tried first (one round trip when its parent exists, the common case);
        parents are only walked after ``ENOENT``. A concurrent creator is not an error. ``mode`` is
        filtered by the umask as usual; callers that must force a mode chmod the returned folders.

        ``within``: never create this folder or anything above it. The writer passes the output root,
        so a vanished root (an unmounted share) surfaces as ``FileNotFoundError`` instead of being
        silently recreated on the container's own disk.

        Paths are strings (normalised here): the writer calls this once per folder of a run, and
        building and printing ``Path`` objects for it cost more than the ``mkdir`` itself.
        """
        folder = os.path.normpath(os.fspath(path))
        limit = None if within is None else os.path.normpath(os.fspath(within))
        if limit is not None and not _strictly_inside(folder, limit):
            raise ValueError(f"{folder} is not a folder strictly inside {limit}")
        created: list[str] = []
        self._makedirs(folder, mode, limit, created)
        return created

    def _makedirs(self, path: str, mode: int, within: str | None, created: list[str]) -> None:
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            return
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path or (within is not None and parent == within):
                raise  # the top (or the root we must not create) is missing
            self._makedirs(parent, mode, within, created)
            try:
                os.mkdir(path, mode)
            except FileExistsError:
                return
        created.append(path)

    #: Replace a file so readers see the old bytes or the new, never a mix
    #: (:func:`~vod2strm.output.atomic.atomic_write`). The function itself, not a method that
    #: forwards to it: the writer calls it for every file, and the extra frame was ~0.3 µs of
    #: its ~6 µs of Python per file. Subclasses (fault tests) override it as a method.
    write_atomic = staticmethod(atomic.atomic_write)

    def read_bytes(
        self, path: str | os.PathLike[str], limit: int | None = None, *, follow_symlinks: bool = True
    ) -> bytes:
        """Read a file (at most ``limit`` bytes): to adopt an existing file with identical bytes, and
        to prove a file ours before it is replaced or deleted. ``follow_symlinks=False`` refuses a
        symlink (``ELOOP``), so cleanup never judges a file by what a link points at."""
        if follow_symlinks:
            with open(path, "rb") as fh:
                return fh.read() if limit is None else fh.read(limit)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)

    def unlink(self, path: Path) -> None:
        """Remove a file or a symlink (never what the link points at)."""
        os.unlink(path)

    def rmdir(self, path: Path) -> None:
        """Remove an empty folder; a non-empty one raises, so a user's file is never swept along."""
        os.rmdir(path)

    def scandir(self, path: Path) -> Iterator[Entry]:
        """Yield the entries of one folder with a single listing (no per-entry stat where d_type is known).

        Entries are classified with ``follow_symlinks=False``. The listing is closed even when the
        caller stops early.
        """
        base = Path(path)
        with os.scandir(base) as it:
            for de in it:
                is_symlink = de.is_symlink()
                yield Entry(
                    name=de.name,
                    path=base / de.name,
                    is_dir=not is_symlink and de.is_dir(follow_symlinks=False),
                    is_file=not is_symlink and de.is_file(follow_symlinks=False),
                    is_symlink=is_symlink,
                )

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists (following symlinks: the root itself may be a link to the mount).

        Only "not there" answers False; any other failure (``EIO``, ``ENOTCONN`` on a dead mount,
        ``EACCES``) is raised, because "I could not look" must not be mistaken for "it is missing".
        """
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def is_dir(self, path: Path) -> bool:
        """Whether ``path`` is a folder (following symlinks); missing answers False, other errors raise."""
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return stat.S_ISDIR(st.st_mode)

    def stat(self, path: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        """One stat round trip; the writer uses it only to tell "root gone" from "one folder gone"."""
        return os.stat(path, follow_symlinks=follow_symlinks)

    def access(self, path: Path, mode: int) -> bool:
        """``os.access`` (effective ids): a cheap writability check before a run starts."""
        return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)

    def chmod(self, path: str | os.PathLike[str], mode: int) -> None:
        os.chmod(path, mode)

    def chown(self, path: str | os.PathLike[str], uid: int = -1, gid: int = -1) -> None:
        """Change owner and/or group (-1 keeps one); used to hand folders to a media server's group."""
        os.chown(path, uid, gid)


#: errno values meaning "this path is not there" (for callers that treat a missing folder as empty).
MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR})
