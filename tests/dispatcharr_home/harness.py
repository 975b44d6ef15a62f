"""Helpers for tests that drive the plugin the way Dispatcharr does, with real job processes."""

from __future__ import annotations

import logging
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

#: Seconds a job's ``Progress.advance`` sleeps (read by the sitecustomize hook in the child).
DELAY_ENV = "VOD2STRM_TEST_ADVANCE_DELAY"
#: File the fake ``core.utils`` appends its websocket calls to (one JSON line each).
WS_LOG_ENV = "VOD2STRM_TEST_WS_LOG"

SITECUSTOMIZE = '''
"""Test hook for vod2strm job processes: slows every progress step when asked to."""
import os
import time

_delay = float(os.environ.get("VOD2STRM_TEST_ADVANCE_DELAY") or 0)
if _delay:
    from vod2strm.jobs import progress as _progress

    _advance = _progress.Progress.advance

    def advance(self, name, items=1):
        time.sleep(_delay)
        return _advance(self, name, items)

    _progress.Progress.advance = advance
'''

FAKE_CORE_UTILS = '''
"""A stand-in for Dispatcharr's core.utils: records what the job pushes to the UI."""
import json
import os


def _log(kind, *args):
    path = os.environ.get("VOD2STRM_TEST_WS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "args": args}, default=str) + "\\n")


def send_websocket_update(group_name, event_type, data, collect_garbage=False):
    _log("update", group_name, event_type, data)


def send_websocket_notification(notification):
    _log("notification", notification)
'''


def database_url() -> str:
    """The test database as a DATABASE_URL, for job processes (SQLite file or PostgreSQL)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        assert name != ":memory:" and "mode=memory" not in name, "job processes need a file database"
        return f"sqlite:///{name}" if name.startswith("/") else f"sqlite:///{os.path.abspath(name)}"
    if connection.vendor == "postgresql":
        auth = ""
        if s.get("USER"):
            auth = quote(s["USER"], safe="")
            if s.get("PASSWORD"):
                auth += ":" + quote(str(s["PASSWORD"]), safe="")
            auth += "@"
        host = s.get("HOST") or "localhost"
        if host.startswith("/"):
            return f"postgres://{auth}/{quote(s['NAME'], safe='')}?host={quote(host, safe='')}"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"
    raise AssertionError(f"unsupported test database {connection.vendor}")


def write_hooks(folder: Path, *, fake_core: bool = True) -> Path:
    """A folder for the job's PYTHONPATH: the slow-down hook and (optionally) a fake core.utils."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    if fake_core:
        (folder / "core").mkdir(exist_ok=True)
        (folder / "core" / "__init__.py").write_text("")
        (folder / "core" / "utils.py").write_text(textwrap.dedent(FAKE_CORE_UTILS))
    return folder


def context(settings: dict[str, Any]) -> dict[str, Any]:
    """``run()``'s context exactly as Dispatcharr builds it."""
    from vod2strm.dispatcharr.plugin import Plugin

    return {
        "settings": settings,
        "logger": logging.getLogger("apps.plugins.loader"),
        "actions": {a["id"]: a for a in Plugin.actions},
    }


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


# -- Dispatcharr's declaration rules (apps/plugins/serializers.py, per docs/dispatcharr.md) ----------

FIELD_TYPES = {"string", "number", "boolean", "select", "text", "info"}
FIELD_KEYS = {
    "id", "label", "type", "default", "help_text", "description", "placeholder", "input_type",
    "min", "max", "step", "value", "options",
}  # fmt: skip
ACTION_KEYS = {
    "id",
    "label",
    "description",
    "confirm",
    "button_label",
    "button_variant",
    "button_color",
    "events",
}


def declaration_problems(fields: list[dict[str, Any]], actions: list[dict[str, Any]]) -> list[str]:
    """What Dispatcharr's serializers would drop or reject (an empty list when all is kept)."""
    problems = []
    for f in fields:
        where = f"field {f.get('id')!r}"
        if not isinstance(f.get("id"), str) or not f["id"]:
            problems.append(f"{where}: id required")
        if f.get("type") not in FIELD_TYPES:
            problems.append(f"{where}: type {f.get('type')!r}")
        problems += [f"{where}: unknown key {k!r}" for k in set(f) - FIELD_KEYS]
        for key in ("label", "help_text", "description", "placeholder", "input_type", "value"):
            if key in f and not isinstance(f[key], str):
                problems.append(f"{where}: {key} must be a string")
        for key in ("min", "max", "step"):
            if key in f and not isinstance(f[key], int | float):
                problems.append(f"{where}: {key} must be a number")
        for option in f.get("options", []):
            if set(option) != {"value", "label"} or not all(isinstance(v, str) for v in option.values()):
                problems.append(f"{where}: bad option {option!r}")
        if f.get("type") == "select" and f.get("default") not in {o["value"] for o in f.get("options", [])}:
            problems.append(f"{where}: default is not an option")
    for a in actions:
        where = f"action {a.get('id')!r}"
        for key in ("id", "label"):
            if not isinstance(a.get(key), str) or not a[key]:
                problems.append(f"{where}: {key} required")
        problems += [f"{where}: unknown key {k!r}" for k in set(a) - ACTION_KEYS]
        if "events" in a and not (
            isinstance(a["events"], list) and all(isinstance(e, str) for e in a["events"])
        ):
            problems.append(f"{where}: events must be a list of strings")
    return problems
