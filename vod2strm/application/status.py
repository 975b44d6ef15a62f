"""The one rule for the exit status and state word of a run, whatever door started it.

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

from vod2strm.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ITEM_ERRORS,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REFUSED,
)

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
