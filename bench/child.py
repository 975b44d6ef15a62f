"""One measured step of the benchmark, run in a fresh process by ``bench/run.py``.

    python bench/child.py STEP JSON_ARGS

Prints exactly one JSON object on the last line of stdout. Every step reports its own peak RSS
(``ru_maxrss`` of this process) and CPU seconds, so numbers never mix two runs' memory.

Steps:
- ``migrate``/``load``/``counts``/``edit``/``slice``: prepare the catalog (Django set up).
- ``generate``: ``vod2strm.jobs.generate.run`` with settings overrides, counting SQL statements by
  kind and sampling open database connections; ``cap_seconds`` cancels the run after that long.
- ``scan``: the scan floor: the same ``values_list`` columns with the same keyset chunking as
  ``vod2strm.catalog.queries``, without building rows, rendering or touching the manifest.
- ``dump``: walk a generated tree and write its ``(folder, [(name, bytes)])`` list to a file.
- ``floor``: the atomic-write floor: that list written again with bare Python (temp file +
  ``os.replace`` per file, folders made like the writer makes them), 1 or N threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DUMP_BATCH_FILES = 2000


def _rusage() -> dict:
    """This process's peak RSS and CPU, plus the largest child's (the writer process) apart."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rss_mb": round(ru.ru_maxrss / 1024, 1),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "sys_s": round(ru.ru_stime, 2),
        "child_rss_mb": round(kids.ru_maxrss / 1024, 1),
        "child_cpu_s": round(kids.ru_utime + kids.ru_stime, 2),
        "child_sys_s": round(kids.ru_stime, 2),
        # Blocks read from disk (512 bytes each): shows when a step waited for reads the page
        # cache could not serve (the catalog or the manifest evicted by an earlier step).
        "read_mb": round((ru.ru_inblock + kids.ru_inblock) * 512 / 2**20, 1),
    }


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vod2strm.standalone.settings")
    import django

    django.setup()


# -- catalog preparation -------------------------------------------------------------------------


def step_migrate(args: dict) -> dict:
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return {}


def step_load(args: dict) -> dict:
    _django()
    from vod2strm.standalone.demo import load_demo

    started = time.monotonic()
    counts = load_demo(
        movies=args["movies"],
        series=args["series"],
        seasons=args["seasons"],
        episodes=args["episodes"],
        seed=args.get("seed", 1),
        reset=True,
    )
    return {"counts": counts, "seconds": round(time.monotonic() - started, 1)}


def step_counts(args: dict) -> dict:
    _django()
    from vod2strm.catalog import resolver

    try:
        m = resolver.models()
        return {
            "movies": m.Movie.objects.count(),
            "series": m.Series.objects.count(),
            "episodes": m.Episode.objects.count(),
        }
    except Exception as exc:  # no tables yet
        return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}


def step_edit(args: dict) -> dict:
    """Change ``percent`` % of the rows of movies, series and episodes (every 100/percent-th id).

    Descriptions get a new token, so every invocation changes bytes again: each chosen movie
    rewrites its .nfo, each chosen series its tvshow.nfo, each chosen episode its .nfo (and its
    series is rendered again, since a series' fingerprint covers its episodes).
    """
    _django()
    from django.db import connection, transaction

    from vod2strm.catalog import resolver

    m = resolver.models()
    every = max(1, round(100 / args["percent"]))
    token = args["token"]
    changed = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for label, model in (("movies", m.Movie), ("series", m.Series), ("episodes", m.Episode)):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"UPDATE {table} SET description = %s WHERE id %% %s = 0",
                [f"Bench edit {token}: a changed plot.", every],
            )
            changed[label] = cursor.rowcount
    return {"changed": changed}


def step_slice(args: dict) -> dict:
    """The first eligible movies and series (by id) whose files add up to about ``files``.

    Half the files from movies, half from series, counted the way generate lays them out with
    NFOs on (movie: .strm + .nfo; series: tvshow.nfo + a season.nfo per season + .strm and .nfo
    per episode). Read with the catalog queries themselves, stopping early.
    """
    _django()
    from vod2strm import conf
    from vod2strm.catalog import queries

    settings = conf.load(args.get("overrides", {}))
    want = args["files"]
    movie_ids: list[int] = []
    movie_files = 0
    for row in queries.iter_movies(settings):
        if movie_files >= want // 2:
            break
        movie_ids.append(row.id)
        movie_files += 2
    series_ids: list[int] = []
    series_files = 0
    for row in queries.iter_series(settings):
        if series_files >= want - movie_files:
            break
        if not row.episodes:
            continue
        seasons = {ep.season_number for ep in row.episodes}
        series_ids.append(row.id)
        series_files += 1 + len(seasons) + 2 * len(row.episodes)
    return {"movie_ids": movie_ids, "series_ids": series_ids, "files": movie_files + series_files}


# -- generate ------------------------------------------------------------------------------------


class _ConnectionSampler(threading.Thread):
    """Peak number of open connections to the catalog database, sampled every 100 ms.

    SQLite: file descriptors of this process open on the database file (one per connection).
    Why not more often: each sample is a syscall per open file, and each syscall hands the GIL
    back and forth with the rendering thread; at 20 ms this thread was busy a fifth of a cold
    run (py-spy), in the process it measures. Django keeps its connections for the whole run.
    PostgreSQL is measured from the server side by run.py (pg_stat_activity).
    """

    def __init__(self, db_file: str | None):
        super().__init__(daemon=True)
        self.db_file = os.path.realpath(db_file) if db_file else None
        self.peak = 0
        self.stop = threading.Event()

    def sample(self) -> int:
        if not self.db_file:
            return 0
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == self.db_file:
                    n += 1
            except OSError:
                pass
        return n

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, self.sample())


def _statement_kind(sql: str) -> str:
    """A short label for a SQL statement: verb + main table (for the per-chunk breakdown)."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    table = ""
    upper = [w.upper() for w in words]
    if "FROM" in upper:
        i = upper.index("FROM")
        if i + 1 < len(words):
            table = words[i + 1].strip('"')
    if "COUNT(*)" in sql.upper():
        verb += " COUNT"
    return f"{verb} {table}".strip()


def step_generate(args: dict) -> dict:
    _django()
    from django.conf import settings as django_settings
    from django.db import connections

    from vod2strm import conf
    from vod2strm.jobs import generate

    for name in args.get("experiments", ()):
        EXPERIMENTS[name]()
    kinds: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        kinds[_statement_kind(sql)] += 1
        return execute(sql, params, many, context)

    limits = _record_throttle_limits()
    db = django_settings.DATABASES["default"]
    sampler = _ConnectionSampler(db["NAME"] if db["ENGINE"].endswith("sqlite3") else None)
    sampler.start()
    settings = conf.load(args.get("overrides", {}))
    cancel = threading.Event()
    cap = args.get("cap_seconds")
    timer = threading.Timer(cap, cancel.set) if cap else None
    if timer:
        timer.daemon = True
        timer.start()
    started = time.monotonic()
    with connections["default"].execute_wrapper(count):
        result = generate.run(
            settings,
            cancel=cancel,
            movie_ids=args.get("movie_ids"),
            series_ids=args.get("series_ids"),
        )
    wall = time.monotonic() - started
    if timer:
        timer.cancel()
    sampler.stop.set()
    sampler.join()
    out = result.as_dict()
    out.update(_rusage())
    out["wall"] = round(wall, 3)
    out["capped"] = cancel.is_set()
    out["statements"] = dict(kinds.most_common())
    out["connections_peak"] = max(sampler.peak, sampler.sample())
    out["chunk_size"] = settings.chunk_size
    if limits:
        end = time.monotonic()
        spans = [
            (t1 - t0, lim) for (t0, lim), (t1, _) in zip(limits, [*limits[1:], (end, None)], strict=True)
        ]
        total = sum(d for d, _ in spans) or 1.0
        out["throttle"] = {
            "final_limit": limits[-1][1],
            "mean_limit": round(sum(d * lim for d, lim in spans) / total, 1),
            "changes": len(limits) - 1,
            "trace": [(round(t - started, 1), lim) for t, lim in limits[-40:]],
        }
    return out


def _switch_interval_half_ms() -> None:
    """Experiment: ``sys.setswitchinterval(0.0005)``: a writer thread back from a syscall waits at
    most 0.5 ms (default 5 ms) for the GIL held by the rendering thread."""
    sys.setswitchinterval(0.0005)


def _writes_elsewhere() -> None:
    """Experiment (writes nothing): every submitted file is reported written at once, in the
    submitting thread, with no writer thread, throttle or syscall. What is left is the run's own
    work (reading, rendering, hashing, the manifest): the cost a writer in another process would
    leave behind in this one, i.e. the lower bound of a cold run with the writes moved out."""
    from vod2strm.output import writer

    def submit(self, batch, *, root=None, adopt=True, if_missing=frozenset()):
        self._batch_done(batch, list(batch.files))  # every file reported written
        return True

    writer.Writer.submit = submit


EXPERIMENTS = {
    "switch-interval-0.5ms": _switch_interval_half_ms,
    "writes-elsewhere": _writes_elsewhere,
}


def _record_throttle_limits() -> list[tuple[float, int]]:
    """Record every limit the writer's throttle takes, as ``(monotonic time, limit)``.

    Bench-only instrumentation: wraps ``AdaptiveConcurrency._set_limit`` of the class an in-process writer
    uses, and ``WriterProcess._returned`` for the limit a writer process reports per results frame.
    """
    from vod2strm.output import throttle

    trace: list[tuple[float, int]] = []
    original_init = throttle.AdaptiveConcurrency.__init__
    original_set = throttle.AdaptiveConcurrency._set_limit

    def init(self, *a, **kw):
        original_init(self, *a, **kw)
        trace.append((time.monotonic(), self.limit))

    def set_limit(self, new, now, reason):
        original_set(self, new, now, reason)
        if not trace or trace[-1][1] != self.limit:
            trace.append((time.monotonic(), self.limit))

    throttle.AdaptiveConcurrency.__init__ = init
    throttle.AdaptiveConcurrency._set_limit = set_limit

    # A writer process's throttle lives in the child: its limit arrives with each results frame.
    from vod2strm.output import writer_process

    original_returned = writer_process.WriterProcess._returned

    def returned(self, counts):
        original_returned(self, counts)
        limit = self.throttle_limit
        if limit is not None and (not trace or trace[-1][1] != limit):
            trace.append((time.monotonic(), limit))

    writer_process.WriterProcess._returned = returned
    return trace


# -- the scan floor ------------------------------------------------------------------------------


def step_scan(args: dict) -> dict:
    """Read what generate reads, the way it reads it, and nothing else.

    Same columns (the constants of ``catalog/queries.py``), same filters, same keyset chunking and
    chunk sizes; rows are iterated and dropped. No row objects, no rendering, no manifest.
    """
    _django()
    from django.db import connections

    from vod2strm import conf
    from vod2strm.catalog import queries as q
    from vod2strm.catalog import resolver

    n_statements = 0

    def count(execute, sql, params, many, context):
        nonlocal n_statements
        n_statements += 1
        return execute(sql, params, many, context)

    settings = conf.load(args.get("overrides", {}))
    m = resolver.models()
    rows = 0
    started = time.monotonic()
    with connections["default"].execute_wrapper(count):
        q.CategoryRules(settings)
        movies = m.Movie.objects.all()
        if settings.adult_mode == "exclude":
            movies = movies.filter(is_adult=False)
        for chunk in q._keyset_chunks(movies, q._MOVIE_COLUMNS, settings.chunk_size):
            rows += len(chunk)
            rels = (
                m.M3UMovieRelation.objects.filter(
                    movie_id__in=[r[0] for r in chunk], m3u_account__is_active=True
                )
                .order_by()
                .values_list("movie_id", *q._RELATION_COLUMNS, *q._STREAM_COLUMNS)
            )
            rows += sum(1 for _ in rels)
        q.CategoryRules(settings)
        series_chunk = max(1, settings.chunk_size // q.SERIES_CHUNK_DIVISOR)
        for chunk in q._keyset_chunks(m.Series.objects.all(), q._SERIES_COLUMNS, series_chunk):
            rows += len(chunk)
            ids = [r[0] for r in chunk]
            rels = (
                m.M3USeriesRelation.objects.filter(series_id__in=ids, m3u_account__is_active=True)
                .order_by()
                .values_list("series_id", *q._RELATION_COLUMNS, "external_series_id")
            )
            rows += sum(1 for _ in rels)
            ep_rels = (
                m.M3UEpisodeRelation.objects.filter(episode__series_id__in=ids, m3u_account__is_active=True)
                .order_by()
                .values_list(
                    "episode_id",
                    "episode__series_id",
                    "id",
                    "m3u_account_id",
                    "m3u_account__priority",
                    "m3u_account__name",
                    *q._STREAM_COLUMNS,
                )
            )
            rows += sum(1 for _ in ep_rels)
            eps = (
                m.Episode.objects.filter(series_id__in=ids)
                .order_by("series_id", "season_number", "episode_number", "pk")
                .values_list(*q._EPISODE_COLUMNS)
            )
            rows += sum(1 for _ in eps)
    out = {"seconds": round(time.monotonic() - started, 3), "rows": rows, "queries": n_statements}
    out.update(_rusage())
    return out


# -- the atomic-write floor ----------------------------------------------------------------------


def step_dump(args: dict) -> dict:
    """Write the tree under ``root`` as pickled batches of ``(folder, [(name, bytes), ...])``.

    Only regular files (the marker and our files); folder order is the walk's order.
    """
    root = Path(args["root"])
    files = size = 0
    batch: list[tuple[str, list[tuple[str, bytes]]]] = []
    in_batch = 0
    with open(args["out"], "wb") as out:
        pending = [root]
        while pending:
            folder = pending.pop()
            entries: list[tuple[str, bytes]] = []
            with os.scandir(folder) as it:
                for de in it:
                    if de.is_dir(follow_symlinks=False):
                        pending.append(Path(de.path))
                    elif de.is_file(follow_symlinks=False):
                        with open(de.path, "rb") as fh:
                            data = fh.read()
                        entries.append((de.name, data))
                        size += len(data)
            if entries:
                rel = os.path.relpath(folder, root)
                batch.append(("" if rel == "." else rel, entries))
                files += len(entries)
                in_batch += len(entries)
                if in_batch >= DUMP_BATCH_FILES:
                    pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                    batch, in_batch = [], 0
        if batch:
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    return {"files": files, "bytes": size}


def _read_dump(path: str) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    with open(path, "rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)
            except EOFError:
                return
            yield from batch


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW


def step_floor(args: dict) -> dict:
    """Write the dumped tree under ``target`` with bare Python; report seconds and files/s.

    Per file: ``os.open`` a temp file in the same folder (O_EXCL), write, optional fsync, close,
    ``os.replace`` onto the name. Folders: one ``mkdir`` per folder, parents only after ENOENT,
    cached, as the writer does. ``threads`` > 1: one task per folder on a thread pool (the writer's
    dispatch), with a bounded number of queued folders.
    """
    target = Path(args["target"])
    threads = args["threads"]
    fsync = args.get("fsync", False)
    cap = args.get("cap_seconds")
    made: set[str] = set()
    made_lock = threading.Lock()
    stop = threading.Event()
    written = [0] * max(1, threads)
    counter = iter(range(1 << 62))

    def mkdir(path: str) -> None:
        if path in made:
            return
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        except FileNotFoundError:
            mkdir(os.path.dirname(path))
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
        with made_lock:
            made.add(path)

    def write_folder(folder: str, entries: list[tuple[str, bytes]], slot: int) -> None:
        path = os.path.join(target, folder) if folder else str(target)
        mkdir(path)
        n = 0
        for name, data in entries:
            if stop.is_set():
                break
            final = os.path.join(path, name)
            tmp = os.path.join(path, f".floor-{next(counter)}.tmp")
            fd = os.open(tmp, _FLAGS, 0o666)
            try:
                os.write(fd, data)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            n += 1
        written[slot] += n

    target.mkdir(parents=True, exist_ok=True)
    made.add(str(target))
    timer = threading.Timer(cap, stop.set) if cap else None
    if timer:
        timer.daemon = True
        timer.start()
    started = time.monotonic()
    if threads <= 1:
        for folder, entries in _read_dump(args["dump"]):
            if stop.is_set():
                break
            write_folder(folder, entries, 0)
    else:
        local = threading.local()
        slots = iter(range(threads))
        slots_lock = threading.Lock()
        bound = threading.BoundedSemaphore(2 * threads)

        def task(folder: str, entries: list[tuple[str, bytes]]) -> None:
            try:
                if not hasattr(local, "slot"):
                    with slots_lock:
                        local.slot = next(slots)
                write_folder(folder, entries, local.slot)
            finally:
                bound.release()

        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = []
            for folder, entries in _read_dump(args["dump"]):
                if stop.is_set():
                    break
                bound.acquire()
                futures.append(pool.submit(task, folder, entries))
                if len(futures) > 4 * threads:
                    futures = [f for f in futures if not f.done() or f.result()]
            for f in futures:
                f.result()
    seconds = time.monotonic() - started
    if timer:
        timer.cancel()
    files = sum(written)
    out = {
        "threads": threads,
        "files": files,
        "seconds": round(seconds, 3),
        "files_per_s": round(files / seconds, 1) if seconds else 0.0,
        "capped": stop.is_set(),
    }
    out.update(_rusage())
    return out


def step_warmup(args: dict) -> dict:
    """Write ``files`` small files (512 bytes, 40 to a folder) under ``target`` as the floor does:
    the untimed warm-up of ``bench/run.py`` (see ``warm_up`` there). The caller deletes them."""
    target = Path(args["target"])
    data = b"w" * 512
    started = time.monotonic()
    folder = ""
    for n in range(args["files"]):
        if n % 40 == 0:
            folder = str(target / f"{n // 40000}" / f"{n // 40}")
            os.makedirs(folder, exist_ok=True)
        tmp, final = f"{folder}/.warm-{n}.tmp", f"{folder}/{n}.nfo"
        fd = os.open(tmp, _FLAGS, 0o666)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    return {"files": args["files"], "seconds": round(time.monotonic() - started, 3)}


STEPS = {
    "migrate": step_migrate,
    "load": step_load,
    "counts": step_counts,
    "edit": step_edit,
    "slice": step_slice,
    "generate": step_generate,
    "scan": step_scan,
    "dump": step_dump,
    "floor": step_floor,
    "warmup": step_warmup,
}


def main() -> None:
    step, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    args = json.loads(Path(raw[1:]).read_text()) if raw.startswith("@") else json.loads(raw)
    result = STEPS[step](args)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
