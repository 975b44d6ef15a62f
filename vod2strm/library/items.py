"""What one catalog item becomes on disk: its stable key, input fingerprint and files.

Contract (used by jobs/generate.py and the writer):
- ``LibraryItem.key`` survives Dispatcharr refreshes: built from tmdb/imdb ids, else the cleaned
  name and year — never from a uuid or primary key alone. Two rows of one run that would share a
  key get ``#2``, ``#3``… in primary-key order (cannot happen while the catalog's unique
  constraints hold; see :func:`_key`).
- Every row of a run claims its folder in the run's :class:`NameClaims`, in primary-key order,
  rendered or skipped (see the order of use below).
- ``LibraryItem.fingerprint`` hashes every row field that reaches the output and
  ``settings.output_fingerprint()``: equal fingerprints and an unchanged folder (which depends on
  the run's :class:`NameClaims`) mean identical files, so rendering can be skipped. A change of
  uuid alone does not change it (Dispatcharr's proxy resolves a stale uuid through
  stream_id/account: see strm.py).
- ``folders``: the item's files grouped by folder (relative POSIX paths under the item's root),
  so the writer can send one folder per task; ``folders[0].folder`` is the item's own folder
  (movie folder, show folder), the one a rerun reclaims.
- ``kept``: names an item recorded earlier keeps when the provider renames it (see
  :class:`KeptNames`): its folder, claimed as it is or not at all, and its episodes' file names.
  Without it (a first render, a follow: ``follow_renames``, changed naming settings), names are
  the usual function of the row, the settings and the claims.
- Catalog values never stop an item: an NFO leaves out (or, for free text, cleans) a value XML
  cannot carry (nfo.py), and the item is built with all its files. Each such file is one warning
  naming the item, the file and the fields; ``LibraryItem.fields_dropped`` counts those fields
  for the run's summary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from vod2strm.library import naming, nfo
from vod2strm.library.naming import NameClaims
from vod2strm.library.strm import render_strm

if TYPE_CHECKING:
    from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow, Source
    from vod2strm.conf import Settings

log = logging.getLogger(__name__)

#: File kinds recorded in the manifest.
KINDS = ("movie_strm", "movie_nfo", "tvshow_nfo", "season_nfo", "episode_strm", "episode_nfo")


# The per-file classes below are not frozen: a frozen dataclass sets each field through
# object.__setattr__ and pickles through a slow __setstate__. Measured with timeit: 1.47 us to
# build and 4.9 us to unpickle frozen, 0.22 and 0.71 us plain; a cold M run makes and sends
# ~1.9M of each (docs/performance.md). Nothing mutates them after they are built.
@dataclass(slots=True)
class OutputFile:
    relpath: str  # POSIX path relative to the item's root, e.g. "Movies/X (2001)/X (2001).strm"
    data: bytes
    kind: str


@dataclass(slots=True)
class FolderFiles:
    folder: str  # POSIX relative folder, e.g. "TV Shows/Show (2010)/Season 01"
    files: tuple[OutputFile, ...]


@dataclass(frozen=True, slots=True)
class LibraryItem:
    key: str  # e.g. "movie:tmdb:603", "series:imdb:tt0903747", "movie:name:the matrix:1999"
    section: str  # "movies" | "series"
    root: str  # "main" | "adult" (adult_mode "separate" writes under settings.adult_root)
    fingerprint: str
    folders: tuple[FolderFiles, ...]
    title: str  # for logs and reports only
    fields_dropped: int = 0  # NFO values left out or cleaned: characters XML cannot carry


# ---------------------------------------------------------------------------------------------
# Building items
#
# Order of use in a run (jobs/generate.py), one NameClaims per run, rows in primary-key order:
#   key = movie_key(row, settings); fp = movie_fingerprint(row, settings)     # cheap, pure
#   unchanged (fp and folder as recorded): claims.claim(parent, recorded_name, key) == recorded_name
#       → skip; otherwise (or when that reclaim fails) item = movie_item(row, settings, claims,
#       kept=kept_names(recorded folder, recorded files) when the item keeps its names, else None).
# Claims use the parent folder relative to the root ("Movies", "TV Shows") and the item key as
# owner, so a reclaim by a skipped item and the claim inside movie_item agree. Every row must
# claim, skipped or not: otherwise a newer same-named item could take (and overwrite) its folder.
# ``movie_head`` gives key, folder and fingerprint in one call for callers that prefer it.

#: Bump when rendering changes in a way that must re-render every item (with conf.FORMAT_VERSION,
#: which the settings fingerprint carries, this module can force that on its own).
#: 2: a show's ``premiered`` from its year; episode names without a title holding an episode code
#: (Kodi); a movie's "-trailer" written "–trailer" in its names (Kodi's exclude rule).
RENDER_VERSION = 2

#: Bump when the names themselves change on purpose (a rule media servers need): a new naming
#: version is a deliberate rename, so items follow it instead of keeping their recorded names
#: (see KeptNames). Bump RENDER_VERSION with it, so that every item renders again and follows.
NAMING_VERSION = 1


@lru_cache(maxsize=8)
def naming_fingerprint(settings: Settings) -> str:
    """Hash of what shapes names besides the row: the naming settings and :data:`NAMING_VERSION`.

    Recorded with each item (``items.naming`` in the manifest). An item recorded under other
    naming settings follows them (its files move, and the old ones go in the same run); under
    the same ones it keeps its recorded names when the provider renames it (see KeptNames).
    """
    parts = [
        NAMING_VERSION,
        settings.id_tag_style,
        settings.name_clean_regex,
        settings.movies_folder,
        settings.series_folder,
        settings.max_path_bytes,
    ]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class KeptNames:
    """The names an item keeps from its latest render when the provider renames it.

    Why: a media server knows an item by its path (Jellyfin derives its id from it, Kodi keys
    its library and watched state on it); a folder or file that moves is a new item to it, with
    no watch history, and the old one shows beside it until it is removed. A rename therefore
    keeps the item's folder and file names; its NFOs carry the new title, which the server shows.

    ``folder``: the recorded top folder (``Movies/<F>`` or ``TV Shows/<S>``), claimed as it is
    (:meth:`NameClaims.try_claim`) or not at all. ``episodes``: ``SxxEyy`` → recorded base name,
    for codes that named one episode file (episodes sharing a code cannot be told apart by their
    names, and are named as usual). ``show``: the show's part of the recorded episode names, for
    the names of new episodes, so that they sort with the others (None: unknown, the usual one).
    """

    folder: str
    episodes: Mapping[str, str]
    show: str | None = None


def kept_names(folder: str, files: Iterable[tuple[str, str]]) -> KeptNames:
    """The :class:`KeptNames` of an item recorded with top ``folder`` and ``files``, the
    ``(relpath, kind)`` pairs of its latest render."""
    by_code: dict[str, list[str]] = {}
    shows: Counter[str] = Counter()
    prefix = folder + "/"
    for relpath, kind in files:
        if kind != "episode_strm" or not relpath.startswith(prefix):
            continue
        base = relpath.rpartition("/")[2].removesuffix(".strm")
        split = naming.split_episode_base(base)  # a name we wrote: safe as it is
        if split is None:
            continue
        shows[split[0]] += 1
        by_code.setdefault(split[1], []).append(base)
    episodes = {code: names[0] for code, names in by_code.items() if len(names) == 1}
    # The most common show part (a name shortened to fit holds a shortened one), the longest on a tie.
    show = max(shows.items(), key=lambda kv: (kv[1], len(kv[0])))[0] if shows else None
    return KeptNames(folder, episodes, show)


def file_identity(kind: str, relpath: str) -> tuple[str, str]:
    """What a file is to its item, whatever its name: its kind, plus the season folder of a
    ``season.nfo`` and the ``SxxEyy`` of an episode's files. A recorded file whose identity a
    new render writes at another path is that file moved (generate removes the old one); an
    episode name that holds no code it wrote is only itself."""
    if kind in ("episode_strm", "episode_nfo"):
        split = naming.split_episode_base(relpath.rpartition("/")[2].rpartition(".")[0])
        return kind, split[1] if split is not None else relpath
    if kind == "season_nfo":
        return kind, relpath.rpartition("/")[0].rpartition("/")[2]
    return kind, ""


@dataclass(frozen=True, slots=True)
class ItemHead:
    """What a run needs before deciding to render: identity, place and input fingerprint."""

    key: str
    section: str
    root: str
    folder: str  # POSIX folder of the item under its root, e.g. "Movies/X (2001) [tmdbid-1]"
    fingerprint: str
    title: str


def item_root(is_adult: bool, settings: Settings) -> str:
    return "adult" if is_adult and settings.adult_mode == "separate" else "main"


def _key(kind: str, row: MovieRow | SeriesRow) -> str:
    """A key unique within the catalog without any per-run state, and stable across refreshes.

    Ids come first (Dispatcharr keeps ``tmdb_id`` and ``imdb_id`` unique). An item without a
    usable id is keyed by its exact catalog name and year, which Dispatcharr's partial unique
    constraint makes unique when both ids are null; a junk id that is not null ("0", "") is part
    of the key, as its own unique constraint then is what separates the rows. The cleaned title
    is not used: "EN - Heat" and "FR - Heat" must stay two items, and a changed clean-up regex
    must not re-key the whole library.
    """
    tmdb = naming.clean_tmdb_id(row.tmdb_id)
    if tmdb:
        raw = str(row.tmdb_id).strip()
        return f"{kind}:tmdb:{tmdb if raw == tmdb else raw}"
    imdb = naming.clean_imdb_id(row.imdb_id)
    if imdb:
        raw = str(row.imdb_id).strip()
        return f"{kind}:imdb:{imdb if raw == imdb else raw}"
    key = f"{kind}:name:{row.name}:{row.year if row.year is not None else ''}"
    for label, value in (("tmdb", row.tmdb_id), ("imdb", row.imdb_id)):
        if value is not None:
            key += f":{label}={value}"
    return key


def movie_key(row: MovieRow, settings: Settings) -> str:
    """The manifest key of a movie: ``movie:tmdb:603``, ``movie:imdb:tt…``, ``movie:name:…``."""
    return _key("movie", row)


def series_key(row: SeriesRow, settings: Settings) -> str:
    """The manifest key of a series: ``series:tmdb:1396``, ``series:imdb:tt…``, ``series:name:…``."""
    return _key("series", row)


@lru_cache(maxsize=8)
def _settings_fingerprint(settings: Settings) -> str:
    return settings.output_fingerprint()


def _scalar(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):  # not from JSON; make its order stable anyway
        return repr(sorted(repr(v) for v in value))
    return repr(value)


def _iso(value: Any) -> Any:
    """A date as the text ``_scalar`` would give json.dumps (same bytes, same hash), without the
    encoder's per-value Python callback: a fingerprint holds two dates per episode."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _canon(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, order-stable image of provider data of any shape (for hashing only)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if depth > 8:
        return repr(type(value))
    if isinstance(value, Mapping):
        return sorted(([str(k), _canon(v, depth + 1)] for k, v in value.items()), key=lambda kv: kv[0])
    if isinstance(value, (list, tuple)):
        return [_canon(v, depth + 1) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _hash(parts: list[Any]) -> str:
    try:
        # The C encoder handles the usual JSON-from-the-database shapes quickly and stably.
        data = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=_scalar)
    except (TypeError, ValueError):  # mixed-type keys, cycles: canonicalise by hand
        data = "~" + json.dumps(_canon(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _used_properties(value: Any) -> list[Any]:
    if not value:  # None, {}, "": most episodes
        return []
    props = nfo.properties(value)
    return [[key, props[key]] for key in nfo.CUSTOM_KEYS if key in props]


def _source_parts(source: Source, settings: Settings) -> list[Any]:
    # The provider URL reaches the file only in direct mode; it is hashed, never stored or logged.
    direct = source.direct_url if settings.url_mode == "direct" else None
    return [str(source.stream_id), source.account_id, direct]


def _common(head: list[Any], settings: Settings) -> list[Any]:
    return [RENDER_VERSION, _settings_fingerprint(settings), *head]


def _movie_parts(row: MovieRow, settings: Settings) -> list[Any]:
    # uuid and row.id are left out on purpose: see strm.proxy_url.
    parts: list[Any] = [row.name, row.year, row.tmdb_id, row.imdb_id, _source_parts(row.source, settings)]
    if settings.write_nfo:
        parts += [
            row.description,
            row.rating,
            row.genre,
            row.duration_secs,
            row.logo_url,
            _iso(row.created_at),
            _used_properties(row.custom_properties),
        ]
    return parts


def _sorted_episodes(row: SeriesRow) -> list[EpisodeRow]:
    """Episodes in on-disk order; equal codes keep id order, so their " (2)" is stable."""
    return sorted(
        row.episodes,
        key=lambda e: (naming.season_number(e.season_number), naming.episode_number(e.episode_number), e.id),
    )


def _episode_parts(ep: EpisodeRow, settings: Settings) -> list[Any]:
    parts: list[Any] = [ep.name, ep.season_number, ep.episode_number, _source_parts(ep.source, settings)]
    if settings.write_nfo:
        parts += [
            ep.description,
            _iso(ep.air_date),
            ep.rating,
            ep.duration_secs,
            ep.tmdb_id,
            ep.imdb_id,
            _iso(ep.created_at),
            _used_properties(ep.custom_properties),
        ]
    return parts


def _series_parts(row: SeriesRow, settings: Settings) -> list[Any]:
    parts: list[Any] = [row.name, row.year, row.tmdb_id, row.imdb_id]
    if settings.write_nfo:
        parts += [
            row.description,
            row.rating,
            row.genre,
            row.logo_url,
            _iso(row.created_at),
            _used_properties(row.custom_properties),
        ]
    parts.append([_episode_parts(ep, settings) for ep in _sorted_episodes(row)])
    return parts


def _claim_folder(
    claims: NameClaims,
    parent: str,
    title: str,
    year: int | None,
    row: MovieRow | SeriesRow,
    owner: str,
    max_bytes: int,
    settings: Settings,
    *,
    movie: bool = False,
) -> str:
    safe, tail = naming.folder_parts(
        title, year, row.tmdb_id, row.imdb_id, settings.id_tag_style, movie=movie
    )
    desired, keep = naming.fitted_folder(safe, tail, max_bytes)
    tag = naming.fallback_tag(row.tmdb_id, row.imdb_id, settings.id_tag_style)
    return claims.claim(parent, desired, owner, tag, max_bytes=max_bytes, keep_tail=keep)


def _kept_folder(claims: NameClaims, parent: str, key: str, kept: KeptNames | None) -> str | None:
    """The recorded folder name ``kept`` holds, when it is under ``parent`` and this run's claims
    let ``key`` have exactly it; else None (the item is named as usual). The lower primary key
    keeps a name as always: an item that claimed it first this run has it."""
    if kept is None:
        return None
    recorded_parent, _, name = kept.folder.rpartition("/")
    if recorded_parent != parent or not name or naming.safe_component(name) != name:
        return None
    return name if claims.try_claim(parent, name, key) else None


def _label(title: str, year: int | None) -> str:
    return f"{title} ({year})" if year is not None else title


def _report(item: str, relpath: str, notes: list[str]) -> int:
    """One warning for a file whose NFO left out or cleaned values; how many fields it names.

    Names only, never values: a URL may carry a provider's credentials. The title is quoted with
    ``repr``, since it may hold the very characters a log stream cannot encode (lone surrogates);
    the path cannot (naming.safe_component). ``notes`` is emptied for the item's next file.
    """
    fields = list(dict.fromkeys(notes))
    notes.clear()
    log.warning("%r: %s: %s (characters XML cannot carry)", item, relpath, ", ".join(fields))
    return len(fields)


def movie_fingerprint(row: MovieRow, settings: Settings) -> str:
    """Hash of what shapes a movie's files: cheap (nothing is rendered), pure (no claims).

    It covers every row field that reaches the files (the NFO fields only when NFOs are
    written; only the ``custom_properties`` keys an NFO reads), the root it goes to, and
    ``settings.output_fingerprint()``. Not the uuid (see strm.proxy_url) nor the row id. The
    folder a collision gave the item is not in it: callers check that separately (reclaim the
    recorded folder, or compare ``ItemHead.folder``).
    """
    root = item_root(row.is_adult, settings)
    return _hash(_common(["movie", root, *_movie_parts(row, settings)], settings))


def series_fingerprint(row: SeriesRow, settings: Settings) -> str:
    """As :func:`movie_fingerprint`, over the show and all its episodes in on-disk order."""
    root = item_root(row.is_adult, settings)
    return _hash(_common(["series", root, *_series_parts(row, settings)], settings))


def movie_head(
    row: MovieRow,
    settings: Settings,
    claims: NameClaims,
    *,
    fingerprint: str | None = None,
    kept: KeptNames | None = None,
) -> ItemHead:
    """Key, claimed folder and fingerprint of a movie, without rendering.

    ``fingerprint``: :func:`movie_fingerprint` of this row, when the caller already has it.
    ``kept``: the names it keeps (:class:`KeptNames`): its recorded folder when it can claim it.
    """
    title, year = naming.display_title(row.name, row.year, settings)
    # unique_key only matters if two rows ever share a key (ids equal after clean-up): then the
    # second gets "#2" and, being another claims owner, its own folder.
    key = claims.unique_key(movie_key(row, settings), f"movie#{row.id}")
    budget = naming.movie_folder_budget(settings)
    parent = settings.movies_folder
    folder = _kept_folder(claims, parent, key, kept) or _claim_folder(
        claims, parent, title, year, row, key, budget, settings, movie=True
    )
    root = item_root(row.is_adult, settings)
    if fingerprint is None:
        fingerprint = movie_fingerprint(row, settings)
    return ItemHead(key, "movies", root, f"{parent}/{folder}", fingerprint, _label(title, year))


def movie_item(
    row: MovieRow,
    settings: Settings,
    claims: NameClaims,
    *,
    fingerprint: str | None = None,
    kept: KeptNames | None = None,
) -> LibraryItem:
    """A movie's folder with ``<Folder>.strm`` and (NFOs on) ``<Folder>.nfo``.

    ``fingerprint``: :func:`movie_fingerprint` of this row, when the caller already computed it.
    ``kept``: as for :func:`movie_head` (the files take the kept folder's name, the NFO the new
    title).
    """
    head = movie_head(row, settings, claims, fingerprint=fingerprint, kept=kept)
    name = head.folder.rsplit("/", 1)[1]
    strm = render_strm("movie", row.uuid, row.source, settings)
    files = [OutputFile(f"{head.folder}/{name}.strm", strm, "movie_strm")]
    dropped = 0
    if settings.write_nfo:
        notes: list[str] = []
        path = f"{head.folder}/{name}.nfo"
        files.append(OutputFile(path, nfo.movie_nfo(row, settings, notes=notes), "movie_nfo"))
        if notes:
            dropped = _report(head.title, path, notes)
    return LibraryItem(
        key=head.key,
        section=head.section,
        root=head.root,
        fingerprint=head.fingerprint,
        folders=(FolderFiles(head.folder, tuple(files)),),
        title=head.title,
        fields_dropped=dropped,
    )


def series_head(
    row: SeriesRow,
    settings: Settings,
    claims: NameClaims,
    *,
    fingerprint: str | None = None,
    kept: KeptNames | None = None,
) -> ItemHead | None:
    """Key, claimed show folder and fingerprint of a series; None (and no claim) without episodes.

    ``fingerprint``: :func:`series_fingerprint` of this row, when the caller already has it.
    ``kept``: as for :func:`movie_head`.
    """
    if not row.episodes:
        return None
    title, year = naming.display_title(row.name, row.year, settings)
    key = claims.unique_key(series_key(row, settings), f"series#{row.id}")
    budget = naming.series_folder_budget(settings, naming.longest_season_folder(row))
    parent = settings.series_folder
    folder = _kept_folder(claims, parent, key, kept) or _claim_folder(
        claims, parent, title, year, row, key, budget, settings
    )
    root = item_root(row.is_adult, settings)
    if fingerprint is None:
        fingerprint = series_fingerprint(row, settings)
    return ItemHead(key, "series", root, f"{parent}/{folder}", fingerprint, _label(title, year))


def series_item(
    row: SeriesRow,
    settings: Settings,
    claims: NameClaims,
    *,
    fingerprint: str | None = None,
    kept: KeptNames | None = None,
) -> LibraryItem | None:
    """The show's files grouped by folder: show folder (tvshow.nfo), then one group per season.

    None when the series has no episodes (the caller counts it). ``folders[0]`` is the show
    folder, present even when it holds no file (NFOs off). Episodes whose names clash
    case-insensitively within a season (same SxxEyy, e.g. NULL numbers) get " (2)", " (3)" in
    episode-id order, so none overwrites another. ``fingerprint``: as for :func:`movie_item`.
    ``kept`` (:class:`KeptNames`): when the show keeps its recorded folder, an episode whose code
    names one recorded file and one episode keeps that file's name (a retitled episode too), and
    the other episodes are named with the recorded names' show part; NFOs carry the new titles.
    """
    head = series_head(row, settings, claims, fingerprint=fingerprint, kept=kept)
    if head is None:
        return None
    show_title, _year = naming.display_title(row.name, row.year, settings)
    show_component = naming.episode_show_component(show_title)  # the same for every episode file
    seasons: dict[int, list[EpisodeRow]] = {}
    for ep in _sorted_episodes(row):
        seasons.setdefault(naming.season_number(ep.season_number), []).append(ep)
    kept_episodes: Mapping[str, str] = {}
    codes: Counter[str] = Counter()
    if kept is not None and head.folder == kept.folder:
        kept_episodes = kept.episodes
        if kept.show is not None:
            show_component = kept.show
        codes.update(naming.episode_code(ep.season_number, ep.episode_number) for ep in row.episodes)

    # The show folder always comes first (empty without NFOs): folders[0] is the item's folder.
    show_files: tuple[OutputFile, ...] = ()
    notes: list[str] = []  # one list for all the item's NFOs, emptied by each report
    dropped = 0
    if settings.write_nfo:
        tvshow = nfo.tvshow_nfo(row, list(seasons), settings, notes=notes)
        show_files = (OutputFile(f"{head.folder}/tvshow.nfo", tvshow, "tvshow_nfo"),)
        if notes:
            dropped += _report(head.title, show_files[0].relpath, notes)
    groups: list[FolderFiles] = [FolderFiles(head.folder, show_files)]
    for season, episodes in seasons.items():
        folder = f"{head.folder}/{naming.season_folder_name(season)}"
        files: list[OutputFile] = []
        if settings.write_nfo:
            files.append(
                OutputFile(f"{folder}/season.nfo", nfo.season_nfo(row, season, settings), "season_nfo")
            )
        budget = min(
            naming.COMPONENT_MAX - len(naming.LONGEST_EXT),
            settings.max_path_bytes - naming.utf8_len(folder) - 1 - len(naming.LONGEST_EXT),
        )
        budget = max(budget, naming.MIN_COMPONENT)
        taken: set[str] = set()
        for ep in episodes:
            title = naming.episode_title(show_title, ep, settings)
            base = None
            if kept_episodes:
                code = naming.episode_code(ep.season_number, ep.episode_number)
                base = kept_episodes.get(code) if codes[code] == 1 else None
                if base is not None and naming.fold(base) in taken:
                    base = None
            if base is None:
                base = naming.episode_base_name(
                    show_title, ep, settings, max_bytes=budget, show_component=show_component, title=title
                )
            n, folded = 1, naming.fold(base)
            while folded in taken:
                n += 1
                base = naming.episode_base_name(
                    show_title,
                    ep,
                    settings,
                    max_bytes=budget,
                    suffix=f" ({n})",
                    show_component=show_component,
                    title=title,
                )
                folded = naming.fold(base)
            taken.add(folded)
            strm = render_strm("episode", ep.uuid, ep.source, settings)
            files.append(OutputFile(f"{folder}/{base}.strm", strm, "episode_strm"))
            if settings.write_nfo:
                data = nfo.episode_nfo(
                    row, ep, settings, show_title=show_title, episode_title=title, notes=notes
                )
                files.append(OutputFile(f"{folder}/{base}.nfo", data, "episode_nfo"))
                if notes:
                    dropped += _report(head.title, files[-1].relpath, notes)
        groups.append(FolderFiles(folder, tuple(files)))
    return LibraryItem(
        key=head.key,
        section=head.section,
        root=head.root,
        fingerprint=head.fingerprint,
        folders=tuple(groups),
        title=head.title,
        fields_dropped=dropped,
    )
