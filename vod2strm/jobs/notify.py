"""Tell the configured media servers what the library's runs changed since they were last told.

Each configured server (``conf.Settings.media_servers``) has a cursor in the change log
(:mod:`vod2strm.output.changes`); what lies after it is pending for that server. One pass over the
pending lines gives each changed folder once (or, above :data:`FULL_SCAN_ABOVE` folders, only
that a full scan is owed); :mod:`vod2strm.mediaserver.servers` words it for the server and sends
it, and the cursor moves to what was sent only when the server took all of it. A server that
cannot be told keeps its cursor: one warning line, its count in the result, and the next run (or
``vod2strm notify``) sends the same changes again. Servers are told in parallel, each within its
own deadline (``notify_timeout`` × :data:`BUDGET_FACTOR` unless the caller gives a budget), so an
unreachable server delays a run by a bounded time and never fails it.

Nothing pending: nothing is sent and nothing is written (an unchanged rerun costs one small read).
``resend_last``: when no server has anything pending, each is sent again what it was told last
(its cursor keeps where that began): the last run's changes, for the ``notify`` command and a
server that was reset or lost them.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vod2strm.errors import EXIT_FAILED, EXIT_OK
from vod2strm.mediaserver.http import Deadline, DeliveryError, Transport
from vod2strm.mediaserver.servers import KODI_REFRESH_MAX, NAMES, Server, plan, server
from vod2strm.output.changes import ChangeLog, Pending

if TYPE_CHECKING:
    from vod2strm.conf import Settings

log = logging.getLogger(__name__)

#: Changed folders above which a server is asked for a full library scan instead of each folder.
FULL_SCAN_ABOVE = 1000
#: A server's time for one notification, in ``notify_timeout`` (each request's own limit).
BUDGET_FACTOR = 3
#: Warnings (single Kodi calls answered with an error) a report keeps.
_WARNINGS_KEPT = 5


@dataclass
class ServerReport:
    """How telling one server went."""

    folders: int = 0  # changed folders it was owed
    sent: int = 0  # ... that it was told about
    failed: int = 0  # ... that stay pending because it could not be told
    requests: int = 0
    full_scan: bool = False
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] | None = None  # a dry run: what would be sent

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "sent": self.sent,
            "failed": self.failed,
            "requests": self.requests,
            "full_scan": self.full_scan,
        }
        if self.error:
            data["error"] = self.error
        if self.warnings:
            data["warnings"] = self.warnings
        if self.preview is not None:
            data["folders"] = self.folders
            data["would_send"] = self.preview
        return data


@dataclass
class NotifyResult:
    servers: dict[str, ServerReport] = field(default_factory=dict)
    dry_run: bool = False
    source: str = "pending"  # "pending", or "last run" when that was sent again

    @property
    def failed(self) -> bool:
        return any(report.error for report in self.servers.values())

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def servers_dict(self) -> dict[str, Any]:
        return {name: report.as_dict() for name, report in self.servers.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "servers": self.servers_dict(),
            "source": self.source,
            "dry_run": self.dry_run,
            "exit": self.exit_code,
        }


def run(
    settings: Settings,
    *,
    dry_run: bool = False,
    resend_last: bool = False,
    budget: float | None = None,
    full_scan_above: int = FULL_SCAN_ABOVE,
    sleep: Callable[[float], None] = time.sleep,
) -> NotifyResult:
    """Send each configured server what is pending for it (see the module docstring)."""
    names = settings.media_servers()
    result = NotifyResult(dry_run=dry_run)
    if not names:
        return result
    changes = ChangeLog.of(settings)
    result.servers = {name: ServerReport() for name in names}
    if not resend_last and not _anything_pending(changes, names):
        return result  # an unchanged rerun: no lock taken, nothing read but a stat and a small file
    with changes.snapshot() as (state, handle):
        size = _size(handle)
        starts: dict[str, tuple[int, bool]] = {}
        for name in names:
            cursor = state["servers"].get(name) or {}
            start = min(int(cursor.get("offset", size)), size)
            starts[name] = (start, bool(cursor.get("full")))
        if resend_last and all(start >= size and not full for start, full in starts.values()):
            for name in names:  # what each was told last time, again
                sent_from = (state["servers"].get(name) or {}).get("sent_from")
                if isinstance(sent_from, int) and sent_from < size:
                    starts[name] = (sent_from, False)
                    result.source = "last run"
        pendings: dict[tuple[int, bool], Pending] = {}
        for start, full in set(starts.values()):
            pendings[start, full] = ChangeLog.read(
                handle,
                start,
                generation=state["generation"],
                detail_limit=full_scan_above,
                nfo_limit=KODI_REFRESH_MAX,
                full=full,
            )
    todo = [(name, pendings[starts[name]]) for name in names if not pendings[starts[name]].empty]
    seconds = budget if budget is not None else settings.notify_timeout * BUDGET_FACTOR

    def tell(item: tuple[str, Pending]) -> tuple[str, ServerReport]:
        name, pending = item
        return name, _tell(server(name, settings), pending, settings, changes, dry_run, seconds, sleep)

    if len(todo) == 1:
        done = [tell(todo[0])]
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            done = list(pool.map(tell, todo))
    result.servers.update(done)
    return result


def _anything_pending(changes: ChangeLog, names: Sequence[str]) -> bool:
    size = changes.size()
    if not size and not changes.state_path.exists():
        return False
    cursors = changes.read_state()["servers"]
    for name in names:
        cursor = cursors.get(name) or {}
        if cursor.get("full") or int(cursor.get("offset", size)) < size:
            return True
    return False


def _size(handle: Any) -> int:
    if handle is None:
        return 0
    handle.seek(0, 2)
    return int(handle.tell())


def _tell(
    target: Server,
    pending: Pending,
    settings: Settings,
    changes: ChangeLog,
    dry_run: bool,
    seconds: float,
    sleep: Callable[[float], None],
) -> ServerReport:
    work = plan(pending, settings, target.path_map())
    report = ServerReport(folders=work.folders, full_scan=work.full)
    label = NAMES[target.name]
    if dry_run:
        report.preview = target.preview(work)
        return report
    transport = Transport(
        timeout=settings.notify_timeout, deadline=Deadline(seconds), secrets=target.secrets, sleep=sleep
    )
    try:
        warnings = target.send(work, transport)
    except DeliveryError as exc:
        report.requests, report.failed = transport.requests, work.folders
        report.error = transport.mask(str(exc))
        log.warning(
            "%s was not told about %d changed folder(s): %s; they stay pending for the next run or 'notify'",
            label,
            work.folders,
            report.error,
        )
        _remember(changes.note, target.name, report)
        return report
    except Exception as exc:  # a bug must not fail the run either; say it once, keep the changes
        report.requests, report.failed = transport.requests, work.folders
        report.error = transport.mask(f"{type(exc).__name__}: {exc}".splitlines()[0])
        log.warning("%s was not told (unexpected error): %s", label, report.error, exc_info=True)
        _remember(changes.note, target.name, report)
        return report
    report.requests, report.sent = transport.requests, work.folders
    report.warnings = [transport.mask(w) for w in warnings[:_WARNINGS_KEPT]]
    if warnings:
        log.warning("%s answered %d call(s) with an error, e.g. %s", label, len(warnings), report.warnings[0])
    what = "a full library scan" if work.full else f"{work.folders} changed folder(s)"
    log.info("%s told about %s (%d request(s))", label, what, report.requests)
    _remember(
        lambda name, last: changes.advance(name, pending.generation, pending.start, pending.end, last),
        target.name,
        report,
    )
    return report


def _remember(write: Callable[[str, dict[str, Any]], Any], name: str, report: ServerReport) -> None:
    """Record how it went in the cursor file; a state disk that refuses is one warning."""
    last = {"at": round(time.time(), 3), **report.as_dict()}
    try:
        write(name, last)
    except OSError as exc:
        log.warning("cannot record the media servers' progress in the state folder: %s", exc)
