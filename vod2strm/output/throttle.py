"""An adaptive limit on writes in flight: hill-climbing on throughput, with latency and error brakes.

Why not plain latency AIMD: on a network share, per-write latency rises with parallelism even while
throughput still grows (measured at +1 ms: 1 writer = 14 ms/file and 70 files/s, 16 writers = 45
ms/file and 357 files/s). A rule "cut when latency > k x baseline" with a TCP-like k of 1.5-2 would
hold the writer near 4 threads and waste most of the share's capacity. What matters is whether more
writes in flight still buy throughput, so that is what :class:`AdaptiveConcurrency` measures.

The algorithm (details and a worked table in ``docs/throttle.md``; the knobs named here are the
fields of :class:`Tuning`):

1. Observe in *windows* of ``max(2 x limit, min_window)`` completions, and at least
   ``min_window_seconds`` (see :meth:`AdaptiveConcurrency._window_full`): mean latency W, the
   time-average of writes in flight N, and throughput X = N / W (Little's law: it uses every
   sample's latency, so it is far steadier than counting completions between two instants). A
   window where fewer than ``busy_fraction`` of the slots were busy measured the producer, not the
   share: no decision.
2. Probe: after a busy window, move the limit one step (``probe_step`` of it, at least 1; doubling
   in slow start) and keep the step only if it paid: up, if X rose by at least ``efficiency`` of
   what linear scaling would give; down, if X fell by less than that (the removed slots were not
   paying for themselves). A rejected probe steps back and holds ``hold_windows`` windows, then
   probes the other way. The limit settles where one more slot buys about ``efficiency`` of an
   average slot's throughput; under a latency model a + b*N that is where latency reaches
   a / ``efficiency`` (4x the unloaded latency by default) - which is why a *latency* threshold of
   1.5-2x is wrong and one of ~4x would merely be a lucky proxy.
3. Multiplicative decrease (``x decrease``, default 0.7) when throughput at an unchanged or higher
   limit falls more than ``drop_tolerance`` below the reference in two busy windows in a row (the
   share got slower), or at once when the smoothed per-write latency exceeds ``latency_explode``
   times what this limit cost in its last busy window (a stall: react within a few completions,
   not after a window that may take minutes). A clear rise in throughput restarts slow start.
4. Errors (``release(ok=False)``) cut by ``x error_decrease`` (default 0.5) immediately.
5. At most one cut of each kind (:class:`Brake`) per window; after any change the writes started
   under the old limit finish before the next window starts. The limit always stays within
   ``[min_limit, max_limit]``.
6. At the minimum, back off: each probe up from ``min_limit`` that did not pay, or that a cut
   undid, doubles the windows held there before the next one (up to ``2**max_backoff`` times
   ``hold_windows``); one that pays resets it. Meanwhile a rise in throughput does not start a
   probe, a cut (there is nothing to cut) changes nothing, and a confirmed fall becomes the new
   reference. On a local disk, where a second write in flight never pays, a probe to 2 every
   window was cut by a latency blip within milliseconds, and each probe moved the writer process
   onto its pool (docs/performance.md). Above the minimum nothing changes.

Everything is driven by the injected ``clock`` and the observations, so a fake clock makes it fully
deterministic: ``tests/output/throttle_sim.py`` (a modelled share) uses that in the tests, and
``bench/throttle_table.py`` to print the reaction table in the docs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Tuning:
    """The knobs of :class:`AdaptiveConcurrency`. Settings give only its bounds; these are for
    tests and benchmarks (``docs/throttle.md`` explains each)."""

    #: Completions a window needs at least (and at least twice the limit).
    min_window: int = 128
    #: Seconds a window lasts at least (on a local disk 128 completions take ~10 ms).
    min_window_seconds: float = 0.25
    #: A probe moves the limit by this share of itself, at least 1 (slow start doubles instead).
    probe_step: float = 0.125
    #: A probe pays if throughput changes by at least this share of what linear scaling would give.
    efficiency: float = 0.25
    #: A change of throughput larger than this share of the reference is a fall (or a rise).
    drop_tolerance: float = 0.15
    #: The limit is multiplied by this when the share got slower.
    decrease: float = 0.7
    #: The limit is multiplied by this on a write that failed for want of capacity.
    error_decrease: float = 0.5
    #: The latency brake: smoothed latency above this many times the reference's cuts at once.
    latency_explode: float = 3.0
    #: Weight of the newest latency in the smoothed (EWMA) latency.
    latency_alpha: float = 0.1
    #: Busy windows held after a rejected probe before the next one.
    hold_windows: int = 4
    #: A window in which fewer than this share of the slots were busy measured the producer.
    busy_fraction: float = 0.75
    #: At the minimum, failed probes double the hold up to ``2**max_backoff`` times ``hold_windows``.
    max_backoff: int = 5

    def __post_init__(self) -> None:
        if not (0 < self.decrease < 1 and 0 < self.error_decrease < 1 and 0 < self.latency_alpha <= 1):
            raise ValueError("decrease factors and latency_alpha must lie in (0, 1)")
        if self.min_window < 1 or self.hold_windows < 1:
            raise ValueError("min_window and hold_windows must be at least 1")
        if self.min_window_seconds < 0 or self.max_backoff < 0:
            raise ValueError("min_window_seconds and max_backoff must not be negative")


DEFAULT_TUNING = Tuning()


class Mode(StrEnum):
    """What the limit is doing; the value is what :meth:`AdaptiveConcurrency.snapshot` reports."""

    #: No reference yet (start, or after a cut): the next busy window becomes the reference.
    MEASURING = "measure"
    #: The limit was raised by a probe; the next busy window says whether that paid.
    PROBING_UP = "up"
    #: The limit was lowered by a probe; the next busy window says whether that cost throughput.
    PROBING_DOWN = "down"
    #: Back at the reference's limit after a rejected probe, for a number of windows.
    HOLDING = "hold"


class Direction(StrEnum):
    """Which way a probe moves the limit."""

    UP = "up"
    DOWN = "down"

    @property
    def opposite(self) -> Direction:
        return Direction.DOWN if self is Direction.UP else Direction.UP

    @property
    def probing(self) -> Mode:
        return Mode.PROBING_UP if self is Direction.UP else Mode.PROBING_DOWN


class Brake(StrEnum):
    """A cut already made in the current window (at most one of each kind per window)."""

    LATENCY = "latency"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class _Reference:
    """The accepted operating point: at ``limit`` slots the share delivered ``rate`` files/s."""

    limit: int
    rate: float
    latency: float


class AdaptiveConcurrency:
    """A counting gate whose size (``limit``) adapts to the share's observed throughput and errors.

    Use ``acquire()`` before a write and ``release(latency_s, ok)`` after it, from any thread.
    ``release(None)`` returns a slot without an observation (a write that was skipped).
    """

    def __init__(
        self,
        min_limit: int = 1,
        max_limit: int = 16,
        *,
        initial: int | None = None,
        tuning: Tuning = DEFAULT_TUNING,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.tuning = tuning
        self._clock = clock

        # complete() and release() take the lock itself: ``with`` on the Condition is two Python
        # calls more per file written (the writer process calls complete() for every file).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        start = min_limit if initial is None else initial
        self._limit = min(max_limit, max(min_limit, start))
        self._in_flight = 0
        now = clock()
        self._last_event = now
        # Window accumulators.
        self._win_start = now
        self._win_count = 0
        self._win_ok = 0
        self._win_latency = 0.0
        self._win_area = 0.0  # integral of in-flight over time
        self._settle = 0  # completions still owed by writes started before the last limit change
        # Decision state.
        self._mode = Mode.MEASURING
        self._ref: _Reference | None = None
        self._next_probe = Direction.DOWN
        self._held = 0
        self._hold_for = tuning.hold_windows  # windows to hold before the next probe
        self._floor_failures = 0  # probes up from min_limit in a row that failed (the backoff)
        self._cut: Brake | None = None  # the cut already made in this window
        self._fast_latency: float | None = None
        self._suspect = False  # the last busy window's throughput fell; one more confirms it
        self._slow_start = True  # double the limit while doubling pays, until the first no
        # Reporting.
        self.baseline_latency: float | None = None
        self.last_rate: float | None = None
        self.completed = 0
        self.errors = 0
        self.increases = 0
        self.decreases = 0
        self.last_reason = "start"

    # -- the gate -------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self, timeout: float | None = None) -> bool:
        """Block until a slot is free (``in_flight < limit``); False only if ``timeout`` expired."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight < self._limit, timeout):
                return False
            self._take()
            return True

    def try_acquire(self) -> bool:
        """Take a slot if one is free, without waiting."""
        with self._cond:
            if self._in_flight >= self._limit:
                return False
            self._take()
            return True

    def _take(self) -> None:
        self._integrate(self._clock())
        self._in_flight += 1

    def release(self, latency_s: float | None = None, ok: bool = True) -> None:
        """Return a slot and record how the write went (``latency_s`` None: no observation)."""
        with self._lock:
            self._finish(latency_s, ok, self._clock())
            self._give_back()

    def complete(self, latency_s: float, ok: bool = True) -> bool:
        """Record a finished write and keep its slot for the holder's next write, if the limit allows.

        Returns False when the slot was given back (the limit now lies below the writes in flight);
        the holder then acquires again before its next write. Why: a writer thread that releases
        after every file and acquires again hands the slot (and the GIL) to a parked thread on
        each file. On a local disk, where a write costs ~30 us, those hand-offs cost more than the
        writes: a cold S run's writer process used 31.6 s of CPU with 16 threads against 17.5 s
        with one (docs/performance.md). Kept slots change nothing the throttle measures: writes in
        flight, their latencies and completions are the same.
        """
        with self._lock:
            self._finish(latency_s, ok, self._clock())
            if self._in_flight <= self._limit:
                return True
            self._give_back()
            return False

    def complete_many(self, latencies: Sequence[float], *, last_ok: bool = True) -> bool:
        """:meth:`complete` for writes one holder made back to back, observed together.

        All but the last succeeded; ``last_ok`` is the last one's outcome. Why: the writer
        process at a limit of 1 writes a batch inline, one file after another, and a lock and a
        call per file were a fifth of its Python per file (``complete`` ~1.2 µs against ~6 µs,
        docs/performance.md). The observations are the same, made at the batch's end: a decision
        waits for the batch, which at a limit of 1 could only raise the limit (there is nothing
        to cut). Returns what :meth:`complete` returns.
        """
        if not latencies:
            return True
        with self._lock:
            now = self._clock()
            successes = latencies if last_ok else latencies[:-1]
            if successes:
                self._observe_successes(successes, now)
            if not last_ok:
                self._finish(latencies[-1], False, now)
            if self._in_flight <= self._limit:
                return True
            self._give_back()
            return False

    def _finish(self, latency_s: float | None, ok: bool, now: float) -> None:
        if ok and latency_s is not None:
            self._observe_successes((max(0.0, float(latency_s)),), now)
            return
        self._leave(now)
        settling = self._settle > 0
        if settling:
            self._settle -= 1
        if latency_s is not None:
            self._observe_failure(now, counted=not settling)
        if settling and self._settle == 0:
            self._restart_window(now)
        self._in_flight += 1

    def _leave(self, now: float) -> None:
        """The finished write leaves the in-flight count while it is observed, so a limit change
        it causes settles right; the caller counts the slot again after (a kept slot is the
        holder's next write, a released one is given back by ``_give_back``)."""
        self._integrate(now)
        if self._in_flight <= 0:
            raise RuntimeError("release() without a matching acquire()")
        self._in_flight -= 1

    def _observe_successes(self, latencies: Sequence[float], now: float) -> None:
        """Successful writes (latencies non-negative), one or many, observed in one pass.

        The window's sums take them all at once; the latency brake (a cut at once when the
        smoothed latency exploded: a stall) and the window's end are checked once, after the
        last. Per file, these checks were most of the throttle's cost. Writes that started
        before the last limit change settle first, and are not counted in the window.
        """
        self._leave(now)
        settling = min(self._settle, len(latencies))
        if settling:
            self._settle -= settling
            if self._settle == 0:
                self._restart_window(now)
        counted = latencies[settling:] if settling else latencies
        self.completed += len(latencies)
        self._win_count += len(counted)
        self._win_ok += len(counted)
        self._win_latency += sum(counted)
        tuning = self.tuning
        a, fast = tuning.latency_alpha, self._fast_latency
        for latency in latencies:
            fast = latency if fast is None else fast + a * (latency - fast)
        self._fast_latency = fast
        ref = self._ref
        if fast is not None and ref is not None and self._cut is None:
            allowed = tuning.latency_explode * ref.latency * max(1.0, self._limit / ref.limit)
            if fast > allowed:
                self._cut = Brake.LATENCY
                self._cut_to(self._limit * tuning.decrease, now, f"latency {fast * 1000:.0f} ms")
                counted = ()  # the brake decided for these writes: no window end as well
        if counted and self._window_full(now):
            self._end_window(now)
        self._in_flight += 1

    def _give_back(self) -> None:
        self._in_flight -= 1
        # One slot came free, so one waiter can use it. notify_all woke every parked writer
        # thread to re-check and sleep again, each taking the GIL: at limit 2 of 16 threads,
        # 14 wake-ups per file (docs/performance.md). Limit changes still wake all (_set_limit).
        self._cond.notify()

    def snapshot(self) -> dict[str, Any]:
        """A plain dict for progress reports and the status file."""
        with self._cond:
            ref = self._ref
            return {
                "limit": self._limit,
                "in_flight": self._in_flight,
                "min_limit": self.min_limit,
                "max_limit": self.max_limit,
                "mode": self._mode.value,
                "rate": round(self.last_rate, 2) if self.last_rate is not None else None,
                "ref_rate": round(ref.rate, 2) if ref else None,
                "latency_ms": round(ref.latency * 1000, 2) if ref else None,
                "baseline_ms": (
                    round(self.baseline_latency * 1000, 2) if self.baseline_latency is not None else None
                ),
                "completed": self.completed,
                "errors": self.errors,
                "increases": self.increases,
                "decreases": self.decreases,
                "reason": self.last_reason,
            }

    # -- observations ---------------------------------------------------------------------------

    def _integrate(self, now: float) -> None:
        if now > self._last_event:
            self._win_area += self._in_flight * (now - self._last_event)
            self._last_event = now

    def _restart_window(self, now: float) -> None:
        self._win_start = now
        self._last_event = max(self._last_event, now)
        self._win_count = 0
        self._win_ok = 0
        self._win_latency = 0.0
        self._win_area = 0.0

    def _observe_failure(self, now: float, *, counted: bool) -> None:
        """A write that failed for want of capacity: cut by ``error_decrease`` once per window."""
        self.completed += 1
        self.errors += 1
        if counted:
            self._win_count += 1
        if self._cut is not Brake.ERROR:
            self._cut = Brake.ERROR
            self._cut_to(self._limit * self.tuning.error_decrease, now, "error")
        elif counted and self._window_full(now):
            self._end_window(now)  # a window of errors still ends, so the next error may cut

    def _window_full(self, now: float) -> bool:
        """Enough completions to measure, over long enough to be worth a decision.

        Why a duration too: on a local disk 128 completions take ~10 ms, so every few ms a window
        ended in a probe, and each limit change woke every parked writer thread (``notify_all``):
        in a cold S run ~15% of the writer process's GIL time went to limit changes and their
        wake-ups (docs/performance.md). On a share, 128 completions already take longer than this.
        """
        tuning = self.tuning
        return (
            self._win_count >= max(2 * self._limit, tuning.min_window)
            and now - self._win_start >= tuning.min_window_seconds
        )

    def _end_window(self, now: float) -> None:
        elapsed = now - self._win_start
        ok_count, count = self._win_ok, self._win_count
        busy = self._win_area / elapsed if elapsed > 0 else 0.0
        mean_latency = self._win_latency / ok_count if ok_count else None
        self._cut = None  # a full window has been measured since the last cut
        self._restart_window(now)
        if elapsed <= 0 or mean_latency is None or mean_latency <= 0 or count == 0:
            return
        # Little's law: throughput = mean writes in flight / mean latency. It uses every sample's
        # latency instead of counting completions between two instants, so it is far less noisy
        # than completions/elapsed over a window only a few latencies long.
        rate = busy / mean_latency * (ok_count / count)
        self.last_rate = rate
        if self.baseline_latency is None or mean_latency < self.baseline_latency:
            self.baseline_latency = mean_latency
        if busy < self.tuning.busy_fraction * self._limit:
            self.last_reason = "producer-limited"
            return
        self._decide(_Reference(self._limit, rate, mean_latency), now)

    def _decide(self, cur: _Reference, now: float) -> None:
        ref, mode, tuning = self._ref, self._mode, self.tuning
        backing_off = self._floor_failures > 0 and cur.limit <= self.min_limit  # probes wait there
        if ref is None or mode is Mode.MEASURING:
            self._ref = cur
            self._suspect = False
            if backing_off:
                self._hold(cur.limit, Direction.UP, now, "at the minimum after a cut: back off")
            else:
                self._probe(Direction.UP, now)
            return
        fell = cur.rate < ref.rate * (1 - tuning.drop_tolerance)
        if fell and mode is not Mode.PROBING_DOWN:
            # One noisy window must not cost 30% of the throughput: a fall is acted on when the
            # next busy window at the same limit confirms it (the latency brake covers stalls).
            if self._suspect:
                self._suspect = False
                if cur.limit <= self.min_limit:  # nothing to cut: this rate is the new normal
                    self._ref = cur
                    self.last_reason = "throughput fell at the minimum"
                else:
                    self._cut_to(cur.limit * tuning.decrease, now, "throughput fell")
            else:
                self._suspect = True
                self.last_reason = "throughput fell once"
            return
        self._suspect = False
        if (
            mode is not Mode.PROBING_UP
            and cur.rate > ref.rate * (1 + tuning.drop_tolerance)
            and not backing_off
        ):
            # The share got faster (a busy spell ended): climb again quickly, doubling while it pays.
            self._ref = cur
            self._slow_start = True
            self._probe(Direction.UP, now)
            self.last_reason = "throughput rose: probe up"
            return
        if mode is Mode.PROBING_UP:
            expected = (cur.limit - ref.limit) / ref.limit
            from_floor = ref.limit <= self.min_limit
            if cur.rate >= ref.rate * (1 + tuning.efficiency * expected):
                self._ref = cur
                if from_floor:
                    self._floor_failures = 0
                self._probe(Direction.UP, now, chained=True)
            else:
                if from_floor:
                    self._floor_failures += 1
                if self._slow_start:
                    # Doubling overshot: the knee lies between ref.limit and the doubled limit, so
                    # climb from ref.limit in small steps right after one confirming window.
                    self._hold(ref.limit, Direction.UP, now, "doubling did not pay")
                    if not from_floor:
                        self._hold_for = 1
                else:
                    self._hold(ref.limit, Direction.DOWN, now, "probe up did not pay")
        elif mode is Mode.PROBING_DOWN:
            expected = (ref.limit - cur.limit) / ref.limit
            if cur.rate >= ref.rate * (1 - tuning.efficiency * expected):
                self._ref = cur
                self._probe(Direction.DOWN, now, chained=True)
            else:
                self._hold(ref.limit, Direction.UP, now, "probe down lost throughput")
        else:  # hold
            self._ref = _Reference(cur.limit, (ref.rate + cur.rate) / 2, cur.latency)
            self._held += 1
            if self._held >= self._hold_for:
                self._probe(self._next_probe, now)

    def _probe(self, direction: Direction, now: float, *, chained: bool = False) -> None:
        """Step ``limit`` by about ``probe_step`` of itself (at least 1) in ``direction``.

        At a bound the probe goes the other way, unless it continues a chain of accepted probes
        (then it holds). Proportional steps keep the expected throughput change of a probe well
        above measurement noise at high limits, where +1 would change throughput by only 1/N.
        """
        if self._slow_start and direction is Direction.UP:
            step = self._limit
        else:
            step = max(1, round(self._limit * self.tuning.probe_step))
        for way in (direction, direction.opposite):
            target = self._limit + (step if way is Direction.UP else -step)
            target = max(self.min_limit, min(self.max_limit, target))
            if target != self._limit and (not chained or way is direction):
                self._mode = way.probing
                self._set_limit(target, now, f"probe {way.value}")
                if way is Direction.UP:
                    self.increases += 1
                return
        self._hold(self._limit, direction.opposite, now, f"at bound ({direction.value})")

    def _hold(self, limit: int, next_probe: Direction, now: float, reason: str) -> None:
        self._slow_start = False
        self._mode = Mode.HOLDING
        self._held = 0
        self._next_probe = next_probe
        self._set_limit(limit, now, reason)
        tuning = self.tuning
        backoff = min(self._floor_failures, tuning.max_backoff) if self._limit <= self.min_limit else 0
        self._hold_for = tuning.hold_windows << backoff

    def _cut_to(self, target: float, now: float, reason: str) -> None:
        if self._limit <= self.min_limit:
            # Nothing to cut. Measuring afresh would restart a hold at the minimum, and on a local
            # disk a stall every few hundred writes would then keep it there for ever.
            self.last_reason = f"{reason} at the minimum"
            return
        if self._mode is Mode.PROBING_UP and self._ref is not None and self._ref.limit <= self.min_limit:
            self._floor_failures += 1  # the cut undid a probe up from the minimum
        new = max(self.min_limit, min(self._limit - 1, math.floor(target)))
        self._slow_start = False
        self._mode = Mode.MEASURING
        self._ref = None
        self._fast_latency = None
        if new < self._limit:
            self.decreases += 1
        self._set_limit(new, now, f"cut: {reason}")

    def _set_limit(self, new: int, now: float, reason: str) -> None:
        self._limit = max(self.min_limit, min(self.max_limit, new))
        self.last_reason = reason
        # The writes now in flight started under the old limit: let them finish before measuring
        # the new one (after a cut this also waits for the excess to drain).
        self._settle = self._in_flight
        self._restart_window(now)
        self._cond.notify_all()
