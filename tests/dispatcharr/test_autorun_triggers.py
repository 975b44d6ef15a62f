"""Auto-run's routes besides the ``m3u_refresh`` event: the end of Dispatcharr's VOD refresh (a
Celery ``task_postrun`` receiver) and the daily schedule (a Celery beat ``PeriodicTask``).

Dispatcharr itself is not installed here. Its pieces these routes touch are stood in for with the
behaviour read from its source (``apps/plugins/loader.py``'s ``PluginManager.run_action``,
``core/scheduling.py``'s ``create_or_update_periodic_task``/``delete_periodic_task``, Celery's
``Signal.connect``/``disconnect`` with a ``dispatch_uid``); ``test_names_line_up_with_dispatcharr``
checks the names against a Dispatcharr checkout when ``DISPATCHARR_SRC`` points at one, and the
Celery objects when Celery is installed. What was run against a real Dispatcharr is in
docs/dispatcharr.md.
"""

from __future__ import annotations

import ast
import logging
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from tests.dispatcharr.test_plugin import FakeTime, Jobs, _strm_count
from tests.dispatcharr_home import harness
from tests.library_helpers import small_catalog, tree
from vod2strm import conf
from vod2strm.dispatcharr import autorun, control
from vod2strm.dispatcharr.plugin import Plugin
from vod2strm.errors import ConfigError

REFRESH_DONE = "Batch VOD refresh completed for account Main in 12.34 seconds"


class Task:
    """What Celery hands ``task_postrun`` as ``sender`` and ``task``: the task, with its name."""

    def __init__(self, name: str):
        self.name = name


def postrun(name: str = autorun.VOD_REFRESH_TASK, state: str = "SUCCESS", account_id: int = 7, **extra):
    """Fire the receiver as Celery's tracer does (``celery/app/trace.py``: ``send_postrun``)."""
    task = Task(name)
    kwargs = {
        "sender": task,
        "task_id": "3b1f0c2e",
        "task": task,
        "args": [account_id],
        "kwargs": {},
        "retval": REFRESH_DONE,
        "state": state,
        "signal": object(),
    }
    kwargs.update(extra)
    return autorun._task_postrun_receiver(**kwargs)


class Loader:
    """``apps.plugins.loader.PluginManager`` as far as these routes use it: ``run_action`` builds
    the context from the saved settings plus the fields' defaults, and refuses a disabled plugin
    with ``PermissionError`` (apps/plugins/loader.py)."""

    def __init__(self, settings: dict[str, Any], *, enabled: bool = True, run=None):
        self.saved = settings
        self.enabled = enabled
        self.calls: list[tuple[str, str, dict]] = []
        self.answers: list[Any] = []
        self.plugin = Plugin()
        self.run = run

    def get(self):
        return self

    def run_action(self, key: str, action_id: str, params: dict | None = None) -> dict:
        self.calls.append((key, action_id, dict(params or {})))
        if not self.enabled:
            raise PermissionError(f"Plugin '{key}' is disabled")
        defaults = {f["id"]: f["default"] for f in self.plugin.fields if "default" in f}
        context = harness.context({**defaults, **self.saved})
        answer = (self.run or self.plugin.run)(action_id, params or {}, context)
        self.answers.append(answer)
        return answer


@pytest.fixture
def loader(tmp_path, monkeypatch):
    """A stand-in ``apps.plugins.loader`` in ``sys.modules``; jobs are recorded, not started."""
    state = tmp_path / "state"
    fake = Loader({"output_root": str(tmp_path / "lib"), "state_dir": str(state), "auto_run": True})
    _install_module(monkeypatch, "apps.plugins.loader", PluginManager=fake)
    started: list[dict] = []

    def start(state_dir, action, *, settings_overrides=None, trigger="manual", python=None):
        job = {"pid": 4242, "action": action, "trigger": trigger, "started": 0.0}
        started.append(job)
        return job

    monkeypatch.setattr(control, "start", start)
    fake.started = started  # type: ignore[attr-defined]
    fake.state = state  # type: ignore[attr-defined]
    return fake


def _install_module(monkeypatch, dotted: str, **attrs) -> types.ModuleType:
    """``dotted`` (and its parents) as stand-in modules in ``sys.modules`` for this test."""
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent not in sys.modules:
            monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    module = types.ModuleType(dotted)
    for name, value in attrs.items():
        setattr(module, name, value)
    monkeypatch.setitem(sys.modules, dotted, module)
    return module


# -- the VOD refresh's end ----------------------------------------------------------------------------


def test_the_vod_refresh_end_records_a_request_and_starts_a_job(loader):
    assert postrun() is None  # a signal receiver returns nothing to Celery
    assert loader.calls == [
        (
            "vod2strm",
            "auto_run",
            {
                "event": "vod_refresh",
                "payload": {
                    "account_id": 7,
                    "state": "SUCCESS",
                    "task_id": "3b1f0c2e",
                    "result": REFRESH_DONE,
                },
            },
        )
    ]
    requests = autorun.read(loader.state)
    assert autorun.pending(requests) == 1
    assert [(e["event"], e["account_id"], e["state"]) for e in requests["events"]] == [
        ("vod_refresh", 7, "SUCCESS")
    ]
    assert loader.started == [{"pid": 4242, "action": "auto_run", "trigger": "vod_refresh", "started": 0.0}]
    assert loader.answers[0]["message"] == (
        "Auto-run started (pid 4242): it generates once the VOD catalog has not changed for 5 s."
    )


def test_the_account_id_comes_from_args_or_kwargs_and_a_failed_refresh_still_counts(loader):
    postrun(args=[], kwargs={"account_id": 9}, retval="VOD refresh failed: timed out", state="SUCCESS")
    postrun(state="FAILURE", retval=RuntimeError("boom"), account_id=3)
    payloads = [call[2]["payload"] for call in loader.calls]
    assert [(p["account_id"], p["state"], p.get("result")) for p in payloads] == [
        (9, "SUCCESS", "VOD refresh failed: timed out"),
        (3, "FAILURE", None),
    ]
    assert autorun.pending(autorun.read(loader.state)) == 2


@pytest.mark.parametrize(
    "name",
    [
        "apps.vod.tasks.batch_refresh_series_episodes",
        "apps.vod.tasks.cleanup_orphaned_vod_content",
        "apps.m3u.tasks.refresh_single_m3u_account",
        "core.tasks.scan_and_process_files",
        "refresh_vod_content",
    ],
)
def test_other_tasks_are_ignored(loader, name):
    postrun(name)
    assert loader.calls == [] and autorun.pending(autorun.read(loader.state)) == 0


@pytest.mark.parametrize("state", sorted(autorun.NOT_ENDED_STATES))
def test_a_refresh_that_runs_again_or_did_not_run_is_ignored(loader, state):
    postrun(state=state)
    assert loader.calls == []


def test_a_sender_without_task_still_works_and_a_nameless_one_is_ignored(loader):
    autorun._task_postrun_receiver(sender=Task(autorun.VOD_REFRESH_TASK), args=(5,), state="SUCCESS")
    autorun._task_postrun_receiver(sender=object(), args=(5,), state="SUCCESS")
    autorun._task_postrun_receiver()
    assert [c[2]["payload"]["account_id"] for c in loader.calls] == [5]


def test_auto_run_off_or_a_disabled_plugin_records_nothing(loader):
    loader.saved["auto_run"] = False
    postrun()
    assert loader.answers[-1]["message"] == (
        "Auto-run is off; ignoring vod_refresh. Turn on 'Generate after each M3U refresh'."
    )
    loader.saved["auto_run"] = True
    loader.enabled = False
    postrun()
    assert len(loader.calls) == 2 and len(loader.answers) == 1
    assert autorun.pending(autorun.read(loader.state)) == 0 and loader.started == []


@pytest.mark.parametrize("failure", ["run_action raises", "the loader is missing", "the recording fails"])
def test_a_failing_handler_never_raises_into_celery(loader, monkeypatch, caplog, failure):
    if failure == "run_action raises":
        loader.run = lambda *a: (_ for _ in ()).throw(RuntimeError("database is gone"))
    elif failure == "the loader is missing":
        monkeypatch.delitem(sys.modules, "apps.plugins.loader")
    else:
        monkeypatch.setattr(autorun, "record", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR):
        assert postrun() is None
    if failure == "the recording fails":  # the plugin answers an error (and logs it), as for any action
        assert loader.answers == [{"status": "error", "message": "auto_run failed: division by zero"}]
    else:
        assert "could not request an auto-run after apps.vod.tasks.refresh_vod_content" in caplog.text
    assert loader.started == [] and autorun.pending(autorun.read(loader.state)) == 0


def test_the_receiver_uses_the_module_as_it_is_now(loader, monkeypatch):
    """After a plugin reload the receiver connected first still runs the new code."""
    seen = []
    monkeypatch.setattr(autorun, "vod_refresh_finished", lambda **kw: seen.append(kw["args"]))
    postrun()
    assert seen == [[7]] and loader.calls == []


class Signal:
    """Celery's ``Signal.connect``/``disconnect`` with a ``dispatch_uid``: a uid connected already
    keeps its first receiver (celery/utils/dispatch/signal.py)."""

    def __init__(self):
        self.receivers: list[tuple[str, Any, bool]] = []

    def connect(self, receiver, sender=None, weak=True, dispatch_uid=None):
        if not any(uid == dispatch_uid for uid, _, _ in self.receivers):
            self.receivers.append((dispatch_uid, receiver, weak))
        return receiver

    def disconnect(self, receiver=None, sender=None, weak=None, dispatch_uid=None):
        self.receivers = [r for r in self.receivers if r[0] != dispatch_uid]

    def send(self, sender, **named):
        for _uid, receiver, _weak in self.receivers:
            receiver(signal=self, sender=sender, **named)


def test_installing_twice_keeps_one_strong_receiver_the_newest(monkeypatch):
    signal = Signal()
    _install_module(monkeypatch, "celery.signals", task_postrun=signal)
    assert autorun.install_dispatcharr_hooks() == ["task_postrun"]
    first = signal.receivers[0][1]
    monkeypatch.setattr(autorun, "_task_postrun_receiver", lambda **kw: None)  # a reloaded module
    assert autorun.install_dispatcharr_hooks() == ["task_postrun"]
    assert len(signal.receivers) == 1
    uid, receiver, weak = signal.receivers[0]
    assert receiver is not first and weak is False and uid == "vod2strm.autorun.task_postrun"


def test_outside_dispatcharr_nothing_is_installed():
    try:
        import celery  # noqa: F401
    except ImportError:
        assert autorun.install_dispatcharr_hooks() == []
    else:  # Celery without Dispatcharr: the receiver and the task, no settings hook
        assert autorun.install_dispatcharr_hooks() == ["task_postrun"]
        _disconnect_celery()


def _disconnect_celery() -> None:
    if "celery.signals" in sys.modules and hasattr(sys.modules["celery.signals"], "task_postrun"):
        sys.modules["celery.signals"].task_postrun.disconnect(dispatch_uid="vod2strm.autorun.task_postrun")


# -- a request while a job runs, and the sequence, with real job processes ----------------------


@pytest.fixture
def jobs(tmp_path, monkeypatch, transactional_db):
    j = Jobs(tmp_path, monkeypatch)
    _install_module(monkeypatch, "apps.plugins.loader", PluginManager=Loader(j.settings, run=j.plugin.run))
    yield j
    j.kill_all()


def test_refresh_ends_during_a_run_coalesce_into_one_follow_up_run(jobs):
    small_catalog(movies=10, series=1, episodes=2)
    jobs.slow(0.3)
    jobs.run("generate_all")
    harness.wait_for(lambda: jobs.progress_done() > 0, what="progress")
    for account in (1, 2, 3):
        postrun(account_id=account)
    assert autorun.pending(autorun.read(jobs.state)) == 3
    assert "One auto-run follows when it ends." in jobs.status()["message"]
    jobs.slow(0)
    jobs.wait_idle()
    history = jobs.history()
    assert [(h["action"], h["trigger"], h["state"]) for h in history] == [
        ("generate_all", "manual", "finished"),
        ("generate_all", "vod_refresh", "finished"),
    ], jobs.log()
    assert autorun.pending(autorun.read(jobs.state)) == 0


def test_a_vod_refresh_that_starts_after_the_settle_wait_still_gets_its_run(jobs):
    """The issue: ``m3u_refresh`` comes before the VOD refresh is even queued; a busy queue starts
    it after the settle wait, whose run read the old catalog. Its end now asks for another run,
    which waits seconds, not the settle time."""
    account, _, _ = small_catalog(movies=2, series=0)
    jobs.run("auto_run", {"event": "m3u_refresh", "payload": {"account_name": "Main"}})
    jobs.wait_idle()
    assert [(h["action"], h["trigger"]) for h in jobs.history()] == [("generate_all", "m3u_refresh")]
    assert _strm_count(jobs.root) == 2

    from tests.factories import M3UMovieRelationFactory, MovieFactory

    # The VOD refresh runs late: it adds a movie, then returns.
    M3UMovieRelationFactory(movie=MovieFactory(name="Late Refresh", year=2025), m3u_account=account)
    jobs.settings["autorun_settle_seconds"] = 600  # only the refresh's end can make this quick
    postrun(account_id=account.pk)
    final = jobs.wait_idle(timeout=60)
    assert final["data"]["progress"]["exit"] == 0, jobs.log()
    assert any("Late Refresh (2025)" in p for p in tree(jobs.root))
    assert [(h["action"], h["trigger"]) for h in jobs.history()][-1] == ("generate_all", "vod_refresh")


# -- waiting: a finished refresh needs a short quiet period; the settle wait is unchanged otherwise ------


def test_quiet_period_per_event():
    assert autorun.quiet_seconds("m3u_refresh", 120) == 120
    assert autorun.quiet_seconds("manual", 120) == autorun.quiet_seconds(None, 120) == 120
    assert autorun.quiet_seconds("schedule", 120) == 120
    assert autorun.quiet_seconds("vod_refresh", 120) == autorun.REFRESHED_QUIET_SECONDS
    assert autorun.quiet_seconds("vod_refresh", 2) == 2  # never longer than the settle time


def _wait(marker, settle=100.0, snapshot=lambda: "same"):
    t = FakeTime()
    autorun.wait_until_settled(
        snapshot,
        settle,
        cancel=threading.Event(),
        poll_seconds=1.0,
        clock=t.clock,
        sleep=t.sleep,
        marker=lambda: marker(t.now),
        quiet=lambda mark: autorun.quiet_seconds(mark[1], settle),
    )
    return t.now


def test_a_finished_refresh_shortens_the_wait_and_a_later_event_lengthens_it_again():
    # m3u_refresh at 0; the VOD refresh ends at t=8: settled 5 s later, not 100 s.
    assert 13 <= _wait(lambda now: (1, "m3u_refresh") if now < 8 else (2, "vod_refresh")) <= 14
    # ...but another account's m3u_refresh after it needs the settle time again.
    marks = lambda now: (1, "vod_refresh") if now < 3 else (2, "m3u_refresh")  # noqa: E731
    assert 103 <= _wait(marks) <= 104
    # A catalog still moving after the end (another account's refresh) keeps the waiter waiting.
    moving = _wait(lambda now: (1, "vod_refresh"), snapshot=iter(range(10**6)).__next__)
    assert moving >= 3000  # until max_wait: 30 x settle


def test_the_settle_wait_without_signals_is_unchanged():
    """No ``quiet``: the settle time alone, as before (m3u_refresh, the button, old Dispatcharr)."""
    assert 100 <= _wait(lambda now: (1, "m3u_refresh")) <= 101
    t = FakeTime()
    autorun.wait_until_settled(
        lambda: min(int(t.now), 30),
        10.0,
        cancel=threading.Event(),
        poll_seconds=1.0,
        clock=t.clock,
        sleep=t.sleep,
    )
    assert 40.0 <= t.now <= 41.0


def test_pending_events_and_the_newest(tmp_path):
    assert autorun.latest_event(autorun.read(tmp_path)) is None
    autorun.record(tmp_path, "m3u_refresh", {"account_name": "A"})
    autorun.record(tmp_path, "vod_refresh", {"account_id": 7, "state": "SUCCESS", "task_id": "x"})
    state = autorun.read(tmp_path)
    assert [e["seq"] for e in autorun.pending_events(state)] == [1, 2]
    assert autorun.latest_event(state) == "vod_refresh"
    assert "task_id" not in state["events"][-1]
    autorun.take(tmp_path)
    assert autorun.pending_events(autorun.read(tmp_path)) == []
    legacy = {"seq": 3, "handled": 1, "events": [{"event": "m3u_refresh"}] * 3}  # before events had seq
    assert len(autorun.pending_events(legacy)) == 2


# -- the daily schedule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("03:30", "03:30"), (" 3:05 ", "03:05"), ("00:00", "00:00"), ("23:59", "23:59"), ("", "")],
)
def test_daily_time_setting_accepts_hh_mm(tmp_path, value, expected):
    settings = conf.build(
        {"output_root": tmp_path / "l", "state_dir": tmp_path / "s", "autorun_daily_at": value}
    )
    assert settings.autorun_daily_at == expected


@pytest.mark.parametrize("value", ["24:00", "12:60", "noon", "3", "03:3", "03:30:00", "-1:00", "0330"])
def test_daily_time_setting_refuses_anything_else_naming_the_field(tmp_path, value):
    with pytest.raises(ConfigError) as caught:
        conf.build({"output_root": tmp_path / "l", "state_dir": tmp_path / "s", "autorun_daily_at": value})
    assert str(caught.value).startswith("autorun_daily_at: must be a time of day as HH:MM")
    answer = Plugin().run(
        "auto_run", {}, harness.context({"output_root": str(tmp_path / "l"), "autorun_daily_at": value})
    )
    assert answer["status"] == "error" and answer["message"].startswith("autorun_daily_at: ")


def test_daily_time_is_a_plugin_field_after_the_settle_time():
    fields = [f["id"] for f in Plugin.fields]
    assert fields.index("autorun_daily_at") == fields.index("autorun_settle_seconds") + 1
    field = next(f for f in Plugin.fields if f["id"] == "autorun_daily_at")
    assert (field["type"], field["default"], field["placeholder"]) == ("string", "", "03:30")
    assert harness.declaration_problems(Plugin.fields, Plugin.actions) == []


class Beat:
    """``core.scheduling`` (Dispatcharr): ``create_or_update_periodic_task`` is an
    ``update_or_create`` by name with a ``get_or_create`` of the crontab (in the system time zone);
    ``delete_periodic_task`` deletes by name and logs a warning when there is none."""

    def __init__(self):
        self.tasks: dict[str, dict] = {}
        self.crontabs: set[str] = set()
        self.writes = 0
        self.missing_deletes = 0
        beat = self

        class Query:
            def __init__(self, name):
                self.name = name

            def exists(self):
                return self.name in beat.tasks

        class Objects:
            def filter(self, name):
                return Query(name)

        self.PeriodicTask = types.SimpleNamespace(objects=Objects())

    def create_or_update_periodic_task(self, task_name, celery_task_path, kwargs=None, interval_hours=0,
                                       cron_expression="", enabled=True):  # fmt: skip
        self.writes += 1
        self.crontabs.add(cron_expression)
        self.tasks[task_name] = {
            "task": celery_task_path,
            "kwargs": kwargs,
            "cron": cron_expression,
            "enabled": enabled,
        }
        self.crontabs &= {t["cron"] for t in self.tasks.values()}  # orphans removed

    def delete_periodic_task(self, task_name):
        if self.tasks.pop(task_name, None) is None:
            self.missing_deletes += 1
            return False
        self.crontabs &= {t["cron"] for t in self.tasks.values()}
        return True


class Config:
    """A ``PluginConfig`` row as the settings page saves it."""

    def __init__(self, daily_at: Any = "", enabled: bool = True, key: str = "vod2strm"):
        self.key = key
        self.enabled = enabled
        self.settings = {"output_root": "/data/lib", "autorun_daily_at": daily_at, "auto_run": False}


def test_saving_the_settings_registers_the_daily_run_once_and_keeps_it_in_line():
    beat = Beat()

    def sync(config, **kw):
        return autorun.schedule_from_config(config, scheduling=beat, version=(0, 29, 0), **kw)

    assert sync(Config("3:30")) == "daily generate at 03:30 (vod2strm-daily-generate)"
    assert sync(Config("03:30")) == "daily generate at 03:30 (vod2strm-daily-generate)"
    assert beat.tasks == {
        "vod2strm-daily-generate": {
            "task": "celery.accumulate",
            "kwargs": {"vod2strm_daily": "vod2strm"},
            "cron": "30 3 * * *",
            "enabled": True,
        }
    }
    assert beat.crontabs == {"30 3 * * *"}
    sync(Config("22:05"))
    assert beat.tasks["vod2strm-daily-generate"]["cron"] == "5 22 * * *" and beat.crontabs == {"5 22 * * *"}
    assert sync(Config("")) == "daily generate removed (vod2strm-daily-generate)"
    assert sync(Config("")) == "no daily generate" and beat.missing_deletes == 0
    sync(Config("04:00"))
    assert sync(Config("04:00", enabled=False)) == "daily generate removed (vod2strm-daily-generate)"
    sync(Config("04:00"))
    assert sync(Config("04:00"), deleted=True).startswith("daily generate removed")
    assert beat.tasks == {} and beat.crontabs == set()


def test_an_invalid_time_or_an_old_dispatcharr_registers_nothing(caplog):
    beat = Beat()
    autorun.schedule_from_config(Config("04:00"), scheduling=beat, version=(0, 29, 0))
    with caplog.at_level(logging.WARNING, logger="vod2strm"):
        autorun.schedule_from_config(Config("25:00"), scheduling=beat, version=(0, 29, 0))
    assert beat.tasks == {} and "autorun_daily_at: must be a time of day" in caplog.text
    with caplog.at_level(logging.WARNING, logger="vod2strm"):
        autorun.schedule_from_config(Config("04:00"), scheduling=beat, version=(0, 27, 3))
    assert beat.tasks == {} and "needs 0.28 or later" in caplog.text
    autorun.schedule_from_config(Config(None), scheduling=beat, version=None)  # field never saved
    assert beat.tasks == {}


def test_the_plugin_config_signals_drive_the_schedule(monkeypatch, caplog):
    """``post_save``/``post_delete`` of Dispatcharr's ``PluginConfig``: only our key, never failing
    the save."""
    from django.db.models.signals import post_delete, post_save

    class PluginConfig:  # a sender; the signals never look inside it
        pass

    beat = Beat()
    _install_module(monkeypatch, "apps.plugins.models", PluginConfig=PluginConfig)
    _install_module(
        monkeypatch,
        "core.scheduling",
        create_or_update_periodic_task=beat.create_or_update_periodic_task,
        delete_periodic_task=beat.delete_periodic_task,
        PeriodicTask=beat.PeriodicTask,
    )
    _install_module(monkeypatch, "version", __version__="0.29.0")
    try:
        assert "plugin_config" in autorun.install_dispatcharr_hooks()
        assert "plugin_config" in autorun.install_dispatcharr_hooks()  # reconnects, never twice
        post_save.send(sender=PluginConfig, instance=Config("05:15"), created=False)
        assert beat.writes == 1 and beat.tasks["vod2strm-daily-generate"]["cron"] == "15 5 * * *"
        post_save.send(sender=PluginConfig, instance=Config("06:00", key="another_plugin"), created=False)
        assert beat.writes == 1
        post_delete.send(sender=PluginConfig, instance=Config("05:15"))
        assert beat.tasks == {}
        monkeypatch.setattr(
            sys.modules["core.scheduling"], "create_or_update_periodic_task", lambda **kw: 1 / 0
        )
        with caplog.at_level(logging.ERROR, logger="vod2strm"):
            post_save.send(sender=PluginConfig, instance=Config("05:15"), created=False)  # does not raise
        assert "could not update the daily schedule" in caplog.text
    finally:
        post_save.disconnect(sender=PluginConfig, dispatch_uid="vod2strm.autorun.plugin_config_saved")
        post_delete.disconnect(sender=PluginConfig, dispatch_uid="vod2strm.autorun.plugin_config_deleted")
        _disconnect_celery()


def fire_schedule(key: str = "vod2strm", state: str = "SUCCESS"):
    """Beat's entry ran: Celery's ``celery.accumulate`` with our marker, as a worker runs it."""
    task = Task(autorun.SCHEDULE_CARRIER_TASK)
    kwargs = {"vod2strm_daily": key}
    return autorun._task_postrun_receiver(
        sender=task, task_id="d1", task=task, args=[], kwargs=kwargs, retval=(), state=state
    )


def test_the_daily_entry_requests_a_run_only_while_the_schedule_is_set(loader):
    loader.saved.update(auto_run=False, autorun_daily_at="")
    fire_schedule()
    assert loader.answers[-1]["message"] == (
        "The daily generate is off; ignoring the schedule. Set 'Daily generate at'."
    )
    assert autorun.pending(autorun.read(loader.state)) == 0
    loader.saved["autorun_daily_at"] = "03:30"  # auto_run stays off: the schedule is its own switch
    fire_schedule()
    assert loader.answers[-1]["message"].startswith("Auto-run started (pid 4242)")
    assert [e["event"] for e in autorun.read(loader.state)["events"]] == ["schedule"]
    assert loader.started[-1]["trigger"] == "schedule"
    calls = len(loader.calls)
    fire_schedule(key="another_plugin")  # another plugin's entry, or a failed or retried run
    fire_schedule(state="RETRY")
    autorun._task_postrun_receiver(sender=Task("celery.accumulate"), args=[1], kwargs={}, state="SUCCESS")
    assert len(loader.calls) == calls
    loader.enabled = False
    fire_schedule()
    assert len(loader.answers) == 2  # refused as disabled: no answer, no request


def test_a_failing_daily_entry_never_raises_into_celery(loader, caplog):
    loader.saved["autorun_daily_at"] = "03:30"
    loader.run = lambda *a: 1 / 0
    with caplog.at_level(logging.ERROR):
        assert fire_schedule() is None
    assert "could not request an auto-run after celery.accumulate" in caplog.text


@pytest.mark.django_db(transaction=True)  # the job closes its connections after each action
@pytest.mark.parametrize(("event", "generates"), [("schedule", True), ("m3u_refresh", False)])
def test_a_scheduled_run_generates_even_an_unchanged_catalog(
    tmp_path, settings, monkeypatch, event, generates
):
    import vod2strm.__main__ as entry
    from vod2strm.dispatcharr import runner

    monkeypatch.setattr(entry, "_base_vod2strm", None)
    small_catalog(movies=2, series=0)
    state = tmp_path / "state"
    settings.VOD2STRM = {
        **settings.VOD2STRM,
        "state_dir": str(state),
        "output_root": str(tmp_path / "library"),
        "autorun_settle_seconds": 0,
        "writer_process": False,
    }
    monkeypatch.setattr(autorun, "catalog_snapshot", lambda: [[1, 2, "same", "same"]])
    autorun.remember_snapshot(state, [[1, 2, "same", "same"]])
    autorun.record(state, event)
    assert runner.Job("auto_run", state).run() == 0
    last = control.read_history(state)[-1]
    assert (last["action"], last["trigger"]) == ("generate_all" if generates else "auto_run", event)
    assert _strm_count(tmp_path / "library") == (2 if generates else 0)


# -- the names, against Dispatcharr's source and Celery ---------------------------------------------------


def _function(tree_: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in tree_.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.skipif(not os.environ.get("DISPATCHARR_SRC"), reason="DISPATCHARR_SRC: a Dispatcharr checkout")
def test_names_line_up_with_dispatcharr():
    """What the routes rely on, read from Dispatcharr's source (the commit docs/dispatcharr.md names)."""
    src = Path(os.environ["DISPATCHARR_SRC"])
    parse = lambda rel: ast.parse((src / rel).read_text(encoding="utf-8"))  # noqa: E731

    vod = parse("apps/vod/tasks.py")
    refresh = _function(vod, "refresh_vod_content")
    assert [ast.unparse(d) for d in refresh.decorator_list] == ["shared_task"]  # name: module.function
    assert ".".join(("apps", "vod", "tasks", refresh.name)) == autorun.VOD_REFRESH_TASK
    assert [a.arg for a in refresh.args.args] == ["account_id"]
    # It does its work in its own task: the helpers are called, never queued; no group or chord.
    called = _calls(refresh)
    assert {
        "refresh_categories",
        "refresh_movies",
        "refresh_series",
        "cleanup_orphaned_vod_content",
    } <= called
    assert not called & {"delay", "apply_async", "group", "chord", "chain", "signature", "s", "si"}
    for helper in ("refresh_movies", "refresh_series", "refresh_categories"):
        assert not _calls(_function(vod, helper)) & {"delay", "apply_async", "group", "chord"}

    m3u = (src / "apps/m3u/tasks.py").read_text(encoding="utf-8")
    emitted, queued = (
        m3u.index("event_type='m3u_refresh'"),
        m3u.index("refresh_vod_content.delay(account_id)"),
    )
    assert emitted < queued  # the plugin event comes before the VOD refresh is even queued

    celery_py = (src / "dispatcharr/celery.py").read_text(encoding="utf-8")
    assert "@worker_process_init.connect" in celery_py and "discover_plugins(sync_db=False)" in celery_py
    assert "'apps.vod.tasks.refresh_vod_content'" in celery_py  # Dispatcharr's own name for it

    loader = parse("apps/plugins/loader.py")
    manager = next(n for n in loader.body if isinstance(n, ast.ClassDef) and n.name == "PluginManager")
    methods = {n.name: n for n in manager.body if isinstance(n, ast.FunctionDef)}
    assert [a.arg for a in methods["run_action"].args.args] == ["self", "key", "action_id", "params"]
    assert "PermissionError" in ast.unparse(methods["run_action"])
    assert "entry.replace(' ', '_').lower()" in ast.unparse(methods["_discover_plugins_impl"])

    scheduling = parse("core/scheduling.py")
    create = _function(scheduling, "create_or_update_periodic_task")
    assert {"task_name", "celery_task_path", "cron_expression", "enabled"} <= {
        a.arg for a in create.args.args
    }
    assert [a.arg for a in _function(scheduling, "delete_periodic_task").args.args] == ["task_name"]
    assert "from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask" in (
        ast.unparse(scheduling)
    )
    settings = (src / "dispatcharr/settings.py").read_text(encoding="utf-8")
    assert '"django_celery_beat.schedulers.DatabaseScheduler"' in settings


def test_names_line_up_with_celery(loader):
    """Celery's own tracer fires the receiver (``Task.apply`` runs a task as a worker does,
    signals included), with Celery's own argument names."""
    celery = pytest.importorskip("celery")
    from celery import signals, states

    app = celery.Celery("names")
    assert app.gen_task_name("refresh_vod_content", "apps.vod.tasks") == autorun.VOD_REFRESH_TASK
    assert signals.task_postrun.name == "task_postrun"
    assert {states.RETRY, states.REJECTED, states.IGNORED} == autorun.NOT_ENDED_STATES
    autorun.connect_task_postrun(signals.task_postrun)
    autorun.connect_task_postrun(signals.task_postrun)
    try:
        ours = [r for r in signals.task_postrun.receivers if r[0][0] == "vod2strm.autorun.task_postrun"]
        assert len(ours) == 1

        @app.task(name=autorun.VOD_REFRESH_TASK)
        def refresh_vod_content(account_id):
            return f"Batch VOD refresh completed for account {account_id}"

        @app.task(name="apps.vod.tasks.batch_refresh_series_episodes")
        def other(account_id):
            return "done"

        other.apply(args=(4,))
        assert loader.calls == []
        refresh_vod_content.apply(args=(4,))
        refresh_vod_content.apply(kwargs={"account_id": 5})
        payloads = [call[2]["payload"] for call in loader.calls]
        assert [(p["account_id"], p["state"], p["result"]) for p in payloads] == [
            (4, "SUCCESS", "Batch VOD refresh completed for account 4"),
            (5, "SUCCESS", "Batch VOD refresh completed for account 5"),
        ]
        assert autorun.pending(autorun.read(loader.state)) == 2

        # The daily entry: the built-in no-op every worker process knows, with our marker.
        loader.saved["autorun_daily_at"] = "03:30"
        assert autorun.SCHEDULE_CARRIER_TASK in app.tasks
        app.tasks[autorun.SCHEDULE_CARRIER_TASK].apply(kwargs={autorun.SCHEDULE_MARKER: "vod2strm"})
        assert loader.calls[-1][2]["event"] == "schedule"
        assert autorun.pending(autorun.read(loader.state)) == 3
    finally:
        signals.task_postrun.disconnect(dispatch_uid="vod2strm.autorun.task_postrun")
