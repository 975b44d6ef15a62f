"""Fetch the episodes of eligible series that have none, gently enough for an IPTV provider.

Dispatcharr fetches episodes lazily, so most series of a fresh install have none and ``generate``
cannot write them. This job finds those series (``catalog/episodes.py``: a fixed number of
statements per chunk) and asks the home's refresher to fetch each one through its best relation:

- **Rate and concurrency per provider account**: at most ``episodes_rate`` call starts per second
  and ``episodes_concurrency`` calls in flight per account, on one small worker pool per run (no
  pool at all when one account at concurrency 1 is involved: calls then run on the job's thread).
- **Back-off**: after a failure or an HTTP 429 the account waits ``max(2 s, 2/rate) * 2**(n-1)``
  (n = failures in a row, at most 300 s) or the provider's Retry-After when longer. A 429'd series is
  retried (``MAX_ATTEMPTS`` calls in all); a failed one is not retried this run.
- **Pause**: after ``PAUSE_AFTER_FAILURES`` failed calls in a row (or a Retry-After beyond 300 s)
  the account's remaining series are skipped this run and reported.
- **Cap**: at most ``max_calls`` (else ``settings.episodes_max_calls``; 0 = no cap) calls per run;
  series left over are *deferred* to the next run.
- **Cache window**: a series whose best relation was refreshed within ``episodes_cache_hours`` is
  skipped (the provider had nothing last time); ``force`` overrides this for series named in
  ``series_ids`` only, so a forced run can never sweep the whole provider.
- **Never trust silence**: Dispatcharr's refresher swallows its errors, so after each call one
  statement checks the catalog: episodes now present = fetched; refresh time moved but still no
  episode = *still empty* (the provider has none); neither = failed.

In the standalone home there is no provider: the job only reports what is missing (counts and the
first few names) and changes nothing.

All bookkeeping (accounts, counters, progress) lives on the job's thread; worker threads only call
the refresher and the one-statement check, and hand their outcome back through a queue.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from vod2strm.catalog import episodes, resolver
from vod2strm.catalog.episodes import EpisodeRefresher, RateLimited, Target
from vod2strm.conf import Settings
from vod2strm.errors import EXIT_INTERRUPTED, EXIT_ITEM_ERRORS, EXIT_OK, ConfigError
from vod2strm.jobs.progress import Progress, SectionProgress

log = logging.getLogger(__name__)

__all__ = [
    "FetchResult",
    "RateLimited",
    "count_series_without_episodes",
    "run",
]

#: Failed calls in a row (failures and 429s) after which an account is paused for the rest of the run.
PAUSE_AFTER_FAILURES = 5
#: Calls per series when the provider keeps answering 429.
MAX_ATTEMPTS = 3
MIN_BACKOFF = 2.0
MAX_BACKOFF = 300.0
#: Longest single sleep of the dispatcher, so completions and cancellation are noticed promptly.
MAX_WAIT_SLICE = 1.0
MAX_THREADS = 16
#: Model instances for the refresher are loaded for about this many seconds of calls at a time,
#: so an instance is never minutes old when Dispatcharr saves it.
LOAD_AHEAD_SECONDS = 60.0
#: Names listed in reports (failures, missing series).
SAMPLE = 10

SILENT_FAILURE = "no episodes and the refresh time did not move (the provider call failed silently)"


def count_series_without_episodes(settings: Settings) -> int:
    """Eligible series with no episode at all: one statement (for generate and stats)."""
    return episodes.count_series_without_episodes(settings)


@dataclass
class FetchResult:
    """A fetch-episodes run's summary (``--json`` keys; see docs/fetch-episodes.md)."""

    #: ``fetch``, or ``report`` when the home has no provider (nothing fetched, nothing changed).
    mode: str = "fetch"
    #: Eligible series without episodes (only the named ones when series ids were given).
    candidates: int = 0
    fetched: int = 0
    still_empty: int = 0
    failed: int = 0
    skipped_recent: int = 0
    skipped_paused: int = 0
    #: Not reached this run (call cap or cancellation): the next run picks them up.
    deferred: int = 0
    #: Report mode: series that a run with a provider would fetch.
    missing: int = 0
    calls: int = 0
    rate_limited: int = 0
    max_calls: int = 0
    cache_hours: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False
    paused_accounts: list[dict[str, Any]] = field(default_factory=list)
    #: The first few failures: series id and name, account, reason (credentials stripped).
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: Report mode: the first few missing series.
    missing_sample: list[dict[str, Any]] = field(default_factory=list)
    #: Named series that are not eligible or already have episodes.
    not_candidates: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return EXIT_INTERRUPTED
        if self.failed or self.skipped_paused:
            return EXIT_ITEM_ERRORS
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["exit"] = self.exit_code
        return data

    def as_text(self) -> str:
        window = f"{self.cache_hours:g} h"
        if self.mode == "report":
            lines = [
                f"{self.candidates} eligible series have no episodes; this home has no provider to "
                "fetch them from, so nothing was changed.",
                f"{self.missing} would be fetched, {self.skipped_recent} were refreshed within {window}.",
            ]
            if self.missing_sample:
                names = ", ".join(f"{s['name']} (#{s['series_id']})" for s in self.missing_sample)
                more = self.missing - len(self.missing_sample)
                lines.append("Missing: " + names + (f" and {more} more" if more > 0 else "") + ".")
        else:
            cap = f"cap {self.max_calls}" if self.max_calls else "no cap"
            lines = [
                f"Fetched episodes for {self.fetched} of {self.candidates} series without episodes; "
                f"{self.still_empty} still empty at the provider, {self.failed} failed, "
                f"{self.skipped_recent} skipped (refreshed within {window}), "
                f"{self.skipped_paused} skipped (account paused), {self.deferred} deferred.",
                f"{self.calls} provider calls ({cap}, {self.rate_limited} rate-limited) "
                f"in {self.seconds:.1f} s.",
            ]
            for paused in self.paused_accounts:
                lines.append(f"Paused account {paused['account']}: {paused['reason']}.")
            for failure in self.failures:
                lines.append(
                    f"Failed: {failure['name']} (#{failure['series_id']}, {failure['account']}): "
                    f"{failure['reason']}"
                )
            if self.failed > len(self.failures):
                lines.append(f"... and {self.failed - len(self.failures)} more failures (see the log).")
        if self.not_candidates:
            ids = ", ".join(str(i) for i in self.not_candidates[:SAMPLE])
            lines.append(f"Not eligible or already with episodes: {ids}.")
        lines.extend(self.notes)
        if self.cancelled:
            lines.append("Interrupted: the next run continues with the series left.")
        return "\n".join(lines)


def run(
    settings: Settings,
    *,
    series_ids: Sequence[int] | None = None,
    force: bool = False,
    max_calls: int | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    refresher: EpisodeRefresher | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Any] | None = None,
) -> FetchResult:
    """Fetch episodes for eligible series that have none (or report them when the home has no provider).

    ``refresher`` defaults to the home's (``resolver.episode_refresher()``); ``clock`` (monotonic
    seconds) and ``sleep`` are injectable for tests; the default sleep wakes early on ``cancel``.
    """
    cap = settings.episodes_max_calls if max_calls is None else max_calls
    if cap < 0:
        raise ConfigError("max_calls", f"must be 0 (no cap) or more, got {cap}")
    cancel = cancel or threading.Event()
    job = _Job(
        settings,
        series_ids=sorted(set(series_ids)) if series_ids else None,
        force=force,
        cap=cap,
        cancel=cancel,
        progress=progress or Progress(job="fetch-episodes"),
        refresher=refresher if refresher is not None else resolver.episode_refresher(),
        clock=clock or time.monotonic,
        sleep=sleep or cancel.wait,
    )
    return job.run()


# -- the job -------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Work:
    target: Target
    handle: Any = None
    loaded: bool = False
    attempts: int = 0


@dataclass(eq=False)
class _Account:
    """One provider account's limiter state (touched only by the job's thread)."""

    id: int
    name: str
    pending: deque[_Work] = field(default_factory=deque)
    in_flight: int = 0
    next_slot: float = -math.inf  # earliest start of the next call (rate)
    backoff_until: float = -math.inf
    failures_in_row: int = 0
    paused: str | None = None

    def ready_at(self) -> float:
        return max(self.next_slot, self.backoff_until)


class _Job:
    def __init__(
        self,
        settings: Settings,
        *,
        series_ids: list[int] | None,
        force: bool,
        cap: int,
        cancel: threading.Event,
        progress: Progress,
        refresher: EpisodeRefresher | None,
        clock: Callable[[], float],
        sleep: Callable[[float], Any],
    ):
        self.settings = settings
        self.series_ids = series_ids
        self.bypass_cache = force and series_ids is not None
        self.cap = cap
        self.cancel = cancel
        self.progress = progress
        self.refresher = refresher
        self.clock = clock
        self.sleep = sleep
        self.interval = 1.0 / settings.episodes_rate
        self.concurrency = settings.episodes_concurrency
        self.chunk_size = settings.chunk_size
        self.load_batch = max(
            1,
            min(self.chunk_size, math.ceil(LOAD_AHEAD_SECONDS * settings.episodes_rate * self.concurrency)),
        )
        self.cutoff = _now() - dt.timedelta(hours=settings.episodes_cache_hours)
        self.result = FetchResult(
            mode="fetch" if refresher is not None else "report",
            max_calls=cap,
            cache_hours=settings.episodes_cache_hours,
        )
        self.accounts: dict[int, _Account] = {}
        self.pending = 0
        self.in_flight = 0
        self.pool_size = 1
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.stream: Iterator[list[Target]] = iter(())
        self.exhausted = False
        self.seen_named: set[int] = set()
        if force and series_ids is None:
            self.result.notes.append(
                "--force applies only to series named with --series; the cache window was kept."
            )

    # -- orchestration ----------------------------------------------------------------------

    def run(self) -> FetchResult:
        started = self.clock()
        result = self.result
        result.candidates = episodes.count_series_without_episodes(self.settings, self.series_ids)
        self.stream = self._chunks(episodes.iter_candidate_chunks(self.settings, self.series_ids))
        self.progress.start_section("series", result.candidates)
        try:
            if self.refresher is None:
                self._report()
            else:
                self._fetch()
        finally:
            result.seconds = self.clock() - started
        if self.series_ids is not None and self.exhausted:
            result.not_candidates = sorted(set(self.series_ids) - self.seen_named)
        status = "cancelled" if result.cancelled else ("partial" if result.deferred else "complete")
        for name in ("calls", "failed"):
            if name in self.progress.sections:
                self.progress.sections[name].status = status
        self.progress.finish_section("series", status)
        log.info("fetch-episodes: %s", result.as_dict())
        return result

    def _report(self) -> None:
        """No provider in this home: count and name what is missing, change nothing."""
        result = self.result
        for chunk in self.stream:
            for target in chunk:
                if self._recent(target):
                    result.skipped_recent += 1
                    continue
                result.missing += 1
                if len(result.missing_sample) < SAMPLE:
                    result.missing_sample.append(_describe_target(target))
            self.progress.advance("series", len(chunk))
        result.notes.append(
            "No episode provider in this home: run fetch-episodes inside Dispatcharr to fetch them."
        )

    def _fetch(self) -> None:
        result = self.result
        accounts = (
            episodes.count_candidate_accounts(self.settings, self.series_ids) if result.candidates else 0
        )
        self.pool_size = max(1, min(MAX_THREADS, self.concurrency * accounts))
        executor: _Inline | _Pool = (
            _Inline(self.done) if self.pool_size == 1 else _Pool(self.pool_size, self.done)
        )
        self.progress.sections["calls"] = SectionProgress(
            total=self.cap or result.candidates, status="running"
        )
        self.progress.sections["failed"] = SectionProgress(total=result.candidates, status="running")
        assert self.refresher is not None
        self.refresher.start()
        try:
            try:
                self._dispatch_loop(executor)
            finally:
                executor.shutdown()
                self._drain(block=False)
            # Whatever is still queued was not reached this run.
            left = sum(len(a.pending) for a in self.accounts.values())
            for account in self.accounts.values():
                account.pending.clear()
            self.pending = 0
            result.deferred += left
            if result.cancelled:
                accounted = (
                    result.fetched
                    + result.still_empty
                    + result.failed
                    + result.skipped_recent
                    + result.skipped_paused
                    + result.deferred
                )
                result.deferred += max(0, result.candidates - accounted)
            elif not self.exhausted:  # the cap was reached: classify the rest without calling
                self._classify_rest()
        finally:
            self.refresher.stop()

    def _dispatch_loop(self, executor: _Inline | _Pool) -> None:
        while True:
            self._drain(block=False)
            if self.cancel.is_set():
                self.result.cancelled = True
                return
            if self.cap and self.result.calls >= self.cap:
                return
            if not self.exhausted and self.pending < self.chunk_size:
                self._refill()
                continue
            account = self._next_account()
            if account is None:
                if self.in_flight:
                    self._drain(block=True)
                elif self.exhausted:
                    return
                else:
                    self._refill()
                continue
            wait = account.ready_at() - self.clock()
            if wait > 0:
                self.sleep(min(wait, MAX_WAIT_SLICE))
                continue
            self._dispatch(account, executor)

    def _chunks(self, chunks: Iterator[list[Target]]) -> Iterator[list[Target]]:
        """The candidate chunks, noting named series seen and the end of the stream."""
        for chunk in chunks:
            if self.series_ids is not None:
                self.seen_named.update(t.series_id for t in chunk)
            yield chunk
        self.exhausted = True

    def _refill(self) -> None:
        chunk = next(self.stream, None)
        if chunk is None:
            self.exhausted = True
            return
        for target in chunk:
            if self._recent(target):
                self.result.skipped_recent += 1
                self.progress.advance("series")
                continue
            account = self._account(target)
            if account.paused:
                self.result.skipped_paused += 1
                self.progress.advance("series")
                continue
            account.pending.append(_Work(target))
            self.pending += 1

    def _classify_rest(self) -> None:
        """After the cap: the series not reached are deferred (or skipped), without provider calls."""
        for chunk in self.stream:
            for target in chunk:
                if self._recent(target):
                    self.result.skipped_recent += 1
                    self.progress.advance("series")
                elif self._account(target).paused:
                    self.result.skipped_paused += 1
                    self.progress.advance("series")
                else:
                    self.result.deferred += 1
        self.exhausted = True

    def _account(self, target: Target) -> _Account:
        account = self.accounts.get(target.account_id)
        if account is None:
            account = self.accounts[target.account_id] = _Account(target.account_id, target.account_name)
        return account

    def _recent(self, target: Target) -> bool:
        if self.bypass_cache or target.last_refresh is None or self.settings.episodes_cache_hours <= 0:
            return False
        return _comparable(target.last_refresh) > _comparable(self.cutoff)

    def _next_account(self) -> _Account | None:
        if self.in_flight >= self.pool_size:
            return None
        best: _Account | None = None
        for account in self.accounts.values():
            if account.paused or not account.pending or account.in_flight >= self.concurrency:
                continue
            if best is None or account.ready_at() < best.ready_at():
                best = account
        return best

    # -- one call ---------------------------------------------------------------------------

    def _dispatch(self, account: _Account, executor: _Inline | _Pool) -> None:
        if not account.pending[0].loaded:
            self._load(account)
        work = account.pending.popleft()
        self.pending -= 1
        account.next_slot = self.clock() + self.interval
        account.in_flight += 1
        self.in_flight += 1
        self.result.calls += 1
        self.progress.sections["calls"].done += 1
        executor.submit(functools.partial(self._call, work), work, account)

    def _load(self, account: _Account) -> None:
        """Ask the refresher for the handles of the next batch of this account's series (one query)."""
        batch: list[_Work] = []
        for work in account.pending:
            if not work.loaded:
                batch.append(work)
                if len(batch) >= self.load_batch:
                    break
        assert self.refresher is not None
        handles = self.refresher.load([w.target for w in batch])
        for work in batch:
            work.handle = handles.get(work.target.relation_id)
            work.loaded = True

    def _call(self, work: _Work) -> tuple[str, Any]:
        """On a worker (or the job's) thread: the provider call, then the catalog check."""
        target = work.target
        assert self.refresher is not None
        try:
            self.refresher.refresh(target, work.handle)
        except RateLimited as exc:
            return "rate_limited", exc.retry_after
        except Exception as exc:
            return "failed", _reason(exc)
        try:
            state = episodes.refresh_state(target)
        except Exception as exc:
            return "failed", "could not check the catalog afterwards: " + _reason(exc)
        if state is None:
            return "failed", "the series is no longer in the catalog"
        has_episodes, refreshed = state
        if has_episodes:
            return "fetched", None
        if refreshed is not None and refreshed != target.last_refresh:
            return "still_empty", None
        return "failed", SILENT_FAILURE

    def _drain(self, *, block: bool) -> None:
        try:
            item = self.done.get(timeout=MAX_WAIT_SLICE) if block else self.done.get_nowait()
        except queue.Empty:
            return
        while True:
            self._complete(*item)
            try:
                item = self.done.get_nowait()
            except queue.Empty:
                return

    def _complete(self, work: _Work, account: _Account, outcome: tuple[str, Any]) -> None:
        account.in_flight -= 1
        self.in_flight -= 1
        kind, detail = outcome
        result = self.result
        if kind in ("fetched", "still_empty"):
            setattr(result, kind, getattr(result, kind) + 1)
            account.failures_in_row = 0
            account.backoff_until = -math.inf
            self.progress.advance("series")
            return
        account.failures_in_row += 1
        delay = self._backoff(account.failures_in_row)
        if kind == "rate_limited":
            result.rate_limited += 1
            work.attempts += 1
            if detail is not None:
                delay = max(delay, float(detail))
            if detail is not None and detail > MAX_BACKOFF:
                self._requeue(work, account)
                self._pause(account, f"the provider asked to wait {float(detail):g} s (HTTP 429)")
            elif work.attempts >= MAX_ATTEMPTS:
                self._fail(work, account, f"rate limited by the provider (HTTP 429) {work.attempts} times")
            else:
                self._requeue(work, account)
        else:
            self._fail(work, account, str(detail))
        account.backoff_until = self.clock() + min(delay, MAX_BACKOFF)
        if account.failures_in_row >= PAUSE_AFTER_FAILURES and not account.paused:
            self._pause(account, f"{account.failures_in_row} failed calls in a row")

    def _backoff(self, failures_in_row: int) -> float:
        return min(MAX_BACKOFF, max(MIN_BACKOFF, 2 * self.interval) * 2 ** (failures_in_row - 1))

    def _requeue(self, work: _Work, account: _Account) -> None:
        if account.paused:
            self.result.skipped_paused += 1
            self.progress.advance("series")
            return
        account.pending.appendleft(work)
        self.pending += 1

    def _fail(self, work: _Work, account: _Account, reason: str) -> None:
        result = self.result
        result.failed += 1
        self.progress.sections["failed"].done += 1
        self.progress.advance("series")
        target = work.target
        log.warning(
            "fetch-episodes: %s (#%s) at %s failed: %s",
            target.series_name,
            target.series_id,
            account.name,
            reason,
        )
        if len(result.failures) < SAMPLE:
            result.failures.append({**_describe_target(target), "reason": reason})

    def _pause(self, account: _Account, reason: str) -> None:
        account.paused = reason
        skipped = len(account.pending)
        account.pending.clear()
        self.pending -= skipped
        self.result.skipped_paused += skipped
        if skipped:
            self.progress.advance("series", skipped)
        self.result.paused_accounts.append(
            {"account": account.name, "account_id": account.id, "reason": reason}
        )
        log.warning("fetch-episodes: pausing account %s for this run: %s", account.name, reason)


# -- executors -----------------------------------------------------------------------------------


class _Inline:
    """Runs each call on the job's thread (one account at concurrency 1: no thread, no extra connection)."""

    def __init__(self, done: queue.SimpleQueue):
        self.done = done

    def submit(self, fn: Callable[[], tuple[str, Any]], work: _Work, account: _Account) -> None:
        self.done.put((work, account, fn()))  # a second Ctrl-C (KeyboardInterrupt) still aborts

    def shutdown(self) -> None:
        pass


class _Pool:
    """A fixed set of worker threads for one run; each closes its database connections when done."""

    def __init__(self, size: int, done: queue.SimpleQueue):
        self.done = done
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._work, name=f"vod2strm-episodes-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        from django.db import connections

        try:
            while (task := self.tasks.get()) is not None:
                fn, work, account = task
                try:
                    outcome = fn()
                except BaseException as exc:  # never lose a completion: the job waits for each call
                    outcome = ("failed", _reason(exc))
                self.done.put((work, account, outcome))
        finally:
            connections.close_all()

    def submit(self, fn: Callable[[], tuple[str, Any]], work: _Work, account: _Account) -> None:
        self.tasks.put((fn, work, account))

    def shutdown(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join()


# -- helpers -------------------------------------------------------------------------------------

_URL_RE = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_SECRET_RE = re.compile(r"\b(password|passwd|pass|username|user|token)=[^&\s]+", re.IGNORECASE)


def _reason(exc: BaseException) -> str:
    """A one-line reason without URLs or credentials (XC URLs carry the account's password)."""
    text = " ".join(str(exc).split()) or "no message"
    text = _SECRET_RE.sub(r"\1=***", _URL_RE.sub("<url>", text))
    return f"{type(exc).__name__}: {text}"[:240]


def _describe_target(target: Target) -> dict[str, Any]:
    return {"series_id": target.series_id, "name": target.series_name, "account": target.account_name}


def _now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()


def _comparable(value: dt.datetime) -> dt.datetime:
    """Naive UTC, so aware and naive timestamps (USE_TZ on or off) compare."""
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
