"""ENOSPC, EACCES, EIO and EROFS on create/write/rename/mkdir at the writer's filesystem boundary.

Disk full and read-only shares stop the run (exit 1, one message) instead of failing every file;
a permission or I/O error on some paths fails those items (exit 4) and the run goes on. Either
way no file is ever partial, old bytes stay until new ones are complete, the manifest matches the
disk, and the next run converges.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os

import pytest

from tests.faults import helpers
from tests.faults.conftest import check_converges, check_no_damage
from tests.faults.helpers import Fault, FaultFS
from vod2strm.errors import EXIT_FAILED, EXIT_ITEM_ERRORS, Vod2strmError
from vod2strm.jobs import generate
from vod2strm.output import marker

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

#: What each errno means for the run (docs/cli.md; cases in docs/reliability.md): the share refuses
#: every write (fatal, exit 1) or this path failed (item error, exit 4).
EXPECTED_EXIT = {
    errno.ENOSPC: EXIT_FAILED,
    errno.EROFS: EXIT_FAILED,
    errno.EACCES: EXIT_ITEM_ERRORS,
    errno.EIO: EXIT_ITEM_ERRORS,
}


@pytest.mark.parametrize("code", list(EXPECTED_EXIT), ids=errno.errorcode.get)
@pytest.mark.parametrize("op", ["create", "write", "rename", "mkdir"])
def test_fault_on_every_call_after_a_few(scenario, op, code, caplog):
    """From the 3rd matching call on, every ``op`` fails with ``code``."""
    fs = FaultFS([Fault(op, code, after=2)])
    with caplog.at_level(logging.WARNING, logger="vod2strm"):
        result = generate.run(scenario.settings, fs=fs)
    assert fs.raised, "the fault never fired"
    assert result.exit_code == EXPECTED_EXIT[code], result.as_dict()
    strerror = os.strerror(code)
    if result.exit_code == EXIT_FAILED:
        assert helpers.one_line(result.error) and strerror in result.error
        assert "failed" in result.sections.values()
    else:
        assert result.error is None and result.errors > 0
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert messages and all(helpers.one_line(m) and strerror in m for m in messages), messages
    check_no_damage(scenario)
    check_converges(scenario)


@pytest.mark.parametrize("op", ["create", "write", "rename", "mkdir"])
def test_eacces_on_one_show_fails_only_that_show(scenario, op):
    fs = FaultFS([Fault(op, errno.EACCES, match="Fresh Show")])
    result = generate.run(scenario.settings, fs=fs)
    assert result.exit_code == EXIT_ITEM_ERRORS
    failed = {path for _, path, _ in fs.raised}
    assert failed and all("Fresh Show" in p for p in failed)
    after = scenario.fresh()
    for rel, data in scenario.wanted.items():  # every other item got its v2 bytes
        if "Fresh Show" not in rel:
            assert after.get(rel) == data, rel
    check_no_damage(scenario)
    check_converges(scenario)


def test_transient_eio_on_a_few_writes_is_retried_by_the_next_run(scenario):
    fs = FaultFS([Fault("rename", errno.EIO, match="Newcomer", times=2), Fault("write", errno.EIO, times=1)])
    result = generate.run(scenario.settings, fs=fs)
    assert result.exit_code == EXIT_ITEM_ERRORS and result.errors == 3
    check_no_damage(scenario)
    check_converges(scenario)


def test_a_long_run_of_eio_becomes_fatal(scenario, monkeypatch):
    """A share that answers every write with EIO (but whose root still stats) stops the run."""
    from vod2strm.output import writer

    real_init = writer.Writer.__init__

    def short_streak(self, *args, **kwargs):
        kwargs["max_consecutive_errors"] = 5
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(writer.Writer, "__init__", short_streak)
    fs = FaultFS([Fault("create", errno.EIO)])
    result = generate.run(scenario.settings, fs=fs)
    assert result.exit_code == EXIT_FAILED
    assert helpers.one_line(result.error) and "write errors in a row" in result.error
    check_no_damage(scenario)
    check_converges(scenario)


@pytest.mark.parametrize("code", [errno.EIO, errno.EACCES], ids=errno.errorcode.get)
def test_listing_an_existing_folder_fails(scenario, code):
    fs = FaultFS([Fault("scandir", code, match="Film 03")])
    result = generate.run(scenario.settings, fs=fs)
    assert result.exit_code == EXIT_ITEM_ERRORS
    check_no_damage(scenario)
    check_converges(scenario)


def test_reading_a_file_to_adopt_it_fails(scenario):
    """Adoption reads what is there; a failed read means "leave it" (an item error), never "it is
    ours" and never "write over it": a file we cannot read cannot be proven ours."""
    from vod2strm.output.manifest import manifest_path

    # The manifest is lost and the root handed to a new state (the documented way to rebuild).
    manifest_path(scenario.settings.state_dir, scenario.settings.output_root).unlink()
    (scenario.root / marker.MARKER_NAME).unlink()
    fs = FaultFS([Fault("read", errno.EIO)])
    result = generate.run(scenario.settings, fs=fs)
    assert result.exit_code == EXIT_ITEM_ERRORS and result.adopted == 0 and result.errors
    check_no_damage(scenario)
    assert {p: d for p, d in scenario.fresh().items() if p in scenario.before} == scenario.before
    stale = [p for p in scenario.before if p not in scenario.wanted]  # the renumbered episode's old files
    assert len(stale) == 2
    # Without a manifest, files whose bytes differ from ours are not provably ours: taking them
    # over is a deliberate setting.
    scenario.settings = dataclasses.replace(scenario.settings, take_over_foreign_files=True)
    check_converges(scenario, not_ours=stale)


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EIO, errno.EROFS, errno.EACCES], ids=errno.errorcode.get
)
def test_the_root_marker_cannot_be_written(tmp_path, code):
    """The first run cannot write its marker: one clear error, nothing written."""
    from tests.faults.conftest import build_catalog, make_settings

    build_catalog(movies=3, series=1)
    settings = make_settings(tmp_path)
    fs = FaultFS([Fault("create", code, match=lambda p: p.name == ".vod2strm-root")])
    with pytest.raises(Vod2strmError) as info:
        generate.run(settings, fs=fs)
    assert info.value.exit_code in (1, 2)
    assert helpers.one_line(str(info.value)) and os.strerror(code) in str(info.value)
    assert helpers.library_tree(settings.output_root) == {}
    again = generate.run(settings)
    assert again.exit_code == 0
    assert helpers.library_problems(settings.output_root) == []


def test_temp_files_a_crash_just_left_are_swept_by_the_next_run(scenario):
    """A run killed a moment ago left temp files (half-written) where it was writing: the next
    run, however soon it starts, sweeps every one in the folders it writes to."""
    sc = scenario
    changed = sorted({p.rsplit("/", 1)[0] for p, data in sc.wanted.items() if sc.before.get(p) != data})
    assert len(changed) > 5
    planted = [helpers.plant_temp_file(sc.root / folder, b"<movie><ti") for folder in changed]
    assert len(helpers.temp_files(sc.root)) == len(planted)
    result = generate.run(sc.settings)
    assert result.exit_code == 0
    assert helpers.temp_files(sc.root) == []
    check_converges(sc)
