"""vod2strm's path of a library folder as a media server sees it.

The share is usually mounted at different paths in Dispatcharr's container and in the media
server's (``/data/vod2strm/library`` here, ``/media/vod`` there, ``smb://nas/vod`` for Kodi): a
server told about a path it does not know ignores it. A mapping is a list of prefix pairs
(``conf``'s ``*_path_map`` settings); the longest vod2strm-side prefix that matches whole path
components is replaced, and a path no pair matches is sent as it is.

The server side keeps its own separator: a prefix written with backslashes only (``D:\\Media``, a
Jellyfin or Emby on Windows) joins the rest of the path with backslashes, anything else (a POSIX
path, an ``smb://`` or ``nfs://`` URL) with slashes.
"""

from __future__ import annotations

from collections.abc import Iterable


class PathMap:
    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        # Longest local prefix first, so /data/lib/adult wins over /data/lib.
        self.pairs = sorted(((local.rstrip("/") or "/", server) for local, server in pairs), key=_longest)

    def map(self, path: str, *, folder: bool = False) -> str:
        """``path`` (absolute, POSIX, as vod2strm sees it) as the server sees it; ``folder`` adds
        the trailing separator (Kodi stores folders that way, and matches them so)."""
        for local, server in self.pairs:
            if path == local or path.startswith(local.rstrip("/") + "/"):
                rest = path[len(local) :].strip("/")
                mapped = join(server, rest)
                return mapped + separator(server) if folder and not mapped.endswith(("/", "\\")) else mapped
        return path + "/" if folder and not path.endswith("/") else path


def separator(prefix: str) -> str:
    return "\\" if "\\" in prefix and "/" not in prefix else "/"


def join(prefix: str, rest: str) -> str:
    if not rest:
        return prefix
    sep = separator(prefix)
    if sep == "\\":
        rest = rest.replace("/", "\\")
    return prefix + rest if prefix.endswith(sep) else f"{prefix}{sep}{rest}"


def _longest(pair: tuple[str, str]) -> int:
    return -len(pair[0])
