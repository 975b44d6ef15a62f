"""The output root: vanishing mid-run, unmounted (empty mount point or missing), dead (EIO).

A NAS that failed to mount must never receive a library on the container's own disk, and a
cleanup there must never "delete" the library: with files in the manifest, a root without its
marker is refused (exit 5) by generate and cleanup alike, through the CLI as through the jobs.
"""

from __future__ import annotations

import errno
import os

import pytest

from tests.faults import helpers
from tests.faults.conftest import Scenario, check_converges, check_no_damage
from tests.faults.helpers import Fault, FaultFS
from vod2strm.errors import EXIT_FAILED, EXIT_REFUSED, RefusedError
from vod2strm.jobs import cleanup, generate

pytestmark = [pytest.mark.faults]


def unmount(sc: Scenario, *, mount_point: bool):
    away = sc.root.with_name("library-unmounted")
    os.rename(sc.root, away)
    if mount_point:
        sc.root.mkdir()
    return away


def remount(sc: Scenario, away) -> None:
    if sc.root.exists():
        assert list(sc.root.iterdir()) == [], "something was written onto the bare mount point"
        sc.root.rmdir()
    os.rename(away, sc.root)


@pytest.mark.django_db
def test_root_vanishes_mid_generate(scenario):
    sc = scenario
    away = sc.root.with_name("library-unmounted")

    def unmount_after_a_few(op, path):
        if op == "create" and fs.calls["create"] == 6:
            os.rename(sc.root, away)

    fs = FaultFS(on_call=unmount_after_a_few)
    result = generate.run(sc.settings, fs=fs)
    assert result.exit_code == EXIT_FAILED
    assert helpers.one_line(result.error) and "vanished" in result.error
    assert not sc.root.exists(), "the root was recreated on the local disk"
    with pytest.raises(RefusedError):  # still unmounted: refused, not written
        generate.run(sc.settings)
    assert not sc.root.exists()
    os.rename(away, sc.root)
    check_no_damage(sc)
    check_converges(sc)


@pytest.mark.django_db
@pytest.mark.parametrize("mount_point", [True, False], ids=["empty-mount-point", "missing"])
def test_unmounted_root_is_refused_by_the_jobs(scenario, mount_point):
    sc = scenario
    away = unmount(sc, mount_point=mount_point)
    for job in (generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(sc.settings)
        assert info.value.exit_code == EXIT_REFUSED
        assert helpers.one_line(str(info.value)) and "unmounted" in str(info.value)
        assert sc.root.exists() == mount_point
    remount(sc, away)
    check_no_damage(sc)
    check_converges(sc)


@pytest.mark.django_db
@pytest.mark.parametrize("code", [errno.EIO, errno.ENOTCONN, errno.ESTALE], ids=errno.errorcode.get)
def test_dead_mount_is_refused(scenario, code):
    sc = scenario
    fs = FaultFS([Fault("stat", code, match=lambda p: p == sc.root or p.parent == sc.root)])
    for job in (generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(sc.settings, fs=fs)
        assert info.value.exit_code == EXIT_REFUSED and helpers.one_line(str(info.value))
    check_no_damage(sc)
    check_converges(sc)


@pytest.mark.django_db(transaction=True)
def test_unmounted_root_through_the_cli(scenario):
    """``manage.py vod2strm generate|cleanup --json``: exit 5, one JSON object, one stderr line."""
    sc = scenario
    away = unmount(sc, mount_point=True)
    env = helpers.child_env(sc.settings)
    for command in ("generate", "cleanup"):
        out = helpers.run_cli(env, command)
        assert out.code == EXIT_REFUSED, out
        assert out.data["exit"] == EXIT_REFUSED and "unmounted" in out.data["error"]
        assert helpers.one_line(out.data["error"])
        assert len(helpers.error_lines(out.stderr)) == 1 and "Traceback" not in out.stderr
    remount(sc, away)
    out = helpers.run_cli(env, "generate")
    assert out.code == 0, out
    check_converges(sc)
