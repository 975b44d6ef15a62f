"""How the CLI shows a job's progress: a tqdm bar on a terminal, plain lines when piped.

tqdm is optional (the ``cli`` extra): without it, a terminal gets the plain lines too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from vod2strm.jobs.progress import Progress

if TYPE_CHECKING:
    from tqdm import tqdm

PLAIN_INTERVAL = 10.0  # seconds between plain progress lines


def display_for(job: str, stream: Any, *, quiet: bool = False) -> tuple[Progress, Callable[[], None]]:
    progress = Progress(job=job)
    if quiet:
        return progress, lambda: None
    raw: TextIO = getattr(stream, "_out", stream)
    bar_class = _tqdm()
    if bar_class is not None and hasattr(raw, "isatty") and raw.isatty():
        bars: dict[str, Any] = {}

        def on_event(event: str, p: Progress) -> None:
            section = p.phase
            state = p.sections.get(section)
            if state is None:
                return
            bar = bars.get(section)
            if bar is None:
                bar = bars[section] = bar_class(
                    total=state.total, desc=section, unit="item", file=raw, leave=True
                )
            bar.n = state.done
            bar.refresh()
            if event == "finish":
                bar.close()

        def close_bars() -> None:
            for bar in bars.values():
                bar.close()

        progress.listeners.append(on_event)
        return progress, close_bars

    last = [0.0]

    def on_line(event: str, p: Progress) -> None:
        now = time.monotonic()
        if event == "advance" and now - last[0] < PLAIN_INTERVAL:
            return
        last[0] = now
        state = p.sections.get(p.phase)
        if state is None:
            return
        rate = state.rate(now)
        raw.write(f"{job}: {p.phase} {state.done}/{state.total} ({rate:.0f}/s) {state.status}\n")
        raw.flush()

    progress.listeners.append(on_line)
    return progress, lambda: None


def _tqdm() -> type[tqdm[Any]] | None:
    """tqdm's bar class, or None without the optional ``cli`` extra."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - depends on the optional extra
        return None
    return tqdm
