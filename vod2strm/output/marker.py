"""The root marker: proof that the output root is the library we wrote, and which state owns it.

If the NAS failed to mount, ``/mnt/library`` is an empty folder on the container's own disk (or is
missing). Writing there would fill that disk with millions of files, and a cleanup there would
"delete" the whole library from the manifest's point of view. The first run writes
:data:`MARKER_NAME` into the root; every later run (whose manifest lists files) refuses to start
unless the root exists and carries the marker. The root is never created while the manifest has
files: that is exactly the unmounted-share case.

The marker also names the one state (manifest) that owns the root: an owner line with the
manifest's :meth:`~vod2strm.output.manifest.Manifest.owner_id`, then the state folder, the
manifest's file name and the host, for the messages and to recognise the owner's manifest
recreated in place (see :func:`check_owner`). The run lock lives in the state folder, so two
state folders on one root (cron started in one working folder, a manual run in another; the
plugin and the CLI) hold two different locks and would sweep each other's temp files and delete
each other's files. The owner check, made while this state's lock is held, is what keeps them
apart: a run whose state is not the owner refuses (exit 5) before it writes or deletes anything.
A marker without an owner line (an older version wrote it) is claimed by the first run that
writes, even with an empty manifest: nothing recorded anywhere proves another owner, and a claim
deletes nothing (a state adopts identical files and leaves the others alone). Two states claiming
one unclaimed root in the same instant can both pass once; the next run of the one whose claim
was overwritten is refused.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vod2strm.errors import ConfigError, RefusedError, Vod2strmError
from vod2strm.output.atomic import sweep_temp_files
from vod2strm.output.fs import LocalFS

log = logging.getLogger(__name__)

MARKER_NAME = ".vod2strm-root"

MARKER_TEXT = (
    "This folder is a library written by vod2strm (Dispatcharr VOD -> .strm/.nfo).\n"
    "vod2strm refuses to write here without this file once it has written a library, so that an\n"
    "unmounted share is never mistaken for an empty library. Do not delete it. To start over,\n"
    "remove vod2strm's state folder and this file.\n"
)

#: The machine-readable lines after :data:`MARKER_TEXT`, one ``key: value`` each: the owning
#: manifest's id (it alone decides who owns the root), and where that manifest was when it last ran
#: here: its state folder, its file name and the host (for messages, and to recognise the owner's
#: manifest recreated at the same place, see :func:`check_owner`).
OWNER_KEY = "vod2strm-owner"
STATE_KEY = "vod2strm-state"
MANIFEST_KEY = "vod2strm-manifest"
HOST_KEY = "vod2strm-host"
_KEYS = (OWNER_KEY, STATE_KEY, MANIFEST_KEY, HOST_KEY)

OWNER_TEXT = (
    "The lines below name the vod2strm state folder that owns this library; runs with another\n"
    "state folder are refused. To hand the library to another state folder, delete this file: that\n"
    "state then adopts the identical files and never touches the others.\n"
)

#: More than any marker we write; a larger file is read only this far.
_READ_LIMIT = 64 * 1024


class _Unread:
    """The type of :data:`UNREAD`: :func:`ensure_marker` was not told what the marker says."""


UNREAD = _Unread()


class OwnerStore(Protocol):
    """What the owner check needs of the manifest (:class:`~vod2strm.output.manifest.Manifest`)."""

    path: Path

    def owner_id(self, *, create: bool = True, inherit: str | None = None) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Owner:
    """This run's state as a root owner: its manifest's id (None: a dry run's manifest has none yet)
    and the manifest's path, whose folder is the state folder."""

    id: str | None
    manifest: Path
    host: str = field(default_factory=socket.gethostname)

    @property
    def state_text(self) -> str:
        return _printable(str(self.manifest.parent))


@dataclass(frozen=True, slots=True)
class Marked:
    """What a root's marker says (``owner`` None: an older version wrote it; the rest None when absent)."""

    owner: str | None
    state: str | None = None
    manifest: str | None = None
    host: str | None = None

    def records(self, owner: Owner) -> bool:
        """Whether the marker records ``owner``'s manifest file at its current place on this host."""
        return (self.state, self.manifest, self.host) == (
            owner.state_text,
            _printable(owner.manifest.name),
            _printable(owner.host),
        )


def marker_bytes(owner: Owner | None) -> bytes:
    """The marker's content; without an owner, the text older versions wrote."""
    if owner is None or owner.id is None:
        return MARKER_TEXT.encode("utf-8")
    values = (owner.id, owner.state_text, _printable(owner.manifest.name), _printable(owner.host))
    lines = "".join(f"{key}: {value}\n" for key, value in zip(_KEYS, values, strict=True))
    return f"{MARKER_TEXT}{OWNER_TEXT}{lines}".encode("utf-8", "surrogateescape")


def parse_marker(data: bytes) -> Marked:
    """The owner lines of a marker's bytes; text around them (hand edits included) is ignored."""
    found: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in _KEYS:
            found.setdefault(key.strip(), value.strip())
    return Marked(*(found.get(key) or None for key in _KEYS))


def read_marker(root: Path, fs: LocalFS) -> Marked | None:
    """What ``root``'s marker says, or None when there is none (or no root).

    One read, no stat first: a missing file answers None. Any other failure (EIO on a failing
    share, EACCES) is one line: RefusedError (exit 5), since who owns the root cannot be known, or
    ConfigError (exit 2) for a permission problem.
    """
    marker = Path(root) / MARKER_NAME
    try:
        data = fs.read_bytes(marker, _READ_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ConfigError("output_root", f"cannot read {marker}: {reason}") from exc
        raise RefusedError(
            f"cannot read the root marker {marker} ({reason}): a failing or unmounted share? "
            f"Refusing to run without knowing which state folder owns {root}."
        ) from exc
    return parse_marker(data)


def _foreign(root: Path, marked: Marked, owner: Owner) -> RefusedError:
    marker = Path(root) / MARKER_NAME
    theirs = marked.state or "an unrecorded folder"
    where = f" on host {marked.host}" if marked.host and marked.host != _printable(owner.host) else ""
    if not where and marked.state == owner.state_text:
        # One state folder, two configurations: another output_root's manifest wrote the marker.
        return RefusedError(
            f"output root {root} belongs to {marked.manifest or 'another manifest'} in the state folder "
            f"{theirs} (per {marker}), another configuration's, not to this run's {owner.manifest.name}; "
            f"refusing to run. Give each configuration roots of its own, or, to hand the root to this "
            f"one, delete {marker}: it then adopts the identical files and never touches the others."
        )
    return RefusedError(
        f"output root {root} belongs to the vod2strm state folder {theirs}{where} (per {marker}), not to "
        f"this run's state folder {owner.state_text}; refusing to run. To use that state, point "
        f"state_dir at {theirs} (or move that folder to {owner.state_text}); to hand the root to this "
        f"state, delete {marker}: this state then adopts the identical files and never touches the others."
    )


def _inherited(found: Iterable[Marked | None], manifest: Path) -> str | None:
    """The owner id a marker records for this very manifest file on this host, if any."""
    here = Owner(None, manifest)
    for marked in found:
        if marked is not None and marked.owner is not None and marked.records(here):
            return marked.owner
    return None


def check_owner(
    roots: Iterable[Path], manifest: OwnerStore, fs: LocalFS, *, write: bool
) -> tuple[Owner, dict[Path, Marked | None]]:
    """This run's owner, and what each root's marker says (for :func:`ensure_marker`: one read of
    the marker per run, not two); RefusedError (exit 5) when any marker names another owner.

    Every root is read before any is written (the adult root too), so a refusal leaves all of
    them untouched. Nothing on the share is written here: dry runs call only this, and are refused
    all the same. A root without a marker or without an owner line passes: the run claims it
    (:func:`ensure_marker`) when it writes at all.

    A manifest without an owner id yet, at the very path a marker records on this host, takes that
    marker's id: it is the owner's manifest moved aside (the remedy for a damaged one) or restored,
    and must not find itself locked out of its own library. ``write=False`` keeps that id (or
    a new one) out of the manifest.
    """
    found: dict[Path, Marked | None] = {root: read_marker(root, fs) for root in roots}
    owner_id = manifest.owner_id(create=False)
    if owner_id is None:
        inherit = _inherited(found.values(), manifest.path)
        owner_id = manifest.owner_id(inherit=inherit) if write else inherit
    owner = Owner(owner_id, manifest.path)
    for root, marked in found.items():
        if marked is not None and marked.owner is not None and marked.owner != owner.id:
            raise _foreign(root, marked, owner)
    return owner, found


def ownership(roots: dict[str, Path], owner_id: str | None, manifest: Path, fs: LocalFS) -> dict[str, Any]:
    """Per root, who owns it, for stats: reported, never raised (stats reads, it never refuses).

    ``status``: ``ours``; ``other`` (generate and cleanup with this state are refused);
    ``unclaimed`` (an older version's marker: the next run that writes claims it); ``none`` (no
    marker, or no root); ``unreadable`` (with ``error``). ``owner_state``: the owner's state
    folder as its marker records it.
    """
    report: dict[str, Any] = {}
    found: dict[str, Marked | None] = {}
    for name, root in roots.items():
        report[name] = {"root": str(root), "status": "none", "owner_state": None}
        try:
            found[name] = read_marker(root, fs)
        except Vod2strmError as exc:
            report[name].update(status="unreadable", error=str(exc))
    if owner_id is None:
        owner_id = _inherited(found.values(), manifest)
    for name, marked in found.items():
        if marked is not None:
            report[name]["owner_state"] = marked.state
            if marked.owner is None:
                report[name]["status"] = "unclaimed"
            else:
                report[name]["status"] = "ours" if marked.owner == owner_id else "other"
    return report


def _printable(text: str) -> str:
    """One line, whatever the path holds (a newline in a folder name would split the owner line)."""
    return "".join(c if c.isprintable() or c == " " else "?" for c in text)


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


def ensure_marker(
    root: Path, fs: LocalFS, owner: Owner | None = None, marked: Marked | _Unread | None = UNREAD
) -> bool:
    """Mark ``root`` as ``owner``'s; return True if the marker was written now.

    Written when missing, and rewritten once to claim a marker with no owner line (an older
    version's), or to record where the owner's manifest is now (its state folder was moved, or
    another host runs it); a marker already recording this owner where it is is left alone (one
    read, no write). A marker naming another owner is refused here too, though :func:`check_owner`
    has normally refused it already. ``owner=None`` only adds a missing marker, in the old form.
    ``marked``: what :func:`check_owner` read from this root under the same run lock (the marker
    is read here when it is not given).

    Atomic, through ``fs.write_atomic`` (a crash never leaves an empty or half marker). Before
    writing, the root's own temp files are swept: a run killed while writing the marker leaves its
    temp in the root, a folder the writer lists only when it writes a file there, which may be
    never. The caller holds the run lock and owns the root, so no temp there is live.
    """
    marker = Path(root) / MARKER_NAME
    if isinstance(marked, _Unread):
        marked = read_marker(root, fs)
    if marked is not None:
        if owner is None or owner.id is None:
            return False
        if marked.owner is not None and marked.owner != owner.id:
            raise _foreign(root, marked, owner)
        if marked.owner == owner.id and marked.records(owner):
            return False
    try:
        sweep_temp_files(Path(root), fs)
        fs.write_atomic(marker, marker_bytes(owner))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ConfigError("output_root", f"cannot write {marker}: {exc.strerror or exc}") from exc
        # Disk full, EIO, a dead mount: one clear line (exit 1), never a traceback.
        raise Vod2strmError(f"cannot write the root marker {marker}: {exc.strerror or exc}") from exc
    if marked is not None and owner is not None:
        if marked.owner is None:
            log.info("claimed %s for the state folder %s (its marker had no owner)", root, owner.state_text)
        else:
            log.info("recorded the owner's state folder %s in %s", owner.state_text, marker)
    return True
