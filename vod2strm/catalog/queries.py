"""Chunked streams of eligible catalog rows: queries grow with the number of chunks, never with items.

Each chunk is read by keyset pagination on the primary key (``pk > last ORDER BY pk LIMIT n``), so
no cursor or transaction stays open across a long run, rows deleted or added between chunks are
simply seen or not, and the models' default ``Meta.ordering`` (a join, for Dispatcharr's Episode)
never applies. Per chunk:

- movies: 2 statements (movies with their logo URL; their relations with account and category);
- series: 4 statements (series; their relations; their episodes; those episodes' relations).

Everything is read with ``values_list`` of the columns used and turned into plain rows here:
no model instance leaves this module, so nothing downstream can issue a lazy query. Episodes, a
million rows at 100,000 movies, are read without Django's per-value converters (``_unconverted``).

Rules (docs/catalog.md, "Eligible items and the best relation"): a relation is *eligible* when its
account is active and its category is null or enabled for that account (and passes the category
filters of the settings); an item is eligible with at least one eligible relation; the *best*
relation has the highest account priority, then the lowest relation id.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from django.db.models.sql.constants import MULTI

from vod2strm.catalog import resolver
from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow, Source
from vod2strm.conf import Settings

#: Series chunks are smaller than movie chunks: each series brings its episodes along.
SERIES_CHUNK_DIVISOR = 5

_MOVIE_COLUMNS = (
    "id",
    "uuid",
    "name",
    "description",
    "year",
    "rating",
    "genre",
    "duration_secs",
    "is_adult",
    "tmdb_id",
    "imdb_id",
    "custom_properties",
    "created_at",
    "logo__url",
)
_SERIES_COLUMNS = (
    "id",
    "uuid",
    "name",
    "description",
    "year",
    "rating",
    "genre",
    "tmdb_id",
    "imdb_id",
    "custom_properties",
    "created_at",
    "logo__url",
)
_EPISODE_COLUMNS = (
    "id",
    "series_id",
    "uuid",
    "name",
    "description",
    "air_date",
    "rating",
    "duration_secs",
    "season_number",
    "episode_number",
    "tmdb_id",
    "imdb_id",
    "custom_properties",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One eligible relation of an item, before the best one is chosen."""

    item_id: int
    priority: int
    source: Source


class CategoryRules:
    """Which (account, category) pairs are enabled, plus the settings' include/exclude filters.

    Loaded once per run with one query: the table is categories x accounts, small next to items.
    """

    def __init__(self, settings: Settings):
        m = resolver.models()
        self.enabled: set[tuple[int, int]] = set(
            m.M3UVODCategoryRelation.objects.filter(enabled=True)
            .order_by()
            .values_list("m3u_account_id", "category_id")
        )
        self.include = _Matcher(settings.categories_include)
        self.exclude = _Matcher(settings.categories_exclude)

    def allows(self, account_id: int, category_id: int | None, category_name: str | None) -> bool:
        if category_id is not None and (account_id, category_id) not in self.enabled:
            return False
        if self.include and not self.include.matches(category_id, category_name):
            return False
        return not (self.exclude and self.exclude.matches(category_id, category_name))


class _Matcher:
    """Category names (case-insensitive) or numeric ids."""

    def __init__(self, entries: Sequence[str]):
        self.ids = {int(e) for e in entries if e.isdigit()}
        self.names = {e.casefold() for e in entries if not e.isdigit()}

    def __bool__(self) -> bool:
        return bool(self.ids or self.names)

    def matches(self, category_id: int | None, category_name: str | None) -> bool:
        if category_id is None:
            return False
        return category_id in self.ids or (category_name or "").casefold() in self.names


#: Relation columns every query below fetches, in this order; movie/episode queries add
#: ``container_extension`` and the account's XC columns for the direct URL.
_RELATION_COLUMNS = (
    "id",
    "m3u_account_id",
    "category_id",
    "category__name",
    "m3u_account__priority",
    "m3u_account__name",
)
_STREAM_COLUMNS = (
    "stream_id",
    "container_extension",
    "m3u_account__account_type",
    "m3u_account__server_url",
    "m3u_account__username",
    "m3u_account__password",
)


class _Row(Protocol):
    """What :class:`_RowBuilder` needs of a row class: a dataclass with a ``name``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    name: str


class _RowBuilder[R: _Row]:
    """Builds one row class from ``values_list`` tuples, positionally.

    This runs once per catalog row (1.1M at 100,000 movies), and a keyword dict per row cost twice
    the time of a positional call. The row's fields must start with the columns it takes (a
    related column ``logo__url`` fills ``logo_url``; columns the row lacks are skipped), followed
    by the ``tail`` fields each call passes; that layout is checked once, here, at import.
    """

    def __init__(self, cls: type[R], columns: Sequence[str], tail: Sequence[str]):
        fields = list(cls.__dataclass_fields__)
        names = [column.replace("__", "_") for column in columns]
        picked = [i for i, name in enumerate(names) if name in fields]
        layout = [names[i] for i in picked] + list(tail)
        if fields[: len(layout)] != layout:
            raise TypeError(f"{cls.__name__} fields {fields} do not start with {layout}")
        self._cls = cls
        self._pick = operator.itemgetter(*picked)

    def __call__(self, values: Sequence[Any], *tail: Any) -> R:
        row = self._cls(*self._pick(values), *tail)
        if row.name is None:
            row.name = ""
        return row


_movie_row = _RowBuilder(MovieRow, _MOVIE_COLUMNS, ("source",))
_series_row = _RowBuilder(SeriesRow, _SERIES_COLUMNS, ("is_adult", "source", "episodes"))
_episode_row = _RowBuilder(EpisodeRow, _EPISODE_COLUMNS, ("source",))


def _direct_url(kind: str, stream: Sequence[Any]) -> str | None:
    """The home's own ``get_stream_url()``, run on an unsaved relation built from fetched columns."""
    m = resolver.models()
    stream_id, ext, account_type, server_url, username, password = stream
    account = m.M3UAccount(
        account_type=account_type, server_url=server_url, username=username, password=password
    )
    relation_model = m.M3UMovieRelation if kind == "movie" else m.M3UEpisodeRelation
    relation = relation_model(stream_id=stream_id, container_extension=ext, m3u_account=account)
    return relation.get_stream_url()


def _source(
    kind: str,
    relation_id: int,
    account_id: int,
    account_name: str,
    category_id: int | None,
    category_name: str | None,
    stream: Sequence[Any],
    direct: bool,
) -> Source:
    """The chosen relation as a row's ``Source``; ``stream`` is the ``_STREAM_COLUMNS`` values (or
    just the stream id). Positional: this runs once per episode, a million times at size M."""
    return Source(
        relation_id,
        account_id,
        account_name,
        str(stream[0]),
        stream[1] if len(stream) > 1 else None,
        category_id,
        category_name,
        _direct_url(kind, stream) if direct else None,
    )


def _eligible_candidates(
    kind: str, rows: Iterable[Sequence[Any]], rules: CategoryRules, direct: bool
) -> dict[int, list[_Candidate]]:
    """Group relation rows ``(item_id, *_RELATION_COLUMNS, *stream columns)`` by item, keeping
    the eligible ones."""
    by_item: dict[int, list[_Candidate]] = defaultdict(list)
    for row in rows:
        item_id, relation, stream = row[0], row[1:7], row[7:]
        if rules.allows(relation[1], relation[2], relation[3]):
            rel_id, account_id, category_id, category_name, _priority, account_name = relation
            source = _source(
                kind, rel_id, account_id, account_name, category_id, category_name, stream, direct
            )
            by_item[item_id].append(_Candidate(item_id, relation[4] or 0, source))
    return by_item


def _best(candidates: list[_Candidate]) -> _Candidate:
    return min(candidates, key=lambda c: (-c.priority, c.source.relation_id))


def _unconverted(queryset) -> Iterator[Sequence[Any]]:
    """The rows of a ``values_list`` queryset as the database driver returns them.

    Why: Django's per-value converters (uuid text to ``UUID``, a naive datetime to an aware one,
    JSON text to a dict) took about a fifth of an unchanged run on SQLite, where each of ~1M
    episodes passes through them although an unchanged series is never rendered. The library
    takes the driver's values as they are (``catalog.rows``): a uuid in any text form, naive or
    aware datetimes; only an episode's ``custom_properties`` text is decoded (``_json_object``).
    """
    compiler = queryset.query.get_compiler(using=queryset.db)
    return itertools.chain.from_iterable(compiler.execute_sql(MULTI))


def _keyset_chunks(queryset, columns: Sequence[str], chunk_size: int) -> Iterator[list[tuple]]:
    """Yield lists of ``values_list`` rows in primary-key order, ``chunk_size`` at a time."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page.values_list(*columns)[:chunk_size])
        if not rows:
            return
        yield rows
        if len(rows) < chunk_size:
            return
        last = rows[-1][0]


def iter_movies(settings: Settings, *, ids: Sequence[int] | None = None) -> Iterator[MovieRow]:
    """Eligible movies in primary-key order, each with its best relation."""
    m = resolver.models()
    rules = CategoryRules(settings)
    movies = m.Movie.objects.all()
    if settings.adult_mode == "exclude":
        movies = movies.filter(is_adult=False)
    if ids is not None:
        movies = movies.filter(pk__in=list(ids))
    for chunk in _keyset_chunks(movies, _MOVIE_COLUMNS, settings.chunk_size):
        relations = (
            m.M3UMovieRelation.objects.filter(
                movie_id__in=[row[0] for row in chunk], m3u_account__is_active=True
            )
            .order_by()
            .values_list("movie_id", *_RELATION_COLUMNS, *_STREAM_COLUMNS)
        )
        by_movie = _eligible_candidates("movie", relations, rules, settings.url_mode == "direct")
        for row in chunk:
            candidates = by_movie.get(row[0])
            if candidates:
                yield _movie_row(row, _best(candidates).source)


def iter_series(settings: Settings, *, ids: Sequence[int] | None = None) -> Iterator[SeriesRow]:
    """Eligible series in primary-key order, each with its best relation and eligible episodes.

    A series without eligible episodes is still yielded (with ``episodes=()``) so callers can count
    it; writing an empty show is the caller's decision.
    """
    m = resolver.models()
    rules = CategoryRules(settings)
    series_qs = m.Series.objects.all()
    if ids is not None:
        series_qs = series_qs.filter(pk__in=list(ids))
    chunk_size = max(1, settings.chunk_size // SERIES_CHUNK_DIVISOR)
    for chunk in _keyset_chunks(series_qs, _SERIES_COLUMNS, chunk_size):
        series_ids = [row[0] for row in chunk]
        series_relations = (
            m.M3USeriesRelation.objects.filter(series_id__in=series_ids, m3u_account__is_active=True)
            .order_by()
            .values_list("series_id", *_RELATION_COLUMNS, "external_series_id")
        )
        by_series = _eligible_candidates("series", series_relations, rules, direct=False)
        eligible = {sid: _best(c) for sid, c in by_series.items()}
        if not eligible:
            continue
        episodes = _episodes_for(eligible, settings)
        for row in chunk:
            best = eligible.get(row[0])
            if best is not None:
                # Dispatcharr's Series has no is_adult field: adult filtering applies to movies.
                eps = episodes.get(row[0], ())
                yield _series_row(row, False, best.source, eps)


def _episodes_for(eligible: dict[int, _Candidate], settings: Settings) -> dict[int, tuple[EpisodeRow, ...]]:
    """Eligible episodes of a chunk's eligible series: two statements whatever the episode count.

    An episode is served by its relation at the series' chosen account when there is one, else
    by the relation with the highest account priority, then the lowest id (any active account:
    the category rules live on the series relation, which already passed them).
    """
    m = resolver.models()
    series_ids = list(eligible)
    relations = _unconverted(  # ids and text: no converters to skip, only Django's row layers
        m.M3UEpisodeRelation.objects.filter(episode__series_id__in=series_ids, m3u_account__is_active=True)
        .order_by()
        .values_list(
            "episode_id",
            "episode__series_id",
            "id",
            "m3u_account_id",
            "m3u_account__priority",
            "m3u_account__name",
            *_STREAM_COLUMNS,
        )
    )
    preferred = {sid: candidate.source.account_id for sid, candidate in eligible.items()}
    chosen: dict[int, Sequence[Any]] = {}
    for row in relations:
        current = chosen.get(row[0])
        # Most episodes have one relation: rank only when there is a choice to make.
        if current is None or _episode_rank(row, preferred) < _episode_rank(current, preferred):
            chosen[row[0]] = row
    direct = settings.url_mode == "direct"
    episodes: dict[int, list[EpisodeRow]] = defaultdict(list)
    rows = _unconverted(
        m.Episode.objects.filter(series_id__in=series_ids)
        .order_by("series_id", "season_number", "episode_number", "pk")
        .values_list(*_EPISODE_COLUMNS)
    )
    for row in rows:
        relation = chosen.get(row[0])
        if relation is None:
            continue
        series_id = row[1]
        category = eligible[series_id].source
        _episode_id, _series_id, rel_id, account_id, _priority, account_name = relation[:6]
        source = _source(
            "episode",
            rel_id,
            account_id,
            account_name,
            category.category_id,
            category.category_name,
            relation[6:],
            direct,
        )
        episode = _episode_row(row, source)
        if type(episode.custom_properties) is str:
            episode.custom_properties = _json_object(episode.custom_properties)
        episodes[series_id].append(episode)
    return {sid: tuple(eps) for sid, eps in episodes.items()}


def _json_object(text: str) -> Any:
    """An episode's ``custom_properties`` JSON text (SQLite's), decoded once, here.

    Why: every reader decoded it on its own, and a cold run has two (the fingerprint, then the
    NFO) at ~1.7 µs each per episode. Text that is not a JSON object stays text, for the readers
    to judge as they always did (``nfo.properties``); an unchanged run decodes it once either way.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if type(value) is dict else text


def _episode_rank(relation: Sequence[Any], preferred: dict[int, int]) -> tuple[int, int, int]:
    """Order of an episode relation ``(episode_id, series_id, id, account_id, priority, ...)``:
    the series' chosen account first, then the highest account priority, then the lowest id."""
    _episode_id, series_id, rel_id, account_id, priority = relation[:5]
    return (0 if account_id == preferred[series_id] else 1, -(priority or 0), rel_id)


def eligible_relations(relation_model, settings: Settings):
    """A queryset of ``relation_model`` rows that are eligible, for aggregate counts in SQL.

    The same rule as :class:`CategoryRules`, expressed as a filter: active account, and a null
    category or one enabled for that account and allowed by the settings' filters.
    """
    from django.db.models import Exists, OuterRef, Q

    m = resolver.models()
    enabled = m.M3UVODCategoryRelation.objects.filter(
        m3u_account_id=OuterRef("m3u_account_id"), category_id=OuterRef("category_id"), enabled=True
    )
    qs = relation_model.objects.filter(m3u_account__is_active=True).filter(
        Q(category__isnull=True) | Q(Exists(enabled))
    )
    include, exclude = _Matcher(settings.categories_include), _Matcher(settings.categories_exclude)
    if include:
        qs = qs.filter(_matcher_q(include))
    if exclude:
        qs = qs.exclude(_matcher_q(exclude))
    return qs.order_by()


def count_eligible(section: str, settings: Settings) -> int:
    """Eligible movies or series (one aggregate query): the total a progress bar counts towards."""
    from django.db.models import Exists, OuterRef

    m = resolver.models()
    if section == "movies":
        relations = eligible_relations(m.M3UMovieRelation, settings).filter(movie_id=OuterRef("pk"))
        items = m.Movie.objects.filter(Exists(relations))
        if settings.adult_mode == "exclude":
            items = items.filter(is_adult=False)
        return items.count()
    relations = eligible_relations(m.M3USeriesRelation, settings).filter(series_id=OuterRef("pk"))
    return m.Series.objects.filter(Exists(relations)).count()


def _matcher_q(matcher: _Matcher):
    from django.db.models import Q

    q = Q(category_id__in=matcher.ids)
    for name in matcher.names:
        q |= Q(category__name__iexact=name)
    return q
