"""Progress events of a run, and the status file other processes read.

A job reports through a :class:`Progress`; doors decide how to show it (a tqdm bar, plain lines on
stderr, the status file the Dispatcharr plugin's ``status`` action reads). The job never knows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"

log = logging.getLogger(__name__)


@dataclass
class SectionProgress:
    total: int = 0
    done: int = 0
    status: str = "pending"  # pending | running | complete | partial | cancelled | failed
    started: float | None = None

    def rate(self, now: float) -> float:
        if not self.started or now <= self.started:
            return 0.0
        return self.done / (now - self.started)

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if rate <= 0 or self.total <= self.done:
            return None
        return (self.total - self.done) / rate


@dataclass
class Progress:
    """Collects a run's progress; subclasses (or ``listeners``) render it."""

    job: str = "generate"
    phase: str = "starting"
    sections: dict[str, SectionProgress] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._emit("phase")

    def start_section(self, name: str, total: int) -> None:
        self.sections[name] = SectionProgress(total=total, status="running", started=time.monotonic())
        self.phase = name
        self._emit("start")

    def advance(self, name: str, items: int = 1) -> None:
        self.sections[name].done += items
        self._emit("advance")

    def finish_section(self, name: str, status: str) -> None:
        self.sections[name].status = status
        self._emit("finish")

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "job": self.job,
            "phase": self.phase,
            "sections": {
                name: {
                    **asdict(s),
                    "started": None,
                    "rate": round(s.rate(now), 1),
                    "eta_seconds": None if (eta := s.eta(now)) is None else round(eta),
                }
                for name, s in self.sections.items()
            },
        }

    def _emit(self, event: str) -> None:
        for listener in self.listeners:
            listener(event, self)


class StatusFile:
    """A listener writing the progress snapshot to ``<state_dir>/status.json`` at most once a second.

    Written atomically (temp + replace) in the local state folder, so a reader never sees half.
    """

    def __init__(self, state_dir: Path, *, interval: float = 1.0, extra: dict[str, Any] | None = None):
        self.path = state_dir / STATUS_FILE
        self.interval = interval
        self.extra = extra or {}
        self._last = 0.0
        self._lock = threading.Lock()
        self._failed = False  # a write failed (warned once)

    def __call__(self, event: str, progress: Progress) -> None:
        now = time.monotonic()
        if event == "advance" and now - self._last < self.interval:
            return
        self._last = now
        self.write({"state": "running", **progress.snapshot()})

    def write(self, data: dict[str, Any]) -> None:
        """Replace the status file; on a full or failing state disk, warn once and go on.

        Why not raise: the status file only reports progress. A run whose state disk filled up
        stops on the manifest, with a message naming the folder; a failed status write must
        neither end the run first with a traceback nor leave its temp file behind.
        """
        payload = {**self.extra, **data, "pid": os.getpid(), "updated": time.time()}
        with self._lock:
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(json.dumps(payload, indent=1, default=str))
                os.replace(tmp, self.path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                if not self._failed:
                    self._failed = True
                    log.warning("cannot write the status file %s: %s", self.path, exc)


def format_duration(seconds: float | None) -> str:
    """A time left or waited, as a person reads it in a status line ("?" when unknown)."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
