"""The Dispatcharr home's episode refresher: Dispatcharr's own task, called for one series at a time.

Only :func:`vod2strm.catalog.resolver.episode_refresher` imports this module, and only in the
Dispatcharr home (it imports ``apps.vod`` when a fetch starts).

Dispatcharr's ``refresh_series_episodes`` catches every exception and returns None, HTTP 429
included. To back off on a 429, the refresher watches the error lines Dispatcharr's XC client logs
on the calling thread during the call (:class:`_RateLimitWatch`); when those lines change shape, a
429 is simply counted as an ordinary failure, which backs off too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from vod2strm.catalog import resolver
from vod2strm.catalog.episodes import EpisodeRefresher, RateLimited, Target

#: Loggers Dispatcharr's XC client and VOD tasks report provider errors on.
_WATCHED_LOGGERS = ("core.xtream_codes", "apps.vod.tasks")
#: How ``requests`` words an HTTP 429 (``"429 Client Error: Too Many Requests for url: ..."``).
#: Deliberately not a bare "429": series ids appear in the same messages.
_RATE_LIMIT_RE = re.compile(r"\b429 Client Error\b|\bToo Many Requests\b", re.IGNORECASE)


class _RateLimitWatch(logging.Handler):
    """Notices a 429 logged on the watching thread while a refresh runs (records are not kept)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        seen = getattr(self._local, "seen", None)
        if seen is None or seen:
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the refresh
            return
        if _RATE_LIMIT_RE.search(message):
            seen.append(True)

    def begin(self) -> list[bool]:
        self._local.seen = []
        return self._local.seen

    def end(self) -> None:
        self._local.seen = None


class DispatcharrRefresher(EpisodeRefresher):
    """Calls ``apps.vod.tasks.refresh_series_episodes(account, series, external_series_id)``.

    That function opens its own XC client (one authentication + one ``get_series_info`` request),
    stores the episodes and their relations, fills blank series metadata and sets the relation's
    ``last_episode_refresh``; it swallows every error. We hand it the best relation's account and
    series, loaded for a batch of targets in one query.

    ``refresh_func`` replaces the Dispatcharr function (tests; the default is imported in ``start``).
    """

    def __init__(self, refresh_func: Any = None):
        self._refresh_func = refresh_func
        self._watch = _RateLimitWatch()

    def start(self) -> None:
        if self._refresh_func is None:
            from apps.vod.tasks import refresh_series_episodes  # the Dispatcharr home only

            self._refresh_func = refresh_series_episodes
        for name in _WATCHED_LOGGERS:
            logging.getLogger(name).addHandler(self._watch)

    def stop(self) -> None:
        for name in _WATCHED_LOGGERS:
            logging.getLogger(name).removeHandler(self._watch)

    def load(self, targets: Sequence[Target]) -> Mapping[int, Any]:
        m = resolver.models()
        relations = (
            m.M3USeriesRelation.objects.filter(pk__in=[t.relation_id for t in targets])
            .select_related("m3u_account", "series")
            .order_by()
        )
        return {relation.pk: relation for relation in relations}

    def refresh(self, target: Target, handle: Any) -> None:
        if handle is None:
            raise LookupError("the series relation is no longer in the catalog")
        seen = self._watch.begin()
        try:
            self._refresh_func(handle.m3u_account, handle.series, handle.external_series_id)
        finally:
            self._watch.end()
        if seen:
            raise RateLimited(None)
