#!/usr/bin/env python
"""The writer process alone, fed a generated tree, against the bare atomic-write floor.

Why: in a cold run the writer process is the critical path (docs/performance.md), and whole-run
A/B pairs vary by 10-20% on this machine's shared vCPUs. Replaying the same tree through
``WriterProcess`` and through the floor of ``bench/child.py``, alternating, on one fresh ext4
image, gives the writer's own CPU (user and kernel, both processes) beside the floor's, from
the same minutes::

    .venv/bin/python bench/writer_replay.py --size S --pairs 3

The tree comes from a cold generate of the size's bench catalog (``bench/run.py`` loads it) and
is dumped once to ``<workdir>/replay-<size>.dump``; later invocations reuse the dump. Root only
(the image is loop-mounted, as in ``bench/run.py``).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

#: Files per submit_many call, as jobs/generate.py sends a rendering stage.
STAGE_FILES = 2000


def replay(dump: str, target: str, settings_overrides: dict) -> dict:
    """Send the dumped tree to a WriterProcess under ``target``; CPU of this process and the child."""
    from child import _read_dump

    from vod2strm import conf
    from vod2strm.jobs.generate import writer_options
    from vod2strm.library.items import FolderFiles, OutputFile
    from vod2strm.output.writer_process import WriterProcess

    root = Path(target)
    root.mkdir(parents=True, exist_ok=True)
    settings = conf.build({"output_root": root, "state_dir": Path(os.devnull), **settings_overrides})
    results = {"ok": 0, "other": 0}

    def on_result(result) -> None:
        results["ok" if result.ok else "other"] += 1

    started = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    stage: list = []
    in_stage = 0
    with WriterProcess(root, writer_options(settings), on_result=on_result) as writer:
        for folder, entries in _read_dump(dump):
            prefix = f"{folder}/" if folder else ""
            files = tuple(OutputFile(prefix + name, data, "file") for name, data in entries)
            stage.append((FolderFiles(folder, files), True, frozenset()))
            in_stage += len(files)
            if in_stage >= STAGE_FILES:
                writer.submit_many(stage)
                stage, in_stage = [], 0
        if stage:
            writer.submit_many(stage)
        writer.flush()
    wall = time.monotonic() - started
    me = resource.getrusage(resource.RUSAGE_SELF)
    kid = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": round(wall, 3),
        "files": results["ok"],
        "not_ok": results["other"],
        "user_s": round(me.ru_utime - cpu0.ru_utime, 2),
        "sys_s": round(me.ru_stime - cpu0.ru_stime, 2),
        "child_user_s": round(kid.ru_utime, 2),
        "child_sys_s": round(kid.ru_stime, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=("XS", "S", "M"))
    parser.add_argument("--pairs", type=int, default=3, help="floor / writer pairs, alternating")
    parser.add_argument("--workdir", default="/var/tmp/vod2strm-bench")
    parser.add_argument("--max-workers", type=int, default=None)
    parser.add_argument("--child", nargs=3, metavar=("DUMP", "TARGET", "OVERRIDES"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        dump, target, overrides = opts.child
        print(json.dumps(replay(dump, target, json.loads(overrides))))
        return

    import run

    workdir = Path(opts.workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOD2STRM_")}
    env["DJANGO_SETTINGS_MODULE"] = "vod2strm.standalone.settings"
    env["PYTHONPATH"] = str(REPO)
    env["DATABASE_URL"] = f"sqlite:///{workdir / f'catalog-{opts.size}.sqlite3'}"
    overrides = {} if opts.max_workers is None else {"max_workers": opts.max_workers}

    def call(cmd: list[str]) -> dict:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"writer_replay: {cmd[2]} failed")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def step(name: str, args: dict) -> dict:
        return call([sys.executable, str(HERE / "child.py"), name, json.dumps(args)])

    disk = run.FreshDisk(workdir, {"XS": 4, "S": 8, "M": 48}[opts.size])
    atexit.register(disk.down)
    mount = disk.up()
    dump = workdir / f"replay-{opts.size}.dump"
    if not dump.exists():
        run.log(f"generating the {opts.size} tree to dump it ...")
        gen = mount / "gen"
        step("generate", {"overrides": {"output_root": str(gen / "lib"), "state_dir": str(gen / "state")}})
        step("dump", {"root": str(gen / "lib"), "out": str(dump)})
        subprocess.run(["rm", "-rf", str(gen)], check=True)
    # Untimed, as in bench/run.py (warm_up): the first big write on a new image costs more.
    warm = mount / "warm-up"
    step("warmup", {"target": str(warm), "files": {"XS": 20_000, "S": 200_000, "M": 2_000_000}[opts.size]})
    subprocess.run(["rm", "-rf", str(warm)], check=True)
    rows = []
    for i in range(opts.pairs):
        for kind in ("floor", "writer"):
            target = mount / f"{kind}-{i}"
            os.sync()
            if kind == "floor":
                r = step("floor", {"dump": str(dump), "target": str(target), "threads": 1})
                user = round(r["cpu_s"] - r["sys_s"], 2)
                r = {"seconds": r["seconds"], "files": r["files"], "user_s": user, "sys_s": r["sys_s"],
                     "child_user_s": 0.0, "child_sys_s": 0.0}  # fmt: skip
            else:
                me = [sys.executable, __file__, "--child", str(dump), str(target), json.dumps(overrides)]
                r = call(me)
            r["kind"] = kind
            rows.append(r)
            run.log(json.dumps(r))
            subprocess.run(["rm", "-rf", str(target)], check=True)
    print("| run | wall s | files | parent user / sys s | writer process user / sys s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['seconds']} | {r['files']:,} | {r['user_s']} / {r['sys_s']} "
            f"| {r['child_user_s']} / {r['child_sys_s']} |"
        )


if __name__ == "__main__":
    main()
