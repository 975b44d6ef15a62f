"""The root marker: proof that the output root is the library we wrote, not an empty mount point.

If the NAS failed to mount, ``/mnt/library`` is an empty folder on the container's own disk (or is
missing). Writing there would fill that disk with millions of files, and a cleanup there would
"delete" the whole library from the manifest's point of view. The first run writes
:data:`MARKER_NAME` into the root; every later run (whose manifest lists files) refuses to start
unless the root exists and carries the marker. The root is never created while the manifest has
files: that is exactly the unmounted-share case.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from vod2strm.errors import ConfigError, RefusedError, Vod2strmError
from vod2strm.output.atomic import sweep_temp_files
from vod2strm.output.fs import LocalFS

MARKER_NAME = ".vod2strm-root"

MARKER_TEXT = (
    "This folder is a library written by vod2strm (Dispatcharr VOD -> .strm/.nfo).\n"
    "vod2strm refuses to write here without this file once it has written a library, so that an\n"
    "unmounted share is never mistaken for an empty library. Do not delete it. To start over,\n"
    "remove vod2strm's state folder as well.\n"
)


def _refusal(root: Path) -> RefusedError:
    return RefusedError(
        f"output root {root} is missing or not marked (an unmounted share?); refusing to write. "
        "Mount it, or remove the state folder to start over."
    )


def check_root(root: Path, manifest_has_files: bool, fs: LocalFS) -> None:
    """Refuse (exit 5) an unmarked or missing root when files were written before; prepare a new one.

    - manifest lists files, root missing/unreachable or without marker: RefusedError.
    - manifest empty and root missing: create it (parents too).
    - root not a folder, or not writable by this process: ConfigError (exit 2).
    """
    root = Path(root)
    try:
        present = fs.exists(root)
    except OSError as exc:  # EIO/ENOTCONN: a dead mount is as good as a missing one
        if manifest_has_files:
            raise _refusal(root) from exc
        raise ConfigError("output_root", f"cannot access {root}: {exc.strerror or exc}") from exc
    if manifest_has_files:
        try:
            marked = present and fs.exists(root / MARKER_NAME)
        except OSError as exc:
            raise _refusal(root) from exc
        if not marked:
            raise _refusal(root)
    elif not present:
        try:
            fs.makedirs(root)
        except OSError as exc:
            raise ConfigError("output_root", f"cannot create {root}: {exc.strerror or exc}") from exc
    try:
        is_dir = fs.is_dir(root)
        writable = is_dir and fs.access(root, os.W_OK | os.X_OK)
    except OSError as exc:
        raise ConfigError("output_root", f"cannot access {root}: {exc.strerror or exc}") from exc
    if not is_dir:
        raise ConfigError("output_root", f"{root} is not a folder")
    if not writable:
        raise ConfigError(
            "output_root", f"{root} is not writable by this process (uid {os.geteuid()}, gid {os.getegid()})"
        )


def ensure_marker(root: Path, fs: LocalFS) -> bool:
    """Write the marker into ``root`` if it is not there; return True if it was written now.

    Atomic (a crash never leaves an empty marker). An existing marker is left alone: no rewrite, no
    round trips beyond one stat. Before writing, the root's own temp files are swept: a run killed
    while writing the marker leaves its temp in the root, a folder the writer lists only when it
    writes a file there, which may be never. The caller holds the run lock, so no temp is live.
    """
    marker = Path(root) / MARKER_NAME
    try:
        if fs.exists(marker):
            return False
        sweep_temp_files(Path(root), fs)
        fs.write_atomic(marker, MARKER_TEXT.encode("utf-8"))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ConfigError("output_root", f"cannot write {marker}: {exc.strerror or exc}") from exc
        # Disk full, EIO, a dead mount: one clear line (exit 1), never a traceback.
        raise Vod2strmError(f"cannot write the root marker {marker}: {exc.strerror or exc}") from exc
    return True
