"""The plugin's job process: ``python -m vod2strm.dispatcharr.runner <action> [--trigger T]``.

Started by :func:`.control.start` in its own session, outside Dispatcharr's web worker. It holds
the job lock for its whole life (inherited descriptor), runs one action through the core jobs,
reports progress to ``<state>/status.json`` (what the plugin's ``status`` action reads) and to
Dispatcharr's UI (:mod:`.notify`), and then serves pending auto-run requests (:mod:`.autorun`)
before it exits.

SIGTERM/SIGINT (the ``cancel`` action signals the process group) set the cancel event, from the
process's first instruction on (:mod:`vod2strm.interrupt`): the job stops at its next safe point,
the status says ``cancelled`` and the exit status is 130; the next run resumes (unchanged items are
skipped). A signal while Django starts cancels the job before it writes anything, and still leaves
a ``cancelled`` status. A second signal exits at once.

Exit status: that of the last action, by the rules of :mod:`vod2strm.application` (a generate and
its cleanup are one action; a cancel makes it 130).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vod2strm import application, interrupt
from vod2strm.dispatcharr import autorun, control
from vod2strm.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ITEM_ERRORS,
    EXIT_LOCKED,
    EXIT_OK,
    ConfigError,
    Vod2strmError,
)

if TYPE_CHECKING:
    from vod2strm.jobs.progress import Progress

log = logging.getLogger("vod2strm.dispatcharr.runner")

#: Actions that run in a job process, and what the status calls them.
JOB_ACTIONS = {
    "generate_all": "generate",
    "generate_movies": "generate movies",
    "generate_series": "generate series",
    "cleanup": "cleanup",
    "cleanup_preview": "cleanup preview",
    "fetch_episodes": "fetch episodes",
    "auto_run": "auto-run",
}
_ONLY = {"generate_all": None, "generate_movies": "movies", "generate_series": "series"}


class Job:
    """One job process: the lock, the cancel event, the status file, the action(s)."""

    def __init__(
        self,
        action: str,
        state_dir: Path,
        *,
        trigger: str = "manual",
        lock_fd: int | None = None,
        cancel: threading.Event | None = None,
    ):
        self.action = action
        self.trigger = trigger
        self.state_dir = state_dir
        self.cancel = cancel if cancel is not None else threading.Event()
        self.lock_fd = lock_fd
        self.code = EXIT_OK
        self.last: dict[str, Any] | None = _last_result(state_dir)

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> int:
        try:
            if self.action != "auto_run":
                self.code = self.perform(self.action, self.trigger)
            self.serve_autorun()
        finally:
            self.release()
        return self.code

    def release(self) -> None:
        """Give up the job lock (idempotent). Callers that must not lose a request hold the
        control lock while calling this."""
        if self.lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)
            self.lock_fd = None

    def serve_autorun(self) -> None:
        """Wait-and-generate while auto-run requests are pending; release the lock when none are."""
        while True:
            with control.control_lock(self.state_dir):
                if self.cancel.is_set():
                    autorun.clear(self.state_dir)
                if self.cancel.is_set() or not autorun.pending(autorun.read(self.state_dir)):
                    self.release()  # under the control lock: a request recorded now starts a new job
                    return
            self.code = self.auto_generate()

    # -- auto-run -----------------------------------------------------------------------------

    def auto_generate(self) -> int:
        events = autorun.read(self.state_dir).get("events") or [{}]
        trigger = str(events[-1].get("event") or "manual")
        status = self.status_writer("auto_run", trigger)
        try:
            settings = self.settings()
        except Vod2strmError as exc:
            return self._auto_failed(status, trigger, exc.exit_code, str(exc))
        settle = settings.autorun_settle_seconds
        from django.db import connections

        last_write = [float("-inf")]
        needed = [settle]  # the quiet period the newest request needs (shorter after a VOD refresh)

        def marker() -> tuple[int, str | None]:
            state = autorun.read(self.state_dir)
            return int(state["seq"]), autorun.latest_event(state)

        def quiet(mark: tuple[int, str | None]) -> float:
            needed[0] = autorun.quiet_seconds(mark[1], settle)
            return needed[0]

        def on_poll(stable_for: float, elapsed: float) -> None:
            now = time.monotonic()
            if now - last_write[0] < min(1.0, autorun.poll_interval(needed[0])):
                return
            last_write[0] = now
            status.write(
                {
                    "state": "waiting",
                    "job": "auto_run",
                    "phase": "waiting for the catalog to settle",
                    "stable_seconds": round(stable_for, 1),
                    "waited_seconds": round(elapsed, 1),
                    "settle_seconds": needed[0],
                    "sections": {},
                }
            )

        try:
            snapshot = autorun.wait_until_settled(
                autorun.catalog_snapshot,
                settle,
                cancel=self.cancel,
                marker=marker,
                quiet=quiet,
                on_poll=on_poll,
                between_polls=connections.close_all,
            )
        except Exception as exc:
            log.exception("auto-run: could not watch the catalog")
            return self._auto_failed(status, trigger, EXIT_FAILED, f"could not watch the catalog: {exc}")
        if snapshot is None:
            return self.finish(
                status, "auto_run", trigger, EXIT_INTERRUPTED, {}, "Auto-run cancelled while waiting."
            )
        with control.control_lock(self.state_dir):
            state = autorun.read(self.state_dir)
            taken = autorun.pending_events(state)
            autorun.take(self.state_dir)
        if taken:
            trigger = str(taken[-1].get("event") or trigger)
        scheduled = any(e.get("event") == autorun.SCHEDULED for e in taken)  # a promise to run
        if snapshot == state.get("generated_snapshot") and not scheduled:
            message = "Auto-run: the catalog did not change since the last auto-run; nothing to do."
            return self.finish(status, "auto_run", trigger, EXIT_OK, {"skipped": True}, message)
        code = self.perform("generate_all", trigger)
        if code in (EXIT_OK, EXIT_ITEM_ERRORS):
            with control.control_lock(self.state_dir):
                autorun.remember_snapshot(self.state_dir, snapshot)
        return code

    def _auto_failed(self, status, trigger: str, code: int, message: str) -> int:
        """Drop the requests this run was for (retrying at once would fail the same way)."""
        with control.control_lock(self.state_dir):
            autorun.take(self.state_dir)
        return self.finish(
            status, "auto_run", trigger, code, {"error": message, "exit": code}, f"Auto-run: {message}"
        )

    # -- one action -----------------------------------------------------------------------------

    def settings(self):
        from vod2strm import conf
        from vod2strm.__main__ import apply_settings_file

        apply_settings_file()  # the plugin may have saved new settings since this job started
        return conf.load()

    def status_writer(self, action: str, trigger: str):
        from vod2strm.jobs.progress import StatusFile

        return StatusFile(
            self.state_dir,
            extra={"action": action, "trigger": trigger, "started": time.time(), "last": self.last},
        )

    def perform(self, action: str, trigger: str) -> int:
        """Run one action to completion; returns its exit status. Never raises."""
        from django.db import connections

        from vod2strm.dispatcharr.notify import Notifier
        from vod2strm.jobs.progress import Progress

        status = self.status_writer(action, trigger)
        notifier = Notifier(action)
        progress = Progress(job=JOB_ACTIONS.get(action, action))
        progress.listeners += [status, notifier]
        status.write({"state": "running", **progress.snapshot()})
        try:
            outcome = application.guarded(action, lambda: self.call(action, progress), cancel=self.cancel)
        finally:
            with contextlib.suppress(Exception):
                connections.close_all()
        message = " ".join(outcome.lines(WORDING))
        if outcome.exit_code == EXIT_INTERRUPTED:
            message = f"{message} Cancelled: the next run resumes where this one stopped.".strip()
        return self.finish(
            status,
            action,
            trigger,
            outcome.exit_code,
            outcome.data,
            message,
            progress=progress,
            notifier=notifier,
        )

    def call(self, action: str, progress: Progress) -> application.Outcome:
        """The application command a plugin action stands for."""
        settings = self.settings()
        if action in _ONLY:
            return application.generate(settings, only=_ONLY[action], cancel=self.cancel, progress=progress)
        if action in ("cleanup", "cleanup_preview"):
            return application.cleanup(
                settings, dry_run=action == "cleanup_preview", cancel=self.cancel, progress=progress
            )
        if action == "fetch_episodes":
            return application.fetch_episodes(settings, cancel=self.cancel, progress=progress)
        raise ConfigError("action", f"unknown job action {action!r}")

    def finish(self, status, action, trigger, code, data, message, *, progress=None, notifier=None) -> int:
        state = application.state_for(code)
        finished = time.time()
        final = {
            "state": state,
            **(
                progress.snapshot()
                if progress is not None
                else {"job": action, "phase": state, "sections": {}}
            ),
            "finished": finished,
            "exit": code,
            "message": message,
            "summary": data,
        }
        final["phase"] = state
        status.write(final)
        self.last = {
            "action": action,
            "trigger": trigger,
            "state": state,
            "started": status.extra.get("started"),
            "finished": finished,
            "exit": code,
            "message": message,
        }
        with contextlib.suppress(OSError):
            control.append_history(self.state_dir, {**self.last, "summary": _brief(data)})
        log.info("%s (%s): %s", action, state, message)
        if notifier is not None:
            notifier.finish(application.succeeded(code), message)
        return code


# -- messages --------------------------------------------------------------------------------------


#: Where the plugin's summaries point: its own actions and fields.
WORDING = application.Wording(
    fetch_episodes="use Fetch episodes",
    hand_over="the settings 'Take over files vod2strm did not write' and "
    "'Rewrite files changed since vod2strm wrote them' replace them.",
    refused_cleanup="Run Cleanup preview to see what it would delete.",
    paths_listed=20,
    path_per_line=False,
)


def _brief(data: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "items",
        "files",
        "written",
        "unchanged",
        "removed",
        "would_remove",
        "errors",
        "sections",
        "error",
    )
    return {k: data[k] for k in keys if k in data}


def _last_result(state_dir: Path) -> dict[str, Any] | None:
    history = control.read_history(state_dir, limit=1)
    return history[-1] if history else None


# -- process entry ---------------------------------------------------------------------------------


def _job_lock(state_dir: Path, action: str) -> int | None:
    """The inherited job-lock descriptor, or the lock taken now (a job started by hand)."""
    inherited = os.environ.pop(control.JOB_LOCK_FD_ENV, "")
    if inherited:
        fd = int(inherited)
        os.set_inheritable(fd, False)
        return fd
    state_dir.mkdir(parents=True, exist_ok=True)
    taken = control.try_flock(control.paths(state_dir).job_lock)
    if taken is not None:
        control.write_json_atomic(
            control.paths(state_dir).job_file,
            {"pid": os.getpid(), "action": action, "trigger": "manual", "started": time.time()},
        )
    return taken


def main(argv: list[str] | None = None) -> int:
    interrupt.install()
    with interrupt.stoppable() as cancel:
        code = application.settle(_main(argv, cancel), cancel)
    interrupt.answering()  # recorded and reported: a late cancel changes nothing now
    return code


def _main(argv: list[str] | None, cancel: threading.Event) -> int:
    parser = argparse.ArgumentParser(prog="python -m vod2strm.dispatcharr.runner")
    parser.add_argument("action", choices=sorted(JOB_ACTIONS))
    parser.add_argument("--trigger", default="manual")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from vod2strm.__main__ import setup

    state_env = os.environ.get(control.STATE_DIR_ENV)
    try:
        setup([args.action])
        from vod2strm import conf

        state_dir = Path(state_env) if state_env else conf.load().state_dir
    except Vod2strmError as exc:
        _error_line(str(exc))
        return exc.exit_code
    lock_fd = _job_lock(state_dir, args.action)
    if lock_fd is None:
        _error_line(f"another plugin job is running ({state_dir})")
        return EXIT_LOCKED
    return Job(args.action, state_dir, trigger=args.trigger, lock_fd=lock_fd, cancel=cancel).run()


def _error_line(message: str) -> None:
    """One ``vod2strm:`` line on stderr (plugin.log); after a signal that line was said already."""
    if not interrupt.requested():
        print(f"vod2strm: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
