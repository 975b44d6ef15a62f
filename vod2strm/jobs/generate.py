"""The generate pipeline: catalog rows → library items → writer + manifest → summary.

Per chunk of rows: one manifest lookup for the chunk's item states; items whose input
fingerprint is unchanged are only marked seen (no rendering, no I/O); the rest are rendered, their
files compared by hash with the manifest, and only changed bytes are written, one folder per
writer task. An item's manifest record is written once all its files are done, so a crash or a
failed file makes the next run render it again — never trusts a half-written item.

A renamed item keeps its recorded names (docs/media-servers.md, "When a title is renamed"); one
that moves to new names (``follow_renames``, changed naming settings, another root) has its old
files removed by the run once its new ones are in place (see ``_Pipeline._moved``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import grp
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from django.db import connections

from vod2strm.catalog import queries
from vod2strm.conf import Settings
from vod2strm.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ITEM_ERRORS,
    EXIT_OK,
    ConfigError,
    Vod2strmError,
)
from vod2strm.jobs.progress import Progress
from vod2strm.library import items as library
from vod2strm.library.items import FolderFiles, LibraryItem
from vod2strm.library.naming import NameClaims
from vod2strm.output import changes, session, writer_process
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import (
    EDITED,
    FOREIGN,
    FileRecord,
    FileState,
    ItemState,
    Manifest,
    Orphan,
    RecordedFile,
    content_hash,
)
from vod2strm.output.writer import Owned, Writer, WriteResult, WriterOptions
from vod2strm.output.writer_process import WriterProcess

log = logging.getLogger(__name__)

SECTIONS = ("movies", "series")

#: How many paths of kept files (someone else's, left alone) a result lists; the counts are complete
#: and ``stats`` lists every one from the manifest.
KEPT_REPORT_LIMIT = 10_000


@dataclass
class GenerateResult:
    """The ``--json`` summary (docs/cli.md), plus details for people."""

    items: int = 0
    files: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    errors: int = 0
    queries: int = 0
    seconds: float = 0.0
    adopted: int = 0
    kept_foreign: int = 0
    kept_edited: int = 0
    foreign: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    series_without_episodes: int = 0
    fields_dropped: int = 0  # NFO values left out or cleaned (library/items.py)
    sections: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    run_id: int | None = None
    error: str | None = None

    @property
    def exit_code(self) -> int:
        statuses = set(self.sections.values())
        if "failed" in statuses or self.error:
            return EXIT_FAILED
        if "cancelled" in statuses:
            return EXIT_INTERRUPTED
        if self.errors:
            return EXIT_ITEM_ERRORS
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["exit"] = self.exit_code
        return data


class QueryCounter:
    """Counts SQL statements sent to the catalog database during the run."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class _Fatal(Vod2strmError):
    """The share failed in a way that dooms every further write (disk full, read-only, gone)."""


#: Rendered items sent to the writer together, after one write-ahead mark (see _Pipeline._dispatch):
#: at most this many items, or this many files, so memory stays per group.
_STAGE_ITEMS = 32
_STAGE_FILES = 2000


class _RootWriter(Protocol):
    """What the pipeline uses of the writer of one root: a :class:`Writer` in this process or a
    :class:`WriterProcess` (the same interface, the work done in a child process)."""

    root: Path
    fatal_error: OSError | None
    fatal_reason: str

    @property
    def stopped(self) -> bool: ...

    def __enter__(self) -> Self: ...

    def submit_many(
        self,
        batches: Sequence[tuple[FolderFiles, Owned, frozenset[str]]],
        *,
        cancel: threading.Event | None = None,
    ) -> int: ...

    def flush(self, cancel: threading.Event | None = None) -> None: ...

    def cancel(self) -> None: ...

    def close(self, *, raise_errors: bool = True) -> None: ...


class _BuildItem(Protocol):
    """:func:`library.movie_item` or :func:`library.series_item`."""

    def __call__(
        self,
        row: Any,
        settings: Settings,
        claims: NameClaims,
        *,
        fingerprint: str | None = None,
        kept: library.KeptNames | None = None,
    ) -> LibraryItem | None: ...


@dataclass
class _Plan:
    item: LibraryItem
    fingerprint: str | None
    records: dict[tuple[str, str], FileRecord]
    batches: list[tuple[FolderFiles, Owned, frozenset[str]]]
    rewriting: list[tuple[tuple[str, str], str]]
    to_send: int
    folder: str
    moved: list[Orphan]


@dataclass
class _PendingItem:
    """An item whose files are at the writer, until the last one is reported.

    It holds only what recording the item takes: not the rendered bytes, and only the old states
    a failed write would fall back to (files the manifest has records for), not the chunk's whole
    table. A writer process keeps a few hundred items in flight, and a 1%-changed run held 37 MB
    more with those references.
    """

    key: str
    section: str
    root: str
    remaining: int
    records: dict[tuple[str, str], FileRecord]
    old_states: dict[tuple[str, str], FileState]
    fingerprint: str | None
    folder: str
    folders: list[str]  # the folders its files were sent in: the pipeline's owner entries
    moved: list[Orphan]  # its old files to remove once the new ones are in place (_Pipeline._moved)
    failed: bool = False
    kept: bool = False  # a file not ours stands at one of its paths and was left alone


def run(
    settings: Settings,
    *,
    only: str | None = None,
    dry_run: bool = False,
    verify: bool = False,
    movie_ids: Sequence[int] | None = None,
    series_ids: Sequence[int] | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    fs: LocalFS | None = None,
) -> GenerateResult:
    """Generate the library. Raises ConfigError, LockedError or RefusedError before writing anything.

    ``movie_ids``/``series_ids`` select items (admin actions): such runs never count as complete,
    so cleanup never deletes on their account.
    """
    started = time.monotonic()
    cancel = cancel or threading.Event()
    progress = progress or Progress(job="generate")
    # A writer process can only use the real filesystem; an injected ``fs`` (fault tests) keeps
    # the writer in this process.
    separate_writer = fs is None and settings.writer_process and writer_process.available()
    fs = fs or LocalFS()
    selected = movie_ids is not None or series_ids is not None
    sections = [s for s in SECTIONS if only in (None, s)]
    if selected:
        sections = [s for s in sections if (movie_ids if s == "movies" else series_ids) is not None]
    counter = QueryCounter()
    result = GenerateResult(dry_run=dry_run)
    recorder = changes.recorder(settings, "generate", dry_run=dry_run)  # folders written, for media servers
    with recorder_closed(recorder), session.open_root(settings, fs, write=not dry_run, create=True) as opened:
        manifest, roots = opened.manifest, opened.roots
        if not dry_run:
            if not opened.has_files:
                manifest.defer_item_index()  # a first run: built once, at the end
            elif handed_over := _handed_over(settings):
                # Files kept as someone else's are offered again: their items render this run.
                manifest.render_kept_again(handed_over)
        result.run_id = None if dry_run else manifest.start_run("generate", selected=selected)
        try:
            with connections["default"].execute_wrapper(counter):
                pipeline = _Pipeline(
                    settings, manifest, result, roots, fs, dry_run, verify, cancel, separate_writer, recorder
                )
                if selected:
                    pipeline.claim_recorded_folders()
                try:
                    for section in sections:
                        ids = movie_ids if section == "movies" else series_ids
                        status = pipeline.run_section(section, ids, progress)
                        result.sections[section] = status
                        progress.finish_section(section, status)
                        if status != "complete":
                            break
                finally:
                    pipeline.close()
                    for section in sections:
                        result.sections.setdefault(section, "cancelled" if cancel.is_set() else "failed")
        except BaseException as exc:
            # The catalog database went away, a bug, a second Ctrl-C: close the run as failed, so
            # status reports it and cleanup waits for a complete run (docs/cli.md, "Complete runs").
            _close_failed_run(manifest, result, sections, counter, started, exc)
            raise
        manifest.ensure_item_index()  # a first run's deferred index is part of its time
        result.queries = counter.count
        result.seconds = time.monotonic() - started
        if result.run_id is not None:
            manifest.finish_run(result.run_id, result.sections, result.as_dict())
    return result


@contextlib.contextmanager
def recorder_closed(recorder: changes.Recorder) -> Iterator[changes.Recorder]:
    """Close a run's change recorder however the run ends (what it changed stays recorded)."""
    try:
        yield recorder
    finally:
        recorder.close()


def _was_ours(state: FileState | None) -> bool:
    """Whether a path held bytes vod2strm had written before (for the media servers: new files
    call for a scan, a rewritten NFO for a refresh)."""
    return state is not None and bool(state.owned())


def _handed_over(settings: Settings) -> tuple[str, ...]:
    """The kinds of kept files (see :mod:`vod2strm.output.manifest`) the settings hand to us."""
    return (FOREIGN,) * settings.take_over_foreign_files + (EDITED,) * settings.overwrite_edited_files


def writer_options(settings: Settings) -> WriterOptions:
    """The writer's options from a run's settings, with ``group`` resolved to a gid (once per root)."""
    return WriterOptions(
        fsync=settings.fsync,
        file_mode=settings.file_mode,
        dir_mode=settings.dir_mode,
        gid=resolve_group(settings.group),
        min_workers=settings.min_workers,
        max_workers=settings.max_workers,
        take_over_foreign_files=settings.take_over_foreign_files,
        overwrite_edited_files=settings.overwrite_edited_files,
    )


def resolve_group(group: str) -> int | None:
    """``settings.group`` (a name or a numeric gid; empty: none) as a gid.

    ``conf`` checked the name when the settings were loaded; a group removed since is still an error.
    """
    name = (group or "").strip()
    if not name:
        return None
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError("group", f"unknown group {name!r}") from None


def _close_failed_run(
    manifest: Manifest,
    result: GenerateResult,
    sections: list[str],
    counter: QueryCounter,
    started: float,
    exc: BaseException,
) -> None:
    if result.run_id is None:
        return
    for section in sections:
        result.sections.setdefault(section, "failed")
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    result.error = result.error or f"{type(exc).__name__}: {first_line}"
    result.queries = counter.count
    result.seconds = time.monotonic() - started
    try:
        manifest.finish_run(result.run_id, result.sections, result.as_dict())
    except Exception as recording:  # the original error is the one to report
        log.warning("could not record the failed run in the manifest: %s", recording)


class _Pipeline:
    def __init__(
        self,
        settings: Settings,
        manifest: Manifest,
        result: GenerateResult,
        roots: dict[str, Path],
        fs: LocalFS,
        dry_run: bool,
        verify: bool,
        cancel: threading.Event,
        separate_writer: bool = False,
        recorder: changes.Recorder | None = None,
    ):
        self.settings = settings
        self.changes = recorder if recorder is not None else changes.NullRecorder()
        self.separate_writer = separate_writer
        self.manifest = manifest
        self.result = result
        self.roots = roots
        self.fs = fs
        self.dry_run = dry_run
        self.verify = verify
        self.cancel = cancel
        self.claims = NameClaims()
        self.handed_over = _handed_over(settings)  # kept-file reasons the settings let us overwrite
        self._folded: dict[tuple[str, str], FileState] = {}  # see _case_variant
        self._folded_for: object = None
        self.run_id = result.run_id or 0
        self._writers: dict[str, _RootWriter] = {}
        self._pending: dict[str, _PendingItem] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (root, folder) → key of the item that sent it
        self._lock = threading.Lock()
        self.naming = library.naming_fingerprint(settings)  # see _kept_names
        self._others_recorded = manifest.has_files()  # see _dispatch
        #: Items whose new files are in place, with the fingerprint to record once their old
        #: files are removed (see _remove_moved), and cleanup's remover, made at the first.
        self._moves: list[tuple[str, str | None, list[Orphan]]] = []
        self._removal: Any = None
        self._remover: Any = None

    # -- sections -----------------------------------------------------------------------------

    def run_section(self, section: str, ids: Sequence[int] | None, progress: Progress) -> str:
        total = queries.count_eligible(section, self.settings) if ids is None else len(ids)
        progress.start_section(section, total)
        rows: Iterable[Any] = (
            queries.iter_movies(self.settings, ids=ids)
            if section == "movies"
            else queries.iter_series(self.settings, ids=ids)
        )
        # Series arrive in the catalog's smaller series chunks (each brings ~100 episodes): a batch
        # of chunk_size series would hold five query chunks of episode rows at once.
        size = self.settings.chunk_size
        if section == "series":
            size = max(1, size // queries.SERIES_CHUNK_DIVISOR)
        try:
            for batch in itertools.batched(rows, size):
                if self.cancel.is_set():
                    return "cancelled"
                self._process(section, batch)
                progress.advance(section, len(batch))
                self._raise_if_fatal()
                self._remove_moved()
            self._drain()
            self._raise_if_fatal()
            self._remove_moved()
        except _Fatal as exc:
            self.result.error = str(exc)
            log.error("%s", exc)
            return "failed"
        return "cancelled" if self.cancel.is_set() else "complete"

    def close(self) -> None:
        for writer in self._writers.values():
            if self.cancel.is_set():
                writer.cancel()
            writer.close()
        self._writers.clear()

    # -- per chunk ----------------------------------------------------------------------------

    def _process(self, section: str, rows: Sequence[Any]) -> None:
        key_of: Callable[[Any, Settings], str]
        fingerprint: Callable[[Any, Settings], str]
        build: _BuildItem
        if section == "movies":
            key_of, fingerprint, build = library.movie_key, library.movie_fingerprint, library.movie_item
        else:
            key_of, fingerprint, build = library.series_key, library.series_fingerprint, library.series_item
        keyed = [(row, key_of(row, self.settings)) for row in rows]
        states = self.manifest.item_states([key for _, key in keyed])
        seen: list[str] = []
        to_render: list[tuple[Any, str, str]] = []
        for row, key in keyed:
            self.result.items += 1 + len(getattr(row, "episodes", ()))
            fp = fingerprint(row, self.settings)
            state = states.get(key)
            if state and state.fingerprint == fp and not self.verify and self._reclaim(state.folder, key):
                seen.append(key)
                self.result.files += state.nfiles
                self.result.unchanged += state.nfiles
            else:
                to_render.append((row, key, fp))
        if seen and not self.dry_run:
            # Unchanged: their fingerprint covers the naming settings, so their names are this run's.
            self.manifest.mark_seen(seen, self.run_id, naming=self.naming)
        recorded: dict[str, list[RecordedFile]] = {}
        old_states = self.manifest.file_states([key for _, key, _ in to_render], by_item=recorded)
        staged: list[tuple[LibraryItem, str, list[Orphan]]] = []
        staged_files = 0
        for row, key, fp in to_render:
            if self.cancel.is_set():  # staged items were never sent: the next run renders them
                return
            files = recorded.get(key, ())
            try:
                kept = self._kept_names(row, states.get(key), files)
                item = build(row, self.settings, self.claims, fingerprint=fp, kept=kept)
            except Exception:  # a hostile row must not stop the run; its old files are kept
                log.exception("could not render %s %r", section, getattr(row, "name", "?"))
                self.result.errors += 1
                if not self.dry_run:
                    self.manifest.mark_seen([key], self.run_id)
                continue
            if item is None:
                self.result.series_without_episodes += 1
                continue
            self.result.fields_dropped += item.fields_dropped
            # Right after the item's own claim, before the next row's: see _moved.
            staged.append((item, fp, self._moved(item, files) if files else []))
            staged_files += sum(len(folder.files) for folder in item.folders)
            if len(staged) >= _STAGE_ITEMS or staged_files >= _STAGE_FILES:
                self._dispatch(staged, old_states)
                staged, staged_files = [], 0
        if staged:
            self._dispatch(staged, old_states)

    def claim_recorded_folders(self) -> None:
        """Before a run for selected items: every folder the manifest records keeps its owner.

        A full run claims every name in primary-key order, so two items never share a folder; a
        run for a few items does not see the others and must not take (and overwrite) their
        folders — compared case-insensitively, as SMB shares do.
        """
        for key, folder in self.manifest.iter_item_folders():
            parent, _, name = folder.rpartition("/")
            self.claims.claim(parent, name, key, "")

    def _kept_names(
        self, row: Any, state: ItemState | None, files: Sequence[RecordedFile]
    ) -> library.KeptNames | None:
        """The names a recorded item keeps (library.KeptNames), or None: it is named as usual.

        Kept: when the provider renamed it, a media server would take the moved folder and files
        for a new item and lose the watch history of the old. Not kept (the item follows its new
        name): with ``follow_renames``; when the naming settings changed since its names were
        made (or are not known: recorded by an older vod2strm, see Manifest.mark_seen), a
        deliberate rename; when it moved to the other root (adult_mode). Its files are those the
        manifest records for it; only its latest render's count.
        """
        if state is None or self.settings.follow_renames or state.naming != self.naming:
            return None
        root = library.item_root(row.is_adult, self.settings)
        if state.root != root:
            return None
        live = [(f.path, f.kind) for f in files if f.root == root and f.render_run == state.render_run]
        return library.kept_names(state.folder, live)

    def _moved(self, item: LibraryItem, files: Sequence[RecordedFile]) -> list[Orphan]:
        """The item's recorded files that its new render writes at another path: removed once
        the new files are in place (_remove_moved), so the media servers never show both.

        A file moved when its render writes the same file (library.file_identity: the movie's
        .strm, the season's season.nfo, the episode S01E02's .nfo) elsewhere: it followed a
        rename, a change of naming settings or of root, or was left by such a move that was
        interrupted. Not files the render no longer has at all (an episode the catalog dropped or
        renumbered): cleanup removes those, behind its safety valve. Nor files under a root that
        is no longer configured, nor in an old folder another item claimed in this run: it is
        claimed for this item here, right after its own claim, so no later item takes it while
        its old files are still there, and an earlier one that took it writes there (cleanup
        removes what of ours it left).
        """
        produced = {out.relpath for folder in item.folders for out in folder.files}
        if all(f.root == item.root and f.path in produced for f in files):
            return []  # what nearly every render finds: nothing moved
        identities = {
            library.file_identity(out.kind, out.relpath) for folder in item.folders for out in folder.files
        }
        top = item.folders[0].folder
        held: dict[str, bool] = {}
        moved: list[Orphan] = []
        for f in files:
            if (f.root == item.root and f.path in produced) or f.root not in self.roots:
                continue
            if library.file_identity(f.kind, f.path) not in identities:
                continue
            old_top = "/".join(f.path.split("/", 2)[:2])  # "Movies/<F>", "TV Shows/<S>"
            if old_top != top:
                if old_top not in held:
                    parent, _, name = old_top.rpartition("/")
                    held[old_top] = self.claims.try_claim(parent, name, item.key)
                if not held[old_top]:
                    continue
            state = f.state
            # item_seen: the remover then spares the new file under an old spelling of its name.
            moved.append(
                Orphan(
                    f.root,
                    f.path,
                    state.hash,
                    f.kind,
                    item.section,
                    state.pending,
                    state.kept,
                    item_key=item.key,
                    item_seen=True,
                )
            )
        return moved

    def _reclaim(self, folder: str, key: str) -> bool:
        """Claim a skipped item's recorded folder name; False when someone earlier took it now."""
        parent, _, name = folder.rpartition("/")
        return self.claims.claim(parent, name, key, "") == name

    def _dispatch(
        self,
        staged: list[tuple[LibraryItem, str, list[Orphan]]],
        old_states: dict[tuple[str, str], FileState],
    ) -> None:
        """Send a few rendered items to the writer, after one write-ahead mark for all of them.

        Files about to replace bytes the manifest records are marked first ("bytes unknown",
        item renders again), in one transaction for the group: a crash before an item is
        recorded again must not leave old hashes beside new bytes. Items without such files
        cost no mark at all (a first run, an unchanged rerun).

        A path the chunk's items have no record of may be another item's: one that left a name
        this run gave to someone else (a renamed item, in a chunk of its own). Its record is
        read here, so that its bytes, ours, are replaced rather than kept as a stranger's.
        """
        if self._others_recorded:
            unknown = [
                (item.root, f.relpath)
                for item, _, _ in staged
                for group in item.folders
                for f in group.files
                if (item.root, f.relpath) not in old_states
            ]
            found = self.manifest.path_states(unknown) if unknown else {}
            if found:
                old_states.update(found)
                self._folded_for = None  # _case_variant's index of old_states is stale
        plans = [self._plan(item, fp, old_states, moved) for item, fp, moved in staged]
        planned = [p for p in plans if p is not None]
        rewriting = [(p.item.key, ident, digest) for p in planned for ident, digest in p.rewriting]
        if rewriting:
            # (A write that fails keeps the old bytes: _done records the old hash again.)
            self.manifest.mark_rewriting(rewriting)
        by_root: dict[str, list[tuple[FolderFiles, Owned, frozenset[str]]]] = {}
        for plan in planned:
            self._expect(plan, old_states)
            by_root.setdefault(plan.item.root, []).extend(plan.batches)
        for root, batches in by_root.items():
            # One frame per stage, not per item. The cancel is obeyed between batches, not at the
            # end of the chunk: on a slow share the rest of a chunk's files took 24 s to write after
            # a cancel (bench/run.py --fs slow, one worker). Files not written come back skipped
            # and keep their old bytes and hashes.
            self._writer(root).submit_many(batches, cancel=self.cancel)

    def _plan(
        self,
        item: LibraryItem,
        fingerprint: str | None,
        old_states: dict[tuple[str, str], FileState],
        moved: list[Orphan],
    ) -> _Plan | None:
        """Compare an item's files with the manifest: what to send the writer (None: nothing).

        Unchanged files cost nothing on the share; with ``--verify`` they are sent as
        ``if_missing``, so the writer's one listing per folder restores files deleted by hand. Each
        file sent carries the hashes of bytes we may have left at its path (``owned``): the writer
        replaces nothing else. ``moved``: its old files to remove once these are in place.
        """
        records: dict[tuple[str, str], FileRecord] = {}
        batches: list[tuple[FolderFiles, Owned, frozenset[str]]] = []
        rewriting: list[tuple[tuple[str, str], str]] = []
        to_send = 0
        for folder in item.folders:
            to_write, verify_only = [], []
            owned: dict[str, tuple[str, ...]] = {}
            for f in folder.files:
                digest = content_hash(f.data)
                ident = (item.root, f.relpath)
                record = records[ident] = FileRecord(
                    item.root, f.relpath, digest, item.key, f.kind, item.section, len(f.data)
                )
                state = old_states.get(ident)
                if state is not None and state.trusted == digest and state.kept not in self.handed_over:
                    record.kept = state.kept  # an edit stays the user's until our bytes change
                    if not self.verify:
                        self.result.unchanged += 1
                        continue
                    verify_only.append(f.relpath)
                elif state is not None:
                    hashes = state.owned()
                    if hashes:
                        owned[f.relpath] = hashes
                        rewriting.append((ident, digest))
                elif old_states:
                    # A case-only rename: on a case-insensitive share our old file *is* this path.
                    variant = self._case_variant(old_states, ident)
                    if variant is not None and variant.owned():
                        owned[f.relpath] = variant.owned()
                to_write.append(f)
            if to_write:
                batches.append((FolderFiles(folder.folder, tuple(to_write)), owned, frozenset(verify_only)))
                to_send += len(to_write)
        self.result.files += len(records)
        top_folder = item.folders[0].folder if item.folders else ""
        if self.dry_run:
            self.result.written += to_send
            self.result.removed += sum(1 for o in moved if o.kept is None and o.owned())  # at most
            return None
        if not batches:
            if moved:  # new files in place already: a move that was interrupted
                self._record(item.key, item.section, item.root, None, records, top_folder)
                self._move_done(item.key, fingerprint, moved)
            else:
                self._record(item.key, item.section, item.root, fingerprint, records, top_folder)
            return None
        return _Plan(item, fingerprint, records, batches, rewriting, to_send, top_folder, moved)

    def _case_variant(
        self, old_states: dict[tuple[str, str], FileState], ident: tuple[str, str]
    ) -> FileState | None:
        """The recorded state of a path that differs from ``ident`` only in case, if any.

        Built once per chunk, and only when a rendered file has no record of its own: a title whose
        case alone changed keeps its old bytes provably ours, so they are replaced, not kept as a
        stranger's (and never left beside the new ones on a case-insensitive share).
        """
        if self._folded_for is not old_states:
            self._folded = {(root, path.casefold()): st for (root, path), st in old_states.items()}
            self._folded_for = old_states
        return self._folded.get((ident[0], ident[1].casefold()))

    def _expect(self, plan: _Plan, old_states: dict[tuple[str, str], FileState]) -> None:
        """Register a plan's files before they are sent: their results may come back at once.

        Results are matched to their item by folder, not by file: the run's claims give every item
        folders of its own (see library/items.py), and a cold M run has 1.85M files in ~160,000
        folders.
        """
        item = plan.item
        folders: list[str] = []
        fallbacks: dict[tuple[str, str], FileState] = {}
        for batch, _, _ in plan.batches:
            folders.append(batch.folder)
            for f in batch.files:
                old = old_states.get((item.root, f.relpath))
                if old is not None:
                    fallbacks[item.root, f.relpath] = old
        pending = _PendingItem(
            item.key,
            item.section,
            item.root,
            plan.to_send,
            plan.records,
            fallbacks,
            plan.fingerprint,
            plan.folder,
            folders,
            plan.moved,
        )
        with self._lock:
            self._pending[item.key] = pending
            for folder in folders:
                self._owner[item.root, folder] = item.key

    def _record(
        self, key: str, section: str, root: str, fingerprint: str | None, records: dict, folder: str
    ) -> None:
        self.manifest.record_item(
            key,
            section=section,
            fingerprint=fingerprint,
            run_id=self.run_id,
            folder=folder,
            root=root,
            nfiles=len(records),
            files=records.values(),
            naming=self.naming,
        )

    # -- writer results (called from writer threads) -------------------------------------------

    def _writer(self, root: str) -> _RootWriter:
        writer = self._writers.get(root)
        if writer is None:
            on_result = functools.partial(self._done, root)
            on_batch = functools.partial(self._batch_written, root)
            options = writer_options(self.settings)
            if self.separate_writer:
                writer = WriterProcess(self.roots[root], options, on_result=on_result, on_batch=on_batch)
            else:
                writer = Writer(self.roots[root], options, fs=self.fs, on_result=on_result, on_batch=on_batch)
            writer.__enter__()
            self._writers[root] = writer
        return writer

    def _batch_written(self, root: str, batch: FolderFiles, written: Sequence[Any]) -> None:
        """The files of one sent folder that got their new bytes: counted once, not per file."""
        if not written:
            return
        with self._lock:
            pending = self._owned(root, batch.folder)
            if pending is None:
                return
            pending.remaining -= len(written)
            self.result.written += len(written)
            known = (
                [_was_ours(pending.old_states.get((root, f.relpath))) for f in written]
                if self.changes.active
                else []
            )
            finished = self._finished(pending)
        if known:
            nfo = any(was and f.kind.endswith("_nfo") for was, f in zip(known, written, strict=True))
            self._changed(root, batch.folder, not all(known), nfo)
        if finished:
            self._record_done(pending)

    def _done(self, root: str, outcome: WriteResult) -> None:
        """One file that was adopted, failed or skipped (written ones come in ``_batch_written``)."""
        ident = (root, outcome.relpath)
        with self._lock:
            pending = self._owned(root, outcome.relpath.rpartition("/")[0])
            if pending is None:
                return
            pending.remaining -= 1
            old = pending.old_states.get(ident)
            if outcome.ok and outcome.adopted:
                self.result.unchanged += 1
                self.result.adopted += 1
            elif outcome.ok:
                self.result.written += 1
                was = _was_ours(old)
                self._changed(
                    root, outcome.relpath.rpartition("/")[0], not was, was and outcome.kind.endswith("_nfo")
                )
            elif outcome.kept:
                self._kept(ident, outcome.kept, pending, old)
            else:
                pending.failed = True
                if not outcome.skipped:
                    self.result.errors += 1
                    log.warning("could not write %s: %s", outcome.relpath, outcome.error)
                # The path keeps what the manifest knew of it: a failed atomic write leaves the old
                # bytes, so ownership (and cleanup's right to delete) is exactly what it was.
                pending.records[ident] = dataclasses.replace(
                    pending.records[ident],
                    hash=old.hash if old else None,
                    pending=old.pending if old else None,
                    kept=old.kept if old else None,
                    size=0,
                )
            if not self._finished(pending):
                return
        self._record_done(pending)

    def _changed(self, root: str, folder: str, created: bool, nfo: bool) -> None:
        """A folder got new bytes: recorded for the media servers (output/changes.py)."""
        self.changes.record(root, folder, changes.CREATED if created else changes.MODIFIED, nfo)

    def _kept(
        self, ident: tuple[str, str], reason: str, pending: _PendingItem, old: FileState | None
    ) -> None:
        """A file that is not ours stands at our path and was left alone (under ``self._lock``).

        It stays recorded (so ``stats`` lists it and the item is not rendered again every run), as
        not ours (``foreign``: no hash) or with the hashes of the bytes we had written there
        (``edited``), so cleanup never deletes it and our render replaces it only once the user's
        bytes are gone, or when a setting hands it over.
        """
        if reason == FOREIGN:
            self.result.kept_foreign += 1
            listed = self.result.foreign
            log.warning("kept %s: a file vod2strm did not write is at its path", ident[1])
        else:
            self.result.kept_edited += 1
            listed = self.result.edited
            log.warning("kept %s: changed since vod2strm wrote it", ident[1])
        if len(listed) < KEPT_REPORT_LIMIT:
            listed.append(ident[1] if ident[0] == "main" else f"{ident[0]}:{ident[1]}")
        pending.kept = True
        pending.records[ident] = dataclasses.replace(
            pending.records[ident],
            hash=old.hash if (old and reason == EDITED) else None,
            pending=old.pending if (old and reason == EDITED) else None,
            kept=reason,
            size=0,
        )

    def _owned(self, root: str, folder: str) -> _PendingItem | None:
        """The pending item that sent ``folder`` (under ``self._lock``)."""
        key = self._owner.get((root, folder))
        return self._pending.get(key) if key is not None else None

    def _finished(self, pending: _PendingItem) -> bool:
        """Whether every file of ``pending`` is reported; if so, forget it (under ``self._lock``)."""
        if pending.remaining:
            return False
        del self._pending[pending.key]
        for folder in pending.folders:
            del self._owner[pending.root, folder]
        return True

    def _record_done(self, pending: _PendingItem) -> None:
        fingerprint = None if pending.failed else pending.fingerprint
        if pending.moved and not pending.failed and not pending.kept:
            self._record(pending.key, pending.section, pending.root, None, pending.records, pending.folder)
            self._move_done(pending.key, fingerprint, pending.moved)
            return
        # A file that failed or was kept leaves the item's old files where they are: the next run
        # renders a failed item again, and cleanup removes the old files of one that was kept.
        self._record(pending.key, pending.section, pending.root, fingerprint, pending.records, pending.folder)

    def _move_done(self, key: str, fingerprint: str | None, moved: list[Orphan]) -> None:
        """An item's new files are in place and recorded, without its fingerprint: its old files
        go next (_remove_moved), and until they did, a crash leaves it to render again next run,
        which removes them."""
        with self._lock:
            self._moves.append((key, fingerprint, moved))

    def _remove_moved(self) -> None:
        """Remove the old files of items whose new files are in place (see _moved).

        In the run's thread, between chunks and at the end of a section, with cleanup's remover
        and its checks: a file goes only when it holds bytes the manifest records as ours (never
        a user's file, nor one edited since), with no symlinked folder on its way, and not when it
        is the new file under another spelling (a case-insensitive share); a folder it empties
        goes too. Each folder it removes files from is recorded as deleted for the media servers
        (the new folder was recorded as created when its files were written). An item gets its
        fingerprint back once its old files were handled without an error; otherwise it renders
        again next run, which tries again. After a cancel this waits for that next run.
        """
        with self._lock:
            moves, self._moves = self._moves, []
        if not moves or self.cancel.is_set():
            return
        from vod2strm.jobs import cleanup  # here: cleanup imports this module

        if self._remover is None:
            self._removal = cleanup.CleanupResult()
            self._remover = cleanup.Remover(
                self.roots, self.fs, self.manifest, self._removal, False, None, self.changes
            )
        removal, remover = self._removal, self._remover
        removed_before, errors_before = removal.removed, removal.errors
        self.manifest.commit()  # the items' new records first: the remover tells live files by them
        done: list[tuple[str, str | None]] = []
        try:
            for key, fingerprint, orphans in moves:
                errors = removal.errors
                for orphan in sorted(orphans, key=lambda o: (o.root, o.path)):
                    remover.handle(orphan)
                remover.finish()
                if removal.errors == errors:
                    done.append((key, fingerprint))
        except Vod2strmError as exc:  # the root went away (an unmounted share): as a write would
            raise _Fatal(f"removing the old files of titles that moved stopped: {exc}") from exc
        finally:
            self.manifest.set_fingerprints(done)
        self.result.removed += removal.removed - removed_before
        self.result.errors += removal.errors - errors_before

    def _drain(self) -> None:
        for writer in self._writers.values():
            writer.flush(self.cancel)

    def _raise_if_fatal(self) -> None:
        for writer in self._writers.values():
            if writer.fatal_error is not None:
                reason = writer.fatal_reason or writer.fatal_error
                raise _Fatal(f"writing to {writer.root} stopped: {reason}")
            if writer.stopped and not self.cancel.is_set():
                raise _Fatal(f"writing to {writer.root} stopped unexpectedly")
