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

Three more routes lead to the same requests (:func:`install_dispatcharr_hooks`, called when
Dispatcharr imports the plugin: in its web workers and, from 0.28 on, in every Celery worker
process):

- **The VOD refresh's end.** A ``celery.signals.task_postrun`` receiver sees
  ``apps.vod.tasks.refresh_vod_content`` return (it does all its work in its own task: no
  subtasks, no chord) and records a ``vod_refresh`` request through the plugin's own ``auto_run``
  action, as the event route does. The catalog is then as new as it gets, so a run whose newest
  request is that one waits only :data:`REFRESHED_QUIET_SECONDS` of quiet (to gather the ends of
  several accounts' refreshes) instead of the settle time. The receiver never raises into Celery and
  never runs a job in the worker.
- **The daily schedule** (``autorun_daily_at``): a Celery beat ``PeriodicTask`` (Dispatcharr's
  ``django_celery_beat`` database scheduler, through its ``core.scheduling`` helpers) registered,
  updated or removed whenever the plugin's settings are saved. A prefork worker's main process
  refuses a task it does not know, and Dispatcharr imports plugins only in the pool's processes, so
  the entry runs Celery's built-in ``celery.accumulate`` (a no-op that returns its arguments) with
  a marker keyword; the same receiver sees it end and records a ``schedule`` request. A scheduled
  run never skips an unchanged catalog.
- The settle wait stays the fallback: for ``m3u_refresh`` events, for the *Auto-run now* button,
  and for Dispatcharr versions whose workers do not import plugins (there the signal never fires).

Timing is injectable (``clock``, ``sleep`` via the cancel event, ``poll_seconds``) so tests run in
fractions of a second.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vod2strm import conf
from vod2strm.dispatcharr import control
from vod2strm.errors import ConfigError

log = logging.getLogger("vod2strm.dispatcharr.autorun")

REQUESTS_FILE = "autorun.json"
KEEP_EVENTS = 10
#: What each recorded event keeps of its payload.
EVENT_KEYS = ("account_name", "account_id", "state")

#: The requests' events: Dispatcharr's plugin event, the end of its VOD refresh, the daily schedule.
M3U_REFRESH = "m3u_refresh"
VOD_REFRESHED = "vod_refresh"
SCHEDULED = "schedule"
#: Quiet time after a finished VOD refresh: gathers the ends of several accounts' refreshes, and is
#: short next to the settle time (the refresh said it is done; the settle time guesses).
REFRESHED_QUIET_SECONDS = 5.0


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
    entry: dict[str, Any] = {"event": event, "at": time.time(), "seq": state["seq"]}
    for key in EVENT_KEYS:
        if payload and payload.get(key) not in (None, ""):
            entry[key] = payload[key] if isinstance(payload[key], int) else str(payload[key])
    state["events"] = [*state.get("events", []), entry][-KEEP_EVENTS:]
    control.write_json_atomic(_path(state_dir), state)
    return state


def pending_events(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The recorded events of the requests no run has taken yet (at most :data:`KEEP_EVENTS`)."""
    events = [e for e in state.get("events") or [] if isinstance(e, dict)]
    handled = int(state.get("handled", 0))
    if all("seq" in e for e in events):
        return [e for e in events if int(e["seq"]) > handled]
    count = pending(state)  # events recorded before they carried their number
    return events[-count:] if count else []


def latest_event(state: Mapping[str, Any]) -> str | None:
    """The event of the newest request, or None when none is pending."""
    events = pending_events(state)
    return str(events[-1].get("event") or "manual") if events else None


def quiet_seconds(event: str | None, settle_seconds: float) -> float:
    """How long the catalog must stay unchanged before a run for a request of ``event``."""
    if event == VOD_REFRESHED:
        return min(settle_seconds, REFRESHED_QUIET_SECONDS)
    return settle_seconds


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
    quiet: Callable[[Any], float] | None = None,
) -> Any:
    """Block until ``snapshot()`` and ``marker()`` stayed equal for ``settle_seconds``.

    Returns the settled snapshot, or None when ``cancel`` was set. ``marker`` is the request
    counter: a new request restarts the quiet period (another refresh is on its way). ``quiet``,
    when given, maps the current marker to the quiet period it needs instead of ``settle_seconds``
    (a finished VOD refresh needs less than a guess). After ``max_wait`` (default: 30 x the
    settle time, at least an hour) it returns anyway, so a catalog that never stops moving still
    gets a library. ``on_poll(stable_for, elapsed)`` reports progress; ``between_polls`` runs after
    each poll (the runner closes its database connection there rather than hold one open for
    minutes). ``sleep`` defaults to ``cancel.wait``.
    """
    limit = max(30 * settle_seconds, 3600.0) if max_wait is None else max_wait
    started = clock()
    last = (snapshot(), marker())
    needed = settle_seconds if quiet is None else quiet(last[1])
    stable_since = started
    while True:
        now = clock()
        if on_poll is not None:
            on_poll(now - stable_since, now - started)
        if now - stable_since >= needed or now - started >= limit:
            return last[0]
        if between_polls is not None:
            between_polls()
        poll = poll_interval(needed) if poll_seconds is None else poll_seconds
        (sleep or cancel.wait)(min(poll, max(needed - (now - stable_since), 0.0) or poll))
        if cancel.is_set():
            return None
        current = (snapshot(), marker())
        if current != last:
            last = current
            stable_since = clock()
            if quiet is not None:
                needed = quiet(current[1])


# -- Dispatcharr's hooks: the VOD refresh's end, the daily schedule -------------------------------------

#: Dispatcharr's VOD refresh (``apps/vod/tasks.py``): a ``@shared_task``, so Celery names it
#: ``<module>.<function>``; it is queued as ``refresh_vod_content.delay(account_id)``.
VOD_REFRESH_TASK = "apps.vod.tasks.refresh_vod_content"
#: Celery states of a ``task_postrun`` after which the task runs again or did not run.
NOT_ENDED_STATES = frozenset({"RETRY", "REJECTED", "IGNORED"})
#: What the daily beat entry (``PeriodicTask.name``) runs: Celery's built-in no-op, known to every
#: worker process (a plugin's own task is refused by the prefork main process, which never imports
#: plugins), with ``{SCHEDULE_MARKER: <plugin key>}`` as its keyword arguments.
SCHEDULE_NAME = "vod2strm-daily-generate"
SCHEDULE_CARRIER_TASK = "celery.accumulate"
SCHEDULE_MARKER = "vod2strm_daily"
#: Dispatcharr imports plugins in every Celery worker process from this version on.
WORKERS_IMPORT_PLUGINS_SINCE = (0, 28)

_POSTRUN_UID = "vod2strm.autorun.task_postrun"
_SAVED_UID = "vod2strm.autorun.plugin_config_saved"
_DELETED_UID = "vod2strm.autorun.plugin_config_deleted"


def install_dispatcharr_hooks() -> list[str]:
    """Connect the hooks that exist in this process; returns their names. Never raises.

    Called when Dispatcharr imports the plugin. Each hook is a small trampoline that imports this
    module again when it fires, so after a plugin reload the new code runs; connecting replaces the
    previous connection (a ``dispatch_uid``), and holds the receiver strongly (``weak=False``), as
    a reload drops the old module. Outside Dispatcharr (no Celery, no ``apps.plugins``) nothing is
    connected.
    """
    installed: list[str] = []
    try:
        signals: Any = importlib.import_module("celery.signals")
    except ImportError:
        signals = None
    if signals is not None:
        try:
            connect_task_postrun(signals.task_postrun)
            installed.append("task_postrun")
        except Exception:
            log.exception("vod2strm: could not connect to Celery's task_postrun")
    try:
        models = importlib.import_module("apps.plugins.models")
        config_model = models.PluginConfig
    except Exception:  # not inside Dispatcharr (no module, or its app is not installed)
        config_model = None
    if config_model is not None:
        try:
            connect_plugin_config(config_model)
            installed.append("plugin_config")
        except Exception:
            log.exception("vod2strm: could not watch the plugin's saved settings")
    return installed


def connect_task_postrun(signal: Any) -> None:
    signal.disconnect(dispatch_uid=_POSTRUN_UID)
    signal.connect(_task_postrun_receiver, weak=False, dispatch_uid=_POSTRUN_UID)


def connect_plugin_config(model: Any) -> None:
    from django.db.models.signals import post_delete, post_save

    post_save.disconnect(sender=model, dispatch_uid=_SAVED_UID)
    post_save.connect(_plugin_config_saved, sender=model, weak=False, dispatch_uid=_SAVED_UID)
    post_delete.disconnect(sender=model, dispatch_uid=_DELETED_UID)
    post_delete.connect(_plugin_config_deleted, sender=model, weak=False, dispatch_uid=_DELETED_UID)


def _task_postrun_receiver(
    sender: Any = None,
    task_id: str | None = None,
    task: Any = None,
    args: Any = None,
    kwargs: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_extra: Any,
) -> None:
    """Celery's ``task_postrun``, after every task of the worker: an attribute compare for the
    others. Never raises into Celery."""
    name = None
    try:
        name = getattr(task if task is not None else sender, "name", None)
        if name == VOD_REFRESH_TASK:
            from vod2strm.dispatcharr import autorun as live  # this module as it is now (reloads)

            live.vod_refresh_finished(task_id=task_id, args=args, kwargs=kwargs, retval=retval, state=state)
        elif name == SCHEDULE_CARRIER_TASK and isinstance(kwargs, Mapping) and SCHEDULE_MARKER in kwargs:
            from vod2strm.dispatcharr import autorun as live

            live.schedule_fired(kwargs[SCHEDULE_MARKER], state=state)
    except Exception:
        log.exception("vod2strm: could not request an auto-run after %s", name)


def _plugin_config_saved(sender: Any = None, instance: Any = None, **_kwargs: Any) -> None:
    _plugin_config_changed(instance, deleted=False)


def _plugin_config_deleted(sender: Any = None, instance: Any = None, **_kwargs: Any) -> None:
    _plugin_config_changed(instance, deleted=True)


def _plugin_config_changed(instance: Any, *, deleted: bool) -> None:
    """Never fails the save (Dispatcharr would answer the settings page with an error)."""
    try:
        if getattr(instance, "key", None) != plugin_key():
            return
        from vod2strm.dispatcharr import autorun as live

        log.info("vod2strm: %s", live.schedule_from_config(instance, deleted=deleted))
    except Exception:
        log.exception("vod2strm: could not update the daily schedule")


def plugin_key() -> str:
    """The plugin's key in Dispatcharr: its folder's name, as ``apps/plugins/loader.py`` makes it."""
    return control.package_dir().name.replace(" ", "_").lower()


def request_auto_run(
    event: str, payload: Mapping[str, Any], *, run_action: Callable[..., Any] | None = None
) -> dict[str, Any] | None:
    """Record an auto-run request through the plugin's ``auto_run`` action, as Dispatcharr's event
    dispatch does (``PluginManager.run_action``: the saved settings with the fields' defaults, and
    nothing when the plugin is disabled). It records, and starts a job process unless one runs.

    Returns the action's answer, or None when the plugin is disabled.
    """
    if run_action is None:
        run_action = importlib.import_module("apps.plugins.loader").PluginManager.get().run_action
    try:
        answer = run_action(plugin_key(), "auto_run", {"event": event, "payload": dict(payload)})
    except PermissionError:  # disabled since this worker imported it
        log.debug("vod2strm is disabled; %s ignored", event)
        return None
    answer = answer if isinstance(answer, dict) else {"status": "ok", "result": answer}
    log.info("vod2strm: %s: %s", event, answer.get("message"))
    return answer


def vod_refresh_finished(
    *,
    task_id: str | None = None,
    args: Any = None,
    kwargs: Any = None,
    retval: Any = None,
    state: str | None = None,
    run_action: Callable[..., Any] | None = None,
) -> dict[str, Any] | None:
    """``refresh_vod_content(account_id)`` returned: request a run.

    Whatever it returned: it catches its own errors and returns a sentence (``Batch VOD refresh
    completed ...``, ``VOD refresh failed: ...``), and a refresh that failed half-way has still
    changed the catalog. A run of an unchanged catalog is skipped by its snapshot anyway.
    """
    if state in NOT_ENDED_STATES:
        return None
    if isinstance(kwargs, Mapping) and "account_id" in kwargs:
        account = kwargs["account_id"]
    else:
        account = args[0] if args else None
    payload: dict[str, Any] = {"account_id": account, "state": state or "", "task_id": task_id or ""}
    if isinstance(retval, str):
        payload["result"] = retval[:200]
    return request_auto_run(VOD_REFRESHED, payload, run_action=run_action)


def schedule_fired(
    key: Any, *, state: str | None = "SUCCESS", run_action: Callable[..., Any] | None = None
) -> dict[str, Any] | None:
    """The daily beat entry ran (its marker names the plugin it is for): request a run. The plugin's
    ``auto_run`` checks that the schedule is still set."""
    if key != plugin_key() or state in NOT_ENDED_STATES:
        return None
    return request_auto_run(SCHEDULED, {"at": time.strftime("%Y-%m-%d %H:%M")}, run_action=run_action)


# -- the daily schedule's beat entry ----------------------------------------------------------------------


def parse_daily_at(value: Any) -> str:
    """``autorun_daily_at`` as ``HH:MM`` or ``""``; raises ConfigError naming the setting."""
    if value is None:
        return ""
    return conf._parse_time_of_day("autorun_daily_at", value, conf.SCHEMA["autorun_daily_at"])


def cron_for(daily_at: str) -> str:
    """``HH:MM`` as a five-field cron expression (``minute hour * * *``)."""
    hour, minute = daily_at.split(":")
    return f"{int(minute)} {int(hour)} * * *"


def dispatcharr_version() -> tuple[int, ...] | None:
    """Dispatcharr's version (its ``version.py``, on ``/app``), or None when unknown."""
    try:
        text = str(importlib.import_module("version").__version__)
    except Exception:
        return None
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def schedule_from_config(
    config: Any, *, deleted: bool = False, scheduling: Any = None, version: tuple[int, ...] | None = None
) -> str:
    """Bring the beat entry in line with the plugin's saved ``PluginConfig``; returns what it did."""
    raw = (getattr(config, "settings", None) or {}).get("autorun_daily_at")
    try:
        daily_at = parse_daily_at(raw)
    except ConfigError as exc:
        log.warning("vod2strm: %s; no daily run", exc)
        daily_at = ""
    enabled = bool(getattr(config, "enabled", False)) and not deleted
    version = dispatcharr_version() if version is None else version
    if enabled and daily_at and version is not None and version < WORKERS_IMPORT_PLUGINS_SINCE:
        log.warning(
            "vod2strm: Dispatcharr %s does not import plugins in its Celery workers; the daily run needs "
            "0.28 or later (or a cron line, see docs/dispatcharr.md)",
            ".".join(map(str, version)),
        )
        daily_at = ""
    return sync_daily_schedule(daily_at, enabled=enabled, scheduling=scheduling)


def sync_daily_schedule(daily_at: str, *, enabled: bool, scheduling: Any = None) -> str:
    """Create, update or remove the ``PeriodicTask`` :data:`SCHEDULE_NAME`.

    Through Dispatcharr's own ``core.scheduling`` helpers: ``update_or_create`` by name, one
    ``CrontabSchedule`` per time in Dispatcharr's system time zone, orphaned schedules removed.
    Saving the same settings again changes nothing.
    """
    if scheduling is None:
        scheduling = importlib.import_module("core.scheduling")
    if enabled and daily_at:
        scheduling.create_or_update_periodic_task(
            task_name=SCHEDULE_NAME,
            celery_task_path=SCHEDULE_CARRIER_TASK,
            kwargs={SCHEDULE_MARKER: plugin_key()},
            cron_expression=cron_for(daily_at),
            enabled=True,
        )
        return f"daily generate at {daily_at} ({SCHEDULE_NAME})"
    periodic = getattr(scheduling, "PeriodicTask", None)
    if periodic is None or periodic.objects.filter(name=SCHEDULE_NAME).exists():
        scheduling.delete_periodic_task(SCHEDULE_NAME)
        return f"daily generate removed ({SCHEDULE_NAME})"
    return "no daily generate"
