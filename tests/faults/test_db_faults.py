"""The catalog database failing mid-run: a closed connection, an OperationalError between chunks.

A connection closed between chunks is reopened (keyset pagination keeps no cursor open across
chunks). A query that fails ends the run with one line (CLI: exit 2 "database unreachable"); the
run is recorded as failed, so cleanup waits for a complete one; everything written so far is
whole and recorded; the next run converges.
"""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from tests.faults import helpers
from tests.faults.conftest import check_converges, check_no_damage
from tests.library_helpers import call_cli
from vod2strm.errors import EXIT_CONFIG
from vod2strm.jobs import cleanup, generate
from vod2strm.standalone import models

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

PG_MESSAGE = (
    "server closed the connection unexpectedly\n"
    "\tThis probably means the server terminated abnormally\n"
    "\tbefore or while processing the request."
)


def vod2strm_settings(settings):
    return {
        "output_root": str(settings.output_root),
        "state_dir": str(settings.state_dir),
        "max_workers": settings.max_workers,
        "chunk_size": settings.chunk_size,
    }


def test_connection_closed_between_chunks_is_reopened(scenario, between_chunks):
    closed = []

    def close(model, n, rows):
        connection.close()
        closed.append((model.__name__, n))

    between_chunks(close)
    result = generate.run(scenario.settings)
    assert len(closed) > 6 and {m for m, _ in closed} == {"Movie", "Series"}
    assert result.exit_code == 0, result.as_dict()
    assert scenario.fresh() == {**scenario.before, **scenario.wanted}
    check_converges(scenario)


@pytest.mark.parametrize("fail_at", [3, 8, 14, 22])
def test_query_failing_mid_run_through_the_cli(scenario, fail_at):
    """The ``fail_at``-th catalog statement of the run raises OperationalError (a dropped server)."""
    seen = {"n": 0}

    def drop_once(execute, sql, params, many, context):
        seen["n"] += 1
        if seen["n"] == fail_at:
            raise OperationalError(PG_MESSAGE)
        return execute(sql, params, many, context)

    with (
        override_settings(VOD2STRM=vod2strm_settings(scenario.settings)),
        connection.execute_wrapper(drop_once),
    ):
        code, out, err = call_cli("generate", "--json")
    assert code == EXIT_CONFIG
    data = json.loads(out)
    assert data == {"error": "database unreachable: server closed the connection unexpectedly", "exit": 2}
    assert helpers.error_lines(err) == ["vod2strm: " + data["error"]]
    check_no_damage(scenario)
    # The run is recorded as failed: cleanup deletes nothing on its account.
    cleaned = cleanup.run(scenario.settings)
    assert cleaned.removed == 0 and "not complete" in str(cleaned.sections)
    check_converges(scenario)


def test_query_failing_mid_run_in_the_job(scenario, between_chunks):
    fired = []

    def fail_on_third(model, n, rows):
        if model is models.Movie and n == 2 and not fired:
            fired.append(n)
            raise OperationalError("connection to server lost")

    between_chunks(fail_on_third)
    with pytest.raises(OperationalError):
        generate.run(scenario.settings)
    from vod2strm.output.manifest import Manifest

    manifest = Manifest.open(scenario.settings.state_dir, scenario.settings.output_root)
    try:
        last = manifest.recent_runs(1)[0]
    finally:
        manifest.close()
    assert last["finished"] is not None
    assert last["sections"] == {"movies": "failed", "series": "failed"}
    assert "connection to server lost" in last["summary"]["error"]
    check_no_damage(scenario)
    check_converges(scenario)
