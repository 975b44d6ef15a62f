"""Peak memory of generate and cleanup does not grow with the catalog (docs/performance.md, "Memory").

Each job runs at 5,000 and at 50,000 items, and is measured twice, as docs/performance.md describes:

- in a child process that reports its own ``ru_maxrss`` (peak resident set: C allocations of
  SQLite, lxml and the thread pool included). Both children import the same modules, so the
  difference of their peaks is what the extra 45,000 items cost;
- in this process with ``tracemalloc`` (Python allocations only, but exact and attributable: on
  failure the test prints where the memory went).

What runs:

- generate, the whole pipeline (catalog chunks -> items -> NFO rendering -> writer pool and
  folder caches -> manifest records), with the share replaced by a filesystem that accepts every
  write and stores nothing (``NullFS``): the process's memory does not depend on where the bytes
  go, and writing 100,000 real files per size would take minutes. The child renders NFOs (lxml
  allocates in C, which only RSS sees); the traced run leaves them out (tracemalloc slows every
  allocation, and an NFO's objects live only while it is rendered).
- cleanup with 5,000 vs 50,000 real orphaned files on disk (recorded in the manifest as ours,
  no longer produced by the latest complete run): each is inspected, hash-checked, deleted, its
  folder removed, and its record forgotten.

The child and the traced run of one size work at the same time, on separate roots.

Bounds, and why they are honest. The one thing a generate keeps per item by design is
``NameClaims`` (vod2strm/library/naming.py): two 8-byte digests per item in a dict, so that names
stay unique across the whole run: ~260 bytes per movie, ~11 MiB for 45,000 more (~12.5 MiB at
its peak: a growing dict holds its old and new tables for a moment). The test measures that cost
directly at both sizes (and holds it to 300 bytes a movie) and allows the difference of its peaks
on top of ``GROWTH_MIB``. Everything else is per chunk, per batch in flight, or bounded (the writer's folder
caches keep at most 4,096 folders each), so ``GROWTH_MIB`` only absorbs what does not scale with
the catalog: SQLite's page caches filling up to their 2 MiB cap (catalog and manifest
connections), malloc arenas, and one reallocation of the interpreter's interned-strings table
(pathlib interns every path part it parses; the process-wide table, ~4 MiB here, is reallocated
now and then, and tracemalloc counts that as a new block in whichever run it happens: measured
1.4 to 5.1 MiB of growth besides NameClaims). Before the writer's folder caches were bounded,
the generate measured ~55 MiB more at 50,000 movies than at 5,000 (a Path object per folder).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from tests.faults import helpers
from vod2strm import conf
from vod2strm.jobs import cleanup, generate
from vod2strm.output.fs import LocalFS
from vod2strm.standalone import models

pytestmark = pytest.mark.slow

SMALL, LARGE = 5_000, 50_000

GROWTH_MIB = {
    "generate rss": 10.0,
    "generate tracemalloc": 7.0,
    "cleanup rss": 6.0,
    "cleanup tracemalloc": 5.0,
}


class NullFS(LocalFS):
    """Accepts every folder and write, stores nothing (the output root itself is real)."""

    def makedirs(self, path, mode=0o777, *, within=None):
        return super().makedirs(path, mode) if within is None else [str(path)]

    def write_atomic(self, path, data, **kw):
        return None

    def scandir(self, path):
        return iter(())


CHILD = textwrap.dedent(
    """
    import json, resource, sys

    import django

    django.setup()
    from vod2strm import conf
    from tests.jobs.test_memory import NullFS
    from vod2strm.jobs import cleanup, generate

    job, root, state = sys.argv[1:4]
    settings = conf.build({"output_root": root, "state_dir": state, "cleanup_max_share": 1.0})
    if job == "generate":
        result = generate.run(settings, fs=NullFS())
    else:
        result = cleanup.run(settings, force=True)  # every show is gone: the valve would refuse
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_kib": peak, "result": result.as_dict()}))
    """
)


def bulk_movies(account, start: int, count: int) -> None:
    batch = 5_000
    for offset in range(start, start + count, batch):
        n = min(batch, start + count - offset)
        movies = models.Movie.objects.bulk_create(
            models.Movie(
                name=f"Bulk Movie {i}",
                year=1950 + i % 70,
                tmdb_id=str(1_000_000 + i),
                description=f"Plot of bulk movie {i}. " * 8,
                genre="Drama, Thriller",
                rating="6.5",
                duration_secs=5400,
            )
            for i in range(offset, offset + n)
        )
        models.M3UMovieRelation.objects.bulk_create(
            models.M3UMovieRelation(
                movie=m, m3u_account=account, stream_id=f"b{m.pk}", container_extension="mkv"
            )
            for m in movies
        )


def settings_in(tmp_path: Path, name: str) -> conf.Settings:
    return conf.build(
        {
            "output_root": tmp_path / name / "library",
            "state_dir": tmp_path / name / "state",
            "cleanup_max_share": 1.0,
        }
    )


def start_child(settings: conf.Settings, job: str) -> subprocess.Popen:
    """Run ``job`` in a fresh interpreter (collect with :func:`child_peak_mib`).

    Started through ``sh`` (which forks it, not execs it): Linux carries ``ru_maxrss`` across
    ``execve``, so a child exec'd straight from this large pytest process would report *our*
    resident size as its peak.
    """
    return subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            '"$@"; exit $?',
            "sh",
            sys.executable,
            "-c",
            CHILD,
            job,
            str(settings.output_root),
            str(settings.state_dir),
        ],
        env=helpers.child_env(settings),
        cwd=helpers.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def child_peak_mib(proc: subprocess.Popen) -> tuple[float, dict]:
    """The child's peak RSS in MiB (``ru_maxrss`` it reported) and its job's result."""
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    data = json.loads(out)
    return data["peak_kib"] / 1024, data["result"]


def traced_peak_mib(job) -> tuple[float, object]:
    """Peak of traced Python memory while ``job()`` runs, above what was allocated before."""
    tracemalloc.start(1)
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = job()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20, result


def fabricate_orphans(settings: conf.Settings, count: int) -> None:
    """``count`` episode files of ours on disk that the latest complete generate no longer produced
    (so cleanup removes every one): shows of 100 episodes in one season folder each, recorded
    through the manifest's own API. (One folder per file would measure the disk: removing a
    folder from a 50,000-entry parent costs ~1 ms here.)"""
    from vod2strm.output import marker
    from vod2strm.output.manifest import FileRecord, Manifest, content_hash

    root = settings.output_root
    root.mkdir(parents=True)
    marker.ensure_marker(root, LocalFS())
    manifest = Manifest.open(settings.state_dir, root)
    per_show = 100
    try:
        run = manifest.start_run("generate")
        for show in range(count // per_show):
            key = f"series:tmdb:{9_000_000 + show}"
            folder = f"TV Shows/Gone Show {show}/Season 01"
            (root / folder).mkdir(parents=True)
            records = []
            for e in range(1, per_show + 1):
                path = f"{folder}/Gone Show {show} S01E{e:02d}.strm"
                data = f"http://127.0.0.1:9191/proxy/vod/episode/{show}-{e}?stream_id={e}&m3u_account_id=1\n"
                (root / path).write_bytes(data.encode())
                records.append(
                    FileRecord(
                        "main", path, content_hash(data.encode()), key, "episode_strm", "series", len(data)
                    )
                )
            manifest.record_item(
                key, section="series", fingerprint="gone", run_id=run, folder=folder.rsplit("/", 1)[0],
                root="main", nfiles=per_show, files=records,
            )  # fmt: skip
        complete = {"movies": "complete", "series": "complete"}
        manifest.finish_run(run, complete, {})
        manifest.finish_run(manifest.start_run("generate"), complete, {})
    finally:
        manifest.close()


def claims_mib(items: int) -> tuple[float, float]:
    """What ``NameClaims`` keeps for ``items`` movies (a key and a folder claim each), and its
    peak while filling (a dict resizing holds its old and new tables for a moment), traced."""
    from vod2strm.library.naming import NameClaims

    tracemalloc.start(1)
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        claims = NameClaims()
        for i in range(items):
            key = claims.unique_key(f"movie:tmdb:{i}", f"movie#{i}")
            claims.claim("Movies", f"Bulk Movie {i} (1999) [tmdbid-{i}]", key, "")
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(claims) == 2 * items
    return (kept - base) / 2**20, (peak - base) / 2**20


def clone(source: conf.Settings, target: conf.Settings) -> conf.Settings:
    """A second copy of ``source``'s library and manifest at ``target``'s folders: the library
    by hard links (cleanup only ever unlinks, so the copies stay independent), the manifest by a
    real copy under the name the target root uses."""
    from vod2strm.output.manifest import manifest_path

    shutil.copytree(source.output_root, target.output_root, copy_function=os.link)
    target.state_dir.mkdir(parents=True)
    shutil.copyfile(
        manifest_path(source.state_dir, source.output_root),
        manifest_path(target.state_dir, target.output_root),
    )
    return target


def check(peaks: dict[str, dict[int, float]], per_item_mib: float = 0.0) -> None:
    """Growth from SMALL to LARGE within ``GROWTH_MIB`` plus what NameClaims needs by design."""
    allowed = {label: GROWTH_MIB[label] + per_item_mib for label in peaks}
    lines = [
        f"{label}: {by[SMALL]:.1f} MiB at {SMALL}, {by[LARGE]:.1f} MiB at {LARGE}: "
        f"growth {by[LARGE] - by[SMALL]:+.1f} MiB (allowed {allowed[label]:.1f})"
        for label, by in peaks.items()
    ]
    print("\n" + "\n".join(lines))
    for label, by in peaks.items():
        assert by[LARGE] - by[SMALL] < allowed[label], lines


@pytest.mark.django_db(transaction=True)
def test_generate_memory_is_flat(tmp_path):
    from tests.factories import M3UAccountFactory

    account = M3UAccountFactory()
    peaks: dict[str, dict[int, float]] = {}
    done = 0
    for size in (SMALL, LARGE):
        bulk_movies(account, done, size - done)
        done = size
        # The child and the traced run in this process work at the same time (other roots).
        child = start_child(settings_in(tmp_path, f"child-{size}"), "generate")
        # tracemalloc slows every allocation: here without NFOs (lxml's trees live in C, which
        # only the child's RSS sees, and are per item anyway), the rest of the pipeline unchanged.
        settings = dataclasses.replace(settings_in(tmp_path, f"traced-{size}"), write_nfo=False)
        peak, result = traced_peak_mib(lambda s=settings: generate.run(s, fs=NullFS()))
        assert result.written == size
        peaks.setdefault("generate tracemalloc", {})[size] = peak
        peak, result = child_peak_mib(child)
        assert result["files"] == 2 * size and result["written"] == 2 * size
        peaks.setdefault("generate rss", {})[size] = peak
    (small_kept, small_peak), (large_kept, large_peak) = claims_mib(SMALL), claims_mib(LARGE)
    print(
        f"\nNameClaims: {small_kept:.1f} MiB kept ({small_peak:.1f} at its peak) for {SMALL} movies, "
        f"{large_kept:.1f} MiB ({large_peak:.1f}) for {LARGE}"
    )
    assert large_kept < LARGE * 300 / 2**20  # its own budget: digests only, ~260 bytes a movie
    check(peaks, per_item_mib=large_peak - small_peak)


@pytest.mark.django_db(transaction=True)
def test_cleanup_memory_is_flat(tmp_path):
    from django.db import connection

    if connection.vendor != "sqlite":
        # Cleanup reads only the manifest (SQLite in the state folder) and the share, never the
        # catalog database: the PostgreSQL run of the suite would measure the same thing again.
        pytest.skip("cleanup never touches the catalog database; measured in the SQLite run")
    peaks: dict[str, dict[int, float]] = {}
    for size in (SMALL, LARGE):
        settings = settings_in(tmp_path, f"child-{size}")
        fabricate_orphans(settings, size)
        traced = clone(settings, settings_in(tmp_path, f"traced-{size}"))
        child = start_child(settings, "cleanup")
        peak, result = traced_peak_mib(lambda s=traced: cleanup.run(s, force=True))
        assert result.removed == size
        peaks.setdefault("cleanup tracemalloc", {})[size] = peak
        peak, result = child_peak_mib(child)
        assert result["removed"] == size and result["folders_removed"] == 2 * size // 100
        peaks.setdefault("cleanup rss", {})[size] = peak
    check(peaks)
