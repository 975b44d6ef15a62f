"""The commands every door offers, each ending in one :class:`Outcome`.

A door translates its input into one call here (``generate``, ``cleanup``, ``fetch_episodes``,
``stats``, ``demo``, ``bundle``) and shows the outcome: its exit status, its JSON object, and its
sentences in the door's :class:`~vod2strm.application.wording.Wording`. :func:`guarded` is the one
translation of an error into an outcome, so a broken setting, an unreachable database or a bug
ends every door the same way: one line, its exit status, and ``{"error", "exit"}`` as its data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vod2strm.application.runs import run_generate
from vod2strm.application.status import state_for, worst
from vod2strm.application.wording import Wording, cleanup_lines, generate_sentences
from vod2strm.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    LockedError,
    RefusedError,
    Vod2strmError,
)
from vod2strm.jobs.progress import Progress

if TYPE_CHECKING:
    from vod2strm.conf import Settings

log = logging.getLogger("vod2strm")

Render = Callable[[dict[str, Any], Wording], list[str]]


@dataclass
class Outcome:
    """How one command ended: what a door prints, returns or exits with."""

    command: str
    exit_code: int
    data: dict[str, Any]  # the JSON object (``exit`` included)
    error: str = ""  # the one line of a command that stopped with an error (its data says it too)
    render: Render | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        return state_for(self.exit_code)

    def interrupted(self) -> Outcome:
        """The outcome of a run that was asked to stop: 130 unless something worse happened."""
        code = worst((self.exit_code, EXIT_INTERRUPTED))
        if code != self.exit_code:
            self.exit_code, self.data = code, {**self.data, "exit": code}
        return self

    def lines(self, wording: Wording) -> list[str]:
        """The outcome for people, worded for a door; an error outcome is its one line."""
        if self.error:
            return [self.error]
        return self.render(self.data, wording) if self.render is not None else []


def failure(command: str, code: int, message: str) -> Outcome:
    return Outcome(command, code, {"error": message, "exit": code}, error=message)


def guarded(command: str, call: Callable[[], Outcome], *, cancel: threading.Event | None = None) -> Outcome:
    """``call()``, with any error it raises as an outcome, and 130 when ``cancel`` was set.

    The database's errors are worded for people: unreachable (status 2: the configuration or the
    server, before anything was written) or an error in a statement (status 1). An unexpected
    error is logged with its traceback and ends the command with status 1.
    """
    from django.db import DatabaseError, InterfaceError, OperationalError

    try:
        outcome = call()
    except Vod2strmError as exc:
        outcome = failure(command, exc.exit_code, str(exc))
    except (OperationalError, InterfaceError) as exc:
        outcome = failure(command, EXIT_CONFIG, f"database unreachable: {_first_line(exc)}")
    except DatabaseError as exc:
        outcome = failure(command, EXIT_FAILED, f"database error: {_first_line(exc)}")
    except Exception as exc:
        log.exception("%s failed", command)
        outcome = failure(command, EXIT_FAILED, f"{command} failed: {_first_line(exc)}")
    return outcome.interrupted() if cancel is not None and cancel.is_set() else outcome


def generate(
    settings: Settings,
    *,
    only: str | None = None,
    dry_run: bool = False,
    verify: bool = False,
    cleanup: bool | None = None,
    fetch_episodes: bool = False,
    movie_ids: Sequence[int] | None = None,
    series_ids: Sequence[int] | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Fetch missing episodes when asked, generate, then clean up when asked (``cleanup``; None
    follows the ``cleanup_after_generate`` setting) and the generate allows it."""
    cancel = cancel if cancel is not None else threading.Event()
    progress = progress if progress is not None else Progress(job="generate")
    fetched = None
    if fetch_episodes:
        from vod2strm.jobs import fetch_episodes as fetch_job

        # Its own progress (its sections are not the generate's), shown by the same listeners.
        fetching = Progress(job="fetch-episodes", listeners=list(progress.listeners))
        fetched = fetch_job.run(settings, cancel=cancel, progress=fetching)
    with _notifying(settings, dry_run, cancel) as notified:
        run = run_generate(
            settings,
            only=only,
            dry_run=dry_run,
            verify=verify,
            cleanup=settings.cleanup_after_generate if cleanup is None else cleanup,
            movie_ids=movie_ids,
            series_ids=series_ids,
            cancel=cancel,
            progress=progress,
        )
        data = notified.data = run.as_dict()
    if fetched is not None:
        data["fetch_episodes"] = fetched.as_dict()
    return Outcome("generate", run.exit_code, data, render=_generate_lines)


class _Notified:
    data: dict[str, Any]


@contextlib.contextmanager
def _notifying(settings: Settings, dry_run: bool, cancel: threading.Event | None) -> Iterator[_Notified]:
    """Tell the media servers what the block's jobs changed, once they are done: also when a job
    broke off after writing (a failing state disk, a lost database), never after a dry run nor an
    error that stopped a job before it wrote (a setting, the lock, a safety check). The report goes
    under ``notified`` in the data the block leaves in ``.data``."""
    from vod2strm.application.notifying import after_run

    notified = _Notified()
    notified.data = {}
    try:
        yield notified
    except (ConfigError, LockedError, RefusedError):
        raise
    except Exception:
        if not dry_run:
            after_run(settings, {}, cancel)
        raise
    if not dry_run:
        after_run(settings, notified.data, cancel)


def _generate_lines(data: dict[str, Any], wording: Wording) -> list[str]:
    from vod2strm.application.notifying import notified_sentences

    fetched = data.get("fetch_episodes")
    lines = [_fetch_sentence(fetched)] if fetched else []
    return lines + generate_sentences(data, wording) + notified_sentences(data.get("notified") or {})


def _fetch_sentence(data: dict[str, Any]) -> str:
    return (
        f"Fetched episodes for {data.get('fetched', 0)} of {data.get('candidates', 0)} series without "
        f"episodes ({data.get('failed', 0)} failed)."
    )


def cleanup(
    settings: Settings,
    *,
    dry_run: bool = False,
    force: bool = False,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Remove the files of items that left the catalog (``dry_run``: list them)."""
    from vod2strm.jobs import cleanup as cleanup_job

    if progress is not None:
        progress.set_phase("cleanup")
    with _notifying(settings, dry_run, cancel) as notified:
        result = cleanup_job.run(settings, dry_run=dry_run, force=force, cancel=cancel)
        notified.data = result.as_dict()
    return Outcome("cleanup", result.exit_code, notified.data, render=_cleanup_lines)


def _cleanup_lines(data: dict[str, Any], wording: Wording) -> list[str]:
    from vod2strm.application.notifying import notified_sentences

    return cleanup_lines(data, wording) + notified_sentences(data.get("notified") or {})


def fetch_episodes(
    settings: Settings,
    *,
    series_ids: Sequence[int] | None = None,
    force: bool = False,
    max_calls: int | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Ask the provider for the episodes of series that have none (rate-limited, cached)."""
    from vod2strm.jobs import fetch_episodes as fetch_job

    result = fetch_job.run(
        settings, series_ids=series_ids, force=force, max_calls=max_calls, cancel=cancel, progress=progress
    )
    text = result.as_text().splitlines()
    return Outcome("fetch-episodes", result.exit_code, result.as_dict(), render=lambda data, wording: text)


def stats(settings: Settings, *, scan: bool = False) -> Outcome:
    """Catalog and library counts (fixed aggregate queries, the manifest, optionally a walk)."""
    from vod2strm.jobs import stats as stats_job

    report = stats_job.collect(settings, scan=scan)
    return Outcome(
        "stats", EXIT_OK, report, render=lambda data, wording: stats_job.as_text(data).splitlines()
    )


def demo(
    *,
    movies: int,
    series: int,
    seasons: int,
    episodes: int,
    seed: int,
    reset: bool,
    on_phase: Callable[[str], None],
) -> Outcome:
    """Load the demo catalog into the standalone home (a configuration error in any other)."""
    from vod2strm.catalog import resolver

    if not resolver.is_standalone():
        raise ConfigError("CATALOG", "demo data can only be loaded into the standalone catalog")
    from vod2strm.standalone.demo import load_demo

    counts = load_demo(
        movies=movies,
        series=series,
        seasons=seasons,
        episodes=episodes,
        seed=seed,
        reset=reset,
        progress=lambda phase, done, total: on_phase(f"{phase} {done}/{total}") if done == total else None,
    )
    line = "Demo catalog loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    return Outcome("demo", EXIT_OK, dict(counts), render=lambda data, wording: [line])


def bundle(out: Path) -> Outcome:
    """Build the Dispatcharr plugin folder and its zip in ``out``."""
    from vod2strm.dispatcharr import bundle as bundle_builder

    folder, archive = bundle_builder.build(out)
    lines = [f"Plugin folder: {folder}", f"Plugin zip:    {archive}"]
    return Outcome("bundle", EXIT_OK, {"folder": str(folder), "zip": str(archive)}, render=lambda d, w: lines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
