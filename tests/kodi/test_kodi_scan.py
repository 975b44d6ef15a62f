"""A real Kodi scans a library vod2strm generated: every movie, show, season and episode arrives once.

Opt-in: set ``VOD2STRM_TEST_KODI=1`` and have Debian's ``kodi`` and ``xvfb`` installed (``.ci/kodi``
does both). Otherwise the module is skipped, so ``make test`` needs no Kodi.

The catalog holds the cases users reported or that Kodi's scanner is known to trip on: remakes
(one title, two years) of a movie and of a show, with and without ids; a movie and a show without
a year; specials (season 0), seasons 10 and up, episode numbers of 100 and more, an episode
without a number; names holding an ``SxxEyy``-like or ``1x02``-like marker; names Kodi's default
exclude rules or Windows treat specially (``CON``, ``sample``, ``-trailer``, ``Extras``); CJK,
Arabic and emoji titles. The expected library is written out here from the catalog, not derived
from vod2strm's code, and compared with what Kodi's JSON-RPC returns, per kind: movies, shows,
seasons, episodes. A failure names each item missing from Kodi, and each one Kodi has that the
catalog does not (a phantom), with the file Kodi read it from.

``VOD2STRM_TEST_KODI_REPORT=<file>`` also writes the counts and differences as JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
    VODLogoFactory,
)
from tests.kodi import harness
from vod2strm import conf
from vod2strm.jobs import generate

if os.environ.get("VOD2STRM_TEST_KODI") != "1":
    pytest.skip(
        "real-Kodi test: set VOD2STRM_TEST_KODI=1 (and install kodi and xvfb; .ci/kodi does both)",
        allow_module_level=True,
    )
KODI = harness.kodi_binary()
XVFB = harness.xvfb_binary()
if KODI is None or XVFB is None:
    pytest.skip(
        f"real-Kodi test: VOD2STRM_TEST_KODI=1 but {'kodi' if KODI is None else 'Xvfb'} is not installed "
        "(apt-get install kodi xvfb, or run .ci/kodi)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db

POSTER = "https://image.example.org/posters/{}.jpg"


# ---------------------------------------------------------------------------------------------
# The catalog, and what Kodi should show for it

#: The year Kodi shows for a show it has no premiere date for (the epoch of its empty date).
UNDATED_SHOW_YEAR = 1970


@dataclass(frozen=True)
class MovieCase:
    name: str  # the catalog's name
    year: int | None
    title: str  # what Kodi should call it
    tmdb: str | None = None
    imdb: str | None = None
    release_date: str | None = None
    note: str = ""
    #: Kodi's default exclude rules skip it (``sample`` in its path): see docs/media-servers.md.
    default_rules_skip: bool = False

    @property
    def kodi_year(self) -> int:
        if self.year is not None:
            return self.year
        return int(self.release_date[:4]) if self.release_date else 0


@dataclass(frozen=True)
class EpisodeCase:
    season: int | None
    episode: int | None
    name: str
    title: str  # the NFO's title, as Kodi should show it
    default_rules_skip: bool = False

    @property
    def kodi_season(self) -> int:
        return self.season if self.season and self.season > 0 else 0

    @property
    def kodi_episode(self) -> int:
        return self.episode if self.episode and self.episode > 0 else 0


@dataclass(frozen=True)
class ShowCase(MovieCase):
    episodes: tuple[EpisodeCase, ...] = field(default=())

    @property
    def kodi_year(self) -> int:
        return super().kodi_year or UNDATED_SHOW_YEAR


def ep(
    season: int | None, episode: int | None, name: str, title: str | None = None, *, skip: bool = False
) -> EpisodeCase:
    return EpisodeCase(season, episode, name, name if title is None else title, skip)


MOVIES: tuple[MovieCase, ...] = (
    MovieCase("Heat", 1995, "Heat", "949", "tt0113277", "1995-12-15"),
    MovieCase("The Thing", 1982, "The Thing", "1091", "tt0084787", note="remake pair"),
    MovieCase("The Thing", 2011, "The Thing", "60935", "tt0905372", note="remake pair"),
    MovieCase("Crash", 2004, "Crash", note="same title and year, no ids: folder (2)"),
    MovieCase("FR - Crash", 2004, "Crash", note="same title and year, no ids: folder (2)"),
    MovieCase("Untitled Lost Film", None, "Untitled Lost Film", note="no year, no ids"),
    MovieCase("Con", None, "Con", note="DOS device name: folder Con_"),
    MovieCase("Free Sample", 2019, "Free Sample", "571001", default_rules_skip=True),
    MovieCase("Night-Trailer", 2020, "Night-Trailer", "571002", note="'-trailer' in a title"),
    MovieCase("S01E01 Stories", 2016, "S01E01 Stories", "571003", note="SxxEyy marker in a movie"),
    MovieCase("1917", 2019, "1917", "530915", "tt8579674", note="a title that is a year"),
    MovieCase("千と千尋の神隠し", 2001, "千と千尋の神隠し", "129", "tt0245429"),
    MovieCase("الرسالة", 1976, "الرسالة", "571004"),
    MovieCase("🎬 Movie Night 🍿", 2022, "🎬 Movie Night 🍿", "571005"),
)

SHOWS: tuple[ShowCase, ...] = (
    ShowCase(
        "Doctor Who",
        1963,
        "Doctor Who",
        "121",
        "tt0056751",
        "1963-11-23",
        note="remake pair, dated",
        episodes=(ep(1, 1, "An Unearthly Child"), ep(0, 1, "The Five Doctors")),
    ),
    ShowCase(
        "Doctor Who",
        2005,
        "Doctor Who",
        "57243",
        "tt0436992",
        note="remake pair, year only",
        episodes=(ep(1, 1, "Rose"), ep(1, 2, "The End of the World")),
    ),
    ShowCase(
        "Battlestar Galactica",
        1978,
        "Battlestar Galactica",
        "501",
        "tt0076984",
        note="remake pair, ids, year only",
        episodes=(ep(1, 1, "Saga of a Star World"),),
    ),
    ShowCase(
        "Battlestar Galactica",
        2004,
        "Battlestar Galactica",
        "1972",
        "tt0407362",
        note="remake pair, ids, year only",
        episodes=(ep(1, 1, "33"), ep(1, 2, "Water")),
    ),
    ShowCase(
        "Shameless",
        2004,
        "Shameless",
        note="remake pair, no ids, year only",
        episodes=(ep(1, 1, "Frank's Fortune"),),
    ),
    ShowCase(
        "Shameless",
        2011,
        "Shameless",
        note="remake pair, no ids, year only",
        episodes=(ep(1, 1, "Pilot"), ep(1, 2, "Frank the Plank")),
    ),
    ShowCase(
        "Untitled Show", None, "Untitled Show", note="no year, no ids", episodes=(ep(1, 1, "Beginning"),)
    ),
    ShowCase(
        "The Simpsons",
        1989,
        "The Simpsons",
        "456",
        "tt0096697",
        "1989-12-17",
        note="seasons 10+, specials",
        episodes=(
            ep(10, 1, "Lard of the Dance"),
            ep(12, 1, "Treehouse of Horror XI"),
            ep(0, 1, "Good Night"),
            ep(0, 2, "The Simpsons Ride"),
        ),
    ),
    ShowCase(
        "One Piece",
        1999,
        "One Piece",
        "37854",
        note="episode numbers 100+",
        episodes=(
            ep(1, 99, "Ninety-Nine"),
            ep(1, 100, "The Hundredth"),
            ep(1, 1000, "Overwhelming Strength"),
        ),
    ),
    ShowCase(
        "S03E01 Stories",
        2015,
        "S03E01 Stories",
        "571101",
        note="SxxEyy marker in the show's name",
        episodes=(ep(1, 5, "Chapter Five"), ep(2, 3, "Chapter Eight")),
    ),
    ShowCase(
        "Room 1x02",
        2018,
        "Room 1x02",
        "571102",
        note="1x02 marker in the show's name",
        episodes=(ep(1, 1, "Opening"), ep(1, 2, "Closing")),
    ),
    ShowCase(
        "Sample Street",
        2012,
        "Sample Street",
        "571103",
        default_rules_skip=True,
        episodes=(ep(1, 1, "Moving In"),),
    ),
    ShowCase(
        "Bakery Days",
        2016,
        "Bakery Days",
        "571104",
        note="marker and 'sample' in episode titles",
        episodes=(
            ep(1, 1, "Dough"),
            ep(1, 2, "Free Sample", skip=True),
            ep(1, 3, "Recap S03E04"),
            ep(2, None, "Bonus"),
        ),
    ),
    ShowCase("Extras", 2005, "Extras", "4260", "tt0445114", episodes=(ep(1, 1, "Ben Stiller"),)),
    ShowCase("進撃の巨人", 2013, "進撃の巨人", "1429", "tt2560140", episodes=(ep(1, 1, "二千年後の君へ"),)),
    ShowCase("باب الحارة", 2006, "باب الحارة", "571105", episodes=(ep(1, 1, "البداية"),)),
    ShowCase("🔥 Fire Crew", 2021, "🔥 Fire Crew", "571106", episodes=(ep(1, 1, "🚒 First Call"),)),
)


def build_catalog() -> None:
    """The cases above as catalog rows at one active XC account, every item with a poster."""
    account = M3UAccountFactory(name="Main", priority=1)
    for i, case in enumerate(MOVIES):
        movie = MovieFactory(
            name=case.name,
            year=case.year,
            tmdb_id=case.tmdb,
            imdb_id=case.imdb,
            logo=VODLogoFactory(url=POSTER.format(f"movie-{i}")),
            custom_properties={"release_date": case.release_date} if case.release_date else None,
        )
        M3UMovieRelationFactory(movie=movie, m3u_account=account)
    for i, case in enumerate(SHOWS):
        show = SeriesFactory(
            name=case.name,
            year=case.year,
            tmdb_id=case.tmdb,
            imdb_id=case.imdb,
            logo=VODLogoFactory(url=POSTER.format(f"show-{i}")),
            custom_properties={"release_date": case.release_date} if case.release_date else None,
        )
        relation = M3USeriesRelationFactory(series=show, m3u_account=account)
        for case_ep in case.episodes:
            episode = EpisodeFactory(
                series=show, season_number=case_ep.season, episode_number=case_ep.episode, name=case_ep.name
            )
            M3UEpisodeRelationFactory(episode=episode, m3u_account=account, series_relation=relation)


def poster_of(case_index: int, kind: str) -> str:
    return POSTER.format(f"{kind}-{case_index}")


def ids_of(case: MovieCase) -> dict[str, str]:
    return {k: v for k, v in (("tmdb", case.tmdb), ("imdb", case.imdb)) if v}


# ---------------------------------------------------------------------------------------------
# Comparing


def label(title: str, ids: dict[str, str], year: int | None = None) -> str:
    """How an item is named in a comparison: title, year when given, ids."""
    tags = ", ".join(f"{k}={v}" for k, v in sorted(ids.items()))
    return f"{title!r}" + (f" ({year})" if year is not None else "") + (f" [{tags}]" if tags else "")


@dataclass
class Kind:
    """One kind's comparison: what the catalog expects and what Kodi holds, as multisets.

    Shows are described by title, year, ids and poster; their seasons and episodes by the show's
    title and ids only, so a wrong show year is reported once (under tvshows), while two shows
    Kodi merged still miss a season.
    """

    name: str
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    where: dict[str, list[str]] = field(default_factory=dict)  # description -> files Kodi read

    def add_found(self, description: str, file: str = "") -> None:
        self.found[description] += 1
        if file:
            self.where.setdefault(description, []).append(file)

    @property
    def missing(self) -> Counter[str]:
        return self.expected - self.found

    @property
    def phantom(self) -> Counter[str]:
        return self.found - self.expected

    @property
    def matched(self) -> int:
        return (self.expected & self.found).total()

    def row(self) -> str:
        return (
            f"{self.name:<9} expected {self.expected.total():>3}  in Kodi {self.found.total():>3}  "
            f"matching {self.matched:>3}  missing {self.missing.total():>3}  "
            f"phantom {self.phantom.total():>3}"
        )

    def problems(self) -> Iterator[str]:
        for description, n in sorted(self.missing.items()):
            yield f"  {self.name}: missing {description}" + (f" (x{n})" if n > 1 else "")
        for description, n in sorted(self.phantom.items()):
            files = sorted(set(self.where.get(description, [])))
            yield (
                f"  {self.name}: phantom {description}"
                + (f" (x{n})" if n > 1 else "")
                + (f" <- {'; '.join(files[:3])}" if files else "")
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected.total(),
            "in_kodi": self.found.total(),
            "matching": self.matched,
            "missing": sorted(self.missing.elements()),
            "phantom": sorted(self.phantom.elements()),
        }


def expected_kinds(default_rules: bool) -> dict[str, Kind]:
    """What Kodi should hold; with its default exclude rules, without what they skip."""
    kinds = {name: Kind(name) for name in ("movies", "tvshows", "seasons", "episodes")}
    for i, movie in enumerate(MOVIES):
        if default_rules and movie.default_rules_skip:
            continue
        key = label(movie.title, ids_of(movie), movie.kodi_year)
        kinds["movies"].expected[f"{key} poster={poster_of(i, 'movie')}"] += 1
    for i, show in enumerate(SHOWS):
        if default_rules and show.default_rules_skip:
            continue
        key = label(show.title, ids_of(show), show.kodi_year)
        kinds["tvshows"].expected[f"{key} poster={poster_of(i, 'show')}"] += 1
        episodes = [e for e in show.episodes if not (default_rules and e.default_rules_skip)]
        show_label = label(show.title, ids_of(show))
        for season in sorted({e.kodi_season for e in episodes}):
            kinds["seasons"].expected[f"{show_label} season {season}"] += 1
        for e in episodes:
            kinds["episodes"].expected[
                f"{show_label} S{e.kodi_season:02d}E{e.kodi_episode:02d} {e.title!r}"
            ] += 1
    return kinds


def uniqueids(item: dict[str, Any]) -> dict[str, str]:
    found = item.get("uniqueid") or {}
    return {k: v for k, v in found.items() if k in ("tmdb", "imdb") and v}


def poster(item: dict[str, Any]) -> str:
    art = item.get("art") or {}
    return harness.image_url(art.get("poster") or item.get("thumbnail"))


def found_kinds(kodi: harness.Kodi, kinds: dict[str, Kind]) -> list[str]:
    """Kodi's library into ``kinds``; returns the files Kodi holds (movies, shows, episodes)."""
    files: list[str] = []
    for movie in kodi.movies():
        key = label(movie.get("title", ""), uniqueids(movie), int(movie.get("year") or 0))
        kinds["movies"].add_found(f"{key} poster={poster(movie)}", movie.get("file", ""))
        files.append(movie.get("file", ""))
    for show in kodi.tvshows():
        key = label(show.get("title", ""), uniqueids(show), int(show.get("year") or 0))
        kinds["tvshows"].add_found(f"{key} poster={poster(show)}", show.get("file", ""))
        files.append(show.get("file", ""))
        show_label = label(show.get("title", ""), uniqueids(show))
        for season in kodi.seasons(show["tvshowid"]):
            kinds["seasons"].add_found(f"{show_label} season {season.get('season')}", show.get("file", ""))
        for episode in kodi.episodes(show["tvshowid"]):
            code = f"S{int(episode.get('season', -1)):02d}E{int(episode.get('episode', -1)):02d}"
            kinds["episodes"].add_found(
                f"{show_label} {code} {episode.get('title', '')!r}", episode.get("file", "")
            )
            files.append(episode.get("file", ""))
    return files


# ---------------------------------------------------------------------------------------------
# Kodi's exclude rules: its defaults, or the advancedsettings.xml docs/media-servers.md gives

DOCS = Path(__file__).resolve().parents[2] / "docs" / "media-servers.md"


def documented_exclude_rules() -> str:
    """The ``advancedsettings.xml`` of docs/media-servers.md that keeps 'sample' titles scanned."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```xml\n(.*?)```", text, flags=re.DOTALL)
    found = [block for block in blocks if "<excludetvshowsfromscan" in block]
    assert len(found) == 1, f"{DOCS} should hold one ```xml block with <excludetvshowsfromscan>"
    return found[0]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder whose path trips none of Kodi's exclude rules (pytest's names could)."""
    path = Path(tempfile.mkdtemp(prefix="vod2strm-kodi-"))
    if re.search(r"sample|-trailer|[\\/](proof|subs)[\\/]", str(path), re.IGNORECASE):
        shutil.rmtree(path)
        pytest.fail(f"Kodi's exclude rules would skip everything under {path}: set TMPDIR elsewhere")
    try:
        yield path
    finally:
        if os.environ.get("VOD2STRM_TEST_KODI_KEEP") != "1":
            shutil.rmtree(path, ignore_errors=True)


def write_report(rules: str, kinds: dict[str, Kind], timings: dict[str, float]) -> None:
    """``VOD2STRM_TEST_KODI_REPORT=<file>``: the counts and differences, one JSON object per rule set."""
    report_path = os.environ.get("VOD2STRM_TEST_KODI_REPORT")
    if not report_path:
        return
    path = Path(report_path)
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    report[rules] = {
        "kinds": {name: kind.as_dict() for name, kind in kinds.items()},
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The test


@pytest.mark.parametrize("rules", ["kodi-defaults", "documented-rules"])
def test_kodi_scans_every_item_once(workdir: Path, rules: str) -> None:
    """Generate the catalog, let Kodi scan it, and compare kind by kind.

    ``kodi-defaults``: a stock Kodi, whose exclude rules skip paths holding "sample" (those items
    are then expected to be absent). ``documented-rules``: with the advancedsettings.xml
    docs/media-servers.md gives, every item.
    """
    started = time.monotonic()
    build_catalog()
    settings = conf.build(
        {"output_root": workdir / "library", "state_dir": workdir / "state", "max_workers": 4}
    )
    for folder in (settings.output_root, settings.state_dir):
        folder.mkdir(parents=True)
    result = generate.run(settings)
    assert result.exit_code == 0, result.as_dict()
    assert result.series_without_episodes == 0

    movies_root = settings.output_root / settings.movies_folder
    shows_root = settings.output_root / settings.series_folder
    (workdir / "kodi").mkdir()
    profile = harness.Profile(
        workdir / "kodi",
        [
            harness.Source("vod2strm movies", movies_root, "movies"),
            harness.Source("vod2strm shows", shows_root, "tvshows"),
        ],
        advancedsettings=documented_exclude_rules() if rules == "documented-rules" else None,
    )
    assert KODI is not None and XVFB is not None
    kinds = expected_kinds(default_rules=rules == "kodi-defaults")
    with harness.Kodi(profile, kodi=KODI, xvfb=XVFB) as kodi:
        kodi.scan()
        files = found_kinds(kodi, kinds)
        timings = dict(kodi.timings)
    timings["total"] = time.monotonic() - started

    root = str(settings.output_root.resolve()) + "/"
    outside = [f"  a file outside the library: {path!r}" for path in files if not path.startswith(root)]
    table = "\n".join(kind.row() for kind in kinds.values())
    problems = [line for kind in kinds.values() for line in kind.problems()] + outside
    write_report(rules, kinds, timings)
    print(f"\nKodi ({rules}) scan of the vod2strm library, expected vs in Kodi:\n{table}")
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    assert not problems, f"Kodi's library differs from the catalog ({rules}):\n{table}\n" + "\n".join(
        problems
    )
