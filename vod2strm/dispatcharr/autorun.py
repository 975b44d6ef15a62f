"""Auto-run: generate after Dispatcharr refreshed an account's VOD catalog — once it has settled.

Dispatcharr fires ``m3u_refresh`` when an M3U refresh succeeds, *before* it even queues the VOD
refresh (``refresh_vod_content``), whose end is announced only on a websocket. So the event must
not generate at once. Instead:

1. The plugin's ``auto_run`` action records a request in ``<state>/autorun.json`` (a counter,
   written atomically under the control lock) and makes sure one job process is running: it starts
   a waiter, or leaves the request to the job already running.
2. The waiter polls one aggregate query (count and latest ``updated_at``/``last_seen`` of the
   relation tables) until nothing moved — and no new request arrived — for
   ``autorun_settle_seconds``; then it marks every request so far as handled and generates.
3. Requests that arrive while it waits join that run; requests that arrive while any job runs
   (``handled < seq`` when it ends) make it wait and generate exactly once more. The job decides
   to exit under the same lock the plugin takes to record a request, so none is ever dropped, and
   however many arrive, they coalesce into one follow-up run.

Timing is injectable (``clock``, ``sleep`` via the cancel event, ``poll_seconds``) so tests run in
fractions of a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vod2strm.dispatcharr import control

REQUESTS_FILE = "autorun.json"
KEEP_EVENTS = 10


def _path(state_dir: Path | str) -> Path:
    return Path(state_dir) / REQUESTS_FILE


def read(state_dir: Path | str) -> dict[str, Any]:
    data = control.read_json(_path(state_dir))
    state = {"seq": 0, "handled": 0, "events": [], "generated_snapshot": None}
    if isinstance(data, dict):
        state.update(data)
    return state


def pending(state: Mapping[str, Any]) -> int:
    """How many recorded requests no run has taken yet."""
    return max(0, int(state.get("seq", 0)) - int(state.get("handled", 0)))


def record(state_dir: Path | str, event: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record one request (call under ``control.control_lock``); returns the new state."""
    state = read(state_dir)
    state["seq"] = int(state["seq"]) + 1
    entry = {"event": event, "at": time.time()}
    if payload and payload.get("account_name"):
        entry["account_name"] = str(payload["account_name"])
    state["events"] = [*state.get("events", []), entry][-KEEP_EVENTS:]
    control.write_json_atomic(_path(state_dir), state)
    return state


def take(state_dir: Path | str) -> int:
    """Mark every request so far as handled by the run about to start (under the control lock)."""
    state = read(state_dir)
    state["handled"] = state["seq"]
    control.write_json_atomic(_path(state_dir), state)
    return int(state["seq"])


def clear(state_dir: Path | str) -> int:
    """Drop pending requests (a cancel means "stop", not "stop and start again"); returns how many."""
    state = read(state_dir)
    dropped = pending(state)
    if dropped:
        state["handled"] = state["seq"]
        control.write_json_atomic(_path(state_dir), state)
    return dropped


def remember_snapshot(state_dir: Path | str, snapshot: list[Any] | None) -> None:
    """The settled catalog a complete auto-run generated from: the next one skips if unchanged."""
    state = read(state_dir)
    state["generated_snapshot"] = snapshot
    control.write_json_atomic(_path(state_dir), state)


# -- has the catalog settled? --------------------------------------------------------------------


def catalog_snapshot() -> list[list[Any]]:
    """Count and latest change of each relation table, in one query (a UNION of aggregates).

    Dispatcharr's VOD refresh writes relations with ``bulk_create``/``bulk_update`` and stamps
    ``last_seen`` on every relation it sees, and deletes the ones it no longer sees: while it runs,
    some count or maximum moves. Category relations catch the category toggles of a refresh.
    """
    from django.db.models import Count, IntegerField, Max, Value

    from vod2strm.catalog import resolver

    m = resolver.models()
    parts = []
    for tag, model, seen in (
        (1, m.M3UMovieRelation, "last_seen"),
        (2, m.M3USeriesRelation, "last_seen"),
        (3, m.M3UEpisodeRelation, "last_seen"),
        (4, m.M3UVODCategoryRelation, "updated_at"),
    ):
        parts.append(
            model.objects.order_by()
            .annotate(table=Value(tag, output_field=IntegerField()))
            .values("table")
            .annotate(n=Count("pk"), changed=Max("updated_at"), seen=Max(seen))
            .values_list("table", "n", "changed", "seen")
        )
    rows = parts[0].union(*parts[1:], all=True)
    return sorted([int(t), int(n or 0), _iso(c), _iso(s)] for t, n, c, s in rows)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def poll_interval(settle_seconds: float) -> float:
    """A sixth of the settle time, between 50 ms and 15 s."""
    return min(max(settle_seconds / 6.0, 0.05), 15.0)


def wait_until_settled(
    snapshot: Callable[[], Any],
    settle_seconds: float,
    *,
    cancel: threading.Event,
    poll_seconds: float | None = None,
    max_wait: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    marker: Callable[[], Any] = lambda: None,
    on_poll: Callable[[float, float], None] | None = None,
    between_polls: Callable[[], None] | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> Any:
    """Block until ``snapshot()`` and ``marker()`` stayed equal for ``settle_seconds``.

    Returns the settled snapshot, or None when ``cancel`` was set. ``marker`` is the request
    counter: a new request restarts the quiet period (another refresh is on its way). After
    ``max_wait`` (default: 30 x the settle time, at least an hour) it returns anyway, so a catalog
    that never stops moving still gets a library. ``on_poll(stable_for, elapsed)`` reports
    progress; ``between_polls`` runs after each poll (the runner closes its database connection
    there rather than hold one open for minutes). ``sleep`` defaults to ``cancel.wait``.
    """
    poll = poll_interval(settle_seconds) if poll_seconds is None else poll_seconds
    limit = max(30 * settle_seconds, 3600.0) if max_wait is None else max_wait
    started = clock()
    last = (snapshot(), marker())
    stable_since = started
    while True:
        now = clock()
        if on_poll is not None:
            on_poll(now - stable_since, now - started)
        if now - stable_since >= settle_seconds or now - started >= limit:
            return last[0]
        if between_polls is not None:
            between_polls()
        (sleep or cancel.wait)(min(poll, max(settle_seconds - (now - stable_since), 0.0) or poll))
        if cancel.is_set():
            return None
        current = (snapshot(), marker())
        if current != last:
            last = current
            stable_since = clock()
