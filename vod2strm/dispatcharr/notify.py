"""Progress pushed to Dispatcharr's web UI, where it offers a way (best effort, never fails a run).

Inside Dispatcharr, ``core.utils`` has ``send_websocket_update(group, event_type, data)`` and
``send_websocket_notification(notification)``. The job process (see :mod:`.runner`) sends:

- throttled progress as ``send_websocket_update("updates", "update", {"type": "plugin",
  "plugin": "vod2strm", "action", "status", "progress" (0-100), "message"})`` — the shape
  Dispatcharr's plugin docs show; today's frontend only logs it, later ones may show it;
- at the end of a run, a system notification (a toast in the UI: priority ``high``), saved as a
  ``core.models.SystemNotification`` row when that model exists so the notification centre can
  dismiss it, else sent as a plain dict.

Everything is sent from one daemon thread that keeps only the newest pending message: a slow or
dead Redis never slows the run, and a failing sender is disabled after a few errors. Outside
Dispatcharr (no ``core.utils``) the notifier does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from vod2strm.jobs.progress import Progress

log = logging.getLogger(__name__)

PLUGIN_KEY = "vod2strm"
MAX_FAILURES = 3


def _dispatcharr_senders() -> tuple[Callable[..., Any], Callable[..., Any] | None] | None:
    try:
        from core import utils  # Dispatcharr's core app
    except Exception:  # ImportError, or a core app that fails to import outside its project
        return None
    update = getattr(utils, "send_websocket_update", None)
    if not callable(update):
        return None
    notification = getattr(utils, "send_websocket_notification", None)
    return update, notification if callable(notification) else None


class Notifier:
    """Sends progress and the final outcome to Dispatcharr's UI from a background thread."""

    def __init__(
        self,
        action: str,
        *,
        interval: float = 5.0,
        senders: tuple[Callable[..., Any], Callable[..., Any] | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.action = action
        self.interval = interval
        self.clock = clock
        found = senders if senders is not None else _dispatcharr_senders()
        self._update: Callable[..., Any] | None
        self._notification: Callable[..., Any] | None
        self._update, self._notification = found if found else (None, None)
        self.enabled = self._update is not None
        self.failures = 0
        self._last = float("-inf")
        self._pending: list[tuple[str, Any]] = []
        self._sending = False  # the sender thread holds a message it took from _pending
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- what the runner calls ----------------------------------------------------------------

    def __call__(self, event: str, progress: Progress) -> None:
        """A ``Progress`` listener: at most one update per ``interval`` (plus section ends)."""
        if not self.enabled:
            return
        now = self.clock()
        if event == "advance" and now - self._last < self.interval:
            return
        self._last = now
        self.update("running", progress_percent(progress), progress_message(progress))

    def update(self, status: str, percent: int | None, message: str) -> None:
        if not self.enabled:
            return
        data: dict[str, Any] = {
            "type": "plugin",
            "plugin": PLUGIN_KEY,
            "action": self.action,
            "status": status,
            "message": message,
        }
        if percent is not None:
            data["progress"] = percent
        self._post("update", data)

    def finish(self, ok: bool, message: str, *, timeout: float = 5.0) -> None:
        """The final update and a toast; waits up to ``timeout`` for them to go out."""
        if not self.enabled:
            return
        self.update("success" if ok else "error", 100, message)
        if self._notification is not None:
            self._post("notification", (ok, message))
        self.close(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every message posted so far was handled (sent, failed, or dropped by a
        disabled notifier); False if ``timeout`` passed first. The run never needs to wait: this
        is for a caller that must know a message went out before it goes on."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._sending, timeout)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the sender thread --------------------------------------------------------------------

    def _post(self, kind: str, payload: Any) -> None:
        with self._cond:
            if self._closed and self._thread is None:
                return
            # Keep only the newest progress update; never drop the final notification.
            self._pending = (
                [p for p in self._pending if p[0] != "update"] if kind == "update" else self._pending
            )
            self._pending.append((kind, payload))
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="vod2strm-notify", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closed:
                        self._cond.wait()
                    if not self._pending:
                        return
                    kind, payload = self._pending.pop(0)
                    self._sending = True
                try:
                    if self.enabled:
                        self._send(kind, payload)
                finally:
                    with self._cond:
                        self._sending = False
                        self._cond.notify_all()
        finally:
            _close_thread_connections()

    def _send(self, kind: str, payload: Any) -> None:
        try:
            # Only posted when the sender is there: updates while enabled, toasts by finish().
            if kind == "update":
                assert self._update is not None
                self._update("updates", "update", payload)
            else:
                assert self._notification is not None
                ok, message = payload
                self._notification(_notification(self.action, ok, message))
        except Exception as exc:
            self.failures += 1
            log.debug("could not push %s to Dispatcharr's UI: %s", kind, exc)
            if self.failures >= MAX_FAILURES:
                self.enabled = False
                log.info("not pushing progress to Dispatcharr's UI any more (%s)", exc)


def _notification(action: str, ok: bool, message: str) -> Any:
    """A SystemNotification row when Dispatcharr's model is there (dismissable), else a dict."""
    title = f"vod2strm: {action.replace('_', ' ')} {'finished' if ok else 'failed'}"
    fields = {
        "notification_type": "info" if ok else "warning",
        "priority": "high",
        "title": title[:255],
        "message": message,
        "action_data": {"plugin": PLUGIN_KEY, "action": action},
        "is_active": True,
        "admin_only": True,
    }
    key = f"{PLUGIN_KEY}-{action}-{int(time.time())}"
    try:
        from core.models import SystemNotification
        from django.utils import timezone

        return SystemNotification.objects.create(
            notification_key=key, expires_at=timezone.now() + dt.timedelta(days=1), **fields
        )
    except Exception as exc:
        log.debug("no SystemNotification row (%s); sending a plain notification", exc)
        return {
            "id": None,
            "notification_key": key,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            **fields,
        }


def _close_thread_connections() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:
        pass


def progress_percent(progress: Progress) -> int | None:
    section = progress.sections.get(progress.phase)
    if section is None or section.total <= 0:
        return None
    return max(0, min(100, int(100 * section.done / section.total)))


def progress_message(progress: Progress) -> str:
    section = progress.sections.get(progress.phase)
    if section is None:
        return progress.phase
    return f"{progress.phase}: {section.done}/{section.total}"
