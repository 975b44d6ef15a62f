"""The plugin's side of background jobs: start one, tell whether one runs, cancel it.

Dispatcharr calls the plugin inside a gevent uWSGI web worker, so every run happens in a separate
OS process (``python -m vod2strm.dispatcharr.runner <action>``, see :mod:`.runner`) started in its
own session: it outlives the request and the worker, and a cancel signals its process group.

Files in the state folder (local, never on the share):

``plugin.lock``
    a ``filelock`` serialising the plugin's control operations (start, cancel, queue an auto-run)
    with the job's decision to exit, so an auto-run request is never lost between them.
``plugin-job.lock``
    ``flock``-ed by the running job. The plugin takes the lock, then hands the open descriptor to
    the child (``pass_fds``) and closes its own copy: the child holds it from its first
    instruction, so there is no window in which a second start sees "not running". The kernel
    drops it when the job dies, even by SIGKILL, so "running" never means a stale pid.
``plugin-job.json``
    who runs (pid = process group, action, start time).
``plugin-settings.json``
    the plugin's settings for the job (``VOD2STRM_SETTINGS_FILE``), merged over
    ``settings.VOD2STRM`` by :func:`vod2strm.__main__.setup`.
``plugin.log``
    the job's stdout/stderr.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

CONTROL_LOCK = "plugin.lock"
JOB_LOCK = "plugin-job.lock"
JOB_FILE = "plugin-job.json"
SETTINGS_FILE = "plugin-settings.json"
LOG_FILE = "plugin.log"
HISTORY_FILE = "plugin-history.jsonl"

#: Environment the child reads: the inherited lock descriptor and the state folder.
JOB_LOCK_FD_ENV = "VOD2STRM_JOB_LOCK_FD"
STATE_DIR_ENV = "VOD2STRM_STATE_DIR"
SETTINGS_FILE_ENV = "VOD2STRM_SETTINGS_FILE"

RUNNER_MODULE = "vod2strm.dispatcharr.runner"
LOG_ROTATE_BYTES = 2_000_000
CONTROL_TIMEOUT = 10.0

#: Popen objects of the jobs this process started, polled now and then so none stays a zombie.
_children: list[subprocess.Popen] = []


class AlreadyRunning(Exception):
    """A job is running; ``job`` describes it."""

    def __init__(self, job: Mapping[str, Any]):
        self.job = dict(job)
        super().__init__(describe_job(job))


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def control_lock(self) -> Path:
        return self.root / CONTROL_LOCK

    @property
    def job_lock(self) -> Path:
        return self.root / JOB_LOCK

    @property
    def job_file(self) -> Path:
        return self.root / JOB_FILE

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    @property
    def history_file(self) -> Path:
        return self.root / HISTORY_FILE


def paths(state_dir: Path | str) -> StatePaths:
    return StatePaths(Path(state_dir))


# -- small file helpers ---------------------------------------------------------------------------


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temp file in the same folder and ``os.replace``: readers see old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def control_lock(state_dir: Path | str, timeout: float = CONTROL_TIMEOUT) -> Iterator[None]:
    """Serialise control operations on one state folder (across web workers and the job)."""
    p = paths(state_dir)
    p.root.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(p.control_lock), timeout=timeout):
        yield


# -- is a job running? -----------------------------------------------------------------------------


def try_flock(path: Path) -> int | None:
    """Open ``path`` and take an exclusive flock without waiting; the fd, or None when held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return fd


def running_job(state_dir: Path | str) -> dict[str, Any] | None:
    """The running job's record (``plugin-job.json``), or None when no job holds the job lock."""
    reap()
    p = paths(state_dir)
    if not p.job_lock.exists():
        return None
    fd = try_flock(p.job_lock)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return None
    job = read_json(p.job_file)
    return job if isinstance(job, dict) else {"pid": None, "action": "unknown"}


def describe_job(job: Mapping[str, Any]) -> str:
    action = job.get("action", "a job")
    started = job.get("started")
    since = f" since {time.strftime('%H:%M:%S', time.localtime(started))}" if started else ""
    pid = f", pid {job['pid']}" if job.get("pid") else ""
    return f"{action}{since}{pid}"


# -- starting a job --------------------------------------------------------------------------------


_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?(\.exe)?", re.IGNORECASE)


def _executable(path: str | None) -> bool:
    return bool(path and os.path.isfile(path) and os.access(path, os.X_OK))


def find_python(
    *,
    executable: str | None = None,
    prefix: str | None = None,
    exec_prefix: str | None = None,
    base_executable: str | None = None,
    version: tuple[int, int] | None = None,
    which=shutil.which,
) -> str:
    """The Python interpreter to run a job with.

    Under uWSGI ``sys.executable`` is the uwsgi binary (or empty), not Python. Prefer, in order:
    ``sys.executable`` when it is a python; the interpreter of ``sys.prefix`` (the virtualenv
    uWSGI activated, e.g. ``/dispatcharrpy/bin/python3.13``), then of ``sys.exec_prefix``;
    ``sys._base_executable``; the first matching python on PATH.
    """
    executable = sys.executable if executable is None else executable
    prefix = sys.prefix if prefix is None else prefix
    exec_prefix = sys.exec_prefix if exec_prefix is None else exec_prefix
    if base_executable is None:
        base_executable = getattr(sys, "_base_executable", "") or ""
    major, minor = version or sys.version_info[:2]
    names = (f"python{major}.{minor}", f"python{major}", "python")

    if _executable(executable) and _PYTHON_NAME.fullmatch(os.path.basename(executable)):
        return executable
    for root in dict.fromkeys(r for r in (prefix, exec_prefix) if r):
        for name in names:
            candidate = os.path.join(root, "bin", name)
            if _executable(candidate):
                return candidate
    if _executable(base_executable) and _PYTHON_NAME.fullmatch(os.path.basename(base_executable)):
        return base_executable
    for name in names:
        found = which(name)
        if found:
            return found
    raise RuntimeError(
        f"cannot find a Python {major}.{minor} interpreter to run vod2strm jobs "
        f"(sys.executable={executable!r}, sys.prefix={prefix!r})"
    )


def package_dir() -> Path:
    """The folder holding vod2strm's own files (the plugin folder inside Dispatcharr)."""
    return Path(__file__).resolve().parents[1]


def _import_root(state_dir: Path) -> Path:
    """A sys.path entry under which ``import vod2strm`` finds :func:`package_dir`.

    Its parent, when the folder is called ``vod2strm`` (the bundle's name); otherwise a symlink
    ``<state>/pythonpath/vod2strm`` (a plugin folder renamed by hand still works).
    """
    pkg = package_dir()
    if pkg.name == "vod2strm":
        return pkg.parent
    shim = state_dir / "pythonpath"
    link = shim / "vod2strm"
    shim.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and Path(os.readlink(link)) == pkg):
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(pkg, target_is_directory=True)
    return shim


def _settings_root(module: str) -> Path | None:
    """The sys.path entry the settings module was imported from (``/app`` for Dispatcharr)."""
    loaded = sys.modules.get(module)
    filename = getattr(loaded, "__file__", None)
    if not filename:
        return None
    path = Path(filename).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return path.parents[depth]


def child_env(state_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job's environment: this process's, plus what a fresh interpreter needs to find things.

    ``PYTHONPATH``: vod2strm's import root, the settings module's root, any ``PYTHONPATH`` already
    set, then this process's site-packages folders (so even a base interpreter found by
    :func:`find_python` sees the web process's libraries).
    """
    from django.conf import settings as django_settings

    env = dict(os.environ if base is None else base)
    module = env.get("DJANGO_SETTINGS_MODULE") or getattr(django_settings, "SETTINGS_MODULE", "")
    entries: list[str] = [str(_import_root(state_dir))]
    root = _settings_root(module) if module else None
    if root is not None:
        entries.append(str(root))
    entries += [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
    entries += [e for e in sys.path if e and ("site-packages" in e or "dist-packages" in e)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))
    if module:
        env["DJANGO_SETTINGS_MODULE"] = module
    env[STATE_DIR_ENV] = str(state_dir)
    env[SETTINGS_FILE_ENV] = str(paths(state_dir).settings_file)
    env["DISPATCHARR_SKIP_PLUGIN_AUTODISCOVERY"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop(JOB_LOCK_FD_ENV, None)
    return env


def _open_log(p: StatePaths) -> int:
    with contextlib.suppress(OSError):
        if p.log_file.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(p.log_file, p.log_file.with_name(p.log_file.name + ".1"))
    return os.open(p.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def start(
    state_dir: Path | str,
    action: str,
    *,
    settings_overrides: Mapping[str, Any] | None = None,
    trigger: str = "manual",
    python: str | None = None,
) -> dict[str, Any]:
    """Start ``action`` in a detached job process; returns its record. Call under :func:`control_lock`.

    Raises :class:`AlreadyRunning` when a job holds the job lock.
    """
    p = paths(state_dir)
    p.root.mkdir(parents=True, exist_ok=True)
    reap()
    fd = try_flock(p.job_lock)
    if fd is None:
        raise AlreadyRunning(running_job(p.root) or {"action": "unknown"})
    log_fd = None
    try:
        if settings_overrides is not None:
            write_json_atomic(p.settings_file, dict(settings_overrides))
        env = child_env(p.root)
        env[JOB_LOCK_FD_ENV] = str(fd)
        cmd = [python or find_python(), "-m", RUNNER_MODULE, action, "--trigger", trigger]
        log_fd = _open_log(p)
        os.write(log_fd, f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {action} ({trigger})\n".encode())
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=os.getcwd(),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            start_new_session=True,
        )
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)
        raise
    finally:
        # The child holds the lock through its inherited descriptor now (or nobody, on failure).
        os.close(fd)
        if log_fd is not None:
            os.close(log_fd)
    _children.append(proc)
    job = {"pid": proc.pid, "action": action, "trigger": trigger, "started": time.time(), "cmd": cmd}
    write_json_atomic(p.job_file, job)
    return job


def reap() -> None:
    """Collect exited children so they do not linger as zombies in the web worker."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


# -- cancel ----------------------------------------------------------------------------------------


def signal_job(job: Mapping[str, Any], signum: int = signal.SIGTERM) -> bool:
    """Send ``signum`` to the job's process group (its pid: jobs start their own session)."""
    pid = job.get("pid")
    if not isinstance(pid, int) or pid <= 1:
        return False
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


# -- history -----------------------------------------------------------------------------------------


HISTORY_KEEP = 50


def append_history(state_dir: Path | str, entry: Mapping[str, Any]) -> None:
    """One JSON line per finished job action; trimmed to the last :data:`HISTORY_KEEP`."""
    p = paths(state_dir)
    line = json.dumps(dict(entry), default=str)
    with open(p.history_file, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    lines = read_history(p.root, limit=None)
    if len(lines) > 2 * HISTORY_KEEP:
        tmp = p.history_file.with_name(p.history_file.name + ".tmp")
        tmp.write_text("".join(json.dumps(e, default=str) + "\n" for e in lines[-HISTORY_KEEP:]))
        os.replace(tmp, p.history_file)


def read_history(state_dir: Path | str, limit: int | None = 10) -> list[dict[str, Any]]:
    try:
        text = paths(state_dir).history_file.read_text(encoding="utf-8")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    return entries if limit is None else entries[-limit:]
