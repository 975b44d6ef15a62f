"""Titles, safe components, years, id tags, episode names and collision claims (no database)."""

from __future__ import annotations

import re
import tracemalloc
import unicodedata

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from vod2strm import conf
from vod2strm.catalog.rows import EpisodeRow, Source
from vod2strm.library import naming
from vod2strm.library.naming import NameClaims, _DigestTable

KODI_EPISODE = re.compile(r"[Ss]([0-9]+)[][ ._-]*[Ee]([0-9]+)")
#: Kodi 20's first <tvshowmatching> rule and its multi-episode rule (advancedsettings defaults),
#: both applied without case: see :func:`kodi_reads`.
KODI_SXXEYY = re.compile(r"s([0-9]+)[ ._x-]*e([0-9]+(?:(?:[a-i]|\.[1-9])(?![0-9]))?)([^\\/]*)$", re.I)
KODI_MULTI = re.compile(r"^([-_ex]+)([0-9]+)(.*)", re.I)
#: Kodi 20's default movie exclude rule that a title can trip (the other is "sample").
KODI_TRAILER_RULE = re.compile(r"-trailer", re.I)
FORBIDDEN = set('/\\<>:"|?*')

#: The default regex proposed to the lead: as conf's, but a bare 3-letter code before ":" is a
#: title acronym ("CSI: Miami", "FBI: Most Wanted"), not a language prefix, unless it is one of a
#: few language codes; and a [bracket] tag must be followed by a space, another tag or the end
#: ("[REC]²" is a title).
PROPOSED_NAME_CLEAN_REGEX = (
    r"^(?:\s*(?:\|[^|]{1,16}\||\[[^\]]{1,16}\](?=[\s\[|]|$)"
    r"|(?:[A-Z]{2}|ENG|FRA|FRE|GER|DEU|SPA|ESP|ITA|POR|TUR|ARA|RUS|POL|NLD|HIN|4K|8K|UHD|FHD|HD|SD)"
    r"\s*[-:|]\s+"
    r"|[A-Z]{3}\s*[-|]\s+"
    r"|(?:4K|8K|UHD|FHD)\s*-))+\s*"
)


def make_settings(**overrides: object) -> conf.Settings:
    return conf.build({"output_root": "/tmp/x", "state_dir": "/tmp/x-state", **overrides})


SETTINGS = make_settings()


def make_episode(name: str, season: int | None = 1, episode: int | None = 2, id: int = 1) -> EpisodeRow:
    source = Source(1, 1, "acc", "1", "mkv", None, None)
    return EpisodeRow(
        id=id,
        uuid=f"e-{id}",
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
        source=source,
    )


def assert_safe(component: str, max_bytes: int = 255) -> None:
    assert component not in ("", ".", "..")
    assert not FORBIDDEN & set(component), component
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in component), component
    assert not component.endswith((".", " ")), component
    assert not component.startswith(" "), component
    assert component.split(".", 1)[0].rstrip(" ").casefold() not in naming._RESERVED, component
    assert len(component.encode("utf-8")) <= max_bytes
    assert unicodedata.is_normalized("NFC", component)


# ---------------------------------------------------------------------------------------------
# clean_title and the default regex

STRIPPED = [
    ("EN - The Matrix", "The Matrix"),
    ("|UK| The Office", "The Office"),
    ("[FR] Amélie", "Amélie"),
    ("4K-Dune", "Dune"),
    ("EN: Alien", "Alien"),
    ("EN - |UK| 4K-Heat", "Heat"),
    ("[FR] EN: Ronin", "Ronin"),
    ("  |DE| [4K] Das Boot ", "Das Boot"),
]
KEPT = ["Ant-Man", "U-571", "B-Boy Blues", "X-Men", "WALL·E", "9-1-1", "NCIS: Los Angeles", "M*A*S*H"]


@pytest.mark.parametrize(("raw", "expected"), STRIPPED)
def test_default_regex_strips_provider_prefixes(raw: str, expected: str) -> None:
    assert naming.clean_title(raw, SETTINGS) == expected


@pytest.mark.parametrize("title", KEPT)
def test_default_regex_keeps_hyphenated_titles(title: str) -> None:
    assert naming.clean_title(title, SETTINGS) == title


@pytest.mark.parametrize("title", ["CSI: Miami", "FBI: Most Wanted", "UFO: Alien Invasion"])
def test_default_regex_keeps_acronym_titles(title: str) -> None:
    result = naming.clean_title(title, SETTINGS)
    if result != title and conf.DEFAULT_NAME_CLEAN_REGEX != PROPOSED_NAME_CLEAN_REGEX:
        pytest.xfail("conf.DEFAULT_NAME_CLEAN_REGEX eats 3-letter acronyms before ':' (fix proposed)")
    assert result == title


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *STRIPPED,
        *((t, t) for t in KEPT),
        ("CSI: Miami", "CSI: Miami"),
        ("FBI: Most Wanted", "FBI: Most Wanted"),
        ("UFO: Alien Invasion", "UFO: Alien Invasion"),
        ("[REC]²", "[REC]²"),
        ("ENG: Heat", "Heat"),
        ("ENG - Heat", "Heat"),
    ],
)
def test_proposed_regex(raw: str, expected: str) -> None:
    settings = make_settings(name_clean_regex=PROPOSED_NAME_CLEAN_REGEX)
    assert naming.clean_title(raw, settings) == expected


def test_clean_title_fallbacks() -> None:
    assert naming.clean_title("|UK|", SETTINGS) == "|UK|"  # all stripped → the original
    assert naming.clean_title("   ", SETTINGS) == "Untitled"
    assert naming.clean_title(None, SETTINGS) == "Untitled"
    assert naming.clean_title("EN - X", make_settings(name_clean_regex="")) == "EN - X"
    assert naming.clean_title("a \t b\n c", SETTINGS) == "a b c"


# ---------------------------------------------------------------------------------------------
# safe_component


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Star Wars: A New Hope", "Star Wars - A New Hope"),
        ("Re:Zero", "Re-Zero"),
        ("Face/Off", "Face-Off"),
        ("AC\\DC", "AC-DC"),
        ('The "Best" One', "The 'Best' One"),
        ("What's Up, Doc?", "What's Up, Doc"),
        ("M*A*S*H", "M_A_S_H"),
        ("a<b>c|d", "a_b_c-d"),
        ("a:b?c*", "a-bc_"),
        ("Title...", "Title"),
        ("Title . . ", "Title"),
        ("...", "_"),
        (".", "_"),
        ("..", "_"),
        ("   ", "_"),
        ("", "_"),
        (".hidden", "hidden"),
        ("../../etc/passwd", "-..-etc-passwd"),
        ("a\x00b\x1fc\x7fd", "ab cd"),  # \x1f separates like a space
        ("line\nbreak", "line break"),
        ("a\u202eb\u200fc", "abc"),
        ("مرحبا بالعالم", "مرحبا بالعالم"),
        ("Москва", "Москва"),
        ("千と千尋", "千と千尋"),
        ("🎬 Film 👨\u200d👩\u200d👧", "🎬 Film 👨\u200d👩\u200d👧"),
        ("e\u0301te\u0301", "été"),
        ("CON", "CON_"),
        ("con", "con_"),
        ("Nul.Points", "Nul_.Points"),
        ("COM1", "COM1_"),
        ("lpt9", "lpt9_"),
        ("COM\u00b9", "COM\u00b9_"),
        ("CON ", "CON_"),
        ("Conan", "Conan"),
        ("CON (2001)", "CON (2001)"),
    ],
)
def test_safe_component_examples(raw: str, expected: str) -> None:
    assert naming.safe_component(raw) == expected
    assert_safe(naming.safe_component(raw))


def test_safe_component_truncates_by_bytes_without_splitting() -> None:
    long = "é" * 400
    out = naming.safe_component(long)
    assert len(out.encode()) <= 255 and out == "é" * 127
    cjk = naming.safe_component("千" * 100)  # 3 bytes each
    assert cjk == "千" * 85
    assert naming.safe_component("a" * 254 + " .b") == "a" * 254
    assert naming.safe_component("abcdef", max_bytes=4) == "abcd"
    assert naming.safe_component("CONSTANTINE", max_bytes=3) == "_"


@hsettings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=300))
def test_safe_component_invariants(text: str, max_bytes: int) -> None:
    out = naming.safe_component(text, max_bytes)
    assert_safe(out, min(max_bytes, 255))
    assert naming.safe_component(out, max_bytes) == out  # idempotent


def test_safe_component_keeps_letters_of_every_script() -> None:
    text = "Ελληνικά עברית हिन्दी ไทย 한국어 ქართული"
    assert naming.safe_component(text) == text


# ---------------------------------------------------------------------------------------------
# Years


@pytest.mark.parametrize(
    ("title", "year", "expected"),
    [
        ("Movie (2001)", 2001, ("Movie", 2001)),
        ("Movie (2001)", None, ("Movie", 2001)),
        ("Movie [2001]", None, ("Movie", 2001)),
        ("Movie - 2001", None, ("Movie", 2001)),
        ("Movie 2001", 2001, ("Movie", 2001)),
        ("Blade Runner 2049", None, ("Blade Runner 2049", None)),
        ("Blade Runner 2049", 2017, ("Blade Runner 2049", 2017)),
        ("1917", 2019, ("1917", 2019)),
        ("1917", None, ("1917", None)),
        ("(2001)", None, ("(2001)", None)),
        ("Movie (2001)", 2003, ("Movie (2001)", 2003)),
        ("Movie (2001) (2001)", None, ("Movie", 2001)),
        ("Movie (1000)", None, ("Movie (1000)", None)),
        ("Movie", 0, ("Movie", None)),
        ("Movie", 1850, ("Movie", None)),
        ("Movie", 2101, ("Movie", None)),
        ("Movie", 2100, ("Movie", 2100)),
        ("U-2001", None, ("U-2001", None)),
    ],
)
def test_split_title_year(title: str, year: int | None, expected: tuple[str, int | None]) -> None:
    assert naming.split_title_year(title, year) == expected


def test_valid_year_accepts_strings_and_rejects_junk() -> None:
    assert naming.valid_year("1999") == 1999
    assert naming.valid_year("abc") is None
    assert naming.valid_year(True) is None
    assert naming.valid_year([1999]) is None


# ---------------------------------------------------------------------------------------------
# Id tags


@pytest.mark.parametrize(
    ("tmdb", "imdb", "style", "expected"),
    [
        ("603", "tt0133093", "jellyfin", " [tmdbid-603]"),
        (603, None, "emby", " [tmdbid=603]"),
        (None, "tt0133093", "jellyfin", " [imdbid-tt0133093]"),
        ("", "tt0133093", "emby", " [imdbid=tt0133093]"),
        ("0", "TT0133093", "jellyfin", " [imdbid-tt0133093]"),
        ("None", "None", "jellyfin", ""),
        ("abc", "tt", "jellyfin", ""),
        ("603.0", None, "jellyfin", " [tmdbid-603]"),
        (" 0603 ", None, "jellyfin", " [tmdbid-603]"),
        (None, "0133093", "jellyfin", " [imdbid-tt0133093]"),
        (None, "603", "jellyfin", ""),
        (None, "tt0000000", "jellyfin", ""),
        ("603", "tt0133093", "none", ""),
        (True, None, "jellyfin", ""),
        ("1]/../x", None, "jellyfin", ""),
    ],
)
def test_id_tag(tmdb: object, imdb: object, style: str, expected: str) -> None:
    assert naming.id_tag(tmdb, imdb, style) == expected


# ---------------------------------------------------------------------------------------------
# Seasons and episodes


@pytest.mark.parametrize(
    ("season", "expected"),
    [
        (1, "Season 01"),
        (0, "Season 00"),
        (None, "Season 00"),
        (-3, "Season 00"),
        (12, "Season 12"),
        (100, "Season 100"),
    ],
)
def test_season_folder_name(season: int | None, expected: str) -> None:
    assert naming.season_folder_name(season) == expected


@pytest.mark.parametrize(
    ("season", "episode", "expected"),
    [
        (1, 2, "S01E02"),
        (1, 100, "S01E100"),
        (None, None, "S00E00"),
        (2, None, "S02E00"),
        (123, 4567, "S123E4567"),
    ],
)
def test_episode_code(season: int | None, episode: int | None, expected: str) -> None:
    assert naming.episode_code(season, episode) == expected
    match = KODI_EPISODE.search(f"Show {expected} - Title")
    assert match and match.groups() == (str(naming.season_number(season)).zfill(2), expected.split("E")[1])


@pytest.mark.parametrize(
    ("name", "episode", "expected"),
    [
        ("Pilot", 1, "Show S01E01 - Pilot"),
        ("", 2, "Show S01E02"),
        ("Show", 2, "Show S01E02"),
        ("show", 2, "Show S01E02"),
        ("Episode 2", 2, "Show S01E02"),
        ("Episode 7", 2, "Show S01E02"),
        ("Ep. 2", 2, "Show S01E02"),
        ("E02", 2, "Show S01E02"),
        ("2", 2, "Show S01E02"),
        ("1984", 2, "Show S01E02 - 1984"),
        ("Show - S01E02 - The Title", 2, "Show S01E02 - The Title"),
        ("Show S01E02 The Title", 2, "Show S01E02 - The Title"),
        ("Show (2010) - S01E02", 2, "Show S01E02"),
        ("S01E02 - The Title", 2, "Show S01E02 - The Title"),
        ("Showdown", 2, "Show S01E02 - Showdown"),
        ("EN - Part: One", 2, "Show S01E02 - Part - One"),
    ],
)
def test_episode_base_name(name: str, episode: int, expected: str) -> None:
    row = make_episode(name, season=1, episode=episode)
    assert naming.episode_base_name("Show", row, SETTINGS) == expected


def kodi_reads(file_name: str) -> list[tuple[int, int]]:
    """The (season, episode) pairs Kodi 20 reads from a file name that has an SxxEyy code: the
    first match, then each match of the same rule (or of its multi-episode rule, right at the
    start) in what follows it, as more episodes of the same file."""
    match = KODI_SXXEYY.search(file_name)
    if match is None:
        return []
    read = [(int(match[1]), int(re.match(r"[0-9]+", match[2])[0]))]  # type: ignore[index]
    rest = match[3]
    while rest:
        again, multi = KODI_SXXEYY.search(rest), KODI_MULTI.match(rest)
        if again is not None and (multi is None or again.start() == 0):
            read.append((int(again[1]), int(re.match(r"[0-9]+", again[2])[0])))  # type: ignore[index]
            rest = again[3]
        elif multi is not None:
            read.append((read[-1][0], int(multi[2])))
            break
        else:
            break
    return read


@pytest.mark.parametrize(
    ("show", "name", "season", "episode", "expected"),
    [
        # A marker in the show's name would be read first: the name leaves the show out.
        ("S03E01 Stories", "Chapter Five", 1, 5, "S01E05 - Chapter Five"),
        ("s1.e2 club", "", 1, 5, "S01E05"),
        ("Mrs 1 x E2", "Pilot", 1, 5, "Mrs 1 x E2 S01E05 - Pilot"),  # no digit after the s
        ("Class1 xE2", "Pilot", 1, 5, "S01E05 - Pilot"),
        # One after the code would be a second episode of the file: the title is left out.
        ("Bakery Days", "Recap S03E04", 1, 3, "Bakery Days S01E03"),
        ("Bakery Days", "recap s3 x e4", 1, 3, "Bakery Days S01E03"),
        ("Bakery Days", "Recap S3][E4", 1, 3, "Bakery Days S01E03"),  # Jellyfin's separators
        ("Bakery Days", "Season 3 Episode 4", 1, 3, "Bakery Days S01E03 - Season 3 Episode 4"),
        # Other markers are read only from names without an SxxEyy, and ours always has one.
        ("Room 1x02", "Opening", 1, 1, "Room 1x02 S01E01 - Opening"),
        ("Show", "Part 2", 1, 1, "Show S01E01 - Part 2"),
    ],
)
def test_episode_base_name_leaves_out_titles_with_a_code(
    show: str, name: str, season: int, episode: int, expected: str
) -> None:
    row = make_episode(name, season=season, episode=episode)
    base = naming.episode_base_name(show, row, SETTINGS)
    assert base == expected
    assert kodi_reads(base + ".strm") == [(season, episode)]
    shown = naming.episode_show_component(show)
    assert naming.episode_base_name(show, row, SETTINGS, show_component=shown) == expected


def test_kodi_reads_like_kodi() -> None:
    """The simulation the invariants rely on gives what a real Kodi 20 gave (tests/kodi)."""
    assert kodi_reads("S03E01 Stories S01E05 - Chapter Five.strm") == [(3, 1), (1, 5)]
    assert kodi_reads("Bakery Days S01E03 - Recap S03E04.strm") == [(1, 3), (3, 4)]
    assert kodi_reads("Room 1x02 S01E01 - Opening.strm") == [(1, 1)]
    assert kodi_reads("Show S01E01-E02.strm") == [(1, 1), (1, 2)]
    assert kodi_reads("Show S01E100 - The Hundredth.strm") == [(1, 100)]


def test_episode_base_name_keeps_code_when_long() -> None:
    row = make_episode("t" * 400, season=3, episode=1234)
    base = naming.episode_base_name("S" * 400, row, SETTINGS)
    assert len((base + ".strm").encode()) <= 255
    assert " S03E1234 - " in base
    assert KODI_EPISODE.search(base).groups() == ("03", "1234")  # type: ignore[union-attr]
    tight = naming.episode_base_name("Show name", row, SETTINGS, max_bytes=16, suffix=" (2)")
    assert "S03E1234" in tight and tight.endswith(" (2)") and len(tight.encode()) <= 16


@hsettings(max_examples=300, deadline=None)
@given(
    st.text(),
    st.text(),
    st.integers(min_value=16, max_value=250),
    st.sampled_from(["", " (2)", " (13)"]),
)
def test_episode_base_name_invariants(show: str, title: str, max_bytes: int, suffix: str) -> None:
    row = make_episode(title, season=2, episode=345)
    base = naming.episode_base_name(show, row, SETTINGS, max_bytes=max_bytes, suffix=suffix)
    assert_safe(base, max_bytes)
    assert base.endswith(suffix)
    assert naming.safe_component(base, max_bytes) == base  # what the skipped guard would give
    assert KODI_EPISODE.search(base).groups() == ("02", "345")  # type: ignore[union-attr]
    assert kodi_reads(base + ".strm") == [(2, 345)]  # and nothing else, whatever the titles hold


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["S", "s", "E", "e", "x", "1", "23", " ", ".", "-", "_", "[", "]", "Show"])).map(
        "".join
    ),
    st.lists(st.sampled_from(["S", "e", "E", "X", "4", "05", " ", ".", "-", "Recap", "x"])).map("".join),
)
def test_kodi_reads_only_our_code_from_marker_like_titles(show: str, title: str) -> None:
    row = make_episode(title, season=2, episode=345)
    base = naming.episode_base_name(show, row, SETTINGS)
    assert kodi_reads(base + ".strm") == [(2, 345)], base


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Night-Trailer", "Night\u2013Trailer"),
        ("Semi-TRAILERS", "Semi\u2013TRAILERS"),
        ("Re:Trailer", "Re\u2013Trailer"),  # the colon becomes a hyphen first
        ("Trailer Park Boys", "Trailer Park Boys"),
        ("The Trailer - Part 2", "The Trailer - Part 2"),
        ("Ant-Man", "Ant-Man"),
    ],
)
def test_movie_title_component_spares_kodi_trailer_rule(title: str, expected: str) -> None:
    assert naming.movie_title_component(title) == expected
    assert naming.safe_component(expected) == expected
    assert not KODI_TRAILER_RULE.search(naming.movie_title_component(title))


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["-", "trailer", "TRAILER", ":", " ", "x", "Tr", "ailer"])).map("".join))
def test_movie_folder_never_trips_kodi_trailer_rule(title: str) -> None:
    from vod2strm.catalog.rows import MovieRow

    source = Source(1, 1, "acc", "1", None, None, None)
    row = MovieRow(1, "u", title, None, 2020, None, None, None, False, "7", None, None, None, None, source)
    name = naming.movie_folder_name(row, SETTINGS)
    assert not KODI_TRAILER_RULE.search(name), name
    assert_safe(name, 250)


def test_movie_folder_name_respects_path_limit() -> None:
    from vod2strm.catalog.rows import MovieRow

    source = Source(1, 1, "acc", "1", None, None, None)
    row = MovieRow(
        1, "u", "A" * 300, None, 1999, None, None, None, False, "603", None, None, None, None, source
    )
    name = naming.movie_folder_name(row, SETTINGS)
    assert name.endswith(" (1999) [tmdbid-603]") and len(name.encode()) <= 250
    small = make_settings(max_path_bytes=100)
    name = naming.movie_folder_name(row, small)
    assert name.endswith(" (1999) [tmdbid-603]")
    assert len(f"Movies/{name}/{name}.strm".encode()) <= 100


# ---------------------------------------------------------------------------------------------
# Claims


def test_claims_first_wins_then_tag_then_counter() -> None:
    claims = NameClaims()
    assert claims.claim("Movies", "X (2001)", "a", " [tmdbid-1]") == "X (2001)"
    assert claims.claim("Movies", "x (2001)", "b", " [tmdbid-2]") == "x (2001) [tmdbid-2]"
    assert claims.claim("Movies", "X (2001)", "c", "") == "X (2001) (2)"
    assert claims.claim("Movies", "X (2001)", "d", "") == "X (2001) (3)"
    assert claims.claim("Movies", "X (2001)", "a", " [tmdbid-1]") == "X (2001)"  # same key again
    assert claims.claim("Movies", "X (2001)", "c", "") == "X (2001) (2)"
    assert claims.claim("TV Shows", "X (2001)", "b", "") == "X (2001)"  # other parent


def test_claims_tag_already_in_name_goes_to_counter() -> None:
    claims = NameClaims()
    assert claims.claim("M", "X [tmdbid-1]", "a", " [tmdbid-1]") == "X [tmdbid-1]"
    assert claims.claim("M", "X [tmdbid-1]", "b", " [tmdbid-1]") == "X [tmdbid-1] (2)"
    # the tagged candidate taken too: counter on top of the tag
    assert claims.claim("M", "Y", "c", "") == "Y"
    assert claims.claim("M", "Y [t]", "d", "") == "Y [t]"
    assert claims.claim("M", "Y", "e", " [t]") == "Y [t] (2)"


def test_claims_are_case_and_normalisation_insensitive() -> None:
    claims = NameClaims()
    assert claims.claim("M", "Straße", "a") == "Straße"
    assert claims.claim("M", "STRASSE", "b") == "STRASSE (2)"
    assert claims.claim("M", "e\u0301te\u0301", "c") == "e\u0301te\u0301"
    assert claims.claim("M", "ÉTÉ", "d") == "ÉTÉ (2)"


def test_claims_suffix_fits_by_shortening_title_not_tail() -> None:
    claims = NameClaims()
    name = "T" * 230 + " (1999) [tmdbid-603]"
    assert claims.claim("M", name, "a", max_bytes=250, keep_tail=20) == name
    second = claims.claim("M", name, "b", max_bytes=250, keep_tail=20)
    assert second.endswith(" (1999) [tmdbid-603] (2)") and len(second.encode()) <= 250


def test_claims_survive_the_table_growing_many_times() -> None:
    """The claims table starts at 1,024 pairs and doubles: every claim made before a growth keeps
    its owner after it (same key: same name; another key: a new name)."""
    claims = NameClaims()
    for i in range(5000):
        assert claims.claim("Movies", f"Title {i}", f"k{i}") == f"Title {i}"
    assert len(claims) == 5000
    for i in range(0, 5000, 7):
        assert claims.claim("Movies", f"TITLE {i}", f"k{i}") == f"TITLE {i}"
        assert claims.claim("Movies", f"Title {i}", f"other{i}") == f"Title {i} (2)"


def test_digest_table_keeps_owners_and_the_zero_slot() -> None:
    table = _DigestTable(capacity=2)
    assert table.setdefault(0, 5) == 5 and table.setdefault(0, 6) == 5  # slot 0 is stored as 1
    slots = [(i * 0x9E3779B97F4A7C15) % 2**64 for i in range(1, 300)]
    for owner, slot in enumerate(slots):
        assert table.setdefault(slot, owner) == owner
    assert [table.setdefault(slot, 10**6) for slot in slots] == list(range(len(slots)))
    assert len(table) == len(slots) + 1


def test_try_claim_takes_exactly_the_name_or_nothing() -> None:
    """For kept names (library/items.py): the recorded name, or none, never a " (2)" of it."""
    claims = NameClaims()
    assert claims.try_claim("Movies", "X (2001)", "a")
    assert claims.try_claim("Movies", "x (2001)", "a")  # its own, in any case
    assert not claims.try_claim("Movies", "X (2001)", "b")
    assert len(claims) == 1  # the refused claim took nothing
    assert claims.claim("Movies", "X (2001)", "b", "") == "X (2001) (2)"
    assert claims.claim("Movies", "Y (2001)", "c", "") == "Y (2001)"
    assert not claims.try_claim("Movies", "Y (2001)", "a")
    assert claims.try_claim("TV Shows", "X (2001)", "b")  # other parent


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("Show S01E02 - Title", ("Show", "S01E02")),
        ("Show S01E02", ("Show", "S01E02")),
        ("S01E05 - Chapter Five", ("", "S01E05")),
        ("S01E05", ("", "S01E05")),
        ("Show S02E00 - Bonus (2)", ("Show", "S02E00")),
        ("Mission S1 S01E100 - Part S", ("Mission S1", "S01E100")),
        ("Movie (2001)", None),
        ("Show s01e02 - lower", None),
    ],
)
def test_split_episode_base(base: str, expected: tuple[str, str] | None) -> None:
    assert naming.split_episode_base(base) == expected


@hsettings(max_examples=300, deadline=None)
@given(
    st.text(),
    st.text(),
    st.integers(min_value=0, max_value=120),
    st.integers(min_value=0, max_value=1200),
    st.integers(min_value=16, max_value=250),
    st.sampled_from(["", " (2)"]),
)
def test_split_episode_base_reads_every_name_episode_base_name_writes(
    show: str, title: str, season: int, episode: int, max_bytes: int, suffix: str
) -> None:
    row = make_episode(title, season=season, episode=episode)
    base = naming.episode_base_name(show, row, SETTINGS, max_bytes=max_bytes, suffix=suffix)
    split = naming.split_episode_base(base)
    assert split is not None and split[1] == naming.episode_code(season, episode), base
    # The show's part: all of it, or its start when the name had to be shortened.
    assert naming.episode_show_component(show).startswith(split[0]), base


def test_unique_key() -> None:
    claims = NameClaims()
    assert claims.unique_key("movie:name:x:2001", "movie#1") == "movie:name:x:2001"
    assert claims.unique_key("movie:name:x:2001", "movie#2") == "movie:name:x:2001#2"
    assert claims.unique_key("movie:name:x:2001", "movie#1") == "movie:name:x:2001"
    assert claims.unique_key("movie:name:x:2001", "movie#3") == "movie:name:x:2001#3"


def test_claims_memory_stays_small() -> None:
    tracemalloc.start()
    try:
        claims = NameClaims()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(110_000):
            claims.claim(
                "main/Movies", f"Some Fairly Long Movie Title Number {i} (2001) [tmdbid-{i}]", f"m#{i}"
            )
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(claims) == 110_000
    assert used < 16 * 1024 * 1024, used  # names are not kept: ~100 bytes per claim
