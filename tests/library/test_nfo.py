"""NFO documents: structure, determinism, forgiving custom_properties, XML-safe text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree

from vod2strm import conf
from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow, Source
from vod2strm.library import nfo

DECLARATION = b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
SETTINGS = conf.build({"output_root": "/tmp/x", "state_dir": "/tmp/x-state"})
SOURCE = Source(1, 1, "acc", "1", "mkv", None, None)


def make_movie(**kw: Any) -> MovieRow:
    values: dict[str, Any] = dict(
        id=1,
        uuid="u",
        name="The Matrix",
        description=None,
        year=None,
        rating=None,
        genre=None,
        duration_secs=None,
        is_adult=False,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        logo_url=None,
        source=SOURCE,
    )
    values.update(kw)
    return MovieRow(**values)


def make_series(**kw: Any) -> SeriesRow:
    values: dict[str, Any] = dict(
        id=1,
        uuid="s",
        name="Show",
        description=None,
        year=None,
        rating=None,
        genre=None,
        is_adult=False,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        logo_url=None,
        source=SOURCE,
    )
    values.update(kw)
    return SeriesRow(**values)


def make_episode(**kw: Any) -> EpisodeRow:
    values: dict[str, Any] = dict(
        id=1,
        uuid="e",
        name="Pilot",
        description=None,
        air_date=None,
        rating=None,
        duration_secs=None,
        season_number=1,
        episode_number=1,
        tmdb_id=None,
        imdb_id=None,
        custom_properties=None,
        created_at=None,
        source=SOURCE,
    )
    values.update(kw)
    return EpisodeRow(**values)


def parse(data: bytes, root: str) -> etree._Element:
    assert data.startswith(DECLARATION)
    assert data.endswith(b"\n")
    element = etree.fromstring(data)
    assert element.tag == root
    return element


def texts(element: etree._Element, path: str) -> list[str]:
    return [e.text for e in element.findall(path)]


# ---------------------------------------------------------------------------------------------
# Structure


def test_movie_nfo_elements() -> None:
    row = make_movie(
        name="EN - The Matrix (1999)",
        description="Plot & more",
        year=1999,
        rating="8.70",
        genre="Action, Sci-Fi / Thriller|action",
        duration_secs=8160,
        tmdb_id="603",
        imdb_id="tt0133093",
        logo_url="https://img/p.jpg",
        created_at=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        custom_properties={
            "backdrop_path": ["https://img/b1.jpg", "/relative.jpg", "https://img/b1.jpg", 5, None],
            "director": ["Lana Wachowski", {"name": "Lilly Wachowski"}],
            "cast": [{"name": "Keanu Reeves", "character": "Neo"}, {"name": "Hugo Weaving", "role": "Smith"}],
            "youtube_trailer": "https://youtu.be/abc",
            "releasedate": "1999-03-31 00:00:00",
        },
    )
    root = parse(nfo.movie_nfo(row, SETTINGS), "movie")
    assert texts(root, "title") == ["The Matrix"]
    assert texts(root, "originaltitle") == ["EN - The Matrix (1999)"]
    assert texts(root, "year") == ["1999"]
    assert texts(root, "premiered") == ["1999-03-31"]
    assert texts(root, "plot") == ["Plot & more"]
    assert texts(root, "runtime") == ["136"]
    assert texts(root, "genre") == ["Action", "Sci-Fi", "Thriller"]
    assert texts(root, "rating") == ["8.7"]
    ids = root.findall("uniqueid")
    assert [(e.get("type"), e.get("default"), e.text) for e in ids] == [
        ("tmdb", "true", "603"),
        ("imdb", None, "tt0133093"),
    ]
    assert [(e.get("aspect"), e.text) for e in root.findall("thumb")] == [("poster", "https://img/p.jpg")]
    assert texts(root, "fanart/thumb") == ["https://img/b1.jpg"]
    assert root.find("fanart").text is None or not root.find("fanart").text.strip()  # type: ignore[union-attr]
    assert texts(root, "director") == ["Lana Wachowski", "Lilly Wachowski"]
    assert texts(root, "actor/name") == ["Keanu Reeves", "Hugo Weaving"]
    assert texts(root, "actor/role") == ["Neo", "Smith"]
    assert texts(root, "trailer") == ["https://youtu.be/abc"]
    assert texts(root, "dateadded") == ["2024-01-02 03:04:05"]


def test_minimal_movie_nfo_has_only_a_title() -> None:
    data = nfo.movie_nfo(make_movie(name="Plain"), SETTINGS)
    assert data == DECLARATION + b"<movie>\n  <title>Plain</title>\n</movie>\n"


def test_imdb_only_is_default() -> None:
    root = parse(nfo.movie_nfo(make_movie(tmdb_id="0", imdb_id="tt1"), SETTINGS), "movie")
    assert root.findall("uniqueid") == []  # "tt1" is not an IMDb id
    root = parse(nfo.movie_nfo(make_movie(tmdb_id="0", imdb_id="tt0133093"), SETTINGS), "movie")
    assert [(e.get("type"), e.get("default")) for e in root.findall("uniqueid")] == [("imdb", "true")]


def test_tvshow_nfo_named_seasons() -> None:
    row = make_series(
        name="Show (2010)", year=2010, custom_properties={"backdrop_path": "https://img/bg.jpg"}
    )
    root = parse(nfo.tvshow_nfo(row, [2, 0, 1, 1, None], SETTINGS), "tvshow")  # type: ignore[list-item]
    assert texts(root, "title") == ["Show"]
    assert texts(root, "year") == ["2010"]
    assert [(e.get("number"), e.text) for e in root.findall("namedseason")] == [
        ("0", "Specials"),
        ("1", "Season 1"),
        ("2", "Season 2"),
    ]
    assert texts(root, "fanart/thumb") == ["https://img/bg.jpg"]


@pytest.mark.parametrize(
    ("name", "year", "props", "expected_year", "expected_premiered"),
    [
        ("Doctor Who", 2005, None, ["2005"], ["2005-01-01"]),  # Kodi keeps a show's year only so
        ("Doctor Who (2005)", None, None, ["2005"], ["2005-01-01"]),  # a year from the title
        ("Doctor Who", 1963, {"release_date": "1963-11-23"}, ["1963"], ["1963-11-23"]),
        ("Doctor Who", None, {"releaseDate": "1963-11-23"}, ["1963"], ["1963-11-23"]),
        ("Doctor Who", 2005, {"release_date": "not a date"}, ["2005"], ["2005-01-01"]),
        ("Doctor Who", None, None, [], []),  # nothing known: nothing made up
        ("Doctor Who", 0, {"release_date": "0000-00-00"}, [], []),
    ],
)
def test_tvshow_nfo_always_dates_a_known_year(
    name: str, year: int | None, props: Any, expected_year: list[str], expected_premiered: list[str]
) -> None:
    root = parse(
        nfo.tvshow_nfo(make_series(name=name, year=year, custom_properties=props), [1], SETTINGS), "tvshow"
    )
    assert texts(root, "year") == expected_year
    assert texts(root, "premiered") == expected_premiered
    tags = [e.tag for e in root]
    if expected_premiered:
        assert tags.index("premiered") == tags.index("year") + 1  # the documented order


def test_movie_nfo_does_not_date_a_bare_year() -> None:
    """Kodi keeps a movie's year from ``<year>``; a made-up date would show in Jellyfin."""
    root = parse(nfo.movie_nfo(make_movie(year=1999), SETTINGS), "movie")
    assert texts(root, "year") == ["1999"]
    assert texts(root, "premiered") == []


def test_season_nfo() -> None:
    assert nfo.season_nfo(make_series(), 3, SETTINGS) == (
        DECLARATION + b"<season>\n  <title>Season 3</title>\n  <seasonnumber>3</seasonnumber>\n</season>\n"
    )
    root = parse(nfo.season_nfo(make_series(), None, SETTINGS), "season")
    assert texts(root, "title") == ["Specials"] and texts(root, "seasonnumber") == ["0"]


def test_episode_nfo() -> None:
    ep = make_episode(
        name="Show - S02E05 - The Title",
        season_number=2,
        episode_number=5,
        air_date=dt.date(2011, 5, 6),
        duration_secs=2700,
        rating="7.9",
        tmdb_id="999",
        custom_properties={"movie_image": "https://img/still.jpg", "release_date": "2000-01-01"},
    )
    root = parse(nfo.episode_nfo(make_series(name="EN - Show"), ep, SETTINGS), "episodedetails")
    assert texts(root, "title") == ["The Title"]
    assert texts(root, "showtitle") == ["Show"]
    assert texts(root, "season") == ["2"] and texts(root, "episode") == ["5"]
    assert texts(root, "aired") == ["2011-05-06"]
    assert texts(root, "runtime") == ["45"]
    assert texts(root, "rating") == ["7.9"]
    assert [(e.get("type"), e.get("default"), e.text) for e in root.findall("uniqueid")] == [
        ("tmdb", "true", "999")
    ]
    assert [(e.get("aspect"), e.text) for e in root.findall("thumb")] == [(None, "https://img/still.jpg")]


def test_episode_nfo_fallbacks() -> None:
    ep = make_episode(
        name="", season_number=None, episode_number=None, custom_properties={"air_date": "2012-02-29"}
    )
    root = parse(nfo.episode_nfo(make_series(), ep, SETTINGS), "episodedetails")
    assert texts(root, "title") == ["Episode 0"]
    assert texts(root, "season") == ["0"] and texts(root, "episode") == ["0"]
    assert texts(root, "aired") == ["2012-02-29"]


def test_nfo_bytes_are_deterministic() -> None:
    props = {"b": 1, "actors": ["A", "B"], "backdrop_path": ["https://x/1", "https://x/2"]}
    row1 = make_movie(custom_properties=props)
    row2 = make_movie(custom_properties=dict(reversed(list(props.items()))))
    assert nfo.movie_nfo(row1, SETTINGS) == nfo.movie_nfo(row2, SETTINGS) == nfo.movie_nfo(row1, SETTINGS)


# ---------------------------------------------------------------------------------------------
# Value readers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1999-03-31", "1999-03-31"),
        ("1999-3-1", "1999-03-01"),
        ("1999-03-31T10:00:00Z", "1999-03-31"),
        (dt.date(2001, 2, 3), "2001-02-03"),
        (dt.datetime(2001, 2, 3, 4, 5), "2001-02-03"),
        ("1999-02-30", None),
        ("31/03/1999", None),
        ("1999", None),
        ("1800-01-01", None),
        ("0000-00-00", None),
        ("1999-03-3100", None),
        (19990331, None),
        (None, None),
        (["1999-03-31"], None),
    ],
)
def test_iso_date(value: Any, expected: str | None) -> None:
    assert nfo.iso_date(value) == expected


@pytest.mark.parametrize(
    ("secs", "props", "expected"),
    [
        (8160, {}, 136),
        (29, {}, 1),
        (0, {"duration": "01:45:00"}, 105),
        (None, {"duration": "45:30"}, 46),
        (None, {"duration_secs": "3600"}, 60),
        (None, {"episode_run_time": "47"}, 47),
        (None, {"episode_run_time": [47]}, None),
        (None, {"duration": "soon"}, None),
        (None, {"duration": 12}, None),
        (-5, {}, None),
        (10**9, {}, None),
        ("x", {}, None),
        (None, {"duration_secs": 10**400, "episode_run_time": 10**400}, None),  # past float's range
    ],
)
def test_runtime_minutes(secs: Any, props: dict[str, Any], expected: int | None) -> None:
    assert nfo.runtime_minutes(secs, props) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.7", "8.7"),
        ("7,25", "7.25"),
        (7, "7"),
        ("10", "10"),
        ("0", None),
        ("N/A", None),
        ("11", None),
        ("nan", None),
        ("inf", None),
        (None, None),
        (True, None),
        ("PG-13", None),
    ],
)
def test_rating(value: Any, expected: str | None) -> None:
    assert nfo.rating(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vKQi3bBA1y8", "plugin://plugin.video.youtube/?action=play_video&videoid=vKQi3bBA1y8"),
        ("https://www.youtube.com/watch?v=x", "https://www.youtube.com/watch?v=x"),
        ("", None),
        ("not an id!", None),
        ("javascript:alert(1)", None),
        (12345678901, None),
        (["vKQi3bBA1y8"], None),
    ],
)
def test_trailer(value: Any, expected: str | None) -> None:
    assert nfo.trailer(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A, B ,, a", [("A", ""), ("B", "")]),
        (["A", "B, C"], [("A", ""), ("B", ""), ("C", "")]),
        (
            [{"name": "A", "character": "X"}, {"name": "B", "role": "Y"}, {"role": "Z"}],
            [("A", "X"), ("B", "Y")],
        ),
        ('["A", "B"]', [("A", ""), ("B", "")]),
        ([[["A"]]], [("A", "")]),
        ({"name": "A"}, [("A", "")]),  # one person without the list
        (42, []),
        (None, []),
        ([{"name": {"first": "A"}}, {"name": "B", "character": 3}], [("B", "")]),
    ],
)
def test_people(value: Any, expected: list[tuple[str, str]]) -> None:
    assert nfo.people(value, 50) == expected


def test_people_and_fanart_are_capped() -> None:
    assert len(nfo.people(", ".join(f"Actor {i}" for i in range(500)), nfo.MAX_ACTORS)) == nfo.MAX_ACTORS
    assert len(nfo.urls([f"https://x/{i}" for i in range(100)], nfo.MAX_FANART)) == nfo.MAX_FANART


@pytest.mark.parametrize(
    "props",
    [
        None,
        "",
        "not json",
        '{"director": "A"}',
        "[1, 2]",
        42,
        3.5,
        True,
        [1, "a", None],
        {"backdrop_path": {"a": "https://x"}},
        {"backdrop_path": "[broken"},
        {"director": {"name": "A"}, "actors": 7, "cast": [None, 1, 2.5]},
        {"youtube_trailer": ["x"], "release_date": 1999, "movie_image": 3, "duration": None},
        {"actors": [[[[[[["deep"]]]]]]]},
        {1: "int key", None: "none key"},
        {"plot": ["list plot"], "description": {"a": 1}},
    ],
)
def test_odd_custom_properties_never_fail(props: Any) -> None:
    parse(nfo.movie_nfo(make_movie(custom_properties=props), SETTINGS), "movie")
    parse(nfo.tvshow_nfo(make_series(custom_properties=props), [1], SETTINGS), "tvshow")
    parse(nfo.episode_nfo(make_series(), make_episode(custom_properties=props), SETTINGS), "episodedetails")


def test_json_string_properties_are_decoded() -> None:
    root = parse(nfo.movie_nfo(make_movie(custom_properties='{"director": "Jane Doe"}'), SETTINGS), "movie")
    assert texts(root, "director") == ["Jane Doe"]


def test_xml_forbidden_characters_are_removed() -> None:
    bad = "A\x00B\x01C\x08D\ud800E\ufffeF\uffffG\x07"
    row = make_movie(name=bad, description=bad + "\r\nnext", genre=bad, custom_properties={"actors": [bad]})
    root = parse(nfo.movie_nfo(row, SETTINGS), "movie")
    assert texts(root, "title") == ["ABCDEFG"]
    assert texts(root, "plot") == ["ABCDEFG\nnext"]
    assert texts(root, "genre") == ["ABCDEFG"]
    assert texts(root, "actor/name") == ["ABCDEFG"]
    # whitespace-like controls separate words in single-line fields and vanish everywhere
    root = parse(nfo.movie_nfo(make_movie(name="A\x0bB\x1fC", description="x\x0cy"), SETTINGS), "movie")
    assert texts(root, "title") == ["A B C"] and texts(root, "plot") == ["xy"]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
KEYED = st.dictionaries(st.sampled_from([*nfo.CUSTOM_KEYS, "other"]), JSONISH, max_size=8)


@hsettings(max_examples=300, deadline=None)
@given(
    props=st.one_of(JSONISH, KEYED),
    name=st.text(),
    text=st.text(),
    year=st.one_of(st.none(), st.integers()),
    number=st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40)),
)
def test_any_input_renders_valid_xml(
    props: Any, name: str, text: str, year: int | None, number: int | None
) -> None:
    movie = make_movie(
        name=name,
        description=text,
        year=year,
        rating=text,
        genre=text,
        duration_secs=number,
        tmdb_id=text,
        imdb_id=text,
        custom_properties=props,
        logo_url=text,
    )
    parse(nfo.movie_nfo(movie, SETTINGS), "movie")
    series = make_series(name=name, description=text, year=year, custom_properties=props, logo_url=text)
    parse(nfo.tvshow_nfo(series, [1, 0], SETTINGS), "tvshow")
    parse(nfo.season_nfo(series, number, SETTINGS), "season")
    ep = make_episode(
        name=text,
        description=text,
        season_number=number,
        episode_number=number,
        duration_secs=number,
        rating=text,
        custom_properties=props,
    )
    parse(nfo.episode_nfo(series, ep, SETTINGS), "episodedetails")


def test_nfo_reads_only_declared_custom_keys() -> None:
    """items.py fingerprints exactly CUSTOM_KEYS: a key outside it must not change the bytes."""
    full = {key: "https://x/1" for key in nfo.CUSTOM_KEYS}
    base = make_movie(custom_properties=full)
    other = dataclasses.replace(
        base, custom_properties={**full, "last_modified": "1", "cover_big": "https://x"}
    )
    assert nfo.movie_nfo(base, SETTINGS) == nfo.movie_nfo(other, SETTINGS)


# The serialiser writes the bytes lxml would (nfo._serialize vs nfo._serialize_lxml, the same tree).
XML_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([*"&<>\"'\r\n\t ]", "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\ufffe", "\ud800"]),
        st.characters(),
    ),
    max_size=12,
)


TAGS = st.sampled_from(["movie", "title", "thumb", "actor", "uniqueid"])
ATTRIBUTES = st.lists(st.sampled_from(["type", "default", "aspect", "number"]), unique=True, max_size=2)


@st.composite
def leaves(draw: Any) -> nfo._Leaf:
    """A leaf as ``_sub`` adds it: a tag, text, and attributes or None."""
    names = draw(ATTRIBUTES)
    attrib = {name: draw(XML_TEXT) for name in names} if names else draw(st.sampled_from([None, {}]))
    return (draw(TAGS), draw(XML_TEXT), attrib)


@st.composite
def element_trees(draw: Any, depth: int = 0) -> nfo._Element:
    element = nfo._Element(draw(TAGS), {name: draw(XML_TEXT) for name in draw(ATTRIBUTES)})
    if depth < 3 and draw(st.booleans()):
        element.children = draw(st.lists(st.one_of(element_trees(depth + 1), leaves()), max_size=3))
    if not element.children or draw(st.integers(0, 19)) == 0:  # mixed content, rarely
        element.text = draw(st.one_of(st.none(), XML_TEXT))
    return element


@hsettings(max_examples=500, deadline=None)
@given(tree=element_trees())
def test_serializer_writes_the_bytes_lxml_writes(tree: nfo._Element) -> None:
    assert outcome(nfo._serialize, tree) == outcome(nfo._serialize_lxml, tree)


def outcome(render: Callable[..., bytes], *args: Any) -> bytes | type[Exception]:
    """The bytes, or the kind of error: lxml refuses control characters and lone surrogates."""
    try:
        return render(*args)
    except (ValueError, UnicodeError) as exc:
        return type(exc)


def test_serializer_matches_lxml_on_every_document_kind() -> None:
    movie = make_movie(
        name='EN - Tom & Jerry <3> "Quotes"',
        description="Line one\r\nline & two",
        year=1999,
        rating="8.5",
        genre="Action, Drama",
        tmdb_id="603",
        imdb_id="tt0133093",
        logo_url="https://img.example/p?a=1&b=2",
        custom_properties={
            "backdrop_path": ["https://img.example/f1.jpg", "https://img.example/f2.jpg"],
            "director": "Lana, Lilly",
            "actors": [{"name": "Keanu", "character": "Neo"}, {"name": "Carrie-Anne"}],
            "youtube_trailer": "dQw4w9WgXcQ",
        },
        created_at=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    series = make_series(name="Show & Co", year=2010, custom_properties=movie.custom_properties)
    episode = make_episode(name="Pilot <1>", description="x\ry", air_date=dt.date(2010, 1, 1))
    docs = [
        nfo.movie_nfo(movie, SETTINGS),
        nfo.tvshow_nfo(series, [0, 1, 2], SETTINGS),
        nfo.season_nfo(series, 1, SETTINGS),
        nfo.episode_nfo(series, episode, SETTINGS),
    ]
    for data in docs:
        assert data == etree.tostring(
            etree.fromstring(data), encoding="UTF-8", xml_declaration=True, standalone=True, pretty_print=True
        )


EPISODE_TEXT = st.one_of(st.none(), st.sampled_from(["", "Plain text", "https://img/e.jpg"]), XML_TEXT)


@hsettings(max_examples=400, deadline=None)
@given(
    name=EPISODE_TEXT,
    description=EPISODE_TEXT,
    show=EPISODE_TEXT,
    rating=st.one_of(st.none(), st.sampled_from(["7.9", "0", "N/A"])),
    tmdb_id=st.one_of(st.none(), st.sampled_from(["999", "0"])),
    imdb_id=st.one_of(st.none(), st.sampled_from(["tt0133093", "x"])),
    duration=st.one_of(st.none(), st.integers(-1, 10**6)),
    air_date=st.one_of(st.none(), st.dates()),
    created_at=st.one_of(st.none(), st.datetimes()),
    still=EPISODE_TEXT,
)
def test_episode_nfo_written_directly_matches_its_tree(
    name: Any,
    description: Any,
    show: Any,
    rating: Any,
    tmdb_id: Any,
    imdb_id: Any,
    duration: Any,
    air_date: Any,
    created_at: Any,
    still: Any,
) -> None:
    """Plain episodes skip the tree (``_episode_text``): the bytes are the tree's, and lxml's."""
    series = make_series(name=show)
    episode = make_episode(
        name=name,
        description=description,
        rating=rating,
        tmdb_id=tmdb_id,
        imdb_id=imdb_id,
        duration_secs=duration,
        air_date=air_date,
        created_at=created_at,
        custom_properties={"movie_image": still} if still is not None else None,
    )
    fields = nfo._episode_fields(series, episode, SETTINGS, None, None)
    got = outcome(nfo.episode_nfo, series, episode, SETTINGS)
    assert got == outcome(nfo._serialize, nfo._episode_tree(fields))
    if nfo._episode_text(fields) is not None:
        assert got == nfo._serialize_lxml(nfo._episode_tree(fields))


def test_plain_episodes_take_the_direct_path() -> None:
    """The direct path is the common one (else the test above proves little about speed)."""
    episode = make_episode(
        description="A plot.", tmdb_id="1", imdb_id="tt0133093", rating="7", duration_secs=60
    )
    fields = nfo._episode_fields(make_series(), episode, SETTINGS, None, None)
    assert nfo._episode_text(fields) is not None
    assert nfo._episode_text(fields._replace(plot="Tom & Jerry")) is None


# ---------------------------------------------------------------------------------------------
# Values XML cannot carry: text is cleaned, a URL is left out, each is noted, nothing raises

#: Every kind of character outside XML 1.0's Char production.
UNWRITABLE = ["\x00", "\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]


@pytest.mark.parametrize("bad", UNWRITABLE)
def test_a_url_xml_cannot_carry_is_left_out_and_noted(bad: str) -> None:
    good, broken = "https://img.example/ok.jpg", f"https://img.example/a{bad}b.jpg"
    props = {"backdrop_path": [broken, good], "youtube_trailer": broken, "director": "Jane Doe"}
    movie = make_movie(logo_url=broken, custom_properties=props)
    series = make_series(logo_url=broken, custom_properties=props)
    for render, root_tag in (
        (functools.partial(nfo.movie_nfo, movie, SETTINGS), "movie"),
        (functools.partial(nfo.tvshow_nfo, series, [1], SETTINGS), "tvshow"),
    ):
        notes: list[str] = []
        data = render(notes=notes)
        root = parse(data, root_tag)
        assert root.findall("thumb") == [] and root.findall("trailer") == []
        assert texts(root, "fanart/thumb") == [good]  # the rest of the value, and of the file, stays
        assert texts(root, "title") == ["The Matrix" if root_tag == "movie" else "Show"]
        assert texts(root, "director") == ["Jane Doe"]
        assert notes == ["left out thumb", "left out fanart", "left out trailer"]
        assert render() == data  # notes never change the bytes
    notes = []
    episode = make_episode(description="A plot.", custom_properties={"movie_image": broken})
    data = nfo.episode_nfo(make_series(), episode, SETTINGS, notes=notes)
    root = parse(data, "episodedetails")
    assert root.findall("thumb") == [] and texts(root, "plot") == ["A plot."]
    assert notes == ["left out thumb"]
    assert data == nfo.episode_nfo(
        make_series(), dataclasses.replace(episode, custom_properties=None), SETTINGS
    )


def test_text_xml_cannot_carry_is_cleaned_and_noted() -> None:
    bad = "A\x00B\ud800C\uffffD"
    row = make_movie(
        name=bad,
        description=bad,
        genre=bad,
        custom_properties={"director": bad, "actors": [{"name": "Keanu", "character": bad}]},
    )
    notes: list[str] = []
    root = parse(nfo.movie_nfo(row, SETTINGS, notes=notes), "movie")
    assert texts(root, "title") == texts(root, "plot") == texts(root, "genre") == ["ABCD"]
    assert texts(root, "director") == texts(root, "actor/role") == ["ABCD"]
    assert notes == ["cleaned title", "cleaned plot", "cleaned genre", "cleaned director", "cleaned actor"]
    notes = []
    episode = make_episode(name=bad, description=bad)
    root = parse(
        nfo.episode_nfo(make_series(name="Sh\x01ow"), episode, SETTINGS, notes=notes), "episodedetails"
    )
    assert texts(root, "title") == ["ABCD"] and texts(root, "showtitle") == ["Show"]
    assert notes == ["cleaned showtitle", "cleaned title", "cleaned plot"]
    # A cached show title is noted for each of its episodes, not only the first.
    notes = []
    nfo.episode_nfo(make_series(name="Sh\x01ow"), make_episode(name="Two"), SETTINGS, notes=notes)
    assert notes == ["cleaned showtitle"]


def test_people_and_fanart_past_the_limit_are_not_noted() -> None:
    """Only what the file holds is named: a bad 51st actor or 11th backdrop is not in it."""
    notes: list[str] = []
    actors = [f"Actor {i}" for i in range(nfo.MAX_ACTORS)] + ["Bad\x00"]
    assert len(nfo.people(actors, nfo.MAX_ACTORS, notes)) == nfo.MAX_ACTORS
    backdrops = [f"https://x/{i}" for i in range(nfo.MAX_FANART)] + ["https://x/\uffff"]
    assert len(nfo.urls(backdrops, nfo.MAX_FANART, notes)) == nfo.MAX_FANART
    assert notes == []


#: Any text, drawing characters XML cannot carry (lone surrogates included) and markup often.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([*UNWRITABLE, "\t", "\n", "\r", "&", "<", ",", " ", "\x7f", "\x85"]),
        st.integers(0xD800, 0xDFFF).map(chr),
        st.characters(),
    ),
    max_size=16,
)
URLISH = st.one_of(
    ANY_TEXT, ANY_TEXT.map(lambda t: "https://img.example/" + t), ANY_TEXT.map("http://".__add__)
)
PERSON = st.one_of(ANY_TEXT, st.fixed_dictionaries({"name": ANY_TEXT}, optional={"character": ANY_TEXT}))
PROPS = st.fixed_dictionaries(
    {},
    optional={
        "backdrop_path": st.one_of(URLISH, st.lists(URLISH, max_size=3)),
        "director": st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=3)),
        "actors": st.lists(PERSON, max_size=3),
        "cast": st.lists(PERSON, max_size=3),
        "youtube_trailer": URLISH,
        "release_date": ANY_TEXT,
        "air_date": ANY_TEXT,
        "movie_image": URLISH,
        "duration": ANY_TEXT,
        "plot": ANY_TEXT,
        "description": ANY_TEXT,
    },
)
NOTE = re.compile(r"(cleaned|left out) [a-z]+")


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def rendered(render: Callable[..., bytes], root: str, *args: Any, **kw: Any) -> list[str]:
    """Render with and without notes: the same bytes, which parse, and well-formed notes."""
    notes: list[str] = []
    data = render(*args, **kw, notes=notes)
    assert render(*args, **kw) == data
    parse(data, root)
    assert all(NOTE.fullmatch(note) for note in notes), notes
    return notes


@hsettings(max_examples=400, deadline=None)
@given(
    name=ANY_TEXT,
    text=ANY_TEXT,
    url=URLISH,
    props=PROPS,
    as_json=st.booleans(),
    show=ANY_TEXT,
    episode_name=ANY_TEXT,
    number=st.one_of(st.none(), st.integers(-5, 10**6)),
)
def test_every_nfo_renders_any_text_in_every_field(
    name: str,
    text: str,
    url: str,
    props: dict[str, Any],
    as_json: bool,
    show: str,
    episode_name: str,
    number: int | None,
) -> None:
    """No value fails a document; a note only when some value held a character XML cannot carry."""
    # JSON text, as a database's JSON column hands it back: "\\ud800" decodes to a lone surrogate.
    custom = json.dumps(props) if as_json else props
    movie = make_movie(
        name=name, description=text, rating=text, genre=text, tmdb_id=text, imdb_id=text,
        logo_url=url, custom_properties=custom,
    )  # fmt: skip
    series = make_series(
        name=show, description=text, rating=text, genre=text, tmdb_id=text, imdb_id=text,
        logo_url=url, custom_properties=custom,
    )  # fmt: skip
    episode = make_episode(
        name=episode_name, description=text, rating=text, tmdb_id=text, imdb_id=text,
        season_number=number, episode_number=number, custom_properties=custom,
    )  # fmt: skip
    notes = rendered(nfo.movie_nfo, "movie", movie, SETTINGS)
    notes += rendered(nfo.tvshow_nfo, "tvshow", series, [number or 0, 1], SETTINGS)
    notes += rendered(nfo.episode_nfo, "episodedetails", series, episode, SETTINGS)
    parse(nfo.season_nfo(series, number, SETTINGS), "season")
    drawn = [name, text, url, show, episode_name, *strings_in(props)]
    if not any(nfo._XML_ILLEGAL.search(value) for value in drawn):
        assert notes == []
