"""Cleanup: delete the files we wrote that the catalog no longer produces — and nothing else.

What may go is decided by the manifest and the bytes on disk: a file we never recorded is never a
candidate, whatever its name, and a recorded one goes only if it still holds bytes we wrote there
(its hash is one the manifest records as ours). Before deleting, each candidate is checked on disk:
not a symlink, no symlinked folder on the way, still our bytes — a file someone edited since
(Jellyfin's NFO saver, say) or one we never wrote is reported and kept, ``force`` or not. Only
sections whose latest generate was complete are touched, and a valve per section (movies and
series, under each root) refuses one that would lose more than ``cleanup_max_share`` of its files,
or whose latest catalog read was empty while the library holds its files: the signature of one
provider's outage, which a valve over the whole library lets through when that section is small.
``force`` overrides the valve and nothing else.

Memory stays flat: candidates stream from the manifest in path order, and because of that order a
folder is finished once the stream leaves it, so empty folders are removed on the way out without
remembering a set of folders.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vod2strm.conf import Settings
from vod2strm.errors import EXIT_INTERRUPTED, EXIT_ITEM_ERRORS, EXIT_OK, EXIT_REFUSED, Vod2strmError
from vod2strm.jobs.generate import SECTIONS, recorder_closed
from vod2strm.output import changes, marker, session
from vod2strm.output.atomic import sweep_temp_files
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import EDITED, FOREIGN, Manifest, Orphan, content_hash
from vod2strm.output.writer import OWNERSHIP_READ_LIMIT

log = logging.getLogger(__name__)

#: How many paths a report lists (the counts are always complete).
REPORT_LIMIT = 1000
_FORGET_BATCH = 500
#: An orphan's path that is another spelling of a live file (see Remover._is_a_live_file).
_LIVE = "live"
#: Files deleted per write-ahead mark in the manifest (never across folders).
_DELETE_BATCH = 100


@dataclass
class CleanupResult:
    removed: int = 0
    would_remove: int = 0
    kept: int = 0
    not_ours: int = 0
    refused: bool = False
    missing: int = 0
    errors: int = 0
    folders_removed: int = 0
    dry_run: bool = False
    cancelled: bool = False
    sections: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        if self.refused:
            return EXIT_REFUSED
        if self.cancelled:
            return EXIT_INTERRUPTED
        if self.errors:
            return EXIT_ITEM_ERRORS
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "would_remove": self.would_remove,
            "kept": self.kept,
            "not_ours": self.not_ours,
            "refused": self.refused,
            "missing": self.missing,
            "errors": self.errors,
            "folders_removed": self.folders_removed,
            "dry_run": self.dry_run,
            "sections": self.sections,
            "changed": self.changed,
            "foreign": self.foreign,
            "paths": self.listed,
            "message": self.message,
            "exit": self.exit_code,
        }


def run(
    settings: Settings,
    *,
    dry_run: bool = False,
    force: bool = False,
    cancel: threading.Event | None = None,
    fs: LocalFS | None = None,
    on_path: Callable[[str], None] | None = None,
) -> CleanupResult:
    """Remove orphaned files of complete sections. Raises LockedError/RefusedError before deleting."""
    cancel = cancel or threading.Event()
    fs = fs or LocalFS()
    result = CleanupResult(dry_run=dry_run)
    recorder = changes.recorder(settings, "cleanup", dry_run=dry_run)  # folders emptied, for media servers
    with (
        recorder_closed(recorder),
        session.open_root(settings, fs, write=not dry_run, create=False) as opened,
    ):
        manifest, roots = opened.manifest, opened.roots
        if not opened.has_files:
            result.message = "the manifest lists no files yet: nothing to clean"
            return result
        plan = {}
        for section in SECTIONS:
            complete = manifest.latest_complete_run(section)
            if complete is None:
                result.sections[section] = "skipped: its latest generate was not complete"
                continue
            plan[section] = complete
        refused, unconfigured = _valve(manifest, plan, roots, settings.cleanup_max_share, force, result)
        # A dry run lists what a refused section would lose too: that is what the user must judge.
        left_alone = set(unconfigured) | (set() if dry_run else set(refused))
        if refused:
            result.refused = True
            result.message = (
                "cleanup refused for "
                + "; ".join(refused.values())
                + ". A provider outage? Nothing there was deleted; force the cleanup if this is intended."
            )
            log.warning("%s", result.message)
        remover = Remover(roots, fs, manifest, result, dry_run, on_path, recorder)
        for section, complete in plan.items():
            if all((root, section) in left_alone for root in roots):
                continue
            try:
                for orphan in manifest.iter_orphans(section, complete):
                    if cancel.is_set():
                        result.cancelled = True
                        break
                    if (orphan.root, section) in left_alone:
                        continue
                    remover.handle(orphan)
            finally:
                remover.finish()
            if result.cancelled:
                result.sections[section] = "cancelled"
                break
            if any(key[1] == section for key in left_alone | set(refused)):
                continue  # partly left alone: its items stay until the whole section is cleaned
            result.sections[section] = "cleaned"
            if not dry_run:
                manifest.prune_items(section, complete)
    return result


def _label(root: str, section: str) -> str:
    return section if root == "main" else f"{root} {section}"


def _valve(
    manifest: Manifest,
    plan: dict[str, int],
    roots: dict[str, Path],
    max_share: float,
    force: bool,
    result: CleanupResult,
) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """The sections (per root) cleanup must leave alone: refused ones, each with the reason in one
    phrase, and those of a root the settings no longer name (the adult root after ``adult_mode``
    left ``separate``), whose files stay as they are until the root is configured again: a root
    dropped from the settings is never emptied silently.

    Why per section: one provider's movie categories vanishing, or a movies query that returned
    nothing, orphans every movie — 5% of an episode-heavy library, well under a valve over all
    files. Each section is judged against its own files, and an empty catalog read for a section
    whose files the library holds is refused whatever the share. Also counts ``would_remove``.
    """
    refused: dict[tuple[str, str], str] = {}
    unconfigured: set[tuple[str, str]] = set()
    for section, complete in plan.items():
        orphans = manifest.count_orphans(section, complete)
        seen = manifest.count_seen_items(section, complete)
        for root, total in sorted(manifest.count_section_files(section).items()):
            label = _label(root, section)
            if root not in roots:
                unconfigured.add((root, section))
                result.sections[label] = (
                    f"left as it is: the {root} root is no longer configured ({total} files recorded)"
                )
                continue
            doomed = orphans.get(root, 0)
            result.would_remove += doomed
            if force or not doomed:
                continue
            if not seen.get(root):
                refused[root, section] = (
                    f"{label}: its latest catalog read was empty, and the library holds {total} of its files"
                )
            elif doomed / total > max_share:
                refused[root, section] = (
                    f"{label}: would delete {doomed} of {total} files "
                    f"({doomed / total:.0%}, limit {max_share:.0%})"
                )
            if (root, section) in refused:
                result.sections[label] = "refused: " + refused[root, section].split(": ", 1)[1]
    return refused, unconfigured


class Remover:
    """Removes orphaned files that are provably ours (by content), and the folders they empty.

    Shared with generate, which removes a moved item's old files in the same run with the same
    rules (see ``jobs.generate._Pipeline._remove_moved``).
    """

    def __init__(
        self,
        roots: dict[str, Path],
        fs: LocalFS,
        manifest: Manifest,
        result: CleanupResult,
        dry_run: bool,
        on_path: Callable[[str], None] | None,
        recorder: changes.Recorder | None = None,
    ):
        self.roots = roots
        self.changes = recorder if recorder is not None else changes.NullRecorder()
        self.fs = fs
        self.manifest = manifest
        self.result = result
        self.dry_run = dry_run
        self.on_path = on_path
        self._forget: list[tuple[str, str]] = []
        self._doomed: list[tuple[Orphan, Path]] = []  # judged ours, deleted in small groups
        self._folder: tuple[str, PurePosixPath] | None = None
        self._live_of: tuple[str, str] | None = None  # whose live paths _live holds
        self._live: list[str] = []

    def handle(self, orphan: Orphan) -> None:
        root = self.roots.get(orphan.root)
        rel = PurePosixPath(orphan.path)
        if root is None or not _is_plain_relative(rel):
            self.result.errors += 1
            log.error("manifest entry %r is not a path under the output root; skipped", orphan.path)
            return
        self._leave_folders(orphan.root, rel.parent)
        # Records are forgotten only once the stream has left their folder (and tried to remove
        # it): a crash in between leaves them to the next cleanup, which then removes the folder.
        if len(self._forget) >= _FORGET_BATCH:
            self.manifest.forget_files(self._forget)
            self._forget.clear()
        target = root.joinpath(*rel.parts)
        verdict = self._inspect(root, rel, target, orphan)
        if verdict == "missing":
            self._check_root(orphan.root)
            self.result.missing += 1
            self._queue_forget(orphan)
            return
        if verdict in (FOREIGN, _LIVE):  # not ours, or a live file's other spelling: forget the record
            self._queue_forget(orphan)
            return
        if verdict == EDITED and orphan.kept != EDITED and not self.dry_run:
            self.manifest.mark_kept([(orphan.root, orphan.path)], EDITED)
        if verdict != "ours":
            return
        if self.dry_run:
            self._list(orphan.path)
            return
        self._doomed.append((orphan, target))
        if len(self._doomed) >= _DELETE_BATCH:
            self._delete_doomed()

    def _delete_doomed(self) -> None:
        """Delete the files judged ours, after one write-ahead mark in the manifest for all of them."""
        doomed, self._doomed = self._doomed, []
        if not doomed:
            return
        self.manifest.mark_deleting([(orphan.root, orphan.path) for orphan, _ in doomed])
        for orphan, target in doomed:
            try:
                self.fs.unlink(target)
            except FileNotFoundError:
                self._check_root(orphan.root)
                self.result.missing += 1
            except OSError as exc:
                self.result.errors += 1
                log.error("could not delete %s: %s", orphan.path, exc)
                continue
            else:
                self.result.removed += 1
                self._list(orphan.path)
                self.changes.record(orphan.root, orphan.path.rpartition("/")[0], changes.DELETED)
            self._queue_forget(orphan)

    def _check_root(self, root_name: str) -> None:
        """A missing file may mean the whole share went away (unmounted mid-run): one stat of the
        marker tells. Forgetting every orphan as "already gone" would leak them for ever."""
        root = self.roots[root_name]
        try:
            present = self.fs.exists(root / marker.MARKER_NAME)
        except OSError:
            present = False
        if not present:
            raise Vod2strmError(
                f"output root {root} vanished during cleanup (an unmounted share?); stopped, "
                "nothing more was deleted"
            )

    def _inspect(self, root: Path, rel: PurePosixPath, target: Path, orphan: Orphan) -> str:
        """``ours`` (safe to delete), ``missing``, or why it is kept (``FOREIGN``, ``EDITED``, ...).

        Ours means provably ours: the bytes on disk hash to one the manifest records for this path.
        No flag overrides that: a file we cannot prove we wrote is the user's.
        """
        try:
            if _symlink_on_path(self.fs, root, rel):
                log.warning("not deleting %s: a folder on its path is a symlink", orphan.path)
                self.result.kept += 1
                return "symlinked folder"
            info = self.fs.stat(target, follow_symlinks=False)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            self.result.errors += 1
            log.error("could not inspect %s: %s", orphan.path, exc)
            return "error"
        if not stat.S_ISREG(info.st_mode):
            log.warning("not deleting %s: no longer a regular file", orphan.path)
            self.result.kept += 1
            return "not a file"
        if self._is_a_live_file(root, orphan, info):
            return _LIVE
        owned = orphan.owned()
        if orphan.kept == FOREIGN or not owned:
            self.result.kept += 1
            self.result.not_ours += 1
            if len(self.result.foreign) < REPORT_LIMIT:
                self.result.foreign.append(orphan.path)
            return FOREIGN
        try:
            current = self.fs.read_bytes(target, OWNERSHIP_READ_LIMIT, follow_symlinks=False)
        except OSError as exc:
            self.result.errors += 1
            log.error("could not read %s: %s", orphan.path, exc)
            return "error"
        if content_hash(current) not in owned:
            self.result.kept += 1
            if len(self.result.changed) < REPORT_LIMIT:
                self.result.changed.append(orphan.path)
            return EDITED
        return "ours"

    def _is_a_live_file(self, root: Path, orphan: Orphan, info: os.stat_result) -> bool:
        """Whether the orphan's path names the same file as a live path of its item, spelled in
        another case: after a title's case-only rename on a case-insensitive share (SMB, NTFS,
        APFS) the old and new names are one file, and deleting the old one deletes the live one."""
        if not orphan.item_seen:  # its item left the catalog: it has no live file
            return False
        if self._live_of != (orphan.root, orphan.item_key):  # orphans come grouped by folder
            self._live_of = (orphan.root, orphan.item_key)
            self._live = self.manifest.live_paths(orphan.item_key, orphan.root)
        folded = orphan.path.casefold()
        for live in self._live:
            if live != orphan.path and live.casefold() == folded:
                try:
                    other = self.fs.stat(root.joinpath(*PurePosixPath(live).parts), follow_symlinks=False)
                except OSError:
                    continue
                if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
                    return True
        return False

    def _list(self, path: str) -> None:
        if len(self.result.listed) < REPORT_LIMIT:
            self.result.listed.append(path)
        if self.on_path is not None:
            self.on_path(path)

    def _queue_forget(self, orphan: Orphan) -> None:
        if self.dry_run:
            return
        self._forget.append((orphan.root, orphan.path))

    def _leave_folders(self, root_name: str, folder: PurePosixPath | None) -> None:
        """Remove the previous folder (and its now-empty parents) once the stream has left it."""
        previous = self._folder
        self._folder = (root_name, folder) if folder is not None else None
        if previous != self._folder:
            self._delete_doomed()  # the folder's files go before the folder does
        if previous is None or self.dry_run:
            return
        prev_root, prev_folder = previous
        keep = folder if (folder is not None and prev_root == root_name) else None
        current = prev_folder
        # Depth >= 2: never the section folder ("Movies") nor the root itself.
        while len(current.parts) >= 2 and not (keep is not None and _is_within(keep, current)):
            if not self._remove_folder(self.roots[prev_root].joinpath(*current.parts), current):
                break
            self.result.folders_removed += 1
            current = current.parent

    def _remove_folder(self, path: Path, rel: PurePosixPath) -> bool:
        """Remove an emptied folder; True if it went.

        A folder that is not empty may hold only a temp file of a generate killed mid-write, in a
        folder no later generate wrote into (the sweep there happens on a folder's first write).
        Those are swept, and the removal tried once more; anything else in it keeps it.
        """
        for attempt in (1, 2):
            try:
                self.fs.rmdir(path)
                return True
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and attempt == 1:
                    if sweep_temp_files(path, self.fs):
                        continue
                elif exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR):
                    log.warning("could not remove folder %s: %s", rel, exc)
                return False
        return False

    def finish(self) -> None:
        self._leave_folders("", None)
        if self._forget and not self.dry_run:
            self.manifest.forget_files(self._forget)
            self._forget.clear()


def _is_plain_relative(rel: PurePosixPath) -> bool:
    return bool(rel.parts) and not rel.is_absolute() and all(p not in ("", ".", "..") for p in rel.parts)


def _is_within(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents


def _symlink_on_path(fs: LocalFS, root: Path, rel: PurePosixPath) -> bool:
    """True when a folder between the root and the file is a symlink (it may point outside).

    A folder that is gone raises FileNotFoundError: the file is missing too.
    """
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if stat.S_ISLNK(fs.stat(current, follow_symlinks=False).st_mode):
            return True
    return False
