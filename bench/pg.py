"""A private PostgreSQL cluster for the benchmark: made once in the bench folder, started per run.

The data folder persists (``<workdir>/pg/data``) so a loaded catalog is reused by the next run;
the server runs only while the benchmark does, on a free local port, with trust auth and its
socket in the data's parent folder, and is stopped on exit. The machine's own clusters are never
touched. As root, the server runs as the ``postgres`` user (it refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path


def find_bin(explicit: str | None = None) -> Path:
    candidates = [explicit] if explicit else []
    candidates += [
        "/usr/lib/postgresql/15/bin",
        *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True),
    ]
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise SystemExit("bench: no PostgreSQL server binaries found (set --pg-bin)")


def _free_port(start: int = 55432) -> int:
    for port in range(start, start + 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("bench: no free port for PostgreSQL")


class Cluster:
    def __init__(self, workdir: Path, pg_bin: Path):
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.bin = pg_bin
        self.port = 0
        self.started = False
        self.as_pg: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise SystemExit("bench: running as root needs runuser to start PostgreSQL as postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_pg, *args], check=check, capture_output=True, text=True)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.as_pg:
            shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--no-sync",
            )  # fmt: skip
        self.port = _free_port()
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip
        self.started = True

    def ensure_db(self, name: str) -> None:
        out = self._run(
            str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        )  # fmt: skip
        if out.stdout.strip() != "1":
            self._run(
                str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
            )

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
            self.started = False


class ConnectionWatcher:
    """Peak client connections to one database, polled from ``pg_stat_activity`` every 20 ms."""

    def __init__(self, url: str, dbname: str):
        import threading

        import psycopg

        self._conn = psycopg.connect(url.replace(f"/{dbname}", "/postgres"), autocommit=True)
        self._db = dbname
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            (n,) = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'",
                (self._db,),
            ).fetchone()
            self.peak = max(self.peak, n)

    def __enter__(self) -> ConnectionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()
