#!/usr/bin/env python
"""Plot time and peak memory of generate against catalog size, from bench/results/*.json.

    .venv/bin/python bench/plot.py [--db sqlite] [--out docs/performance.svg]

Reads ``<size>-<db>-local.json`` for XS, S and M (whatever exists) and draws two panels: seconds
(cold, unchanged, 1% changed, and the write and scan floors) and peak RSS, against the number of
catalog items (movies + series + episodes). Uses the median repetition of each run. Needs
matplotlib (a bench-only dependency: ``.venv/bin/python -m pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = ("XS", "S", "M")


def load(db: str) -> list[dict]:
    points = []
    for size in SIZES:
        path = HERE / "results" / f"{size}-{db}-local.json"
        if not path.exists():
            continue
        res = json.loads(path.read_text())
        reps = res["reps"]
        point = {"size": size, "items": reps[0]["runs"]["cold"]["items"]}
        for run in ("cold", "unchanged", "changed"):
            point[run] = statistics.median(r["runs"][run]["seconds"] for r in reps)
            # The run's process plus its writer process (0 before there was one, and when a run
            # writes nothing): the 250 MB target is for both together.
            point[run + "_rss"] = statistics.median(
                r["runs"][run]["rss_mb"] + r["runs"][run].get("child_rss_mb", 0) for r in reps
            )
        point["write_floor"] = statistics.median(
            min(f["seconds"] for f in r["floors"]["write"].values()) for r in reps
        )
        point["scan_floor"] = statistics.median(r["floors"]["scan"]["seconds"] for r in reps)
        points.append(point)
    return points


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="sqlite")
    p.add_argument("--out", default=str(HERE.parent / "docs" / "performance.svg"))
    opts = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "vod2strm"  # stable ids: the SVG diffs cleanly
    import matplotlib.pyplot as plt

    points = load(opts.db)
    if not points:
        raise SystemExit(f"no bench/results/*-{opts.db}-local.json yet")
    items = [pt["items"] for pt in points]
    labels = [f"{pt['size']}\n{pt['items']:,}" for pt in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    for key, label, style in (
        ("cold", "cold generate", "o-"),
        ("write_floor", "atomic-write floor", "o--"),
        ("changed", "after a 1% change", "s-"),
        ("unchanged", "unchanged rerun", "^-"),
        ("scan_floor", "scan floor", "^--"),
    ):
        left.plot(items, [pt[key] for pt in points], style, label=label)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(items, labels)
    left.minorticks_off()
    left.set_xlabel("catalog items (movies + series + episodes)")
    left.set_ylabel("seconds")
    left.set_title(f"time ({opts.db}, local disk)")
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8)
    for key, label, style in (
        ("cold_rss", "cold generate", "o-"),
        ("changed_rss", "after a 1% change", "s-"),
        ("unchanged_rss", "unchanged rerun", "^-"),
    ):
        right.plot(items, [pt[key] for pt in points], style, label=label)
    right.axhline(250, color="grey", linestyle=":", label="target: 250 MB")
    right.set_xscale("log")
    right.set_xticks(items, labels)
    right.minorticks_off()
    right.set_ylim(0, max(260, *(pt["cold_rss"] * 1.1 for pt in points)))
    right.set_xlabel("catalog items (movies + series + episodes)")
    right.set_ylabel("peak RSS, MB (run's process + writer process)")
    right.set_title("memory")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    out = Path(opts.out)
    fig.savefig(out, metadata={"Date": None} if out.suffix == ".svg" else None)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
