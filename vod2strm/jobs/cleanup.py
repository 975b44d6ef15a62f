"""Cleanup: delete the files we wrote that the catalog no longer produces — and nothing else.

What may go is decided by the manifest alone (DESIGN.md section 7): a file we never recorded is
never a candidate, whatever its name. Before deleting, each candidate is checked on disk: not a
symlink, no symlinked folder on the way, still our bytes (a file someone edited since — Jellyfin's
NFO saver, say — is reported and kept unless ``force``). Only sections whose latest generate was
complete are touched, and a valve refuses to delete more than ``cleanup_max_share`` of our files.

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
from vod2strm.jobs.generate import SECTIONS
from vod2strm.output import lock, marker
from vod2strm.output.atomic import sweep_temp_files
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import Manifest, Orphan, content_hash

log = logging.getLogger(__name__)

#: How many paths a report lists (the counts are always complete).
REPORT_LIMIT = 1000
_FORGET_BATCH = 500
#: Files deleted per write-ahead mark in the manifest (never across folders).
_DELETE_BATCH = 100


@dataclass
class CleanupResult:
    removed: int = 0
    would_remove: int = 0
    kept: int = 0
    refused: bool = False
    missing: int = 0
    errors: int = 0
    folders_removed: int = 0
    dry_run: bool = False
    cancelled: bool = False
    sections: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
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
            "refused": self.refused,
            "missing": self.missing,
            "errors": self.errors,
            "folders_removed": self.folders_removed,
            "dry_run": self.dry_run,
            "sections": self.sections,
            "changed": self.changed,
            "paths": self.listed,
            "message": self.message,
            "exit": self.exit_code,
        }

    def as_text(self) -> str:
        lines = list(self.listed) if self.dry_run else []
        if self.refused:
            lines.append(f"Refused: {self.message}")
        elif self.dry_run:
            lines.append(f"Dry run: would remove {self.would_remove} files; nothing was deleted.")
        else:
            lines.append(
                f"Removed {self.removed} files and {self.folders_removed} empty folders; "
                f"kept {self.kept} changed since written, {self.errors} errors."
            )
        for path in self.changed:
            lines.append(f"kept (changed since vod2strm wrote it): {path}")
        for section, status in self.sections.items():
            if status != "cleaned":
                lines.append(f"{section}: {status}")
        return "\n".join(lines)


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
    with lock.run_lock(settings.state_dir, settings.output_root):
        manifest = Manifest.open(settings.state_dir, settings.output_root)
        try:
            roots = settings.roots()
            has_files = manifest.has_files()
            if not has_files:
                result.message = "the manifest lists no files yet: nothing to clean"
                return result
            for root in roots.values():
                marker.check_root(root, has_files, fs)
            plan = {}
            for section in SECTIONS:
                complete = manifest.latest_complete_run(section)
                if complete is None:
                    result.sections[section] = "skipped: its latest generate was not complete"
                    continue
                plan[section] = complete
                result.would_remove += manifest.count_orphans(section, complete)
            total = manifest.count_files()
            if total and result.would_remove / total > settings.cleanup_max_share and not force:
                result.refused = True
                result.message = (
                    f"would delete {result.would_remove} of {total} files "
                    f"({result.would_remove / total:.0%}, limit {settings.cleanup_max_share:.0%}); "
                    "a provider outage? Re-run with --force if this is intended."
                )
                return result
            remover = _Remover(roots, fs, manifest, result, dry_run, force, on_path)
            for section, complete in plan.items():
                try:
                    for orphan in manifest.iter_orphans(section, complete):
                        if cancel.is_set():
                            result.cancelled = True
                            break
                        remover.handle(orphan)
                finally:
                    remover.finish()
                if result.cancelled:
                    result.sections[section] = "cancelled"
                    break
                result.sections[section] = "cleaned"
                if not dry_run:
                    manifest.prune_items(section, complete)
        finally:
            manifest.close()
    return result


class _Remover:
    def __init__(
        self,
        roots: dict[str, Path],
        fs: LocalFS,
        manifest: Manifest,
        result: CleanupResult,
        dry_run: bool,
        force: bool,
        on_path: Callable[[str], None] | None,
    ):
        self.roots = roots
        self.fs = fs
        self.manifest = manifest
        self.result = result
        self.dry_run = dry_run
        self.force = force
        self.on_path = on_path
        self._forget: list[tuple[str, str]] = []
        self._doomed: list[tuple[Orphan, Path]] = []  # judged ours, deleted in small groups
        self._folder: tuple[str, PurePosixPath] | None = None

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
        """``ours`` (safe to delete), ``missing``, or a reason it is kept."""
        try:
            if _symlink_on_path(root, rel):
                log.warning("not deleting %s: a folder on its path is a symlink", orphan.path)
                self.result.kept += 1
                return "symlinked folder"
            info = os.lstat(target)
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
        if orphan.hash is not None and not self.force:
            try:
                current = _read_nofollow(target)
            except OSError as exc:
                self.result.errors += 1
                log.error("could not read %s: %s", orphan.path, exc)
                return "error"
            if content_hash(current) != orphan.hash:
                self.result.kept += 1
                if len(self.result.changed) < REPORT_LIMIT:
                    self.result.changed.append(orphan.path)
                return "changed"
        return "ours"

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


def _symlink_on_path(root: Path, rel: PurePosixPath) -> bool:
    """True when a folder between the root and the file is a symlink (it may point outside)."""
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if os.path.islink(current):
            return True
    return False


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()
