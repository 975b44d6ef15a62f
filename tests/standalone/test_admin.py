"""Admin actions of the standalone home, through Django's test client as a staff user."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import (
    EpisodeFactory,
    M3UAccountFactory,
    M3UMovieRelationFactory,
    M3USeriesRelationFactory,
    M3UVODCategoryRelationFactory,
    MovieFactory,
    SeriesFactory,
    VODCategoryFactory,
)
from tests.library_helpers import small_catalog, tree
from vod2strm.output import lock

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(settings, tmp_path):
    settings.VOD2STRM = {
        "CATALOG": "standalone",
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
        "base_url": "http://media.example:9191",
        "max_workers": 2,
    }
    return tmp_path / "library"


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _post_action(client, model: str, action: str, ids=()):
    url = reverse(f"admin:vod2strm_catalog_{model}_changelist")
    data = {"action": action, "index": "0", helpers.ACTION_CHECKBOX_NAME: [str(i) for i in ids]}
    return client.post(url, data, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_actions_are_offered_on_movie_and_series_lists(staff, library):
    small_catalog(movies=1, series=1)  # Django shows actions only on a non-empty list
    for model, plural in (("movie", "movies"), ("series", "series")):
        page = staff.get(reverse(f"admin:vod2strm_catalog_{model}_changelist"))
        assert page.status_code == 200
        html = page.content.decode()
        assert f"Generate library files for selected {plural}" in html
        assert 'value="show_vod2strm_stats"' in html


def test_generate_selected_movies_writes_only_those(staff, library):
    _, movies, _ = small_catalog(movies=3, series=1, episodes=2)
    response = _post_action(staff, "movie", "generate_selected", [movies[0].pk, movies[2].pk])
    assert response.status_code == 200
    [(level, text)] = _messages(response)
    assert level == "success"
    assert text.startswith(
        "vod2strm: generated 2 of the 2 selected movies: wrote 4 of 4 files, 0 already on disk as written, "
        "0 errors, in "
    )
    files = tree(library)
    folders = sorted(p.split("/")[1].split(" [")[0] for p in files if p.endswith(".strm"))
    assert folders == ["Film 0 (2000)", "Film 2 (2002)"]
    assert not any(p.startswith("TV Shows/") for p in files)


def test_generate_selected_series_writes_the_show_and_its_episodes(staff, library):
    _, _, shows = small_catalog(movies=1, series=2, episodes=2)
    response = _post_action(staff, "series", "generate_selected", [shows[1].pk])
    [(level, text)] = _messages(response)
    assert level == "success"
    assert text.startswith("vod2strm: generated 1 of the 1 selected series (2 episodes): wrote 6 of 6 files,")
    files = tree(library)
    assert {p.split("/")[1].split(" [")[0] for p in files} == {"Show 1 (2011)"}
    assert sum(p.endswith(".strm") for p in files) == 2


def test_generate_selected_says_when_selected_items_are_not_eligible(staff, library):
    inactive = M3UAccountFactory(is_active=False)
    movie = MovieFactory(name="Offline", year=None)
    M3UMovieRelationFactory(movie=movie, m3u_account=inactive)
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movie.pk]))
    assert (level, text) == (
        "warning",
        "vod2strm: generated none of the 1 selected movie. "
        f"Skipped 1: 1 inactive account (Offline #{movie.pk}).",
    )
    assert tree(library) == {}


def test_generate_selected_reports_a_held_lock_as_an_error(staff, library, settings):
    _, movies, _ = small_catalog(movies=1, series=0)
    conf = settings.VOD2STRM
    with lock.run_lock(conf["state_dir"], conf["output_root"]):
        [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movies[0].pk]))
    assert level == "error" and text.startswith("vod2strm: another vod2strm run is in progress")


def test_generate_selected_reports_bad_settings(staff, library, settings):
    _, movies, _ = small_catalog(movies=1, series=0)
    settings.VOD2STRM = {**settings.VOD2STRM, "base_url": "not-a-url"}
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movies[0].pk]))
    assert level == "error" and text.startswith("vod2strm: base_url: must be an http(s) URL")


def test_stats_action_runs_without_a_selection(staff, library):
    small_catalog(movies=2, series=1, episodes=3)
    response = _post_action(staff, "series", "show_vod2strm_stats")
    assert response.status_code == 200
    [(level, text)] = _messages(response)
    assert level == "info"
    assert text.startswith("<pre>Catalog (eligible):\n  2 movies, 1 series (0 without episodes), 3 episodes")
    assert "<pre>Catalog" in response.content.decode()  # rendered as preformatted text


def test_stats_action_with_a_selection_and_after_a_generate(staff, library):
    _, movies, _ = small_catalog(movies=2, series=0)
    _post_action(staff, "movie", "generate_selected", [m.pk for m in movies])
    [(_, text)] = _messages(_post_action(staff, "movie", "show_vod2strm_stats", [movies[0].pk]))
    assert "Library, as the manifest records it (not checked on disk): 4 files" in text


def test_stats_escape_catalog_text(staff, library):
    account = M3UAccountFactory(name="<script>alert(1)</script>")
    M3UMovieRelationFactory(m3u_account=account)
    [(_, text)] = _messages(_post_action(staff, "movie", "show_vod2strm_stats"))
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_other_actions_still_need_a_selection(staff, library):
    small_catalog(movies=1, series=0)
    response = _post_action(staff, "movie", "generate_selected")
    assert any("Items must be selected" in text for _, text in _messages(response))


# -- generate on a selection: what the banner says -------------------------------------------------


def _movie_folder(library, movie) -> Path:
    [folder] = [p for p in (library / "Movies").iterdir() if p.name.startswith(f"{movie.name} (")]
    return folder


def test_generate_selected_restores_files_deleted_by_hand(staff, library):
    _, movies, _ = small_catalog(movies=2, series=0)
    _post_action(staff, "movie", "generate_selected", [m.pk for m in movies])
    shutil.rmtree(_movie_folder(library, movies[0]))
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [m.pk for m in movies]))
    assert level == "success"
    assert text.startswith(
        "vod2strm: generated 2 of the 2 selected movies: wrote 2 of 4 files (2 restored after going "
        "missing on disk), 2 already on disk as written, 0 errors, in "
    )
    assert len(list(_movie_folder(library, movies[0]).iterdir())) == 2
    # Nothing missing now: nothing written, nothing "restored".
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movies[0].pk]))
    assert level == "success" and "wrote 0 of 2 files, 2 already on disk as written" in text


def test_generate_selected_names_files_changed_on_disk_and_warns(staff, library):
    _, movies, _ = small_catalog(movies=1, series=0)
    _post_action(staff, "movie", "generate_selected", [movies[0].pk])
    [strm] = _movie_folder(library, movies[0]).glob("*.strm")
    strm.write_text("http://elsewhere.example/\n")
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movies[0].pk]))
    assert level == "warning"
    assert "wrote 0 of 2 files, 1 already on disk as written" in text
    assert (
        "1 file changed on disk since vod2strm wrote it, kept as it is: "
        f"Movies/{strm.parent.name}/{strm.name}." in text
    )
    assert strm.read_text() == "http://elsewhere.example/\n"


def test_generate_selected_counts_each_skip_reason_with_names(staff, library, settings):
    settings.VOD2STRM = {**settings.VOD2STRM, "categories_exclude": "Hidden"}
    main = M3UAccountFactory(name="Main")
    off = M3UAccountFactory(name="Off", is_active=False)
    disabled, hidden = VODCategoryFactory(name="Disabled"), VODCategoryFactory(name="Hidden")
    M3UVODCategoryRelationFactory(m3u_account=main, category=disabled, enabled=False)
    M3UVODCategoryRelationFactory(m3u_account=main, category=hidden, enabled=True)
    good = MovieFactory(name="Good", year=2001)
    M3UMovieRelationFactory(movie=good, m3u_account=main)
    cases = {}
    for name, kwargs in (
        ("Offline", {"m3u_account": off}),
        ("Switched off", {"m3u_account": main, "category": disabled}),
        ("Filtered", {"m3u_account": main, "category": hidden}),
    ):
        cases[name] = MovieFactory(name=name, year=None)
        M3UMovieRelationFactory(movie=cases[name], m3u_account=kwargs.pop("m3u_account"), **kwargs)
    adult = MovieFactory(name="Late", year=1999, is_adult=True)
    M3UMovieRelationFactory(movie=adult, m3u_account=main)
    orphan = MovieFactory(name="Nowhere", year=None)
    ids = [good.pk, adult.pk, orphan.pk, *(m.pk for m in cases.values())]
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", ids))
    assert level == "success"
    assert text.startswith("vod2strm: generated 1 of the 6 selected movies: wrote 2 of 2 files,")
    assert text.endswith(
        f"Skipped 5: 1 adult title (adult_mode is exclude) (Late (1999) #{adult.pk}), 1 no provider "
        f"(Nowhere #{orphan.pk}), 1 inactive account (Offline #{cases['Offline'].pk}), 1 disabled category "
        f"(Switched off #{cases['Switched off'].pk}), 1 category filter (categories_include/exclude) "
        f"(Filtered #{cases['Filtered'].pk})."
    )


def test_generate_selected_series_counts_series_and_episodes_apart(staff, library):
    account, _, shows = small_catalog(movies=0, series=2, episodes=3)
    empty = SeriesFactory(name="Empty", year=2020)
    M3USeriesRelationFactory(series=empty, m3u_account=account)
    ids = [shows[0].pk, shows[1].pk, empty.pk]
    [(level, text)] = _messages(_post_action(staff, "series", "generate_selected", ids))
    assert level == "success"
    assert text.startswith(
        "vod2strm: generated 2 of the 3 selected series (6 episodes): wrote 16 of 16 files,"
    )
    assert text.endswith(f"Skipped 1: 1 no episodes (Empty (2020) #{empty.pk}).")
    [(level, text)] = _messages(_post_action(staff, "series", "generate_selected", [empty.pk]))
    assert (level, text) == (
        "warning",
        "vod2strm: generated none of the 1 selected series. "
        f"Skipped 1: 1 no episodes (Empty (2020) #{empty.pk}).",
    )


def test_messages_keep_the_lowercase_prefix_on_the_page(staff, library):
    inactive = M3UAccountFactory(is_active=False)
    movie = MovieFactory(name="Offline")
    M3UMovieRelationFactory(movie=movie, m3u_account=inactive)
    html = _post_action(staff, "movie", "generate_selected", [movie.pk]).content.decode()
    assert '<li class="warning">vod2strm: generated none' in html
    assert "Vod2strm" not in html


# -- the lists -------------------------------------------------------------------------------------


def _changelist(client, model: str, **params):
    return client.get(reverse(f"admin:vod2strm_catalog_{model}_changelist"), params).content.decode()


def test_movie_list_shows_provider_category_eligibility_and_library_folder(staff, library):
    main = M3UAccountFactory(name="Main")
    action = VODCategoryFactory(name="Action")
    M3UVODCategoryRelationFactory(m3u_account=main, category=action, enabled=True)
    first = MovieFactory(name="The Return", year=2019)
    second = MovieFactory(name="The Return", year=2019, tmdb_id=None, imdb_id="tt7654321")
    M3UMovieRelationFactory(movie=first, m3u_account=main, category=action)
    M3UMovieRelationFactory(movie=second, m3u_account=M3UAccountFactory(name="Off", is_active=False))
    _post_action(staff, "movie", "generate_selected", [first.pk])
    html = _changelist(staff, "movie")
    assert f"#{first.pk}" in html and f"#{second.pk}" in html  # namesakes told apart
    assert "Main · Action ✔" in html and "Off (inactive) · no category ✘" in html
    folder = _movie_folder(library, first).name
    assert (
        f'<span class="v2s-yes">yes</span> <span class="v2s-folder">Movies/{folder}</span> (2 files)' in html
    )
    assert html.count('<span class="v2s-no">no</span>') == 1


def test_list_filters_for_eligibility_and_library(staff, library):
    _, movies, _ = small_catalog(movies=3, series=0)
    offline = MovieFactory(name="Offline")
    M3UMovieRelationFactory(movie=offline, m3u_account=M3UAccountFactory(is_active=False))
    _post_action(staff, "movie", "generate_selected", [movies[0].pk])

    def names(**params):
        html = _changelist(staff, "movie", **params)
        return sorted(n for n in ("Film 0", "Film 1", "Film 2", "Offline") if f">{n}<" in html)

    assert names(eligible="yes") == ["Film 0", "Film 1", "Film 2"]
    assert names(eligible="no") == ["Offline"]
    assert names(in_library="yes") == ["Film 0"]
    assert names(in_library="no") == ["Film 1", "Film 2", "Offline"]
    assert names(eligible="yes", in_library="no") == ["Film 1", "Film 2"]


def test_series_list_counts_episodes_without_a_query_per_row(staff, library):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account, _, _ = small_catalog(movies=0, series=2, episodes=3)
    with CaptureQueriesContext(connection) as few:
        html = _changelist(staff, "series")
    assert '<td class="field-episode_count">3</td>' in html
    for n in range(20):
        show = SeriesFactory(name=f"More {n}")
        M3USeriesRelationFactory(series=show, m3u_account=account)
        EpisodeFactory.create_batch(2, series=show)
    with CaptureQueriesContext(connection) as many:
        _changelist(staff, "series", eligible="yes")
    with CaptureQueriesContext(connection) as many_plain:
        _changelist(staff, "series")
    assert len(many_plain) == len(few)
    assert len(many) <= len(few) + 2  # the filter's own count queries, not one per row


def test_series_filter_for_series_without_episodes(staff, library):
    account, _, _ = small_catalog(movies=0, series=1, episodes=1)
    empty = SeriesFactory(name="Hollow", year=2020)
    M3USeriesRelationFactory(series=empty, m3u_account=account)
    html = _changelist(staff, "series", eligible="no_episodes")
    assert ">Hollow<" in html and ">Show 0<" not in html


def test_relation_rows_read_as_provider_and_stream(staff, library):
    account = M3UAccountFactory(name="Main")
    category = VODCategoryFactory(name="Drama")
    movie = MovieFactory(name="Heat")
    M3UMovieRelationFactory(movie=movie, m3u_account=account, category=category, stream_id="42")
    html = staff.get(reverse("admin:vod2strm_catalog_movie_change", args=[movie.pk])).content.decode()
    assert "Main: stream 42 in Drama" in html
    assert "M3UMovieRelation object" not in html


# -- styled without DEBUG --------------------------------------------------------------------------


def test_admin_css_is_served_without_debug(client, settings):
    settings.DEBUG = False
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"--header-bg" in b"".join(response.streaming_content)
    assert client.get("/static/vod2strm/admin.css").status_code == 200


def test_admin_css_is_served_by_django_without_whitenoise(client, settings):
    import importlib

    from django.urls import clear_url_caches

    from vod2strm.standalone import urls

    settings.DEBUG = False
    settings.WHITENOISE = False
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "whitenoise" not in m]
    try:
        importlib.reload(urls)
        clear_url_caches()
        response = client.get("/static/admin/css/base.css")
        assert response.status_code == 200
        assert b"--header-bg" in b"".join(response.streaming_content)
    finally:
        settings.WHITENOISE = True
        importlib.reload(urls)
        clear_url_caches()


# -- the library page ------------------------------------------------------------------------------


def _library(client, do: str | None = None):
    url = reverse("vod2strm_library")
    return client.post(url, {"do": do}, follow=True) if do else client.get(url)


def test_library_page_lists_runs_and_marks_selected_ones(staff, library):
    _, movies, _ = small_catalog(movies=1, series=0)
    _post_action(staff, "movie", "generate_selected", [movies[0].pk])
    html = _library(staff).content.decode()
    assert "Run on the whole library" in html
    assert "generate (selected items)" in html
    assert 'value="Cancel the running job" name="_cancel" disabled' in html


def test_library_page_cancel_without_a_job_and_stats(staff, library):
    small_catalog(movies=1, series=0)
    assert _messages(_library(staff, "cancel")) == [
        ("warning", "vod2strm: no job is running; nothing to cancel.")
    ]
    [(level, text)] = _messages(_library(staff, "stats"))
    assert level == "info" and "Library, as the manifest records it (not checked on disk): 0 files" in text
    [(level, text)] = _messages(_library(staff, "scan"))
    assert "On disk: 0 ours, 0 not ours, 0 missing, 0 changed" in text


def test_library_page_reports_bad_settings(staff, library, settings):
    settings.VOD2STRM = {**settings.VOD2STRM, "base_url": "not-a-url"}
    html = _library(staff).content.decode()
    assert '<p class="errornote">vod2strm: base_url: must be an http(s) URL' in html


def test_library_page_shows_progress_from_the_status_file(staff, library, settings):
    from vod2strm.jobs.progress import Progress, StatusFile

    progress = Progress(job="generate")
    progress.start_section("movies", 200)
    progress.advance("movies", 50)
    StatusFile(Path(settings.VOD2STRM["state_dir"])).write({"state": "running", **progress.snapshot()})
    html = _library(staff).content.decode()
    assert "movies: 50 of 200 (25%), running" in html
    status = staff.get(reverse("vod2strm_status")).json()
    assert status["sections"][0]["done"] == 50 and status["running"] is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_library_generate_runs_in_a_job_process(staff, library, monkeypatch):
    from tests.faults.helpers import database_url

    monkeypatch.setenv("DATABASE_URL", database_url())
    small_catalog(movies=2, series=1, episodes=2)
    [(level, text)] = _messages(_library(staff, "generate_all"))
    assert level == "info" and text.startswith(
        "vod2strm: Generate the whole library started in the background (pid "
    )
    deadline = time.monotonic() + 60
    while staff.get(reverse("vod2strm_status")).json()["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    status = staff.get(reverse("vod2strm_status")).json()
    assert status["status"]["state"] == "finished", status
    assert sum(p.endswith(".strm") for p in tree(library)) == 4
    html = _library(staff).content.decode()
    assert "generate (whole library)" in html and "Last background jobs" in html
