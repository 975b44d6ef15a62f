"""The adaptive write throttle, driven by a fake clock and a modelled share (fully deterministic)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.output.throttle_sim import FakeClock, ShareSimulator, SimSample, linear_share
from vod2strm.output.throttle import AdaptiveConcurrency, Mode, Tuning

# The slow-share measurements at +1 ms (docs/throttle.md) fit latency = 12 ms + 2.2 ms per write in
# flight; the optimum where one more slot still buys a quarter of an average slot is about 3 * 12 / 2.2 = 16.
NORMAL = linear_share(0.012, 0.0022)
BUSY = linear_share(0.012, 0.011)  # the share's service time x5 (another client hammers it)
SLOW_RTT = linear_share(0.036, 0.0022)  # round trips x3


def make(
    min_limit: int = 1, max_limit: int = 32, **tuning: object
) -> tuple[AdaptiveConcurrency, ShareSimulator]:
    """A throttle on a fake clock and its simulator; ``tuning`` overrides fields of :class:`Tuning`."""
    clock = FakeClock()
    throttle = AdaptiveConcurrency(min_limit, max_limit, clock=clock, tuning=Tuning(**tuning))  # type: ignore[arg-type]
    return throttle, ShareSimulator(throttle, clock)


def limits_during(sim: ShareSimulator, model, completions: int, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    sim.run(model, completions, on_sample=lambda s: seen.append(s.limit), **kw)
    return seen


def run_in_threads(worker: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_settles_near_the_throughput_knee() -> None:
    throttle, sim = make()
    limits_during(sim, NORMAL, 3000)
    late = limits_during(sim, NORMAL, 3000)
    assert min(late) >= 12 and max(late) <= 20
    # A pure latency rule with k = 2 would have stopped at 5 (latency 23 ms > 2 x 14 ms).
    assert throttle.snapshot()["rate"] > 300


def test_latency_step_up_cuts_within_bounded_completions_and_recovers() -> None:
    throttle, sim = make()
    limits_during(sim, NORMAL, 3000)
    before = throttle.limit
    assert before >= 12

    during = limits_during(sim, BUSY, 3000)
    first_cut = next(i for i, limit in enumerate(during) if limit < before)
    # Writes already in flight complete at the old latency first; the smoothed latency then needs a
    # handful of slow completions to cross 3x. Bounded by the limit plus a few dozen completions.
    assert first_cut <= before + 40
    assert max(during[-1000:]) <= 8  # settled far lower: extra slots only queue on a busy share

    after = limits_during(sim, NORMAL, 3000)
    recovered = next(i for i, limit in enumerate(after) if limit >= 12)
    assert recovered <= 1500
    assert min(after[-1000:]) >= 12 and max(after[-1000:]) <= 20


def test_longer_round_trips_need_more_writes_in_flight() -> None:
    throttle, sim = make()
    limits_during(sim, NORMAL, 3000)
    normal = throttle.limit
    during = limits_during(sim, SLOW_RTT, 4000)
    assert min(during) < normal  # throughput fell at the old limit: back off first...
    assert min(during[-1000:]) > normal  # ...then probing finds that more slots now pay


def test_errors_cut_immediately_and_harder_than_latency() -> None:
    results = {}
    for kind in ("error", "latency"):
        throttle, sim = make(min_limit=2, max_limit=32)
        limits_during(sim, NORMAL, 3000)
        start = throttle.limit
        samples: list[SimSample] = []
        if kind == "error":
            sim.run(NORMAL, 100, fails=lambda n: True, on_sample=samples.append)
            first_error = next(i for i, s in enumerate(samples) if not s.ok)
            # The completion that reports the failure already sees the halved limit.
            assert samples[first_error].limit < start
            assert all(s.limit == start for s in samples[:first_error])
        else:
            sim.run(lambda n: 1.0, 200, on_sample=samples.append)  # every write now takes a second
        cut = next(s for s in samples if s.limit < start)
        results[kind] = (start, cut.limit)
    (e_start, e_after), (l_start, l_after) = results["error"], results["latency"]
    assert e_after == e_start // 2
    assert l_after == int(l_start * 0.7)
    assert e_after / e_start < l_after / l_start


def test_repeated_errors_reach_the_minimum_and_never_below() -> None:
    throttle, sim = make(min_limit=2, max_limit=32)
    limits_during(sim, NORMAL, 2000)
    during = limits_during(sim, NORMAL, 3000, fails=lambda n: True)
    assert throttle.limit == 2
    assert min(during) == 2


@pytest.mark.parametrize(("lo", "hi"), [(1, 1), (1, 4), (3, 8), (4, 64)])
def test_limit_always_within_bounds(lo: int, hi: int) -> None:
    _, sim = make(lo, hi)
    samples: list[SimSample] = []
    counter = {"n": 0}

    def sometimes(n: int) -> bool:
        counter["n"] += 1
        return counter["n"] % 97 == 0

    for model in (NORMAL, BUSY, SLOW_RTT, lambda n: 2.0, NORMAL):
        sim.run(model, 1500, fails=sometimes, on_sample=samples.append)
    assert all(lo <= s.limit <= hi for s in samples)
    assert all(s.in_flight <= max(hi, 1) for s in samples)


def test_start_at_initial_and_clamp() -> None:
    clock = FakeClock()
    assert AdaptiveConcurrency(2, 8, initial=50, clock=clock).limit == 8
    assert AdaptiveConcurrency(2, 8, initial=0, clock=clock).limit == 2
    with pytest.raises(ValueError):
        AdaptiveConcurrency(5, 4, clock=clock)


@pytest.mark.parametrize(
    "bad",
    [
        {"decrease": 1.0},
        {"error_decrease": 0.0},
        {"latency_alpha": 1.5},
        {"min_window": 0},
        {"hold_windows": 0},
        {"min_window_seconds": -1.0},
        {"max_backoff": -1},
    ],
)
def test_tuning_rejects_values_outside_their_range(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Tuning(**bad)  # type: ignore[arg-type]


def test_snapshot_reports_the_mode_as_a_plain_string() -> None:
    throttle, sim = make()
    assert throttle.snapshot()["mode"] == "measure"
    modes = set()
    for _ in range(30):
        sim.run(NORMAL, 100)
        mode = throttle.snapshot()["mode"]
        assert type(mode) is str
        modes.add(mode)
    assert modes <= {m.value for m in Mode} and len(modes) >= 2


def test_producer_limited_windows_do_not_raise_the_limit() -> None:
    clock = FakeClock()
    throttle = AdaptiveConcurrency(1, 32, initial=8, clock=clock)
    for _ in range(2000):  # the caller only ever has one write at a time
        assert throttle.try_acquire()
        clock.now += 0.010
        throttle.release(0.010)
    assert throttle.limit == 8
    assert throttle.snapshot()["reason"] == "producer-limited"


def test_deterministic_with_a_fake_clock() -> None:
    runs = []
    for _ in range(2):
        _, sim = make()
        trace = limits_during(sim, NORMAL, 1500) + limits_during(sim, BUSY, 1500)
        runs.append(trace)
    assert runs[0] == runs[1]


def test_gate_counts_slots() -> None:
    clock = FakeClock()
    throttle = AdaptiveConcurrency(2, 2, clock=clock)
    assert throttle.try_acquire() and throttle.try_acquire()
    assert throttle.in_flight == 2
    assert not throttle.try_acquire()
    assert throttle.acquire(timeout=0) is False
    throttle.release(None)  # a slot returned without an observation
    assert throttle.acquire(timeout=0) is True
    throttle.release(0.01)
    throttle.release(0.01)
    with pytest.raises(RuntimeError):
        throttle.release(0.01)
    snap = throttle.snapshot()
    assert snap["limit"] == 2 and snap["in_flight"] == 0 and snap["completed"] == 2
    assert {"rate", "baseline_ms", "mode", "errors", "reason"} <= set(snap)


def test_blocking_acquire_across_threads_never_exceeds_the_limit() -> None:
    throttle = AdaptiveConcurrency(3, 3)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def worker() -> None:
        for _ in range(200):
            throttle.acquire()
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            with lock:
                state["now"] -= 1
            throttle.release(0.001)

    run_in_threads(worker, 8)
    assert state["peak"] <= 3
    assert throttle.in_flight == 0


def test_a_completed_write_keeps_its_slot_until_the_limit_drops_below_the_holders() -> None:
    throttle = AdaptiveConcurrency(1, 4, initial=4, clock=FakeClock())
    for _ in range(4):
        assert throttle.try_acquire()
    assert throttle.complete(0.01) is True  # kept: the holder's next write needs no acquire
    assert throttle.in_flight == 4 and throttle.completed == 1
    assert throttle.complete(0.01, ok=False) is False  # the error cut halves the limit to 2
    assert throttle.limit == 2 and throttle.in_flight == 3
    assert throttle.complete(0.01) is False  # still one holder too many
    assert throttle.in_flight == 2
    assert throttle.complete(0.01) is True
    throttle.release(None)
    throttle.release(None)
    assert throttle.in_flight == 0 and throttle.completed == 4


def test_holders_that_keep_their_slots_never_exceed_the_limit() -> None:
    throttle = AdaptiveConcurrency(3, 3)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def worker() -> None:
        holding = False
        for _ in range(200):
            if not holding:
                throttle.acquire()
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
                state["now"] -= 1
            holding = throttle.complete(0.001)
        if holding:
            throttle.release(None)

    run_in_threads(worker, 8)
    assert state["peak"] <= 3
    assert throttle.in_flight == 0 and throttle.completed == 1600


def local_disk() -> Callable[[int], float]:
    """A local disk: the device writes one file at a time, so a write started with n in flight
    takes n times as long (throughput stays flat), and every 50th write stalls 5 ms behind a
    journal commit."""
    count = 0

    def latency(n: int) -> float:
        nonlocal count
        count += 1
        return n * (0.005 if count % 50 == 0 else 0.00003)

    return latency


def test_on_a_local_disk_probes_from_the_minimum_back_off() -> None:
    """A probe to 2 there is cut by the next stall within a few writes; without the backoff the
    throttle probed every window, and each probe moved the writer process onto its pool."""
    windows = 300
    probes, above = {}, {}
    for backoff in (0, 5):
        throttle, sim = make(max_backoff=backoff, min_window_seconds=0.0)
        seen = limits_during(sim, local_disk(), windows * 128)
        probes[backoff] = throttle.increases
        above[backoff] = sum(limit > 1 for limit in seen) / len(seen)
    assert probes[0] >= windows // 12  # without: a probe every few windows
    assert 1 <= probes[5] <= 8  # doubling waits: 8, 16, ... 128 windows between probes
    assert above[5] < 0.01 and above[5] < above[0] / 4


def test_a_share_behind_the_backoff_is_still_found() -> None:
    """The backoff costs time, never the share: once a probe from the minimum pays, it resets and
    the limit climbs to the knee as from a cold start."""
    throttle, sim = make(min_window_seconds=0.0)
    limits_during(sim, local_disk(), 100 * 128)
    assert throttle.limit == 1
    after = limits_during(sim, NORMAL, 30_000)
    climbed = next(i for i, limit in enumerate(after) if limit >= 12)
    assert climbed <= 25_000  # at most 128 windows held at the minimum, then the climb
    assert min(after[-1000:]) >= 10 and max(after[-1000:]) <= 20


def test_complete_many_counts_every_write_and_keeps_the_holders_slot() -> None:
    throttle = AdaptiveConcurrency(1, 4, clock=FakeClock())
    assert throttle.acquire()
    assert throttle.complete_many([0.01] * 10) is True
    assert throttle.completed == 10 and throttle.in_flight == 1
    assert throttle.complete_many([]) is True and throttle.completed == 10
    throttle.release(None)
    assert throttle.in_flight == 0


def test_complete_many_reports_a_failed_last_write_as_an_error() -> None:
    throttle = AdaptiveConcurrency(1, 4, initial=4, clock=FakeClock())
    for _ in range(4):
        assert throttle.try_acquire()
    assert throttle.complete_many([0.01, 0.01, 0.01], last_ok=False) is False  # cut to 2: given back
    assert throttle.limit == 2 and throttle.in_flight == 3
    assert throttle.completed == 3 and throttle.errors == 1


def _one_holder(latency_of: Callable[[int], float], writes: int, group: int) -> AdaptiveConcurrency:
    """One writer at a time, as the writer process inline: ``group`` writes back to back, then
    their latencies go to the throttle together (1: one ``complete`` per write)."""
    clock = FakeClock()
    throttle = AdaptiveConcurrency(1, 16, clock=clock)
    throttle.acquire()
    pending: list[float] = []
    for _ in range(writes):
        latency = latency_of(1)
        clock.now += latency
        if group == 1:
            assert throttle.complete(latency)
            continue
        pending.append(latency)
        if len(pending) == group:
            assert throttle.complete_many(pending)
            pending = []
    assert throttle.complete_many(pending)
    return throttle


@pytest.mark.parametrize("group", [1, 41])
def test_latencies_observed_together_lead_to_the_same_decisions(group: int) -> None:
    """A season's writes observed at its end: the same windows, probes and backoff as observed
    one by one (a probe up from 1 is where a single holder's limit can go)."""

    def disk_then_a_stall() -> Callable[[int], float]:
        disk, count = local_disk(), 0

        def latency(n: int) -> float:
            nonlocal count
            count += 1
            return 0.02 if 50_000 <= count < 50_500 else disk(n)

        return latency

    one_by_one = _one_holder(disk_then_a_stall(), 100_000, 1)
    grouped = _one_holder(disk_then_a_stall(), 100_000, group)
    assert grouped.completed == one_by_one.completed == 100_000
    assert grouped.increases == one_by_one.increases >= 2  # probed up, cut by the stall, probed again
    assert grouped.decreases == one_by_one.decreases >= 1
    assert grouped.limit == one_by_one.limit
