"""The run's writer in a process of its own, so rendering and writing stop sharing one GIL.

Why: in one process each syscall of a writer thread hands the GIL to the rendering thread and
then queues to get it back. A cold S run on tmpfs took 41.7 s with one writer thread, and 17.3 s
when the writes were taken out altogether (``bench/child.py --experiment writes-elsewhere``,
docs/performance.md). In a child process the writes overlap rendering on another core.

:class:`WriterProcess` has the interface of :class:`~vod2strm.output.writer.Writer` that
``jobs/generate.py`` uses (``submit``, ``flush``, ``cancel``, ``close``, ``stopped``,
``fatal_error``, ``fatal_reason``), and the child runs an ordinary ``Writer`` on the real
filesystem: the throttle, the folder dispatch, adoption and the temp sweep are the same code.
The child itself shows as ``pid``, ``alive``, ``returncode`` and ``in_flight``.

Protocol: pickle frames over the child's stdin (``batches``, ``flush``, ``cancel``, ``close``) and
stdout (``results`` with the throttle's current limit, ``flushed``, ``fatal``, ``closed``).
Each batch crosses with a sequence number, and the parent keeps it until the child says it is
done: a batch whose files all got their new bytes (nearly every batch of a cold run) comes back
as that number alone, and only the other outcomes (adopted, failed, skipped) as one result per
file. Sending a result per file back cost the child a fifth of its CPU (``bench/writer_replay.py``,
docs/performance.md). ``submit`` blocks while too many files or folders are in flight (sent and
not yet done), which bounds memory on both sides.
Every file's result is delivered once, in the parent's reader thread, which calls ``on_result``
(the manifest is recorded there, in this process); with ``on_batch``, the files of a batch that
got their new bytes go to it as one list, as ``Writer`` does. The child reads its pipe on a
thread of its own, so a ``cancel`` takes effect at once, ahead of the batches still queued.

The child never outlives the run: on Linux it asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), so a killed run cannot leave writes going on behind the next run's lock;
elsewhere it stops when its stdin closes. It ignores SIGINT and SIGTERM (sent to the whole process
group by a terminal or by the Dispatcharr job control), from its first instruction on (it starts
with both blocked): the parent cancels it at a safe point. A child whose parent is gone, or whose
pipes broke, ends at once and silently: there is nobody left to report to, and a traceback there
reached the terminal of a run that had already ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple, NoReturn

import vod2strm
from vod2strm.library.items import FolderFiles, OutputFile
from vod2strm.output.writer import NOTHING_OWNED, Owned, Writer, WriteResult, WriterOptions, check_batch

#: The child sends a results frame once its finished batches hold this many files, or this many
#: batches are finished (fewer frames, fewer GIL handoffs in the parent; but the parent's room for
#: more, _MAX_FOLDERS batches, must not wait on a frame for long).
_RESULTS_PER_FRAME = 256
_BATCHES_PER_FRAME = 32
#: How long a finished result may wait in the child before it is sent anyway.
_IDLE_SEND_SECONDS = 0.05
_PR_SET_PDEATHSIG = 1
#: The child's status when its parent is gone (nobody reads it, unless the parent broke its pipes).
_PARENT_GONE = 1
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
_PIPE_BYTES = 1 << 20
#: How often a submit waiting for room looks at the run's cancel event.
_CANCEL_POLL_SECONDS = 0.1
#: Most files, and folder batches, sent and not yet reported back (see WriterProcess._has_room).
#: 16,384 files are ~0.5 s of the child's work on a local disk (a season is one batch of ~41
#: files), to cover the run's pauses between stages: with 4,096, each process of a cold M run
#: waited for the other a fifth of the time. Batches stay at 256: each holds an item pending in
#: the run, and 1,024 took the 1%-changed M run's peak from 116 to 187 MB (docs/performance.md).
_MAX_FILES = 16384
_MAX_FOLDERS = 256
#: Folder batches the child's writer queues (the in-process default, 2 x workers, is sized for a
#: caller that renders between submits; here the parent's in-flight limits bound what is queued).
_CHILD_PENDING_BATCHES = 256


def available() -> bool:
    """Whether a child Python can be started: ``sys.executable`` is a Python (not uWSGI's binary)."""
    name = os.path.basename(sys.executable or "")
    return name.startswith("python") and os.access(sys.executable, os.X_OK)


class InFlight(NamedTuple):
    """What a :class:`WriterProcess` has sent and the child has not finished yet."""

    batches: int
    files: int
    folders: int


class WriterProcess:
    """A :class:`Writer` running in a child process; results come back through ``on_result``
    (and ``on_batch``, as for :class:`Writer`)."""

    def __init__(
        self,
        root: Path,
        options: WriterOptions,
        *,
        on_result: Callable[[WriteResult], None],
        on_batch: Callable[[FolderFiles, Sequence[OutputFile]], None] | None = None,
    ):
        self.root = Path(root)
        self._on_result = on_result
        self._on_batch = on_batch
        self.fatal_error: OSError | None = None
        self.fatal_reason = ""
        #: The child's throttle limit (writes in flight allowed), as of its last results frame.
        self.throttle_limit: int | None = None
        self._stopped = threading.Event()
        self._send_lock = threading.Lock()
        self._acked = threading.Condition()
        self._flushes = 0
        self._flushed = 0
        self._ended = False  # the child's stdout is closed
        self._closed = False
        self._unexpected: BaseException | None = None
        self._room = threading.Condition()
        self._files_out = 0
        self._folders_out: dict[str, int] = {}
        #: Batches sent and not yet done, by sequence number (the child answers with the number).
        self._sent: dict[int, FolderFiles] = {}
        self._next_seq = 0
        env = dict(os.environ)
        import_root = str(Path(vod2strm.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (import_root, env.get("PYTHONPATH", "")) if p)
        # -P: never import from the working folder (``-m`` would put it first on sys.path), so the
        # child runs the same vod2strm as this process, found through PYTHONPATH.
        with _stop_signals_blocked():
            self._proc = subprocess.Popen(
                [sys.executable, "-P", "-m", __name__, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        for pipe in (self._proc.stdin, self._proc.stdout):
            _widen(pipe)
        self._send(("start", str(self.root), options))
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="vod2strm-writer-results", daemon=True
        )
        self._reader.start()

    # -- the Writer interface ---------------------------------------------------------------------

    def __enter__(self) -> WriterProcess:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.cancel()
        self.close(raise_errors=exc_type is None)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- the child, as seen from here -------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """Whether the child is still running (False once it has ended, however it ended)."""
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has ended and been waited for (:meth:`close` waits),
        else None: 0 when it closed normally, ``-signal`` when it was killed."""
        return self._proc.returncode

    @property
    def in_flight(self) -> InFlight:
        """Batches, files and folders sent and not yet done (``submit`` keeps them within
        ``_MAX_FILES`` and ``_MAX_FOLDERS``); all zero after a :meth:`flush`."""
        with self._room:
            return InFlight(len(self._sent), self._files_out, len(self._folders_out))

    def submit(
        self, batch: FolderFiles, *, owned: Owned = NOTHING_OWNED, if_missing: frozenset[str] = frozenset()
    ) -> bool:
        """Queue one folder's files in the child; blocks while its queue (and the pipe) is full."""
        return self.submit_many([(batch, owned, if_missing)]) == 1

    def submit_many(
        self,
        batches: Sequence[tuple[FolderFiles, Owned, frozenset[str]]],
        *,
        cancel: threading.Event | None = None,
    ) -> int:
        """Queue ``(batch, owned, if_missing)`` triples, as many to a frame as the child has room for.

        Why frames of several: one frame per batch (an episode, a movie) cost a pickle call and a
        pipe write here, and a wake-up of the child's reader there, per one or two files. Returns
        how many were sent; the rest come back ``skipped`` (the run stopped, ``cancel`` was set, or
        the child is gone). ``cancel`` (the run's event) is checked while waiting for room too.
        """
        for batch, _, _ in batches:
            check_batch(batch)

        sent = 0
        while sent < len(batches):
            if cancel is not None and cancel.is_set():
                self.cancel()
            with self._room:
                first = len(batches[sent][0].files)
                has_room = self._room.wait_for(functools.partial(self._can_send, first), _CANCEL_POLL_SECONDS)
                if self._ended or self._stopped.is_set():
                    break
                if not has_room:
                    continue  # look at the cancel event again
                end, frame = sent, []
                while end < len(batches):
                    batch, owned, if_missing = batches[end]
                    count = len(batch.files)
                    if end > sent and not self._has_room(count):
                        break
                    self._files_out += count
                    self._folders_out[batch.folder] = self._folders_out.get(batch.folder, 0) + count
                    seq = self._next_seq
                    self._next_seq += 1
                    self._sent[seq] = batch
                    frame.append(_wire(seq, batch, owned, if_missing))
                    end += 1
            if not self._send(("batches", frame)):
                # The child is gone: these files will never be reported by it.
                self._returned([self._sent.pop(wired[0]) for wired in frame])
                break
            sent = end
        for batch, _, _ in batches[sent:]:
            for f in batch.files:
                self._deliver(self._on_result, WriteResult(f.relpath, f.kind, False, None, skipped=True))
        return sent

    def _can_send(self, count: int) -> bool:
        """Whether a submit waiting for room may go on (to send, or to find the run stopped)."""
        return self._ended or self._stopped.is_set() or self._has_room(count)

    def _has_room(self, count: int) -> bool:
        """In flight: at most _MAX_FILES files (one rendering stage keeps the child busy) and
        _MAX_FOLDERS folder batches (each holds a rendered item in the pipeline until it is done:
        a 1%-changed run sends one small batch per item, and a pipe's worth of them was 50 MB)."""
        if not self._files_out:
            return True
        return self._files_out + count <= _MAX_FILES and len(self._folders_out) < _MAX_FOLDERS

    def _returned(self, done: Sequence[FolderFiles]) -> None:
        """Batches done (or lost with the child): room for more. Once per frame, so a ``submit``
        waiting for room is woken once per frame rather than once per batch (each wake-up is a
        GIL hand-off)."""
        with self._room:
            for batch in done:
                count = len(batch.files)
                self._files_out -= count
                left = self._folders_out[batch.folder] - count
                if left:
                    self._folders_out[batch.folder] = left
                else:
                    del self._folders_out[batch.folder]
            self._room.notify_all()

    def flush(self, cancel: threading.Event | None = None) -> None:
        """Wait until every batch submitted so far is done and its results delivered.

        ``cancel`` (the run's event) is obeyed while waiting: the child may hold thousands of
        queued files, and a cancel skips them instead of waiting for them to be written.
        """
        with self._acked:
            self._flushes += 1
            ticket = self._flushes
        if not self._send(("flush", ticket)):
            return
        poll = None if cancel is None else _CANCEL_POLL_SECONDS
        while True:
            with self._acked:
                if self._acked.wait_for(lambda: self._flushed >= ticket or self._ended, poll):
                    return
            if cancel is not None and cancel.is_set() and not self._stopped.is_set():
                self.cancel()

    def cancel(self) -> None:
        """Skip what the child has not started; writes in progress finish (atomically)."""
        self._stopped.set()
        with self._room:  # a submit waiting for room returns now
            self._room.notify_all()
        self._send(("cancel",))

    def close(self, *, raise_errors: bool = True) -> None:
        """Let the child finish what it was sent, then wait for it. Idempotent."""
        if not self._closed:
            self._closed = True
            self._send(("close",))
            with contextlib.suppress(OSError):
                self._stdin.close()
            self._reader.join()
            self._proc.wait()
        if raise_errors and self._unexpected is not None:
            exc, self._unexpected = self._unexpected, None
            raise exc

    # -- the pipe -------------------------------------------------------------------------------

    def _send(self, message: tuple) -> bool:
        """Send one frame; False when the child is gone (its death is reported by the reader)."""
        with self._send_lock:
            try:
                pickle.dump(message, self._stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._stdin.flush()
            except (BrokenPipeError, ValueError, OSError):  # ValueError: already closed
                return False
        return True

    def _read(self, stream: IO[bytes]) -> None:
        closed = False
        try:
            while True:
                message = pickle.load(stream)
                kind = message[0]
                if kind == "results":
                    _, results, done, self.throttle_limit = message
                    finished = [self._done(entry) for entry in done]
                    # Room first: delivering records items in the manifest, and while it did, the
                    # run's process waited for room the child had freed long before (a quarter
                    # of a cold M run, with the child idle a fifth of it; docs/performance.md).
                    self._returned([batch for batch, _ in finished])
                    for fields in results:
                        self._deliver(self._on_result, _result(fields))
                    for batch, written in finished:
                        if self._on_batch is not None:
                            if written:
                                self._deliver(self._on_batch, batch, written)
                        else:
                            for f in written:
                                self._deliver(self._on_result, WriteResult(f.relpath, f.kind, True, None))
                elif kind == "flushed":
                    with self._acked:
                        self._flushed = message[1]
                        self._acked.notify_all()
                elif kind == "fatal":
                    self.fatal_error, self.fatal_reason = _oserror(message[1]), message[2]
                    self._stopped.set()
                elif kind == "closed":
                    closed = True
                    if message[1] and self._unexpected is None:
                        self._unexpected = RuntimeError(f"writer process: {message[1]}")
                    break
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        finally:
            if not closed:  # the child died (killed, out of memory): the run cannot go on
                if not self._stopped.is_set():
                    status = self._proc.wait()
                    self.fatal_error = OSError(errno.EIO, f"the writer process ended (status {status})")
                    self.fatal_reason = str(self.fatal_error.strerror)
                self._stopped.set()
            with self._acked:
                self._ended = True
                self._acked.notify_all()
            with self._room:
                self._room.notify_all()

    def _done(self, entry: int | tuple[int, tuple[str, ...]]) -> tuple[FolderFiles, Sequence[OutputFile]]:
        """A batch the child finished, and its files that got their new bytes.

        ``entry`` is the batch's number when every file did (the common case), else the number and
        the relpaths written; the child sent the batch's other outcomes before this entry.
        """
        if isinstance(entry, int):
            batch = self._sent.pop(entry)
            return batch, batch.files
        batch = self._sent.pop(entry[0])
        names = set(entry[1])
        return batch, [f for f in batch.files if f.relpath in names]

    def _deliver(self, callback: Callable[..., None], *args: Any) -> None:
        """Hand results to ``callback``; a failure there (a broken manifest) stops the run."""
        try:
            callback(*args)
        except BaseException as exc:
            if self._unexpected is None:
                self._unexpected = exc
            self.cancel()


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back in this thread while the child starts, which inherits the mask.

    Why: until the child's ``main`` ignores them, a Ctrl-C or a cancel sent to the process group
    would end it with a traceback (SIGINT) or kill it (SIGTERM), and the run would fail instead of
    stopping at a safe point. The mask crosses ``exec`` and the child starts with both held;
    ignoring them there discards any that came meanwhile. Here they are only delayed: the kernel
    delivers them once the mask is restored.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _widen(pipe: IO[bytes]) -> None:
    """Linux: a 1 MiB pipe (default 64 KiB) holds a whole stage of rendered files (~2,000, see
    ``jobs/generate.py``), so the child keeps writing while the parent renders the next one."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _wire(seq: int, batch: FolderFiles, owned: Owned, if_missing: frozenset[str]) -> tuple:
    """A batch as plain tuples for the pipe: pickling the dataclasses themselves took 3.4 µs per
    file (each object goes through ``__reduce_ex__``) against 1.0 µs for building and pickling
    these tuples, and unpickling 1.1 µs against 0.65 µs with the objects rebuilt (timeit, a stage
    of 20,000 episode files)."""
    return seq, batch.folder, tuple([(f.relpath, f.data, f.kind) for f in batch.files]), owned, if_missing


class _NumberedBatch(FolderFiles):
    """A batch in the child, with the number the parent gave it (the child answers with it)."""

    __slots__ = ("seq",)
    seq: int


def _unwire(
    seq: int, folder: str, files: Sequence[tuple[str, bytes, str]], owned: Owned, if_missing: frozenset[str]
) -> tuple[_NumberedBatch, Owned, frozenset[str]]:
    """:func:`_wire` undone, in the child."""
    batch = _NumberedBatch(folder, tuple([OutputFile(*f) for f in files]))
    batch.seq = seq
    return batch, owned, if_missing


def _result(fields: tuple) -> WriteResult:
    relpath, kind, ok, error, skipped, adopted, kept = fields
    return WriteResult(relpath, kind, ok, _oserror(error), skipped=skipped, adopted=adopted, kept=kept)


def _error_fields(error: OSError | None) -> tuple | None:
    return None if error is None else (error.errno, error.strerror or str(error), error.filename)


def _oserror(fields: tuple | None) -> OSError | None:
    if fields is None:
        return None
    code, text, filename = fields
    return OSError(code, text) if filename is None else OSError(code, text, filename)


# -- the child ------------------------------------------------------------------------------------


class _Outbox:
    """Results from the writer's threads, sent in frames by one thread (the only stdout writer)."""

    def __init__(
        self,
        stream: IO[bytes],
        writer_state: Callable[[], tuple | None],
        throttle_limit: Callable[[], int | None],
    ):
        self._stream = stream
        self._writer_state = writer_state
        self._throttle_limit = throttle_limit
        self._cond = threading.Condition()
        self._results: list[tuple] = []
        self._done: list[int | tuple[int, tuple[str, ...]]] = []
        self._files = 0  # files covered by the results and batches not yet sent
        self._control: list[tuple] = []
        self._fatal_sent = False
        self._thread = threading.Thread(target=self._run, name="vod2strm-writer-outbox", daemon=True)
        self._thread.start()

    def result(self, outcome: WriteResult) -> None:
        """One file that did not simply get its new bytes (adopted, kept, failed, skipped)."""
        fields = (
            outcome.relpath,
            outcome.kind,
            outcome.ok,
            _error_fields(outcome.error),
            outcome.skipped,
            outcome.adopted,
            outcome.kept,
        )
        with self._cond:
            self._results.append(fields)
            self._files += 1
            if self._ready():
                self._cond.notify()

    def batch_done(self, batch: FolderFiles, written: list[OutputFile]) -> None:
        """A batch is done; ``written`` are its files that got their new bytes (the Writer's
        ``on_batch``, called after the batch's other results)."""
        assert isinstance(batch, _NumberedBatch)
        entry: int | tuple[int, tuple[str, ...]] = batch.seq
        if len(written) != len(batch.files):
            entry = (batch.seq, tuple(f.relpath for f in written))
        with self._cond:
            self._done.append(entry)
            self._files += len(written)
            if self._ready():
                self._cond.notify()

    def _ready(self) -> bool:
        """Whether a frame is worth sending now (callers hold ``_cond``)."""
        files, batches = self._files, len(self._done)
        return files >= _RESULTS_PER_FRAME or batches >= _BATCHES_PER_FRAME or bool(self._control)

    def control(self, message: tuple) -> None:
        """Send ``message`` after every result queued before it (``closed`` ends the thread)."""
        with self._cond:
            self._control.append(message)
            self._cond.notify()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._ready, _IDLE_SEND_SECONDS)
                results, self._results = self._results, []
                done, self._done = self._done, []
                control, self._control = self._control, []
                self._files = 0
            frames: list[tuple] = []
            if results or done:
                frames.append(("results", results, done, self._throttle_limit()))
            fatal = None if self._fatal_sent else self._writer_state()
            if fatal is not None:
                self._fatal_sent = True
                frames.append(("fatal", *fatal))
            frames += control
            try:
                for frame in frames:
                    pickle.dump(frame, self._stream, protocol=pickle.HIGHEST_PROTOCOL)
                if frames:
                    self._stream.flush()
            except (OSError, ValueError):  # a broken pipe: the parent is gone or stopped listening
                _parent_gone()
            if any(frame[0] == "closed" for frame in control):
                return


def serve(commands: IO[bytes], writer: Writer, outbox: _Outbox) -> str:
    """Run the parent's frames against ``writer`` until ``close``; returns an unexpected error
    ("" when none), which is reported rather than raised so the parent never hangs.

    The child's loop, apart from :func:`main`'s setup: ``commands``, ``writer`` and ``outbox``
    are handed in, so it runs against any writer with ``submit_checked``, ``join`` and ``cancel``
    (the tests' blocked one).

    A thread of its own reads the pipe and cancels the moment ``cancel`` (or the end of the pipe)
    arrives. The loop below can be blocked in ``Writer.submit`` behind a full queue, and a cancel
    read by that loop waited for the batches ahead of it: 27 s after a cancel at one worker on a
    3 ms share (``bench/run.py --fs slow``). What the reader queues is bounded by the parent's
    in-flight limits (``WriterProcess._has_room``).
    """
    inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                message = pickle.load(commands)
                if message[0] == "cancel":
                    writer.cancel()
                    continue
                inbox.put(message)
                if message[0] == "close":
                    return
        except EOFError:  # the parent is gone: stop at the next safe point
            writer.cancel()
            inbox.put(("close",))
        except BaseException as exc:  # a bug or a corrupt frame
            writer.cancel()
            inbox.put(("error", f"{type(exc).__name__}: {exc}"))

    threading.Thread(target=read, name="vod2strm-commands", daemon=True).start()
    try:
        while True:
            message = inbox.get()
            kind = message[0]
            if kind == "batches":
                root = writer.root
                for wired in message[1]:
                    batch, owned, if_missing = _unwire(*wired)
                    writer.submit_checked(batch, root, owned, if_missing)  # checked by the parent
            elif kind == "flush":
                writer.join()
                outbox.control(("flushed", message[1]))
            elif kind == "close":
                return ""
            elif kind == "error":
                return message[1]
    except BaseException as exc:  # a bug: report it, never hang the parent
        writer.cancel()
        return f"{type(exc).__name__}: {exc}"


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when the parent dies, so no write outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _parent_gone() -> NoReturn:
    """End the child now and silently (no traceback, no flush of a broken pipe at exit)."""
    os._exit(_PARENT_GONE)


def main(argv: list[str]) -> int:
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # also discards those held since the start
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    parent_pid = int(argv[0])
    _die_with_parent(parent_pid)
    commands = sys.stdin.buffer
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must never corrupt the frames
    try:
        _, root, options = pickle.load(commands)
    except (EOFError, OSError, pickle.UnpicklingError):
        _parent_gone()
    made: list[Writer] = []  # the outbox asks for the writer's state before it may exist

    def fatal_state() -> tuple | None:
        error = made[0].fatal_error if made else None
        return None if error is None else (_error_fields(error), made[0].fatal_reason or str(error))

    outbox = _Outbox(results, fatal_state, lambda: made[0].throttle.limit if made else None)
    writer = Writer(
        Path(root),
        options,
        on_result=outbox.result,
        on_batch=outbox.batch_done,
        max_pending=_CHILD_PENDING_BATCHES,
        inline_when_serial=True,
    )
    made.append(writer)
    unexpected = serve(commands, writer, outbox)
    try:
        writer.close()
    except BaseException as exc:
        unexpected = unexpected or f"{type(exc).__name__}: {exc}"
    outbox.control(("closed", unexpected))
    outbox.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
