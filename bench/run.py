#!/usr/bin/env python
"""vod2strm benchmark: generate at full scale against its floors, on local disk or a slow share.

    .venv/bin/python bench/run.py --size S --db sqlite
    .venv/bin/python bench/run.py --size M --db postgres
    .venv/bin/python bench/run.py --size S --db sqlite --fs slow --latency-ms 1,3

See bench/README.md. Every measured step runs in a fresh subprocess (bench/child.py), which
reports its own peak RSS. Results are printed as a table and saved as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SLOWSHARE = HERE / "slowshare.py"  # the slow network share of --fs slow (bench/README.md)

#: demo parameters per size (episodes are per season).
SIZES = {
    "XS": {"movies": 1_000, "series": 100, "seasons": 5, "episodes": 20},
    "S": {"movies": 10_000, "series": 1_000, "seasons": 5, "episodes": 20},
    "M": {"movies": 100_000, "series": 10_000, "seasons": 5, "episodes": 20},
}
SWEEP = (1, 2, 4, 8, 12, 16, 24, 32)
MEASURED = ("generate", "scan", "floor")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- machine load ---------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return sum(v), v[3] + v[4]


class Load:
    """Load average before a step, and how busy all CPUs were during it (ours and others')."""

    def __enter__(self) -> Load:
        self.loadavg = round(os.getloadavg()[0], 2)
        self._t0 = _cpu_times()
        return self

    def __exit__(self, *exc: object) -> None:
        t1 = _cpu_times()
        total, idle = t1[0] - self._t0[0], t1[1] - self._t0[1]
        self.busy_pct = round(100.0 * (total - idle) / total, 1) if total else 0.0

    def as_dict(self) -> dict:
        return {"loadavg": self.loadavg, "cpu_busy_pct": getattr(self, "busy_pct", None)}


def wait_quiet(max_wait: float, busy_below: float = 20.0, window: float = 2.0) -> float:
    """Wait (at most ``max_wait`` s) until all CPUs were less than ``busy_below`` % busy for
    ``window`` s: other people's test runs share this machine. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        t0 = _cpu_times()
        time.sleep(window)
        t1 = _cpu_times()
        total, idle = t1[0] - t0[0], t1[1] - t0[1]
        if total and 100.0 * (total - idle) / total < busy_below:
            break
    return round(time.monotonic() - started, 1)


# -- child processes ------------------------------------------------------------------------------


class Bench:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.workdir = Path(opts.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VOD2STRM_")}
        self.env["DJANGO_SETTINGS_MODULE"] = "vod2strm.standalone.settings"
        self.env["PYTHONPATH"] = str(REPO) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.cluster = None
        self.catalog_files = Path()  # the SQLite file or the cluster's data folder (setup_db)
        self.dbname = f"bench_{opts.size.lower()}"

    def child(self, step: str, args: dict, *, watch_pg: bool = False) -> dict:
        argfile = self.workdir / f".args-{os.getpid()}-{step}.json"
        argfile.write_text(json.dumps(args))
        cmd = [sys.executable, str(HERE / "child.py"), step, "@" + str(argfile)]
        waited = wait_quiet(self.opts.wait_quiet) if self.opts.wait_quiet and step in MEASURED else 0.0
        watcher = None
        if watch_pg and self.cluster is not None:
            from pg import ConnectionWatcher

            watcher = ConnectionWatcher(self.env["DATABASE_URL"], self.dbname)
        with Load() as load, watcher if watcher else contextlib.nullcontext():
            proc = subprocess.run(cmd, cwd=self.workdir, env=self.env, capture_output=True, text=True)
        argfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
            raise SystemExit(f"bench: step {step} failed (exit {proc.returncode})")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["load"] = load.as_dict() | {"waited_for_quiet_s": waited}
        if watcher is not None:
            result["connections_peak"] = watcher.peak
        return result

    # -- database -------------------------------------------------------------------------------

    def setup_db(self) -> None:
        if self.opts.db == "sqlite":
            path = self.workdir / f"catalog-{self.opts.size}.sqlite3"
            self.env["DATABASE_URL"] = f"sqlite:///{path}"
            self.catalog_files = path
        else:
            sys.path.insert(0, str(HERE))
            from pg import Cluster, find_bin

            self.cluster = Cluster(self.workdir, find_bin(self.opts.pg_bin))
            atexit.register(self.cluster.stop)
            self.cluster.start()
            self.cluster.ensure_db(self.dbname)
            self.env["DATABASE_URL"] = self.cluster.url(self.dbname)
            self.catalog_files = self.cluster.data
            log(f"PostgreSQL on port {self.cluster.port}, database {self.dbname}")

    def ensure_catalog(self) -> dict:
        params = SIZES[self.opts.size]
        sidecar = self.workdir / f"catalog-{self.opts.db}-{self.opts.size}.json"
        counts = self.child("counts", {})
        known = json.loads(sidecar.read_text()) if sidecar.exists() else None
        fresh = (
            self.opts.reload
            or known is None
            or known.get("params") != params
            or any(counts.get(k) != known["counts"].get(k) for k in ("movies", "series", "episodes"))
        )
        if not fresh:
            log(f"reusing the {self.opts.size} catalog on {self.opts.db}: {known['counts']}")
            return known
        log(f"loading the {self.opts.size} catalog on {self.opts.db} (demo {params}) ...")
        self.child("migrate", {})
        loaded = self.child("load", {**params, "seed": 1})
        known = {"params": params, "counts": loaded["counts"], "load_seconds": loaded["seconds"]}
        sidecar.write_text(json.dumps(known, indent=1))
        log(f"loaded in {loaded['seconds']} s: {loaded['counts']}")
        return known

    # -- helpers --------------------------------------------------------------------------------

    def gen_args(self, overrides: dict, **extra) -> dict:
        return {"overrides": overrides, "experiments": self.opts.experiment, **extra}

    def overrides(self, root: Path, state: Path, **extra) -> dict:
        o = {"output_root": str(root), "state_dir": str(state), "fsync": self.opts.fsync}
        if self.opts.chunk_size:
            o["chunk_size"] = self.opts.chunk_size
        if self.opts.max_workers:
            o["max_workers"] = self.opts.max_workers
        o.update(extra)
        return o

    @staticmethod
    def rmtree(path: Path) -> None:
        if path.exists():
            subprocess.run(["rm", "-rf", str(path)], check=True)

    def warm_cache(self, state: Path) -> dict:
        """Read the catalog's and the manifest's files once, untimed, before a step that reads them.

        Why: the write floors before the unchanged run write and delete 3.7M files at M, which can
        push the catalog out of the page cache. Without this read, in two M invocations of ten the
        unchanged run then waited for the disk (48.4 s for 22.5 s of CPU, the CPUs 27% busy)
        while the scan floor after it found the cache that run had filled. Read beforehand, both
        steps start from the same warm cache and compare the work, not the order.
        """
        started, total = time.monotonic(), 0
        buf = bytearray(1 << 20)
        for root in (self.catalog_files, state):
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            for path in files:
                with contextlib.suppress(OSError), open(path, "rb", buffering=0) as fh:
                    while n := fh.readinto(buf):
                        total += n
        return {"mb": round(total / 2**20, 1), "seconds": round(time.monotonic() - started, 1)}

    @staticmethod
    def sync() -> None:
        """Flush dirty pages between steps, so one step's writeback does not slow the next."""
        os.sync()


# -- local disk -----------------------------------------------------------------------------------


class FreshDisk:
    """A new ext4 filesystem (with a journal, as mkfs makes it) in an image file on the work disk.

    Why: this machine's root filesystem has no journal, and ext4 then skips every inode freed in
    the last minutes when it creates a file (``recently_deleted`` in ``fs/ext4/ialloc.c``), reading
    its inode table block each time. After a benchmark deletes a tree of a million files, creating
    files is 5-10x slower, for minutes, and more so with several threads (measured in
    docs/performance.md). A fresh, journaled filesystem per invocation is what a user's disk looks
    like and gives every step, floors included, the same disk. Unmounted and deleted at exit.
    """

    def __init__(self, workdir: Path, size_gb: int):
        self.image = workdir / f"fresh-disk-{os.getpid()}.img"
        self.mount = Path(tempfile.mkdtemp(prefix="vod2strm-disk-", dir="/tmp"))
        self.size_gb = size_gb
        self.mounted = False

    def up(self) -> Path:
        log(f"fresh ext4 ({self.size_gb} GB sparse image, 1 inode per 4 KB) at {self.mount} ...")
        with open(self.image, "wb") as fh:
            fh.truncate(self.size_gb << 30)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-i", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0",
             str(self.image)],
            check=True,
        )  # fmt: skip
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mount)], check=True)
        self.mounted = True
        return self.mount

    def down(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.mount)], check=False)
            self.mounted = False
            with contextlib.suppress(OSError):
                self.mount.rmdir()
        self.image.unlink(missing_ok=True)


def run_local(b: Bench) -> dict:
    """``--repeat`` times: cold, its write floors, unchanged, the scan floor, 1% changed."""
    opts = b.opts
    catalog = b.ensure_catalog()
    disk = None
    if opts.fs == "local":
        if os.geteuid() != 0:
            raise SystemExit("bench: --fs local mounts a fresh ext4 image (root only); try --fs workdir")
        disk = FreshDisk(b.workdir, {"XS": 4, "S": 8, "M": 48}[opts.size])
        atexit.register(disk.down)
    reps = []
    warm = None
    try:
        runs_dir = disk.up() if disk else b.workdir / "runs"
        if opts.warmup:
            warm = warm_up(b, runs_dir / "warm-up", catalog["counts"])
        for i in range(opts.repeat):
            if opts.repeat > 1:
                log(f"repetition {i + 1} of {opts.repeat}")
            reps.append(run_local_once(b, runs_dir))
    finally:
        if disk:
            disk.down()
    return {"catalog": catalog, "warmup": warm, "reps": reps}


def warm_up(b: Bench, target: Path, counts: dict) -> dict:
    """Write and delete as many small files as a cold run writes, before any measured step.

    Why: the first ~2 GB of small-file writes after the image is made cost the writing process
    ~5 s more kernel time at M, in ``zero_user_segments`` (the memset of each new page-cache page),
    whichever step comes first: with the cold run first its writer process spent 6.3 s there
    against the floor's 1.0 s right after it; with the floor first, 5.7 s against the cold
    run's 2.2 s (``perf record -g``, docs/performance.md). Without a warm-up the order of the steps
    decided which of them paid.
    """
    files = 2 * counts.get("movies", 0) + 2 * counts.get("episodes", 0) + 6 * counts.get("series", 0)
    b.sync()
    log(f"warm-up: {files} files written and deleted, untimed ...")
    done = b.child("warmup", {"target": str(target), "files": files})
    b.rmtree(target)
    b.sync()
    log(f"  {done['files']} files in {done['seconds']} s")
    return done


def run_local_once(b: Bench, runs_dir: Path) -> dict:
    opts = b.opts
    base = runs_dir / f"{opts.db}-{opts.size}"
    root, state = base / "library", base / "state"
    b.rmtree(base)
    root.mkdir(parents=True)
    over = b.overrides(root, state)
    results: dict = {"runs": {}, "floors": {}}
    pg = opts.db == "postgres"

    b.sync()
    log("cold generate ...")
    results["runs"]["cold"] = cold = b.child("generate", b.gen_args(over), watch_pg=pg)
    log(_brief(cold))

    b.sync()
    log("dumping the generated tree (paths and bytes) for the write floor ...")
    dump = base / "tree.dump"
    results["dump"] = b.child("dump", {"root": str(root), "out": str(dump)})
    floors = {}
    for threads in opts.floor_threads:
        target = base / f"floor-{threads}"
        b.rmtree(target)
        b.sync()
        log(f"atomic-write floor, {threads} thread(s) ...")
        floors[threads] = b.child(
            "floor", {"dump": str(dump), "target": str(target), "threads": threads, "fsync": opts.fsync}
        )
        log(f"  {floors[threads]['files']} files in {floors[threads]['seconds']} s")
        b.rmtree(target)
    results["floors"]["write"] = floors
    dump.unlink()

    b.sync()
    results["cache_warmed"] = warmed = b.warm_cache(state)
    log(f"catalog and manifest read into the page cache: {warmed['mb']} MB in {warmed['seconds']} s")
    log("unchanged generate ...")
    results["runs"]["unchanged"] = b.child("generate", b.gen_args(over), watch_pg=pg)
    log(_brief(results["runs"]["unchanged"]))

    log("scan floor ...")
    scans = []
    for _ in range(opts.scan_repeat):
        b.warm_cache(state)
        scans.append(b.child("scan", {"overrides": over}))
    results["floors"]["scan"] = min(scans, key=lambda r: r["seconds"])
    results["floors"]["scan"]["all_seconds"] = [s["seconds"] for s in scans]

    log(f"changing {opts.change_percent}% of movies, series and episodes ...")
    results["edit"] = b.child("edit", {"percent": opts.change_percent, "token": f"{time.time():.3f}"})
    b.sync()
    log("generate after the change ...")
    results["runs"]["changed"] = b.child("generate", b.gen_args(over), watch_pg=pg)
    log(_brief(results["runs"]["changed"]))
    if not opts.keep:
        b.rmtree(base)
    return results


def _brief(r: dict) -> str:
    return (
        f"  {r['seconds']} s, {r['written']} written, {r['queries']} queries, "
        f"{r['rss_mb']} + {r.get('child_rss_mb', 0)} MB RSS (run + writer process), "
        f"load {r['load']['loadavg']}"
    )


# -- slow share -----------------------------------------------------------------------------------


class SlowShare:
    """``bench/slowshare.py`` mounted under /tmp for this run; always brought down at exit."""

    def __init__(self) -> None:
        self.mount = Path(tempfile.mkdtemp(prefix="vod2strm-slowshare-", dir="/tmp"))
        self.mount.rmdir()  # slowshare wants an absent or empty mountpoint and removes what it made
        self.up_done = False

    def _cmd(self, *args: str) -> list[str]:
        return [sys.executable, str(SLOWSHARE), *args, str(self.mount)]

    def up(self, latency_ms: float) -> None:
        log(f"slowshare up {self.mount} --latency-ms {latency_ms}")
        self.up_done = True  # a failed up may have left a part behind: down clears it
        subprocess.run([*self._cmd("up"), "--latency-ms", str(latency_ms)], check=True)

    def down(self) -> None:
        if self.up_done:
            log(f"slowshare down {self.mount}")
            subprocess.run(self._cmd("down"), check=False)
            self.up_done = False


def run_slow(b: Bench) -> dict:
    opts = b.opts
    if os.geteuid() != 0:
        raise SystemExit("bench: --fs slow needs root (slowshare mounts sshfs in a network namespace)")
    catalog = b.ensure_catalog()
    base = b.workdir / "slow" / f"{opts.db}-{opts.size}"
    b.rmtree(base)
    base.mkdir(parents=True)
    log(f"choosing a slice of about {opts.slice_files} files ...")
    picked = b.child("slice", {"files": opts.slice_files, "overrides": b.overrides(base / "x", base / "y")})
    ids = {"movie_ids": picked["movie_ids"], "series_ids": picked["series_ids"]}
    log(f"  {len(ids['movie_ids'])} movies + {len(ids['series_ids'])} series, ~{picked['files']} files")

    # The slice written once on local disk: its (path, bytes) list feeds the write floor.
    local_root = base / "local" / "library"
    local_root.mkdir(parents=True)
    local = b.child("generate", b.gen_args(b.overrides(local_root, base / "local" / "state"), **ids))
    dump = base / "slice.dump"
    b.child("dump", {"root": str(local_root), "out": str(dump)})
    results: dict = {"catalog": catalog, "slice": {**picked, "local_generate": local}, "latencies": {}}
    del results["slice"]["movie_ids"], results["slice"]["series_ids"]

    share = SlowShare()
    atexit.register(share.down)
    try:
        for latency in opts.latency_ms:
            share.up(latency)
            rows: dict = {"floors": {}, "generate": {}}
            for threads in opts.floor_threads:
                target = share.mount / f"{latency}ms-floor-{threads}"
                log(f"  +{latency} ms: write floor, {threads} thread(s) (cap {opts.cap_seconds} s) ...")
                rows["floors"][threads] = f = b.child(
                    "floor",
                    {"dump": str(dump), "target": str(target), "threads": threads, "fsync": opts.fsync,
                     "cap_seconds": opts.cap_seconds},
                )  # fmt: skip
                log(f"    {f['files_per_s']} files/s ({f['files']} files, {f['seconds']} s)")
            configs: list[tuple[str, int, int]] = [("adaptive", 1, opts.adaptive_max)]
            if opts.adaptive_wide and max(opts.sweep) > opts.adaptive_max:
                configs.append(("adaptive-wide", 1, max(opts.sweep)))
            configs += [(f"fixed-{n}", n, n) for n in opts.sweep]
            for label, lo, hi in configs:
                root = share.mount / f"{latency}ms-{label}"
                root.mkdir()
                state = base / "state" / f"{latency}ms-{label}"
                log(f"  +{latency} ms: generate {label} (workers {lo}..{hi}, cap {opts.cap_seconds} s) ...")
                over = b.overrides(root, state, min_workers=lo, max_workers=hi)
                r = b.child("generate", b.gen_args(over, cap_seconds=opts.cap_seconds, **ids))
                r["files_per_s"] = round(r["written"] / r["seconds"], 1) if r["seconds"] else 0.0
                r["workers"] = [lo, hi]
                rows["generate"][label] = r
                log(f"    {r['files_per_s']} files/s ({r['written']} written in {r['seconds']} s)")
            results["latencies"][str(latency)] = rows
    finally:
        share.down()
        dump.unlink(missing_ok=True)
        if not opts.keep:
            b.rmtree(base)
    return results


# -- report ---------------------------------------------------------------------------------------


def _ratios(rep: dict) -> dict[str, tuple[float, str]]:
    """Per run: (floor seconds, label) measured in the same repetition."""
    floors = rep["floors"]
    write = min(floors["write"].values(), key=lambda f: f["seconds"])
    scan = floors["scan"]
    total_files = max(rep["runs"]["cold"]["written"], 1)
    out = {}
    for name, r in rep["runs"].items():
        if name == "cold":
            out[name] = (write["seconds"], f"write {write['seconds']:.1f} s ({write['threads']} thr)")
        elif name == "unchanged":
            out[name] = (scan["seconds"], f"scan {scan['seconds']:.2f} s")
        else:
            part = write["seconds"] * r["written"] / total_files
            out[name] = (scan["seconds"] + part, f"scan+write {scan['seconds'] + part:.2f} s")
    return out


def report_local(res: dict, opts: argparse.Namespace) -> str:
    first = res["reps"][0]["runs"]["cold"]
    lines = [
        f"vod2strm bench: size {opts.size} ({res['catalog']['counts']}), db {opts.db}, "
        f"{'a fresh ext4 image' if opts.fs == 'local' else 'the work folder'}, "
        f"fsync {'on' if opts.fsync else 'off'}, chunk_size {first['chunk_size']}"
        + (f", experiments {opts.experiment}" if opts.experiment else ""),
        "",
        "| rep | run | seconds | items/s | files written | SQL queries | peak RSS MB (run + writer) "
        "| DB conns | floor | x floor | load | CPU busy % | CPU s (run + writer) | MB read |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, rep in enumerate(res["reps"], 1):
        ratios = _ratios(rep)
        for name, r in rep["runs"].items():
            floor, label = ratios[name]
            lines.append(
                f"| {i} | {name} | {r['seconds']:.1f} | {r['items'] / r['seconds']:,.0f} | "
                f"{r['written']:,} | {r['queries']} | {r['rss_mb']:.0f} + {r.get('child_rss_mb', 0):.0f} | "
                f"{r['connections_peak']} | "
                f"{label} | {r['seconds'] / floor:.2f} | {r['load']['loadavg']} | "
                f"{r['load']['cpu_busy_pct']} | {r['cpu_s']:.1f} + {r.get('child_cpu_s', 0):.1f} | "
                f"{r.get('read_mb', '')} |"
            )
    lines += [
        "",
        "| rep | floor | seconds | files/s | peak RSS MB | load | CPU busy % | CPU s | MB read |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, rep in enumerate(res["reps"], 1):
        floors = rep["floors"]
        for threads, f in sorted(floors["write"].items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {i} | atomic write, {threads} thread(s), {f['files']:,} files | {f['seconds']:.1f} | "
                f"{f['files_per_s']:,.0f} | {f['rss_mb']:.0f} | {f['load']['loadavg']} | "
                f"{f['load']['cpu_busy_pct']} | {f['cpu_s']:.1f} | {f.get('read_mb', '')} |"
            )
        scan = floors["scan"]
        lines.append(
            f"| {i} | scan ({scan['rows']:,} rows, {scan['queries']} queries; runs {scan['all_seconds']}) | "
            f"{scan['seconds']:.2f} | | {scan['rss_mb']:.0f} | {scan['load']['loadavg']} | "
            f"{scan['load']['cpu_busy_pct']} | {scan['cpu_s']:.1f} | {scan.get('read_mb', '')} |"
        )
    if len(res["reps"]) > 1:
        lines += ["", "| run | best x floor | median x floor |", "|---|---|---|"]
        for name in res["reps"][0]["runs"]:
            xs = sorted(rep["runs"][name]["seconds"] / _ratios(rep)[name][0] for rep in res["reps"])
            lines.append(f"| {name} | {xs[0]:.2f} | {xs[len(xs) // 2]:.2f} |")
    return "\n".join(lines)


def report_slow(res: dict, opts: argparse.Namespace) -> str:
    sl = res["slice"]
    lines = [
        f"vod2strm bench: slow-share slice of {sl['files']:,} files from size {opts.size}, db {opts.db}, "
        f"cap {opts.cap_seconds} s per run",
    ]
    for latency, rows in res["latencies"].items():
        gen = rows["generate"]
        fixed = {k: v for k, v in gen.items() if k.startswith("fixed-")}
        best_label, best = max(fixed.items(), key=lambda kv: kv[1]["files_per_s"])
        lines += [
            "",
            f"+{latency} ms per round trip:",
            "",
            "| writer | files/s | written | seconds | of best fixed | final limit (mean) | load |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, r in gen.items():
            th = r.get("throttle", {})
            lines.append(
                f"| {label} | {r['files_per_s']:.1f} | {r['written']:,} | {r['seconds']:.1f} | "
                f"{100 * r['files_per_s'] / best['files_per_s']:.0f}% | "
                f"{th.get('final_limit', '')} (mean {th.get('mean_limit', '')}) | "
                f"{r['load']['loadavg']} |"
            )
        for threads, f in rows["floors"].items():
            lines.append(
                f"| floor, bare Python, {threads} thread(s) | {f['files_per_s']:.1f} | {f['files']:,} | "
                f"{f['seconds']:.1f} | {100 * f['files_per_s'] / best['files_per_s']:.0f}% | | "
                f"{f['load']['loadavg']} |"
            )
        lines.append(f"best fixed: {best_label}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=tuple(SIZES), default="S")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument(
        "--fs",
        choices=("local", "workdir", "slow"),
        default="local",
        help="local: a fresh ext4 image on the work disk (root); workdir: the work folder as it is",
    )
    p.add_argument(
        "--latency-ms", default="3", help="slow share: added round-trip ms; a comma list runs each (e.g. 1,3)"
    )
    p.add_argument("--workdir", default="/var/tmp/vod2strm-bench", help="catalogs, trees and PG data")
    p.add_argument("--reload", action="store_true", help="reload the catalog even if it matches")
    p.add_argument("--chunk-size", type=int, help="override the chunk_size setting")
    p.add_argument("--max-workers", type=int, help="local: override the max_workers setting (an A/B)")
    p.add_argument("--fsync", action="store_true", help="fsync on (generate and floors alike)")
    p.add_argument("--floor-threads", default="1,16", help="thread counts of the write floor (best wins)")
    p.add_argument("--scan-repeat", type=int, default=2, help="scan floor runs (best wins)")
    p.add_argument("--repeat", type=int, default=1, help="local: repeat the whole sequence N times")
    p.add_argument("--change-percent", type=float, default=1.0)
    p.add_argument("--slice-files", type=int, default=20_000)
    p.add_argument("--sweep", default=",".join(map(str, SWEEP)), help="fixed worker counts to sweep")
    p.add_argument("--adaptive-max", type=int, default=16, help="max_workers of the adaptive run (default)")
    p.add_argument("--adaptive-wide", action="store_true", help="also run adaptive up to the sweep's max")
    p.add_argument("--cap-seconds", type=float, default=150.0, help="slow share: stop each run then")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each measured step wait up to S seconds for the CPUs to be <20%% busy",
    )
    p.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=("switch-interval-0.5ms",),
        help="patch the code under test for an A/B (see bench/child.py EXPERIMENTS); repeatable",
    )
    p.add_argument("--pg-bin", help="PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin)")
    p.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="local: skip the untimed write of a cold run's worth of files before the steps",
    )
    p.add_argument("--keep", action="store_true", help="keep the generated trees")
    p.add_argument("--out", help="results JSON (default bench/results/<size>-<db>-<fs>.json)")
    opts = p.parse_args(argv)
    opts.latency_ms = [float(x) if "." in x else int(x) for x in opts.latency_ms.split(",")]
    opts.floor_threads = [int(x) for x in opts.floor_threads.split(",")]
    opts.sweep = [int(x) for x in opts.sweep.split(",")]

    # Ctrl-C / kill: unwind through finally blocks (slowshare down, PostgreSQL stop).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(opts)
    started = time.monotonic()
    try:
        b.setup_db()
        res = run_slow(b) if opts.fs == "slow" else run_local(b)
    finally:
        if b.cluster is not None:
            b.cluster.stop()
    res["options"] = {k: v for k, v in vars(opts).items()}
    res["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "at": time.strftime("%F %T")}
    res["bench_seconds"] = round(time.monotonic() - started, 1)
    text = report_slow(res, opts) if opts.fs == "slow" else report_local(res, opts)
    suffix = "-" + "_".join(map(str, opts.latency_ms)) + "ms" if opts.fs == "slow" else ""
    out = Path(opts.out) if opts.out else HERE / "results" / f"{opts.size}-{opts.db}-{opts.fs}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    res["report"] = text
    out.write_text(json.dumps(res, indent=1, default=str))
    print(text)
    log(f"results saved to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
