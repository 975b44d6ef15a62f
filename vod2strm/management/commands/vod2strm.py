"""``manage.py vod2strm <command>``: the command-line door (docs/cli.md).

Thin by design: parse flags, build the run's Settings, call one job (or one run of
:mod:`vod2strm.application`), render its result. Progress and logs go to stderr; with ``--json``
stdout carries exactly one JSON object, failures included. Ctrl-C and SIGTERM are handled by
:mod:`vod2strm.interrupt` for the whole command, so they end it with one line and status 130.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, InterfaceError, OperationalError

from vod2strm import application, conf, interrupt
from vod2strm.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Vod2strmError

#: Boolean flags that switch on the setting of the same name for one run.
_SETTING_FLAGS = ("take_over_foreign_files", "overwrite_edited_files")

COMMANDS = ("demo", "generate", "cleanup", "stats", "fetch-episodes", "bundle")


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

        bundle = common(sub.add_parser("bundle", help="build the Dispatcharr plugin folder and zip"))
        bundle.add_argument("--out", required=True, help="folder to write vod2strm/ and vod2strm.zip into")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        as_json = options["json"]
        handler: Callable[[dict[str, Any]], tuple[int, dict[str, Any], str]] = getattr(
            self, "do_" + action.replace("-", "_")
        )
        with interrupt.handling(json_output=as_json):
            try:
                code, data, text = handler(options)
            except Vod2strmError as exc:
                code, data, text = exc.exit_code, {"error": str(exc), "exit": exc.exit_code}, ""
                self._error_line(str(exc))
            except (OperationalError, InterfaceError) as exc:
                message = f"database unreachable: {str(exc).strip().splitlines()[0] if str(exc) else exc}"
                code, data, text = EXIT_CONFIG, {"error": message, "exit": EXIT_CONFIG}, ""
                self._error_line(message)
            except DatabaseError as exc:
                message = f"database error: {str(exc).strip().splitlines()[0] if str(exc) else exc}"
                code, data, text = EXIT_FAILED, {"error": message, "exit": EXIT_FAILED}, ""
                self._error_line(message)
            if interrupt.requested() and code != EXIT_INTERRUPTED:
                # Asked to stop, but the job had nothing left to stop: the status still says so.
                code = application.worst((code, EXIT_INTERRUPTED))
                data = {**data, "exit": code}
            interrupt.answering()
            if as_json:
                self.stdout.write(json.dumps(data, default=str))
            elif text:
                self.stdout.write(text)
            if code != EXIT_OK:
                sys.exit(code)

    def _error_line(self, message: str) -> None:
        """One ``vod2strm:`` line on stderr; after a signal that line was said already."""
        if not interrupt.requested():
            self.stderr.write(f"vod2strm: {message}")

    # -- helpers ------------------------------------------------------------------------------

    def _settings(self, options: dict[str, Any], **overrides: Any) -> conf.Settings:
        flags = {name: True for name in _SETTING_FLAGS if options.get(name)}  # unset keeps the setting
        return conf.load({"output_root": options.get("root"), **flags, **overrides})

    def _progress(self, job: str, settings: conf.Settings):
        """The terminal display plus the status file, so cron runs show in the plugin's status."""
        from vod2strm.jobs.progress import StatusFile
        from vod2strm.management.progress_display import display_for

        progress, finish = display_for(job, self.stderr, quiet=False)
        status = StatusFile(settings.state_dir, extra={"job": job, "source": "cli"})
        progress.listeners.append(status)

        def done(summary: dict[str, Any] | None = None) -> None:
            finish()
            state = application.state_for(summary.get("exit", EXIT_OK) if summary else EXIT_OK)
            status.write({"state": state, **progress.snapshot(), "summary": summary})

        return progress, done

    # -- commands -----------------------------------------------------------------------------

    def do_demo(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        from vod2strm.catalog import resolver

        if not resolver.is_standalone():
            from vod2strm.errors import ConfigError

            raise ConfigError("CATALOG", "demo data can only be loaded into the standalone catalog")
        from vod2strm.standalone.demo import load_demo

        counts = load_demo(
            movies=options["movies"],
            series=options["series"],
            seasons=options["seasons"],
            episodes=options["episodes"],
            seed=options["seed"],
            reset=options["reset"],
            progress=lambda phase, done, total: (
                self.stderr.write(f"demo: {phase} {done}/{total}") if done == total else None
            ),
        )
        text = "Demo catalog loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items())
        return EXIT_OK, counts, text

    def do_generate(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        settings = self._settings(options)
        with interrupt.stoppable() as cancel:
            if options["fetch_episodes"]:
                self.do_fetch_episodes(
                    {**options, "series": None, "force": False, "max_calls": None, "json": False}
                )
            progress, finish = self._progress("generate", settings)
            run = application.run_generate(
                settings,
                only=options["only"],
                dry_run=options["dry_run"],
                verify=options["verify"],
                cleanup=options["cleanup"] or settings.cleanup_after_generate,
                cancel=cancel,
                progress=progress,
            )
        data = run.as_dict()
        finish(data)
        return run.exit_code, data, _generate_text(data)

    def do_cleanup(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        from vod2strm.jobs import cleanup

        settings = self._settings(options)
        with interrupt.stoppable() as cancel:
            result = cleanup.run(settings, dry_run=options["dry_run"], force=options["force"], cancel=cancel)
        data = result.as_dict()
        return result.exit_code, data, result.as_text()

    def do_stats(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        from vod2strm.jobs import stats

        settings = self._settings(options)
        report = stats.collect(settings, scan=options["scan"])
        return EXIT_OK, report, stats.as_text(report)

    def do_fetch_episodes(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        from vod2strm.jobs import fetch_episodes

        settings = self._settings(options)
        progress, finish = self._progress("fetch-episodes", settings)
        with interrupt.stoppable() as cancel:
            result = fetch_episodes.run(
                settings,
                series_ids=options.get("series"),
                force=options.get("force", False),
                max_calls=options.get("max_calls"),
                cancel=cancel,
                progress=progress,
            )
        data = result.as_dict()
        finish(data)
        return result.exit_code, data, result.as_text()

    def do_bundle(self, options: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        from pathlib import Path

        from vod2strm.dispatcharr import bundle

        folder, archive = bundle.build(Path(options["out"]))
        data = {"folder": str(folder), "zip": str(archive)}
        return EXIT_OK, data, f"Plugin folder: {folder}\nPlugin zip:    {archive}"


#: Where the command line's summaries point: its own commands and flags.
_WORDING = application.Wording(
    fetch_episodes="run 'vod2strm fetch-episodes'",
    hand_over="to replace them: generate --take-over-foreign-files (files vod2strm did not write), "
    "--overwrite-edited-files (files changed since).",
    refused_cleanup="To list what it would delete: vod2strm cleanup --dry-run; "
    "to force the cleanup: vod2strm cleanup --force.",
)


def _generate_text(data: dict[str, Any]) -> str:
    return "\n".join(application.generate_sentences(data, _WORDING))
