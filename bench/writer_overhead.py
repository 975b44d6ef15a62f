"""The writer's own Python cost per batch and per file, with every syscall taken out.

Why: on a local disk the writer process spends several times the write floor's CPU, and A/B runs
of a whole generate vary by ±10% from run to run on this machine's shared vCPUs. With ``mkdir``
and the atomic write replaced by no-ops, what is left is the writer's bookkeeping (folder caches,
throttle, pool, results), measured in CPU seconds and repeatable to a few percent::

    .venv/bin/python bench/writer_overhead.py [--batches 50000] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50_000, help="movie folders of two files each")
    parser.add_argument("--workers", type=int, default=1, help="max_workers (min_workers is 1)")
    opts = parser.parse_args()

    from vod2strm import conf
    from vod2strm.jobs.generate import writer_options
    from vod2strm.library.items import FolderFiles, OutputFile
    from vod2strm.output import fs
    from vod2strm.output.writer import Writer

    class NoWrites(fs.LocalFS):
        def write_atomic(self, path, data, **_options) -> None:
            pass

    fs.os.mkdir = lambda path, mode=0o777: None  # LocalFS.makedirs runs, minus the syscall
    root = Path("/srv/media/vod2strm")
    settings = conf.build({"output_root": root, "state_dir": Path(os.devnull), "max_workers": opts.workers})
    batches = []
    for i in range(opts.batches):
        folder = f"Movies/Some Movie {i} (2001)"
        name = f"{folder}/Some Movie {i} (2001)"
        files = (OutputFile(f"{name}.strm", b"x", "movie_strm"), OutputFile(f"{name}.nfo", b"y", "movie_nfo"))
        batches.append(FolderFiles(folder, files))

    started = time.process_time()
    with Writer(root, writer_options(settings), fs=NoWrites(), on_result=lambda _result: None) as writer:
        for batch in batches:
            writer.submit(batch)
    cpu = time.process_time() - started
    files = 2 * len(batches)
    per_file = cpu / files * 1e6
    print(f"{cpu:.2f} s CPU for {len(batches):,} batches ({files:,} files): {per_file:.1f} us per file")


if __name__ == "__main__":
    main()
