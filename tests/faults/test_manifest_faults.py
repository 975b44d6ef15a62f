"""A damaged manifest (truncated, emptied, garbage) is refused with exit 5 — never taken as empty.

Taken as empty, a damaged manifest would make every file of the library look like someone
else's (rewritten by generate, user edits lost) or, half-read, make cleanup delete files it no
longer recognises. So generate and cleanup both refuse (exit 5) with one line naming the file and
the way out (restore it, or move it aside to rebuild from disk), and touch nothing on the share.
Moving it aside rebuilds from disk without rewriting a single unchanged file.
"""

from __future__ import annotations

import dataclasses
import os
import random

import pytest

from tests.faults import helpers
from tests.faults.conftest import check_converges
from tests.library_helpers import age_files, mtimes
from vod2strm.errors import EXIT_REFUSED, RefusedError
from vod2strm.jobs import cleanup, generate
from vod2strm.output.manifest import manifest_path

pytestmark = [pytest.mark.faults]

PAGE = 4096


def damage(path, how: str) -> None:
    for suffix in ("-wal", "-shm"):
        assert not os.path.exists(f"{path}{suffix}"), "the manifest was left open"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * PAGE
    rnd = random.Random(how)
    if how == "emptied":
        data = bytearray()
    elif how == "truncated-half":
        data = data[: len(data) // 2]
    elif how == "truncated-to-one-page":
        data = data[:PAGE]
    elif how == "garbage-header":
        data[:100] = rnd.randbytes(100)
    elif how == "garbage-pages":  # every page header of the second half
        for page in range(len(data) // PAGE // 2, len(data) // PAGE):
            data[page * PAGE : page * PAGE + 16] = rnd.randbytes(16)
    elif how == "all-garbage":
        data = bytearray(rnd.randbytes(len(data)))
    else:  # pragma: no cover
        raise ValueError(how)
    path.write_bytes(bytes(data))


MODES = [
    "emptied",
    "truncated-half",
    "truncated-to-one-page",
    "garbage-header",
    "garbage-pages",
    "all-garbage",
]


def prepared(sc):
    age_files(sc.root)
    path = manifest_path(sc.settings.state_dir, sc.settings.output_root)
    return path, helpers.files_on_disk(sc.root), mtimes(sc.root)


def rebuild_from_disk(sc, path, disk_before) -> None:
    """The documented way out: move the manifest aside; the next run adopts what is there. Files
    whose bytes differ from ours are no longer provably ours: they are kept and reported, until
    the user hands them over with ``take_over_foreign_files``."""
    os.replace(path, path.with_name(path.name + ".damaged"))
    result = generate.run(sc.settings)
    assert result.exit_code == 0
    unchanged = [p for p in sc.wanted if sc.before.get(p) == sc.wanted[p]]
    assert result.adopted == len(unchanged)  # identical files are taken over, not rewritten
    differing = sorted(p for p in sc.wanted if p in sc.before and sc.before[p] != sc.wanted[p])
    assert differing and sorted(result.foreign) == differing
    assert {p: helpers.files_on_disk(sc.root)[p] for p in differing} == {p: sc.before[p] for p in differing}
    sc.settings = dataclasses.replace(sc.settings, take_over_foreign_files=True)
    stale = [p for p in sc.before if p not in sc.wanted]  # the renumbered episode's old files
    check_converges(sc, not_ours=stale)


@pytest.mark.django_db
@pytest.mark.parametrize("how", MODES)
def test_damaged_manifest_is_refused_by_generate_and_cleanup(scenario, how):
    sc = scenario
    path, disk_before, times_before = prepared(sc)
    damage(path, how)
    for job in (cleanup.run, generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(sc.settings)
        message = str(info.value)
        assert info.value.exit_code == EXIT_REFUSED
        assert helpers.one_line(message) and str(path) in message and "move it aside" in message
    assert helpers.files_on_disk(sc.root) == disk_before and mtimes(sc.root) == times_before
    rebuild_from_disk(sc, path, disk_before)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["emptied", "garbage-pages"])
def test_damaged_manifest_through_the_cli(scenario, how):
    sc = scenario
    path, disk_before, times_before = prepared(sc)
    damage(path, how)
    env = helpers.child_env(sc.settings)
    for command in ("cleanup", "generate"):
        out = helpers.run_cli(env, command)
        assert out.code == EXIT_REFUSED and out.data["exit"] == EXIT_REFUSED, out
        assert "unreadable" in out.data["error"] and helpers.one_line(out.data["error"])
        assert len(helpers.error_lines(out.stderr)) == 1 and "Traceback" not in out.stderr
    assert helpers.files_on_disk(sc.root) == disk_before and mtimes(sc.root) == times_before
    rebuild_from_disk(sc, path, disk_before)


@pytest.mark.django_db
def test_garbage_appended_to_the_manifest_is_harmless(scenario):
    """Bytes past the last page are ignored by SQLite: the manifest still works as before."""
    sc = scenario
    path, _, _ = prepared(sc)
    with open(path, "ab") as fh:
        fh.write(os.urandom(3 * PAGE + 17))
    check_converges(sc)


@pytest.mark.django_db
def test_a_crash_while_creating_the_manifest_leaves_no_empty_one(tmp_path, monkeypatch):
    """The first run dies while creating its manifest: no empty manifest file is left to refuse."""
    import sqlite3

    from tests.faults.conftest import build_catalog, make_settings
    from vod2strm.output import manifest as manifest_module

    build_catalog(movies=2, series=1)
    settings = make_settings(tmp_path)
    real_connect = sqlite3.connect

    def dying_connect(target, *args, **kwargs):
        real_connect(target, *args, **kwargs).close()  # the file exists, empty, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(manifest_module.sqlite3, "connect", dying_connect)
    with pytest.raises(KeyboardInterrupt):
        generate.run(settings)
    monkeypatch.setattr(manifest_module.sqlite3, "connect", real_connect)
    assert not manifest_path(settings.state_dir, settings.output_root).exists()
    assert generate.run(settings).exit_code == 0
