"""The standalone admin in a real browser: Debian's chromium, driven by Playwright, against Django's
live server (pytest-django's ``live_server``, a thread of this process on the test database).

A person's path through it: log in, see a styled page, read the lists, filter them, run the
actions on a selection and read each banner, then run the whole library from the library page
and watch its progress to the end. Screenshots go to ``VOD2STRM_TEST_BROWSER_SHOTS`` (default
``/tmp/admin-shots``).

Skipped unless ``VOD2STRM_TEST_BROWSER=1`` and chromium is installed (``.ci/browser`` installs it
and Playwright, and runs this); Playwright never downloads a browser here (``executable_path``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.factories import (
    M3UAccountFactory,
    M3UMovieRelationFactory,
    M3UVODCategoryRelationFactory,
    MovieFactory,
    VODCategoryFactory,
)
from tests.library_helpers import small_catalog, tree

CHROMIUM = (
    os.environ.get("VOD2STRM_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
SHOTS = Path(os.environ.get("VOD2STRM_TEST_BROWSER_SHOTS", "/tmp/admin-shots"))

if os.environ.get("VOD2STRM_TEST_BROWSER") != "1":
    pytest.skip("browser tests run with VOD2STRM_TEST_BROWSER=1 (.ci/browser)", allow_module_level=True)
if not CHROMIUM:
    pytest.skip(
        "chromium is not installed (apt-get install chromium, or .ci/browser)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
#: synchronous, one at a time.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def library(settings, tmp_path, monkeypatch):
    from tests.faults.helpers import database_url

    settings.VOD2STRM = {
        "CATALOG": "standalone",
        "output_root": str(tmp_path / "library"),
        "state_dir": str(tmp_path / "state"),
        "base_url": "http://media.example:9191",
        "max_workers": 2,
    }
    settings.DEBUG = False
    monkeypatch.setenv("DATABASE_URL", database_url())  # the job process's database: this test's
    return tmp_path / "library"


@pytest.fixture
def page(browser, live_server, library):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(f"{live_server.url}/admin/")
    tab.fill("#id_username", "admin")
    tab.fill("#id_password", "pw")
    tab.click("input[type=submit]")
    tab.wait_for_selector("#user-tools")
    yield tab
    context.close()


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def banner(tab) -> tuple[str, str]:
    item = tab.locator("ul.messagelist li").first
    return item.get_attribute("class") or "", item.inner_text().strip()


def run_action(tab, live_server, model: str, label: str, names: list[str]) -> tuple[str, str]:
    """Tick the rows named ``names`` on a list, pick the action ``label``, press Go; the banner."""
    tab.goto(f"{live_server.url}/admin/vod2strm_catalog/{model}/")
    for name in names:
        tab.locator("#result_list tbody tr", has=tab.locator(f"th a:text-is('{name}')")).locator(
            "input.action-select"
        ).check()
    tab.select_option("select[name=action]", label=label)
    tab.click("button[name=index]")
    tab.wait_for_selector("ul.messagelist li")
    return banner(tab)


def test_styled_list_with_providers_eligibility_and_filters(page, live_server):
    main = M3UAccountFactory(name="Main")
    action = VODCategoryFactory(name="Action")
    M3UVODCategoryRelationFactory(m3u_account=main, category=action, enabled=True)
    movie = MovieFactory(name="Heat", year=1995)
    M3UMovieRelationFactory(movie=movie, m3u_account=main, category=action)
    offline = MovieFactory(name="Offline", year=2001)
    M3UMovieRelationFactory(movie=offline, m3u_account=M3UAccountFactory(name="Old", is_active=False))

    page.goto(f"{live_server.url}/admin/vod2strm_catalog/movie/")
    # The admin's stylesheet is applied although DEBUG is off: the header has its colour.
    header = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
    assert header == "rgb(65, 118, 144)", header
    link = page.eval_on_selector("a.v2s-nav", "e => getComputedStyle(e).fontWeight")
    assert link == "600"  # vod2strm's own stylesheet too
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    text = page.locator("#result_list").inner_text()
    assert "Main · Action ✔" in text and "Old (inactive) · no category ✘" in text
    assert f"#{movie.pk}" in text
    shot(page, "01-movie-list")

    page.click("#changelist-filter a:text-is('Not eligible')")
    page.wait_for_url("**?eligible=no")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "Offline" in page.locator("#result_list").inner_text()
    shot(page, "02-filter-not-eligible")


def test_actions_on_a_selection_and_their_banners(page, live_server, library):
    small_catalog(movies=2, series=1, episodes=2)
    offline = MovieFactory(name="Offline", year=2001)
    M3UMovieRelationFactory(movie=offline, m3u_account=M3UAccountFactory(name="Old", is_active=False))

    level, text = run_action(
        page, live_server, "movie", "Generate library files for selected movies", ["Film 0"]
    )
    assert level == "success"
    assert text.startswith("vod2strm: generated 1 of the 1 selected movie: wrote 2 of 2 files,")
    shot(page, "03-generate-one-movie")

    [folder] = (library / "Movies").iterdir()
    shutil.rmtree(folder)
    level, text = run_action(
        page, live_server, "movie", "Generate library files for selected movies", ["Film 0"]
    )
    assert level == "success"
    assert "wrote 2 of 2 files (2 restored after going missing on disk)" in text
    assert folder.is_dir()
    shot(page, "04-restored")

    level, text = run_action(
        page, live_server, "movie", "Generate library files for selected movies", ["Offline"]
    )
    assert (level, text) == (
        "warning",
        "vod2strm: generated none of the 1 selected movie. "
        f"Skipped 1: 1 inactive account (Offline (2001) #{offline.pk}).",
    )
    shot(page, "05-nothing-generated")

    level, text = run_action(
        page, live_server, "series", "Generate library files for selected series", ["Show 0"]
    )
    assert level == "success" and text.startswith(
        "vod2strm: generated 1 of the 1 selected series (2 episodes):"
    )
    page.goto(f"{live_server.url}/admin/vod2strm_catalog/series/")
    assert "TV Shows/Show 0 (2010)" in page.locator("#result_list").inner_text()
    shot(page, "06-series-list")

    level, text = run_action(page, live_server, "movie", "Show vod2strm stats", [])
    assert level == "info" and "Library, as the manifest records it (not checked on disk): 8 files" in text


def test_library_page_runs_the_whole_library_with_progress(page, live_server, library, settings):
    from vod2strm.jobs.progress import Progress, StatusFile

    small_catalog(movies=3, series=1, episodes=2)
    # What a long run looks like halfway: the page reads the status file.
    progress = Progress(job="generate")
    progress.start_section("movies", 400)
    progress.advance("movies", 100)
    StatusFile(Path(settings.VOD2STRM["state_dir"])).write({"state": "running", **progress.snapshot()})
    page.click("a.v2s-nav")
    assert "movies: 100 of 400 (25%), running" in page.locator(".v2s-section-text").first.inner_text()
    shot(page, "07-progress-from-status-file")

    page.click("input[name=_cleanup_preview]")
    level, text = banner(page)
    assert level == "info" and text.startswith("vod2strm: Cleanup preview started in the background (pid ")
    wait_idle(page)

    page.click("input[name=_generate_all]")
    assert banner(page)[1].startswith("vod2strm: Generate the whole library started in the background")
    seen = wait_idle(page, shots="08-generate-running")
    assert "generate finished" in page.locator("#v2s-status").inner_text(), seen
    assert sum(p.endswith(".strm") for p in tree(library)) == 5
    runs = page.locator("#v2s-runs").inner_text()
    assert "generate (whole library)" in runs
    assert "Wrote 12 of 12 files" in page.locator("#v2s-message").inner_text()
    shot(page, "09-generate-finished")

    page.click("input[name=_cleanup]")
    wait_idle(page)
    assert "cleanup finished" in page.locator("#v2s-status").inner_text()
    assert "Removed 0 files" in page.locator("#v2s-message").inner_text()

    page.click("input[name=_cancel]") if page.locator("input[name=_cancel]").is_enabled() else None
    page.click("input[name=_stats]")
    level, text = banner(page)
    assert level == "info" and "(not checked on disk): 12 files" in text
    page.click("input[name=_scan]")
    assert "On disk: 12 ours, 0 not ours, 0 missing, 0 changed" in banner(page)[1]
    shot(page, "10-library-page")


def wait_idle(tab, *, shots: str = "", timeout: float = 60) -> list[str]:
    """Reload the library page (it refreshes itself while a job runs) until no job runs; the
    status lines seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tab.wait_for_load_state()
        status = tab.locator("#v2s-status").inner_text()
        seen.append(status + " | " + " / ".join(tab.locator(".v2s-section-text").all_inner_texts()))
        if not status.startswith("Running"):
            return seen
        if shots and len(seen) == 1:
            shot(tab, shots)
        time.sleep(0.3)
        tab.reload()
    raise AssertionError(f"the job did not end within {timeout} s: {seen[-3:]}")
