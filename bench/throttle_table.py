#!/usr/bin/env python3
"""Print the throttle's reaction table in ``docs/throttle.md`` (a deterministic simulation)::

    .venv/bin/python bench/throttle_table.py

A producer that always has work, a modelled share whose latency is ``rtt + per_write x N`` for a
write started with N in flight (``tests/output/throttle_sim.py``), min 1, max 32, default tuning.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.output.throttle_sim import FakeClock, ShareSimulator, linear_share
from vod2strm.output.throttle import AdaptiveConcurrency


def reaction_table() -> str:
    clock = FakeClock()
    throttle = AdaptiveConcurrency(1, 32, clock=clock)
    sim = ShareSimulator(throttle, clock)
    normal = linear_share(0.012, 0.0022)
    busy = linear_share(0.012, 0.011)
    slow_rtt = linear_share(0.036, 0.0022)

    phases = [
        ("normal: 12 ms + 2.2 ms/N", normal, 3000),
        ("share busy: service x5", busy, 1500),
        ("normal again", normal, 3000),
        ("RTT x3: 36 ms + 2.2 ms/N", slow_rtt, 3000),
        ("normal again", normal, 2000),
        ("errors: every 10th write fails", normal, 300),
        ("normal again", normal, 1500),
    ]
    rows = [
        "| completions | phase | limit | writes/s | latency ms | last decision |",
        "|---|---|---|---|---|---|",
    ]
    total = 0
    for label, model, count in phases:
        counter = {"n": 0}

        def fails(_n: int, label: str = label, counter: dict[str, int] = counter) -> bool:
            if not label.startswith("errors"):
                return False
            counter["n"] += 1
            return counter["n"] % 10 == 0

        step = count // 3
        for i in range(3):
            sim.run(model, step, fails=fails)
            total += step
            snap = throttle.snapshot()
            rows.append(
                f"| {total} | {label if i == 0 else ''} | {snap['limit']} | {snap['rate'] or 0:.0f} | "
                f"{model(snap['limit']) * 1000:.1f} | {snap['reason']} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    print(reaction_table())
