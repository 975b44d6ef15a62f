"""vod2strm's paths as a media server sees them: prefix pairs, whole components, the server's
separator, and paths no pair matches."""

from __future__ import annotations

import pytest

from vod2strm.mediaserver.pathmap import PathMap

PAIRS = [
    ("/data/vod2strm/library", "/media/vod"),
    ("/data/vod2strm/library/adult", "smb://nas/adult"),
    ("/win", "D:\\Media"),
]


@pytest.mark.parametrize(
    ("path", "mapped"),
    [
        ("/data/vod2strm/library/Movies/Film (2001)", "/media/vod/Movies/Film (2001)"),
        ("/data/vod2strm/library", "/media/vod"),
        # the longest prefix wins
        ("/data/vod2strm/library/adult/Movies/X", "smb://nas/adult/Movies/X"),
        # whole components only: /data/vod2strm/library2 is another folder
        ("/data/vod2strm/library2/Movies/X", "/data/vod2strm/library2/Movies/X"),
        # a Windows server's prefix keeps its backslashes
        ("/win/TV Shows/Show (2010)/Season 01", "D:\\Media\\TV Shows\\Show (2010)\\Season 01"),
        # no pair: as vod2strm sees it
        ("/elsewhere/Movies/X", "/elsewhere/Movies/X"),
    ],
)
def test_the_longest_matching_prefix_is_replaced(path: str, mapped: str) -> None:
    assert PathMap(PAIRS).map(path) == mapped


def test_a_folder_gets_the_servers_trailing_separator() -> None:
    paths = PathMap(PAIRS)
    assert paths.map("/data/vod2strm/library/Movies", folder=True) == "/media/vod/Movies/"
    assert paths.map("/win/Movies", folder=True) == "D:\\Media\\Movies\\"
    assert paths.map("/elsewhere/Movies", folder=True) == "/elsewhere/Movies/"


def test_no_mapping_is_the_identity() -> None:
    assert PathMap().map("/data/lib/Movies/X") == "/data/lib/Movies/X"


def test_a_server_prefix_at_its_root() -> None:
    assert PathMap([("/data/lib", "/")]).map("/data/lib/Movies/X") == "/Movies/X"
    assert PathMap([("/", "/srv")]).map("/data/lib/Movies") == "/srv/data/lib/Movies"
