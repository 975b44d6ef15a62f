"""Shared helpers for tests that run whole jobs against a small catalog and a temp library."""

from __future__ import annotations

import os
from pathlib import Path

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UEpisodeRelationFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    MovieFactory,
    SeriesFactory,
)
from vod2strm import conf


def make_settings(tmp_path: Path, **overrides) -> conf.Settings:
    values = {"output_root": tmp_path / "library", "state_dir": tmp_path / "state", "max_workers": 4}
    values.update(overrides)
    return conf.build(values)


def small_catalog(movies: int = 3, series: int = 1, episodes: int = 3):
    """Movies and series at one active XC account; returns (account, movies, series list)."""
    account = M3UAccountFactory(name="Main", priority=1)
    made_movies = []
    for i in range(movies):
        movie = MovieFactory(name=f"Film {i}", year=2000 + i)
        M3UMovieRelationFactory(movie=movie, m3u_account=account, stream_id=f"m{i}")
        made_movies.append(movie)
    made_series = []
    for s in range(series):
        show = SeriesFactory(name=f"Show {s}", year=2010 + s)
        rel = M3USeriesRelationFactory(series=show, m3u_account=account)
        for e in range(episodes):
            episode = EpisodeFactory(
                series=show, season_number=1, episode_number=e + 1, name=f"Chapter {e + 1}"
            )
            M3UEpisodeRelationFactory(
                episode=episode, m3u_account=account, series_relation=rel, stream_id=f"s{s}e{e}"
            )
        made_series.append(show)
    return account, made_movies, made_series


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under root (relative POSIX path -> bytes), marker excluded."""
    found = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel.startswith(".vod2strm"):
                continue
            found[rel] = path.read_bytes()
    return found


def mtimes(root: Path) -> dict[str, int]:
    return {
        Path(dirpath, name).relative_to(root).as_posix(): os.stat(Path(dirpath, name)).st_mtime_ns
        for dirpath, _dirs, names in os.walk(root)
        for name in names
    }


def age_files(root: Path, seconds: int = 100) -> None:
    """Push every mtime into the past, so an unwanted rewrite is visible even on coarse clocks."""
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def call_cli(*args: str) -> tuple[int, str, str]:
    """``manage.py vod2strm <args>`` in this process: (exit status, stdout, stderr).

    ``call_command`` raises the command's ``CommandError`` where ``manage.py`` would print it and
    exit; the stderr returned here ends with the line ``manage.py`` prints for it.
    """
    import io

    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("vod2strm", *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"{type(exc).__name__}: {exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()
