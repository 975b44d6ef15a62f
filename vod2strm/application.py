"""What a run is: the jobs one request starts, and the one outcome the doors report for them.

Why a layer between ``jobs/`` and the doors: a generate followed by its cleanup (``generate
--cleanup``, the ``cleanup_after_generate`` setting, the plugin's generate actions) is one run to
the person who asked for it, and every door must end it with the same exit status and state word.
When each door combined the two itself, a cleanup refused by its safety valve ended the CLI with
status 0 and the plugin's job with 5.

A run's cleanup follows its generate only when it was asked for, the generate was not a dry run,
the generate ended with status 0 (every section complete, no item failed) and the run was not
interrupted meanwhile. It shares the generate's cancel event, so one Ctrl-C or cancel stops either.

Exit status of a run of several jobs: the worst of theirs, by this precedence (:data:`PRECEDENCE`)

    ====  ============  =====================================================================
    rank  status        why it outranks the ones below
    ====  ============  =====================================================================
    1     130 cancelled the run was asked to stop: it did less than asked, whatever else happened,
                        and a supervisor that sent SIGTERM expects 130
    2     1   failed    something broke; what was not done waits for the next run
    3     2   failed    configuration or environment unusable (only before a job starts)
    4     3   failed    another run holds the output root's lock
    5     5   refused   a safety check refused (cleanup valve, unmarked root, damaged manifest):
                        nothing is broken, but a person has to decide
    6     4   finished  done, but some items failed (their old files are kept)
    7     0   finished  done
    ====  ============  =====================================================================

and a run whose cancel event is set when it ends counts as interrupted (130) even when its jobs had
nothing left to stop: the person asked it to stop, and the status says the request arrived. The
state word (:func:`state_for`) is what the status files (the CLI's and the plugin job's) show.
Codes outside the table (none today) rank with failed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vod2strm.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ITEM_ERRORS,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REFUSED,
    Vod2strmError,
)
from vod2strm.jobs.progress import Progress

if TYPE_CHECKING:
    from vod2strm.conf import Settings

#: Exit statuses, worst first (see the module docstring).
PRECEDENCE = (
    EXIT_INTERRUPTED,
    EXIT_FAILED,
    EXIT_CONFIG,
    EXIT_LOCKED,
    EXIT_REFUSED,
    EXIT_ITEM_ERRORS,
    EXIT_OK,
)

FINISHED, FAILED, CANCELLED, REFUSED = "finished", "failed", "cancelled", "refused"
_STATES = {
    EXIT_OK: FINISHED,
    EXIT_ITEM_ERRORS: FINISHED,
    EXIT_INTERRUPTED: CANCELLED,
    EXIT_REFUSED: REFUSED,
}


def _rank(code: int) -> int:
    return PRECEDENCE.index(code) if code in PRECEDENCE else PRECEDENCE.index(EXIT_FAILED)


def worst(codes: Iterable[int]) -> int:
    """The exit status of a run whose jobs ended with ``codes`` (0 for none)."""
    return min(codes, key=_rank, default=EXIT_OK)


def settle(code: int, cancel: threading.Event | None) -> int:
    """``code``, or 130 when the run was asked to stop and nothing worse happened."""
    return worst((code, EXIT_INTERRUPTED)) if cancel is not None and cancel.is_set() else code


def state_for(code: int) -> str:
    """The state word of a run that ended with ``code``: finished, cancelled, refused or failed."""
    return _STATES.get(code, FAILED)


def succeeded(code: int) -> bool:
    """Whether the run did what it was asked (maybe with some items failed)."""
    return state_for(code) == FINISHED


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
            data["removed"] = self.cleanup.removed
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
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> GenerateRun:
    """Generate, then clean up when ``cleanup`` and the generate allows it (module docstring).

    Raises what ``jobs.generate.run`` raises before writing (config, lock, refusal); an error of the
    cleanup is part of the outcome instead, so the generate's summary is never lost to it.
    """
    from vod2strm.jobs import cleanup as cleanup_job
    from vod2strm.jobs import generate

    cancel = cancel if cancel is not None else threading.Event()
    progress = progress if progress is not None else Progress(job="generate")
    result = generate.run(
        settings, only=only, dry_run=dry_run, verify=verify, cancel=cancel, progress=progress
    )
    run = GenerateRun(result)
    if cleanup:
        if dry_run:
            run.cleanup_skipped = "a dry run deletes nothing"
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


@dataclass(frozen=True)
class Wording:
    """How a door names the actions a summary points at: a command-line flag or a plugin button.

    Why: the sentences are the same for every door, and only these pointers differ; a plugin
    user has no ``--force`` to type.
    """

    fetch_episodes: str  # how to ask for the episodes of series that have none
    hand_over: str  # how to replace kept files with ours
    refused_cleanup: str  # how to see, and to force, what a refused cleanup would delete


def generate_sentences(data: dict[str, Any], wording: Wording) -> list[str]:
    """A generate run's summary (``GenerateRun.as_dict``) as sentences for people, in the order
    every door shows them (the CLI one a line, the plugin one paragraph)."""
    verb = "Dry run: would write" if data.get("dry_run") else "Wrote"
    sentences = [
        f"{verb} {data.get('written', 0)} of {data.get('files', 0)} files for {data.get('items', 0)} items "
        f"({data.get('unchanged', 0)} unchanged, {data.get('errors', 0)} errors) "
        f"in {data.get('seconds', 0):.1f} s, {data.get('queries', 0)} queries."
    ]
    sections = data.get("sections") or {}
    if sections:
        sentences.append("Sections: " + ", ".join(f"{k} {v}" for k, v in sections.items()))
    if data.get("adopted"):
        sentences.append(f"Adopted {data['adopted']} existing identical files without rewriting them.")
    for extra in (fields_sentence(data), kept_sentence(data)):
        if extra:
            sentences.append(extra)
    if data.get("kept_foreign") or data.get("kept_edited"):
        sentences.append(f"They are listed by stats; {wording.hand_over}")
    if data.get("series_without_episodes"):
        sentences.append(
            f"{data['series_without_episodes']} series have no episodes yet and were skipped "
            f"({wording.fetch_episodes})."
        )
    if data.get("error"):
        sentences.append(f"Error: {data['error']}")
    cleaned = cleanup_sentence(data)
    if cleaned:
        sentences.append(cleaned)
    if (data.get("cleanup") or {}).get("refused"):
        sentences.append(wording.refused_cleanup)
    if data.get("exit") == EXIT_INTERRUPTED:
        sentences.append("Interrupted: the next run continues where this one stopped.")
    return sentences


def kept_sentence(data: dict[str, Any], listed: int = 3) -> str:
    """Files a generate left alone because they are not vod2strm's ("" when none), naming a few.

    Worded for every door: which switch hands them over is the door's to add (a flag, a field).
    """
    foreign, edited = data.get("kept_foreign", 0), data.get("kept_edited", 0)
    if not foreign and not edited:
        return ""
    parts = []
    if foreign:
        parts.append(f"{foreign} file{'s' * (foreign != 1)} vod2strm did not write")
    if edited:
        parts.append(f"{edited} file{'s' * (edited != 1)} changed since vod2strm wrote them")
    named = [*data.get("foreign", [])[:listed], *data.get("edited", [])[:listed]][:listed]
    more = foreign + edited - len(named)
    example = "; ".join(named) + (f" (+{more} more)" if more > 0 else "")
    return f"Kept {' and '.join(parts)} where its own would go, as they are: {example}."


def fields_sentence(data: dict[str, Any]) -> str:
    """NFO values a generate cleaned or left out because XML cannot carry them ("" when none)."""
    dropped = data.get("fields_dropped", 0)
    if not dropped:
        return ""
    return (
        f"{dropped} NFO value{'s' * (dropped != 1)} held characters XML cannot carry and "
        f"{'were' if dropped != 1 else 'was'} cleaned or left out of {'their' if dropped != 1 else 'its'} "
        "file (the log names each file); every item was written."
    )


def cleanup_sentence(data: dict[str, Any]) -> str:
    """What the cleanup of a run did, in one sentence for people ("" when none was asked for)."""
    cleaned = data.get("cleanup")
    if not cleaned:
        return ""
    if cleaned.get("skipped"):
        return f"Cleanup skipped: {cleaned['skipped']}."
    if "refused" not in cleaned:  # it stopped with an error
        return f"Cleanup stopped: {cleaned.get('error')}"
    if cleaned["refused"]:
        # The valve's message names the refused sections and why, and may say "cleanup refused"
        # itself; the other sections were cleaned as usual.
        message = str(cleaned.get("message") or "refused by its safety valve")
        if message.lower().startswith("cleanup refused"):
            refusal = message[0].upper() + message[1:]
        else:
            refusal = f"Cleanup refused: {message}"
        removed = cleaned.get("removed", 0)
        return f"Cleanup removed {removed} orphaned files. {refusal}" if removed else refusal
    text = f"Cleanup removed {cleaned.get('removed', 0)} orphaned files"
    if cleaned.get("kept"):
        text += f", kept {cleaned['kept']} that are not vod2strm's to delete"
    if cleaned.get("errors"):
        text += f", {cleaned['errors']} errors"
    if cleaned.get("exit") == EXIT_INTERRUPTED:
        text += " before it was interrupted"
    return text + "."
