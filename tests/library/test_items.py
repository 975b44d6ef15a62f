"""Rows → library items: the golden tree, fingerprints, collisions and hostile titles (no DB)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import posixpath
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree

from vod2strm import conf
from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow, Source
from vod2strm.library import items, naming
from vod2strm.library.items import FolderFiles, LibraryItem
from vod2strm.library.naming import NameClaims
from vod2strm.library.strm import is_http_url

GOLDEN = Path(__file__).parents[1] / "golden" / "library"
KODI_EPISODE = re.compile(r"[Ss]([0-9]+)[][ ._-]*[Ee]([0-9]+)")
ROOT = "/tmp/vod2strm-test/out"


def make_settings(**overrides: object) -> conf.Settings:
    return conf.build({"output_root": ROOT, "state_dir": "/tmp/vod2strm-test/state", **overrides})


SETTINGS = make_settings()


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def make_source(stream_id: str, account_id: int = 3, direct_url: str | None = None) -> Source:
    return Source(
        relation_id=int(stream_id) if stream_id.isdigit() else 1,
        account_id=account_id,
        account_name=f"Account {account_id}",
        stream_id=stream_id,
        container_extension="mkv",
        category_id=None,
        category_name=None,
        direct_url=direct_url,
    )


def make_movie(id: int, name: str, year: int | None = None, **kw: Any) -> MovieRow:
    values: dict[str, Any] = dict(
        id=id,
        uuid=uuid(id),
        name=name,
        description=None,
        year=year,
        rating=None,
        genre=None,
        duration_secs=None,
        is_adult=False,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        logo_url=None,
        source=make_source(str(1000 + id)),
    )
    values.update(kw)
    return MovieRow(**values)


def make_episode(id: int, season: int | None, episode: int | None, name: str, **kw: Any) -> EpisodeRow:
    values: dict[str, Any] = dict(
        id=id,
        uuid=uuid(id),
        name=name,
        description=None,
        air_date=None,
        rating=None,
        duration_secs=None,
        season_number=season,
        episode_number=episode,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        source=make_source(str(5000 + id), account_id=7),
    )
    values.update(kw)
    return EpisodeRow(**values)


def make_series(
    id: int, name: str, year: int | None = None, episodes: tuple[EpisodeRow, ...] = (), **kw: Any
):
    values: dict[str, Any] = dict(
        id=id,
        uuid=uuid(id),
        name=name,
        description=None,
        year=year,
        rating=None,
        genre=None,
        is_adult=False,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        logo_url=None,
        source=make_source(str(9000 + id), account_id=7),
        episodes=episodes,
    )
    values.update(kw)
    return SeriesRow(**values)


def golden_catalog() -> tuple[list[MovieRow], list[SeriesRow]]:
    """The catalog behind tests/golden/library (see its README): change both together."""
    utc = dt.UTC
    movies = [
        make_movie(
            1,
            "EN - The Matrix",
            1999,
            description="A hacker learns\x07 the truth about his reality & joins the rebels.",
            rating="8.70",
            genre="Action, Science Fiction",
            duration_secs=8160,
            tmdb_id="603",
            imdb_id="tt0133093",
            logo_url="https://img.example/matrix.jpg",
            created_at=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc),
            custom_properties={
                "backdrop_path": [
                    "https://img.example/matrix-bg1.jpg",
                    "/t/p/original/relative.jpg",
                    "https://img.example/matrix-bg2.jpg",
                ],
                "director": "Lana Wachowski, Lilly Wachowski",
                "actors": [
                    {"name": "Keanu Reeves", "character": "Neo"},
                    {"name": "Carrie-Anne Moss", "role": "Trinity"},
                    {"name": 42},
                ],
                "youtube_trailer": "vKQi3bBA1y8",
                "release_date": "1999-03-31",
                "last_modified": "1700000000",
            },
        ),
        make_movie(
            2,
            "EN - Crash",
            2004,
            description="Los Angeles, 36 hours.",
            genre="Drama",
            rating="N/A",
            duration_secs=6720,
        ),
        make_movie(3, "FR - Crash", 2004, custom_properties="", logo_url="not a url"),
        make_movie(
            4,
            "千と千尋の神隠し",
            2001,
            tmdb_id="129",
            description="十歳の少女千尋が不思議の町に迷い込む。",
            genre="Animation/Fantasy",
            rating="8,5",
            logo_url="https://img.example/spirited.jpg",
            created_at=dt.datetime(2024, 3, 4, 5, 6, 7),
            custom_properties={"duration": "02:05:00", "actors": ["柊瑠美", "入野自由"]},
            source=make_source("1004", account_id=2),
        ),
        make_movie(
            5,
            "Home Movie: Part 1",
            None,
            tmdb_id="0",
            imdb_id="None",
            rating="0",
            description="  Line one.\r\nLine two.  ",
            custom_properties={"release_date": "not a date", "director": 7, "backdrop_path": 3},
        ),
    ]
    created = dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=utc)
    episodes = (
        make_episode(106, 2, None, "Bonus"),
        make_episode(103, 1, 100, "The Hundredth"),
        make_episode(
            101,
            1,
            1,
            "Breaking Bad - S01E01 - Pilot",
            air_date=dt.date(2008, 1, 20),
            duration_secs=3480,
            description="Walter White, a chemistry teacher, is diagnosed with cancer.",
            rating="8.3",
            tmdb_id="62085",
            created_at=created,
            custom_properties={"movie_image": "https://img.example/bb-s01e01.jpg"},
        ),
        make_episode(100, 0, 1, "Good Cop Bad Cop", air_date=dt.date(2009, 2, 17), duration_secs=420),
        make_episode(
            102,
            1,
            2,
            "Cat's in the Bag: Part 2",
            custom_properties={"release_date": "2008-01-27", "duration": "00:48:00"},
        ),
        make_episode(104, 1, 3, "Episode 3"),
        make_episode(105, 2, None, "Bonus"),
    )
    series = [
        make_series(
            10,
            "EN - Breaking Bad (2008)",
            2008,
            episodes,
            tmdb_id="1396",
            imdb_id="tt0903747",
            description="A chemistry teacher turns to crime.",
            rating="9.5",
            genre="Drama | Crime",
            logo_url="https://img.example/bb.jpg",
            created_at=created,
            custom_properties={
                "backdrop_path": "https://img.example/bb-bg.jpg",
                "cast": "Bryan Cranston, Aaron Paul",
                "director": ["Vince Gilligan"],
                "releaseDate": "2008-01-20",
                "episode_run_time": "47",
                "youtube_trailer": "https://www.youtube.com/watch?v=HhesaQXLuRY",
            },
        ),
        make_series(11, "Empty Show", 2020),
    ]
    return movies, series


def build(
    movies: list[MovieRow], series: list[SeriesRow], settings: conf.Settings = SETTINGS
) -> list[LibraryItem]:
    claims = NameClaims()
    built: list[LibraryItem] = [items.movie_item(row, settings, claims) for row in movies]
    for row in series:
        item = items.series_item(row, settings, claims)
        if item is not None:
            built.append(item)
    return built


def files_of(built: list[LibraryItem]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for item in built:
        for group in item.folders:
            for f in group.files:
                assert f.relpath not in out, f"two items write {f.relpath}"
                out[f.relpath] = f.data
    return out


def read_golden() -> dict[str, bytes]:
    return {
        unicodedata.normalize("NFC", p.relative_to(GOLDEN).as_posix()): p.read_bytes()
        for p in sorted(GOLDEN.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# Golden tree


def test_golden_tree() -> None:
    got = files_of(build(*golden_catalog()))
    expected = read_golden()
    assert sorted(got) == sorted(expected)
    for path, data in expected.items():
        assert got[path] == data, path


def test_golden_items() -> None:
    built = build(*golden_catalog())
    assert [(i.key, i.section, i.root, i.title) for i in built] == [
        ("movie:tmdb:603", "movies", "main", "The Matrix (1999)"),
        ("movie:name:EN - Crash:2004", "movies", "main", "Crash (2004)"),
        ("movie:name:FR - Crash:2004", "movies", "main", "Crash (2004)"),
        ("movie:tmdb:129", "movies", "main", "千と千尋の神隠し (2001)"),
        ("movie:name:Home Movie: Part 1::tmdb=0:imdb=None", "movies", "main", "Home Movie: Part 1"),
        ("series:tmdb:1396", "series", "main", "Breaking Bad (2008)"),
    ]
    show = built[-1]
    assert [g.folder for g in show.folders] == [
        "TV Shows/Breaking Bad (2008) [tmdbid-1396]",
        "TV Shows/Breaking Bad (2008) [tmdbid-1396]/Season 00",
        "TV Shows/Breaking Bad (2008) [tmdbid-1396]/Season 01",
        "TV Shows/Breaking Bad (2008) [tmdbid-1396]/Season 02",
    ]
    for item in built:
        for group in item.folders:
            assert group.files
            assert group.folder.startswith(item.folders[0].folder)
            for f in group.files:
                assert posixpath.dirname(f.relpath) == group.folder
                assert f.kind in items.KINDS


def test_golden_is_deterministic_and_fingerprints_match_heads() -> None:
    movies, series = golden_catalog()
    assert files_of(build(movies, series)) == files_of(build(movies, series))
    claims = NameClaims()
    for row in movies:
        head = items.movie_head(row, SETTINGS, claims)
        assert items.movie_fingerprint(row, SETTINGS) == head.fingerprint
        assert items.movie_key(row, SETTINGS) == head.key
        item = items.movie_item(row, SETTINGS, claims)
        assert (item.key, item.fingerprint, item.folders[0].folder) == (
            head.key,
            head.fingerprint,
            head.folder,
        )
    head = items.series_head(series[0], SETTINGS, claims)
    item = items.series_item(series[0], SETTINGS, claims)
    assert head is not None and item is not None
    assert items.series_fingerprint(series[0], SETTINGS) == head.fingerprint == item.fingerprint
    assert items.series_key(series[0], SETTINGS) == head.key == item.key


def test_every_nfo_parses_and_every_strm_is_one_url() -> None:
    roots = {
        "movie_nfo": "movie",
        "tvshow_nfo": "tvshow",
        "season_nfo": "season",
        "episode_nfo": "episodedetails",
    }
    for item in build(*golden_catalog()):
        for group in item.folders:
            for f in group.files:
                if f.kind in roots:
                    root = etree.fromstring(f.data)
                    assert root.tag == roots[f.kind]
                    assert root.findtext("title")
                else:
                    text = f.data.decode("utf-8")
                    assert text.endswith("\n") and text.count("\n") == 1
                    assert is_http_url(text.strip())


def test_episode_files_match_kodi_and_pair_with_nfo() -> None:
    show = build(*golden_catalog())[-1]
    for group in show.folders[1:]:
        names = [posixpath.basename(f.relpath) for f in group.files if f.kind.startswith("episode")]
        for f in group.files:
            if f.kind == "episode_strm":
                base = posixpath.basename(f.relpath)[: -len(".strm")]
                assert base + ".nfo" in names  # Kodi and Jellyfin need the exact same base name
                match = KODI_EPISODE.search(base)
                assert match
                nfo_data = next(g.data for g in group.files if g.relpath == f.relpath[:-5] + ".nfo")
                root = etree.fromstring(nfo_data)
                assert (int(match[1]), int(match[2])) == (
                    int(root.findtext("season")),
                    int(root.findtext("episode")),
                )


def test_series_without_episodes_is_none() -> None:
    claims = NameClaims()
    row = make_series(11, "Empty Show", 2020)
    assert items.series_item(row, SETTINGS, claims) is None
    assert items.series_head(row, SETTINGS, claims) is None
    assert items.series_fingerprint(row, SETTINGS)
    assert items.series_key(row, SETTINGS) == "series:name:Empty Show:2020"
    assert len(claims) == 0  # an empty series claims no folder


def test_write_nfo_off() -> None:
    built = build(*golden_catalog(), settings=make_settings(write_nfo=False))
    files = files_of(built)
    assert files and all(path.endswith(".strm") for path in files)
    show = built[-1]
    assert show.folders[0] == FolderFiles("TV Shows/Breaking Bad (2008) [tmdbid-1396]", ())  # still first
    assert all(g.files for g in show.folders[1:])
    assert len([p for p in files if p.startswith("TV Shows/")]) == 7


def test_adult_root() -> None:
    row = make_movie(1, "X", 2001, is_adult=True)
    separate = make_settings(adult_mode="separate", adult_root="/tmp/adult")
    assert items.movie_item(row, separate, NameClaims()).root == "adult"
    assert items.movie_item(row, make_settings(adult_mode="include"), NameClaims()).root == "main"
    normal = dataclasses.replace(row, is_adult=False)
    assert items.movie_item(normal, separate, NameClaims()).root == "main"
    # Both roots share one claims namespace ("Movies"): a same-named pair gets a needless but
    # harmless " (2)", and a folder never depends on which root a rerun looks at.
    claims = NameClaims()
    a = items.movie_item(row, separate, claims)
    b = items.movie_item(dataclasses.replace(normal, id=2, name="x"), separate, claims)
    assert (a.root, a.folders[0].folder) == ("adult", "Movies/X (2001)")
    assert (b.root, b.folders[0].folder) == ("main", "Movies/x (2001) (2)")


def test_emby_and_no_tag_styles() -> None:
    row = make_movie(1, "X", 2001, tmdb_id="5")
    assert items.movie_item(row, make_settings(id_tag_style="emby"), NameClaims()).folders[0].folder == (
        "Movies/X (2001) [tmdbid=5]"
    )
    assert items.movie_item(row, make_settings(id_tag_style="none"), NameClaims()).folders[0].folder == (
        "Movies/X (2001)"
    )


# ---------------------------------------------------------------------------------------------
# Fingerprints


def _movie_fp(row: MovieRow, settings: conf.Settings = SETTINGS) -> str:
    return items.movie_fingerprint(row, settings)


def _series_fp(row: SeriesRow, settings: conf.Settings = SETTINGS) -> str:
    return items.series_fingerprint(row, settings)


def test_movie_fingerprint() -> None:
    row = golden_catalog()[0][0]
    fp = _movie_fp(row)
    assert _movie_fp(dataclasses.replace(row, uuid="another-uuid")) == fp
    assert _movie_fp(dataclasses.replace(row, id=999)) == fp  # the pk does not reach the files
    props = {**row.custom_properties, "last_modified": "1800000000", "cover_big": "x"}
    assert _movie_fp(dataclasses.replace(row, custom_properties=props)) == fp
    assert _movie_fp(dataclasses.replace(row, source=make_source("2002"))) != fp
    assert _movie_fp(dataclasses.replace(row, source=make_source("1001", account_id=4))) != fp
    assert _movie_fp(dataclasses.replace(row, name="EN - The Matrix Reloaded")) != fp
    assert _movie_fp(dataclasses.replace(row, description="Other plot")) != fp
    assert _movie_fp(dataclasses.replace(row, custom_properties={**props, "director": "X"})) != fp
    assert _movie_fp(dataclasses.replace(row, created_at=None)) != fp
    assert _movie_fp(row, make_settings(base_url="http://other:9191")) != fp
    assert _movie_fp(row, make_settings(adult_mode="separate", adult_root="/tmp/a")) == fp  # not adult


def test_movie_fingerprint_tracks_what_reaches_output() -> None:
    row = make_movie(1, "X", 2001, source=make_source("1", direct_url="http://p/u/pw/1.mkv"))
    # the provider URL only reaches the file in direct mode
    assert _movie_fp(row) == _movie_fp(
        dataclasses.replace(row, source=make_source("1", direct_url="http://p/2"))
    )
    direct = make_settings(url_mode="direct")
    assert _movie_fp(row, direct) != _movie_fp(
        dataclasses.replace(row, source=make_source("1", direct_url="http://p/2")), direct
    )
    # without NFOs, the plot reaches nothing
    no_nfo = make_settings(write_nfo=False)
    assert _movie_fp(row, no_nfo) == _movie_fp(dataclasses.replace(row, description="new plot"), no_nfo)
    # adult mode moves the item to another root: re-render
    adult = dataclasses.replace(row, is_adult=True)
    assert _movie_fp(adult) != _movie_fp(adult, make_settings(adult_mode="separate", adult_root="/tmp/a"))


def test_series_fingerprint() -> None:
    row = golden_catalog()[1][0]
    fp = _series_fp(row)
    eps = row.episodes
    renewed = tuple(dataclasses.replace(e, uuid=e.uuid + "-new") for e in eps)
    assert _series_fp(dataclasses.replace(row, uuid="new", episodes=renewed)) == fp
    assert _series_fp(dataclasses.replace(row, episodes=tuple(reversed(eps)))) == fp  # order is ours
    changed = (dataclasses.replace(eps[0], source=make_source("7777", account_id=7)), *eps[1:])
    assert _series_fp(dataclasses.replace(row, episodes=changed)) != fp
    retitled = (dataclasses.replace(eps[0], name="Other"), *eps[1:])
    assert _series_fp(dataclasses.replace(row, episodes=retitled)) != fp
    assert _series_fp(dataclasses.replace(row, episodes=eps[1:])) != fp
    assert _series_fp(dataclasses.replace(row, description="Other")) != fp


def test_rerender_after_other_change_carries_new_uuid() -> None:
    row = make_movie(1, "X", 2001)
    newer = dataclasses.replace(row, uuid="fresh-uuid", source=make_source("4242"))
    item = items.movie_item(newer, SETTINGS, NameClaims())
    strm = next(f for f in item.folders[0].files if f.kind == "movie_strm")
    assert b"/proxy/vod/movie/fresh-uuid?stream_id=4242&" in strm.data


# ---------------------------------------------------------------------------------------------
# Collisions


def folders(built: list[LibraryItem]) -> list[str]:
    return [item.folders[0].folder for item in built]


def test_same_title_year_different_tmdb() -> None:
    rows = [make_movie(1, "Heat", 1995, tmdb_id="949"), make_movie(2, "Heat", 1995, tmdb_id="111")]
    assert folders(build(rows, [])) == ["Movies/Heat (1995) [tmdbid-949]", "Movies/Heat (1995) [tmdbid-111]"]
    none_style = make_settings(id_tag_style="none")
    assert folders(build(rows, [], none_style)) == ["Movies/Heat (1995)", "Movies/Heat (1995) [tmdbid-111]"]


def test_same_title_year_no_ids_by_pk() -> None:
    rows = [make_movie(1, "EN - Heat", 1995), make_movie(2, "heat", 1995), make_movie(3, "|UK| HEAT", 1995)]
    built = build(rows, [])
    assert folders(built) == ["Movies/Heat (1995)", "Movies/heat (1995) (2)", "Movies/HEAT (1995) (3)"]
    assert [i.key for i in built] == [
        "movie:name:EN - Heat:1995",
        "movie:name:heat:1995",
        "movie:name:|UK| HEAT:1995",
    ]
    # each writes its own files
    assert len(files_of(built)) == 6


def test_claims_case_insensitive_across_items() -> None:
    rows = [make_movie(1, "The Office"), make_movie(2, "THE OFFICE")]
    assert folders(build(rows, [])) == ["Movies/The Office", "Movies/THE OFFICE (2)"]
    shows = [
        make_series(1, "The Office", episodes=(make_episode(1, 1, 1, "a"),)),
        make_series(2, "the office", episodes=(make_episode(2, 1, 1, "a"),)),
    ]
    built = build([], shows)
    assert [i.folders[0].folder for i in built] == ["TV Shows/The Office", "TV Shows/the office (2)"]


def test_unchanged_items_must_still_claim() -> None:
    """A skipped (unchanged) item claims its folder, so a newer same-named item cannot take it."""
    old, new = make_movie(1, "Heat", 1995), make_movie(2, "Heat", 1995)
    claims = NameClaims()
    items.movie_head(old, SETTINGS, claims)  # the run skips rendering it
    assert items.movie_item(new, SETTINGS, claims).folders[0].folder == "Movies/Heat (1995) (2)"


def test_rerun_with_reclaims_keeps_every_folder() -> None:
    """jobs/generate.py's flow: skipped items reclaim their recorded folder under (parent, key)."""
    a, b = make_movie(1, "EN - Heat", 1995), make_movie(2, "FR - Heat", 1995)
    first = {i.key: i.folders[0].folder for i in build([a, b], [])}
    assert sorted(first.values()) == ["Movies/Heat (1995)", "Movies/Heat (1995) (2)"]
    # next run: a and b unchanged (reclaimed), c new with the same title, rendered
    c = make_movie(3, "Heat", 1995)
    claims = NameClaims()
    for row in (a, b):
        parent, _, name = first[items.movie_key(row, SETTINGS)].rpartition("/")
        assert claims.claim(parent, name, items.movie_key(row, SETTINGS), "") == name
    assert items.movie_item(c, SETTINGS, claims).folders[0].folder == "Movies/Heat (1995) (3)"
    # rendering a or b again in that run gives back their own folder
    for row in (a, b):
        assert (
            items.movie_item(row, SETTINGS, claims).folders[0].folder == first[items.movie_key(row, SETTINGS)]
        )


def test_collision_resolution_shows_in_head_folder() -> None:
    """If the lower pk disappears the survivor's folder changes, while its fingerprint does not:
    the caller compares folders (or reclaims) as well as fingerprints."""
    a, b = make_movie(1, "Heat", 1995), make_movie(2, "Heat", 1995)
    claims = NameClaims()
    items.movie_head(a, SETTINGS, claims)
    with_a = items.movie_head(b, SETTINGS, claims)
    alone = items.movie_head(b, SETTINGS, NameClaims())
    assert (with_a.folder, alone.folder) == ("Movies/Heat (1995) (2)", "Movies/Heat (1995)")
    assert with_a.fingerprint == alone.fingerprint


@pytest.mark.parametrize(
    ("tmdb", "imdb", "name", "year", "expected"),
    [
        ("603", "tt0133093", "EN - The Matrix", 1999, "movie:tmdb:603"),
        (603, None, "x", None, "movie:tmdb:603"),
        ("0603", None, "x", None, "movie:tmdb:0603"),
        (None, "tt0133093", "x", None, "movie:imdb:tt0133093"),
        ("0", "tt0133093", "x", None, "movie:imdb:tt0133093"),
        (None, None, "EN - Heat", 1995, "movie:name:EN - Heat:1995"),
        (None, None, "EN - Heat", None, "movie:name:EN - Heat:"),
        ("0", None, "Heat", 1995, "movie:name:Heat:1995:tmdb=0"),
        ("", "", "Heat", 1995, "movie:name:Heat:1995:tmdb=:imdb="),
    ],
)
def test_movie_key(tmdb: object, imdb: object, name: str, year: int | None, expected: str) -> None:
    row = make_movie(1, name, year, tmdb_id=tmdb, imdb_id=imdb)
    assert items.movie_key(row, SETTINGS) == expected
    # the key does not depend on settings: a new clean-up regex must not re-key the library
    assert items.movie_key(row, make_settings(name_clean_regex="", id_tag_style="none")) == expected


def test_twin_keys_get_their_own_folder() -> None:
    """Ids equal only after clean-up (" 603" and "603") would share a key: the second gets "#2"."""
    rows = [make_movie(1, "X", 2001, tmdb_id="603"), make_movie(2, "X", 2001, tmdb_id=" 603")]
    built = build(rows, [])
    assert [i.key for i in built] == ["movie:tmdb:603", "movie:tmdb:603#2"]
    assert folders(built) == ["Movies/X (2001) [tmdbid-603]", "Movies/X (2001) [tmdbid-603] (2)"]


def test_duplicate_episode_codes_do_not_overwrite() -> None:
    eps = (
        make_episode(3, 1, None, "Same"),
        make_episode(1, 1, None, "Same"),
        make_episode(2, 1, None, "same"),
        make_episode(4, None, None, ""),
        make_episode(5, -1, -1, ""),
    )
    item = items.series_item(make_series(1, "Show", episodes=eps), SETTINGS, NameClaims())
    assert item is not None
    strms = [f for g in item.folders for f in g.files if f.kind == "episode_strm"]
    names = [posixpath.basename(f.relpath) for f in strms]
    assert names == [
        "Show S00E00.strm",
        "Show S00E00 (2).strm",
        "Show S01E00 - Same.strm",
        "Show S01E00 - same (2).strm",
        "Show S01E00 - Same (3).strm",
    ]
    assert [f.data.split(b"/episode/")[1][:36].decode() for f in strms] == [uuid(n) for n in (4, 5, 1, 2, 3)]


def test_titles_holding_an_episode_code_stay_out_of_episode_names() -> None:
    """Kodi reads the first SxxEyy-like marker of a file name, and every later one as one more
    episode of the file (tests/kodi saw phantom episodes and a phantom season 3): a show or
    episode title holding one is left out of the names, and kept in the NFOs."""
    eps = (
        make_episode(1, 1, 5, "Chapter Five"),
        make_episode(2, 2, 3, "Recap S03E04"),
        make_episode(3, 2, 4, "Recap S03E04"),
    )
    item = items.series_item(make_series(1, "S03E01 Stories", 2015, episodes=eps), SETTINGS, NameClaims())
    assert item is not None
    assert item.folders[0].folder == "TV Shows/S03E01 Stories (2015)"  # folders are not read
    strms = sorted(
        posixpath.basename(f.relpath) for g in item.folders for f in g.files if f.kind == "episode_strm"
    )
    assert strms == ["S01E05 - Chapter Five.strm", "S02E03.strm", "S02E04.strm"]
    nfos = {
        posixpath.basename(f.relpath): f.data
        for g in item.folders
        for f in g.files
        if f.kind == "episode_nfo"
    }
    root = etree.fromstring(nfos["S02E03.nfo"])
    assert (root.findtext("title"), root.findtext("showtitle")) == ("Recap S03E04", "S03E01 Stories")


def test_movie_names_spare_kodi_trailer_rule_and_shows_keep_theirs() -> None:
    """Kodi's default exclude rule "-trailer" skips movies only: a movie's hyphen before "trailer"
    is an en dash in its names (never in its NFO); a show's folder is left as it is."""
    movie = items.movie_item(make_movie(1, "Night-Trailer", 2020), SETTINGS, NameClaims())
    assert [f.relpath for f in movie.folders[0].files] == [
        "Movies/Night\u2013Trailer (2020)/Night\u2013Trailer (2020).strm",
        "Movies/Night\u2013Trailer (2020)/Night\u2013Trailer (2020).nfo",
    ]
    assert etree.fromstring(movie.folders[0].files[1].data).findtext("title") == "Night-Trailer"
    show = items.series_item(
        make_series(2, "Night-Trailer", 2020, episodes=(make_episode(1, 1, 1, "Pilot"),)),
        SETTINGS,
        NameClaims(),
    )
    assert show is not None and show.folders[0].folder == "TV Shows/Night-Trailer (2020)"


# ---------------------------------------------------------------------------------------------
# Hostile titles

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "CON",
    "con.strm",
    "NUL",
    "COM1",
    "LPT9 ",
    "a:b?c*",
    'x<y>z|"q"\\',
    "A" * 400,
    "é" * 400,
    "千" * 400,
    "😀" * 100,
    "🎬 Movie 👨\u200d👩\u200d👧",
    "مرحبا بالعالم",
    "שלום \u202eevil\u202c",
    "......",
    "      ",
    "",
    "\x00\x01\x02",
    "a\x00b\nc\td",
    "\uffff",  # characters XML cannot carry: cleaned from NFOs, kept or dropped by naming
    "\ufffe\uffff",
    "\ud800\udfff",
    "\x0b\x0c\x1c\x85",
    "Title.",
    "Title ",
    " . . ",
    "/",
    "\\\\server\\share",
    "Case Title",
    "case title",
]


def _assert_component(part: str) -> None:
    assert part not in ("", ".", ".."), part
    assert not set('/\\<>:"|?*') & set(part), part
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in part), part
    assert not part.endswith((".", " ")), part
    assert part.split(".", 1)[0].rstrip(" ").casefold() not in naming._RESERVED, part
    assert len(part.encode("utf-8")) <= 255, part


def assert_safe_tree(built: list[LibraryItem], settings: conf.Settings) -> None:
    seen: set[str] = set()
    for item in built:
        for group in item.folders:
            _check_group(group, settings)
            for f in group.files:
                folded = naming.fold(f.relpath)
                assert folded not in seen, f"collision on {f.relpath!r}"
                seen.add(folded)


def _check_group(group: FolderFiles, settings: conf.Settings) -> None:
    for f in group.files:
        parts = f.relpath.split("/")
        for part in parts:
            _assert_component(part)
        assert len(f.relpath.encode("utf-8")) <= settings.max_path_bytes, f.relpath
        resolved = os.path.normpath(os.path.join(ROOT, f.relpath))
        assert resolved.startswith(ROOT + os.sep)
        if f.kind.endswith("_nfo"):
            etree.fromstring(f.data)
        else:
            assert is_http_url(f.data.decode().rstrip("\n"))
        if f.kind.startswith("episode"):
            assert KODI_EPISODE.search(parts[-1])


@pytest.mark.parametrize("max_path", [1024, 120])
def test_hostile_titles(max_path: int) -> None:
    settings = make_settings(max_path_bytes=max_path)
    movies = [
        make_movie(i, title, 2001 if i % 2 else None, tmdb_id=str(i) if i % 3 else None)
        for i, title in enumerate(HOSTILE, start=1)
    ]
    series = [
        make_series(
            100 + i,
            title,
            None,
            tuple(make_episode(1000 * i + j, j, 100 * j, t) for j, t in enumerate(HOSTILE)),
        )
        for i, title in enumerate(HOSTILE, start=1)
    ]
    assert_safe_tree(build(movies, series, settings), settings)


@hsettings(max_examples=300, deadline=None)
@given(
    title=st.text(),
    episode_title=st.text(),
    year=st.one_of(st.none(), st.integers(min_value=1800, max_value=2200)),
    season=st.one_of(st.none(), st.integers(min_value=-5, max_value=10**6)),
    number=st.one_of(st.none(), st.integers(min_value=-5, max_value=10**6)),
    tmdb=st.one_of(st.none(), st.text(max_size=20), st.integers(min_value=0, max_value=10**12).map(str)),
    max_path=st.sampled_from([1024, 300, 120]),
)
def test_hostile_titles_hypothesis(
    title: str,
    episode_title: str,
    year: int | None,
    season: int | None,
    number: int | None,
    tmdb: str | None,
    max_path: int,
) -> None:
    settings = make_settings(max_path_bytes=max_path)
    movies = [make_movie(1, title, year, tmdb_id=tmdb), make_movie(2, title.upper(), year, tmdb_id=tmdb)]
    eps = (make_episode(1, season, number, episode_title), make_episode(2, season, number, episode_title))
    series = [make_series(1, title, year, eps, tmdb_id=tmdb), make_series(2, title.casefold(), year, eps)]
    assert_safe_tree(build(movies, series, settings), settings)


# ---------------------------------------------------------------------------------------------
# Values XML cannot carry: the file leaves them out, the item keeps all its files

STILL = "https://img.example/still.jpg"


def test_the_golden_catalog_notes_only_its_bell(caplog: pytest.LogCaptureFixture) -> None:
    """The golden bytes stay as they were (test_golden_tree); the one control character in the
    catalog, a bell in The Matrix's plot, is now named."""
    with caplog.at_level(logging.WARNING, logger="vod2strm.library.items"):
        built = build(*golden_catalog())
    assert [item.fields_dropped for item in built] == [1] + [0] * (len(built) - 1)
    nfo_path = "Movies/The Matrix (1999) [tmdbid-603]/The Matrix (1999) [tmdbid-603].nfo"
    assert [r.getMessage() for r in caplog.records] == [
        f"'The Matrix (1999)': {nfo_path}: cleaned plot (characters XML cannot carry)"
    ]


@pytest.mark.parametrize("bad", ["\ud800", "\ufffe", "\uffff", "\x00"])
def test_one_bad_still_costs_only_that_thumb(bad: str, caplog: pytest.LogCaptureFixture) -> None:
    """One episode's unusable still must not cost its series the other episodes (or itself)."""
    episodes = tuple(
        make_episode(n, 1, n, f"Chapter {n}", custom_properties={"movie_image": STILL + bad * (n == 3)})
        for n in range(1, 6)
    )
    row = make_series(1, "Show", 2010, episodes, tmdb_id="42")
    with caplog.at_level(logging.WARNING, logger="vod2strm.library.items"):
        item = items.series_item(row, SETTINGS, NameClaims())
    assert item is not None and item.fields_dropped == 1
    files = files_of([item])
    assert len(files) == 1 + 1 + 2 * 5  # tvshow.nfo, season.nfo, then .strm and .nfo per episode
    thumbs = {p: etree.fromstring(d).findtext("thumb") for p, d in files.items() if p.endswith(".nfo")}
    bad_nfo = "TV Shows/Show (2010) [tmdbid-42]/Season 01/Show S01E03 - Chapter 3.nfo"
    assert thumbs.pop(bad_nfo) is None
    assert sorted(thumbs.values(), key=str) == [None, None, *[STILL] * 4]  # tvshow.nfo, season.nfo
    assert [r.getMessage() for r in caplog.records] == [
        f"'Show (2010)': {bad_nfo}: left out thumb (characters XML cannot carry)"
    ]


def test_each_file_is_one_warning_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    row = make_movie(
        1,
        "Heat\x00",
        1995,
        logo_url="https://img.example/p\uffff.jpg",
        custom_properties={"backdrop_path": ["https://img.example/b\ud800.jpg"], "director": "M\x01ann"},
    )
    with caplog.at_level(logging.WARNING, logger="vod2strm.library.items"):
        item = items.movie_item(row, SETTINGS, NameClaims())
    assert [f.kind for f in item.folders[0].files] == ["movie_strm", "movie_nfo"]
    assert item.fields_dropped == 4
    assert [r.getMessage() for r in caplog.records] == [
        "'Heat\\x00 (1995)': Movies/Heat (1995)/Heat (1995).nfo: cleaned title, left out thumb, "
        "left out fanart, cleaned director (characters XML cannot carry)"  # repr shows what was wrong
    ]


@pytest.mark.parametrize("name", ["\uffff", "\ufffe\uffff", "\ud800\udfff", "\x00\x01", "\x0b\x1c\x85"])
def test_a_name_of_characters_xml_cannot_carry_still_writes(name: str, tmp_path: Path) -> None:
    """Naming keeps U+FFFE/U+FFFF (valid UTF-8, allowed in file names) and drops controls and
    surrogates ("_" when nothing is left); the NFOs say "Untitled" / "Episode 1"."""
    movie = make_movie(1, name, 2001)
    show = make_series(2, name, None, (make_episode(3, 1, 1, name),))
    built = build([movie], [show])
    assert_safe_tree(built, SETTINGS)
    files = files_of(built)
    assert len(files) == 2 + 4
    for path, data in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)  # the share takes the name as it is
        if path.endswith(".nfo") and not path.endswith("season.nfo"):
            title = etree.fromstring(data).findtext("title")
            assert title in ("Untitled", "Episode 1"), (path, title)


# ---------------------------------------------------------------------------------------------
# Kept names: a renamed item keeps its recorded folder and file names (jobs/test_renames.py has
# the runs)


def kept_of(item: LibraryItem) -> items.KeptNames:
    """What the manifest would give for ``item`` as its latest render."""
    files = [(f.relpath, f.kind) for group in item.folders for f in group.files]
    return items.kept_names(item.folders[0].folder, files)


def paths_of(item: LibraryItem) -> list[str]:
    return [f.relpath for group in item.folders for f in group.files]


def test_kept_names_give_back_the_same_item_for_the_golden_catalog() -> None:
    """Names kept from a render are that render's names: keeping changes nothing for an item the
    provider did not rename (golden tree included)."""
    movies, series = golden_catalog()
    built = build(movies, series)
    claims = NameClaims()
    again: list[LibraryItem] = [
        items.movie_item(row, SETTINGS, claims, kept=kept_of(item))
        for row, item in zip(movies, built[: len(movies)], strict=True)
    ]
    show = items.series_item(series[0], SETTINGS, claims, kept=kept_of(built[-1]))
    assert show is not None and all(not row.episodes for row in series[1:])  # no folder: no names
    assert files_of([*again, show]) == files_of(built) == read_golden()


def test_a_renamed_movie_keeps_its_folder_and_file_names_with_the_new_title_in_its_nfo() -> None:
    old = make_movie(1, "Film", 2000, tmdb_id="603")
    (first,) = build([old], [])
    renamed = dataclasses.replace(old, name="A New Title", year=2001)
    item = items.movie_item(renamed, SETTINGS, NameClaims(), kept=kept_of(first))
    assert (
        paths_of(item)
        == paths_of(first)
        == [
            "Movies/Film (2000) [tmdbid-603]/Film (2000) [tmdbid-603].strm",
            "Movies/Film (2000) [tmdbid-603]/Film (2000) [tmdbid-603].nfo",
        ]
    )
    nfo = etree.fromstring(item.folders[0].files[1].data)
    assert (nfo.findtext("title"), nfo.findtext("year")) == ("A New Title", "2001")
    assert item.title == "A New Title (2001)"


def test_a_kept_name_is_claimed_and_a_lower_key_that_claimed_it_first_keeps_it() -> None:
    kept = items.KeptNames("Movies/Heat (1995)", {})
    heat = make_movie(2, "Heat Renamed", 1995)
    newcomer = make_movie(3, "Heat", 1995)
    # The kept item claims its recorded name: a later item that wants it gets its fallback.
    claims = NameClaims()
    assert items.movie_head(heat, SETTINGS, claims, kept=kept).folder == "Movies/Heat (1995)"
    assert items.movie_head(newcomer, SETTINGS, claims).folder == "Movies/Heat (1995) (2)"
    # An item claimed the name earlier in the run (a lower primary key): it keeps it, and the
    # renamed item is named as usual, after its new title.
    claims = NameClaims()
    earlier = make_movie(1, "Heat", 1995)
    assert items.movie_head(earlier, SETTINGS, claims).folder == "Movies/Heat (1995)"
    assert items.movie_head(heat, SETTINGS, claims, kept=kept).folder == "Movies/Heat Renamed (1995)"


def test_a_kept_folder_under_another_section_folder_is_not_kept() -> None:
    kept = items.KeptNames("Films/Heat (1995)", {})
    head = items.movie_head(make_movie(1, "Heat Renamed", 1995), SETTINGS, NameClaims(), kept=kept)
    assert head.folder == "Movies/Heat Renamed (1995)"


def show_with(*episodes: EpisodeRow, name: str = "Show", year: int = 2010) -> SeriesRow:
    return make_series(50, name, year, tuple(episodes), tmdb_id="1396")


def test_a_renamed_show_keeps_its_folder_and_episode_names() -> None:
    eps = (make_episode(1, 1, 1, "Pilot"), make_episode(2, 1, 2, "Second"), make_episode(3, 2, 1, "Third"))
    first = items.series_item(show_with(*eps), SETTINGS, NameClaims())
    assert first is not None
    retitled = dataclasses.replace(eps[1], name="The Real Second")
    fourth = make_episode(4, 2, 2, "Fourth")
    renamed = show_with(eps[0], retitled, eps[2], fourth, name="Brand New Show")
    item = items.series_item(renamed, SETTINGS, NameClaims(), kept=kept_of(first))
    assert item is not None
    folder = "TV Shows/Show (2010) [tmdbid-1396]"
    assert paths_of(item) == [
        f"{folder}/tvshow.nfo",
        f"{folder}/Season 01/season.nfo",
        f"{folder}/Season 01/Show S01E01 - Pilot.strm",
        f"{folder}/Season 01/Show S01E01 - Pilot.nfo",
        f"{folder}/Season 01/Show S01E02 - Second.strm",  # retitled: its name is kept
        f"{folder}/Season 01/Show S01E02 - Second.nfo",
        f"{folder}/Season 02/season.nfo",
        f"{folder}/Season 02/Show S02E01 - Third.strm",
        f"{folder}/Season 02/Show S02E01 - Third.nfo",
        f"{folder}/Season 02/Show S02E02 - Fourth.strm",  # new: named with the kept show part
        f"{folder}/Season 02/Show S02E02 - Fourth.nfo",
    ]
    files = files_of([item])
    second = etree.fromstring(files[f"{folder}/Season 01/Show S01E02 - Second.nfo"])
    assert (second.findtext("title"), second.findtext("showtitle")) == ("The Real Second", "Brand New Show")
    assert etree.fromstring(files[f"{folder}/tvshow.nfo"]).findtext("title") == "Brand New Show"


def test_episodes_sharing_a_code_are_named_as_usual_beside_kept_names() -> None:
    """Two episodes without a number (S02E00) cannot be told apart by their recorded names: they
    are named as usual (with the kept show part), and never take another's kept name."""
    eps = (make_episode(1, 2, None, "Bonus"), make_episode(2, 2, None, "Bonus"), make_episode(3, 2, 1, "One"))
    first = items.series_item(show_with(*eps), SETTINGS, NameClaims())
    assert first is not None
    kept = kept_of(first)
    assert kept.episodes == {"S02E01": "Show S02E01 - One"} and kept.show == "Show"
    again = items.series_item(show_with(*eps, name="New"), SETTINGS, NameClaims(), kept=kept)
    assert again is not None and paths_of(again) == paths_of(first)


def test_kept_names_read_only_the_item_s_own_episode_files() -> None:
    kept = items.kept_names(
        "TV Shows/S (2010)",
        [
            ("TV Shows/S (2010)/tvshow.nfo", "tvshow_nfo"),
            ("TV Shows/S (2010)/Season 01/S S01E01 - A.strm", "episode_strm"),
            ("TV Shows/S (2010)/Season 01/S S01E01 - A.nfo", "episode_nfo"),
            ("TV Shows/S (2010)/Season 01/S S01E02.strm", "episode_strm"),
            ("TV Shows/S (2010)/Season 01/S Shortened S01E03 - B.strm", "episode_strm"),
            ("TV Shows/Elsewhere (2009)/Season 01/S S01E04 - C.strm", "episode_strm"),  # not under it
            ("TV Shows/S (2010)/Season 01/no code here.strm", "episode_strm"),
        ],
    )
    assert kept.episodes == {
        "S01E01": "S S01E01 - A",
        "S01E02": "S S01E02",
        "S01E03": "S Shortened S01E03 - B",
    }
    assert kept.show == "S"  # the most common show part


@pytest.mark.parametrize(
    ("kind", "relpath", "identity"),
    [
        ("movie_strm", "Movies/A (2000)/A (2000).strm", ("movie_strm", "")),
        ("tvshow_nfo", "TV Shows/S/tvshow.nfo", ("tvshow_nfo", "")),
        ("season_nfo", "TV Shows/S/Season 02/season.nfo", ("season_nfo", "Season 02")),
        ("episode_strm", "TV Shows/S/Season 02/S S02E10 - T (2).strm", ("episode_strm", "S02E10")),
        ("episode_nfo", "TV Shows/S/Season 02/S02E10.nfo", ("episode_nfo", "S02E10")),
        ("episode_nfo", "TV Shows/S/Season 02/odd.nfo", ("episode_nfo", "TV Shows/S/Season 02/odd.nfo")),
    ],
)
def test_file_identity(kind: str, relpath: str, identity: tuple[str, str]) -> None:
    assert items.file_identity(kind, relpath) == identity


def test_naming_fingerprint_covers_the_naming_settings_only() -> None:
    base = items.naming_fingerprint(SETTINGS)
    for change in (
        {"id_tag_style": "emby"},
        {"name_clean_regex": "(?!)"},
        {"movies_folder": "Films"},
        {"series_folder": "Series"},
        {"max_path_bytes": 512},
    ):
        assert items.naming_fingerprint(make_settings(**change)) != base, change
    for change in ({"base_url": "http://other:9191"}, {"write_nfo": False}, {"follow_renames": True}):
        assert items.naming_fingerprint(make_settings(**change)) == base, change
