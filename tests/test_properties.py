"""Whole-pipeline robustness over arbitrary catalog rows (hypothesis), and what must never leak.

Rows are built directly (``vod2strm.catalog.rows``), with every field hostile at once: missing or
absurd years, zero/negative/huge season numbers, duplicate and NULL episode numbers, NULL or empty
names, 1 MB plots, out-of-range dates, ``custom_properties`` of any type (lists, strings, numbers,
nested junk, NaN), titles of arbitrary Unicode, stream ids with slashes and control characters.
Each example goes through ``library.items`` and the real writer into a temporary folder:
nothing may crash, every file lies inside the root, every ``.nfo`` parses, every ``.strm`` is one
http(s) URL line, and no two items ever write the same path (compared case-insensitively).

Then, with a real catalog: markup in a title stays text (no XML injection); a provider's
credentials never reach logs, the ``--json`` outputs of generate/stats, the status file or the
manifest in direct URL mode (they only go into the ``.strm`` files, by design); files and folders
honour the umask.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree

from tests.faults import helpers
from vod2strm import conf
from vod2strm.catalog.rows import EpisodeRow, MovieRow, SeriesRow, Source
from vod2strm.jobs.generate import writer_options
from vod2strm.library import items
from vod2strm.library.naming import NameClaims
from vod2strm.library.strm import is_http_url
from vod2strm.output.writer import Writer, WriteResult

EXAMPLES = 120
PROFILE = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# -- strategies -----------------------------------------------------------------------------------

MEGABYTE_PLOT = "A plot that goes on. " * (2**20 // 21)

texts = st.one_of(
    st.text(),
    # Anything a database column can hand back: every code point UTF-8 can carry (so no lone
    # surrogates, which neither PostgreSQL nor SQLite return).
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400),
    st.sampled_from(
        [
            "",
            " ",
            ".",
            "..",
            "CON",
            "nul.txt",
            "</title><script>alert(1)</script>",
            'a/b\\c:d*e?f"g<h>i|j',
            "\x00\x01\x1f\x7f",
            "\u202eevil\u202c",
            "Ω" * 300,
            "🎬" * 100,
            "EN - |UK| 4K- Title (2001) (2001)",
        ]
    ),
)
maybe_text = st.one_of(st.none(), texts)
plots = st.one_of(st.none(), texts, st.just(MEGABYTE_PLOT))
years = st.one_of(
    st.none(), st.integers(min_value=-(10**6), max_value=10**6), st.sampled_from([0, 1850, 1851, 9999])
)
numbers = st.one_of(
    st.none(), st.integers(min_value=-(10**9), max_value=10**9), st.sampled_from([0, -1, 100, 1000])
)
ids = st.one_of(
    st.none(),
    texts,
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["0", "tt", "tt0000000", "tt1234567", "603", " 42 "]),
)
junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        texts,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(texts, st.sampled_from(list(items.nfo.CUSTOM_KEYS))), inner, max_size=6),
    ),
    max_leaves=8,
)
custom_properties = st.one_of(
    junk,
    st.fixed_dictionaries(
        {},
        optional={key: junk for key in items.nfo.CUSTOM_KEYS},
    ),
    junk.map(lambda v: json.dumps(v, default=str)),  # JSON text instead of an object
)
datetimes = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime.min, max_value=dt.datetime.max),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14))])),
)
dates = st.one_of(st.none(), st.dates(min_value=dt.date.min, max_value=dt.date.max))
sources = st.builds(
    Source,
    relation_id=st.integers(min_value=1, max_value=10**9),
    account_id=st.integers(min_value=1, max_value=10**6),
    account_name=texts,
    stream_id=st.one_of(texts, st.integers(min_value=0).map(str)),
    container_extension=maybe_text,
    category_id=st.one_of(st.none(), st.integers(min_value=1)),
    category_name=maybe_text,
    direct_url=st.one_of(st.none(), texts, st.just("http://host:8080/movie/u/p/1.mkv")),
)


@st.composite
def movie_rows(draw, pk: int = 1) -> MovieRow:
    return MovieRow(
        id=pk,
        uuid=draw(st.one_of(st.uuids().map(str), texts)),
        name=draw(maybe_text),
        description=draw(plots),
        year=draw(years),
        rating=draw(st.one_of(maybe_text, st.floats().map(str))),
        genre=draw(maybe_text),
        duration_secs=draw(numbers),
        is_adult=draw(st.booleans()),
        tmdb_id=draw(ids),
        imdb_id=draw(ids),
        custom_properties=draw(custom_properties),
        created_at=draw(datetimes),
        logo_url=draw(st.one_of(maybe_text, st.just("https://image.example/p.jpg"))),
        source=draw(sources),
    )


@st.composite
def episode_rows(draw, pk: int) -> EpisodeRow:
    return EpisodeRow(
        id=pk,
        uuid=draw(st.one_of(st.uuids().map(str), texts)),
        name=draw(maybe_text),
        description=draw(plots),
        air_date=draw(dates),
        rating=draw(maybe_text),
        duration_secs=draw(numbers),
        season_number=draw(st.one_of(numbers, st.sampled_from([0, 1, 1, 2]))),
        episode_number=draw(st.one_of(numbers, st.sampled_from([None, 1, 1, 2]))),
        tmdb_id=draw(ids),
        imdb_id=draw(ids),
        custom_properties=draw(custom_properties),
        created_at=draw(datetimes),
        source=draw(sources),
    )


@st.composite
def series_rows(draw, pk: int = 1) -> SeriesRow:
    count = draw(st.integers(min_value=0, max_value=6))
    episodes = tuple(draw(episode_rows(pk * 100 + n)) for n in range(count))
    return SeriesRow(
        id=pk,
        uuid=draw(st.one_of(st.uuids().map(str), texts)),
        name=draw(maybe_text),
        description=draw(plots),
        year=draw(years),
        rating=draw(maybe_text),
        genre=draw(maybe_text),
        is_adult=False,
        tmdb_id=draw(ids),
        imdb_id=draw(ids),
        custom_properties=draw(custom_properties),
        created_at=draw(datetimes),
        logo_url=draw(maybe_text),
        source=draw(sources),
        episodes=episodes,
    )


settings_overrides = st.fixed_dictionaries(
    {
        "id_tag_style": st.sampled_from(["jellyfin", "emby", "none"]),
        "url_mode": st.sampled_from(["proxy", "direct"]),
        "write_nfo": st.booleans(),
        "max_path_bytes": st.sampled_from([1024, 260, 120]),
        "adult_mode": st.sampled_from(["exclude", "include"]),
    }
)

# -- checks ----------------------------------------------------------------------------------------


def write_items(built: list[items.LibraryItem], settings: conf.Settings, root: Path) -> list[WriteResult]:
    results: list[WriteResult] = []
    with Writer(root, writer_options(settings), on_result=results.append) as writer:
        for item in built:
            for folder in item.folders:
                if folder.files:
                    writer.submit(folder)
    return results


def check_library(root: Path, built: list[items.LibraryItem], results: list[WriteResult]) -> None:
    failed = [r for r in results if not r.ok]
    assert not failed, [(r.relpath, r.error) for r in failed]
    real_root = root.resolve()
    seen: dict[str, str] = {}
    for item in built:
        for folder in item.folders:
            for f in folder.files:
                target = (root / f.relpath).resolve()
                assert target.is_relative_to(real_root), f.relpath
                assert target.read_bytes() == f.data
                folded = f.relpath.casefold()
                assert seen.setdefault(folded, item.key) == item.key, f"two items share {f.relpath!r}"
                if f.relpath.endswith(".strm"):
                    assert f.data.endswith(b"\n") and f.data.count(b"\n") == 1
                    assert is_http_url(f.data[:-1].decode("utf-8"))
                else:
                    assert f.relpath.endswith(".nfo")
                    root_element = etree.fromstring(f.data)
                    assert root_element.tag in ("movie", "tvshow", "season", "episodedetails")
    assert helpers.library_problems(root) == []


def run_pipeline(movies: list[MovieRow], series: list[SeriesRow], overrides: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "library"
        root.mkdir()
        settings = conf.build(
            {"output_root": root, "state_dir": Path(tmp) / "state", "max_workers": 2, **overrides}
        )
        claims = NameClaims()
        built: list[items.LibraryItem] = []
        for row in movies:
            items.movie_fingerprint(row, settings)
            built.append(items.movie_item(row, settings, claims))
        for row in series:
            items.series_fingerprint(row, settings)
            item = items.series_item(row, settings, claims)
            if item is None:
                assert not row.episodes
                continue
            built.append(item)
        check_library(root, built, write_items(built, settings, root))


# -- properties ------------------------------------------------------------------------------------


@PROFILE
@given(movie=movie_rows(), overrides=settings_overrides)
def test_any_movie_row_becomes_a_sane_folder(movie: MovieRow, overrides: dict[str, Any]) -> None:
    run_pipeline([movie], [], overrides)


@PROFILE
@given(show=series_rows(), overrides=settings_overrides)
def test_any_series_row_becomes_a_sane_show(show: SeriesRow, overrides: dict[str, Any]) -> None:
    run_pipeline([], [show], overrides)


@PROFILE
@given(
    movies=st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=5, unique=True).flatmap(
        lambda pks: st.tuples(*[movie_rows(pk) for pk in sorted(pks)])
    ),
    shows=st.lists(st.integers(min_value=1, max_value=10**6), max_size=2, unique=True).flatmap(
        lambda pks: st.tuples(*[series_rows(pk) for pk in sorted(pks)])
    ),
    overrides=settings_overrides,
)
def test_many_hostile_rows_never_share_a_path(movies, shows, overrides: dict[str, Any]) -> None:
    """Rows whose names, ids and years collide in every way still get a path each."""
    run_pipeline(list(movies), list(shows), overrides)


# -- markup stays text ---------------------------------------------------------------------------------


def test_markup_in_a_title_stays_text(tmp_path):
    evil = '</title><script>alert("x")</script><title>'
    source = Source(1, 1, "A", "7", "mkv", None, None)
    row = MovieRow(
        1, "u", evil, evil, 2001, evil, evil, 60, False, "603", None,
        {"director": evil, "actors": [evil], "backdrop_path": [evil]}, None, None, source,
    )  # fmt: skip
    settings = conf.build({"output_root": tmp_path / "lib", "state_dir": tmp_path / "st"})
    item = items.movie_item(row, settings, NameClaims())
    nfo = next(f.data for f in item.folders[0].files if f.kind == "movie_nfo")
    tree = etree.fromstring(nfo)
    assert tree.find(".//script") is None and len(tree.findall("title")) == 1
    assert "<script>" in tree.findtext("title") and "<script>" in tree.findtext("plot")
    assert b"<script>" not in nfo  # escaped on the way out


# -- credentials never leak ----------------------------------------------------------------------------

SECRET_USER, SECRET_PASS = "sekrit-user-4242", "p4ss-w0rd-9999"


def provider_catalog():
    from tests.factories import M3UAccountFactory
    from tests.library_helpers import small_catalog

    account, _, _ = small_catalog(movies=3, series=1, episodes=2)
    type(account).objects.filter(pk=account.pk).update(
        username=SECRET_USER, password=SECRET_PASS, server_url="http://provider.example:8080"
    )
    M3UAccountFactory(name="Other", username=SECRET_USER + "-2", password=SECRET_PASS + "-2")


@pytest.mark.django_db
def test_direct_mode_credentials_never_reach_logs_or_reports(tmp_path, caplog, capsys):
    from django.core.management import CommandError, call_command
    from django.test import override_settings

    from vod2strm.jobs import progress
    from vod2strm.output.manifest import manifest_path

    provider_catalog()
    options = {
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
        "url_mode": "direct",
        "base_url": "http://dispatcharr.local:9191",
    }
    settings = conf.build(options)
    status = progress.Progress(job="generate")
    status.listeners.append(progress.StatusFile(settings.state_dir, interval=0))
    # A share that fails some writes, so error paths log too.
    fs = helpers.FaultFS([helpers.Fault("create", 13, match="Film 1")])
    from vod2strm.jobs import generate

    outputs: list[str] = []
    with caplog.at_level(logging.DEBUG):
        result = generate.run(settings, fs=fs, progress=status)
        outputs.append(json.dumps(result.as_dict(), default=str))
        with override_settings(VOD2STRM=options):
            for command in (
                ["generate", "--json"],
                ["stats", "--json", "--scan"],
                ["cleanup", "--json", "--dry-run"],
                ["stats"],
                ["generate"],
            ):
                try:
                    call_command("vod2strm", *command)
                except CommandError as exc:  # a non-zero exit is fine here; what it printed is checked
                    outputs.append(f"exit {exc.returncode}: {exc}")
    captured = capsys.readouterr()
    outputs += [captured.out, captured.err, caplog.text]
    outputs += [r.getMessage() + str(r.args) for r in caplog.records]
    outputs.append((settings.state_dir / progress.STATUS_FILE).read_text())
    outputs.append(manifest_path(settings.state_dir, settings.output_root).read_bytes().decode("latin-1"))
    assert result.errors > 0 and "could not write" in caplog.text  # the error paths did run
    strm = [b for p, b in helpers.library_tree(settings.output_root).items() if p.endswith(".strm")]
    assert strm and all(SECRET_PASS.encode() in b for b in strm)  # direct mode: by design, in the files
    for text in outputs:
        assert SECRET_USER not in text and SECRET_PASS not in text


# -- the umask -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_files_and_folders_honour_the_umask(tmp_path, mask):
    from tests.library_helpers import small_catalog
    from vod2strm.jobs import generate

    small_catalog(movies=2, series=1, episodes=2)
    settings = conf.build({"output_root": tmp_path / "library", "state_dir": tmp_path / "state"})
    old = os.umask(mask)
    try:
        assert generate.run(settings).exit_code == 0
    finally:
        os.umask(old)
    checked = 0
    for dirpath, dirnames, filenames in os.walk(settings.output_root):
        for name in dirnames:
            assert stat.S_IMODE(os.stat(Path(dirpath, name)).st_mode) == 0o777 & ~mask, name
        for name in filenames:
            assert stat.S_IMODE(os.stat(Path(dirpath, name)).st_mode) == 0o666 & ~mask, name
            checked += 1
    assert checked > 10
