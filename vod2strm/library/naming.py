"""Titles → safe path components, the Jellyfin/Kodi layout, and per-run collision claims.

Everything here is a pure function of a row and the settings (plus, for :class:`NameClaims`, the
order in which a run asks), because a rerun must map the same catalog to the same paths byte for
byte: any drift would rewrite files Jellyfin then re-probes, or orphan a user's folder.

Path components must survive every filesystem a library lives on (ext4, NTFS via SMB, NFS, the
Windows client browsing the share), so :func:`safe_component` applies the strictest common rules:
no ``<>:"/\\|?*``, no control or bidi characters, no trailing dot or space, no DOS device names,
≤ 255 UTF-8 bytes — while keeping every letter of every script.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow
    from vod2strm.conf import Settings

#: Longest component most filesystems accept (ext4, NTFS, SMB all cap a name at 255 units).
COMPONENT_MAX = 255
#: The longest extension we append to a base name; base names leave room for it.
LONGEST_EXT = ".strm"
#: Floor for a budget squeezed by a tiny ``max_path_bytes``: below this a name cannot hold a
#: title, a code and a " (n)" suffix; a config that tight may then exceed the path limit.
MIN_COMPONENT = 16

MIN_YEAR = 1851
MAX_YEAR = 2100

_FORBIDDEN = str.maketrans({"/": "-", "\\": "-", "|": "-", '"': "'", "?": "", "*": "_", "<": "_", ">": "_"})
_NEEDS_TRANSLATE = re.compile(r'[/\\|"?*<>]')
# ": " reads as a subtitle separator ("Star Wars: A New Hope"); a bare ':' joins ("Re:Zero").
_COLON_SPACED = re.compile(r"\s*:\s+|\s+:\s*")
# Zero-width joiners shape emoji and Persian/Indic words: keep them inside a name.
_KEEP_FORMAT = frozenset("\u200c\u200d")
_EDGE_STRIP = " .\u200c\u200d"

_RESERVED = frozenset(
    ["con", "prn", "aux", "nul", "conin$", "conout$"]
    + [f"{dev}{n}" for dev in ("com", "lpt") for n in "0123456789\u00b9\u00b2\u00b3"]
)

_YEAR_STRONG = re.compile(
    r"^(?P<t>.*?\S)(?:\s*\((?P<p>\d{4})\)|\s*\[(?P<b>\d{4})\]|\s+[-\u2013\u2014]\s*(?P<d>\d{4}))$",
    re.ASCII,
)
_YEAR_WEAK = re.compile(r"^(?P<t>.*?\S)\s+(?P<y>\d{4})$", re.ASCII)
_YEAR_SEP = " -\u2013\u2014:,"

_TMDB_RE = re.compile(r"0*([1-9][0-9]{0,11})(?:\.0+)?")
_IMDB_RE = re.compile(r"(?:tt)?([0-9]{7,10})")

_CODE_PREFIX = re.compile(r"^(?:[Ss]\d+\s*[Ee]\d+|\d{1,2}x\d{1,4})(?:\s*[-\u2013\u2014:|.]\s*|\s+|$)")
_SEP_PREFIX = re.compile(r"^(?:\s*\(\d{4}\))?(?:\s*[-\u2013\u2014:|.]\s*|\s+(?=[Ss]\d+\s*[Ee]\d|\d{1,2}x\d))")
# An episode code as media servers find it in a file name: Kodi's first <tvshowmatching> pattern
# (tried before all others, without case; its first match in a name is the episode, each further
# one another episode of the same file) and Jellyfin's (which also allows brackets between the
# numbers). A show or episode title holding one is kept out of episode file names. Cases spelt
# out (with the long s, which folds to s): half the time of re.IGNORECASE, once per episode.
_EPISODE_MARKER = re.compile("[sS\u017f][0-9]+[\\[\\] ._xX-]*[eE][0-9]+")
# Kodi's default movie exclude rule "-trailer" (advancedsettings <excludefromscan>), matched
# anywhere in a movie's path without case.
_KODI_TRAILER = re.compile(r"-(?=trailer)", re.IGNORECASE)
_GENERIC_EPISODE = re.compile(
    r"(?i)^(?:episode|episodio|épisode|episódio|folge|capitulo|capítulo|ep\.?|e|#)\s*#?\s*\d+$"
)


# ---------------------------------------------------------------------------------------------
# Titles


@functools.lru_cache(maxsize=8)
def _compiled(regex: str) -> re.Pattern[str] | None:
    return re.compile(regex) if regex else None


def _cleaned(name: str | None, settings: Settings) -> str:
    """The provider prefix stripped, or "" when nothing is left: callers pick their own fallback."""
    original = " ".join(unicodedata.normalize("NFC", str(name or "")).split())
    pattern = _compiled(settings.name_clean_regex)  # compiled once per pattern, not per call
    cleaned = pattern.sub("", original, count=1) if pattern is not None else original
    cleaned = " ".join(cleaned.split())
    return cleaned or original


def clean_title(name: str | None, settings: Settings) -> str:
    """Strip provider prefixes ("EN - ", "|UK| ") once; never return "" (the regex may eat all)."""
    return _cleaned(name, settings) or "Untitled"


def valid_year(year: object) -> int | None:
    """A year that can be a release year, else None: providers send 0, 1, 9999 or strings."""
    if isinstance(year, bool):
        return None
    try:
        # Any provider value on purpose: what int() refuses is caught below.
        value = int(year.strip() if isinstance(year, str) else year)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return value if MIN_YEAR <= value <= MAX_YEAR else None


def split_title_year(title: str, year: int | None) -> tuple[str, int | None]:
    """Separate a year baked into the title from the title, without doubling or losing it.

    "(2001)", "[2001]" and "- 2001" are unambiguous year markers: they fill a missing year and are
    removed when they equal the row's year. A bare trailing " 2049" is removed only when it equals
    the row's year: otherwise "Blade Runner 2049" would become "Blade Runner (2049)". A title that
    is nothing but a year ("1917", "2012") is left alone. A differing year stays in the title, so
    "Movie (2001)" with year 2003 becomes "Movie (2001) (2003)": odd, but no year is lost.
    """
    year = valid_year(year)
    while True:
        match = _YEAR_STRONG.match(title)
        if match:
            found = valid_year(match["p"] or match["b"] or match["d"])
            head = match["t"].rstrip(_YEAR_SEP)
            if found is not None and head and (year is None or found == year):
                title, year = head, found
                continue
        match = _YEAR_WEAK.match(title)
        if match and year is not None and valid_year(match["y"]) == year:
            head = match["t"].rstrip(_YEAR_SEP)
            if head:
                title = head
                continue
        return title, year


# ---------------------------------------------------------------------------------------------
# Safe components


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def truncate_bytes(text: str, max_bytes: int) -> str:
    """Cut to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    if max_bytes <= 0:
        return ""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def _drop_invisible(text: str) -> str:
    # isprintable() is False for every Cc/Cf/Cs character (and non-space separators): most titles
    # take this fast path and skip the per-character scan.
    if text.isprintable():
        return text
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") or (category == "Cf" and ch not in _KEEP_FORMAT):
            if category == "Cc" and ch in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85":
                out.append(" ")  # a line break separated words: keep them apart
            continue
        out.append(ch)
    return "".join(out)


def _is_reserved(name: str) -> bool:
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.casefold() in _RESERVED


def safe_component(text: str, max_bytes: int = COMPONENT_MAX) -> str:
    """One path component that every common filesystem (and SMB client) accepts as is.

    Leading dots are dropped too: a dot-name is hidden (Samba's default "hide dot files", ``ls``)
    and some scanners skip hidden folders. Applying it twice changes nothing, so callers may
    assemble already-safe parts and pass the whole through once more as a guard.
    """
    max_bytes = max(1, min(max_bytes, COMPONENT_MAX))
    name = unicodedata.normalize("NFC", str(text))
    name = unicodedata.normalize("NFC", _drop_invisible(name))
    if ":" in name:
        name = _COLON_SPACED.sub(" - ", name).replace(":", "-")
    if _NEEDS_TRANSLATE.search(name):
        name = name.translate(_FORBIDDEN)
    name = " ".join(name.split())
    name = name.lstrip(_EDGE_STRIP).rstrip(_EDGE_STRIP)
    name = truncate_bytes(name, max_bytes).rstrip(_EDGE_STRIP)
    if _is_reserved(name):
        stem, dot, rest = name.partition(".")
        stem = stem.rstrip(" ") + "_"
        extra = dot + rest
        name = truncate_bytes(stem, max_bytes - utf8_len(extra)) + extra
        name = truncate_bytes(name, max_bytes).rstrip(_EDGE_STRIP)
        if _is_reserved(name):  # max_bytes too small to hold the suffix: give up on the name
            name = "_"
    if name in ("", ".", ".."):
        return "_"
    return name


def fit(name: str, max_bytes: int, *, keep_tail: int = 0, suffix: str = "") -> str:
    """``name + suffix`` within ``max_bytes``, shortening the head before the protected tail.

    The tail (the last ``keep_tail`` characters: year, id tag) and the suffix (a " (2)") carry
    identity, the title only meaning, so the title is what gives way. Inputs are safe parts; the
    result is checked by :func:`safe_component` once more.
    """
    keep_tail = max(0, min(keep_tail, len(name)))
    head, tail = name[: len(name) - keep_tail], name[len(name) - keep_tail :]
    if utf8_len(name) + utf8_len(suffix) > max_bytes:
        room = max_bytes - utf8_len(suffix)
        tail = truncate_bytes(tail, room)
        head = truncate_bytes(head, room - utf8_len(tail)).rstrip(_EDGE_STRIP)
    return safe_component(head + tail + suffix, max_bytes)


# ---------------------------------------------------------------------------------------------
# Ids and folder names


def clean_tmdb_id(value: object) -> str | None:
    """A TMDB id as digits, or None for junk ("0", "", "None", "abc") that must not reach a path."""
    if value is None or isinstance(value, bool):
        return None
    match = _TMDB_RE.fullmatch(str(value).strip())
    return match.group(1) if match else None


def clean_imdb_id(value: object) -> str | None:
    """An IMDb id as ``tt`` + digits (bare 7+ digit ids get their ``tt``), else None."""
    if value is None or isinstance(value, bool):
        return None
    match = _IMDB_RE.fullmatch(str(value).strip().lower())
    if not match or not match.group(1).strip("0"):
        return None
    return "tt" + match.group(1)


def id_tag(tmdb_id: object, imdb_id: object, style: str) -> str:
    """The folder-name id tag media servers match on: TMDB preferred, IMDb when there is no TMDB."""
    if style not in ("jellyfin", "emby"):
        return ""
    sep = "-" if style == "jellyfin" else "="
    tmdb = clean_tmdb_id(tmdb_id)
    if tmdb:
        return f" [tmdbid{sep}{tmdb}]"
    imdb = clean_imdb_id(imdb_id)
    if imdb:
        return f" [imdbid{sep}{imdb}]"
    return ""


def fallback_tag(tmdb_id: object, imdb_id: object, style: str) -> str:
    """The tag that tells two same-named folders apart, even when the style writes no tag."""
    return id_tag(tmdb_id, imdb_id, "jellyfin" if style == "none" else style)


def display_title(name: str | None, year: int | None, settings: Settings) -> tuple[str, int | None]:
    """The cleaned title without a duplicated year, and the year to show (NFO and folders)."""
    return split_title_year(clean_title(name, settings), year)


def movie_folder_budget(settings: Settings) -> int:
    """Bytes a movie folder name may use: it appears twice in "Movies/<F>/<F>.strm"."""
    fixed = utf8_len(settings.movies_folder) + 2 + len(LONGEST_EXT)
    by_path = (settings.max_path_bytes - fixed) // 2
    return max(MIN_COMPONENT, min(COMPONENT_MAX - len(LONGEST_EXT), by_path))


def series_folder_budget(settings: Settings, season_folder_bytes: int = 9) -> int:
    """Bytes a show folder may use: at most half of what the path leaves, so episodes keep room."""
    fixed = utf8_len(settings.series_folder) + 3 + season_folder_bytes + len(LONGEST_EXT)
    by_path = (settings.max_path_bytes - fixed) // 2
    return max(MIN_COMPONENT, min(COMPONENT_MAX, by_path))


def movie_title_component(title: str) -> str:
    """A movie title as its folder and file names carry it: :func:`safe_component`, and a hyphen
    before "trailer" written as an en dash ("Night–Trailer"), which Kodi's default exclude rule
    ``-trailer`` would otherwise skip (the NFO keeps the title as it is)."""
    safe = safe_component(title)
    return _KODI_TRAILER.sub("\u2013", safe) if "-" in safe else safe


def has_episode_marker(component: str) -> bool:
    """Whether a media server would read an episode code in ``component`` (``S01E01``, ``s2.e3``,
    ``S1xE4``, ``S1][E4``)."""
    return _EPISODE_MARKER.search(component) is not None


def episode_show_component(show_title: str) -> str:
    """The show's part of its episode file names: :func:`safe_component`, or "" when it holds an
    episode marker (a show called "S03E01 Stories" would give Kodi episode 3x01 in every file)."""
    show = safe_component(show_title)
    return "" if has_episode_marker(show) else show


def folder_parts(
    title: str, year: int | None, tmdb_id: object, imdb_id: object, style: str, *, movie: bool = False
) -> tuple[str, str]:
    """(safe title, tail): the tail is " (Year) [tag]", already safe, kept when shortening.

    ``movie``: the title as :func:`movie_title_component` writes it.
    """
    tail = (f" ({year})" if year is not None else "") + id_tag(tmdb_id, imdb_id, style)
    return (movie_title_component(title) if movie else safe_component(title)), tail


def fitted_folder(title: str, tail: str, max_bytes: int) -> tuple[str, int]:
    """(name, keep_tail) for a folder: the title shortened before the year/tag tail."""
    name = fit(title + tail, max_bytes, keep_tail=len(tail))
    return name, (len(tail) if name.endswith(tail) else len(name))


def movie_folder_name(row: MovieRow, settings: Settings) -> str:
    """The movie folder, ``<Title> (<Year>) [tmdbid-N]``, before claims, fitted to the path budget."""
    title, year = display_title(row.name, row.year, settings)
    safe, tail = folder_parts(title, year, row.tmdb_id, row.imdb_id, settings.id_tag_style, movie=True)
    return fitted_folder(safe, tail, movie_folder_budget(settings))[0]


def longest_season_folder(row: SeriesRow) -> int:
    return max((utf8_len(season_folder_name(e.season_number)) for e in row.episodes), default=9)


# ---------------------------------------------------------------------------------------------
# Seasons and episodes


def season_number(value: int | None) -> int:
    """Season used on disk: None and negatives are specials (0), as the layout has nowhere else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def episode_number(value: int | None) -> int:
    """Episode used on disk: None/negative → 0 ("E00"), which Kodi still parses; clashes get " (2)"."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def season_folder_name(season: int | None) -> str:
    return f"Season {season_number(season):02d}"


def episode_code(season: int | None, episode: int | None) -> str:
    """``S01E02``: two digits at least, all kept (S01E100), as Kodi reads the numbers only here."""
    return f"S{season_number(season):02d}E{episode_number(episode):02d}"


def episode_title(show_title: str, episode_row: EpisodeRow, settings: Settings) -> str:
    """The episode's own title, or "" when the catalog only repeats the show name or the number.

    Providers often name episodes "Show - S01E02 - Title": the show and code are stripped so the
    file name does not repeat them.
    """
    name = _cleaned(episode_row.name, settings)
    show = " ".join(unicodedata.normalize("NFC", show_title).split())
    if show and name[: len(show)].casefold() == show.casefold():
        rest = name[len(show) :]
        match = _SEP_PREFIX.match(rest)
        if not rest or match:
            name = rest[match.end() :] if match else ""
    match = _CODE_PREFIX.match(name)
    if match:
        name = name[match.end() :]
    name = name.strip(" -\u2013\u2014:|.")
    if not name or name.casefold() == show.casefold() or _GENERIC_EPISODE.match(name):
        return ""
    if (
        name.isascii()
        and name.isdigit()
        and (name.lstrip("0") or "0") == str(episode_number(episode_row.episode_number))
    ):
        return ""
    return name


def episode_base_name(
    show_title: str,
    episode_row: EpisodeRow,
    settings: Settings,
    *,
    max_bytes: int = COMPONENT_MAX - len(LONGEST_EXT),
    suffix: str = "",
    show_component: str | None = None,
    title: str | None = None,
) -> str:
    """``<Show> S01E02 - <Title><suffix>`` within ``max_bytes``, so any extension still fits.

    When space runs out the episode title gives way first, then the show title; the SxxEyy code
    is never cut (Kodi reads season and episode only from it), nor is the disambiguating suffix
    (safe text starting with a space, such as `` (2)``: a name that fits is not checked again).
    A show or episode title in which Kodi would read another episode code
    (:func:`has_episode_marker`) is left out: ``S01E05 - Chapter Five``, ``Show S01E03``.
    ``show_component`` (:func:`episode_show_component` of the show title) and ``title``
    (:func:`episode_title`) may be passed by a caller that already computed them (once per
    series, once per episode).
    """
    code = episode_code(episode_row.season_number, episode_row.episode_number)
    show = episode_show_component(show_title) if show_component is None else show_component
    if title is None:
        title = episode_title(show_title, episode_row, settings)
    ep = safe_component(title) if title else ""
    if ep and _EPISODE_MARKER.search(ep) is not None:  # has_episode_marker, without its call
        ep = ""
    room = max_bytes - utf8_len(code) - utf8_len(suffix) - 1
    show_b, ep_b = utf8_len(show), (utf8_len(ep) + 3 if ep else 0)
    if show_b + ep_b <= room:
        # Safe parts joined by spaces, nothing cut: safe as it is (a space composes with nothing
        # under NFC, and no stem holding " S01E02" is a reserved name). The guard below cost a
        # third of this function, ~1.1M times in a cold M run.
        head = f"{show} {code}" if show else code
        return f"{head} - {ep}{suffix}" if ep else f"{head}{suffix}"
    show = truncate_bytes(show, max(room // 2, room - ep_b)).rstrip(_EDGE_STRIP)
    ep_room = room - utf8_len(show) - 3
    ep = truncate_bytes(ep, ep_room).rstrip(_EDGE_STRIP) if ep_room > 0 else ""
    name = f"{show} {code}" if show else code
    if ep:
        name += f" - {ep}"
    # The code and suffix always fit when max_bytes >= MIN_COMPONENT; the guard only re-checks.
    return safe_component(name + suffix, max(max_bytes, utf8_len(code) + utf8_len(suffix)))


# The SxxEyy code in an episode base name that episode_base_name wrote: neither the show's part
# nor the episode title it writes holds an episode marker (has_episode_marker), so the first code
# standing alone between spaces is the episode's.
_WRITTEN_CODE = re.compile(r"(?:^| )(S[0-9]{2,}E[0-9]{2,})(?= |$)")


def split_episode_base(base: str) -> tuple[str, str] | None:
    """(show part, ``SxxEyy``) of an episode base name :func:`episode_base_name` wrote, e.g.
    ``("Show", "S01E02")`` for ``Show S01E02 - Title (2)``; None for a name it cannot have written."""
    match = _WRITTEN_CODE.search(base)
    if match is None:
        return None
    return base[: match.start(1)].rstrip(" "), match.group(1)


# ---------------------------------------------------------------------------------------------
# Collision claims


def _digest(*parts: str) -> int:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def fold(name: str) -> str:
    """How a case-insensitive filesystem (SMB, NTFS, APFS) compares names."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class NameClaims:
    """Per-run registry that gives each item its own folder, deterministically.

    The first claimant of a (case-insensitively) equal name under a parent keeps it; later ones get
    a fallback id tag, then " (2)", " (3)"…. Callers stream items in primary-key order, so the same
    catalog yields the same names on every run, and skipped (unchanged) items must still claim.
    Only 8-byte digests are stored (see :class:`_DigestTable`), not the names: a run at 1.1M
    items makes ~220,000 claims and must stay small; a digest clash (~1e-9 per run) would at
    worst give an item a " (2)" it did not need.
    """

    __slots__ = ("_owners",)

    def __init__(self) -> None:
        self._owners = _DigestTable()

    def __len__(self) -> int:
        return len(self._owners)

    def _take(self, slot: int, owner: int) -> bool:
        current = self._owners.setdefault(slot, owner)
        return current == owner

    def claim(
        self,
        parent: str,
        name: str,
        key: str,
        fallback_tag: str = "",
        *,
        max_bytes: int = COMPONENT_MAX,
        keep_tail: int = 0,
    ) -> str:
        """The name ``key`` may use under ``parent``; the same key always gets the same answer.

        ``max_bytes``/``keep_tail`` let a suffix fit by shortening the title, not the tail
        (year and id tag) nor the suffix.
        """
        owner = _digest("owner", key)
        folded_parent = fold(parent)
        for candidate in self._candidates(name, fallback_tag, max_bytes, keep_tail):
            if self._take(_digest(folded_parent, fold(candidate)), owner):
                return candidate
        raise AssertionError("unreachable: candidates are endless")  # pragma: no cover

    def try_claim(self, parent: str, name: str, key: str) -> bool:
        """Claim exactly ``name`` under ``parent`` for ``key``, or nothing: False when another
        owner holds it, and then no other name is taken either. For names an item keeps from an
        earlier run (library/items.py, ``KeptNames``): the kept name, or the item's usual claim."""
        return self._take(_digest(fold(parent), fold(name)), _digest("owner", key))

    @staticmethod
    def _candidates(name: str, tag: str, max_bytes: int, keep_tail: int) -> Iterator[str]:
        yield name
        base = ""
        if tag and fold(tag.strip()) not in fold(name) and utf8_len(tag) + 10 <= max_bytes:
            base = tag
            yield fit(name, max_bytes, keep_tail=keep_tail, suffix=tag)
        # The suffix is never cut (it is <= max_bytes), so every candidate differs: this ends.
        n = 2
        while True:
            yield fit(name, max_bytes, keep_tail=keep_tail, suffix=f"{base} ({n})")
            n += 1

    def unique_key(self, key: str, owner: str) -> str:
        """``key``, or ``key#2``… when another owner already holds it (two rows cleaning to the
        same name and year): the manifest needs one record per item."""
        owner_digest = _digest("owner", owner)
        candidate, n = key, 1
        while not self._take(_digest("\x00key", candidate), owner_digest):
            n += 1
            candidate = f"{key}#{n}"
        return candidate


class _DigestTable:
    """``slot digest -> owner digest`` in one flat array of 64-bit words (open addressing).

    A dict of Python ints cost about 125 bytes a claim (two int objects and a hash slot): 25 MB of a
    run's peak at 1.1M items, the part of it that grew most with the catalog (docs/performance.md).
    Here a pair is 16 bytes and the table is kept at most half full: about 6 MB for the same run.
    Digests are uniform, so their low bits index the table directly; slot 0 marks an empty pair.
    """

    __slots__ = ("_mask", "_used", "_words")

    def __init__(self, capacity: int = 1024) -> None:
        self._words = array("Q", [0]) * (2 * capacity)
        self._mask = capacity - 1
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def setdefault(self, slot: int, owner: int) -> int:
        """The owner recorded for ``slot``; records ``owner`` first when the slot is free."""
        slot = slot or 1
        words, mask = self._words, self._mask
        i = slot & mask
        while True:
            current = words[2 * i]
            if current == slot:
                return words[2 * i + 1]
            if current == 0:
                break
            i = (i + 1) & mask
        words[2 * i] = slot
        words[2 * i + 1] = owner
        self._used += 1
        if 2 * self._used > mask:
            self._grow()
        return owner

    def _grow(self) -> None:
        old = self._words
        self.__init__(2 * (self._mask + 1))  # type: ignore[misc]
        used = 0
        words, mask = self._words, self._mask
        for j in range(0, len(old), 2):
            slot = old[j]
            if slot:
                i = slot & mask
                while words[2 * i]:
                    i = (i + 1) & mask
                words[2 * i] = slot
                words[2 * i + 1] = old[j + 1]
                used += 1
        self._used = used
