"""An adaptive limit on writes in flight: hill-climbing on throughput, with latency and error brakes.

Why not plain latency AIMD: on a network share, per-write latency rises with parallelism even while
throughput still grows (measured at +1 ms: 1 writer = 14 ms/file and 70 files/s, 16 writers = 45
ms/file and 357 files/s). A rule "cut when latency > k x baseline" with a TCP-like k of 1.5-2 would
hold the writer near 4 threads and waste most of the share's capacity. What matters is whether more
writes in flight still buy throughput, so that is what this throttle measures.

The algorithm (details and a worked table in ``docs/throttle.md``):

1. Observe in *windows* of ``max(2 x limit, min_window)`` completions, and at least
   ``min_window_seconds`` (see :meth:`AimdThrottle._window_full`): mean latency W, the
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
5. At most one cut of each kind per window; after any change the writes started under the old
   limit finish before the next window starts. The limit always stays within
   ``[min_limit, max_limit]``.
6. At the minimum, back off: each probe up from ``min_limit`` that did not pay, or that a cut
   undid, doubles the windows held there before the next one (up to ``2**max_backoff`` times
   ``hold_windows``); one that pays resets it. Meanwhile a rise in throughput does not start a
   probe, a cut (there is nothing to cut) changes nothing, and a confirmed fall becomes the new
   reference. On a local disk, where a second write in flight never pays, a probe to 2 every
   window was cut by a latency blip within milliseconds, and each probe moved the writer process
   onto its pool (docs/performance.md). Above the minimum nothing changes.

Everything is driven by the injected ``clock`` and the observations, so a fake clock makes it fully
deterministic: :class:`ShareSimulator` and ``python -m vod2strm.output.throttle`` use that to
print the reaction table in the docs.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Reference:
    """The accepted operating point: at ``limit`` slots the share delivered ``rate`` files/s."""

    limit: int
    rate: float
    latency: float


class AimdThrottle:
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
        clock: Callable[[], float] = time.monotonic,
        min_window: int = 128,
        min_window_seconds: float = 0.25,
        probe_step: float = 0.125,
        efficiency: float = 0.25,
        drop_tolerance: float = 0.15,
        decrease: float = 0.7,
        error_decrease: float = 0.5,
        latency_explode: float = 3.0,
        latency_alpha: float = 0.1,
        hold_windows: int = 4,
        busy_fraction: float = 0.75,
        max_backoff: int = 5,
    ):
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got {min_limit}, {max_limit}")
        if not (0 < decrease < 1 and 0 < error_decrease < 1 and 0 < latency_alpha <= 1):
            raise ValueError("decrease factors and latency_alpha must lie in (0, 1)")
        self.min_limit = min_limit
        self.max_limit = max_limit
        self._clock = clock
        self._min_window = max(1, min_window)
        self._min_window_seconds = max(0.0, min_window_seconds)
        self._probe_step = probe_step
        self._efficiency = efficiency
        self._drop_tolerance = drop_tolerance
        self._decrease = decrease
        self._error_decrease = error_decrease
        self._latency_explode = latency_explode
        self._latency_alpha = latency_alpha
        self._hold_windows = max(1, hold_windows)
        self._max_backoff = max(0, max_backoff)
        self._busy_fraction = busy_fraction

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
        self._mode = "measure"  # measure | up | down | hold
        self._ref: _Reference | None = None
        self._next_probe = "down"
        self._held = 0
        self._hold_for = self._hold_windows  # windows to hold before the next probe
        self._floor_failures = 0  # probes up from min_limit in a row that failed (the backoff)
        self._cut: str | None = None  # "latency" | "error": the cut already made in this window
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
        a, fast = self._latency_alpha, self._fast_latency
        for latency in latencies:
            fast = latency if fast is None else fast + a * (latency - fast)
        self._fast_latency = fast
        ref = self._ref
        if fast is not None and ref is not None and self._cut is None:
            allowed = self._latency_explode * ref.latency * max(1.0, self._limit / ref.limit)
            if fast > allowed:
                self._cut = "latency"
                self._cut_to(self._limit * self._decrease, now, f"latency {fast * 1000:.0f} ms")
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
                "mode": self._mode,
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
        if self._cut != "error":
            self._cut = "error"
            self._cut_to(self._limit * self._error_decrease, now, "error")
        elif counted and self._window_full(now):
            self._end_window(now)  # a window of errors still ends, so the next error may cut

    def _window_full(self, now: float) -> bool:
        """Enough completions to measure, over long enough to be worth a decision.

        Why a duration too: on a local disk 128 completions take ~10 ms, so every few ms a window
        ended in a probe, and each limit change woke every parked writer thread (``notify_all``):
        in a cold S run ~15% of the writer process's GIL time went to limit changes and their
        wake-ups (docs/performance.md). On a share, 128 completions already take longer than this.
        """
        return (
            self._win_count >= max(2 * self._limit, self._min_window)
            and now - self._win_start >= self._min_window_seconds
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
        if busy < self._busy_fraction * self._limit:
            self.last_reason = "producer-limited"
            return
        self._decide(_Reference(self._limit, rate, mean_latency), now)

    def _decide(self, cur: _Reference, now: float) -> None:
        ref, mode = self._ref, self._mode
        backing_off = self._floor_failures > 0 and cur.limit <= self.min_limit  # probes wait there
        if ref is None or mode == "measure":
            self._ref = cur
            self._suspect = False
            if backing_off:
                self._hold(cur.limit, "up", now, "at the minimum after a cut: back off")
            else:
                self._probe("up", now)
            return
        fell = cur.rate < ref.rate * (1 - self._drop_tolerance)
        if fell and mode != "down":
            # One noisy window must not cost 30% of the throughput: a fall is acted on when the
            # next busy window at the same limit confirms it (the latency brake covers stalls).
            if self._suspect:
                self._suspect = False
                if cur.limit <= self.min_limit:  # nothing to cut: this rate is the new normal
                    self._ref = cur
                    self.last_reason = "throughput fell at the minimum"
                else:
                    self._cut_to(cur.limit * self._decrease, now, "throughput fell")
            else:
                self._suspect = True
                self.last_reason = "throughput fell once"
            return
        self._suspect = False
        if mode != "up" and cur.rate > ref.rate * (1 + self._drop_tolerance) and not backing_off:
            # The share got faster (a busy spell ended): climb again quickly, doubling while it pays.
            self._ref = cur
            self._slow_start = True
            self._probe("up", now)
            self.last_reason = "throughput rose: probe up"
            return
        if mode == "up":
            expected = (cur.limit - ref.limit) / ref.limit
            from_floor = ref.limit <= self.min_limit
            if cur.rate >= ref.rate * (1 + self._efficiency * expected):
                self._ref = cur
                if from_floor:
                    self._floor_failures = 0
                self._probe("up", now, chained=True)
            else:
                if from_floor:
                    self._floor_failures += 1
                if self._slow_start:
                    # Doubling overshot: the knee lies between ref.limit and the doubled limit, so
                    # climb from ref.limit in small steps right after one confirming window.
                    self._hold(ref.limit, "up", now, "doubling did not pay")
                    if not from_floor:
                        self._hold_for = 1
                else:
                    self._hold(ref.limit, "down", now, "probe up did not pay")
        elif mode == "down":
            expected = (ref.limit - cur.limit) / ref.limit
            if cur.rate >= ref.rate * (1 - self._efficiency * expected):
                self._ref = cur
                self._probe("down", now, chained=True)
            else:
                self._hold(ref.limit, "up", now, "probe down lost throughput")
        else:  # hold
            self._ref = _Reference(cur.limit, (ref.rate + cur.rate) / 2, cur.latency)
            self._held += 1
            if self._held >= self._hold_for:
                self._probe(self._next_probe, now)

    def _probe(self, direction: str, now: float, *, chained: bool = False) -> None:
        """Step ``limit`` by about ``probe_step`` of itself (at least 1) in ``direction``.

        At a bound the probe goes the other way, unless it continues a chain of accepted probes
        (then it holds). Proportional steps keep the expected throughput change of a probe well
        above measurement noise at high limits, where +1 would change throughput by only 1/N.
        """
        if self._slow_start and direction == "up":
            step = self._limit
        else:
            step = max(1, round(self._limit * self._probe_step))
        for way in (direction, "down" if direction == "up" else "up"):
            target = self._limit + (step if way == "up" else -step)
            target = max(self.min_limit, min(self.max_limit, target))
            if target != self._limit and (not chained or way == direction):
                self._mode = way
                self._set_limit(target, now, f"probe {way}")
                if way == "up":
                    self.increases += 1
                return
        self._hold(self._limit, "down" if direction == "up" else "up", now, f"at bound ({direction})")

    def _hold(self, limit: int, next_probe: str, now: float, reason: str) -> None:
        self._slow_start = False
        self._mode = "hold"
        self._held = 0
        self._next_probe = next_probe
        self._set_limit(limit, now, reason)
        backoff = min(self._floor_failures, self._max_backoff) if self._limit <= self.min_limit else 0
        self._hold_for = self._hold_windows << backoff

    def _cut_to(self, target: float, now: float, reason: str) -> None:
        if self._limit <= self.min_limit:
            # Nothing to cut. Measuring afresh would restart a hold at the minimum, and on a local
            # disk a stall every few hundred writes would then keep it there for ever.
            self.last_reason = f"{reason} at the minimum"
            return
        if self._mode == "up" and self._ref is not None and self._ref.limit <= self.min_limit:
            self._floor_failures += 1  # the cut undid a probe up from the minimum
        new = max(self.min_limit, min(self._limit - 1, math.floor(target)))
        self._slow_start = False
        self._mode = "measure"
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


# -- deterministic simulation (tests and the docs table) --------------------------------------------


class FakeClock:
    """A clock that moves only when told: makes the throttle's decisions reproducible."""

    def __init__(self, start: float = 0.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class SimSample:
    time: float
    limit: int
    in_flight: int
    latency: float
    ok: bool


class ShareSimulator:
    """Drives a throttle with a producer that always has work, against a modelled share.

    The writes in flight survive between :meth:`run` calls, so phases (a latency step up, then
    down) follow each other without draining the pipe, as on a real share.
    """

    def __init__(self, throttle: AimdThrottle, clock: FakeClock, *, jitter: float = 0.0, seed: int = 0):
        self.throttle = throttle
        self.clock = clock
        self._jitter = jitter  # sigma of a log-normal factor on every latency (0: none)
        self._random = random.Random(seed)
        self._heap: list[tuple[float, int, float, bool]] = []
        self._seq = 0

    def run(
        self,
        latency_of: Callable[[int], float],
        completions: int,
        *,
        fails: Callable[[int], bool] | None = None,
        on_sample: Callable[[SimSample], None] | None = None,
    ) -> None:
        """Run until ``completions`` writes have finished.

        ``latency_of(n)`` is the latency of a write started with ``n`` writes in flight (itself
        included); ``fails(n)`` marks it as failed. The clock jumps from completion to completion.
        """
        throttle, clock = self.throttle, self.clock
        for _ in range(completions):
            while throttle.try_acquire():
                n = throttle.in_flight
                failed = bool(fails and fails(n))
                latency = latency_of(n)
                if self._jitter:
                    latency *= self._random.lognormvariate(0.0, self._jitter)
                heapq.heappush(self._heap, (clock.now + latency, self._seq, clock.now, failed))
                self._seq += 1
            finish, _, started, failed = heapq.heappop(self._heap)
            clock.now = max(clock.now, finish)
            throttle.release(finish - started, ok=not failed)
            if on_sample is not None:
                on_sample(
                    SimSample(clock.now, throttle.limit, throttle.in_flight, finish - started, not failed)
                )


def linear_share(rtt_s: float, per_write_s: float) -> Callable[[int], float]:
    """Latency model of a share: ``rtt_s`` of round trips plus ``per_write_s`` per write in flight.

    Fits the slow-share measurements at +1 ms (docs/throttle.md): about 12 ms + 2.2 ms x N.
    """
    return lambda n: rtt_s + per_write_s * n


def _demo_table() -> str:  # pragma: no cover - prints the table in docs/throttle.md
    clock = FakeClock()
    throttle = AimdThrottle(1, 32, clock=clock)
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


if __name__ == "__main__":  # pragma: no cover
    print(_demo_table())
