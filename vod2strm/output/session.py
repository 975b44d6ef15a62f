"""Opening an output root for a run: its lock, its manifest, and the checks of its marker.

Why one place: generate and cleanup must take the same steps in the same order — the lock first
(one run per root), then the manifest (refused if damaged), then the markers of every root (refused
when another state owns one, or when a root that holds our files is missing or unmarked: an
unmounted share) — before either writes or deletes a single file. Written twice, the two copies
drifted (a dry run checked the marker in one and not the other).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vod2strm.output import lock, marker
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import Manifest

if TYPE_CHECKING:
    from vod2strm.conf import Settings


@dataclass(frozen=True)
class OpenRoot:
    """What a run works with once its root is open."""

    manifest: Manifest
    roots: dict[str, Path]  # by the name the manifest records: "main", and "adult" when separate
    has_files: bool  # the manifest records files: a library exists, so its roots must be there


@contextmanager
def open_root(settings: Settings, fs: LocalFS, *, write: bool, create: bool) -> Iterator[OpenRoot]:
    """Hold the root's lock and manifest for the block, after checking every root.

    ``write``: the run may change the share (not a dry run), so it claims or marks the roots.
    ``create``: a run that starts a library (generate) may create a missing root while the
    manifest is empty; cleanup never does. Raises LockedError, RefusedError or ConfigError before
    anything on the share is touched.
    """
    with lock.run_lock(settings.state_dir, settings.output_root):
        manifest = Manifest.open(settings.state_dir, settings.output_root)
        try:
            roots = settings.roots()
            # Another state's root is refused, dry run or not (output/marker.py).
            owner, marked = marker.check_owner(roots.values(), manifest, fs, write=write)
            has_files = manifest.has_files()
            if has_files or (create and write):
                for root in roots.values():
                    marker.check_root(root, has_files, fs)
                    if write:
                        marker.ensure_marker(root, fs, owner, marked[root])  # claims an older marker
            yield OpenRoot(manifest, roots, has_files)
        finally:
            manifest.close()
