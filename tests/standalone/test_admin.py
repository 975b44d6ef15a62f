"""Admin actions of the standalone home, through Django's test client as a staff user."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import M3UAccountFactory, M3UMovieRelationFactory, MovieFactory
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
    assert text.startswith("vod2strm: 2 selected movies: Wrote 4 of 4 files for 2 items")
    files = tree(library)
    folders = sorted(p.split("/")[1].split(" [")[0] for p in files if p.endswith(".strm"))
    assert folders == ["Film 0 (2000)", "Film 2 (2002)"]
    assert not any(p.startswith("TV Shows/") for p in files)


def test_generate_selected_series_writes_the_show_and_its_episodes(staff, library):
    _, _, shows = small_catalog(movies=1, series=2, episodes=2)
    response = _post_action(staff, "series", "generate_selected", [shows[1].pk])
    [(level, text)] = _messages(response)
    assert level == "success" and text.startswith("vod2strm: 1 selected series: Wrote ")
    files = tree(library)
    assert {p.split("/")[1].split(" [")[0] for p in files} == {"Show 1 (2011)"}
    assert sum(p.endswith(".strm") for p in files) == 2


def test_generate_selected_says_when_selected_items_are_not_eligible(staff, library):
    inactive = M3UAccountFactory(is_active=False)
    movie = MovieFactory(name="Offline")
    M3UMovieRelationFactory(movie=movie, m3u_account=inactive)
    [(level, text)] = _messages(_post_action(staff, "movie", "generate_selected", [movie.pk]))
    assert level == "success" and "are not eligible" in text
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
    assert "Library: 4 files" in text


def test_stats_escape_catalog_text(staff, library):
    account = M3UAccountFactory(name="<script>alert(1)</script>")
    M3UMovieRelationFactory(m3u_account=account)
    [(_, text)] = _messages(_post_action(staff, "movie", "show_vod2strm_stats"))
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_other_actions_still_need_a_selection(staff, library):
    small_catalog(movies=1, series=0)
    response = _post_action(staff, "movie", "generate_selected")
    assert any("Items must be selected" in text for _, text in _messages(response))
