"""One HTTP POST to a media server: standard library only, bounded in time, quiet about secrets.

Why urllib and not a client library: a notification is a handful of small JSON POSTs per run,
and Dispatcharr's environment should not need another package for them.

- **Time.** Each attempt waits at most ``timeout`` seconds, and all attempts to one server share one
  deadline (:class:`Deadline`), so an unreachable or stalled server delays the end of a run by a
  bounded time, never indefinitely.
- **Retries.** A connection error, a timeout, HTTP 5xx or 429 is tried again, up to
  :data:`ATTEMPTS` times, after 0.5 s, then 1 s (never past the deadline). Other answers (401, 403,
  404, ...) will not change by asking again: they fail at once, with a hint.
- **Redirects** are refused rather than followed: urllib would resend the credentials header to
  whatever host the answer names.
- **Secrets.** Credentials go in headers only, never in a URL; every message this module makes is
  worded here (host and port, status code, reason), and any secret that still reached one (a
  server echoing it) is masked. Headers and bodies are never logged.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Tries per request (the first one included).
ATTEMPTS = 3
#: Seconds before the second and third try.
BACKOFF = (0.5, 1.0)
#: Most bytes of an answer read (Kodi's answer to a batch of look-ups is the largest).
MAX_ANSWER = 16 * 1024 * 1024
USER_AGENT = "vod2strm"

_HINTS = {
    401: " (check the API key, or Kodi's username and password)",
    403: " (the API key or user may not do this)",
    404: " (check the address: is it the server's, with its path prefix?)",
}


class DeliveryError(Exception):
    """The server could not be told: one line for people, with no secret in it."""


class Deadline:
    """The end of the time one server gets for one notification."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.seconds = seconds
        self.end = clock() + seconds

    def remaining(self) -> float:
        return self.end - self.clock()


class Transport:
    """POSTs to one server, with the retries, deadline and redaction described above."""

    def __init__(
        self,
        *,
        timeout: float,
        deadline: Deadline,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.timeout = timeout
        self.deadline = deadline
        self.secrets = tuple(s for s in secrets if s)
        self.sleep = sleep
        self.requests = 0  # HTTP requests made (retries included)
        self._opener = urllib.request.build_opener(_NoRedirects())

    def post(self, url: str, body: bytes | None, headers: Mapping[str, str]) -> bytes:
        """The answer's body; raises :class:`DeliveryError` when there is none to be had."""
        where = _where(url)
        last = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                pause = BACKOFF[min(attempt, len(BACKOFF)) - 1]
                if self.deadline.remaining() <= pause:
                    break
                self.sleep(pause)
            wait = min(self.timeout, self.deadline.remaining())
            if wait <= 0.05:
                break
            request = urllib.request.Request(url, data=body if body is not None else b"", method="POST")
            for name, value in {"User-Agent": USER_AGENT, **headers}.items():
                request.add_header(name, value)
            if body is not None:
                request.add_header("Content-Type", "application/json")
            self.requests += 1
            try:
                with self._opener.open(request, timeout=wait) as answer:
                    return answer.read(MAX_ANSWER)
            except urllib.error.HTTPError as exc:
                code, reason = exc.code, exc.reason
                exc.close()
                if 300 <= code < 400:
                    raise DeliveryError(
                        self.mask(
                            f"{where} answered with a redirect (HTTP {code}): set the address it redirects to"
                        )
                    ) from None
                if code < 500 and code != 429:
                    raise DeliveryError(
                        self.mask(f"{where} answered HTTP {code} {reason}{_HINTS.get(code, '')}")
                    ) from None
                last = f"{where} answered HTTP {code} {reason}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                last = f"cannot reach {where}: {_reason(exc)}"
            log.debug("%s (attempt %d of %d)", self.mask(last), attempt + 1, ATTEMPTS)
        if not last:
            last = f"no time left to reach {where}"
        raise DeliveryError(
            self.mask(
                f"{last} (gave up after {self.requests} attempt(s), {self.deadline.seconds:g} s allowed)"
            )
        )

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the HTTPError then reaches Transport.post, which refuses it


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _reason(exc: BaseException) -> str:
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.timeout | TimeoutError):
        return "no answer in time"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
