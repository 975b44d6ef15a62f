"""Ctrl-C and SIGTERM in the processes vod2strm starts: ``manage.py vod2strm``, ``python -m vod2strm``
and the Dispatcharr plugin's job process.

Why a module of its own: a signal can land at any moment of a process (while Django starts, while
settings load, between a generate and its cleanup, while the summary is printed), not only while a
job watches its cancel event. Each entry point calls :func:`install` first thing, so a signal,
whenever it comes, ends the same way: one line on stderr and exit status 130 (README, "Exit
status"), never a traceback, and never a bare 143 from a SIGTERM nobody handled.

- Inside :func:`stoppable` (a job that can stop at a safe point: generate, cleanup, fetch-episodes,
  the plugin's job), the first signal sets the run's cancel event and prints
  ``vod2strm: interrupted; stopping at the next safe point ...``. The job stops there, and the door
  reports status 130 with the job's summary.
- Outside it (start-up, a command without safe points such as ``stats``), and at a second signal,
  the process ends at once: that line unless it was printed already, with ``--json`` the object
  ``{"error": "interrupted", "exit": 130}``, then ``os._exit(130)``.
- Once the process has its answer (:func:`answering`: the summary is being printed, the exit
  status is decided), signals are ignored. Why: the interpreter's shutdown puts the default
  actions back, and a SIGTERM there ended a run that had printed its summary with a bare 143.

Why ``os._exit`` rather than raising ``KeyboardInterrupt`` from the handler: the exception lands in
whatever runs at that moment (an import, a ``finally`` waiting for the writer process, a thread's
join, the interpreter's shutdown) and came out as tracebacks. Ending at once loses nothing a
SIGKILL would not: files are replaced atomically, the manifest is a transactional SQLite file, the
kernel releases the run lock, the writer process dies with its parent, and the next run resumes
(``tests/test_kill.py``). The handler writes with ``os.write``: it may run in the middle of a
``print`` to the same stream, and a second buffered write there raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

EXIT_INTERRUPTED = 130  # errors.EXIT_INTERRUPTED; this module is imported before anything else
SIGNALS = (signal.SIGINT, signal.SIGTERM)

FIRST_LINE = b"vod2strm: interrupted; stopping at the next safe point (interrupt again to stop at once)\n"
ABORT_LINE = b"vod2strm: interrupted\n"
ABORT_JSON = b'{"error": "interrupted", "exit": 130}\n'


class _State:
    """What the handler needs to know; one per process (signals are per process)."""

    def __init__(self) -> None:
        self.cancel: threading.Event | None = None  # the stoppable run's event, while one runs
        self.requested = False  # a signal arrived (in this command)
        self.announced = False  # the one line is on stderr
        self.json_output = False  # the command prints one JSON object on stdout
        self.answered = False  # the process has its answer (and prints it, or has printed it)


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    _state.requested = True
    cancel = _state.cancel
    if cancel is not None and not cancel.is_set():
        cancel.set()
        _say(FIRST_LINE)
        return
    abort()


def _say(line: bytes) -> None:
    if not _state.announced:
        _state.announced = True
        with contextlib.suppress(OSError):
            os.write(2, line)


def abort() -> None:
    """End the process now, as a second signal does: the one line, the JSON error, status 130."""
    _say(ABORT_LINE)
    if _state.json_output and not _state.answered:
        with contextlib.suppress(OSError):
            os.write(1, ABORT_JSON)
    # Whatever the command printed already (its summary) should reach the reader; a flush that
    # collides with a write in progress is given up rather than allowed to raise here.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(EXIT_INTERRUPTED)


def install(*, json_output: bool = False) -> None:
    """Handle SIGINT and SIGTERM from now on, for the rest of the process (entry points)."""
    _state.json_output = json_output
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _handler)


@contextlib.contextmanager
def handling(*, json_output: bool = False) -> Iterator[None]:
    """:func:`install` for one command, then the previous handlers back (``call_command`` callers).

    Outside the main thread (where Python cannot set handlers) the command runs unguarded. Ours,
    installed by an entry point, are not put back: the process is ending (see :func:`answering`).
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    saved = (_state.requested, _state.announced, _state.json_output, _state.answered)
    _state.requested = _state.announced = _state.answered = False
    install(json_output=json_output)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not _handler:
                signal.signal(signum, handler)
        _state.requested, _state.announced, _state.json_output, _state.answered = saved


@contextlib.contextmanager
def stoppable() -> Iterator[threading.Event]:
    """While inside, the first signal sets the yielded event instead of ending the process.

    Nested scopes share the outer event, so one signal stops every phase of a run (the episodes
    fetch, the generate and the cleanup of ``generate --fetch-episodes --cleanup``).
    """
    outer = _state.cancel
    event = outer if outer is not None else threading.Event()
    _state.cancel = event
    try:
        yield event
    finally:
        _state.cancel = outer


def requested() -> bool:
    """Whether a signal arrived during this command (the door then reports status 130)."""
    return _state.requested


def answering() -> None:
    """The process has its answer and only prints it and exits: from now on signals are ignored."""
    _state.answered = True
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
