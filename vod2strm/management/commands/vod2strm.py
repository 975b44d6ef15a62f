"""``manage.py vod2strm <command>``: the command-line door (docs/cli.md).

Thin by design: parse flags, build the run's Settings, call one command of
:mod:`vod2strm.application`, print its outcome (text, or one JSON object with ``--json``) and end
with its exit status through ``CommandError(returncode=…)``. Progress and logs go to stderr; with ``--json``
stdout carries exactly one JSON object, failures included. Ctrl-C and SIGTERM are handled by
:mod:`vod2strm.interrupt` for the whole command, so they end it with one line and status 130.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from vod2strm import application, conf, interrupt
from vod2strm.errors import EXIT_ITEM_ERRORS, EXIT_OK, EXIT_REFUSED
from vod2strm.jobs.progress import Progress, StatusFile

#: Boolean flags that switch on the setting of the same name for one run.
_SETTING_FLAGS = ("take_over_foreign_files", "overwrite_edited_files")

COMMANDS = ("demo", "generate", "cleanup", "stats", "fetch-episodes", "notify", "bundle")
_STOPPABLE = ("generate", "cleanup", "fetch-episodes")


class Command(BaseCommand):
    help = "Generate a Jellyfin/Emby/Kodi library of .strm/.nfo files from the VOD catalog."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{" + ",".join(COMMANDS) + "}")

        def common(p: CommandParser) -> CommandParser:
            p.add_argument("--root", help="output root folder (overrides the output_root setting)")
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
            return p

        demo = common(sub.add_parser("demo", help="load a demo catalog (standalone home only)"))
        demo.add_argument("--movies", type=int, default=200)
        demo.add_argument("--series", type=int, default=30)
        demo.add_argument("--seasons", type=int, default=3)
        demo.add_argument("--episodes", type=int, default=8, help="episodes per season")
        demo.add_argument("--seed", type=int, default=1)
        demo.add_argument("--reset", action="store_true", help="delete the catalog first")

        gen = common(sub.add_parser("generate", help="write .strm/.nfo files for the catalog"))
        gen.add_argument("--only", choices=("movies", "series"))
        gen.add_argument("--dry-run", action="store_true", help="render and count, write nothing")
        gen.add_argument("--verify", action="store_true", help="list folders and restore missing files")
        gen.add_argument("--cleanup", action="store_true", help="run cleanup after a complete generate")
        gen.add_argument("--fetch-episodes", action="store_true", help="fetch missing episodes first")
        gen.add_argument(
            "--take-over-foreign-files",
            action="store_true",
            help="overwrite files at vod2strm's paths that it did not write, and make them its own",
        )
        gen.add_argument(
            "--overwrite-edited-files",
            action="store_true",
            help="rewrite files vod2strm wrote that a person or program changed since",
        )

        clean = common(sub.add_parser("cleanup", help="remove files the catalog no longer produces"))
        clean.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
        clean.add_argument(
            "--force",
            action="store_true",
            help="override the safety valve (never deletes a file that is not vod2strm's)",
        )

        stats = common(sub.add_parser("stats", help="catalog and library counts"))
        stats.add_argument("--scan", action="store_true", help="also walk the output folder")

        fetch = common(sub.add_parser("fetch-episodes", help="fetch episodes of series that have none"))
        fetch.add_argument("--series", type=int, nargs="+", metavar="ID")
        fetch.add_argument(
            "--force", action="store_true", help="with --series: ignore the refresh cache window for them"
        )
        fetch.add_argument("--max-calls", type=int)

        notify = common(
            sub.add_parser("notify", help="tell the media servers what changed (pending, or the last run)")
        )
        notify.add_argument(
            "--dry-run", action="store_true", help="print what would be sent to each server, send nothing"
        )

        bundle = common(sub.add_parser("bundle", help="build the Dispatcharr plugin folder and zip"))
        bundle.add_argument("--out", required=True, help="folder to write vod2strm/ and vod2strm.zip into")

    def handle(self, *args: Any, **options: Any) -> None:
        action, as_json = options["action"], options["json"]
        with interrupt.handling(json_output=as_json):
            # Only jobs that stop at a safe point take a signal as a request; the others end at once.
            stop = interrupt.stoppable() if action in _STOPPABLE else contextlib.nullcontext(None)
            with stop as cancel:
                outcome = application.guarded(
                    action, lambda: self.call(action, options, cancel), cancel=cancel
                )
            signalled = interrupt.requested()
            if signalled:
                outcome.interrupted()  # asked to stop with nothing left to stop: the status still says so
            interrupt.answering()
            if as_json:
                self.stdout.write(json.dumps(outcome.data, default=str))
            elif not outcome.error:
                self.stdout.write("\n".join(outcome.lines(WORDING)))
        if outcome.exit_code == EXIT_OK:
            return
        if signalled:
            raise SystemExit(outcome.exit_code)  # interrupt.py said the signal's one line already
        raise RunEnded(outcome.error or _ending(outcome), returncode=outcome.exit_code)

    def call(
        self, action: str, options: dict[str, Any], cancel: threading.Event | None
    ) -> application.Outcome:
        """The application command for ``action``, with this door's flags translated."""
        if action == "demo":
            return application.demo(
                **{k: options[k] for k in ("movies", "series", "seasons", "episodes", "seed", "reset")},
                on_phase=lambda line: self.stderr.write(f"demo: {line}"),
            )
        if action == "bundle":
            return application.bundle(Path(options["out"]))
        flags = {name: True for name in _SETTING_FLAGS if options.get(name)}  # unset keeps the setting
        settings = conf.load({"output_root": options.get("root"), **flags})
        if action == "stats":
            return application.stats(settings, scan=options["scan"])
        if action == "notify":
            return application.notify(settings, dry_run=options["dry_run"])
        if action == "cleanup":
            return application.cleanup(
                settings, dry_run=options["dry_run"], force=options["force"], cancel=cancel
            )
        with self.progress(action, settings) as progress:
            if action == "generate":
                return progress.done(
                    application.generate(
                        settings,
                        only=options["only"],
                        dry_run=options["dry_run"],
                        verify=options["verify"],
                        cleanup=options["cleanup"] or None,
                        fetch_episodes=options["fetch_episodes"],
                        cancel=cancel,
                        progress=progress.events,
                    )
                )
            return progress.done(
                application.fetch_episodes(
                    settings,
                    series_ids=options["series"],
                    force=options["force"],
                    max_calls=options["max_calls"],
                    cancel=cancel,
                    progress=progress.events,
                )
            )

    @contextlib.contextmanager
    def progress(self, job: str, settings: conf.Settings) -> Iterator[_Progress]:
        """The terminal display plus the status file, so cron runs show in the plugin's status."""
        from vod2strm.jobs.progress import StatusFile
        from vod2strm.management.progress_display import display_for

        events, close_display = display_for(job, self.stderr, quiet=False)
        status = StatusFile(settings.state_dir, extra={"job": job, "source": "cli"})
        events.listeners.append(status)
        shown = _Progress(events, status)
        try:
            yield shown
        finally:
            close_display()


class _Progress:
    """A job's progress events, and the status file's last word when the job ends."""

    def __init__(self, events: Progress, status: StatusFile):
        self.events, self.status = events, status

    def done(self, outcome: application.Outcome) -> application.Outcome:
        self.status.write({"state": outcome.state, **self.events.snapshot(), "summary": outcome.data})
        return outcome


class RunEnded(CommandError):
    """A run that ended with a non-zero exit status.

    Django's ``run_from_argv`` prints a ``CommandError`` as ``<class name>: <message>`` and exits
    with its ``returncode``; the class is named for the program, so that line reads like every
    other line vod2strm prints (``vod2strm: <why>``).
    """


RunEnded.__name__ = RunEnded.__qualname__ = "vod2strm"


def _ending(outcome: application.Outcome) -> str:
    """The one stderr line of a run that ended without an error but not with success."""
    if outcome.exit_code == EXIT_ITEM_ERRORS:
        return "some items failed; their previous files are kept (the log names them)"
    if outcome.exit_code == EXIT_REFUSED:
        return "refused by a safety check; nothing it guards was deleted"
    if outcome.command == "notify":
        return "some media servers could not be told; their changes stay pending"
    return f"{outcome.command} {outcome.state} (exit status {outcome.exit_code})"


#: Where the command line's summaries point: its own commands and flags.
WORDING = application.Wording(
    fetch_episodes="run 'vod2strm fetch-episodes'",
    hand_over="to replace them: generate --take-over-foreign-files (files vod2strm did not write), "
    "--overwrite-edited-files (files changed since).",
    refused_cleanup="To list what it would delete: vod2strm cleanup --dry-run; "
    "to force the cleanup: vod2strm cleanup --force.",
)
