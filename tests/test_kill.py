"""SIGKILL at seeded random moments of generate and cleanup (docs/reliability.md).

A real ``manage.py vod2strm generate|cleanup --json`` process (the CLI's own code path, run by
``execute_from_command_line`` in a child that has already imported Django, so the kill lands in
the job and not in the interpreter's start) is killed with SIGKILL after a seeded random delay,
then checked:

- no partial or empty ``.strm``/``.nfo`` anywhere: every ``.strm`` is one http URL line, every
  ``.nfo`` parses (temp files may be left: they are hidden and the next run sweeps them);
- every file holds either its old bytes or its new ones, never a mix;
- the manifest agrees with the disk (every recorded hash is the file's);

and after two to four kills in a row, the next uninterrupted run converges to exactly the tree an
uninterrupted run wrote (byte for byte, folders included), with no temp file left.

Each write in the child pauses a few milliseconds with half its bytes in the temp file, so most
kills land while files are being written: the kill report printed with ``-s`` shows how many
kills found work in progress. Four kinds of sequence: a first generate into an empty root, a
generate rewriting every ``.strm`` (a new base URL), a generate moving every folder (a new id tag
style: new files written, then the old ones removed in the same run), and a cleanup deleting a
whole old layout.

Then the polite signals (SIGINT, SIGTERM; once and twice; while settings load, mid-generate and
mid-cleanup of ``generate --cleanup``, and to the plugin's job process): one ``vod2strm:`` line,
exit status 130, never a traceback. And the writer process, whose parent dies or whose pipes
break: it ends without a word.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults import helpers
from tests.output.test_writer_process import _alive
from vod2strm import conf
from vod2strm.jobs import cleanup, generate
from vod2strm.output.marker import MARKER_NAME
from vod2strm.standalone import models

pytestmark = pytest.mark.slow

SEED = 20_251_123
# Kills that land mid-run (some work done, not all) are the ones that test anything. How many of
# the kills land there depends on how the run's time splits between start-up and writing, which
# changes with every speed-up: so the test kills until it has these many mid-run kills (and at
# least GENERATE_KILLS / CLEANUP_KILLS kills in all).
GENERATE_KILLS, GENERATE_MID_KILLS = 52, 30
CLEANUP_KILLS, CLEANUP_MID_KILLS = 8, 3
MAX_SEQUENCES = 200
PRESPAWN = 4
MOVIES, SERIES, SEASONS, EPISODES = 300, 4, 2, 6
BASE_A, BASE_B = "http://dispatcharr-a:9191", "http://dispatcharr-b:9191"
WRITE_DELAY, UNLINK_DELAY = 0.002, 0.002

#: The child: Django set up and the job modules imported *before* the test starts the clock, then
#: waits for its go file and runs the CLI exactly as ``manage.py`` does.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import django

    django.setup()
    from django.core.management import execute_from_command_line
    import vod2strm.management.commands.vod2strm  # noqa: F401
    import vod2strm.jobs.cleanup, vod2strm.jobs.generate  # noqa: F401
    from vod2strm.output import atomic
    from vod2strm.output.fs import LocalFS

    write_delay = float(os.environ["KILLTEST_WRITE_DELAY"])
    unlink_delay = float(os.environ["KILLTEST_UNLINK_DELAY"])
    real_write_all, real_unlink = atomic.write_all, LocalFS.unlink

    def slow_write_all(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        time.sleep(write_delay)
        real_write_all(fd, data[len(data) // 2 :])

    def slow_unlink(self, path):
        time.sleep(unlink_delay)
        real_unlink(self, path)

    atomic.write_all, LocalFS.unlink = slow_write_all, slow_unlink
    go = os.environ["KILLTEST_GO"]
    open(go + ".ready", "w").close()
    while not os.path.exists(go):
        time.sleep(0.002)
    execute_from_command_line(["manage.py", "vod2strm", *sys.argv[1:], "--json"])
    """
)


def bulk_catalog() -> None:
    from tests.factories import M3UAccountFactory

    account = M3UAccountFactory(name="Main")
    movies = models.Movie.objects.bulk_create(
        models.Movie(
            name=f"Killer Film {i}", year=1960 + i % 60, tmdb_id=str(300_000 + i), description="Plot. " * 20
        )
        for i in range(MOVIES)
    )
    models.M3UMovieRelation.objects.bulk_create(
        models.M3UMovieRelation(movie=m, m3u_account=account, stream_id=f"k{m.pk}") for m in movies
    )
    for s in range(SERIES):
        show = models.Series.objects.create(name=f"Killer Show {s}", year=2000 + s, tmdb_id=str(400_000 + s))
        rel = models.M3USeriesRelation.objects.create(
            series=show, m3u_account=account, external_series_id=str(s)
        )
        episodes = models.Episode.objects.bulk_create(
            models.Episode(series=show, season_number=season, episode_number=e, name=f"Chapter {e}")
            for season in range(1, SEASONS + 1)
            for e in range(1, EPISODES + 1)
        )
        models.M3UEpisodeRelation.objects.bulk_create(
            models.M3UEpisodeRelation(
                episode=ep, m3u_account=account, series_relation=rel, stream_id=f"e{ep.pk}"
            )
            for ep in episodes
        )


def folders(root: Path) -> set[str]:
    return {Path(d).relative_to(root).as_posix() for d, _, _ in os.walk(root)}


@dataclass
class Kind:
    """One kind of sequence: the job, its settings, where it starts and what it must end as."""

    name: str
    command: str
    settings: conf.Settings
    start: Path | None = None  # snapshot to start from (None: empty)
    start_tree: dict[str, bytes] = field(default_factory=dict)
    reference: dict[str, bytes] = field(default_factory=dict)
    reference_folders: set[str] = field(default_factory=set)
    seconds: float = 0.0  # how long the uninterrupted child run took


@dataclass
class Child:
    proc: subprocess.Popen
    go: Path


class Harness:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.work = tmp / "work"
        self.root, self.state = self.work / "library", self.work / "state"
        self.n = 0
        self.spawned: list[Child] = []

    def settings(self, **extra) -> conf.Settings:
        return conf.build(
            {
                "output_root": self.root,
                "state_dir": self.state,
                "max_workers": 8,
                "chunk_size": 50,
                "cleanup_max_share": 1.0,
                **extra,
            }
        )

    def spawn(self, kind: Kind) -> Child:
        self.n += 1
        go = self.tmp / "gates" / f"go-{self.n}"
        go.parent.mkdir(exist_ok=True)
        env = helpers.child_env(
            kind.settings,
            KILLTEST_GO=str(go),
            KILLTEST_WRITE_DELAY=str(WRITE_DELAY),
            KILLTEST_UNLINK_DELAY=str(UNLINK_DELAY),
            VOD2STRM_ID_TAG_STYLE=kind.settings.id_tag_style,
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, kind.command],
            env=env,
            cwd=helpers.REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        child = Child(proc, go)
        self.spawned.append(child)
        return child

    def start(self, child: Child) -> float:
        ready = child.go.with_name(child.go.name + ".ready")
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.proc.poll() is None, child.proc.communicate()
            assert time.monotonic() < deadline, "child never got ready"
            time.sleep(0.005)
        child.go.touch()
        return time.monotonic()

    def restore(self, snapshot: Path | None) -> None:
        """Put the work folder back as ``snapshot`` (None: empty).

        The library is restored with hard links (fast): vod2strm never writes a library file in
        place (a write is a new temp file renamed over the old name; a delete unlinks one name),
        so the snapshot's files cannot change. The state folder (SQLite writes in place) is copied.
        """
        shutil.rmtree(self.work, ignore_errors=True)
        if snapshot is None:
            self.work.mkdir(parents=True)
            return
        shutil.copytree(snapshot / "library", self.root, symlinks=True, copy_function=os.link)
        shutil.copytree(snapshot / "state", self.state, symlinks=True)

    def snapshot(self, name: str) -> Path:
        target = self.tmp / "snapshots" / name
        shutil.copytree(self.work, target, symlinks=True)
        return target

    def kill_all(self) -> None:
        for child in self.spawned:
            if child.proc.poll() is None:
                child.proc.kill()
            child.proc.communicate()


def split(files: dict[str, bytes]) -> tuple[dict[str, bytes], int]:
    """The library a reader sees (no marker, no temp file) and how many temp files there are."""
    tree, temps = {}, 0
    for rel, data in files.items():
        if helpers.is_temp_name(rel.rsplit("/", 1)[-1]):
            temps += 1
        elif rel != MARKER_NAME:
            tree[rel] = data
    return tree, temps


def work_left(kind: Kind, tree: dict[str, bytes]) -> float:
    """Which share of the files the uninterrupted run changed are still to change."""
    paths = kind.start_tree.keys() | kind.reference.keys()
    todo = [p for p in paths if kind.start_tree.get(p) != kind.reference.get(p)]
    return sum(tree.get(p) != kind.reference.get(p) for p in todo) / max(1, len(todo))


def check_after_kill(kind: Kind, files: dict[str, bytes]) -> list[str]:
    problems = helpers.library_problems(files, temps_allowed=True)
    tree, _ = split(files)
    if kind.command == "generate":
        # A move's old files go in the run itself: the uninterrupted run removed them.
        removed = kind.start_tree.keys() - kind.reference.keys()
        problems += helpers.old_or_new_problems(kind.start_tree, tree, kind.reference, removed=removed)
    else:  # cleanup only deletes, and only what the uninterrupted cleanup deleted
        problems += [f"{p} changed" for p in tree if tree[p] != kind.start_tree.get(p)]
        problems += [f"{p} was deleted" for p in kind.reference if p not in tree]
    problems += helpers.manifest_problems(kind.settings, files=files)
    return problems


def converge(h: Harness, kind: Kind) -> list[str]:
    if kind.command == "generate":
        result = generate.run(kind.settings)
        ok = result.exit_code == 0 and result.sections == {"movies": "complete", "series": "complete"}
    else:
        result = cleanup.run(kind.settings)
        ok = result.exit_code == 0
    problems = [] if ok else [f"{kind.name}: the next run did not succeed: {result.as_dict()}"]
    files = helpers.files_on_disk(h.root)
    problems += helpers.library_problems(files)  # no temp file either
    tree, _ = split(files)
    if tree != kind.reference:
        extra = sorted(set(tree) - set(kind.reference))[:3]
        missing = sorted(set(kind.reference) - set(tree))[:3]
        differ = sorted(p for p in tree if p in kind.reference and tree[p] != kind.reference[p])[:3]
        problems.append(f"{kind.name}: not converged: extra {extra}, missing {missing}, differ {differ}")
    if folders(h.root) != kind.reference_folders:
        problems.append(
            f"{kind.name}: folders differ: {sorted(folders(h.root) ^ kind.reference_folders)[:3]}"
        )
    problems += helpers.manifest_problems(kind.settings, files=files)
    return problems


def calibrate(h: Harness, kind: Kind) -> None:
    """The uninterrupted run of ``kind`` in a child: its duration and the tree it leaves."""
    h.restore(kind.start)
    kind.start_tree = helpers.library_tree(h.root)
    child = h.spawn(kind)
    started = h.start(child)
    out, err = child.proc.communicate(timeout=300)
    kind.seconds = time.monotonic() - started
    assert child.proc.returncode == 0, (out, err)
    kind.reference = helpers.library_tree(h.root)
    kind.reference_folders = folders(h.root)


@pytest.mark.django_db(transaction=True)
def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path, monkeypatch):
    bulk_catalog()
    h = Harness(tmp_path)
    try:
        fresh = Kind("first generate", "generate", h.settings(base_url=BASE_A))
        calibrate(h, fresh)
        assert len(fresh.reference) == 2 * MOVIES + SERIES * (1 + SEASONS + 2 * SEASONS * EPISODES)
        snap_a = h.snapshot("a")
        rewrite = Kind("rewrite every .strm", "generate", h.settings(base_url=BASE_B), start=snap_a)
        calibrate(h, rewrite)
        emby = h.settings(base_url=BASE_A, id_tag_style="emby")
        move = Kind("move every folder", "generate", emby, start=snap_a)
        calibrate(h, move)
        assert len(move.reference) == len(fresh.reference)
        assert not move.reference.keys() & fresh.reference.keys()
        # Cleanup: the same library written a second time under new folder names (Emby's id
        # tags), by a generate stopped before it removed the old layout (as a crash would); the
        # uninterrupted cleanup then deletes the whole old layout.
        h.restore(snap_a)
        with monkeypatch.context() as held_back:
            held_back.setattr(generate._Pipeline, "_remove_moved", lambda self: None)
            assert generate.run(emby).exit_code == 0
        snap_c = h.snapshot("c")
        clean = Kind("cleanup", "cleanup", h.settings(base_url=BASE_A, id_tag_style="emby"), start=snap_c)
        calibrate(h, clean)
        assert (
            len(clean.reference) == len(fresh.reference) and clean.start_tree.keys() > clean.reference.keys()
        )

        rnd = random.Random(SEED)
        landed: Counter = Counter()
        clock: Counter = Counter()
        sequences: list[tuple[str, int]] = []
        targets = (
            ((fresh, rewrite, move), GENERATE_KILLS, GENERATE_MID_KILLS),
            ((clean,), CLEANUP_KILLS, CLEANUP_MID_KILLS),
        )
        for kinds, target, mid_target in targets:
            command = kinds[0].command
            plan = iter([(rnd.choice(kinds), rnd.randint(2, 4)) for _ in range(MAX_SEQUENCES)])
            queue: list[Kind] = []  # kinds of the children to start, in order
            children: list[Child] = []
            while landed[f"killed {command}"] < target or landed[f"killed mid-{command}"] < mid_target:
                kind, n = next(plan, (None, 0))
                assert kind is not None, f"too few mid-{command} kills in {MAX_SEQUENCES} sequences: {landed}"
                sequences.append((kind.name, n))
                queue += [kind] * n
                t = time.monotonic()
                h.restore(kind.start)
                clock["restore"] += time.monotonic() - t
                left = 1.0  # share of the run's work still to do: later kills aim at a shorter run
                for _ in range(n):
                    while len(children) < PRESPAWN and queue:
                        children.append(h.spawn(queue.pop(0)))
                    child = children.pop(0)
                    delay = rnd.uniform(0.0, 0.9 * kind.seconds * max(left, 0.2))
                    t = time.monotonic()
                    started = h.start(child)
                    clock["child start"] += started - t
                    while time.monotonic() - started < delay and child.proc.poll() is None:
                        time.sleep(0.001)
                    finished = child.proc.poll() is not None
                    if not finished:
                        child.proc.send_signal(signal.SIGKILL)
                    child.proc.communicate()
                    clock["child run"] += time.monotonic() - started
                    t = time.monotonic()
                    files = helpers.files_on_disk(h.root)
                    tree, temps = split(files)
                    landed["finished before the kill" if finished else f"killed {command}"] += 1
                    if not finished and (temps or tree not in (kind.start_tree, kind.reference)):
                        landed[f"killed mid-{command}"] += 1  # it had done some work, not all
                    landed["temp files left"] += temps
                    left = work_left(kind, tree)
                    problems = [
                        f"{kind.name}, kill after {delay:.3f}s: {p}" for p in check_after_kill(kind, files)
                    ]
                    clock["checks"] += time.monotonic() - t
                    assert not problems, problems[:10]
                t = time.monotonic()
                problems = converge(h, kind)
                clock["converge"] += time.monotonic() - t
                assert not problems, problems[:10]
            for child in children:  # started for sequences the targets made unnecessary
                child.proc.kill()
        print(
            f"\nkill test: {len(sequences)} sequences {sequences}\n{dict(landed)}\n"
            f"uninterrupted runs took {fresh.seconds:.2f}/{rewrite.seconds:.2f}/{move.seconds:.2f}/"
            f"{clean.seconds:.2f}s; " + ", ".join(f"{k} {v:.1f}s" for k, v in clock.items())
        )
        assert landed["killed mid-generate"] >= GENERATE_MID_KILLS
        assert landed["killed mid-cleanup"] >= CLEANUP_MID_KILLS
    finally:
        h.kill_all()


# -- Ctrl-C and SIGTERM: one line and status 130, whenever they come ----------------------------------------
#
# A real command in a process group of its own (its writer process included), signalled as a terminal
# or the plugin's cancel does it: the whole process group. Each test waits for the moment it aims
# at (settings being loaded, a progress step written to the status file, the cleanup phase) rather
# than for a guessed delay, and a hook slows generate's chunks or cleanup's deletes so the process
# is still in that moment when the signal lands.

SIGNAL_HOOK = '''
"""Test hook for the signal tests' processes: slows generate's chunks and cleanup's deletes."""
import os
import time

_advance_delay = float(os.environ.get("SIGTEST_ADVANCE_DELAY") or 0)
_unlink_delay = float(os.environ.get("SIGTEST_UNLINK_DELAY") or 0)
if _advance_delay:
    from vod2strm.jobs import progress as _progress

    _advance = _progress.Progress.advance

    def advance(self, name, items=1):
        time.sleep(_advance_delay)
        return _advance(self, name, items)

    _progress.Progress.advance = advance
if _unlink_delay:
    from pathlib import Path

    from vod2strm.output import fs as _fs

    _unlink = _fs.LocalFS.unlink
    _unlinking = Path(os.environ["SIGTEST_UNLINKING"])

    def unlink(self, path):
        _unlinking.touch()
        time.sleep(_unlink_delay)
        return _unlink(self, path)

    _fs.LocalFS.unlink = unlink
'''

#: Settings that load until told to go on: a signal sent once the "loading" file exists lands while
#: Django sets up, before any command code runs.
SLOW_SETTINGS = """
import os
import time
from pathlib import Path

_loading = Path(os.environ["SIGTEST_LOADING"])
_loading.touch()
_deadline = time.monotonic() + 60
while not _loading.with_suffix(".go").exists() and time.monotonic() < _deadline:
    time.sleep(0.01)
from vod2strm.standalone.settings import *  # noqa: F403
"""

DOORS = {
    "manage.py": [sys.executable, str(helpers.REPO / "manage.py"), "vod2strm"],
    "python -m": [sys.executable, "-m", "vod2strm"],
    "runner": [sys.executable, "-m", "vod2strm.dispatcharr.runner"],
}
SIGNAL_MOVIES = 80
SIGNAL_WAIT = 60.0


class Signalled:
    """A command started in a process group of its own, its output collected as it comes."""

    def __init__(self, door: str, args: list[str], env: dict[str, str], cwd: Path):
        self.proc = subprocess.Popen(
            DOORS[door] + args,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, sink), daemon=True)
            for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def wait_until(self, predicate, what: str) -> None:
        deadline = time.monotonic() + SIGNAL_WAIT
        while not predicate():
            assert self.proc.poll() is None, f"ended before {what}: {''.join(self.err)}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {''.join(self.err)}"
            time.sleep(0.01)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group may have ended already
            os.killpg(self.proc.pid, signum)

    def lines(self) -> list[str]:
        return [line for line in self.err if line.startswith("vod2strm:")]

    def finish(self) -> tuple[str, str]:
        try:
            self.proc.wait(SIGNAL_WAIT)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for reader in self._readers:
            reader.join(SIGNAL_WAIT)
        return "".join(self.out), "".join(self.err)


@pytest.fixture
def signal_setup(tmp_path, transactional_db):
    """A catalog in the test database, and the environment of a command against it."""
    from tests.factories import M3UAccountFactory

    account = M3UAccountFactory(name="Main")
    movies = models.Movie.objects.bulk_create(
        models.Movie(name=f"Signal Film {i}", year=1990 + i % 30, tmdb_id=str(500_000 + i))
        for i in range(SIGNAL_MOVIES)
    )
    models.M3UMovieRelation.objects.bulk_create(
        models.M3UMovieRelation(movie=m, m3u_account=account, stream_id=f"s{m.pk}") for m in movies
    )
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(SIGNAL_HOOK))
    (hooks / "sigtest_settings.py").write_text(textwrap.dedent(SLOW_SETTINGS))
    settings = conf.build(
        {
            "output_root": tmp_path / "library",
            "state_dir": tmp_path / "state",
            "chunk_size": 2,
            "max_workers": 4,
            "cleanup_max_share": 1.0,
        }
    )
    env = helpers.child_env(settings, hooks, SIGTEST_LOADING=str(tmp_path / "loading"))
    return settings, env, movies


def _status(settings: conf.Settings, pid: int) -> dict:
    from vod2strm.jobs.progress import read_status

    status = read_status(settings.state_dir) or {}
    return status if status.get("pid") == pid else {}


def _moment(
    settings: conf.Settings, env: dict[str, str], movies: list, tmp_path: Path, moment: str
) -> tuple[dict[str, str], Callable[[subprocess.Popen], bool]]:
    """The environment for ``moment`` and the condition that says the command has reached it."""
    if moment == "start-up":
        env = {**env, "DJANGO_SETTINGS_MODULE": "sigtest_settings"}
        return env, lambda proc: (tmp_path / "loading").exists()
    if moment == "mid-generate":
        env = {**env, "SIGTEST_ADVANCE_DELAY": "0.1"}  # 40 chunks: 4 s at least
        return env, lambda proc: _done(_status(settings, proc.pid)) > 0
    # mid-cleanup: the library of every movie, most of which then leave the catalog. The signal
    # lands in the first delete, which takes a second; cleanup looks at its cancel event between
    # folders (two files each), so it is still deleting when a second signal comes.
    assert generate.run(settings).exit_code == 0
    models.Movie.objects.filter(pk__in=[m.pk for m in movies[5:]]).delete()
    unlinking = tmp_path / "unlinking"
    env = {**env, "SIGTEST_UNLINK_DELAY": "1", "SIGTEST_UNLINKING": str(unlinking)}
    return env, lambda proc: _status(settings, proc.pid).get("phase") == "cleanup" and unlinking.exists()


def _done(status: dict) -> int:
    return sum(s.get("done", 0) for s in (status.get("sections") or {}).values())


def _assert_one_line_and_130(out: str, err: str, code: int, signalled: Signalled) -> None:
    assert code == 130, (code, out, err)
    assert "Traceback" not in err and "Error" not in err, err
    assert len(signalled.lines()) == 1, err
    assert signalled.lines()[0].startswith("vod2strm: interrupted"), err


@pytest.mark.parametrize("times", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["start-up", "mid-generate", "mid-cleanup"])
def test_a_signal_at_any_moment_of_generate_cleanup_ends_with_one_line_and_130(
    signal_setup, tmp_path, moment, signum, times
):
    """SIGINT through ``manage.py`` as text, SIGTERM through ``python -m vod2strm`` as JSON."""
    settings, env, movies = signal_setup
    env, reached = _moment(settings, env, movies, tmp_path, moment)
    door, as_json = ("manage.py", []) if signum == signal.SIGINT else ("python -m", ["--json"])
    cmd = Signalled(door, ["generate", "--cleanup", *as_json], env, tmp_path)
    cmd.wait_until(lambda: reached(cmd.proc), moment)
    cmd.signal(signum)
    if times == 2:
        cmd.wait_until(lambda: cmd.lines() or cmd.proc.poll() is not None, "the signal's line")
        cmd.signal(signum)
    out, err = cmd.finish()
    _assert_one_line_and_130(out, err, cmd.proc.returncode, cmd)
    aborted = '{"error": "interrupted", "exit": 130}\n' if as_json else ""
    if moment == "start-up":  # nothing to stop at a safe point yet: ended at once
        assert cmd.lines() == ["vod2strm: interrupted\n"] and out == aborted, (out, err)
        assert not settings.output_root.exists()
    elif times == 1:  # stopped at its safe point, with its summary and status
        if as_json:
            summary = json.loads(out)
            assert summary["exit"] == 130 and "sections" in summary
        else:
            assert "Interrupted: the next run continues where this one stopped." in out
        assert _status(settings, cmd.proc.pid)["state"] == "cancelled"
    elif moment == "mid-cleanup":  # the second signal came while it was still deleting
        assert out == aborted, (out, err)
    else:  # the second signal came while it stopped, or once it had: one answer at most
        assert out in (aborted, "") or json.loads(out)["exit"] == 130
    if moment == "mid-cleanup":
        assert sum(1 for p in settings.output_root.rglob("*.strm")) > 5  # stopped partway


@pytest.mark.parametrize(("moment", "times"), [("start-up", 1), ("mid-generate", 1), ("mid-generate", 2)])
def test_the_plugin_job_ends_a_signal_with_one_line_and_130(signal_setup, tmp_path, moment, times):
    """The plugin's cancel (SIGTERM to the job's group), even while the job process starts."""
    settings, env, movies = signal_setup
    env, reached = _moment(settings, env, movies, tmp_path, moment)
    cmd = Signalled("runner", ["generate_all"], env, tmp_path)
    cmd.wait_until(lambda: reached(cmd.proc), moment)
    cmd.signal(signal.SIGTERM)
    if moment == "start-up":  # the job goes on starting, and stops before its first chunk
        cmd.wait_until(lambda: cmd.lines(), "the signal's line")
        (tmp_path / "loading.go").touch()
    if times == 2:
        cmd.wait_until(lambda: cmd.lines() or cmd.proc.poll() is not None, "the signal's line")
        cmd.signal(signal.SIGTERM)
    out, err = cmd.finish()
    _assert_one_line_and_130(out, err, cmd.proc.returncode, cmd)
    if times == 1:
        from vod2strm.dispatcharr import control

        (last,) = control.read_history(settings.state_dir)
        assert (last["action"], last["state"], last["exit"]) == ("generate_all", "cancelled", 130)
        assert "Cancelled: the next run resumes" in last["message"]
        assert _done(_status(settings, cmd.proc.pid)) < SIGNAL_MOVIES


# -- the writer process, when its parent dies or its pipes break ---------------------------------------------


def _writer_child(tmp_path: Path, parent_pid: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(helpers.REPO)}
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "vod2strm.output.writer_process", str(parent_pid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_a_writer_whose_pipes_break_ends_without_a_word(tmp_path):
    """Its parent closed both pipes (as a dying parent's kernel does) and is still alive, so no
    death signal ends the child: it finds out by writing, and must end quietly."""
    from vod2strm.output import writer_process

    root = tmp_path / "lib"
    root.mkdir()
    settings = conf.build({"output_root": root, "state_dir": tmp_path / "state"})
    options = generate.writer_options(settings)
    child = _writer_child(tmp_path, os.getpid())
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    pickle.dump(("start", str(root), options), child.stdin)
    child.stdin.flush()
    child.stdout.close()  # its results have nowhere to go
    child.stdin.close()  # and its commands end: it closes, and says so into the broken pipe
    assert child.stderr.read() == b""
    assert child.wait(SIGNAL_WAIT) == writer_process._PARENT_GONE

    early = _writer_child(tmp_path, os.getpid())  # a parent gone before it sent anything
    assert early.stdin is not None and early.stdout is not None and early.stderr is not None
    early.stdin.close()
    assert early.stderr.read() == b"" and early.stdout.read() == b""
    assert early.wait(SIGNAL_WAIT) == writer_process._PARENT_GONE


@pytest.mark.parametrize("attempt", range(3))
def test_a_writer_whose_parent_is_killed_mid_write_ends_without_a_word(tmp_path, attempt):
    """Killed while the child writes and answers: the child sees its pipes close before (or
    instead of) its death signal, and must not print a BrokenPipeError on the way out."""
    root = tmp_path / "lib"
    root.mkdir()
    script = textwrap.dedent(
        f"""
        import itertools, os, sys
        from pathlib import Path
        from vod2strm.library.items import FolderFiles, OutputFile
        from vod2strm.output.writer import WriterOptions
        from vod2strm.output.writer_process import WriterProcess

        root = Path({str(root)!r})
        writer = WriterProcess(root, WriterOptions(), on_result=lambda result: None)
        print(writer.pid, flush=True)
        for n in itertools.count():
            folder = f"Movies/Film {{n}}"
            strm = OutputFile(f"{{folder}}/Film {{n}}.strm", b"http://x/%d\\n" % n, "strm")
            writer.submit(FolderFiles(folder, (strm,)))
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(helpers.REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # shared with the child: whatever it prints ends up here
        text=True,
    )
    assert parent.stdout is not None and parent.stderr is not None
    child_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + SIGNAL_WAIT
    while not any(root.glob("Movies/*/*.strm")):
        assert time.monotonic() < deadline and parent.poll() is None, parent.stderr.read()
        time.sleep(0.01)
    time.sleep(0.05 * attempt)  # different moments of the child's work
    parent.kill()
    parent.wait(SIGNAL_WAIT)
    err = parent.stderr.read()  # the end of the file comes when the child, too, has ended
    assert err == "", err
    deadline = time.monotonic() + SIGNAL_WAIT
    while _alive(child_pid):
        assert time.monotonic() < deadline, "the writer outlived its parent"
        time.sleep(0.01)
