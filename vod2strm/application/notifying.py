"""Telling the media servers after a run, and the ``notify`` command.

After a generate (with its cleanup) or a cleanup, :func:`after_run` sends each configured media
server the changes it has not been told about (:mod:`vod2strm.jobs.notify`) and puts how that went
under ``notified`` in the run's data. It never changes the run's exit status and never raises: a
server that cannot be told is one warning line, a ``failed`` count, and changes that stay pending
for the next run or ``notify``. An interrupted run sends nothing (its changes stay pending), and a
run with no media server configured does nothing at all.

:func:`notify` is the command (``vod2strm notify``, the plugin's *Notify media servers*): what is
pending, or the last run's changes again when nothing is; ``dry_run`` says what would be sent.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from vod2strm.application.commands import Outcome
from vod2strm.application.wording import Wording
from vod2strm.errors import ConfigError

if TYPE_CHECKING:
    from vod2strm.conf import Settings

log = logging.getLogger("vod2strm")

NAMES = {"jellyfin": "Jellyfin", "emby": "Emby", "kodi": "Kodi"}
#: Requests a dry run's text lists per server (its JSON has them all).
_PREVIEW_LINES = 50


def after_run(settings: Settings, data: dict[str, Any], cancel: threading.Event | None = None) -> None:
    """Send what the run changed; ``data["notified"]`` says how it went (nothing when no media
    server is configured)."""
    if not settings.media_servers():
        return
    if cancel is not None and cancel.is_set():
        data["notified"] = {"skipped": "the run was interrupted; its changes stay pending"}
        return
    from vod2strm.jobs import notify as notify_job

    try:
        result = notify_job.run(settings)
    except Exception as exc:  # the run's outcome stands whatever happens here
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("could not notify the media servers: %s; the changes stay pending", text)
        data["notified"] = {"error": text}
        return
    data["notified"] = result.servers_dict()


def notify(settings: Settings, *, dry_run: bool = False, budget: float | None = None) -> Outcome:
    """Send the pending changes (or the last run's again) to every configured media server."""
    if not settings.media_servers():
        raise ConfigError(
            "jellyfin_url", "no media server is configured: set jellyfin_url, emby_url or kodi_url"
        )
    from vod2strm.jobs import notify as notify_job

    result = notify_job.run(settings, dry_run=dry_run, resend_last=True, budget=budget)
    return Outcome("notify", result.exit_code, result.as_dict(), render=notify_lines)


def notify_lines(data: dict[str, Any], wording: Wording | None = None) -> list[str]:
    """The ``notify`` command's report: per server, what was (or would be) sent."""
    servers = data.get("servers") or {}
    if data.get("dry_run"):
        lines: list[str] = []
        for name, report in servers.items():
            planned = report.get("would_send") or []
            if not planned:
                lines.append(f"{NAMES.get(name, name)}: nothing to send.")
                continue
            lines.append(f"{NAMES.get(name, name)}: would send ({report.get('folders', 0)} changed folders):")
            lines += [f"  {_request_line(r)}" for r in planned[:_PREVIEW_LINES]]
            if len(planned) > _PREVIEW_LINES:
                lines.append(f"  (+{len(planned) - _PREVIEW_LINES} more requests; --json lists them all)")
        return [*lines, "Dry run: nothing was sent."]
    lines = notified_sentences(servers, pointer=False)
    if not lines:
        return ["Nothing to send: the media servers were told about every change."]
    idle = [NAMES.get(n, n) for n, r in servers.items() if not r.get("requests") and not r.get("error")]
    if idle:
        lines.append(f"Nothing was pending for {' or '.join(idle)}.")
    if data.get("source") == "last run":
        lines.insert(0, "Nothing was pending; sent the last run's changes again.")
    return lines


def notified_sentences(notified: dict[str, Any], *, pointer: bool = True) -> list[str]:
    """One sentence per server that was told, or could not be (none for nothing to tell)."""
    if notified.get("skipped"):
        return [f"Media servers not told: {notified['skipped']}."]
    if "error" in notified and not isinstance(notified.get("error"), dict):
        return [f"Media servers not told: {notified['error']}; the changes stay pending."]
    sentences = []
    for name, report in notified.items():
        if not isinstance(report, dict):
            continue
        label = NAMES.get(name, name)
        if report.get("error"):
            later = " (the next run, or notify, sends them)" if pointer else ""
            sentences.append(
                f"Could not tell {label}: {report['error']}; {report.get('failed', 0)} changed folders "
                f"stay pending{later}."
            )
        elif report.get("full_scan") and report.get("requests"):
            sentences.append(
                f"Asked {label} for a full library scan ({report.get('sent', 0)} changed folders)."
            )
        elif report.get("requests"):
            sentences.append(f"Told {label} about {report.get('sent', 0)} changed folders.")
    return sentences


def _request_line(request: dict[str, Any]) -> str:
    if "request" in request:  # Jellyfin, Emby
        updates = (request.get("body") or {}).get("Updates") or []
        if not updates:
            return str(request["request"])
        shown = "; ".join(f"{u['UpdateType']} {u['Path']}" for u in updates[:3])
        more = f" (+{len(updates) - 3} more)" if len(updates) > 3 else ""
        return f"{request['request']}: {shown}{more}"
    params = request.get("params") or {}
    where = (
        params.get("directory") or (params.get("filter") or {}).get("value") or params.get("content") or ""
    )
    then = f", then {request['then']}" if request.get("then") else ""
    return f"{request.get('method')} {where}".rstrip() + then
