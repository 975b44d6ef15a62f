"""The Dispatcharr plugin: settings fields, action buttons, and ``run``/``stop``.

Dispatcharr instantiates :class:`Plugin` with no arguments and calls
``run(action, params, context)`` synchronously inside a gevent uWSGI web worker, with
``context = {"settings", "logger", "actions"}``. So ``run`` only validates settings and then
either answers at once (``status``, ``cancel``, ``stats``) or starts a job process
(:mod:`.control`, :mod:`.runner`) and returns; it answers ``{"status": "ok" | "error",
"message": ...}`` (plus ``data``) and never raises.

Settings: the fields are generated from the settings schema (:data:`vod2strm.conf.SCHEMA`), so
their ids are :class:`vod2strm.conf.Settings` field names; the settings among
``context["settings"]`` go to :func:`vod2strm.conf.load` as overrides (an unset or empty field keeps
the default).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vod2strm import conf

log = logging.getLogger("vod2strm.dispatcharr")


def _version() -> str:
    """``vod2strm.__version__``; read from the file when Dispatcharr's loader put a bare namespace
    module (without our ``__init__``'s globals) at ``sys.modules["vod2strm"]``."""
    import vod2strm

    version = getattr(vod2strm, "__version__", None)
    if isinstance(version, str):
        return version
    init = Path(__file__).resolve().parents[1] / "__init__.py"
    match = re.search(r"__version__\s*=\s*[\"']([^\"']+)", init.read_text(encoding="utf-8"))
    return match.group(1) if match else "0"


#: The plugin's own fields, which are no settings (they never reach the core).
ABOUT_FIELD: dict[str, Any] = {
    "id": "about",
    "type": "info",
    "label": "How vod2strm runs",
    "description": (
        "Generate, cleanup and episode fetches run in the background: press Status to follow "
        "one and Cancel to stop it (the next run continues where it stopped). Save settings "
        "before running."
    ),
}
AUTO_RUN_FIELD: dict[str, Any] = {
    "id": "auto_run",
    "label": "Generate after each M3U refresh",
    "type": "boolean",
    "default": False,
    "help_text": (
        "Generates when the VOD refresh that follows an M3U refresh has ended, or else once the VOD "
        "catalog has settled."
    ),
}

#: The settings fields come from the settings schema (:data:`vod2strm.conf.SCHEMA`).
FIELDS: list[dict[str, Any]] = conf.plugin_fields(
    insert_before={"output_root": [ABOUT_FIELD], "autorun_settle_seconds": [AUTO_RUN_FIELD]}
)

ACTIONS: list[dict[str, Any]] = [
    {
        "id": "generate_all",
        "label": "Generate library",
        "description": "Write .strm/.nfo files for all movies and series (only changed files are written).",
        "button_label": "Generate",
        "button_color": "green",
    },
    {
        "id": "generate_movies",
        "label": "Generate movies",
        "description": "Write the Movies folder only.",
        "button_label": "Movies",
    },
    {
        "id": "generate_series",
        "label": "Generate series",
        "description": "Write the TV Shows folder only.",
        "button_label": "Series",
    },
    {
        "id": "fetch_episodes",
        "label": "Fetch missing episodes",
        "description": "Ask the provider for the episodes of series that have none yet (rate-limited).",
        "button_label": "Fetch",
    },
    {
        "id": "notify_servers",
        "label": "Notify media servers",
        "description": (
            "Tell Jellyfin, Emby and Kodi (as set below) about the changes they have not been told "
            "about yet, or the last run's again. Runs do this by themselves after each change."
        ),
        "button_label": "Notify",
    },
    {
        "id": "status",
        "label": "Status",
        "description": "Progress of the current run, or how the last one ended.",
        "button_label": "Status",
    },
    {
        "id": "cancel",
        "label": "Cancel run",
        "description": "Stop the current run at a safe point; the next run continues where it stopped.",
        "button_label": "Cancel",
        "button_color": "orange",
    },
    {
        "id": "stats",
        "label": "Stats",
        "description": "Catalog counts per account, files in the library, recent runs.",
        "button_label": "Stats",
    },
    {
        "id": "cleanup_preview",
        "label": "Cleanup preview",
        "description": "List the files a cleanup would delete (dry run, deletes nothing).",
        "button_label": "Preview",
    },
    {
        "id": "cleanup",
        "label": "Cleanup",
        "description": "Delete files vod2strm wrote for titles no longer in the catalog.",
        "button_label": "Clean up",
        "button_color": "red",
        "confirm": {
            "required": True,
            "title": "Delete orphaned library files?",
            "message": (
                "Deletes only files vod2strm wrote whose titles left the catalog, and refuses when "
                "that would be a large share of the library. Run Cleanup preview to see the list."
            ),
        },
    },
    {
        "id": "auto_run",
        "label": "Auto-run",
        "description": (
            "Runs on each M3U refresh when enabled above: waits until the VOD catalog has settled, "
            "then generates. Press to do that now."
        ),
        "button_label": "Auto-run now",
        "events": ["m3u_refresh"],
    },
]

#: Actions that start a job process, and how answers name them.
BACKGROUND = {
    "generate_all": "Generate",
    "generate_movies": "Generate (movies)",
    "generate_series": "Generate (series)",
    "cleanup": "Cleanup",
    "cleanup_preview": "Cleanup preview",
    "fetch_episodes": "Fetch episodes",
}

#: Most seconds the in-request *Notify media servers* gives each server (Dispatcharr waits for it).
NOTIFY_SECONDS = 20.0

#: Plugin fields that are not Settings fields (they never reach the core).
PLUGIN_ONLY_FIELDS = (ABOUT_FIELD["id"], AUTO_RUN_FIELD["id"])


def ok(message: str, **data: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": "ok", "message": message}
    if data:
        answer["data"] = data
    return answer


def error(message: str, **data: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": "error", "message": message}
    if data:
        answer["data"] = data
    return answer


class Plugin:
    name = "vod2strm"
    version = _version()
    description = "Your VOD catalog as a Jellyfin/Emby/Kodi library of .strm and .nfo files."
    author = "vod2strm"
    fields = FIELDS
    actions = ACTIONS

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]] = {
            **{action: self._background(action) for action in BACKGROUND},
            "status": self._status,
            "cancel": self._cancel,
            "stats": self._stats,
            "notify_servers": self._notify,
            "auto_run": self._auto_run,
        }

    # -- Dispatcharr's entry points ---------------------------------------------------------------

    def run(
        self, action: str, params: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None
    ):
        context = context or {}
        logger = context.get("logger") or log
        handler = self._handlers.get(action)
        if handler is None:
            return error(f"unknown action {action!r}; known: {', '.join(self._handlers)}")
        try:
            return handler(params or {}, context)
        except Exception as exc:  # Dispatcharr would answer HTTP 500: say what failed instead
            logger.exception("vod2strm: action %s failed", action)
            return error(f"{action} failed: {exc}")

    def stop(self, context: Mapping[str, Any] | None = None) -> None:
        """Dispatcharr disables, deletes or reloads the plugin: cancel a running job."""
        try:
            answer = self._cancel({}, context or {})
            (context or {}).get("logger", log).info("vod2strm stop: %s", answer["message"])
        except Exception:
            log.exception("vod2strm: stop failed")

    # -- settings -------------------------------------------------------------------------------

    @staticmethod
    def _overrides(context: Mapping[str, Any]) -> dict[str, Any]:
        """The settings among Dispatcharr's saved values.

        Only settings go on: the saved dict also holds the plugin's own fields, and may keep the
        values of fields an older version had. Those are Dispatcharr's storage, not a user's typo,
        so they are left out rather than refused (``conf.build`` refuses unknown keys).
        """
        raw = context.get("settings") or {}
        return {k: v for k, v in dict(raw).items() if k in conf.SCHEMA and v is not None}

    def _load(self, context: Mapping[str, Any]) -> conf.Settings:
        """Validated settings, or raises ConfigError naming the field."""
        return conf.load(self._overrides(context))

    def _state_dir(self, context: Mapping[str, Any]) -> Path:
        """The state folder, even when some other setting is invalid (status and cancel must work)."""
        from vod2strm.errors import ConfigError

        try:
            return self._load(context).state_dir
        except ConfigError:
            from django.conf import settings as django_settings

            from vod2strm.catalog import resolver

            configured = (getattr(django_settings, "VOD2STRM", None) or {}).get("state_dir")
            state = self._overrides(context).get("state_dir") or configured
            return Path(str(state)) if state else resolver.default_state_dir()

    def _file_settings(self, context: Mapping[str, Any], settings) -> dict[str, Any]:
        """What the job process merges over ``settings.VOD2STRM``: the plugin's fields, and the
        state folder this answer used (so both sides agree on it)."""
        data = {
            k: v for k, v in self._overrides(context).items() if not (isinstance(v, str) and not v.strip())
        }
        data["state_dir"] = str(settings.state_dir)
        return data

    # -- actions --------------------------------------------------------------------------------

    def _background(self, action: str):
        def handler(params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
            return self._start(action, context)

        return handler

    def _start(self, action: str, context: Mapping[str, Any]) -> dict[str, Any]:
        import filelock

        from vod2strm.dispatcharr import control
        from vod2strm.errors import ConfigError

        try:
            settings = self._load(context)
        except ConfigError as exc:
            return error(str(exc), field=exc.field)
        try:
            with control.control_lock(settings.state_dir):
                # Our own job holds the output root's lock too: only without one is a holder "outside".
                outside = "" if control.running_job(settings.state_dir) else _outside_run(settings)[0]
                if outside:
                    return error(outside)
                job = control.start(
                    settings.state_dir, action, settings_overrides=self._file_settings(context, settings)
                )
        except control.AlreadyRunning as exc:
            return error(
                f"a run is already in progress ({exc}); press Status to follow it or Cancel to stop it.",
                job=exc.job,
            )
        except filelock.Timeout:
            return error("the plugin is busy starting or stopping a run; try again in a moment.")
        message = (
            f"{BACKGROUND[action]} started in the background (pid {job['pid']}). Press Status to follow it."
        )
        return ok(message + _base_url_note(settings, action), job=job)

    def _status(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        from vod2strm.dispatcharr import autorun, control
        from vod2strm.jobs.progress import read_status

        state_dir = self._state_dir(context)
        job = control.running_job(state_dir)
        status = read_status(state_dir)
        requests = autorun.read(state_dir)
        message = describe_status(job, status, requests)
        if job is None:
            try:
                outside, owner = _outside_run(self._load(context))
            except Exception:  # invalid settings: the plain status still helps
                outside, owner = "", None
            if outside:
                message = f"{outside[0].upper()}{outside[1:]}."
                current = status or {}
                live = current.get("state") in ("running", "waiting")
                if live and owner is not None and current.get("pid") == owner:
                    # That run writes the status file too (a CLI that reports progress there).
                    message += f" {describe_sections(current.get('sections') or {})}".rstrip()
                elif not live:
                    message += " " + describe_status(None, status, requests)
        return ok(
            message,
            running=job is not None,
            job=job,
            progress=status,
            autorun={"pending": autorun.pending(requests), "events": requests.get("events", [])},
            history=control.read_history(state_dir, limit=5),
        )

    def _cancel(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        from vod2strm.dispatcharr import autorun, control

        state_dir = self._state_dir(context)
        with control.control_lock(state_dir):
            job = control.running_job(state_dir)
            dropped = autorun.clear(state_dir)
            signalled = control.signal_job(job) if job else False
        if not job:
            extra = f" Dropped {dropped} queued auto-run request(s)." if dropped else ""
            return ok("Nothing is running." + extra)
        if not signalled:
            return ok(f"{control.describe_job(job)} has already ended.", job=job)
        return ok(
            f"Cancelling {control.describe_job(job)}: it stops at the next safe point, and the next "
            "run continues where it stopped.",
            job=job,
        )

    def _stats(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Fixed aggregate queries plus the local manifest: answered in the request."""
        import json

        from vod2strm import application
        from vod2strm.dispatcharr.runner import WORDING
        from vod2strm.errors import ConfigError

        try:
            settings = self._load(context)
        except ConfigError as exc:
            return error(str(exc), field=exc.field)
        outcome = application.guarded("stats", lambda: application.stats(settings))
        if outcome.error:
            return error(outcome.error)
        report = json.loads(json.dumps(outcome.data, default=str))
        return ok("\n".join(outcome.lines(WORDING)), report=report)

    def _notify(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """Tell the media servers now, in the request: a few small POSTs, each server within
        :data:`NOTIFY_SECONDS` (in parallel), so the answer never waits for a stalled server."""
        import json

        from vod2strm import application
        from vod2strm.dispatcharr.runner import WORDING
        from vod2strm.errors import ConfigError

        try:
            settings = self._load(context)
        except ConfigError as exc:
            return error(str(exc), field=exc.field)
        budget = min(NOTIFY_SECONDS, settings.notify_timeout * 3)
        outcome = application.guarded("notify", lambda: application.notify(settings, budget=budget))
        message = " ".join(outcome.lines(WORDING))
        summary = json.loads(json.dumps(outcome.data, default=str))
        return (ok if outcome.exit_code == 0 else error)(message, summary=summary)

    def _auto_run(self, params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        import filelock

        from vod2strm.dispatcharr import autorun, control
        from vod2strm.errors import ConfigError

        event = params.get("event")
        saved = context.get("settings") or {}
        if event == autorun.SCHEDULED:  # the daily schedule has a setting of its own
            if not str(saved.get("autorun_daily_at") or "").strip():
                return ok("The daily generate is off; ignoring the schedule. Set 'Daily generate at'.")
        elif event and not _truthy(saved.get("auto_run")):
            return ok(f"Auto-run is off; ignoring {event}. Turn on 'Generate after each M3U refresh'.")
        try:
            settings = self._load(context)
        except ConfigError as exc:
            return error(str(exc), field=exc.field)
        payload = params.get("payload") if isinstance(params.get("payload"), Mapping) else None
        trigger = str(event or "manual")
        try:
            with control.control_lock(settings.state_dir):
                requests = autorun.record(settings.state_dir, trigger, payload)
                job = control.running_job(settings.state_dir)
                file_settings = self._file_settings(context, settings)
                if job is not None:
                    # The running job re-reads the settings before its follow-up run.
                    control.write_json_atomic(control.paths(settings.state_dir).settings_file, file_settings)
                else:
                    job = control.start(
                        settings.state_dir, "auto_run", settings_overrides=file_settings, trigger=trigger
                    )
                    quiet = autorun.quiet_seconds(trigger, settings.autorun_settle_seconds)
                    return ok(
                        f"Auto-run started (pid {job['pid']}): it generates once the VOD catalog has "
                        f"not changed for {quiet:g} s.",
                        job=job,
                    )
        except filelock.Timeout:
            return error("the plugin is busy starting or stopping a run; try again in a moment.")
        return ok(
            f"A run is in progress ({control.describe_job(job)}); one auto-run follows when it ends "
            f"({autorun.pending(requests)} request(s) coalesced).",
            job=job,
        )


def _install_hooks() -> None:
    """Where Dispatcharr imports the plugin (its web workers, and from 0.28 on every Celery worker
    process), the VOD refresh's end and the daily schedule request auto-runs too."""
    from vod2strm.dispatcharr import autorun

    autorun.install_dispatcharr_hooks()


_install_hooks()


# -- answers ---------------------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _outside_run(settings) -> tuple[str, int | None]:
    """A run the plugin did not start (CLI, cron) holding the output root's lock: (text, pid)."""
    from vod2strm.output import lock

    if not lock.is_locked(settings.state_dir, settings.output_root):
        return "", None
    owner = lock.read_owner(settings.state_dir, settings.output_root) or {}
    pid = owner.get("pid") if isinstance(owner.get("pid"), int) else None
    text = (
        f"another vod2strm run{f' (pid {pid})' if pid else ''} outside the plugin (command line or cron) "
        f"is writing {settings.output_root}; try again when it has finished"
    )
    return text, pid


def _base_url_note(settings, action: str) -> str:
    if not action.startswith("generate") or settings.url_mode != "proxy":
        return ""
    host = urlsplit(settings.base_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return (
            f" Note: the .strm files point at {settings.base_url}; set 'Dispatcharr address for "
            "players' if your media server runs on another machine."
        )
    return ""


def _duration(seconds: float | None) -> str:
    from vod2strm.jobs.progress import format_duration

    return format_duration(seconds)


def describe_sections(sections: Mapping[str, Any]) -> str:
    parts = []
    for name, s in sections.items():
        text = f"{name} {s.get('done', 0)}/{s.get('total', 0)}"
        if s.get("status") == "running":
            extras = []
            if s.get("rate"):
                extras.append(f"{s['rate']:g}/s")
            if s.get("eta_seconds") is not None:
                extras.append(f"ETA {_duration(s['eta_seconds'])}")
            if extras:
                text += f" ({', '.join(extras)})"
        else:
            text += f" {s.get('status', '')}".rstrip()
        parts.append(text)
    return ", ".join(parts)


def describe_status(
    job: Mapping[str, Any] | None, status: Mapping[str, Any] | None, requests: Mapping[str, Any]
) -> str:
    """One paragraph for the toast: what runs now (with progress), or how the last run ended."""
    from vod2strm.dispatcharr import autorun, control

    status = status or {}
    queued = autorun.pending(requests)
    if job is not None:
        current = status.get("pid") == job.get("pid") and status.get("state") in ("running", "waiting")
        label = str(job.get("action", "job")).replace("_", " ")
        if current and status.get("state") == "waiting":
            text = (
                f"Auto-run (pid {job.get('pid')}): waiting for the VOD catalog to settle — unchanged for "
                f"{_duration(status.get('stable_seconds'))} of {_duration(status.get('settle_seconds'))}."
            )
        elif current:
            sections = describe_sections(status.get("sections") or {})
            phase = status.get("phase", "")
            text = f"Running {label} (pid {job.get('pid')})"
            text += f": {sections}." if sections else f": {phase}."
        else:
            text = f"Running {control.describe_job(job)}."
        if queued and not (current and status.get("state") == "waiting"):  # a waiter takes them itself
            text += " One auto-run follows when it ends."
        return text
    if status.get("state") in ("running", "waiting"):
        return (
            f"The last run ({status.get('action', 'job')}, pid {status.get('pid')}) stopped without "
            "finishing (killed or crashed); see plugin.log in the state folder. The next run resumes."
        )
    if status.get("state"):
        when = status.get("finished")
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(when)) if when else "?"
        action = str(status.get("action", "job")).replace("_", " ")
        return f"Idle. Last run: {action} {status['state']} at {at}. {status.get('message', '')}".strip()
    return "Idle. No run yet: press Generate."
