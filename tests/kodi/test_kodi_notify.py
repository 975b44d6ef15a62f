"""A real Kodi follows a generate through vod2strm's notifier alone: a changed plot, a new movie, a
new episode and a removed series show in its library without anyone else asking it to scan.

Opt-in like test_kodi_scan.py: ``VOD2STRM_TEST_KODI=1`` with Debian's ``kodi`` and ``xvfb``.

Kodi runs with its web server on (vod2strm's Kodi notifier speaks JSON-RPC over HTTP, with HTTP
Basic authentication). Kodi 20 binds that server to every interface, not to loopback alone, so it
gets a random free port and a random password for the test's lifetime
(:meth:`harness.WebServer.random`). The harness's own JSON-RPC connection (raw TCP, 127.0.0.1) only
reads Kodi's library and its notifications; after the first import it asks Kodi to do nothing.

Steps: a small catalog (three movies, three series) is generated and Kodi imports it (the harness's
scan, sources with "Local information only"); then one movie's plot changes, a movie is added, one
series gets a new episode and one series leaves the catalog, and
``application.generate(settings, cleanup=True)`` runs with ``kodi_url``, ``kodi_user`` and
``kodi_password`` set (vod2strm and Kodi see the same paths: no ``kodi_path_map``). That run owes
Kodi a refresh (the plot), a scan of both sections, a clean and a removed show: the cases where
Kodi's one-job-at-a-time library queue drops what arrives while it is busy. Kodi's library must
then become what the catalog says, polled until it does (or a timeout), every other item untouched
(same ids, same details), and the run's ``notified.kodi`` must say Kodi was told with nothing
failed. An unchanged rerun afterwards must send nothing: ``notified.kodi`` counts no request,
Kodi's log shows no web-server request, and Kodi announces no library job.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
)
from tests.kodi import harness
from vod2strm import application, conf
from vod2strm.standalone import models

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

#: How long Kodi may take to show what it was told (its refresh, scan and clean jobs).
SETTLE_TIMEOUT = 120.0
#: How long an unchanged rerun is watched for a library job Kodi should not start.
QUIET_WINDOW = 3.0
#: Kodi's log lines a failure quotes: its library jobs, its web server, what it refused.
JOB_LOG = re.compile(
    r"CleanLibrary|VideoInfoScanner: (Starting|Finished)|videodatabase cleanup|Cleaning videodatabase"
    r"|request received|JSONRPC.*(error|fail)|VideoLibraryRefreshing|not possible",
    re.IGNORECASE,
)

OLD_PLOT = "A crew of thieves plans one last job."
NEW_PLOT = "A detective and a thief circle each other across Los Angeles."

#: (title, year, plot) of the movies; the first one's plot changes.
MOVIES = (
    ("Heat", 1995, OLD_PLOT),
    ("Ronin", 1998, "Mercenaries chase a case through France."),
    ("Arrival", 2016, "A linguist meets visitors."),
)
#: A movie the provider adds: new files in the movies section too, so two sections get new files.
NEW_MOVIE = ("Collateral", 2004, "A cab driver has a long night.")
#: (title, year, episodes as (season, episode, title)).
KEPT_SHOW = ("Keeper Street", 2010, ((1, 1, "Moving In"), (1, 2, "Moving On")))
GROWING_SHOW = ("Growing Pains Lab", 2012, ((1, 1, "First Light"), (1, 2, "Second Wind")))
NEW_EPISODE = (1, 3, "Third Time")
GONE_SHOW = ("Leaving Town", 2014, ((1, 1, "Hello"), (2, 1, "Goodbye")))


@dataclass
class Catalog:
    account: models.M3UAccount
    movies: dict[str, models.Movie]
    shows: dict[str, tuple[models.Series, models.M3USeriesRelation]]


# factory_boy types a factory call as the factory, not the model it creates: hence the casts.


def add_movie(account: models.M3UAccount, title: str, year: int, plot: str) -> models.Movie:
    movie = cast(models.Movie, MovieFactory(name=title, year=year, description=plot))
    M3UMovieRelationFactory(movie=movie, m3u_account=account)
    return movie


def build_catalog() -> Catalog:
    account = cast(models.M3UAccount, M3UAccountFactory(name="Main", priority=1))
    movies = {title: add_movie(account, title, year, plot) for title, year, plot in MOVIES}
    shows: dict[str, tuple[models.Series, models.M3USeriesRelation]] = {}
    for title, year, episodes in (KEPT_SHOW, GROWING_SHOW, GONE_SHOW):
        show = cast(models.Series, SeriesFactory(name=title, year=year))
        relation = cast(models.M3USeriesRelation, M3USeriesRelationFactory(series=show, m3u_account=account))
        for season, number, name in episodes:
            add_episode(show, relation, season, number, name)
        shows[title] = (show, relation)
    return Catalog(account, movies, shows)


def add_episode(
    show: models.Series, relation: models.M3USeriesRelation, season: int, number: int, name: str
) -> None:
    episode = EpisodeFactory(series=show, season_number=season, episode_number=number, name=name)
    M3UEpisodeRelationFactory(episode=episode, m3u_account=relation.m3u_account, series_relation=relation)


def change_catalog(catalog: Catalog) -> None:
    """The changes: a plot, a new movie, a new episode, a series gone from the provider."""
    heat = catalog.movies["Heat"]
    heat.description = NEW_PLOT
    heat.save()
    catalog.movies[NEW_MOVIE[0]] = add_movie(catalog.account, *NEW_MOVIE)
    show, relation = catalog.shows[GROWING_SHOW[0]]
    add_episode(show, relation, *NEW_EPISODE)
    gone, _ = catalog.shows.pop(GONE_SHOW[0])
    gone.delete()


# ---------------------------------------------------------------------------------------------
# Kodi's library, as one comparable picture


@dataclass
class Library:
    """Kodi's library: ``details`` per item (what a user sees) and ``ids`` (Kodi's database ids)."""

    details: dict[str, str]
    ids: dict[str, int]


def movie_key(title: str, year: int) -> str:
    return f"movie {title!r} ({year})"


def show_key(title: str, year: int) -> str:
    return f"tvshow {title!r} ({year})"


def episode_key(show: str, season: int, episode: int, title: str) -> str:
    return f"episode {show!r} S{season:02d}E{episode:02d} {title!r}"


def library(kodi: harness.Kodi) -> Library:
    """Every movie, show and episode Kodi lists; an item listed twice shows as ``key #2``."""
    details: dict[str, str] = {}
    ids: dict[str, int] = {}

    def add(key: str, detail: str, item_id: int) -> None:
        n = 1
        while (key if n == 1 else f"{key} #{n}") in details:
            n += 1
        key = key if n == 1 else f"{key} #{n}"
        details[key], ids[key] = detail, item_id

    movies = kodi.call("VideoLibrary.GetMovies", {"properties": ["title", "year", "plot", "file"]}) or {}
    for movie in movies.get("movies") or []:
        add(
            movie_key(movie["title"], int(movie["year"])),
            f"plot={movie['plot']!r} file={Path(movie['file']).name!r}",
            int(movie["movieid"]),
        )
    shows = kodi.call("VideoLibrary.GetTVShows", {"properties": ["title", "year", "plot", "file"]}) or {}
    for show in shows.get("tvshows") or []:
        add(
            show_key(show["title"], int(show["year"])),
            f"plot={show['plot']!r} folder={Path(show['file']).name!r}",
            int(show["tvshowid"]),
        )
        params = {"tvshowid": show["tvshowid"], "properties": ["title", "season", "episode", "plot", "file"]}
        episodes = kodi.call("VideoLibrary.GetEpisodes", params) or {}
        for episode in episodes.get("episodes") or []:
            add(
                episode_key(show["title"], int(episode["season"]), int(episode["episode"]), episode["title"]),
                f"plot={episode['plot']!r} file={Path(episode['file']).name!r}",
                int(episode["episodeid"]),
            )
    return Library(details, ids)


def differences(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    lines = [f"  missing from Kodi: {key}" for key in sorted(expected.keys() - found.keys())]
    lines += [f"  in Kodi, not in the catalog: {key}" for key in sorted(found.keys() - expected.keys())]
    lines += [
        f"  {key}: expected {expected[key]}, Kodi has {found[key]}"
        for key in sorted(expected.keys() & found.keys())
        if expected[key] != found[key]
    ]
    return lines


def expected_after(before: Library, new_movie_file: Path, new_episode_file: Path) -> dict[str, str]:
    """What Kodi should show after the changes: ``before`` with the new plot, the new movie, the
    new episode (details as its sibling's, its own file), without the series that left."""
    expected = dict(before.details)
    heat = movie_key("Heat", 1995)
    assert expected[heat].startswith(f"plot={OLD_PLOT!r}"), f"the first import read {expected[heat]}"
    expected[heat] = expected[heat].replace(repr(OLD_PLOT), repr(NEW_PLOT), 1)
    title, year, plot = NEW_MOVIE
    expected[movie_key(title, year)] = f"plot={plot!r} file={new_movie_file.name!r}"
    title = GROWING_SHOW[0]
    sibling_plot = expected[episode_key(title, *GROWING_SHOW[2][-1])].split(" file=", 1)[0]
    expected[episode_key(title, *NEW_EPISODE)] = f"{sibling_plot} file={new_episode_file.name!r}"
    gone = GONE_SHOW[0]
    for key in [k for k in expected if k.startswith((f"tvshow {gone!r}", f"episode {gone!r}"))]:
        del expected[key]
    return expected


def settle(kodi: harness.Kodi, expected: dict[str, str], timeout: float) -> Library:
    """Poll Kodi until its library is ``expected`` with no scan or clean left, and stays so for a
    second; fails with the differences, what Kodi announced and its log's library lines."""
    assert kodi.rpc is not None
    deadline = time.monotonic() + timeout
    while True:
        found = library(kodi)
        if found.details == expected and not kodi.scanning():
            kodi.rpc.collect(1.0)  # a late job would change it now
            found = library(kodi)
            if found.details == expected and not kodi.scanning():
                return found
        if time.monotonic() > deadline:
            break
        time.sleep(1.0)
    seen = [str(n.get("method")) for n in kodi.rpc.notifications]
    log = [line for line in kodi.log_lines("") if JOB_LOG.search(line)]
    pytest.fail(
        f"Kodi's library did not become the catalog within {timeout:.0f} s of the notification:\n"
        + "\n".join(differences(expected, found.details))
        + f"\nKodi announced: {', '.join(seen) or 'nothing'}"
        + "\n--- Kodi's log (library jobs, web server) ---\n"
        + "\n".join(log[-30:])
    )


def written(folder: Path, pattern: str) -> Path:
    """The one file the generate wrote under ``folder`` matching ``pattern``."""
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one file {pattern!r} under {folder}, found {found}"
    return found[0]


def check_told(data: dict[str, Any]) -> dict[str, Any]:
    """The run's ``notified.kodi``: Kodi was told everything, nothing failed or was refused."""
    report = (data.get("notified") or {}).get("kodi")
    assert isinstance(report, dict), f"no notified.kodi in the run's data: {data.get('notified')}"
    assert report.get("failed") == 0 and not report.get("error"), f"Kodi was not told: {report}"
    # At least the folders of the changed movie, the new movie, the new episode, the gone series.
    assert report.get("sent", 0) >= 4 and report.get("requests", 0) >= 1, report
    assert not report.get("warnings"), f"Kodi answered calls with errors: {report}"
    assert report.get("full_scan") is False, report
    return report


def log_size(kodi: harness.Kodi) -> int:
    return kodi.profile.log.stat().st_size


def log_since(kodi: harness.Kodi, offset: int) -> str:
    with kodi.profile.log.open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# The test


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder (resolved: Kodi stores real paths) whose path trips none of Kodi's exclude rules."""
    path = Path(tempfile.mkdtemp(prefix="vod2strm-kodi-")).resolve()
    if re.search(r"sample|-trailer|[\\/](proof|subs)[\\/]", str(path), re.IGNORECASE):
        shutil.rmtree(path)
        pytest.fail(f"Kodi's exclude rules would skip everything under {path}: set TMPDIR elsewhere")
    try:
        yield path
    finally:
        if os.environ.get("VOD2STRM_TEST_KODI_KEEP") != "1":
            shutil.rmtree(path, ignore_errors=True)


def test_kodi_follows_a_generate_through_the_notifier(workdir: Path) -> None:
    started = time.monotonic()
    catalog = build_catalog()
    base: dict[str, Any] = {
        "output_root": workdir / "library",
        "state_dir": workdir / "state",
        "max_workers": 2,
        # One series of three leaving is more than the default valve's share of a section.
        "cleanup_max_share": 0.6,
    }
    plain = conf.build(base)
    for folder in (plain.output_root, plain.state_dir):
        folder.mkdir(parents=True)
    first = application.generate(plain, cleanup=True)
    assert first.exit_code == 0, first.data
    assert "notified" not in first.data, f"no media server configured, yet: {first.data['notified']}"

    web = harness.WebServer.random()
    (workdir / "kodi").mkdir()
    profile = harness.Profile(
        workdir / "kodi",
        [
            harness.Source("vod2strm movies", plain.output_root / plain.movies_folder, "movies"),
            harness.Source("vod2strm shows", plain.output_root / plain.series_folder, "tvshows"),
        ],
        webserver=web,
    )
    settings = conf.build(
        {**base, "kodi_url": web.url, "kodi_user": web.username, "kodi_password": web.password}
    )
    assert KODI is not None and XVFB is not None
    with harness.Kodi(profile, kodi=KODI, xvfb=XVFB) as kodi:
        kodi.scan()  # the first import: the harness's scan, the only one anybody asks for
        before = library(kodi)
        count = len(MOVIES) + 3 + sum(len(show[2]) for show in (KEPT_SHOW, GROWING_SHOW, GONE_SHOW))
        assert len(before.details) == count, f"the first import ({count} items expected):\n" + "\n".join(
            sorted(before.details)
        )
        assert kodi.rpc is not None
        kodi.rpc.notifications.clear()

        # The changes, then a generate with its cleanup: vod2strm alone tells Kodi.
        change_catalog(catalog)
        notified_at = time.monotonic()
        second = application.generate(settings, cleanup=True)
        run_seconds = time.monotonic() - notified_at
        assert second.exit_code == 0, second.data
        report = check_told(second.data)
        movies, shows = (
            settings.output_root / settings.movies_folder,
            settings.output_root / settings.series_folder,
        )
        expected = expected_after(
            before,
            written(movies, f"{NEW_MOVIE[0]} ({NEW_MOVIE[1]})*/*.strm"),
            written(shows, f"{GROWING_SHOW[0]} (*/*/*S01E03*.strm"),
        )
        after = settle(kodi, expected, SETTLE_TIMEOUT)
        settled_seconds = time.monotonic() - notified_at
        refreshed = movie_key("Heat", 1995)  # Kodi's refresh may give it a new id
        moved = [
            f"  {key}: id {old} -> {after.ids[key]}"
            for key, old in before.ids.items()
            if key in after.ids and key != refreshed and after.ids[key] != old
        ]
        assert not moved, "Kodi re-added items vod2strm did not change (new ids):\n" + "\n".join(moved)

        # An unchanged rerun: nothing pending, nothing sent, nothing started in Kodi.
        kodi.rpc.notifications.clear()
        offset = log_size(kodi)
        third = application.generate(settings, cleanup=True)
        assert third.exit_code == 0, third.data
        assert third.data.get("notified") == {
            "kodi": {"sent": 0, "failed": 0, "requests": 0, "full_scan": False}
        }, f"an unchanged rerun told Kodi something: {third.data.get('notified')}"
        jobs = [
            str(n.get("method"))
            for n in kodi.rpc.collect(QUIET_WINDOW)
            if str(n.get("method")).startswith("VideoLibrary.")
        ]
        assert not jobs, f"Kodi started library work after an unchanged rerun: {jobs}"
        # Kodi logs each web-server request at debug level (the harness's own calls go over TCP).
        assert "request received for /jsonrpc" not in log_since(kodi, offset), (
            "Kodi's web server got a request during the unchanged rerun"
        )
        assert library(kodi).details == expected, "Kodi's library changed after an unchanged rerun"

    print(
        f"\nKodi notified: {report}; the run took {run_seconds:.1f} s, Kodi showed the changes "
        f"{settled_seconds:.1f} s after it started; total {time.monotonic() - started:.1f} s"
    )
