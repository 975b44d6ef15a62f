"""A generate and the cleanup that follows it: one run to the person who asked for it.

A run's cleanup follows its generate only when it was asked for, the generate was not a dry run,
the generate ended with status 0 (every section complete, no item failed) and the run was not
interrupted meanwhile. It shares the generate's cancel event, so one Ctrl-C or cancel stops either.
Why here and not in each door: when each door combined the two itself, a cleanup refused by its
safety valve ended the CLI with status 0 and the plugin's job with 5.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vod2strm.application.status import state_for, worst
from vod2strm.errors import EXIT_INTERRUPTED, EXIT_OK, Vod2strmError
from vod2strm.jobs.progress import Progress

if TYPE_CHECKING:
    from vod2strm.conf import Settings


@dataclass
class GenerateRun:
    """A generate and, when asked, its cleanup: the jobs' results and the run's one outcome."""

    generate: Any  # jobs.generate.GenerateResult
    cleanup: Any = None  # jobs.cleanup.CleanupResult, when the cleanup ran to a result
    cleanup_error: Vod2strmError | None = None  # when it stopped with an error instead
    cleanup_skipped: str = ""  # why a cleanup that was asked for did not run
    interrupted: bool = False  # the cancel event was set when the run ended

    @property
    def exit_code(self) -> int:
        codes = [self.generate.exit_code]
        if self.cleanup is not None:
            codes.append(self.cleanup.exit_code)
        if self.cleanup_error is not None:
            codes.append(self.cleanup_error.exit_code)
        if self.interrupted:
            codes.append(EXIT_INTERRUPTED)
        return worst(codes)

    @property
    def state(self) -> str:
        return state_for(self.exit_code)

    def as_dict(self) -> dict[str, Any]:
        """The generate's summary; ``cleanup`` when one was asked for; ``exit`` of the whole run."""
        data = self.generate.as_dict()
        if self.cleanup is not None:
            data["cleanup"] = self.cleanup.as_dict()
            # The generate's own (old files of titles that moved to new names) and the orphans.
            data["removed"] = data.get("removed", 0) + self.cleanup.removed
        elif self.cleanup_error is not None:
            data["cleanup"] = {"error": str(self.cleanup_error), "exit": self.cleanup_error.exit_code}
        elif self.cleanup_skipped:
            data["cleanup"] = {"skipped": self.cleanup_skipped}
        data["exit"] = self.exit_code
        return data


def run_generate(
    settings: Settings,
    *,
    only: str | None = None,
    dry_run: bool = False,
    verify: bool = False,
    cleanup: bool = False,
    movie_ids: Sequence[int] | None = None,
    series_ids: Sequence[int] | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> GenerateRun:
    """Generate, then clean up when ``cleanup`` and the generate allows it (module docstring).

    ``movie_ids`` / ``series_ids`` limit the generate to those items (a selection is never
    complete, so its cleanup is skipped).

    Raises what ``jobs.generate.run`` raises before writing (config, lock, refusal); an error of the
    cleanup is part of the outcome instead, so the generate's summary is never lost to it.
    """
    from vod2strm.jobs import cleanup as cleanup_job
    from vod2strm.jobs import generate

    cancel = cancel if cancel is not None else threading.Event()
    progress = progress if progress is not None else Progress(job="generate")
    result = generate.run(
        settings,
        only=only,
        dry_run=dry_run,
        verify=verify,
        movie_ids=movie_ids,
        series_ids=series_ids,
        cancel=cancel,
        progress=progress,
    )
    run = GenerateRun(result)
    if cleanup:
        if dry_run:
            run.cleanup_skipped = "a dry run deletes nothing"
        elif movie_ids is not None or series_ids is not None:
            run.cleanup_skipped = "a run for selected items is not a run of the whole catalog"
        elif result.exit_code != EXIT_OK:
            run.cleanup_skipped = "the generate did not complete without errors"
        elif cancel.is_set():
            run.cleanup_skipped = "the run was interrupted before it"
        else:
            progress.set_phase("cleanup")
            try:
                run.cleanup = cleanup_job.run(settings, cancel=cancel)
            except Vod2strmError as exc:
                run.cleanup_error = exc
    run.interrupted = cancel.is_set()
    return run
