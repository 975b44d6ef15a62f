"""Plain rows the catalog queries yield and the renderers consume; read-only by convention.

Rows hold only values (no model instances, no lazy relations), so nothing downstream can trigger
a query by accident, and rendering is a pure function of a row and the settings.

They are not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, 2.8 µs
an episode row against 0.6 µs, about 5 s of a 1.1M-item unchanged run (docs/performance.md). Use
``dataclasses.replace`` to derive a changed row.

``uuid`` is what the database driver gives (a ``UUID``, or text): only a rendered ``.strm`` needs
it as text (``strm.uuid_text``), and ``str()`` on every row cost 2 µs, 2 s of an unchanged run that
renders nothing. Episode rows skip Django's converters altogether (``queries._unconverted``), so
their ``created_at`` may be naive (SQLite), and their ``custom_properties`` JSON text when it holds
no JSON object (``queries._json_object`` decodes the rest once): every reader in ``library`` takes
those as they are.
Field order matters: ``catalog.queries`` builds rows positionally, from its column lists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(slots=True)
class Source:
    """The relation chosen for an item: which account serves it, and under which stream id."""

    relation_id: int
    account_id: int
    account_name: str
    stream_id: str
    container_extension: str | None
    category_id: int | None
    category_name: str | None
    #: The provider's own URL from the relation's ``get_stream_url()`` (None for non-XC accounts).
    #: Carries credentials: rendered into .strm files only in "direct" URL mode, never logged.
    direct_url: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class MovieRow:
    id: int
    uuid: UUID | str
    name: str
    description: str | None
    year: int | None
    rating: str | None
    genre: str | None
    duration_secs: int | None
    is_adult: bool
    tmdb_id: str | None
    imdb_id: str | None
    custom_properties: Any
    created_at: dt.datetime | None
    logo_url: str | None
    source: Source


@dataclass(slots=True)
class EpisodeRow:
    id: int
    uuid: UUID | str
    name: str
    description: str | None
    air_date: dt.date | None
    rating: str | None
    duration_secs: int | None
    season_number: int | None
    episode_number: int | None
    tmdb_id: str | None
    imdb_id: str | None
    custom_properties: Any
    created_at: dt.datetime | None
    source: Source


@dataclass(slots=True)
class SeriesRow:
    id: int
    uuid: UUID | str
    name: str
    description: str | None
    year: int | None
    rating: str | None
    genre: str | None
    tmdb_id: str | None
    imdb_id: str | None
    custom_properties: Any
    created_at: dt.datetime | None
    logo_url: str | None
    is_adult: bool
    source: Source
    #: Eligible episodes, ordered by (season_number, episode_number, id).
    episodes: tuple[EpisodeRow, ...] = ()
