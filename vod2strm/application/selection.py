"""Selected catalog items as a person deciding about them sees them: which a generate would write,
why the others are skipped, which are in the library and where, and which of their files went
missing or changed on disk.

A door that acts on a few items (the standalone admin) asks here before and after it runs
``generate``. Eligibility is decided by :mod:`vod2strm.catalog.queries` (the rows a generate reads);
this module only *explains* the items those queries leave out, one reason each, in the order a
person would fix them: an adult title the settings exclude, no provider at all, no active account,
no enabled category, a category the settings filter out; a series with nothing to play has no
episodes. Whether an item is in the library comes from the manifest (its item key, as
:mod:`vod2strm.library.items` builds it); nothing here writes.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from vod2strm.catalog import queries, resolver
from vod2strm.library import items as library
from vod2strm.output.manifest import ItemState, Manifest, content_hash, manifest_path

if TYPE_CHECKING:
    from vod2strm.conf import Settings

MOVIES, SERIES = "movies", "series"

#: Why a selected item is not generated, in the order they are checked and shown.
ADULT = "adult title (adult_mode is exclude)"
NO_PROVIDER = "no provider"
INACTIVE_ACCOUNT = "inactive account"
DISABLED_CATEGORY = "disabled category"
CATEGORY_FILTER = "category filter (categories_include/exclude)"
NO_EPISODES = "no episodes"
REASONS = (ADULT, NO_PROVIDER, INACTIVE_ACCOUNT, DISABLED_CATEGORY, CATEGORY_FILTER, NO_EPISODES)


@dataclass
class Selection:
    """What a generate of ``ids`` in ``section`` would do."""

    section: str
    selected: int = 0
    eligible: list[int] = field(default_factory=list)  # ids a generate writes, in pk order
    episodes: int = 0  # eligible episodes of the eligible series
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> item labels, pk order
    keys: dict[int, str] = field(default_factory=dict)  # id -> manifest key, for the eligible ones

    @property
    def skipped_count(self) -> int:
        return sum(len(names) for names in self.skipped.values())


def label(name: str | None, year: int | None, pk: int) -> str:
    """An item as a person tells it from its namesakes: ``The Return (2019) #12``."""
    return f"{name or '(no name)'}{f' ({year})' if year else ''} #{pk}"


def explain(settings: Settings, section: str, ids: Sequence[int]) -> Selection:
    """Which of ``ids`` a generate writes, and why each other one is skipped.

    Constant queries for any selection: the eligible rows come from the same queries a generate
    reads (a few per chunk), the others from two more.
    """
    ids = sorted(set(ids))
    found = Selection(section, selected=len(ids))
    if section == MOVIES:
        rows: list[Any] = list(queries.iter_movies(settings, ids=ids))
        key_of = library.movie_key
    else:
        rows = list(queries.iter_series(settings, ids=ids))
        key_of = library.series_key  # type: ignore[assignment]
    skipped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        episodes = getattr(row, "episodes", None)
        if section == SERIES and not episodes:
            skipped[NO_EPISODES].append((row.id, label(row.name, row.year, row.id)))
            continue
        found.eligible.append(row.id)
        found.keys[row.id] = key_of(row, settings)
        found.episodes += len(episodes or ())
    taken = {row.id for row in rows}
    for pk, (reason, text) in _reasons(settings, section, [i for i in ids if i not in taken]).items():
        skipped[reason].append((pk, text))
    found.skipped = {
        reason: [text for _, text in sorted(skipped[reason])] for reason in REASONS if skipped.get(reason)
    }
    return found


def _reasons(settings: Settings, section: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """The reason each of ``ids`` (items the eligible rows left out) is skipped, with its label."""
    if not ids:
        return {}
    m = resolver.models()
    item_model = m.Movie if section == MOVIES else m.Series
    relation_model = m.M3UMovieRelation if section == MOVIES else m.M3USeriesRelation
    item_field = "movie_id" if section == MOVIES else "series_id"
    columns = ["pk", "name", "year"] + (["is_adult"] if section == MOVIES else [])
    items = item_model.objects.filter(pk__in=list(ids)).order_by("pk").values_list(*columns)
    relations: dict[int, list[tuple[bool, int, int | None, str | None]]] = defaultdict(list)
    for item_id, active, account_id, category_id, category_name in (
        relation_model.objects.filter(**{f"{item_field}__in": list(ids)})
        .order_by()
        .values_list(item_field, "m3u_account__is_active", "m3u_account_id", "category_id", "category__name")
    ):
        relations[item_id].append((active, account_id, category_id, category_name))
    rules = queries.CategoryRules(settings)
    reasons = {}
    for pk, name, year, *adult in items:
        text = label(name, year, pk)
        mine = relations.get(pk, [])
        active = [r for r in mine if r[0]]
        if adult and adult[0] and settings.adult_mode == "exclude":
            reason = ADULT
        elif not mine:
            reason = NO_PROVIDER
        elif not active:
            reason = INACTIVE_ACCOUNT
        elif all(cat is not None and (acc, cat) not in rules.enabled for _, acc, cat, _ in active):
            reason = DISABLED_CATEGORY
        else:
            reason = CATEGORY_FILTER
        reasons[pk] = (reason, text)
    return reasons


def skipped_sentence(selection: Selection, listed: int = 3) -> str:
    """``Skipped 2: 1 inactive account (Offline (2001) #4), 1 no episodes (...)`` ("" when none)."""
    if not selection.skipped:
        return ""
    parts = []
    for reason, names in selection.skipped.items():
        shown = "; ".join(names[:listed]) + (f"; +{len(names) - listed} more" if len(names) > listed else "")
        parts.append(f"{len(names)} {reason} ({shown})")
    return f"Skipped {selection.skipped_count}: " + ", ".join(parts) + "."


# -- the library side: the manifest ---------------------------------------------------------------


def _item_key(section: str, name: str, year: int | None, tmdb_id: str | None, imdb_id: str | None) -> str:
    """The manifest key of a catalog item from the four columns it is made of."""
    row = cast("Any", SimpleNamespace(name=name or "", year=year, tmdb_id=tmdb_id, imdb_id=imdb_id))
    return library.movie_key(row, None) if section == MOVIES else library.series_key(row, None)  # type: ignore[arg-type]


def item_key(section: str, item: Any) -> str:
    """The manifest key of a catalog model instance (a Movie or a Series)."""
    return _item_key(section, item.name, item.year, item.tmdb_id, item.imdb_id)


@contextlib.contextmanager
def _manifest(settings: Settings) -> Iterator[Manifest | None]:
    """The manifest when one exists (never created here), else None."""
    if not manifest_path(settings.state_dir, settings.output_root).exists():
        yield None
        return
    manifest = Manifest.open(settings.state_dir, settings.output_root)
    try:
        yield manifest
    finally:
        manifest.close()


def library_states(settings: Settings, section: str, items: Iterable[Any]) -> dict[int, ItemState]:
    """Per catalog item (by pk): its manifest record (folder, file count); absent: not in the library."""
    keyed = {item_key(section, item): item.pk for item in items}
    with _manifest(settings) as manifest:
        if manifest is None or not keyed:
            return {}
        return {keyed[key]: state for key, state in manifest.item_states(list(keyed)).items()}


def recent_runs(settings: Settings, limit: int = 10) -> list[dict[str, Any]]:
    """The manifest's last runs, newest first (``selected``: a run for selected items)."""
    with _manifest(settings) as manifest:
        return [] if manifest is None else manifest.recent_runs(limit)


def in_library_ids(settings: Settings, section: str) -> list[int]:
    """The pks of the catalog items of ``section`` the manifest records (one pass over each)."""
    with _manifest(settings) as manifest:
        if manifest is None:
            return []
        prefix = "movie:" if section == MOVIES else "series:"
        recorded = {key for key, _folder in manifest.iter_item_folders() if key.startswith(prefix)}
    m = resolver.models()
    model = m.Movie if section == MOVIES else m.Series
    columns = ("pk", "name", "year", "tmdb_id", "imdb_id")
    return [
        pk
        for pk, *rest in model.objects.order_by().values_list(*columns).iterator(chunk_size=5000)
        if _item_key(section, *rest) in recorded
    ]


@dataclass
class DiskCheck:
    """Files of some items that the manifest records as written and the disk no longer holds as
    written: ``missing`` (gone) and ``changed`` (other bytes). Paths relative to their root."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def check_on_disk(settings: Settings, keys: Iterable[str]) -> DiskCheck:
    """Compare the recorded files of the items ``keys`` with the disk (reads each file: a selection
    is a few items, and ``.strm``/``.nfo`` files are small)."""
    check = DiskCheck()
    roots = settings.roots()
    with _manifest(settings) as manifest:
        if manifest is None:
            return check
        for (root, path), state in sorted(manifest.file_states(list(keys)).items()):
            if state.trusted is None or root not in roots:
                continue
            try:
                data = (Path(roots[root]) / path).read_bytes()
            except FileNotFoundError:
                check.missing.append(path)
                continue
            except OSError:
                continue
            if content_hash(data) not in state.owned():
                check.changed.append(path)
    return check
