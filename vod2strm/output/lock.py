"""One run per output root at a time, across processes (CLI, the plugin's runner, cron).

The lock is a ``filelock.FileLock`` (``fcntl.flock`` on POSIX) on a file in the *local* state folder,
named from a hash of the resolved output root: two doors pointed at the same root serialise, runs on
different roots do not, and the lock never lives on the share (SMB/NFS locking is unreliable and an
unmounted share must still be lockable). A flock belongs to the open file, so the kernel drops it
when the holder dies, even by SIGKILL: a crashed run never blocks the next one, and there is no
stale-lock heuristic to get wrong.

Acquisition never waits (``timeout=0``): a second run is refused at once with
:class:`~vod2strm.errors.LockedError` (exit 3) naming the holder's pid, read from a sidecar file
the holder writes after taking the lock.

The lock serialises runs that share a state folder only: two state folders on one root (cron
started in one working folder, a manual run in another) take two different lock files. What keeps
those apart is the root's owner, recorded in its marker (:mod:`vod2strm.output.marker`) and
checked while this lock is held: a run whose state does not own the root is refused before it
touches it, so at most one state ever writes there, and that state's runs hold this lock. A second
lock file inside the root would not add to that: it would depend on SMB/NFS locking and would have
to be left behind by a crash without blocking the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock

from vod2strm.errors import ConfigError, LockedError

# A status probe (is_locked) holds the lock for a moment; a run that starts in that moment retries
# briefly instead of reporting a phantom "another run is in progress".
_PROBE_GRACE_SECONDS = 0.2


def lock_path(state_dir: Path, output_root: Path) -> Path:
    """The lock file for ``output_root`` inside ``state_dir`` (the root need not exist)."""
    resolved = str(Path(output_root).expanduser().resolve(strict=False))
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:16]
    return Path(state_dir) / f"run-{digest}.lock"


def _owner_path(lock_file: Path) -> Path:
    return lock_file.with_suffix(".owner")


def read_owner(state_dir: Path, output_root: Path) -> dict[str, Any] | None:
    """What the current (or last) holder wrote about itself: pid, host, root, start time."""
    try:
        data = json.loads(_owner_path(lock_path(state_dir, output_root)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _locked_message(output_root: Path, lock_file: Path, owner: dict[str, Any] | None) -> str:
    holder = ""
    if owner and owner.get("pid"):
        holder = f", held by pid {owner['pid']}"
        if owner.get("host") and owner["host"] != socket.gethostname():
            holder += f" on {owner['host']}"
    return f"another vod2strm run is in progress for {output_root} (lock: {lock_file}{holder})"


@contextlib.contextmanager
def run_lock(state_dir: Path, output_root: Path) -> Iterator[Path]:
    """Hold the run lock for ``output_root`` for the duration of the block; yields the lock path.

    Raises LockedError at once when another process holds it. The state folder is created if
    needed (it is local and ours).
    """
    state_dir = Path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, read-only, no permission: the setting is unusable
        raise ConfigError("state_dir", f"cannot create {str(state_dir)!r}: {exc.strerror or exc}") from None
    path = lock_path(state_dir, output_root)
    lock = filelock.FileLock(str(path), timeout=0)
    deadline = time.monotonic() + _PROBE_GRACE_SECONDS
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except filelock.Timeout:  # an OSError too: caught before the one below
            if time.monotonic() >= deadline:
                raise LockedError(
                    _locked_message(output_root, path, read_owner(state_dir, output_root))
                ) from None
            time.sleep(0.02)
        except OSError as exc:
            raise ConfigError(
                "state_dir", f"cannot take the run lock in {str(state_dir)!r}: {exc.strerror or exc}"
            ) from None
    try:
        _write_owner(path, output_root)
        yield path
    finally:
        lock.release()


def _write_owner(lock_file: Path, output_root: Path) -> None:
    """Record who holds the lock (for the LockedError message and the status report).

    Written after the lock is taken and replaced atomically, so a reader sees a whole record. It is
    left in place on release: it is only trusted while the lock is held.
    """
    owner = _owner_path(lock_file)
    tmp = owner.with_name(f"{owner.name}.{os.getpid()}.tmp")
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "root": str(output_root),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, owner)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def is_locked(state_dir: Path, output_root: Path) -> bool:
    """Whether a run currently holds the lock for ``output_root`` (for status reports).

    Probes by trying the lock without waiting and releasing it at once; a run starting in that
    instant retries briefly (see ``run_lock``). Never creates the state folder.
    """
    path = lock_path(state_dir, output_root)
    if not path.exists():
        return False
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return True
    lock.release()
    return False
