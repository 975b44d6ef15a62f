"""fetch-episodes: finding series without episodes (constant queries), the per-account rate,
concurrency, back-off, pause and cap, never trusting a silent refresher, and the report-only
standalone home.

Provider calls go to a stand-in refresher that records when (on a fake clock) it was called and can
succeed, find nothing, fail loudly, fail silently or answer 429. Tests with one account at
concurrency 1 run calls on the test's thread; tests that need the worker pool (two accounts or
concurrency > 1) use a transactional database so the worker threads see the data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3USeriesRelationFactory,
    M3UVODCategoryRelationFactory,
    SeriesFactory,
    VODCategoryFactory,
)
from vod2strm.catalog import episodes, resolver
from vod2strm.catalog.dispatcharr_home import DispatcharrRefresher
from vod2strm.catalog.episodes import EpisodeRefresher, RateLimited, Target
from vod2strm.jobs import fetch_episodes
from vod2strm.jobs.progress import Progress
from vod2strm.standalone import models

# -- stand-ins -----------------------------------------------------------------------------------


class FakeClock:
    """Monotonic seconds that move only when the job sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


class StandIn(EpisodeRefresher):
    """Behaviours per series id (a list, one per call; the last one repeats), else ``default``:

    ``"ok"`` creates an Episode + M3UEpisodeRelation and sets last_episode_refresh; ``"empty"``
    only sets last_episode_refresh (the provider has none); ``"silent"`` returns having done nothing
    (Dispatcharr's swallowed error); ``"raise"`` raises; ``("429", retry_after)`` raises RateLimited.
    """

    def __init__(self, clock: FakeClock, default: Any = "ok", script: dict[int, list] | None = None):
        self.clock = clock
        self.default = default
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[tuple[float, int, int]] = []  # (time, series id, account id)
        self.lock = threading.Lock()
        self.in_flight: dict[int, int] = defaultdict(int)
        self.max_in_flight: dict[int, int] = defaultdict(int)
        self.max_total_in_flight = 0
        self.barrier: threading.Barrier | None = None
        self.on_call = None
        self.started = self.stopped = 0

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1

    def behaviour(self, series_id: int) -> Any:
        steps = self.script.get(series_id)
        if not steps:
            return self.default
        return steps.pop(0) if len(steps) > 1 else steps[0]

    def refresh(self, target: Target, handle: Any) -> None:
        with self.lock:
            self.calls.append((self.clock(), target.series_id, target.account_id))
            self.in_flight[target.account_id] += 1
            self.max_in_flight[target.account_id] = max(
                self.max_in_flight[target.account_id], self.in_flight[target.account_id]
            )
            self.max_total_in_flight = max(self.max_total_in_flight, sum(self.in_flight.values()))
            behaviour = self.behaviour(target.series_id)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            if self.on_call is not None:
                self.on_call(target)
            if behaviour == "ok":
                episode = models.Episode.objects.create(
                    series_id=target.series_id, name="Pilot", season_number=1, episode_number=1
                )
                models.M3UEpisodeRelation.objects.create(
                    m3u_account_id=target.account_id,
                    episode=episode,
                    series_relation_id=target.relation_id,
                    stream_id=f"ep-{target.series_id}-{target.account_id}",
                )
                _touch(target)
            elif behaviour == "empty":
                _touch(target)
            elif behaviour == "silent":
                return
            elif behaviour == "raise":
                raise ConnectionError(
                    "HTTPConnectionPool: Max retries exceeded with url: "
                    "http://provider.example/player_api.php?username=bob&password=hunter2&action=x"
                )
            elif isinstance(behaviour, tuple) and behaviour[0] == "429":
                raise RateLimited(behaviour[1])
            else:  # pragma: no cover - a typo in a test
                raise AssertionError(behaviour)
        finally:
            with self.lock:
                self.in_flight[target.account_id] -= 1

    def times(self, account_id: int | None = None) -> list[float]:
        return [t for t, _, acc in self.calls if account_id is None or acc == account_id]

    def series_called(self) -> list[int]:
        return [sid for _, sid, _ in self.calls]


def _touch(target: Target) -> None:
    models.M3USeriesRelation.objects.filter(pk=target.relation_id).update(last_episode_refresh=timezone.now())


def make_series(n: int, account=None, **relation_kwargs) -> list[models.Series]:
    account = account or M3UAccountFactory()
    result = []
    for _ in range(n):
        relation = M3USeriesRelationFactory(m3u_account=account, **relation_kwargs)
        result.append(relation.series)
    return result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run(settings_factory, clock):
    """``run(refresher, settings=dict(...), **run_kwargs)`` with the fake clock and sleep."""

    def call(refresher, settings: dict | None = None, **kwargs):
        s = settings_factory(**(settings or {}))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("max_calls", 0)
        return fetch_episodes.run(s, refresher=refresher, **kwargs)

    return call


def assert_spaced(times: list[float], interval: float) -> None:
    """The k-th call started no earlier than k intervals after the run began (at clock 0)."""
    for k, t in enumerate(times):
        assert t >= k * interval - 1e-9, (k, t, times)


# -- finding candidates ------------------------------------------------------------------------


@pytest.mark.django_db
def test_count_series_without_episodes_counts_eligible_empty_series_in_one_query(
    settings_factory, capture_queries
):
    account = M3UAccountFactory()
    make_series(3, account)
    with_episodes = make_series(1, account)[0]
    EpisodeFactory(series=with_episodes)
    make_series(2, M3UAccountFactory(is_active=False))
    disabled = VODCategoryFactory(category_type="series")
    M3UVODCategoryRelationFactory(m3u_account=account, category=disabled, enabled=False)
    make_series(1, account, category=disabled)
    SeriesFactory()  # no relation at all

    with capture_queries() as q:
        count = fetch_episodes.count_series_without_episodes(settings_factory())
    assert count == 3
    assert len(q) == 1


@pytest.mark.django_db
def test_candidates_take_the_best_relation_and_span_chunks_in_order(settings_factory):
    low, high = M3UAccountFactory(priority=1), M3UAccountFactory(priority=9)
    series = make_series(7, low)
    best = {}
    for s in series[::2]:
        best[s.pk] = M3USeriesRelationFactory(series=s, m3u_account=high).pk
    for s in series[1::2]:
        best[s.pk] = s.m3u_relations.get().pk
        M3USeriesRelationFactory(series=s, m3u_account=M3UAccountFactory(is_active=False, priority=99))

    chunks = list(episodes.iter_candidate_chunks(settings_factory(), chunk_size=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    targets = [t for c in chunks for t in c]
    assert [t.series_id for t in targets] == sorted(s.pk for s in series)
    assert {t.series_id: t.relation_id for t in targets} == best


@pytest.mark.django_db
@pytest.mark.parametrize("with_ids", [False, True])
def test_finding_candidates_takes_the_same_queries_for_5_or_50_series(run, capture_queries, with_ids):
    """Report mode does nothing but find: its query count must not grow with the series."""

    def count(n: int) -> int:
        models.Series.objects.all().delete()
        series = make_series(n)
        ids = [s.pk for s in series] if with_ids else None
        with capture_queries() as q:
            result = run(None, series_ids=ids)
        assert result.missing == n
        return len(q)

    assert count(5) == count(50)


@pytest.mark.django_db
def test_candidate_queries_grow_with_chunks_only(run, capture_queries):
    def count(n: int) -> int:
        models.Series.objects.all().delete()
        make_series(n)
        with capture_queries() as q:
            run(None, settings={"chunk_size": 10})
        return len(q)

    # 2 statements per chunk (series page, their relations); 20 -> 40 series adds 2 chunks.
    assert count(40) == count(20) + 2 * 2
    assert count(25) == count(21)


@pytest.mark.django_db
def test_fetching_adds_only_constant_queries_per_call(run, clock, capture_queries):
    """Finding stays constant; each call adds the same few statements (the stand-in's write + the check)."""

    def count(n: int) -> int:
        models.Series.objects.all().delete()
        make_series(n)
        refresher = StandIn(clock, default="empty")
        with capture_queries() as q:
            result = run(refresher, settings={"episodes_rate": 100.0})
        assert result.still_empty == n
        return len(q)

    per_call = 2  # the stand-in's UPDATE + the job's one-statement check
    assert count(50) - count(5) == 45 * per_call


# -- the standalone home -----------------------------------------------------------------------


@pytest.mark.django_db
def test_standalone_home_without_refresher_reports_missing_and_changes_nothing(run):
    assert resolver.episode_refresher() is None
    account = M3UAccountFactory(name="Acme")
    series = make_series(12, account)
    recent = series[0].m3u_relations.get()
    recent.last_episode_refresh = timezone.now() - dt.timedelta(hours=1)
    recent.save()
    before = list(models.M3USeriesRelation.objects.order_by("pk").values_list("pk", "last_episode_refresh"))

    result = run(None)

    assert result.mode == "report"
    assert result.exit_code == 0
    assert (result.candidates, result.missing, result.skipped_recent) == (12, 11, 1)
    assert result.calls == 0 and result.fetched == 0
    assert len(result.missing_sample) == fetch_episodes.SAMPLE
    assert result.missing_sample[0] == {"series_id": series[1].pk, "name": series[1].name, "account": "Acme"}
    assert models.Episode.objects.count() == 0
    after = list(models.M3USeriesRelation.objects.order_by("pk").values_list("pk", "last_episode_refresh"))
    assert after == before
    text = result.as_text()
    assert "12 eligible series have no episodes" in text
    assert series[1].name in text and "and 1 more" in text


def test_episode_refresher_comes_from_the_home(settings):
    settings.VOD2STRM = {"CATALOG": "standalone"}
    assert resolver.episode_refresher() is None
    settings.VOD2STRM = {"CATALOG": "dispatcharr"}
    assert isinstance(resolver.episode_refresher(), DispatcharrRefresher)


# -- outcomes ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_success_still_empty_and_silent_failure_are_told_apart(run, clock):
    ok, empty, silent = make_series(3)
    refresher = StandIn(clock, script={ok.pk: ["ok"], empty.pk: ["empty"], silent.pk: ["silent"]})

    result = run(refresher)

    assert (result.fetched, result.still_empty, result.failed) == (1, 1, 1)
    assert result.calls == 3
    assert result.failures == [
        {
            "series_id": silent.pk,
            "name": silent.name,
            "account": silent.m3u_relations.get().m3u_account.name,
            "reason": fetch_episodes.SILENT_FAILURE,
        }
    ]
    assert result.exit_code == 4
    assert ok.episodes.count() == 1 and not empty.episodes.exists()
    assert refresher.started == refresher.stopped == 1


@pytest.mark.django_db
def test_one_failing_series_does_not_stop_the_others_and_its_reason_hides_credentials(run, clock):
    series = make_series(5)
    refresher = StandIn(clock, script={series[1].pk: ["raise"]})

    result = run(refresher)

    assert (result.fetched, result.failed, result.calls) == (4, 1, 5)
    reason = result.failures[0]["reason"]
    assert reason.startswith("ConnectionError:")
    assert "hunter2" not in reason and "bob" not in reason and "http://" not in reason
    assert "hunter2" not in result.as_text() and "hunter2" not in json.dumps(result.as_dict())
    assert result.exit_code == 4
    assert all(s.episodes.exists() for s in series if s != series[1])


# -- rate, back-off, pause, cap -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [0.5, 4.0])
def test_calls_to_one_account_respect_the_rate(run, clock, rate):
    make_series(6)
    refresher = StandIn(clock)

    result = run(refresher, settings={"episodes_rate": rate})

    assert result.fetched == 6
    times = refresher.times()
    assert_spaced(times, 1 / rate)
    assert times == pytest.approx([k / rate for k in range(6)])  # and no slower than needed


@pytest.mark.django_db
def test_429_backs_off_exponentially_then_retries_the_same_series(run, clock):
    first, second = make_series(2)
    refresher = StandIn(clock, script={first.pk: [("429", None), ("429", None), "ok"]})

    result = run(refresher, settings={"episodes_rate": 0.5})

    assert refresher.series_called() == [first.pk, first.pk, first.pk, second.pk]
    times = refresher.times()
    # back-off base max(2 s, 2 / rate) = 4 s, doubling: 4 s then 8 s; then the normal 2 s interval
    assert times[1] - times[0] >= 4
    assert times[2] - times[1] >= 8
    assert times[3] - times[2] == pytest.approx(2)
    assert (result.fetched, result.failed, result.rate_limited, result.calls) == (2, 0, 2, 4)
    assert result.exit_code == 0


@pytest.mark.django_db
def test_429_honours_retry_after(run, clock):
    (series,) = make_series(1)
    refresher = StandIn(clock, script={series.pk: [("429", 90), "ok"]})

    result = run(refresher)

    t0, t1 = refresher.times()
    assert t1 - t0 >= 90
    assert result.fetched == 1 and result.rate_limited == 1


@pytest.mark.django_db
def test_429_with_a_very_long_retry_after_pauses_the_account(run, clock):
    make_series(3)
    refresher = StandIn(clock, default=("429", 3600))

    result = run(refresher)

    assert result.calls == 1
    assert result.skipped_paused == 3
    assert "3600" in result.paused_accounts[0]["reason"]
    assert result.exit_code == 4
    assert clock.now < 3600  # nobody waited an hour


@pytest.mark.django_db
def test_a_series_rate_limited_on_every_attempt_fails_after_max_attempts(run, clock):
    make_series(1)
    refresher = StandIn(clock, default=("429", 1))

    result = run(refresher)

    assert result.calls == fetch_episodes.MAX_ATTEMPTS
    assert result.failed == 1 and result.rate_limited == fetch_episodes.MAX_ATTEMPTS
    assert "429" in result.failures[0]["reason"]


@pytest.mark.django_db
def test_consecutive_failures_pause_the_account_with_growing_back_off(run, clock):
    make_series(8)
    refresher = StandIn(clock, default="silent")

    result = run(refresher, settings={"episodes_rate": 0.5})

    assert result.calls == fetch_episodes.PAUSE_AFTER_FAILURES == 5
    assert result.failed == 5 and result.skipped_paused == 3
    assert result.paused_accounts[0]["reason"] == "5 failed calls in a row"
    gaps = [b - a for a, b in zip(refresher.times(), refresher.times()[1:], strict=False)]
    assert gaps == pytest.approx([4, 8, 16, 32])
    assert result.exit_code == 4
    assert "Paused account" in result.as_text()


@pytest.mark.django_db
def test_a_success_resets_the_failure_streak(run, clock):
    series = make_series(9)
    script = {s.pk: ["raise"] for s in series}
    script[series[4].pk] = ["ok"]  # 4 failures, a success, 4 failures: never 5 in a row
    refresher = StandIn(clock, script=script)

    result = run(refresher)

    assert result.calls == 9 and result.failed == 8 and result.fetched == 1
    assert result.paused_accounts == [] and result.skipped_paused == 0


@pytest.mark.django_db
def test_max_calls_caps_a_run_and_defers_the_rest(run, clock):
    make_series(10)
    refresher = StandIn(clock)

    result = run(refresher, max_calls=3)

    assert result.calls == 3 and len(refresher.calls) == 3
    assert result.fetched == 3 and result.deferred == 7
    assert result.exit_code == 0
    # the next run continues with the series still without episodes
    again = run(StandIn(clock), max_calls=None, settings={"episodes_max_calls": 4})
    assert again.candidates == 7 and again.calls == 4 and again.deferred == 3


@pytest.mark.django_db
def test_rate_limited_retries_count_against_the_cap(run, clock):
    first, _, _ = make_series(3)
    refresher = StandIn(clock, script={first.pk: [("429", None), "ok"]})

    result = run(refresher, max_calls=2)

    assert result.calls == 2 and result.fetched == 1 and result.deferred == 2


@pytest.mark.django_db
def test_cancel_stops_between_calls(run, clock):
    make_series(6)
    cancel = threading.Event()
    refresher = StandIn(clock)
    refresher.on_call = lambda target: cancel.set() if len(refresher.calls) == 2 else None

    result = run(refresher, cancel=cancel)

    assert result.calls == 2 and result.fetched == 2
    assert result.cancelled and result.exit_code == 130
    assert result.deferred == 4
    assert "Interrupted" in result.as_text()


# -- the cache window and named series ---------------------------------------------------------


def _refreshed(series: models.Series, hours_ago: float) -> None:
    models.M3USeriesRelation.objects.filter(series=series).update(
        last_episode_refresh=timezone.now() - dt.timedelta(hours=hours_ago)
    )


@pytest.mark.django_db
def test_cache_window_skips_recently_refreshed_series(run, clock):
    recent, stale, never = make_series(3)
    _refreshed(recent, 1)
    _refreshed(stale, 48)
    refresher = StandIn(clock)

    result = run(refresher, settings={"episodes_cache_hours": 24})

    assert sorted(refresher.series_called()) == sorted([stale.pk, never.pk])
    assert result.skipped_recent == 1 and result.fetched == 2


@pytest.mark.django_db
def test_force_with_named_series_overrides_the_cache_window_for_them_only(run, clock):
    recent, other_recent, never = make_series(3)
    _refreshed(recent, 1)
    _refreshed(other_recent, 1)
    refresher = StandIn(clock)

    result = run(refresher, series_ids=[recent.pk], force=True)

    assert refresher.series_called() == [recent.pk]
    assert result.candidates == 1 and result.fetched == 1 and result.skipped_recent == 0

    # named without --force: the cache still applies
    refresher = StandIn(clock)
    result = run(refresher, series_ids=[other_recent.pk])
    assert refresher.series_called() == [] and result.skipped_recent == 1

    # --force without named series does not sweep the cache window
    refresher = StandIn(clock)
    result = run(refresher, force=True)
    assert refresher.series_called() == [never.pk]
    assert result.skipped_recent == 1
    assert any("--force applies only" in note for note in result.notes)


@pytest.mark.django_db
def test_named_series_only_and_the_ones_that_are_not_candidates(run, clock):
    wanted, _unwanted = make_series(2)
    full = make_series(1)[0]
    EpisodeFactory(series=full)

    refresher = StandIn(clock)
    result = run(refresher, series_ids=[wanted.pk, full.pk, 999_999])

    assert refresher.series_called() == [wanted.pk]
    assert result.not_candidates == [full.pk, 999_999]
    assert "Not eligible or already with episodes" in result.as_text()


# -- progress and summary -----------------------------------------------------------------------


@pytest.mark.django_db
def test_progress_reports_series_calls_and_failures(run, clock):
    series = make_series(4)
    _refreshed(series[3], 1)
    refresher = StandIn(clock, script={series[0].pk: ["raise"]})
    progress = Progress(job="fetch-episodes")
    events: list[tuple[str, int]] = []
    progress.listeners.append(lambda event, p: events.append((event, p.sections["series"].done)))

    result = run(refresher, progress=progress)

    snapshot = progress.snapshot()["sections"]
    assert snapshot["series"]["total"] == 4 and snapshot["series"]["done"] == 4
    assert snapshot["series"]["status"] == "complete"
    assert snapshot["calls"]["done"] == 3 and snapshot["failed"]["done"] == 1
    assert events[0] == ("start", 0) and events[-1] == ("finish", 4)
    assert result.as_dict()["exit"] == 4


@pytest.mark.django_db
def test_summary_is_json_ready(run, clock):
    make_series(2)
    result = run(StandIn(clock, default="empty"), max_calls=1)
    data = json.loads(json.dumps(result.as_dict()))
    for key in ("fetched", "still_empty", "failed", "skipped_recent", "calls", "seconds", "exit", "deferred"):
        assert key in data
    assert data["still_empty"] == 1 and data["deferred"] == 1 and data["exit"] == 0
    assert "1 still empty" in result.as_text()


# -- threads: concurrency and several accounts --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrency_per_account_is_used_and_never_exceeded(run, clock):
    make_series(8)
    refresher = StandIn(clock)
    refresher.barrier = threading.Barrier(2, timeout=10)  # only passes if two calls overlap

    result = run(refresher, settings={"episodes_concurrency": 2, "episodes_rate": 50.0})

    assert result.fetched == 8 and result.failed == 0
    (account_id,) = refresher.max_in_flight
    assert refresher.max_in_flight[account_id] == 2
    assert_spaced(refresher.times(), 1 / 50.0)


@pytest.mark.django_db(transaction=True)
def test_rate_and_concurrency_are_per_account(run, clock):
    a, b = M3UAccountFactory(name="A"), M3UAccountFactory(name="B")
    make_series(4, a)
    make_series(4, b)
    refresher = StandIn(clock)

    result = run(refresher, settings={"episodes_rate": 0.5, "episodes_concurrency": 1})

    assert result.fetched == 8
    for account in (a, b):
        assert len(refresher.times(account.pk)) == 4
        assert_spaced(refresher.times(account.pk), 2.0)
        assert refresher.max_in_flight[account.pk] == 1
    # the two accounts run side by side: 8 calls in about 4 intervals, not 8
    assert clock.now < 8 * 2.0


@pytest.mark.django_db(transaction=True)
def test_a_paused_account_does_not_stop_another(run, clock):
    bad, good = M3UAccountFactory(name="Bad"), M3UAccountFactory(name="Good")
    bad_series = make_series(7, bad)
    make_series(3, good)
    refresher = StandIn(clock, script={s.pk: ["raise"] for s in bad_series})

    result = run(refresher)

    assert result.fetched == 3
    assert result.failed == 5 and result.skipped_paused == 2
    assert [p["account"] for p in result.paused_accounts] == ["Bad"]


@pytest.mark.django_db(transaction=True)
def test_the_best_relation_account_is_called(run, clock):
    low, high = M3UAccountFactory(priority=1), M3UAccountFactory(priority=5)
    series = make_series(3, low)
    for s in series:
        M3USeriesRelationFactory(series=s, m3u_account=high)
    refresher = StandIn(clock)

    result = run(refresher)

    assert result.fetched == 3
    assert {acc for _, _, acc in refresher.calls} == {high.pk}


# -- Dispatcharr's refresher --------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatcharr_refresher_hands_over_instances_loaded_in_one_query(run, clock, capture_queries):
    account = M3UAccountFactory(name="Acme")
    make_series(6, account)
    received: list[tuple] = []

    def refresh_series_episodes(acc, series, external_series_id):
        received.append((acc.name, series.name, external_series_id))  # no lazy query: all loaded
        relation = models.M3USeriesRelation.objects.get(
            m3u_account=acc, external_series_id=external_series_id
        )
        episode = models.Episode.objects.create(series=series, name="E1", season_number=1, episode_number=1)
        models.M3UEpisodeRelation.objects.create(
            m3u_account=acc, episode=episode, series_relation=relation, stream_id=f"s{series.pk}"
        )
        relation.last_episode_refresh = timezone.now()
        relation.save()

    refresher = DispatcharrRefresher(refresh_func=refresh_series_episodes)
    loads: list[int] = []
    original = refresher.load

    def counting_load(targets):
        with CaptureQueriesContext(connection) as q:
            handles = original(targets)
        loads.append(len(q))
        return handles

    refresher.load = counting_load
    result = run(refresher)

    assert result.fetched == 6
    assert loads == [1]  # six targets, one select_related query
    relations = models.M3USeriesRelation.objects.order_by("series_id")
    assert received == [("Acme", r.series.name, r.external_series_id) for r in relations]


@pytest.mark.django_db
def test_dispatcharr_refresher_notices_a_swallowed_429_in_the_clients_log(run, clock):
    first, second = make_series(2)
    calls: list[int] = []

    def refresh_series_episodes(acc, series, external_series_id):
        calls.append(series.pk)
        if series.pk == first.pk and calls.count(first.pk) == 1:
            logging.getLogger("core.xtream_codes").error(
                "XC API Request failed: 429 Client Error: Too Many Requests for url: "
                "http://p.example/player_api.php?username=u&password=p"
            )
            logging.getLogger("apps.vod.tasks").error("Error refreshing episodes for series %s", series.name)
            return None  # swallowed, as Dispatcharr does
        models.M3USeriesRelation.objects.filter(series=series).update(last_episode_refresh=timezone.now())

    refresher = DispatcharrRefresher(refresh_func=refresh_series_episodes)
    result = run(refresher)

    assert calls == [first.pk, first.pk, second.pk]
    assert result.rate_limited == 1 and result.still_empty == 2 and result.failed == 0
    assert not logging.getLogger("core.xtream_codes").handlers  # the watch was removed


@pytest.mark.django_db
def test_dispatcharr_refresher_does_not_mistake_a_series_id_for_a_429(run, clock):
    make_series(1)

    def refresh_series_episodes(acc, s, external_series_id):
        logging.getLogger("core.xtream_codes").error("Failed to get series info for series_id 429: boom")

    result = run(DispatcharrRefresher(refresh_func=refresh_series_episodes))

    assert result.rate_limited == 0 and result.failed == 1
    assert result.failures[0]["reason"] == fetch_episodes.SILENT_FAILURE
