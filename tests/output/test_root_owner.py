"""One owner per output root: the root's marker names the state (manifest) that owns it.

Two state folders on one root hold two different run locks (cron started in one working folder, a
manual run in another; the plugin and the CLI), so without an owner they would sweep each other's
temp files and delete each other's files. A run whose state is not the owner is refused (exit 5)
before it writes or deletes anything; an older version's marker is claimed; an unreadable marker
is one line.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from tests.factories import M3UMovieRelationFactory, MovieFactory
from tests.faults import helpers
from tests.faults.helpers import Fault, FaultFS
from tests.library_helpers import age_files, make_settings, small_catalog
from vod2strm.errors import EXIT_CONFIG, EXIT_REFUSED, ConfigError, RefusedError
from vod2strm.jobs import cleanup, generate, stats
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import manifest_path
from vod2strm.output.marker import (
    MARKER_NAME,
    MARKER_TEXT,
    Marked,
    Owner,
    check_owner,
    ensure_marker,
    marker_bytes,
    ownership,
    parse_marker,
    read_marker,
)


class Store:
    """A manifest's owner id, without the manifest."""

    def __init__(self, path: Path, id: str | None = None) -> None:
        self.path = path
        self.id = id

    def owner_id(self, *, create: bool = True, inherit: str | None = None) -> str | None:
        if self.id is None and create:
            self.id = inherit or os.urandom(16).hex()
        return self.id


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under ``root``, byte for byte: each folder's entries and mtime, each file's bytes
    and mtime (the marker and temp files included)."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        found[folder.relative_to(root).as_posix() + "/"] = (
            tuple(sorted(dirnames + filenames)),
            folder.stat().st_mtime_ns,
        )
        for name in filenames:
            path = folder / name
            found[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def owner_of(settings) -> str:
    with sqlite3.connect(manifest_path(settings.state_dir, settings.output_root)) as db:
        return db.execute("SELECT value FROM meta WHERE key='owner'").fetchone()[0]


def write_old_marker(root: Path) -> None:
    """The marker as versions before owners wrote it."""
    (root / MARKER_NAME).write_bytes(MARKER_TEXT.encode())


def forget_owner(settings) -> None:
    """The manifest as versions before owners left it: no owner id."""
    with sqlite3.connect(manifest_path(settings.state_dir, settings.output_root)) as db:
        db.execute("DELETE FROM meta WHERE key='owner'")


def assert_refusal(exc: BaseException, root: Path, owner_state: Path, this_state: Path) -> None:
    message = str(exc)
    assert isinstance(exc, RefusedError) and exc.exit_code == EXIT_REFUSED == 5
    assert helpers.one_line(message), message
    assert f"output root {root} belongs to the vod2strm state folder {owner_state} " in message
    assert f"not to this run's state folder {this_state}" in message
    assert f"point state_dir at {owner_state}" in message
    assert f"delete {root / MARKER_NAME}" in message


def two_states(tmp_path: Path, **overrides):
    cron = make_settings(tmp_path, state_dir=tmp_path / "cron" / "state", **overrides)
    manual = make_settings(tmp_path, state_dir=tmp_path / "manual" / "state", **overrides)
    return cron, manual


def add_movie(account, n: int) -> None:
    movie = MovieFactory(name=f"Newcomer {n}", year=2024)
    M3UMovieRelationFactory(movie=movie, m3u_account=account, stream_id=f"new{n}")


# -- the marker alone -----------------------------------------------------------------------------


def manifest_in(state: Path) -> Path:
    return state / "manifest-0123456789ab.sqlite3"


def test_the_owner_lines_follow_the_explanation_and_read_back(tmp_path: Path) -> None:
    owner = Owner("0123abcd" * 4, manifest_in(tmp_path / "state"), host="nas-box")
    data = marker_bytes(owner)
    text = data.decode()
    assert text.startswith(MARKER_TEXT) and "Do not delete" in text
    assert text.endswith(
        f"vod2strm-owner: {owner.id}\nvod2strm-state: {tmp_path / 'state'}\n"
        "vod2strm-manifest: manifest-0123456789ab.sqlite3\nvod2strm-host: nas-box\n"
    )
    marked = parse_marker(data)
    assert marked == Marked(owner.id, str(tmp_path / "state"), "manifest-0123456789ab.sqlite3", "nas-box")
    assert marked.records(owner) and not marked.records(Owner(owner.id, manifest_in(tmp_path / "moved")))
    # Hand edits around the lines do not matter; an older marker has no owner.
    assert parse_marker(b"# notes\n" + data + b"more notes\n") == marked
    assert parse_marker(MARKER_TEXT.encode()).owner is None
    assert parse_marker(b"").owner is None


def test_a_state_folder_whose_name_holds_a_newline_stays_one_line(tmp_path: Path) -> None:
    owner = Owner("f" * 32, manifest_in(tmp_path / "odd\nname"))
    marked = parse_marker(marker_bytes(owner))
    assert marked.owner == "f" * 32 and marked.state == str(tmp_path / "odd?name") and marked.records(owner)
    root = tmp_path / "library"
    root.mkdir()
    ensure_marker(root, LocalFS(), owner)
    assert ensure_marker(root, LocalFS(), owner) is False
    with pytest.raises(RefusedError) as info:
        check_owner([root], Store(manifest_in(tmp_path / "other")), LocalFS(), write=False)
    assert helpers.one_line(str(info.value))


def test_the_owner_is_claimed_once_and_left_alone_after(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    write_old_marker(root)
    store = Store(manifest_in(tmp_path / "state"))
    owner, found = check_owner([root], store, LocalFS(), write=True)
    assert found == {root: Marked(None)} and owner.id == store.id is not None
    assert ensure_marker(root, LocalFS(), owner) is True
    assert read_marker(root, LocalFS()) == parse_marker(marker_bytes(owner))
    before = snapshot(root)
    assert ensure_marker(root, LocalFS(), owner) is False
    assert snapshot(root) == before
    with pytest.raises(RefusedError):  # another owner, even through ensure_marker alone
        ensure_marker(root, LocalFS(), Owner("b" * 32, manifest_in(tmp_path / "other")))
    assert snapshot(root) == before


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOTCONN, errno.EISDIR], ids=errno.errorcode.get)
def test_an_unreadable_marker_is_one_line(tmp_path: Path, code: int) -> None:
    root = tmp_path / "library"
    root.mkdir()
    ensure_marker(root, LocalFS(), Owner("a" * 32, manifest_in(tmp_path / "state")))
    fs = FaultFS([Fault("read", code, match=lambda p: p.name == MARKER_NAME)])
    with pytest.raises(RefusedError) as info:
        check_owner([root], Store(manifest_in(tmp_path / "state"), "a" * 32), fs, write=True)
    message = str(info.value)
    assert helpers.one_line(message) and info.value.exit_code == EXIT_REFUSED
    assert message.startswith(f"cannot read the root marker {root / MARKER_NAME} ({os.strerror(code)})")
    report = ownership({"main": root}, "a" * 32, manifest_in(tmp_path / "state"), fs)  # never raises
    assert report["main"]["status"] == "unreadable" and report["main"]["error"] == message


def test_a_marker_we_may_not_read_is_a_configuration_error(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    fs = FaultFS([Fault("read", errno.EACCES, match=lambda p: p.name == MARKER_NAME)])
    with pytest.raises(ConfigError) as info:
        check_owner([root], Store(manifest_in(tmp_path / "state")), fs, write=True)
    assert info.value.exit_code == EXIT_CONFIG and helpers.one_line(str(info.value))
    assert str(info.value) == f"output_root: cannot read {root / MARKER_NAME}: Permission denied"


# -- the jobs -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_second_state_folder_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    account, _, _ = small_catalog(movies=4, series=1, episodes=3)
    cron, manual = two_states(tmp_path)
    root = cron.output_root
    assert generate.run(cron).exit_code == 0
    marked = read_marker(root, LocalFS())
    assert marked is not None and marked.owner == owner_of(cron) and marked.state == str(cron.state_dir)
    # A temp file the owner's run has in flight, and work the second state would do.
    in_flight = helpers.plant_temp_file(root / "Movies" / "Film 0 (2000)", b"<movie><ti")
    add_movie(account, 1)
    age_files(root)
    before = snapshot(root)
    attempts = [
        (generate.run, {}),
        (generate.run, {"dry_run": True}),
        (generate.run, {"verify": True}),
        (cleanup.run, {}),
        (cleanup.run, {"dry_run": True}),
        (cleanup.run, {"force": True}),
    ]
    for job, flags in attempts:
        with pytest.raises(RefusedError) as info:
            job(manual, **flags)
        assert_refusal(info.value, root, cron.state_dir, manual.state_dir)
        assert snapshot(root) == before, (job, flags)
    assert in_flight.exists()
    # The owner is not disturbed: it writes the new movie, and its own state still owns the root.
    again = generate.run(cron)
    assert again.exit_code == 0 and again.written == 2
    assert read_marker(root, LocalFS()) == marked


@pytest.mark.django_db
def test_a_foreign_owner_is_refused_whatever_this_manifest_holds(tmp_path: Path) -> None:
    """Handing the root over (delete the marker) makes the new state adopt the library; the old state,
    whose manifest lists every file, is then refused by generate and cleanup, and stats says why."""
    account, _, _ = small_catalog(movies=3, series=1, episodes=2)
    cron, manual = two_states(tmp_path)
    root = cron.output_root
    first = generate.run(cron)
    age_files(root)
    library = snapshot(root)
    (root / MARKER_NAME).unlink()
    taken = generate.run(manual)
    assert taken.exit_code == 0 and taken.written == 0 and taken.adopted == first.files
    assert {k: v for k, v in snapshot(root).items() if k not in (MARKER_NAME, "./")} == {
        k: v for k, v in library.items() if k not in (MARKER_NAME, "./")
    }
    assert read_marker(root, LocalFS()).owner == owner_of(manual)  # type: ignore[union-attr]
    add_movie(account, 1)
    before = snapshot(root)
    for job in (generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(cron)
        assert_refusal(info.value, root, manual.state_dir, cron.state_dir)
    assert snapshot(root) == before

    theirs = stats.collect(cron)
    assert theirs["ownership"]["main"] == {
        "root": str(root),
        "status": "other",
        "owner_state": str(manual.state_dir),
    }
    assert f"belongs to the state folder {manual.state_dir}, not to this one" in stats.as_text(theirs)
    ours = stats.collect(manual)
    assert ours["ownership"]["main"]["status"] == "ours"
    assert "belongs to" not in stats.as_text(ours)


@pytest.mark.django_db
def test_an_old_marker_is_claimed_once(tmp_path: Path) -> None:
    small_catalog(movies=2, series=1, episodes=2)
    cron, manual = two_states(tmp_path)
    root = cron.output_root
    assert generate.run(cron).exit_code == 0
    write_old_marker(root)
    forget_owner(cron)  # the manifest too, as an older version left it
    assert stats.collect(cron)["ownership"]["main"]["status"] == "unclaimed"
    # Dry runs write nothing, the marker included.
    age_files(root)
    before = snapshot(root)
    assert generate.run(cron, dry_run=True).exit_code == 0
    assert cleanup.run(cron, dry_run=True).exit_code == 0
    assert snapshot(root) == before
    again = generate.run(cron)
    assert again.exit_code == 0 and again.written == 0
    data = (root / MARKER_NAME).read_bytes()
    assert data.startswith(MARKER_TEXT.encode())
    owner = Owner(owner_of(cron), manifest_path(cron.state_dir, root))
    assert parse_marker(data) == parse_marker(marker_bytes(owner))
    claimed = snapshot(root)
    assert generate.run(cron).exit_code == 0 and cleanup.run(cron).exit_code == 0
    assert snapshot(root) == claimed  # claimed once: not rewritten by later runs
    with pytest.raises(RefusedError) as info:
        generate.run(manual)
    assert_refusal(info.value, root, cron.state_dir, manual.state_dir)


@pytest.mark.django_db
def test_cleanup_claims_an_old_marker_when_its_manifest_lists_files(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0
    write_old_marker(settings.output_root)
    assert cleanup.run(settings).exit_code == 0
    assert read_marker(settings.output_root, LocalFS()).owner == owner_of(settings)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_an_old_marker_with_an_empty_manifest_is_claimed(tmp_path: Path) -> None:
    """Nothing recorded anywhere proves another owner (a new state folder, or the old one removed to
    start over): the new state claims the root and adopts the identical files."""
    small_catalog(movies=2, series=1, episodes=2)
    cron, manual = two_states(tmp_path)
    root = cron.output_root
    first = generate.run(cron)
    write_old_marker(root)
    taken = generate.run(manual)
    assert taken.exit_code == 0 and taken.adopted == first.files and taken.written == 0
    assert read_marker(root, LocalFS()).owner == owner_of(manual)  # type: ignore[union-attr]
    with pytest.raises(RefusedError):
        generate.run(cron)


@pytest.mark.django_db
def test_a_dry_run_on_a_new_root_writes_no_marker(tmp_path: Path) -> None:
    small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    settings.output_root.mkdir()
    assert generate.run(settings, dry_run=True).exit_code == 0
    assert list(settings.output_root.iterdir()) == []
    assert generate.run(settings).exit_code == 0
    assert read_marker(settings.output_root, LocalFS()).owner == owner_of(settings)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_moving_the_state_folder_on_purpose_keeps_the_root(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0
    owner = owner_of(settings)
    moved = make_settings(tmp_path, state_dir=tmp_path / "moved")
    os.rename(settings.state_dir, moved.state_dir)
    again = generate.run(moved)
    assert again.exit_code == 0 and again.written == 0
    marked = read_marker(settings.output_root, LocalFS())
    assert marked is not None and (marked.owner, marked.state) == (owner, str(moved.state_dir))


@pytest.mark.django_db
def test_a_manifest_moved_aside_keeps_its_root(tmp_path: Path) -> None:
    """The remedy for a damaged manifest (move it aside to rebuild from disk) still works: the new
    manifest, at the very path the marker records, takes over the recorded owner id."""
    small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path)
    root = settings.output_root
    first = generate.run(settings)
    owner = owner_of(settings)
    age_files(root)
    before = snapshot(root)
    path = manifest_path(settings.state_dir, root)
    for leftover in path.parent.glob(path.name + "*"):
        os.rename(leftover, tmp_path / leftover.name)
    assert generate.run(settings, dry_run=True).exit_code == 0  # not refused, and writes nothing
    assert cleanup.run(settings, dry_run=True).exit_code == 0
    assert stats.collect(settings)["ownership"]["main"]["status"] == "ours"
    assert snapshot(root) == before
    rebuilt = generate.run(settings)
    assert rebuilt.exit_code == 0 and rebuilt.written == 0 and rebuilt.adopted == first.files
    assert owner_of(settings) == owner
    assert snapshot(root) == before  # the marker too: it already says so


@pytest.mark.django_db
def test_two_configurations_in_one_state_folder_do_not_share_a_root(tmp_path: Path) -> None:
    """Same state folder, another output_root whose adult_root is the first one's library: two
    manifests (and two lock files), so the second is refused."""
    small_catalog(movies=2, series=0)
    first = make_settings(tmp_path)
    assert generate.run(first).exit_code == 0
    second = make_settings(
        tmp_path, output_root=tmp_path / "library-2", adult_mode="separate", adult_root=first.output_root
    )
    before = snapshot(first.output_root)
    with pytest.raises(RefusedError) as info:
        generate.run(second)
    message = str(info.value)
    assert helpers.one_line(message) and info.value.exit_code == EXIT_REFUSED
    theirs = manifest_path(first.state_dir, first.output_root).name
    assert message.startswith(
        f"output root {first.output_root} belongs to {theirs} in the state folder {first.state_dir} "
    )
    assert f"not to this run's {manifest_path(second.state_dir, second.output_root).name}" in message
    assert snapshot(first.output_root) == before and not second.output_root.exists()


@pytest.mark.django_db
def test_the_adult_root_is_checked_before_any_root_is_written(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    adult = tmp_path / "adult"
    cron = make_settings(tmp_path, adult_mode="separate", adult_root=adult, state_dir=tmp_path / "cron")
    assert generate.run(cron).exit_code == 0
    assert read_marker(adult, LocalFS()).owner == owner_of(cron)  # type: ignore[union-attr]
    other = make_settings(
        tmp_path,
        output_root=tmp_path / "other-library",
        adult_mode="separate",
        adult_root=adult,
        state_dir=tmp_path / "manual",
    )
    before = snapshot(adult)
    for job in (generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(other)
        assert_refusal(info.value, adult, cron.state_dir, other.state_dir)
    assert snapshot(adult) == before
    assert not other.output_root.exists()  # refused before its own root was even created
    assert stats.collect(other)["ownership"]["adult"]["status"] == "other"


@pytest.mark.django_db
def test_an_unreadable_marker_stops_the_jobs_with_one_line(tmp_path: Path) -> None:
    small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0
    before = snapshot(settings.output_root)
    fs = FaultFS([Fault("read", errno.EIO, match=lambda p: p.name == MARKER_NAME)])
    for job in (generate.run, cleanup.run):
        with pytest.raises(RefusedError) as info:
            job(settings, fs=fs)
        assert helpers.one_line(str(info.value)) and "cannot read the root marker" in str(info.value)
    assert snapshot(settings.output_root) == before


@pytest.mark.django_db(transaction=True)
def test_a_foreign_owner_through_the_cli(tmp_path: Path) -> None:
    """``manage.py vod2strm generate|cleanup --json`` with the second state: exit 5, one JSON
    object carrying the message, one stderr line, nothing touched."""
    small_catalog(movies=2, series=1, episodes=2)
    cron, manual = two_states(tmp_path)
    root = cron.output_root
    assert generate.run(cron).exit_code == 0
    before = snapshot(root)
    env = helpers.child_env(manual)
    for command in (("generate",), ("generate", "--dry-run"), ("cleanup",)):
        out = helpers.run_cli(env, *command)
        assert out.code == EXIT_REFUSED, out
        assert set(out.data) == {"error", "exit"} and out.data["exit"] == EXIT_REFUSED
        assert_refusal(RefusedError(out.data["error"]), root, cron.state_dir, manual.state_dir)
        assert helpers.error_lines(out.stderr) == [f"vod2strm: {out.data['error']}"], out.stderr
        assert "Traceback" not in out.stderr
    assert snapshot(root) == before
    out = helpers.run_cli(env, "stats")
    assert out.code == 0 and out.data["ownership"]["main"]["status"] == "other"
