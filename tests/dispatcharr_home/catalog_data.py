"""One small but varied catalog, built identically in either home (standalone or Dispatcharr).

Everything that reaches a file is fixed — primary keys, uuids, ``created_at`` — so both homes
must produce byte-identical libraries from it. Covers: several accounts and priorities, an
inactive account, enabled/disabled categories, prefixed and non-Latin titles, missing years and
ids, an adult movie, specials, a series without episodes, an ineligible series.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

CREATED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS = {"base_url": "http://dispatcharr.lan:9191", "chunk_size": 2, "max_workers": 2}


def _uuid(n: int) -> uuid.UUID:
    return uuid.UUID(int=0x5EED_0000_0000_0000_0000_0000_0000_0000 + n)


def build(m) -> None:
    """Create the catalog through the home's models (``vod2strm.catalog.resolver.models()``)."""
    a = m.M3UAccount.objects.create(
        id=1, name="Provider A", server_url="http://a.example:8080/player_api.php", account_type="XC",
        username="alice", password="secret", is_active=True, priority=2,
    )  # fmt: skip
    b = m.M3UAccount.objects.create(
        id=2, name="Provider B", server_url="http://b.example", account_type="XC",
        username="bob", password="hunter2", is_active=True, priority=1,
    )  # fmt: skip
    old = m.M3UAccount.objects.create(
        id=3, name="Old", server_url="http://old.example", account_type="XC", is_active=False
    )
    action = m.VODCategory.objects.create(id=1, name="Action", category_type="movie")
    adult = m.VODCategory.objects.create(id=2, name="Adult", category_type="movie")
    drama = m.VODCategory.objects.create(id=3, name="Drama", category_type="series")
    kids = m.VODCategory.objects.create(id=4, name="Kids", category_type="series")
    for pk, (account, category, enabled) in enumerate(
        [(a, action, True), (a, adult, True), (a, drama, True), (a, kids, False), (b, action, True)], start=1
    ):
        m.M3UVODCategoryRelation.objects.create(
            id=pk, m3u_account=account, category=category, enabled=enabled
        )
    poster = m.VODLogo.objects.create(id=1, name="matrix.jpg", url="https://img.example/matrix.jpg")

    def movie(pk, name, rels, **fields):
        item = m.Movie.objects.create(id=pk, uuid=_uuid(pk), name=name, **fields)
        for rel_pk, account, category, stream in rels:
            m.M3UMovieRelation.objects.create(
                id=rel_pk, m3u_account=account, movie=item, category=category, stream_id=stream,
                container_extension="mkv",
            )  # fmt: skip

    movie(
        1, "EN - The Matrix", [(1, a, action, "101"), (2, b, action, "201")], year=1999, tmdb_id="603",
        imdb_id="tt0133093", logo=poster, description="A hacker learns the truth.", genre="Action, Sci-Fi",
        rating="8.7", duration_secs=8160,
        custom_properties={"backdrop_path": ["https://img.example/bd.jpg"], "director": "Lana Wachowski"},
    )  # fmt: skip
    movie(2, "Amélie", [(3, b, None, "202")], year=2001, imdb_id="tt0211915")
    movie(3, "Heat", [(4, a, action, "103")])
    movie(4, "Adult Film", [(5, a, adult, "104")], year=2020, is_adult=True)
    movie(5, "Gone", [(6, old, None, "301")], year=1990)
    movie(6, "千と千尋の神隠し", [(7, a, None, "106")], year=2001, tmdb_id="129")

    def series(pk, name, account, category, external, **fields):
        item = m.Series.objects.create(id=pk, uuid=_uuid(100 + pk), name=name, **fields)
        rel = m.M3USeriesRelation.objects.create(
            id=pk, m3u_account=account, series=item, category=category, external_series_id=external
        )
        return item, rel

    bb, bb_rel = series(1, "|UK| Breaking Bad", a, drama, "5001", year=2008, tmdb_id="1396", genre="Drama")
    episodes = [
        (1, 1, 1, "Pilot"),
        (2, 1, 2, "Cat's in the Bag..."),
        (3, 0, 1, "Special"),
        (4, 2, 100, "Long"),
    ]
    for pk, season, number, name in episodes:
        ep = m.Episode.objects.create(
            id=pk, uuid=_uuid(200 + pk), series=bb, season_number=season, episode_number=number, name=name,
            air_date=dt.date(2008, 1, 20 + pk), duration_secs=2820,
        )  # fmt: skip
        m.M3UEpisodeRelation.objects.create(
            id=pk,
            m3u_account=a,
            episode=ep,
            series_relation=bb_rel,
            stream_id=f"e{pk}",
            container_extension="mp4",
        )
    kids_show, kids_rel = series(2, "Kids Show", a, kids, "5002", year=2015)
    ep = m.Episode.objects.create(
        id=5, uuid=_uuid(205), series=kids_show, season_number=1, episode_number=1, name="K"
    )
    m.M3UEpisodeRelation.objects.create(
        id=5, m3u_account=a, episode=ep, series_relation=kids_rel, stream_id="k1"
    )
    series(3, "No Episodes Yet", b, None, "6001", year=2022)

    for model in (m.Movie, m.Series, m.Episode):
        model.objects.update(created_at=CREATED)


def rows(settings) -> dict[str, Any]:
    """The catalog queries' rows, as JSON-ready data."""
    from vod2strm.catalog import queries

    def plain(row):
        return json.loads(json.dumps(dataclasses.asdict(row), default=str))

    return {
        "movies": [plain(r) for r in queries.iter_movies(settings)],
        "series": [plain(r) for r in queries.iter_series(settings)],
    }


def digest(root: Path) -> dict[str, str]:
    """Every library file under ``root``: relative path -> sha256 of its bytes. The root marker is
    left out: it names the state that owns the root, which differs between two homes."""
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.parent == root and name == ".vod2strm-root":
                continue
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(found.items()))
