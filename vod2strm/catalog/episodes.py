"""Series without episodes: finding them in the catalog, and the home-facing episode refresher.

Dispatcharr fetches a series' episodes lazily (when someone opens the series), so on a fresh install
most series have none and ``generate`` can write no show for them. This module is the catalog side
of ``jobs/fetch_episodes.py``:

- :func:`count_series_without_episodes` and :func:`iter_candidate_chunks` find eligible series with
  no Episode row, each with its *best* relation, with a fixed number of statements per chunk
  (keyset on the series primary key: one statement for the chunk's series, one for their eligible
  relations), never one per series.
- :func:`refresh_state` is the one-statement check a job makes after each provider call: does the
  series have episodes now, and when was its relation last refreshed?
- :class:`EpisodeRefresher` is what a home provides to fetch one series' episodes into the
  catalog; Dispatcharr's is in :mod:`vod2strm.catalog.dispatcharr_home`. Which one a run gets is
  decided by ``resolver.episode_refresher()`` alone: the standalone home has no provider and gets
  None.

Dispatcharr's ``refresh_series_episodes`` catches every exception and returns None, so its return
says nothing. The job therefore never trusts a refresher's silence: it checks the catalog after each
call (episodes now present = fetched; refresh time moved but still none = the provider has none;
neither = failed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vod2strm.catalog import queries, resolver
from vod2strm.conf import Settings


class RateLimited(Exception):
    """The provider answered "too many requests" (HTTP 429). ``retry_after`` in seconds, if known."""

    def __init__(self, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(
            "rate limited by the provider (HTTP 429)"
            + (f", retry after {retry_after:g} s" if retry_after is not None else "")
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One series to fetch, through its best eligible relation (plain values, no model instance)."""

    series_id: int
    series_name: str
    relation_id: int
    account_id: int
    account_name: str
    external_series_id: str
    #: The relation's ``last_episode_refresh`` when the series was found (None: never refreshed).
    last_refresh: dt.datetime | None


class EpisodeRefresher:
    """Fetches one series' episodes from its provider into the catalog. A home subclasses this.

    The job calls :meth:`start` once, then :meth:`load` once per batch of targets (on the job's
    thread: at most one query for the whole batch), then :meth:`refresh` per target (possibly on a
    worker thread, with the handle ``load`` returned for it), then :meth:`stop`.

    :meth:`refresh` raises :class:`RateLimited` when the provider answered 429 and any other
    exception when the call failed. Returning normally is *not* taken as success: the job checks
    the catalog afterwards (:func:`refresh_state`).
    """

    def start(self) -> None:
        """Prepare for a run (imports, hooks)."""

    def stop(self) -> None:
        """Undo :meth:`start`; called once, also after a failed or cancelled run."""

    def load(self, targets: Sequence[Target]) -> Mapping[int, Any]:
        """Handles the refresh needs, by relation id, for a batch of targets (one query at most)."""
        return {}

    def refresh(self, target: Target, handle: Any) -> None:
        raise NotImplementedError


# -- finding series without episodes --------------------------------------------------------------


def _empty_series(settings: Settings, series_ids: Sequence[int] | None = None):
    """Eligible series with no Episode row at all, as a queryset."""
    from django.db.models import Exists, OuterRef

    m = resolver.models()
    relations = queries.eligible_relations(m.M3USeriesRelation, settings)
    qs = m.Series.objects.filter(
        Exists(relations.filter(series_id=OuterRef("pk"))),
        ~Exists(m.Episode.objects.filter(series_id=OuterRef("pk")).order_by()),
    )
    if series_ids is not None:
        qs = qs.filter(pk__in=list(series_ids))
    return qs.order_by()


def count_series_without_episodes(settings: Settings, series_ids: Sequence[int] | None = None) -> int:
    """How many eligible series have no episode at all: one statement."""
    return _empty_series(settings, series_ids).count()


def count_candidate_accounts(settings: Settings, series_ids: Sequence[int] | None = None) -> int:
    """How many accounts serve eligible series without episodes (sizes the worker pool): one statement."""
    from django.db.models import Exists, OuterRef

    m = resolver.models()
    relations = queries.eligible_relations(m.M3USeriesRelation, settings).filter(
        ~Exists(m.Episode.objects.filter(series_id=OuterRef("series_id")).order_by())
    )
    if series_ids is not None:
        relations = relations.filter(series_id__in=list(series_ids))
    return relations.values("m3u_account_id").distinct().count()


_RELATION_COLUMNS = (
    "series_id",
    "id",
    "m3u_account_id",
    "m3u_account__name",
    "m3u_account__priority",
    "external_series_id",
    "last_episode_refresh",
)


def iter_candidate_chunks(
    settings: Settings, series_ids: Sequence[int] | None = None, *, chunk_size: int | None = None
) -> Iterator[list[Target]]:
    """Eligible series without episodes in primary-key order, ``chunk_size`` series at a time, each
    as a :class:`Target` on its best relation (highest account priority, then lowest relation id).

    Two statements per chunk whatever the number of relations per series, plus one final empty page
    when the last chunk is full.
    """
    m = resolver.models()
    size = max(1, chunk_size or settings.chunk_size)
    series_qs = _empty_series(settings, series_ids)
    relations = queries.eligible_relations(m.M3USeriesRelation, settings)
    last: int | None = None
    while True:
        page = series_qs.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page.values_list("id", "name")[:size])
        if not rows:
            return
        best: dict[int, tuple] = {}
        for rel in relations.filter(series_id__in=[r[0] for r in rows]).values_list(*_RELATION_COLUMNS):
            current = best.get(rel[0])
            if current is None or (-(rel[4] or 0), rel[1]) < (-(current[4] or 0), current[1]):
                best[rel[0]] = rel
        chunk = []
        for series_id, name in rows:
            rel = best.get(series_id)
            if rel is None:  # lost its eligible relation between the two statements
                continue
            chunk.append(
                Target(
                    series_id=series_id,
                    series_name=name or "",
                    relation_id=rel[1],
                    account_id=rel[2],
                    account_name=rel[3] or "",
                    external_series_id=str(rel[5]),
                    last_refresh=rel[6],
                )
            )
        yield chunk
        if len(rows) < size:
            return
        last = rows[-1][0]


def refresh_state(target: Target) -> tuple[bool, dt.datetime | None] | None:
    """``(has_episodes, last_episode_refresh)`` of a target now, in one statement; None when the
    series is gone from the catalog."""
    from django.db.models import Exists, OuterRef, Subquery

    m = resolver.models()
    refreshed = m.M3USeriesRelation.objects.filter(pk=target.relation_id).order_by()
    row = (
        m.Series.objects.filter(pk=target.series_id)
        .order_by()
        .annotate(
            has_episodes=Exists(m.Episode.objects.filter(series_id=OuterRef("pk")).order_by()),
            refreshed_at=Subquery(refreshed.values("last_episode_refresh")[:1]),
        )
        .values_list("has_episodes", "refreshed_at")
        .first()
    )
    return None if row is None else (bool(row[0]), row[1])
