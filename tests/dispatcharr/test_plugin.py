"""The Dispatcharr plugin, driven exactly as Dispatcharr drives it: ``Plugin()`` with no arguments,
``run(action, params, context)`` with Dispatcharr's context, ``stop(context)``.

Job tests start real job processes against the file-backed test database (``transactional_db``;
the child gets it through ``DATABASE_URL``, on SQLite and PostgreSQL alike). A sitecustomize hook
on the child's PYTHONPATH slows each progress step so a run can be watched, cancelled and joined
deterministically; a fake ``core.utils`` records what the job pushes to Dispatcharr's UI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.dispatcharr_home import harness
from tests.library_helpers import small_catalog, tree
from vod2strm import conf
from vod2strm.dispatcharr import autorun, control, notify
from vod2strm.dispatcharr.plugin import Plugin, describe_status
from vod2strm.jobs.progress import Progress

REPO = Path(__file__).resolve().parents[2]

SETTING_FIELDS = [
    "output_root", "base_url", "url_mode", "write_nfo", "id_tag_style", "name_clean_regex", "adult_mode",
    "adult_root", "categories_include", "categories_exclude", "cleanup_after_generate", "max_workers",
]  # fmt: skip
ACTION_IDS = [
    "generate_all", "generate_movies", "generate_series", "cleanup_preview", "cleanup", "stats", "status",
    "cancel", "fetch_episodes", "auto_run", "notify_servers",
]  # fmt: skip


# -- the declaration ---------------------------------------------------------------------------------


def test_plugin_declares_what_dispatcharr_accepts():
    plugin = Plugin()
    assert plugin.name == "vod2strm" and plugin.version and plugin.description and plugin.author
    field_ids = [f["id"] for f in plugin.fields]
    assert set(SETTING_FIELDS) <= set(field_ids)
    settings_fields = {f.name for f in conf.dataclasses.fields(conf.Settings)}
    assert set(field_ids) - settings_fields == {"about", "auto_run"}  # plugin-only: never reach the core
    assert sorted(a["id"] for a in plugin.actions) == sorted(ACTION_IDS)
    assert harness.declaration_problems(plugin.fields, plugin.actions) == []
    by_id = {f["id"]: f for f in plugin.fields}
    assert [o["value"] for o in by_id["url_mode"]["options"]] == ["proxy", "direct"]
    assert "password" in by_id["url_mode"]["help_text"] and "every .strm" in by_id["url_mode"]["help_text"]
    assert [o["value"] for o in by_id["id_tag_style"]["options"]] == ["jellyfin", "emby", "none"]
    assert [o["value"] for o in by_id["adult_mode"]["options"]] == ["exclude", "include", "separate"]
    events = {a["id"]: a.get("events") for a in plugin.actions}
    assert events["auto_run"] == ["m3u_refresh"]
    assert [k for k, v in events.items() if v] == ["auto_run"]


def test_field_defaults_are_valid_settings(tmp_path):
    """Dispatcharr merges field defaults into ``context["settings"]``: they must validate."""
    defaults = {f["id"]: f.get("default") for f in Plugin.fields if "default" in f}
    defaults.update(output_root=str(tmp_path / "lib"), state_dir=str(tmp_path / "state"))
    settings = Plugin()._load({"settings": defaults})
    assert settings.url_mode == "proxy" and settings.write_nfo and settings.max_workers == 16
    assert settings.base_url == conf.Settings.base_url  # "" keeps the default


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"output_root": "library/relative"}, "output_root"),
        ({"base_url": "media.lan:9191"}, "base_url"),
        ({"base_url": "ftp://media.lan"}, "base_url"),
        ({"name_clean_regex": "(unclosed"}, "name_clean_regex"),
        ({"max_workers": -4}, "max_workers"),
        ({"url_mode": "sideways"}, "url_mode"),
        ({"adult_mode": "separate", "adult_root": ""}, "adult_root"),
    ],
)
@pytest.mark.parametrize("action", ["generate_all", "cleanup", "auto_run", "stats"])
def test_bad_settings_answer_an_error_naming_the_field(tmp_path, overrides, field, action):
    settings = {"output_root": str(tmp_path / "lib"), "state_dir": str(tmp_path / "state"), "auto_run": True}
    answer = Plugin().run(action, {}, harness.context({**settings, **overrides}))
    assert answer["status"] == "error"
    assert answer["message"].startswith(f"{field}: ")
    assert control.running_job(tmp_path / "state") is None


def test_missing_or_empty_settings_keep_defaults(tmp_path):
    settings = Plugin()._load(
        {"settings": {"output_root": str(tmp_path), "base_url": "", "max_workers": None, "url_mode": "  "}}
    )
    assert (settings.base_url, settings.max_workers, settings.url_mode) == (
        "http://127.0.0.1:9191",
        16,
        "proxy",
    )


def test_unknown_action_and_internal_errors_answer_instead_of_raising(tmp_path, monkeypatch):
    plugin = Plugin()
    assert plugin.run("explode", {}, harness.context({}))["status"] == "error"
    monkeypatch.setattr(control, "running_job", lambda state: 1 / 0)
    answer = plugin.run("status", {}, harness.context({"state_dir": str(tmp_path)}))
    assert answer == {"status": "error", "message": "status failed: division by zero"}


def test_status_when_idle_and_cancel_with_nothing_running(tmp_path):
    ctx = harness.context({"state_dir": str(tmp_path / "state"), "output_root": str(tmp_path / "lib")})
    plugin = Plugin()
    assert plugin.run("status", {}, ctx)["message"] == "Idle. No run yet: press Generate."
    assert plugin.run("cancel", {}, ctx)["message"] == "Nothing is running."
    assert plugin.stop(ctx) is None


def test_status_text_for_running_waiting_and_crashed_jobs():
    job = {"pid": 42, "action": "generate_all", "started": 0}
    running = {
        "pid": 42,
        "state": "running",
        "phase": "movies",
        "sections": {
            "movies": {"done": 1200, "total": 5000, "status": "running", "rate": 240.0, "eta_seconds": 16},
            "series": {"done": 0, "total": 0, "status": "pending"},
        },
    }
    text = describe_status(job, running, {"seq": 3, "handled": 1})
    assert text == (
        "Running generate all (pid 42): movies 1200/5000 (240/s, ETA 16 s), series 0/0 pending. "
        "One auto-run follows when it ends."
    )
    waiting = {"pid": 42, "state": "waiting", "stable_seconds": 40, "settle_seconds": 120}
    assert "unchanged for 40 s of 2 min" in describe_status({**job, "action": "auto_run"}, waiting, {})
    assert "stopped without finishing" in describe_status(None, running, {})


# -- finding Python under uWSGI --------------------------------------------------------------------


def _fake_exe(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_find_python_prefers_a_python_executable(tmp_path):
    exe = _fake_exe(tmp_path / "venv/bin/python3.13")
    assert control.find_python(executable=exe, prefix="/nowhere", version=(3, 13)) == exe


def test_find_python_under_uwsgi_uses_the_virtualenv_interpreter(tmp_path):
    uwsgi = _fake_exe(tmp_path / "usr/local/bin/uwsgi")
    venv_python = _fake_exe(tmp_path / "dispatcharrpy/bin/python3.13")
    found = control.find_python(
        executable=uwsgi,
        prefix=str(tmp_path / "dispatcharrpy"),
        exec_prefix=str(tmp_path / "dispatcharrpy"),
        base_executable=_fake_exe(tmp_path / "usr/bin/python3.13"),
        version=(3, 13),
        which=lambda name: None,
    )
    assert found == venv_python


def test_find_python_falls_back_to_base_executable_then_path(tmp_path):
    base = _fake_exe(tmp_path / "usr/bin/python3")
    kwargs = {"executable": "", "prefix": str(tmp_path / "none"), "exec_prefix": "", "version": (3, 13)}
    assert control.find_python(**kwargs, base_executable=base, which=lambda n: None) == base
    on_path = _fake_exe(tmp_path / "bin/python3.13")
    which = {"python3.13": on_path}.get
    assert control.find_python(**kwargs, base_executable="/usr/bin/uwsgi", which=which) == on_path
    with pytest.raises(RuntimeError, match="cannot find a Python"):
        control.find_python(**kwargs, base_executable="", which=lambda n: None)


def test_find_python_in_this_process_is_runnable():
    python = control.find_python()
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    assert out.stdout.strip() == str(sys.version_info[:2])


def test_child_environment_finds_vod2strm_and_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/extra/hooks")
    monkeypatch.setenv(control.JOB_LOCK_FD_ENV, "9")
    env = control.child_env(tmp_path)
    entries = env["PYTHONPATH"].split(os.pathsep)
    assert entries[0] == str(REPO)  # the folder holding the vod2strm package
    assert "/extra/hooks" in entries
    assert env["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert env[control.SETTINGS_FILE_ENV] == str(tmp_path / control.SETTINGS_FILE)
    assert env["DISPATCHARR_SKIP_PLUGIN_AUTODISCOVERY"] == "1"
    assert control.JOB_LOCK_FD_ENV not in env


def test_renamed_plugin_folder_is_importable_through_a_shim(tmp_path, monkeypatch):
    renamed = tmp_path / "plugins" / "vod2strm_old"
    renamed.mkdir(parents=True)
    monkeypatch.setattr(control, "package_dir", lambda: renamed)

    def import_root() -> Path:  # the job's first PYTHONPATH entry
        return Path(control.child_env(tmp_path / "state")["PYTHONPATH"].split(os.pathsep)[0])

    root = import_root()
    assert (root / "vod2strm").resolve() == renamed
    assert import_root() == root  # idempotent


# -- auto-run bookkeeping and settling (no processes) ------------------------------------------------


def test_requests_coalesce_and_clear(tmp_path):
    assert autorun.pending(autorun.read(tmp_path)) == 0
    autorun.record(tmp_path, "m3u_refresh", {"account_name": "Provider A", "streams_created": 3})
    state = autorun.record(tmp_path, "m3u_refresh", {"account_name": "Provider B"})
    assert autorun.pending(state) == 2
    assert [e["account_name"] for e in state["events"]] == ["Provider A", "Provider B"]
    assert autorun.take(tmp_path) == 2
    assert autorun.pending(autorun.read(tmp_path)) == 0
    autorun.record(tmp_path, "m3u_refresh")
    assert autorun.clear(tmp_path) == 1
    assert autorun.pending(autorun.read(tmp_path)) == 0


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_until_settled_waits_for_a_quiet_period():
    t = FakeTime()
    # The catalog moves until t=30, then stays put.
    snapshot = lambda: min(int(t.now), 30)  # noqa: E731
    settled = autorun.wait_until_settled(
        snapshot, 10.0, cancel=threading.Event(), poll_seconds=1.0, clock=t.clock, sleep=t.sleep
    )
    assert settled == 30
    assert 40.0 <= t.now <= 41.0


def test_a_new_request_restarts_the_quiet_period():
    t = FakeTime()
    marker = lambda: 1 if t.now < 8 else 2  # noqa: E731  another event arrives at t=8
    autorun.wait_until_settled(
        lambda: "same",
        10.0,
        cancel=threading.Event(),
        poll_seconds=1.0,
        clock=t.clock,
        sleep=t.sleep,
        marker=marker,
    )
    assert 18.0 <= t.now <= 19.0


def test_wait_until_settled_gives_up_waiting_after_max_wait_and_stops_on_cancel():
    t = FakeTime()
    moving = autorun.wait_until_settled(
        lambda: t.now,
        10.0,
        cancel=threading.Event(),
        poll_seconds=1.0,
        max_wait=50,
        clock=t.clock,
        sleep=t.sleep,
    )
    assert moving is not None and 50 <= t.now <= 51
    cancel = threading.Event()

    def sleep(seconds):
        t.now += seconds
        cancel.set()

    assert autorun.wait_until_settled(lambda: 1, 10.0, cancel=cancel, clock=t.clock, sleep=sleep) is None


@pytest.mark.django_db
def test_catalog_snapshot_is_one_query_and_moves_with_the_catalog(django_assert_num_queries):
    with django_assert_num_queries(1):
        before = autorun.catalog_snapshot()
    small_catalog(movies=1, series=1, episodes=1)
    after = autorun.catalog_snapshot()
    assert before != after
    assert [row[1] for row in after][:3] == [1, 1, 1]


@pytest.mark.django_db
def test_a_failing_auto_run_drops_its_requests_instead_of_looping(tmp_path, settings, monkeypatch):
    import vod2strm.__main__ as entry
    from vod2strm.dispatcharr import runner
    from vod2strm.jobs.progress import read_status

    monkeypatch.setattr(entry, "_base_vod2strm", None)
    settings.VOD2STRM = {**settings.VOD2STRM, "state_dir": str(tmp_path)}
    autorun.record(tmp_path, "m3u_refresh")
    monkeypatch.setattr(autorun, "catalog_snapshot", lambda: 1 / 0)
    assert runner.Job("auto_run", tmp_path).run() == 1
    assert autorun.pending(autorun.read(tmp_path)) == 0
    status = read_status(tmp_path)
    assert (status["state"], status["trigger"]) == ("failed", "m3u_refresh")
    assert status["message"] == "Auto-run: could not watch the catalog: division by zero"


@pytest.mark.django_db(transaction=True)  # the job closes its connections after each action
def test_a_generate_whose_cleanup_is_refused_ends_the_job_refused(tmp_path, settings, monkeypatch):
    """The job's status and exit status are the CLI's for the same run (vod2strm.application)."""
    import vod2strm.__main__ as entry
    from vod2strm.dispatcharr import runner
    from vod2strm.jobs.progress import read_status

    monkeypatch.setattr(entry, "_base_vod2strm", None)
    _account, movies, _series = small_catalog(movies=6, series=1, episodes=2)
    state = tmp_path / "state"
    settings.VOD2STRM = {
        **settings.VOD2STRM,
        "state_dir": str(state),
        "output_root": str(tmp_path / "library"),
        "cleanup_after_generate": True,
        "cleanup_max_share": 0.0,
        "writer_process": False,
    }
    assert runner.Job("generate_all", state).perform("generate_all", "manual") == 0
    for movie in movies[:3]:
        movie.delete()
    assert runner.Job("generate_all", state).perform("generate_all", "manual") == 5
    status = read_status(state)
    assert (status["state"], status["exit"], status["phase"]) == ("refused", 5, "refused")
    cleanup = status["summary"]["cleanup"]
    assert cleanup["refused"] and status["summary"]["exit"] == 5
    assert "Cleanup refused" in status["message"] and cleanup["message"][1:] in status["message"]
    assert status["message"].endswith("Run Cleanup preview to see what it would delete.")
    assert control.read_history(state)[-1]["state"] == "refused"
    assert describe_status(None, status, {}).startswith("Idle. Last run: generate all refused at ")


# -- pushing progress to Dispatcharr's UI -------------------------------------------------------------


class Recorder:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple] = []
        self.fail = fail

    def update(self, *args):
        self.calls.append(("update", *args))
        if self.fail:
            raise ConnectionError("redis down")

    def notification(self, payload):
        self.calls.append(("notification", payload))


def test_notifier_throttles_progress_and_sends_a_final_toast():
    rec = Recorder()
    t = FakeTime()
    notifier = notify.Notifier(
        "generate_all", interval=5.0, senders=(rec.update, rec.notification), clock=t.clock
    )
    progress = Progress(job="generate", listeners=[notifier])
    progress.start_section("movies", 100)
    for _ in range(10):
        t.now += 1.0
        progress.advance("movies", 10)
    notifier.finish(True, "Wrote 100 files.")
    updates = [c[3] for c in rec.calls if c[0] == "update"]
    assert all(c[1:3] == ("updates", "update") for c in rec.calls if c[0] == "update")
    assert {u["type"] for u in updates} == {"plugin"} and {u["plugin"] for u in updates} == {"vod2strm"}
    assert len(updates) <= 4  # start + at most one per 5 s of 10 s + final; the newest always wins
    assert updates[-1]["status"] == "success" and updates[-1]["progress"] == 100
    notification = rec.calls[-1][1]
    assert rec.calls[-1][0] == "notification"
    assert notification["priority"] == "high" and notification["message"] == "Wrote 100 files."
    assert notification["notification_key"].startswith("vod2strm-generate_all-")


def test_notifier_never_fails_the_run_and_gives_up_after_errors():
    rec = Recorder(fail=True)
    notifier = notify.Notifier("cleanup", interval=0.0, senders=(rec.update, None))
    for i in range(notify.MAX_FAILURES + 2):
        notifier.update("running", i, "x")
        assert notifier.wait_idle(5), "the sender thread"
    notifier.finish(False, "failed")
    assert notifier.failures == notify.MAX_FAILURES and not notifier.enabled
    assert len(rec.calls) == notify.MAX_FAILURES


def test_notifier_is_silent_outside_dispatcharr():
    def senders() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "vod2strm-notify"}

    before = senders()
    notifier = notify.Notifier("generate_all")
    assert not notifier.enabled  # no core.utils in the standalone home
    notifier("advance", Progress(job="generate"))  # no thread, no error
    notifier.finish(True, "done")
    assert senders() == before  # none started (one would wait for a close that never comes)


# -- python -m vod2strm ---------------------------------------------------------------------------------


def _run_module(args, env=None, cwd=REPO):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vod2strm", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def test_module_entry_runs_without_the_app_installed(tmp_path):
    """``tests.settings_dispatcharr`` does not install vod2strm (as inside Dispatcharr)."""
    out = _run_module(["--help"], env={"DJANGO_SETTINGS_MODULE": "tests.settings_dispatcharr"})
    assert out.returncode == 0, out.stderr
    assert "usage: python -m vod2strm" in out.stdout and "generate" in out.stdout


def test_module_entry_defaults_to_the_standalone_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-m", "vod2strm", "bundle", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["zip"] == str(tmp_path / "vod2strm.zip")


def test_module_entry_reports_a_bad_settings_file_as_a_config_error(tmp_path):
    bad = tmp_path / "settings.json"
    bad.write_text("[1, 2]")
    out = _run_module(["stats", "--json"], env={"VOD2STRM_SETTINGS_FILE": str(bad)})
    assert out.returncode == 2
    assert "must hold a JSON object" in out.stderr
    assert json.loads(out.stdout) == {
        "error": f"VOD2STRM_SETTINGS_FILE: {bad} must hold a JSON object",
        "exit": 2,
    }


@pytest.mark.django_db(transaction=True)
def test_module_entry_merges_the_plugin_settings_file(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "status.json").write_text(
        json.dumps({"state": "finished", "marker": "from the file's state_dir"})
    )
    settings_file = tmp_path / "plugin-settings.json"
    settings_file.write_text(
        json.dumps(
            {
                "state_dir": str(state),
                "output_root": str(tmp_path / "lib"),
                "base_url": "",
                "max_workers": None,
            }
        )
    )
    out = _run_module(
        ["stats", "--json"],
        env={"VOD2STRM_SETTINGS_FILE": str(settings_file), "DATABASE_URL": harness.database_url()},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"]["marker"] == "from the file's state_dir"


def test_apply_settings_file_skips_empty_values_and_can_be_reapplied(tmp_path, settings, monkeypatch):
    import vod2strm.__main__ as entry

    settings.VOD2STRM = {"CATALOG": "standalone", "base_url": "http://configured:1", "max_workers": 8}
    monkeypatch.setattr(entry, "_base_vod2strm", None)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"base_url": "", "max_workers": 4, "write_nfo": None}))
    merged = entry.apply_settings_file(path)
    assert merged == {"CATALOG": "standalone", "base_url": "http://configured:1", "max_workers": 4}
    path.write_text(json.dumps({"base_url": "http://plugin:2"}))
    assert entry.apply_settings_file(path)["max_workers"] == 8  # back to the configured value
    assert conf.load().base_url == "http://plugin:2"


# -- job processes ----------------------------------------------------------------------------------------


class Jobs:
    """The plugin plus a state folder, a library and a test database for its job processes."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.state = tmp_path / "state"
        self.root = tmp_path / "library"
        self.ws_log = tmp_path / "ws.jsonl"
        hooks = harness.write_hooks(tmp_path / "hooks")
        monkeypatch.setenv("DATABASE_URL", harness.database_url())
        monkeypatch.setenv("PYTHONPATH", str(hooks))
        monkeypatch.setenv(harness.WS_LOG_ENV, str(self.ws_log))
        self.monkeypatch = monkeypatch
        self.settings = {
            "output_root": str(self.root),
            "state_dir": str(self.state),
            "base_url": "http://media.example:9191",
            "chunk_size": 2,
            "max_workers": 4,
            "autorun_settle_seconds": 0.3,
            "auto_run": True,
        }
        self.plugin = Plugin()

    def slow(self, seconds: float) -> None:
        self.monkeypatch.setenv(harness.DELAY_ENV, str(seconds))

    def run(self, action: str, params: dict | None = None, **settings):
        return self.plugin.run(action, params or {}, harness.context({**self.settings, **settings}))

    def job(self):
        return control.running_job(self.state)

    def status(self) -> dict:
        return self.run("status")

    def progress_done(self) -> int:
        sections = (self.status()["data"]["progress"] or {}).get("sections") or {}
        return sum(s["done"] for s in sections.values())

    def wait_idle(self, timeout: float = 120.0) -> dict:
        harness.wait_for(lambda: self.job() is None, timeout, what="the job to end")
        return self.status()

    def history(self) -> list[dict]:
        return control.read_history(self.state, limit=None)

    def log(self) -> str:
        try:
            return (self.state / control.LOG_FILE).read_text()
        except OSError:
            return ""

    def kill_all(self) -> None:
        job = self.job()
        if job:
            control.signal_job(job, signal.SIGKILL)
            harness.wait_for(lambda: self.job() is None, 30, what="the killed job to release its lock")
        control.reap()


@pytest.fixture
def jobs(tmp_path, monkeypatch, transactional_db):
    j = Jobs(tmp_path, monkeypatch)
    yield j
    j.kill_all()


def _wait_exited(pid: int) -> None:
    """The job releases its lock just before its interpreter shuts down: give it that moment."""
    harness.wait_for(lambda: (control.reap(), not harness.pid_alive(pid))[1], 30, what=f"pid {pid} to exit")


def _strm_count(root: Path) -> int:
    return sum(1 for p in tree(root) if p.endswith(".strm")) if root.exists() else 0


def test_generate_runs_in_a_detached_process_that_outlives_the_call(jobs):
    small_catalog(movies=12, series=2, episodes=3)
    jobs.slow(0.25)
    answer = jobs.run("generate_all")
    assert answer["status"] == "ok", answer
    assert answer["message"].startswith("Generate started in the background (pid ")
    pid = answer["data"]["job"]["pid"]
    assert pid != os.getpid()
    # run() has returned and the work is still going on, in its own session, reporting progress.
    assert harness.pid_alive(pid) and os.getsid(pid) == pid
    running = harness.wait_for(
        lambda: (s := jobs.status())["data"]["running"] and jobs.progress_done() > 0 and s, what="progress"
    )
    assert running["message"].startswith(f"Running generate all (pid {pid}): movies ")
    assert running["data"]["progress"]["pid"] == pid
    final = jobs.wait_idle()
    assert final["message"].startswith("Idle. Last run: generate all finished at "), jobs.log()
    assert "Wrote " in final["message"]
    progress = final["data"]["progress"]
    assert progress["exit"] == 0 and progress["summary"]["sections"] == {
        "movies": "complete",
        "series": "complete",
    }
    assert _strm_count(jobs.root) == 12 + 2 * 3
    strm = next(p for p in tree(jobs.root) if p.endswith(".strm"))
    assert (jobs.root / strm).read_text().startswith("http://media.example:9191/proxy/vod/")
    # Progress and the final toast went to Dispatcharr's UI (the fake core.utils).
    pushed = [json.loads(line) for line in jobs.ws_log.read_text().splitlines()]
    assert any(p["kind"] == "update" and p["args"][2]["status"] == "running" for p in pushed)
    assert pushed[-1]["kind"] == "notification" and pushed[-1]["args"][0]["priority"] == "high"
    _wait_exited(pid)


def test_a_second_generate_while_one_runs_is_refused(jobs):
    small_catalog(movies=20, series=0)
    jobs.slow(0.4)  # 10 chunks: the job outlives the checks by seconds
    first = jobs.run("generate_all")
    assert first["status"] == "ok"
    for when in ("starting", "writing"):  # before and after the job took the output root's lock
        if when == "writing":
            harness.wait_for(lambda: jobs.progress_done() > 0, what="progress")
        for action in ("generate_all", "generate_movies", "cleanup", "cleanup_preview"):
            second = jobs.run(action)
            assert second["status"] == "error"
            assert second["message"].startswith("a run is already in progress (generate_all"), second
            assert second["data"]["job"]["pid"] == first["data"]["job"]["pid"]
    jobs.wait_idle()
    assert [h["action"] for h in jobs.history()] == ["generate_all"]


def test_cancel_stops_the_run_and_the_next_run_resumes(jobs):
    small_catalog(movies=24, series=0)
    jobs.slow(0.25)
    pid = jobs.run("generate_movies")["data"]["job"]["pid"]
    harness.wait_for(lambda: jobs.progress_done() >= 4, what="some progress")
    answer = jobs.run("cancel")
    assert answer["status"] == "ok" and answer["message"].startswith("Cancelling generate_movies")
    final = jobs.wait_idle()
    assert "cancelled" in final["message"] and "resumes" in final["message"], jobs.log()
    assert final["data"]["progress"]["exit"] == 130
    _wait_exited(pid)
    partial = _strm_count(jobs.root)
    assert 0 < partial < 24

    jobs.slow(0)
    assert jobs.run("generate_movies")["status"] == "ok"
    final = jobs.wait_idle()
    assert final["data"]["progress"]["exit"] == 0, jobs.log()
    assert _strm_count(jobs.root) == 24
    first, second = jobs.history()
    assert first["state"] == "cancelled" and second["state"] == "finished"
    # Resumed: the second run rewrote nothing the first one finished.
    assert second["summary"]["unchanged"] >= 2 * partial
    assert second["summary"]["written"] == 2 * (24 - partial)


def test_stop_cancels_a_running_job(jobs):
    small_catalog(movies=20, series=0)
    jobs.slow(0.25)
    jobs.run("generate_all")
    harness.wait_for(lambda: jobs.progress_done() > 0, what="progress")
    jobs.plugin.stop({**harness.context(jobs.settings), "reason": "disable"})
    final = jobs.wait_idle()
    assert final["data"]["progress"]["state"] == "cancelled"


def test_two_refresh_events_during_a_run_lead_to_exactly_one_follow_up_run(jobs):
    small_catalog(movies=10, series=1, episodes=2)
    jobs.slow(0.3)
    jobs.run("generate_all")
    harness.wait_for(lambda: jobs.progress_done() > 0, what="progress")
    event = {"event": "m3u_refresh", "payload": {"account_name": "Main", "streams_created": 4}}
    for _ in range(2):
        answer = jobs.run("auto_run", event)
        assert answer["status"] == "ok" and "one auto-run follows when it ends" in answer["message"], answer
    assert "One auto-run follows when it ends." in jobs.status()["message"]
    jobs.wait_idle()
    history = jobs.history()
    assert [(h["action"], h["trigger"]) for h in history] == [
        ("generate_all", "manual"),
        ("generate_all", "m3u_refresh"),
    ], jobs.log()
    assert all(h["state"] == "finished" for h in history)
    assert history[1]["summary"]["written"] == 0  # nothing changed in between
    assert autorun.pending(autorun.read(jobs.state)) == 0


def test_auto_run_waits_for_the_catalog_to_settle_then_generates(jobs):
    account, _, _ = small_catalog(movies=3, series=0)
    answer = jobs.run(
        "auto_run", {"event": "m3u_refresh", "payload": {"account_name": "Main"}}, autorun_settle_seconds=3
    )
    assert answer["status"] == "ok" and answer["message"].startswith("Auto-run started (pid "), answer
    harness.wait_for(
        lambda: "waiting for the VOD catalog to settle" in jobs.status()["message"], what="waiting"
    )
    # The refresh adds a movie while the waiter waits: it generates only after that, with the movie.
    from tests.factories import M3UMovieRelationFactory, MovieFactory

    M3UMovieRelationFactory(movie=MovieFactory(name="Late Arrival", year=2024), m3u_account=account)
    final = jobs.wait_idle()
    assert final["data"]["progress"]["exit"] == 0, jobs.log()
    assert any("Late Arrival (2024)" in p for p in tree(jobs.root))
    assert [(h["action"], h["trigger"]) for h in jobs.history()] == [("generate_all", "m3u_refresh")]

    # The next refresh that changed nothing: the waiter settles and skips the generate.
    jobs.run("auto_run", {"event": "m3u_refresh"}, autorun_settle_seconds=0.3)
    jobs.wait_idle()
    last = jobs.history()[-1]
    assert (last["action"], last["summary"]) == ("auto_run", {})
    assert "did not change" in last["message"]


def test_auto_run_is_off_unless_enabled(jobs):
    answer = jobs.run("auto_run", {"event": "m3u_refresh", "payload": {}}, auto_run=False)
    assert answer["status"] == "ok" and answer["message"].startswith("Auto-run is off")
    assert jobs.job() is None and autorun.pending(autorun.read(jobs.state)) == 0


def test_status_after_a_killed_job_says_so_and_a_new_run_starts(jobs):
    small_catalog(movies=10, series=0)
    jobs.slow(0.3)
    pid = jobs.run("generate_all")["data"]["job"]["pid"]
    harness.wait_for(lambda: jobs.progress_done() > 0, what="progress")
    os.killpg(pid, signal.SIGKILL)
    harness.wait_for(lambda: jobs.job() is None, what="the lock to be released")
    # The dead process's run lock goes with its last descriptors, a moment after its job lock.
    harness.wait_for(
        lambda: "stopped without finishing" in jobs.status()["message"], what="the status of a killed job"
    )
    jobs.slow(0)
    assert jobs.run("generate_all")["status"] == "ok"
    assert jobs.wait_idle()["data"]["progress"]["exit"] == 0


def test_stats_and_cleanup_preview(jobs):
    small_catalog(movies=3, series=1, episodes=2)
    stats = jobs.run("stats")
    assert stats["status"] == "ok" and stats["message"].startswith("Catalog (eligible):")
    assert stats["data"]["report"]["catalog"]["total"]["movies"] == 3
    jobs.run("generate_all")
    jobs.wait_idle()
    assert jobs.run("cleanup_preview")["status"] == "ok"
    final = jobs.wait_idle()
    assert final["message"].startswith("Idle. Last run: cleanup preview finished"), jobs.log()
    assert "would remove 0 files" in final["message"]


def test_fetch_episodes_runs_as_a_job(jobs):
    small_catalog(movies=0, series=1, episodes=0)
    answer = jobs.run("fetch_episodes")
    assert answer["status"] == "ok" and answer["message"].startswith(
        "Fetch episodes started in the background"
    )
    final = jobs.wait_idle()
    progress = final["data"]["progress"]
    assert (progress["action"], progress["state"], progress["exit"]) == ("fetch_episodes", "finished", 0), (
        jobs.log()
    )
    assert "no provider" in progress["message"]  # the standalone home has none
    assert progress["sections"]["series"]["done"] == 1


def test_a_run_outside_the_plugin_is_reported_and_blocks_a_start(tmp_path):
    from vod2strm.output import lock

    settings = {"output_root": str(tmp_path / "lib"), "state_dir": str(tmp_path / "state")}
    plugin = Plugin()
    with lock.run_lock(tmp_path / "state", tmp_path / "lib"):
        answer = plugin.run("generate_all", {}, harness.context(settings))
        assert answer["status"] == "error"
        assert answer["message"].startswith(f"another vod2strm run (pid {os.getpid()}) outside the plugin")
        status = plugin.run("status", {}, harness.context(settings))["message"]
        assert status.startswith("Another vod2strm run (pid ")
        assert status.endswith("Idle. No run yet: press Generate.")
        # A run that reports progress in the status file (same pid as the lock's owner).
        sections = {"movies": {"done": 3, "total": 9, "status": "running", "rate": 1.5, "eta_seconds": 4}}
        control.write_json_atomic(
            tmp_path / "state" / "status.json", {"state": "running", "pid": os.getpid(), "sections": sections}
        )
        status = plugin.run("status", {}, harness.context(settings))["message"]
        assert status.endswith("has finished. movies 3/9 (1.5/s, ETA 4 s)")
    assert control.running_job(tmp_path / "state") is None
