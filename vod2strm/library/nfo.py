"""Kodi-style NFO files (``movie``, ``tvshow``, ``season``, ``episodedetails``), bytes as lxml writes them.

The bytes must be a pure function of the row and the settings: an NFO whose bytes change without
the catalog changing is rewritten, and Jellyfin then re-probes the item. So there is no "now", no
dict-order dependence, and one fixed serialisation (UTF-8, ``standalone='yes'`` declaration,
two-space pretty printing, trailing newline) — exactly lxml's ``tostring(..., pretty_print=True)``.

Documents are built as small :class:`_Element` trees and serialised here, because building and
serialising an lxml tree cost about half of rendering an episode (bench/, docs/performance.md);
an episode whose text needs no escaping (nearly all) is written without a tree at all.
lxml stays the reference: :func:`_serialize_lxml` builds the real tree, any text holding a
character lxml treats specially (controls, non-characters, surrogates) goes through it, and
``tests/library/test_nfo.py`` checks that both give the same bytes for arbitrary text.

``custom_properties`` is provider JSON of any shape: every reader here accepts None, strings,
numbers, lists and nested garbage and simply leaves an element out when the value is unusable.

Rendering never fails on catalog data, because one bad value must not cost a whole series its
files. A character outside XML 1.0's ``Char`` (NUL and the other C0 controls but tab, newline and
return, lone surrogates, U+FFFE, U+FFFF) would make lxml raise, so the readers keep every one out.
Free text (titles, plot, genres, people) loses those characters, as people reading it expect; a
URL holding one is unusable (dropping characters would point it elsewhere), so that element is
left out. Ids, numbers and dates are parsed into digits and never carry one. Each document
function that reads catalog text (all but :func:`season_nfo`) takes ``notes``, a list that gets
"cleaned <element>" or "left out <element>" for each such value, for the caller to report. The
checks sit where the readers already leave their fast paths (text that is not printable ASCII, a
URL that is not ASCII), so plain values cost only the passing of the list.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from lxml import etree

from vod2strm.library import naming
from vod2strm.library.strm import is_http_url

if TYPE_CHECKING:
    from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow
    from vod2strm.conf import Settings

#: Every ``custom_properties`` key an NFO may read. items.py fingerprints exactly these, so a
#: provider bumping an unrelated key (``last_modified``) does not cause a re-render.
CUSTOM_KEYS = (
    "backdrop_path",
    "director",
    "actors",
    "cast",
    "youtube_trailer",
    "release_date",
    "releasedate",
    "releaseDate",
    "air_date",
    "movie_image",
    "duration",
    "duration_secs",
    "episode_run_time",
    "plot",
    "description",
)

MAX_ACTORS = 50
MAX_DIRECTORS = 10
MAX_FANART = 10

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DATE_PREFIX = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[T\s])", re.ASCII)
_CLOCK = re.compile(r"\s*(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})\s*", re.ASCII)
_GENRE_SPLIT = re.compile(r"[,/|;]")
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{6,20}")
_YOUTUBE_PLUGIN = "plugin://plugin.video.youtube/?action=play_video&videoid="


# ---------------------------------------------------------------------------------------------
# Value readers: forgiving by design


def properties(value: Any) -> Mapping[str, Any]:
    """``custom_properties`` as a mapping; a JSON string is decoded, anything else is empty."""
    # None and dict first: an isinstance check against the Mapping ABC costs more than the rest
    # of this function, and a cold M run asks for ~1.1M episodes' properties, most of them None.
    if value is None:
        return {}
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if isinstance(value, (str, bytes)):
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


def xml_text(value: Any, notes: list[str] | None = None, field: str = "") -> str:
    """Text lxml accepts: XML-1.0-illegal characters dropped, newlines normalised, stripped.

    ``notes`` gets "cleaned <field>" when characters were dropped, so the caller can say so.
    """
    if type(value) is str:
        text = value
        # Printable ASCII has nothing to drop, normalise or turn into newlines (most titles,
        # numbers and dates): skip the regex and the normalisation.
        if text.isascii() and text.isprintable():
            return text.strip()
    elif value is None or isinstance(value, (Mapping, list, tuple, set)):
        return ""
    else:
        text = str(value)
    text, dropped = _XML_ILLEGAL.subn("", text)
    if dropped and notes is not None:
        notes.append(f"cleaned {field}")
    text = unicodedata.normalize("NFC", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def line(value: Any, notes: list[str] | None = None, field: str = "") -> str:
    """Single-line text (titles, names): whitespace runs collapse to one space."""
    return " ".join(xml_text(value, notes, field).split())


def _first(props: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = props.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _flatten(value: Any, depth: int = 0) -> Iterator[Any]:
    """Leaves of a list/tuple (or a JSON-encoded list), a bounded depth down; scalars as is."""
    if depth > 3:
        return
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(ValueError, RecursionError):
            value = json.loads(value)
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item, depth + 1)
    elif value is not None:
        yield value


def _unique(values: Iterable[str], limit: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
            if len(out) >= limit:
                break
    return out


def iso_date(value: Any) -> str | None:
    """``yyyy-mm-dd`` for a real date in the valid year range, else None (no guessing formats)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        date = value
    elif isinstance(value, str):
        match = _DATE_PREFIX.match(value)
        if not match:
            return None
        try:
            date = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    else:
        return None
    if naming.valid_year(date.year) is None:
        return None
    return date.isoformat()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # JSON integers have no bound: one past float's range is no number
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def runtime_minutes(duration_secs: Any, props: Mapping[str, Any]) -> int | None:
    """Minutes from the row's seconds, else the provider's "01:45:00" / seconds / minutes fields."""
    seconds = _number(duration_secs)
    if not seconds or seconds <= 0:
        seconds = _number(props.get("duration_secs"))
    if (not seconds or seconds <= 0) and isinstance(props.get("duration"), str):
        match = _CLOCK.fullmatch(props["duration"])
        if match:
            seconds = int(match[1] or 0) * 3600 + int(match[2]) * 60 + int(match[3])
    if not seconds or seconds <= 0:
        minutes = _number(props.get("episode_run_time"))
        seconds = minutes * 60 if minutes and minutes > 0 else None
    if not seconds or seconds <= 0 or seconds > 100 * 3600:
        return None
    return max(1, round(seconds / 60))


def genres(value: Any, notes: list[str] | None = None) -> list[str]:
    texts = [line(v, notes, "genre") for v in _flatten(value) if isinstance(v, str)]
    return _unique((line(part) for text in texts for part in _GENRE_SPLIT.split(text)), 20)


def rating(value: Any) -> str | None:
    """A 0–10 score as short decimal text; "0" and "N/A" mean unrated and are left out."""
    number = _number(value)
    if number is None or not 0 < number <= 10:
        return None
    return f"{round(number, 2):.2f}".rstrip("0").rstrip(".")


def _url(value: Any, notes: list[str] | None, field: str) -> str | None:
    """``value`` stripped when it is an http(s) URL XML can carry, else None.

    Text holding a character XML cannot carry is noted as "left out <field>" (a URL without those
    characters would point elsewhere); other text that is no URL is left out quietly, as always.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    # Nearly every URL: ASCII, and is_http_url refuses the only characters of ASCII XML cannot carry.
    if url.isascii() and is_http_url(url):
        return url
    if _XML_ILLEGAL.search(url) is None:
        return url if is_http_url(url) else None
    if notes is not None:
        notes.append(f"left out {field}")
    return None


def urls(value: Any, limit: int, notes: list[str] | None = None, field: str = "fanart") -> list[str]:
    return _unique(filter(None, (_url(v, notes, field) for v in _flatten(value))), limit)


def people(
    value: Any, limit: int, notes: list[str] | None = None, field: str = "actor"
) -> list[tuple[str, str]]:
    """(name, role) pairs from "A, B", ["A", "B"] or [{"name": "A", "character": "X"}].

    Names are cleaned one at a time up to ``limit``, so ``notes`` names only what the file holds.
    """
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for item in _flatten(value):
        if isinstance(item, str):
            pairs: list[tuple[str, Any]] = [(part, "") for part in item.split(",")]
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            pairs = [(item["name"], item.get("character") or item.get("role") or "")]
        else:
            continue
        for raw_name, raw_role in pairs:
            name = line(raw_name, notes, field)
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                role = line(raw_role, notes, field) if raw_role and isinstance(raw_role, str) else ""
                out.append((name, role))
                if len(out) >= limit:
                    return out
    return out


def trailer(value: Any, notes: list[str] | None = None) -> str | None:
    """A YouTube id becomes the Kodi YouTube add-on URL; a full http(s) URL is kept as is."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if _YOUTUBE_ID.fullmatch(value):  # ASCII word characters: never a URL
        return _YOUTUBE_PLUGIN + value
    return _url(value, notes, "trailer")


def date_added(value: Any) -> str | None:
    """The row's own ``created_at``: stable across runs, unlike "now"."""
    if isinstance(value, dt.datetime):
        if value.year >= 1000:  # isoformat zero-pads years < 1000, strftime("%Y") does not
            return value.isoformat(" ", "seconds")[:19]  # same text, several times faster
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d 00:00:00")
    return None


# ---------------------------------------------------------------------------------------------
# Element helpers


#: A leaf element with text: ``(tag, text, attributes or None)``. Nearly every element of an NFO is
#: one; a tuple costs a fraction of an :class:`_Element` to build and to write, and a cold M run
#: builds ~10M of them (docs/performance.md).
_Leaf = tuple[str, str, "dict[str, str] | None"]


class _Element:
    """An element of an NFO: a tag, attributes in insertion order, and text or children
    (elements, or leaves for the common case of an element holding only text)."""

    __slots__ = ("attrib", "children", "tag", "text")

    def __init__(self, tag: str, attrib: dict[str, str] | None = None):
        self.tag = tag
        self.attrib = attrib or {}
        self.text: str | None = None
        self.children: list[_Element | _Leaf] = []


def _child(parent: _Element, tag: str, attrib: dict[str, str] | None = None) -> _Element:
    element = _Element(tag, attrib)
    parent.children.append(element)
    return element


def _sub(parent: _Element, tag: str, text: Any, attrib: dict[str, str] | None = None) -> None:
    """A leaf holding ``text``; nothing when the text is empty or None (Kodi reads "" as a value)."""
    value = text if isinstance(text, str) else ("" if text is None else str(text))
    if value:
        parent.children.append((tag, value, attrib))


_DECLARATION = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
#: Characters lxml refuses (C0 controls but tab/newline/return, U+FFFE/U+FFFF) or cannot encode
#: (lone surrogates): exactly those ``_XML_ILLEGAL`` matches, which the readers keep out of every
#: document built from a row. A tree holding one anyway is handed to lxml, which raises.
_LXML_DECIDES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


class _LxmlDecides(Exception):
    """Text lxml treats specially, or mixed content (never built here): let lxml write it."""


def _serialize(root: _Element) -> bytes:
    """UTF-8 bytes identical to lxml's ``tostring(tree, encoding="UTF-8", xml_declaration=True,
    standalone=True, pretty_print=True)`` of the same tree."""
    out = [_DECLARATION]
    try:
        _write(root, "", out)
    except _LxmlDecides:
        return _serialize_lxml(root)
    out.append("\n")
    return "".join(out).encode("utf-8")


def _text(text: str) -> str:
    """Text content as libxml2 writes it in UTF-8: ``& < >`` and carriage returns escaped.

    ``_write`` skips the call for a leaf's text that passes this function's first checks
    (printable, none of ``& < >``): a new escape belongs in that test too."""
    # isprintable() is False for every character _LXML_DECIDES matches: most text skips the regex.
    if not text.isprintable() and _LXML_DECIDES.search(text):
        raise _LxmlDecides
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _start(tag: str, attrib: dict[str, str] | None) -> str:
    """``tag`` and its attributes (double-quoted, escaped as libxml2 does)."""
    if not attrib:
        return tag
    parts = [tag]
    for name, value in attrib.items():
        if not value.isprintable() and _LXML_DECIDES.search(value):
            raise _LxmlDecides
        parts.append(f' {name}="{value.translate(_ATTR_ESCAPES)}"')
    return "".join(parts)


def _write(element: _Element, indent: str, out: list[str]) -> None:
    """Append one element, pretty-printed as libxml2 does (two spaces per level)."""
    text = element.text
    if element.children:
        if text is not None:
            raise _LxmlDecides
        out.append(f"{indent}<{_start(element.tag, element.attrib)}>\n")
        inner = indent + "  "
        for child in element.children:
            if type(child) is tuple:  # the common case, a leaf with text: inline
                tag, value, attrib = child
                # Most text has nothing to escape: _text's checks inline, without its call.
                if not value.isprintable() or "&" in value or "<" in value or ">" in value:
                    value = _text(value)
                if attrib:
                    out.append(f"{inner}<{_start(tag, attrib)}>{value}</{tag}>\n")
                else:
                    out.append(f"{inner}<{tag}>{value}</{tag}>\n")
            else:
                _write(child, inner, out)  # type: ignore[arg-type]
                out.append("\n")
        out.append(f"{indent}</{element.tag}>")
    elif text is not None:
        out.append(f"{indent}<{_start(element.tag, element.attrib)}>{_text(text)}</{element.tag}>")
    else:
        out.append(f"{indent}<{_start(element.tag, element.attrib)}/>")


def _to_lxml(element: _Element | _Leaf, parent: etree._Element | None = None) -> etree._Element:
    text: str | None
    if type(element) is tuple:
        tag, text, attrib = element
        children: list[_Element | _Leaf] = []
    else:
        tag, text, attrib, children = element.tag, element.text, element.attrib, element.children  # type: ignore[union-attr]
    attrib = attrib or {}
    node = etree.Element(tag, attrib) if parent is None else etree.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = text
    for child in children:
        _to_lxml(child, node)
    return node


def _serialize_lxml(root: _Element) -> bytes:
    """The reference serialisation: the same tree built and written by lxml."""
    tree = _to_lxml(root)
    return etree.tostring(tree, encoding="UTF-8", xml_declaration=True, standalone=True, pretty_print=True)


def _uniqueids(root: _Element, tmdb: str | None, imdb: str | None) -> None:
    """The ids as ``naming.clean_tmdb_id``/``clean_imdb_id`` give them; the first is the default."""
    first = True
    for kind, value in (("tmdb", tmdb), ("imdb", imdb)):
        if value:
            attrs = {"type": kind, "default": "true"} if first else {"type": kind}
            _sub(root, "uniqueid", value, attrs)
            first = False


def _poster(root: _Element, url: Any, notes: list[str] | None) -> None:
    poster = _url(url, notes, "thumb")
    if poster:
        _sub(root, "thumb", poster, {"aspect": "poster"})


def _fanart(root: _Element, props: Mapping[str, Any], notes: list[str] | None) -> None:
    found = urls(props.get("backdrop_path"), MAX_FANART, notes)
    if found:
        fanart = _child(root, "fanart")
        for url in found:
            _sub(fanart, "thumb", url)


def _credits(root: _Element, props: Mapping[str, Any], notes: list[str] | None) -> None:
    for name, _role in people(props.get("director"), MAX_DIRECTORS, notes, "director"):
        _sub(root, "director", name)
    for name, role in people(_first(props, "actors", "cast"), MAX_ACTORS, notes, "actor"):
        actor = _child(root, "actor")
        _sub(actor, "name", name)
        _sub(actor, "role", role)
    _sub(root, "trailer", trailer(props.get("youtube_trailer"), notes))


def _plot(description: Any, props: Mapping[str, Any], notes: list[str] | None = None) -> str:
    plot = xml_text(description, notes, "plot") if isinstance(description, str) else ""
    if not plot:
        fallback = _first(props, "plot", "description")
        plot = xml_text(fallback, notes, "plot") if isinstance(fallback, str) else ""
    return plot


def _titles(
    name: str | None, year: int | None, settings: Settings, notes: list[str] | None = None
) -> tuple[str, str, int | None]:
    """(title, originaltitle or "", year): the raw catalog name survives as originaltitle.

    The catalog name is what ``notes`` judges: the title is cut from it, so it holds nothing the
    name does not.
    """
    cleaned = naming.clean_title(name, settings)
    title, year = naming.split_title_year(cleaned, year)
    raw = line(name, notes, "title")
    return line(title) or "Untitled", (raw if raw and raw != line(cleaned) else ""), year


def _head(
    root: _Element,
    name: str | None,
    year: int | None,
    props: Mapping[str, Any],
    settings: Settings,
    notes: list[str] | None,
    *,
    dated: bool = False,
) -> None:
    """``title``, ``originaltitle``, ``year``, ``premiered``.

    ``dated`` (a show): with a year but no release date, ``premiered`` is January 1 of the year.
    Kodi keeps a show's year only as its premiere date (``<year>`` alone is read and dropped: the
    show says 1970), and it takes a show for one it already has when title and premiere date are
    equal, uniqueids or not: without a date, "Battlestar Galactica" (1978) and (2004) became one.
    """
    title, original, year = _titles(name, year, settings, notes)
    premiered = iso_date(_first(props, "release_date", "releasedate", "releaseDate"))
    if year is None and premiered:
        year = int(premiered[:4])
    if dated and premiered is None and year is not None:
        premiered = f"{year:04d}-01-01"
    _sub(root, "title", title)
    _sub(root, "originaltitle", original)
    _sub(root, "year", year)
    _sub(root, "premiered", premiered)


def season_label(season: int) -> str:
    return "Specials" if season == 0 else f"Season {season}"


# ---------------------------------------------------------------------------------------------
# Documents


def movie_nfo(row: MovieRow, settings: Settings, *, notes: list[str] | None = None) -> bytes:
    """A movie's NFO; ``notes`` gets what was left out or cleaned (see the module's docstring)."""
    props = properties(row.custom_properties)
    root = _Element("movie")
    _head(root, row.name, row.year, props, settings, notes)
    _sub(root, "plot", _plot(row.description, props, notes))
    _sub(root, "runtime", runtime_minutes(row.duration_secs, props))
    for genre in genres(row.genre, notes):
        _sub(root, "genre", genre)
    _sub(root, "rating", rating(row.rating))
    _uniqueids(root, naming.clean_tmdb_id(row.tmdb_id), naming.clean_imdb_id(row.imdb_id))
    _poster(root, row.logo_url, notes)
    _fanart(root, props, notes)
    _credits(root, props, notes)
    _sub(root, "dateadded", date_added(row.created_at))
    return _serialize(root)


def tvshow_nfo(
    row: SeriesRow, seasons: Sequence[int], settings: Settings, *, notes: list[str] | None = None
) -> bytes:
    """The show's NFO; ``namedseason`` names every season that has files ("Specials" for 0), and
    ``premiered`` is there whenever the year is known (see :func:`_head`).

    ``notes``: as for :func:`movie_nfo`.
    """
    props = properties(row.custom_properties)
    root = _Element("tvshow")
    _head(root, row.name, row.year, props, settings, notes, dated=True)
    _sub(root, "plot", _plot(row.description, props, notes))
    _sub(root, "runtime", runtime_minutes(None, props))
    for genre in genres(row.genre, notes):
        _sub(root, "genre", genre)
    _sub(root, "rating", rating(row.rating))
    _uniqueids(root, naming.clean_tmdb_id(row.tmdb_id), naming.clean_imdb_id(row.imdb_id))
    _poster(root, row.logo_url, notes)
    _fanart(root, props, notes)
    _credits(root, props, notes)
    for season in sorted({naming.season_number(s) for s in seasons}):
        _sub(root, "namedseason", season_label(season), {"number": str(season)})
    _sub(root, "dateadded", date_added(row.created_at))
    return _serialize(root)


def season_nfo(series_row: SeriesRow, season_number: int | None, settings: Settings) -> bytes:
    """A season's NFO: its name and number; the catalog has no per-season metadata."""
    season = naming.season_number(season_number)
    root = _Element("season")
    _sub(root, "title", season_label(season))
    _sub(root, "seasonnumber", str(season))
    return _serialize(root)


@functools.lru_cache(maxsize=64)
def _show_line(show_title: str) -> tuple[str, bool]:
    """``line`` of a show's title, and whether it lost characters: the same for each of its
    episodes (~100 per show), each of which notes it."""
    dropped: list[str] = []
    return line(show_title, dropped), bool(dropped)


def episode_nfo(
    series_row: SeriesRow,
    episode_row: EpisodeRow,
    settings: Settings,
    *,
    show_title: str | None = None,
    episode_title: str | None = None,
    notes: list[str] | None = None,
) -> bytes:
    """An episode's NFO; season/episode match the SxxEyy of its file name exactly.

    ``show_title`` (``naming.display_title`` of the series) and ``episode_title``
    (``naming.episode_title``) may be passed when the caller already has them: a series renders
    them once per show and once per episode, not again for every NFO. ``notes``: as for
    :func:`movie_nfo`.
    """
    fields = _episode_fields(series_row, episode_row, settings, show_title, episode_title, notes)
    text = _episode_text(fields)
    return text.encode("utf-8") if text is not None else _serialize(_episode_tree(fields))


class _EpisodeFields(NamedTuple):
    """What an episode's NFO says, in document order ("" or None where there is nothing)."""

    title: str
    showtitle: str
    season: int
    episode: int
    aired: str | None
    plot: str
    runtime: int | None
    rating: str | None
    tmdb_id: str | None
    imdb_id: str | None
    thumb: str
    dateadded: str | None


def _episode_fields(
    series_row: SeriesRow,
    episode_row: EpisodeRow,
    settings: Settings,
    show_title: str | None,
    episode_title: str | None,
    notes: list[str] | None = None,
) -> _EpisodeFields:
    props = properties(episode_row.custom_properties)
    if show_title is None:
        show_title, _year = naming.display_title(series_row.name, series_row.year, settings)
    season = naming.season_number(episode_row.season_number)
    episode = naming.episode_number(episode_row.episode_number)
    if episode_title is None:
        episode_title = naming.episode_title(show_title, episode_row, settings)
    show, show_cleaned = _show_line(show_title)
    if show_cleaned and notes is not None:
        notes.append("cleaned showtitle")
    still = _first(props, "movie_image")
    thumb = still.strip() if isinstance(still, str) else ""
    if thumb and not (thumb.isascii() and is_http_url(thumb)):  # _url's first test, without its call
        thumb = _url(thumb, notes, "thumb") or ""
    return _EpisodeFields(
        line(episode_title, notes, "title") or f"Episode {episode}",
        show,
        season,
        episode,
        iso_date(episode_row.air_date) or iso_date(_first(props, "air_date", "release_date")),
        _plot(episode_row.description, props, notes),
        runtime_minutes(episode_row.duration_secs, props),
        rating(episode_row.rating),
        naming.clean_tmdb_id(episode_row.tmdb_id),
        naming.clean_imdb_id(episode_row.imdb_id),
        thumb,
        date_added(episode_row.created_at),
    )


def _episode_tree(fields: _EpisodeFields) -> _Element:
    title, show, season, episode, aired, plot, runtime, score, tmdb, imdb, thumb, added = fields
    root = _Element("episodedetails")
    _sub(root, "title", title)
    _sub(root, "showtitle", show)
    _sub(root, "season", season)
    _sub(root, "episode", episode)
    _sub(root, "aired", aired)
    _sub(root, "plot", plot)
    _sub(root, "runtime", runtime)
    _sub(root, "rating", score)
    _uniqueids(root, tmdb, imdb)
    _sub(root, "thumb", thumb)
    _sub(root, "dateadded", added)
    return root


def _episode_text(fields: _EpisodeFields) -> str | None:
    """The bytes :func:`_episode_tree` serialises to, written directly; None when its free text
    holds anything to escape or to leave to lxml (then the tree path writes it).

    An episode NFO is flat and nearly always plain text, and a cold M run writes ~1.1M of them:
    without the tree and the per-leaf checks one takes 6.7 us instead of 10.8 (docs/performance.md).
    The other values are digits, dates and cleaned ids, which never need escaping.
    ``tests/library/test_nfo.py`` checks both paths give the same bytes.
    """
    title, show, season, episode, aired, plot, runtime, score, tmdb, imdb, thumb, added = fields
    free = title + show + plot + thumb
    if not free.isprintable() or "&" in free or "<" in free or ">" in free:
        return None
    out = f"{_DECLARATION}<episodedetails>\n  <title>{title}</title>\n"
    if show:
        out += f"  <showtitle>{show}</showtitle>\n"
    out += f"  <season>{season}</season>\n  <episode>{episode}</episode>\n"
    if aired:
        out += f"  <aired>{aired}</aired>\n"
    if plot:
        out += f"  <plot>{plot}</plot>\n"
    if runtime is not None:
        out += f"  <runtime>{runtime}</runtime>\n"
    if score:
        out += f"  <rating>{score}</rating>\n"
    if tmdb:
        out += f'  <uniqueid type="tmdb" default="true">{tmdb}</uniqueid>\n'
    if imdb:
        out += f'  <uniqueid type="imdb"{"" if tmdb else ' default="true"'}>{imdb}</uniqueid>\n'
    if thumb:
        out += f"  <thumb>{thumb}</thumb>\n"
    if added:
        out += f"  <dateadded>{added}</dateadded>\n"
    return out + "</episodedetails>\n"
