"""The body of a ``.strm`` file: one http(s) URL and a newline.

Media servers read the first line of a ``.strm`` as the stream location, so the body is exactly
that line. The default points at Dispatcharr's VOD proxy; "direct" mode writes the provider's own
URL (which carries the account's credentials, so it never appears in logs or reports).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit
from uuid import UUID

if TYPE_CHECKING:
    from vod2strm.catalog.rows import Source
    from vod2strm.conf import Settings

Kind = Literal["movie", "episode"]

#: Characters ``quote(..., safe="")`` leaves alone: text made only of these is already quoted
#: (uuids, numeric ids), so the per-file ``quote`` calls are skipped for it.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
#: What may not appear in a one-line URL: whitespace (``str.isspace``, as ``\s`` matches in a
#: str pattern), C0 controls and DEL.
_NOT_ON_ONE_LINE = re.compile(r"[\s\x00-\x1f\x7f]")
_HOST = re.compile(r"[^/?#]*")
_HEX32 = re.compile(r"[0-9A-Fa-f]{32}")


def _quoted(value: object) -> str:
    text = str(value)
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="")


def uuid_text(uuid: UUID | str) -> str:
    """The canonical hyphenated form Dispatcharr's proxy URLs use, from a ``UUID`` or any text form
    a driver gives (SQLite stores 32 hex digits); text that is no uuid is kept as it is."""
    if isinstance(uuid, UUID):
        return str(uuid)
    if type(uuid) is str and _HEX32.fullmatch(uuid):  # SQLite's form: hyphens put in by hand,
        u = uuid.lower()  # as the UUID round trip (a third of an episode's .strm) would
        return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
    try:
        return str(UUID(uuid))
    except (TypeError, ValueError):
        return str(uuid)


def proxy_url(kind: Kind, uuid: UUID | str, source: Source, settings: Settings) -> str:
    """Dispatcharr's proxy URL for one item and the relation chosen for it.

    The uuid sits in the path, but Dispatcharr regenerates uuids on every VOD refresh; its proxy
    (``apps/proxy/vod_proxy/views.py``) falls back to ``stream_id`` + ``m3u_account_id`` when the
    uuid is stale. So the item fingerprint (items.py) leaves the uuid out: a uuid-only change does
    not rewrite the file (Jellyfin would re-probe it). When the item is rendered for any other
    reason, the current uuid goes in.
    """
    if kind not in ("movie", "episode"):
        raise ValueError(f"kind must be 'movie' or 'episode', got {kind!r}")
    base = settings.base_url.rstrip("/")
    stream_id = _quoted(source.stream_id)
    account_id = _quoted(source.account_id)
    item = _quoted(uuid_text(uuid))
    return f"{base}/proxy/vod/{kind}/{item}?stream_id={stream_id}&m3u_account_id={account_id}"


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL on one line: anything else cannot be a ``.strm`` body."""
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    if _NOT_ON_ONE_LINE.search(value):
        return False
    # Fast path for the usual "http(s)://host/...": exactly what urlsplit answers for it (an ASCII
    # host without brackets cannot make urlsplit raise); anything else goes through urlsplit.
    for prefix in ("https://", "http://"):
        if value.startswith(prefix):
            host = _HOST.match(value, len(prefix))[0]  # type: ignore[index]
            if host and host.isascii() and "[" not in host and "]" not in host:
                return True
            break
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def render_strm(kind: Kind, uuid: UUID | str, source: Source, settings: Settings) -> bytes:
    """One UTF-8 line ending in "\\n": the proxy URL, or in "direct" mode the provider URL.

    Direct mode falls back to the proxy URL when the relation has no usable provider URL
    (non-XC accounts have none), so every ``.strm`` stays playable. See :func:`proxy_url` for
    why a changed uuid alone never reaches an already written file.
    """
    url = proxy_url(kind, uuid, source, settings)
    if settings.url_mode == "direct" and is_http_url(source.direct_url):
        url = str(source.direct_url)
    return (url + "\n").encode("utf-8")
