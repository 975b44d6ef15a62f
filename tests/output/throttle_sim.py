"""A deterministic share for :class:`~vod2strm.output.throttle.AdaptiveConcurrency`: a fake clock,
a producer that always has work and a latency model (``tests/output/test_throttle.py``, and
``bench/throttle_table.py``, which prints the reaction table in ``docs/throttle.md``)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from vod2strm.output.throttle import AdaptiveConcurrency


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

    def __init__(
        self, throttle: AdaptiveConcurrency, clock: FakeClock, *, jitter: float = 0.0, seed: int = 0
    ):
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
