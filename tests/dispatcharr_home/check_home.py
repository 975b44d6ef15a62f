"""Tests that run in the Dispatcharr home (``--ds=tests.settings_dispatcharr``).

Collected only by the subprocess ``tests/dispatcharr/test_dispatcharr_home.py`` starts
(``-o python_files=check_*.py``). With ``VOD2STRM_HOME_DUMP`` set, the catalog rows, the
generated tree and the query count are written there for the standalone side to compare.
"""

from __future__ import annotations

import json
import os

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.dispatcharr_home import catalog_data, harness
from vod2strm import conf
from vod2strm.catalog import resolver
from vod2strm.jobs import generate


def test_the_home_is_dispatcharr_and_vod2strm_is_not_an_app():
    assert resolver.home() == "dispatcharr"
    m = resolver.models()
    assert m.Movie._meta.label == "vod.Movie" and m.M3UAccount._meta.label == "m3u.M3UAccount"
    assert m.Episode._meta.ordering == ["series__name", "season_number", "episode_number"]
    assert not apps.is_installed("vod2strm")
    assert resolver.default_output_root().as_posix() == "/data/vod2strm/library"


@pytest.mark.django_db
def test_catalog_queries_and_generate(tmp_path):
    catalog_data.build(resolver.models())
    settings = conf.load(
        {**catalog_data.SETTINGS, "output_root": tmp_path / "library", "state_dir": tmp_path / "state"}
    )
    rows = catalog_data.rows(settings)
    assert [r["name"] for r in rows["movies"]] == ["EN - The Matrix", "Amélie", "Heat", "千と千尋の神隠し"]
    assert [r["name"] for r in rows["series"]] == ["|UK| Breaking Bad", "No Episodes Yet"]
    with CaptureQueriesContext(connection) as captured:
        result = generate.run(settings)
    assert result.exit_code == 0, result.as_dict()
    # Episode's default ordering joins vod_series; the core always orders explicitly.
    for query in captured.captured_queries:
        assert 'ORDER BY "vod_series"."name"' not in query["sql"], query["sql"]
    tree = catalog_data.digest(settings.output_root)
    assert any(p.startswith("Movies/The Matrix (1999)") for p in tree), sorted(tree)
    dump = os.environ.get("VOD2STRM_HOME_DUMP")
    if dump:
        data = {"rows": rows, "tree": tree, "queries": result.queries, "sections": result.sections}
        with open(dump, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)


@pytest.mark.django_db(transaction=True)
def test_the_plugin_runs_a_job_in_the_dispatcharr_home(tmp_path, monkeypatch):
    """The job process sets Django up with this home's settings, where vod2strm is no app."""
    catalog_data.build(resolver.models())
    monkeypatch.setenv("DATABASE_URL", harness.database_url())
    from vod2strm.dispatcharr import control
    from vod2strm.dispatcharr.plugin import Plugin

    state = tmp_path / "state"
    settings = {**catalog_data.SETTINGS, "output_root": str(tmp_path / "library"), "state_dir": str(state)}
    answer = Plugin().run("generate_all", {}, harness.context(settings))
    assert answer["status"] == "ok", answer
    harness.wait_for(lambda: control.running_job(state) is None, 120, what="the job")
    status = Plugin().run("status", {}, harness.context(settings))
    log = (state / control.LOG_FILE).read_text()
    assert status["data"]["progress"]["exit"] == 0, log
    assert status["data"]["progress"]["summary"]["sections"] == {"movies": "complete", "series": "complete"}
    assert (tmp_path / "library" / "TV Shows").is_dir()
