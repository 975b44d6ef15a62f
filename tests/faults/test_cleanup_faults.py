"""Faults while cleanup deletes: unlink/rmdir errors, and the root vanishing under it.

Cleanup deletes only files the manifest says are ours and orphaned. Whatever fails, a file it did
not delete keeps its bytes and its manifest record (so the next cleanup retries it), a file it
did delete is never reported as still there, and a share that vanishes mid-way stops the run
instead of being taken for "every file is already gone".
"""

from __future__ import annotations

import errno
import logging
import os

import pytest

from tests.faults import helpers
from tests.faults.conftest import Scenario
from tests.faults.helpers import Fault, FaultFS
from vod2strm.errors import EXIT_ITEM_ERRORS, EXIT_OK, Vod2strmError
from vod2strm.jobs import cleanup, generate
from vod2strm.standalone import models

pytestmark = [pytest.mark.faults, pytest.mark.django_db]


@pytest.fixture
def orphans(scenario: Scenario):
    """v2 generated in full, then 3 movies leave the catalog: 8 orphans (those 6 files and the
    renumbered episode's old 2), well under the valve."""
    assert generate.run(scenario.settings).exit_code == 0
    gone = list(models.Movie.objects.filter(name__in=["Film 20", "Film 21", "Film 22"]))
    assert len(gone) == 3
    for movie in gone:
        movie.delete()
    assert generate.run(scenario.settings).exit_code == 0
    scenario.before = scenario.fresh()
    scenario.wanted = helpers.reference_tree(scenario.settings, scenario.tmp / "reference-2")
    doomed = sorted(set(scenario.before) - set(scenario.wanted))
    assert len(doomed) == 8
    return scenario, doomed


def check_cleanup_damage(sc: Scenario, doomed: list[str]) -> None:
    after = sc.fresh()
    assert helpers.library_problems(sc.root) == []
    for rel, data in sc.before.items():
        if rel in after:
            assert after[rel] == data, rel
        else:
            assert rel in doomed, f"cleanup deleted {rel}, which is not an orphan"
    assert helpers.manifest_problems(sc.settings) == []


def check_cleanup_converges(sc: Scenario) -> None:
    again = cleanup.run(sc.settings)
    assert again.exit_code == EXIT_OK, again.as_dict()
    assert sc.fresh() == sc.wanted
    assert helpers.manifest_problems(sc.settings) == []
    assert helpers.library_problems(sc.root) == []
    assert generate.run(sc.settings).written == 0


@pytest.mark.parametrize("code", [errno.EACCES, errno.EIO, errno.EROFS, errno.EBUSY], ids=errno.errorcode.get)
def test_unlink_fails_after_a_few(orphans, code, caplog):
    sc, doomed = orphans
    fs = FaultFS([Fault("unlink", code, after=3)])
    with caplog.at_level(logging.WARNING, logger="vod2strm"):
        result = cleanup.run(sc.settings, fs=fs)
    assert fs.raised
    assert result.exit_code == EXIT_ITEM_ERRORS and result.removed == 3
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert messages and all(helpers.one_line(m) and os.strerror(code) in m for m in messages)
    check_cleanup_damage(sc, doomed)
    check_cleanup_converges(sc)


def test_rmdir_fails(orphans, caplog):
    sc, doomed = orphans
    fs = FaultFS([Fault("rmdir", errno.EIO)])
    with caplog.at_level(logging.WARNING, logger="vod2strm"):
        result = cleanup.run(sc.settings, fs=fs)
    assert result.removed == 8 and result.folders_removed == 0
    assert any("could not remove folder" in r.getMessage() for r in caplog.records)
    check_cleanup_damage(sc, doomed)
    # The emptied folders are left; the next cleanup has no orphan to pass by them.
    assert cleanup.run(sc.settings).exit_code == EXIT_OK
    assert sc.fresh() == sc.wanted


def test_root_vanishes_mid_cleanup(orphans):
    """An unmounted share looks like "every file is already gone": cleanup must stop, not forget."""
    sc, doomed = orphans
    away = sc.root.with_name("library-unmounted")

    def unmount_after_two(op, path):
        if op == "unlink" and fs.calls["unlink"] == 2:
            os.rename(sc.root, away)

    fs = FaultFS(on_call=unmount_after_two)
    with pytest.raises(Vod2strmError) as info:
        cleanup.run(sc.settings, fs=fs)
    assert info.value.exit_code == 1
    assert helpers.one_line(str(info.value)) and "vanished" in str(info.value)
    assert not sc.root.exists()  # never recreated
    os.rename(away, sc.root)  # the share comes back
    check_cleanup_damage(sc, doomed)
    check_cleanup_converges(sc)


def test_root_missing_before_cleanup_is_refused(orphans):
    sc, _ = orphans
    away = sc.root.with_name("library-unmounted")
    os.rename(sc.root, away)
    sc.root.mkdir()  # the empty mount point
    result_or_error = None
    with pytest.raises(Vod2strmError) as info:
        result_or_error = cleanup.run(sc.settings)
    assert result_or_error is None
    assert info.value.exit_code == 5 and helpers.one_line(str(info.value))
    assert list(sc.root.iterdir()) == []
    sc.root.rmdir()
    os.rename(away, sc.root)
    check_cleanup_converges(sc)
