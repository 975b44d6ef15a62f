"""A demo catalog for the standalone home: realistic, deterministic, and fast at bench sizes.

``load_demo`` fills the standalone catalog with three providers, their categories, movies, series,
seasons and episodes, including the awkward cases the core must survive (docs/catalog.md):
provider-prefixed titles, non-Latin scripts, characters that are illegal in file names, two movies
sharing a title and year, adult titles, specials (season 0), a daily show with episode numbers
above 99, series without episodes, items at two providers (the best relation is chosen by
priority), an inactive provider, disabled categories and relations without a category.

The first items of each kind are hand-written edge cases (26 movies, 10 series); the rest are drawn
from ``random.Random(seed)``. Everything, including uuids and primary keys, is a function of the
arguments: the same call on an empty catalog produces the same rows.

Speed: rows are built in streamed batches of :data:`BATCH_SIZE` as tuples with explicit primary
keys and written with ``executemany`` (see :class:`_Table` for why not ``bulk_create``) inside one
transaction, so memory stays flat and 1M episodes load in minutes. A reset empties the catalog
tables with one flush statement per table (``TRUNCATE`` on PostgreSQL), never through Django's
cascading deletes.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.core.management.color import no_style
from django.db import connections, models, router, transaction
from django.utils import timezone

from vod2strm.catalog import resolver
from vod2strm.errors import ConfigError

Progress = Callable[[str, int, int], None]

#: Rows per ``bulk_create`` call and per streamed batch.
BATCH_SIZE = 5000
#: Series per batch: their seasons and episodes are built and written before the next batch.
SERIES_BATCH = 500

# --- accounts and categories -------------------------------------------------------------------

A, B, OLD = 0, 1, 2  # account indexes; primary keys are index + 1
ACCOUNTS = (
    # name, account_type, server_url, username, password, is_active, priority
    ("Provider A", "XC", "http://provider-a.example.com:8080", "demo_a", "secret_a", True, 10),
    ("Provider B", "XC", "http://provider-b.example.net/player_api.php", "demo_b", "secret_b", True, 5),
    (
        "Old Provider",
        "STD",
        "http://old-provider.example.org/get.php?username=old&password=old&type=m3u_plus",
        None,
        None,
        False,
        20,
    ),
)

MOVIE_CATEGORIES = (
    "Action",
    "Comedy",
    "Drama",
    "Thriller",
    "Horror",
    "Science Fiction",
    "Documentaries",
    "Kids & Family",
    "Classics",
    "EN - Top Movies",
    "4K UHD Movies",
    "World Cinema",
    "XXX Adult",
)
SERIES_CATEGORIES = (
    "Drama Series",
    "Comedy Series",
    "Crime Series",
    "Kids Series",
    "Documentary Series",
    "Reality",
    "Anime",
    "Talk Shows",
    "|UK| British TV",
)
#: Category names disabled per account (the same category stays enabled at the others).
DISABLED = {A: ("Horror", "Reality"), B: ("Documentaries", "Anime", "XXX Adult"), OLD: ("Classics",)}
ADULT_CATEGORY = "XXX Adult"
WORLD_CATEGORY = "World Cinema"
_PLAIN_MOVIE_CATEGORIES = tuple(c for c in MOVIE_CATEGORIES if c not in (ADULT_CATEGORY, WORLD_CATEGORY))

# --- word pools for titles, people and plots ---------------------------------------------------

_ADJECTIVES = (
    "Silent", "Broken", "Crimson", "Hidden", "Last", "Golden", "Frozen", "Burning", "Lost", "Distant",
    "Wild", "Quiet", "Dark", "Bright", "Endless", "Hollow", "Savage", "Gentle", "Secret", "Final",
    "Midnight", "Electric", "Iron", "Velvet", "Wandering", "Sleeping", "Forgotten", "Restless", "Scarlet",
    "Northern", "Southern", "Eastern", "Western", "Shattered", "Painted", "Twisted", "Glass", "Paper",
    "Stolen", "Howling",
)  # fmt: skip
_NOUNS = (
    "Harbor", "River", "Empire", "Garden", "Mirror", "Storm", "Frontier", "Kingdom", "Shadow", "Signal",
    "Orchard", "Station", "Witness", "Horizon", "Voyage", "Lantern", "Fortress", "Island", "Canyon",
    "Promise", "Circus", "Machine", "Letter", "Stranger", "Desert", "Legacy", "Compass", "Prophecy",
    "Highway", "Carnival", "Valley", "Detective", "Heart", "Summer", "Winter", "Tide", "Crown", "Orbit",
    "Bridge", "Forest", "Engine", "Ghost", "Dancer", "Archive", "Border", "Cathedral", "Hunter", "Echo",
)  # fmt: skip
_PLACES = (
    "Paris", "Tokyo", "Brooklyn", "Berlin", "the Valley", "Cairo", "Lisbon", "Havana", "the North",
    "Marrakesh", "Oslo", "the City", "Nowhere", "Manhattan", "Saigon", "Vienna", "Dublin", "Texas",
)  # fmt: skip
_SUBTITLES = (
    "The Beginning", "Reckoning", "Rise of the Fallen", "A New Dawn", "The Last Stand", "Homecoming",
    "Origins", "The Final Chapter", "Resurrection", "Part II", "Legacy", "Endgame", "Redemption",
)  # fmt: skip
_SEQUELS = ("2", "3", "II", "III", "Part 2", "Returns", "Reloaded")
_PREFIXES = ("EN - ", "|UK| ", "4K-", "FR - ", "|DE| ", "[NL] ", "HD - ", "EN| ")
_CYRILLIC = (
    "Зимняя дорога", "Тайна старого дома", "Последний рубеж", "Город грехов", "Ночной дозор",
    "Брат и сестра", "Море волнуется", "Свет далёкой звезды", "Дом на краю", "Холодное лето",
)  # fmt: skip
_CJK = (
    "静かな海", "夜の街", "風の谷の少年", "龍の伝説", "春の雨", "最后的约定", "长城之夜", "花与剑",
    "서울의 밤", "마지막 약속", "月光の下で", "山の向こう",
)  # fmt: skip
_ARABIC = ("الطريق إلى البيت", "ليلة في القاهرة", "صمت البحر", "رمال الصحراء", "الحلم الأخير")
_GREEK_HEBREW = ("Το τελευταίο καλοκαίρι", "Η σιωπή της θάλασσας", "הבית ברחוב הרצל", "אור אחרון")
_FIRST = (
    "Anna", "James", "Maria", "Wei", "Olga", "Ahmed", "Sofia", "Lucas", "Yuki", "Daniel", "Emma", "Omar",
    "Ingrid", "Pedro", "Chloe", "Ivan", "Leila", "Noah", "Hana", "Marco",
)  # fmt: skip
_LAST = (
    "Carter", "Novak", "Tanaka", "Haddad", "Silva", "Petrov", "Okafor", "Larsen", "Moreau", "Kim",
    "Rossi", "Walsh", "Chen", "Schmidt", "Alvarez", "Nakamura", "O'Brien", "Dubois", "Kowalski", "Singh",
)  # fmt: skip
_GENRES = (
    "Action", "Adventure", "Comedy", "Drama", "Thriller", "Horror", "Science Fiction", "Romance",
    "Crime", "Documentary", "Animation", "Family", "Fantasy", "Mystery", "War", "Western",
)  # fmt: skip
_PLOT_OPENERS = (
    "A retired detective", "Two estranged sisters", "A young engineer", "An unlikely crew",
    "A small-town doctor", "A disgraced journalist", "A family of farmers", "A lonely astronaut",
)  # fmt: skip
_PLOT_TWISTS = (
    "must confront a secret buried for decades", "are pulled into a conspiracy that reaches the top",
    "discovers the past is not what it seemed", "races against time to save a forgotten town",
    "fall in love in the worst possible week", "uncovers a mystery on the edge of the map",
)  # fmt: skip
_EPISODE_TITLES = (
    "Pilot", "The Arrival", "Crossroads", "Old Friends", "The Long Night", "Fault Lines", "Homecoming",
    "Smoke and Mirrors", "The Reckoning", "Point of No Return", "Small Mercies", "Ghosts", "Checkmate",
    "Open Water", "The Visitor", "Loose Ends", "Blood Moon", "The Bargain", "Aftermath", "New Rules",
)  # fmt: skip
_SPECIAL_TITLES = ("Behind the Scenes", "Christmas Special", "Unaired Pilot", "Cast Reunion", "Bloopers")
_EXTENSIONS = ("mkv", "mp4", "mp4", "avi", None)


# --- specs ---------------------------------------------------------------------------------------


@dataclass
class _Spec:
    """One movie or series before it becomes rows; unset fields are drawn from the rng."""

    name: str
    year: int | None = None
    no_year: bool = False
    ids: str = "random"  # "random" | "both" | "tmdb" | "imdb" | "none"
    #: (account index, category name or None); the first entry is the "home" provider.
    offers: list[tuple[int, str | None]] = field(default_factory=list)
    adult: bool = False
    logo: bool | None = None
    props: str = "random"  # "random" | "full" | "none" | "odd"
    description: str | None = None
    # series only
    empty: bool = False
    special_season: bool | None = None
    daily: bool = False


def _movie_specials() -> list[_Spec]:
    long_latin = (
        "The Extraordinarily Long and Winding Chronicle of a Lighthouse Keeper Who Counted Every Wave "
        "Between the Northern Cape and the Southern Islands Until the Sea Finally Answered Him Back"
    )
    long_cjk = "長い長い夜の物語" * 15  # 120 characters, 360 bytes in UTF-8: longer than a path component
    return [
        _Spec("EN - The Silent Harbor", 2019, ids="both", offers=[(A, "Drama"), (B, "Drama")]),
        _Spec("|UK| Morning Tide", 2021, offers=[(B, "Comedy")]),
        _Spec("4K-Northern Lights", 2023, offers=[(A, "4K UHD Movies")]),
        _Spec("Зимняя дорога", 2015, ids="tmdb", offers=[(A, WORLD_CATEGORY)]),
        _Spec("静かな海", 2018, ids="tmdb", offers=[(B, WORLD_CATEGORY)]),
        _Spec("الطريق إلى البيت", 2012, ids="both", offers=[(A, WORLD_CATEGORY)]),
        _Spec("Mission: Unknown", 2016, offers=[(A, "Action")]),
        _Spec("Who Killed the Moon?", 2020, offers=[(A, "Thriller")]),
        _Spec("Love/Hate", 2009, offers=[(B, "Drama")]),
        _Spec("The Return", 2019, ids="tmdb", offers=[(A, "Thriller")]),
        _Spec("The Return", 2019, ids="tmdb", offers=[(B, "Drama")]),
        _Spec("[XXX] Midnight Desires", 2017, adult=True, offers=[(A, ADULT_CATEGORY)]),
        _Spec(
            "Untitled Road Movie", no_year=True, ids="none", logo=False, props="none", offers=[(A, "Drama")]
        ),
        _Spec("Harbor Lights", 2005, ids="imdb", offers=[(A, "Classics")]),
        _Spec("Heatwave (1995)", 1995, offers=[(B, "Action")]),
        _Spec("Forgotten Signal", 2001, offers=[(OLD, "Science Fiction")]),
        _Spec("Night of the Harvest", 2013, offers=[(A, "Horror")]),
        _Spec("Ordinary Tuesday", 2022, offers=[(A, None)]),
        _Spec("Copper Canyon", 2014, ids="both", offers=[(B, "Action"), (OLD, "Action")]),
        _Spec("Glass Houses", 2011, ids="tmdb", props="odd", offers=[(A, "Drama")]),
        _Spec(long_latin, 2008, offers=[(B, "Drama")]),
        _Spec(long_cjk, 2010, offers=[(A, WORLD_CATEGORY)]),
        _Spec("CON", 2010, offers=[(A, "Comedy")]),
        _Spec(
            "Static Noise",
            2003,
            description="Provider text with control characters:\x01 a bell\x07 and a vertical tab\x0b.",
            offers=[(B, "Thriller")],
        ),
        _Spec("GHOST TOWN", 2008, ids="tmdb", offers=[(A, "Comedy")]),
        _Spec("Ghost Town", 2008, ids="tmdb", offers=[(B, "Comedy")]),
    ]


def _series_specials() -> list[_Spec]:
    return [
        _Spec("EN - Harbor Police", 2012, ids="both", special_season=True,
              offers=[(A, "Crime Series"), (B, "Crime Series")]),
        _Spec("The Late Evening Show", 2015, ids="tmdb", daily=True, special_season=False,
              offers=[(A, "Talk Shows")]),
        _Spec("Тайны города", 2019, ids="tmdb", offers=[(B, "Drama Series")]),
        _Spec("Empty Shelf", 2020, empty=True, offers=[(A, "Comedy Series")]),
        _Spec("|UK| Village Tales", 2016, special_season=True, offers=[(B, "|UK| British TV")]),
        _Spec("Crime: Unit 7", 2018, ids="both", offers=[(A, "Crime Series")]),
        _Spec("Old Station", 2004, offers=[(OLD, "Drama Series")]),
        _Spec("深夜食堂の物語", 2009, ids="tmdb", offers=[(A, "Drama Series")]),
        _Spec("Reality Island", 2021, offers=[(A, "Reality")]),
        _Spec("Backyard Builders", no_year=True, ids="none", logo=False, props="none", empty=True,
              offers=[(B, None)]),
    ]  # fmt: skip


def _random_title(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.015:
        return rng.choice(_CYRILLIC)
    if roll < 0.03:
        return rng.choice(_CJK)
    if roll < 0.037:
        return rng.choice(_ARABIC)
    if roll < 0.04:
        return rng.choice(_GREEK_HEBREW)
    pattern = rng.random()
    if pattern < 0.35:
        title = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    elif pattern < 0.55:
        title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    elif pattern < 0.7:
        title = f"{rng.choice(_NOUNS)} of the {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    elif pattern < 0.8:
        noun = rng.choice(_NOUNS)
        title = f"{'An' if noun[0] in 'AEIOU' else 'A'} {noun} in {rng.choice(_PLACES)}"
    elif pattern < 0.88:
        title = f"{rng.choice(_FIRST)}'s {rng.choice(_NOUNS)}"
    elif pattern < 0.93:
        title = f"Who Stole the {rng.choice(_NOUNS)}?"
    elif pattern < 0.97:
        title = f"{rng.choice(_NOUNS)}/{rng.choice(_NOUNS)}"
    else:
        title = f"Mr. & Mrs. {rng.choice(_LAST)}"
    extra = rng.random()
    if extra < 0.2:
        title = f"{title}: {rng.choice(_SUBTITLES)}"
    elif extra < 0.3:
        title = f"{title} {rng.choice(_SEQUELS)}"
    if rng.random() < 0.15:
        title = rng.choice(_PREFIXES) + title
    return title


def _random_year(rng: random.Random) -> int:
    return max(1930, min(2025, int(2025 - abs(rng.gauss(0, 14)))))


def _random_offers(rng: random.Random, categories: tuple[str, ...]) -> list[tuple[int, str | None]]:
    roll = rng.random()
    home = A if roll < 0.55 else B if roll < 0.9 else OLD
    offers: list[tuple[int, str | None]] = [(home, rng.choice(categories) if rng.random() > 0.05 else None)]
    if rng.random() < 0.2:
        other = rng.choice([x for x in (A, B, OLD) if x != home])
        offers.append((other, rng.choice(categories)))
    return offers


def _random_movie_spec(rng: random.Random) -> _Spec:
    name = _random_title(rng)
    adult = rng.random() < 0.02
    if adult:
        kind = rng.choice(("Desires", "Nights", "Affairs"))
        name = f"[XXX] {rng.choice(_ADJECTIVES)} {kind} {rng.randint(1, 40)}"
        offers: list[tuple[int, str | None]] = [(rng.choice((A, A, B)), ADULT_CATEGORY)]
    elif name[:1] > "\u024f":  # a non-Latin title
        offers = [(rng.choice((A, B)), WORLD_CATEGORY)]
    else:
        offers = _random_offers(rng, _PLAIN_MOVIE_CATEGORIES)
    spec = _Spec(name, adult=adult, offers=offers)
    if rng.random() < 0.08:
        spec.no_year = True
    elif rng.random() < 0.03:
        spec.year = _random_year(rng)
        spec.name = f"{name} ({spec.year})"  # the year doubled in the name, as providers do
    return spec


def _random_series_spec(rng: random.Random) -> _Spec:
    spec = _Spec(_random_title(rng), offers=_random_offers(rng, SERIES_CATEGORIES))
    if rng.random() < 0.06:
        spec.no_year = True
    return spec


# --- loader --------------------------------------------------------------------------------------


class _Counters:
    """Explicit primary keys and per-account stream ids: deterministic and no RETURNING needed."""

    def __init__(self) -> None:
        self.pk: dict[str, int] = {}
        self.tmdb = 10_000
        self.imdb = 1_000_000
        self.movie_stream = [100_000, 100_000, 100_000]
        self.episode_stream = [1_000_000, 1_000_000, 1_000_000]
        self.series_external = [5_000, 5_000, 5_000]

    def next(self, kind: str) -> int:
        self.pk[kind] = self.pk.get(kind, 0) + 1
        return self.pk[kind]

    def next_tmdb(self, rng: random.Random) -> str:
        self.tmdb += rng.randint(1, 37)  # increasing, hence unique, but not a tidy sequence
        return str(self.tmdb)

    def next_imdb(self, rng: random.Random) -> str:
        self.imdb += rng.randint(1, 97)
        return f"tt{self.imdb:07d}"


_MISSING = object()
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)


class _Table:
    """Rows of one catalog model as tuples of database values, written with ``executemany``
    (``COPY`` on PostgreSQL).

    ``bulk_create`` compiles one multi-row INSERT per batch and spends most of its time preparing
    each value through generic machinery: measured on SQLite, 12 s per 100k episodes against 2 s
    for the same rows through ``executemany``. Values are still converted by each field's own
    ``get_db_prep_save`` (uuids, JSON, dates), so the stored bytes are what the ORM would write;
    only plain text, numbers, booleans and foreign keys pass through untouched.

    ``table(field=value, ...)`` returns one row; every field must be given (``created_at`` and
    ``updated_at`` are filled with the load's timestamp), except nullable ones, which default to NULL.
    """

    def __init__(self, model: type[resolver.CatalogModel], connection, now: dt.datetime) -> None:
        qn = connection.ops.quote_name
        fields = model._meta.concrete_fields
        self.model = model
        self.connection = connection
        table, columns = qn(model._meta.db_table), ", ".join(qn(f.column) for f in fields)
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        self.copy_sql = f"COPY {table} ({columns}) FROM STDIN"
        self.plan: list[tuple[str, Callable[[Any], Any] | None, Any, Any]] = []
        for f in fields:
            fixed = _MISSING
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                fixed = f.get_db_prep_save(now, connection)
            adapt: Callable[[Any], Any] | None = None
            if not isinstance(f, _PLAIN_FIELDS):
                adapt = functools.partial(f.get_db_prep_save, connection=connection)
                if isinstance(f, models.DateField):  # DateTimeField too: few distinct values
                    adapt = functools.lru_cache(maxsize=4096)(adapt)
            self.plan.append((f.attname, adapt, fixed, None if f.null else _MISSING))
        self.accepted = {name for name, _, fixed, _ in self.plan if fixed is _MISSING}

    def __call__(self, **values: Any) -> tuple:
        row = []
        for name, adapt, fixed, default in self.plan:
            if fixed is not _MISSING:
                row.append(fixed)
                continue
            value = values.get(name, default)
            if value is _MISSING:
                raise TypeError(f"{self.model.__name__}: no value for {name}")
            row.append(value if adapt is None or value is None else adapt(value))
        if len(values) > len(self.accepted) or not values.keys() <= self.accepted:
            raise TypeError(f"{self.model.__name__}: unknown fields {sorted(values.keys() - self.accepted)}")
        return tuple(row)

    def insert(self, rows: list[tuple]) -> None:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                # COPY: one stream per batch instead of a statement per row (psycopg 3).
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.sql, rows)


class _Loader:
    def __init__(self, seed: int, connection, progress: Progress | None) -> None:
        self.now = timezone.now().replace(microsecond=0)
        catalog = resolver.models()
        self.m = SimpleNamespace(
            **{name: _Table(getattr(catalog, name), connection, self.now) for name in catalog._fields}
        )
        self.rng = random.Random(seed)
        self.progress = progress or (lambda stage, done, total: None)
        self.ids = _Counters()
        self.counts = dict.fromkeys(
            (
                "accounts",
                "categories",
                "category_relations",
                "logos",
                "movies",
                "movie_relations",
                "series",
                "series_relations",
                "episodes",
                "episode_relations",
            ),
            0,
        )
        self.category_ids: dict[tuple[str, str], int] = {}
        self.noid_names: set[tuple[str, int | None]] = set()

    # writing

    def _write(self, key: str, table: _Table, rows: list[tuple]) -> None:
        if rows:
            table.insert(rows)
            self.counts[key] += len(rows)
            rows.clear()

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # accounts and categories

    def load_accounts(self) -> None:
        m = self.m
        accounts = [
            m.M3UAccount(
                id=i + 1,
                name=name,
                account_type=kind,
                server_url=url,
                username=user,
                password=password,
                is_active=active,
                priority=priority,
                custom_properties={},
            )
            for i, (name, kind, url, user, password, active, priority) in enumerate(ACCOUNTS)
        ]
        self._write("accounts", m.M3UAccount, accounts)
        categories = []
        for kind, names in (("movie", MOVIE_CATEGORIES), ("series", SERIES_CATEGORIES)):
            for name in names:
                pk = self.ids.next("category")
                self.category_ids[(kind, name)] = pk
                categories.append(m.VODCategory(id=pk, name=name, category_type=kind))
        self._write("categories", m.VODCategory, categories)
        relations = [
            m.M3UVODCategoryRelation(
                id=self.ids.next("category_relation"),
                m3u_account_id=account + 1,
                category_id=pk,
                enabled=name not in DISABLED[account],
                custom_properties={},
            )
            for account in (A, B, OLD)
            for (_kind, name), pk in self.category_ids.items()
        ]
        self._write("category_relations", m.M3UVODCategoryRelation, relations)

    # shared by movies and series

    def _content_fields(self, spec: _Spec, kind: str, logos: list) -> dict[str, Any]:
        """Fields Movie and Series share, drawn for ``spec``; appends the logo row to ``logos``."""
        rng = self.rng
        year = None if spec.no_year else (spec.year or _random_year(rng))
        ids = spec.ids
        if ids == "random":
            roll = rng.random()
            ids = "both" if roll < 0.65 else "tmdb" if roll < 0.85 else "imdb" if roll < 0.9 else "none"
        tmdb = self.ids.next_tmdb(rng) if ids in ("both", "tmdb") else None
        imdb = self.ids.next_imdb(rng) if ids in ("both", "imdb") else None
        name = spec.name
        if ids == "none":
            # Dispatcharr's partial unique constraint: (name, year) unique when both ids are null.
            base, n = name, 1
            while (name, year) in self.noid_names:
                n += 1
                name = f"{base} {n}"
            self.noid_names.add((name, year))
        logo_id = None
        if spec.logo if spec.logo is not None else rng.random() < 0.85:
            logo_id = self.ids.next("logo")
            token = f"{rng.getrandbits(64):016x}"
            url = (
                f"https://image.tmdb.org/t/p/w600_and_h900_bestv2/{token}{logo_id}.jpg"
                if tmdb
                else f"http://provider-a.example.com:8080/images/{kind}/{token}{logo_id}.png"
            )
            logos.append(self.m.VODLogo(id=logo_id, name=name, url=url))
        description = spec.description
        if description is None and rng.random() < 0.9:
            description = f"{rng.choice(_PLOT_OPENERS)} {rng.choice(_PLOT_TWISTS)}."
        genres = ", ".join(rng.sample(_GENRES, rng.randint(1, 3))) if rng.random() < 0.9 else None
        rating = f"{rng.uniform(3, 9.5):.1f}" if rng.random() < 0.85 else None
        return {
            "uuid": self._uuid(),
            "name": name,
            "description": description,
            "year": year,
            "rating": rating,
            "genre": genres,
            "logo_id": logo_id,
            "tmdb_id": tmdb,
            "imdb_id": imdb,
            "custom_properties": self._properties(spec, year, tmdb is not None),
        }

    def _person(self) -> str:
        return f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}"

    def _properties(self, spec: _Spec, year: int | None, has_tmdb: bool) -> dict[str, Any] | None:
        rng = self.rng
        kind = spec.props
        if kind == "random":
            roll = rng.random()
            kind = "none" if roll < 0.15 else "odd" if roll < 0.18 else "full" if has_tmdb else "some"
        if kind == "none":
            return None
        token = f"{rng.getrandbits(48):012x}"
        if kind == "odd":  # oddly typed values, as some providers send them
            return {
                "backdrop_path": f"https://image.tmdb.org/t/p/w1280/{token}.jpg",
                "actors": [self._person(), self._person()],
                "director": None,
                "release_date": "unknown",
                "youtube_trailer": 0,
            }
        props: dict[str, Any] = {
            "country": rng.choice(("United States", "United Kingdom", "France", "Japan"))
        }
        if kind == "full":
            props["backdrop_path"] = [
                f"https://image.tmdb.org/t/p/w1280/{token}{n}.jpg" for n in range(rng.randint(1, 3))
            ]
            props["director"] = self._person()
            props["actors" if rng.random() < 0.7 else "cast"] = ", ".join(
                self._person() for _ in range(rng.randint(2, 5))
            )
            props["youtube_trailer"] = f"{rng.getrandbits(60):015x}"[:11]
        if year is not None and rng.random() < 0.8:
            props["release_date"] = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return props

    # movies

    def load_movies(self, count: int) -> None:
        m, rng = self.m, self.rng
        specials = _movie_specials()
        logos: list = []
        movies: list = []
        relations: list = []
        self.progress("movies", 0, count)
        for i in range(count):
            spec = specials[i] if i < len(specials) else _random_movie_spec(rng)
            pk = self.ids.next("movie")
            fields = self._content_fields(spec, "movie", logos)
            movies.append(
                m.Movie(
                    id=pk,
                    is_adult=spec.adult,
                    duration_secs=rng.randint(75, 185) * 60 + rng.randint(0, 59)
                    if rng.random() < 0.9
                    else None,
                    **fields,
                )
            )
            for account, category in spec.offers:
                self.ids.movie_stream[account] += rng.randint(1, 5)
                relations.append(
                    m.M3UMovieRelation(
                        id=self.ids.next("movie_relation"),
                        m3u_account_id=account + 1,
                        movie_id=pk,
                        category_id=self.category_ids[("movie", category)] if category else None,
                        stream_id=str(self.ids.movie_stream[account]),
                        container_extension=rng.choice(_EXTENSIONS),
                        last_seen=self.now,
                    )
                )
            if len(movies) >= BATCH_SIZE or i == count - 1:
                self._write("logos", m.VODLogo, logos)
                self._write("movies", m.Movie, movies)
                self._write("movie_relations", m.M3UMovieRelation, relations)
                self.progress("movies", i + 1, count)

    # series, seasons, episodes

    @staticmethod
    def _plan_series(count: int) -> Iterator[tuple[int, _Spec | None, bool]]:
        """(index, special spec or None, empty?) per series; emptiness is known up front for totals."""
        specials = _series_specials()
        for i in range(count):
            if i < len(specials):
                yield i, specials[i], specials[i].empty
            else:
                yield i, None, i % 50 == 25

    def load_series(self, count: int, seasons: int, episodes: int) -> None:
        rng = self.rng
        per_series = seasons * episodes
        total_episodes = sum(per_series for _, _, empty in self._plan_series(count) if not empty)
        self.progress("series", 0, count)
        self.progress("episodes", 0, total_episodes)
        batch: list[tuple[int, _Spec, dict, bool, list[tuple[int, int]]]] = []
        for i, special, empty in self._plan_series(count):
            spec = special or _random_series_spec(rng)
            batch.append((i, spec, {}, empty, []))
            if len(batch) >= SERIES_BATCH or i == count - 1:
                self._load_series_batch(batch, seasons, episodes, total_episodes)
                self.progress("series", i + 1, count)
                batch = []

    def _load_series_batch(self, batch: list, seasons: int, episodes: int, total_episodes: int) -> None:
        m, rng = self.m, self.rng
        logos: list = []
        series_rows: list = []
        relations: list = []
        for _i, spec, info, empty, rels in batch:
            pk = self.ids.next("series")
            fields = self._content_fields(spec, "series", logos)
            series_rows.append(m.Series(id=pk, **fields))
            info.update(pk=pk, name=fields["name"], year=fields["year"], tmdb=fields["tmdb_id"])
            for account, category in spec.offers:
                self.ids.series_external[account] += rng.randint(1, 3)
                rel_pk = self.ids.next("series_relation")
                rels.append((rel_pk, account))
                relations.append(
                    m.M3USeriesRelation(
                        id=rel_pk,
                        m3u_account_id=account + 1,
                        series_id=pk,
                        category_id=self.category_ids[("series", category)] if category else None,
                        external_series_id=str(self.ids.series_external[account]),
                        last_episode_refresh=None if empty else self.now,
                        last_seen=self.now,
                    )
                )
        self._write("logos", m.VODLogo, logos)
        self._write("series", m.Series, series_rows)
        self._write("series_relations", m.M3USeriesRelation, relations)

        episode_rows: list = []
        episode_relations: list = []
        for _i, spec, info, empty, rels in batch:
            if empty:
                continue
            with_special = spec.special_season
            if with_special is None:
                with_special = rng.random() < 0.2
            numbers = list(range(1, seasons + 1))
            if with_special and seasons >= 2:
                numbers = [0, *range(1, seasons)]
            first_air = dt.date(info["year"] or 2010, rng.randint(1, 9), rng.randint(1, 28))
            for season in numbers:
                for episode_pk, episode_number, _ in self._episodes(
                    info, spec, season, episodes, first_air, episode_rows
                ):
                    for rel_pk, account in rels:
                        self.ids.episode_stream[account] += 1
                        episode_relations.append(
                            m.M3UEpisodeRelation(
                                id=self.ids.next("episode_relation"),
                                m3u_account_id=account + 1,
                                episode_id=episode_pk,
                                series_relation_id=rel_pk,
                                stream_id=str(self.ids.episode_stream[account]),
                                container_extension=_EXTENSIONS[
                                    (episode_number + account) % len(_EXTENSIONS)
                                ],
                                last_seen=self.now,
                            )
                        )
                    if len(episode_rows) >= BATCH_SIZE:
                        self._flush_episodes(episode_rows, episode_relations, total_episodes)
        self._flush_episodes(episode_rows, episode_relations, total_episodes)

    def _flush_episodes(self, rows: list, relations: list, total: int) -> None:
        if rows:
            self._write("episodes", self.m.Episode, rows)
            self._write("episode_relations", self.m.M3UEpisodeRelation, relations)
            self.progress("episodes", self.counts["episodes"], total)

    def _episodes(
        self, info: dict, spec: _Spec, season: int, count: int, first_air: dt.date, out: list
    ) -> Iterator[tuple[int, int, int]]:
        """Append one season's Episode rows to ``out``; yields (pk, episode number, season)."""
        m, rng = self.m, self.rng
        # A daily show that providers carry only the latest episodes of: numbers run past 99.
        start = max(1, 200 - count) if spec.daily else 1
        step = 1 if spec.daily else 7
        season_start = first_air + dt.timedelta(days=365 * max(season - 1, 0))
        for k in range(count):
            number = start + k
            pk = self.ids.next("episode")
            roll = rng.random()
            if season == 0:
                name = f"{rng.choice(_SPECIAL_TITLES)} {k + 1}"
            elif roll < 0.35:
                name = f"Episode {number}"
            elif roll < 0.45:
                name = f"{info['name']} - S{season:02d}E{number:02d}"
            else:
                name = rng.choice(_EPISODE_TITLES)
                if season == 1 and number == 1:
                    name = "Pilot"
            air_date = None
            if season != 0 and rng.random() < 0.95:
                air_date = season_start + dt.timedelta(days=step * k + (2 * (k // 5) if spec.daily else 0))
            props = None
            if rng.random() < 0.3:
                props = {"movie_image": f"https://image.tmdb.org/t/p/w300/{rng.getrandbits(48):012x}.jpg"}
            out.append(
                m.Episode(
                    id=pk,
                    uuid=self._uuid(),
                    name=name,
                    description=(
                        f"{rng.choice(_PLOT_OPENERS)} {rng.choice(_PLOT_TWISTS)}."
                        if rng.random() < 0.5
                        else None
                    ),
                    air_date=air_date,
                    rating=f"{rng.uniform(5, 9.5):.1f}" if rng.random() < 0.5 else None,
                    duration_secs=rng.randint(20, 60) * 60 if rng.random() < 0.8 else None,
                    series_id=info["pk"],
                    season_number=season,
                    episode_number=number,
                    tmdb_id=self.ids.next_tmdb(rng) if info["tmdb"] and rng.random() < 0.7 else None,
                    imdb_id=None,
                    custom_properties=props,
                )
            )
            yield pk, number, season


def _catalog_models() -> list[type[resolver.CatalogModel]]:
    """Catalog models, children before parents (the order rows must be deleted in)."""
    m = resolver.models()
    return [
        m.M3UEpisodeRelation,
        m.M3USeriesRelation,
        m.M3UMovieRelation,
        m.Episode,
        m.Series,
        m.Movie,
        m.VODLogo,
        m.M3UVODCategoryRelation,
        m.VODCategory,
        m.M3UAccount,
    ]


def catalog_is_empty(using: str | None = None) -> bool:
    """True when no catalog table holds a row (one cheap ``EXISTS`` per table)."""
    return not any(model.objects.using(using).exists() for model in _catalog_models())


def _flush(connection) -> None:
    """Empty every catalog table: TRUNCATE on PostgreSQL, one DELETE per table on SQLite."""
    tables = [model._meta.db_table for model in _catalog_models()]
    if connection.vendor == "postgresql":
        # TRUNCATE refuses tables with pending deferred FK checks (rows inserted earlier in the
        # same transaction): fire them now.
        connection.check_constraints()
    statements = connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=False)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextmanager
def _fast_sqlite(connection) -> Iterator[bool]:
    """On SQLite, load without fsyncs or per-row foreign key checks, with a wider page cache.

    Yields True when foreign key enforcement is off: the caller then checks the whole database
    with ``connection.check_constraints()`` before committing (Django's loaddata does the same).
    Off, SQLite also empties a table with its fast truncate path instead of row by row. Only
    outside a transaction (the pragmas cannot change inside one): in tests nothing changes.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield False
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        synchronous = cursor.fetchone()[0]
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB: keeps the random-uuid indexes hot
    disabled = connection.disable_constraint_checking()
    try:
        yield disabled
    finally:
        if disabled:
            connection.enable_constraint_checking()
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous = {int(synchronous)}")
            cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")


def load_demo(
    *,
    movies: int,
    series: int,
    seasons: int,
    episodes: int,
    seed: int = 1,
    reset: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Load a demo catalog into the standalone home and return the row counts written.

    ``episodes`` is per season. Refuses (ConfigError) outside the standalone home, and on a
    catalog that already has rows unless ``reset`` empties it first. ``progress(stage, done,
    total)`` is called per batch with stage ``"reset"``, ``"movies"``, ``"series"``,
    ``"episodes"`` or ``"check"`` (SQLite's foreign key check at the end).
    """
    if not resolver.is_standalone():
        raise ConfigError(
            "CATALOG", "the demo catalog loads only into the standalone home, never into Dispatcharr's"
        )
    for name, value in (("movies", movies), ("series", series), ("seasons", seasons), ("episodes", episodes)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(name, f"must be a whole number >= 0, got {value!r}")
    catalog_models = _catalog_models()
    alias = router.db_for_write(catalog_models[0])
    connection = connections[alias]
    report = progress or (lambda stage, done, total: None)
    with _fast_sqlite(connection) as unchecked, transaction.atomic(using=alias):
        if not catalog_is_empty(alias):
            if not reset:
                raise ConfigError(
                    "demo", "the catalog already has rows; use --reset to replace them with the demo catalog"
                )
            report("reset", 0, 1)
            _flush(connection)
            report("reset", 1, 1)
        loader = _Loader(seed, connection, report)
        loader.load_accounts()
        loader.load_movies(movies)
        loader.load_series(series, seasons, episodes)
        if unchecked:
            report("check", 0, 1)
            connection.check_constraints()  # every table: a reset must not orphan anyone's rows
            report("check", 1, 1)
        # Explicit primary keys leave PostgreSQL's sequences behind: move them past the rows.
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), catalog_models):
                cursor.execute(sql)
    return loader.counts
