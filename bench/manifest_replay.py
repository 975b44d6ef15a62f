"""The manifest's cost in a cold run, without the run: the same record_item calls, replayed.

Why: in a cold run the manifest is written on the run's results thread, beside rendering and the
writer process, and whole-run A/B pairs vary by ±10% on this machine's shared vCPUs. Replaying
the rows of a cold run (movies with two files, series with five seasons of twenty episodes, in a
shuffled catalog order, as a real catalog's titles are) isolates it, in CPU seconds::

    .venv/bin/python bench/manifest_replay.py [--scale 3] [--wal-pages 1000] [--cache-mb 16] [--defer-index]

``--scale 1`` is size S (10,000 movies, 1,000 series: 186k file rows), 10 is M.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=3, help="multiples of size S")
    parser.add_argument("--wal-pages", type=int, help="PRAGMA wal_autocheckpoint (default: the manifest's)")
    parser.add_argument(
        "--defer-index", action="store_true", help="build files_item at the end, as a first run does"
    )
    parser.add_argument("--cache-mb", type=int, help="PRAGMA cache_size in MiB (default: the manifest's)")
    opts = parser.parse_args()

    from vod2strm.output.manifest import FileRecord, Manifest

    state = Path(tempfile.mkdtemp(prefix="vod2strm-manifest-replay-", dir="/var/tmp"))
    try:
        manifest = Manifest.open(state, Path("/srv/media/vod2strm"))
        if opts.wal_pages is not None:
            manifest._db.execute(f"PRAGMA wal_autocheckpoint={opts.wal_pages}")
        if opts.cache_mb is not None:
            manifest._db.execute(f"PRAGMA cache_size=-{opts.cache_mb * 1024}")
        if opts.defer_index:
            manifest.defer_item_index()
        run = manifest.start_run("generate")
        order = random.Random(1)
        movies = list(range(10_000 * opts.scale))
        series = list(range(1_000 * opts.scale))
        order.shuffle(movies)
        order.shuffle(series)
        rows = 0

        def record(key: str, section: str, folder: str, files: list[FileRecord]) -> None:
            manifest.record_item(
                key, section=section, fingerprint="f" * 32, run_id=run, folder=folder, root="",
                nfiles=len(files), files=files,
            )  # fmt: skip

        started_cpu, started = time.process_time(), time.monotonic()
        for ident in movies:
            title = f"Some Movie {ident:07d} ({1950 + ident % 70})"
            folder = f"Movies/{title}"
            key = f"movie:{ident}"
            files = [
                FileRecord("", f"{folder}/{title}.{ext}", "b" * 32, key, f"movie_{ext}", "movies", 500)
                for ext in ("strm", "nfo")
            ]
            record(key, "movies", folder, files)
            rows += len(files)
        for ident in series:
            show = f"TV Shows/Some Show {ident:06d} (2001)"
            key = f"series:{ident}"
            files = [FileRecord("", f"{show}/tvshow.nfo", "c" * 32, key, "tvshow_nfo", "series", 500)]
            for season in range(1, 6):
                folder = f"{show}/Season {season:02d}"
                nfo = f"{folder}/season.nfo"
                season_nfo = FileRecord("", nfo, "c" * 32, key, "season_nfo", "series", 200)
                files.append(season_nfo)
                for episode in range(1, 21):
                    name = f"{folder}/Some Show {ident:06d} S{season:02d}E{episode:02d} - Episode {episode}"
                    files += [
                        FileRecord("", f"{name}.{ext}", "d" * 32, key, f"episode_{ext}", "series", 300)
                        for ext in ("strm", "nfo")
                    ]
            record(key, "series", show, files)
            rows += len(files)
        manifest.close()  # the last checkpoint is part of the cost
        cpu, wall = time.process_time() - started_cpu, time.monotonic() - started
        size = sum(p.stat().st_size for p in state.iterdir()) >> 20
        per_row = cpu / rows * 1e6
        print(f"{rows:,} file rows: {cpu:.2f} s CPU, {wall:.2f} s wall, {per_row:.1f} us per row, {size} MB")
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
