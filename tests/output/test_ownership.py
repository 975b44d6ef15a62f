"""What is not ours is never written over or deleted: a user's file at our path, a file of ours a
person edited since, and a section whose catalog vanished while the rest of the library stays.

Each case checks the user's bytes byte for byte, through the later runs that used to lose them:
a rerun, the item changing, the item leaving the catalog, and cleanup with and without force.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import M3UMovieRelationFactory, MovieFactory
from tests.library_helpers import make_settings, small_catalog, tree
from vod2strm.application import cleanup_lines
from vod2strm.jobs import cleanup, generate, stats
from vod2strm.management.commands.vod2strm import WORDING
from vod2strm.output.fs import LocalFS
from vod2strm.output.manifest import Manifest, content_hash, manifest_path
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db

USER_STRM = b"http://my.nas/home-video.mp4\n"


def movie_folder(root: Path, prefix: str) -> Path:
    (folder,) = [p for p in (root / "Movies").iterdir() if p.name.startswith(prefix)]
    return folder


def first_render(tmp_path: Path, **overrides) -> dict[str, bytes]:
    """What a generate writes for the catalog, into a scratch library: the paths ours would take."""
    scratch = make_settings(tmp_path / "scratch", **overrides)
    assert generate.run(scratch).exit_code == 0
    return tree(scratch.output_root)


# -- 1. a file at our path that we never wrote ----------------------------------------------------


def test_a_users_file_at_our_path_is_never_taken_over(tmp_path: Path) -> None:
    _account, movies, _ = small_catalog(movies=4, series=1, episodes=2)
    ours = first_render(tmp_path)
    strm = next(p for p in ours if p.startswith("Movies/Film 1 ") and p.endswith(".strm"))
    identical = next(p for p in ours if p.startswith("Movies/Film 2 ") and p.endswith(".nfo"))
    settings = make_settings(tmp_path)
    user_file = settings.output_root / strm
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(USER_STRM)
    same = settings.output_root / identical
    same.parent.mkdir(parents=True)
    same.write_bytes(ours[identical])  # bytes equal to ours: adopted as ours, as before

    first = generate.run(settings)
    assert first.exit_code == 0, first.as_dict()
    assert user_file.read_bytes() == USER_STRM
    assert first.kept_foreign == 1 and first.foreign == [strm] and first.kept_edited == 0
    assert first.adopted == 1
    data = first.as_dict()
    assert data["kept_foreign"] == 1 and data["foreign"] == [strm]
    # Every other file of the movie, and of the library, is ours and written.
    assert {p: b for p, b in tree(settings.output_root).items() if p != strm} == {
        p: b for p, b in ours.items() if p != strm
    }

    again = generate.run(settings)
    assert again.written == 0 and user_file.read_bytes() == USER_STRM

    report = stats.collect(settings)
    assert report["output"]["kept"] == {"foreign": 1}
    assert report["output"]["kept_files"] == [{"path": strm, "root": "main", "reason": "foreign"}]
    assert "not written by vod2strm" in stats.as_text(report)

    # The catalog drops the movie: cleanup removes our files of it and never the user's, forced or not.
    movies[1].delete()
    assert generate.run(settings).exit_code == 0
    for force in (False, True):
        result = cleanup.run(settings, force=force)
        assert result.exit_code == 0, result.as_dict()
        assert user_file.read_bytes() == USER_STRM
    assert not any(p.startswith("Movies/Film 1 ") and p != strm for p in tree(settings.output_root))
    assert stats.collect(settings)["output"]["kept"] == {}  # forgotten: it was never ours


def test_a_users_file_is_handed_over_only_on_purpose(tmp_path: Path) -> None:
    _account, movies, _ = small_catalog(movies=2, series=0)
    ours = first_render(tmp_path)
    strm = next(p for p in ours if p.startswith("Movies/Film 0 ") and p.endswith(".strm"))
    settings = make_settings(tmp_path, take_over_foreign_files=True)
    target = settings.output_root / strm
    target.parent.mkdir(parents=True)
    target.write_bytes(USER_STRM)

    result = generate.run(settings)
    assert result.exit_code == 0 and result.kept_foreign == 0
    assert target.read_bytes() == ours[strm]
    # Now ours: cleanup removes it once the movie leaves the catalog.
    movies[0].delete()
    generate.run(settings)
    assert cleanup.run(settings, force=True).removed == 2
    assert not target.exists()


def test_a_file_we_could_not_write_is_not_recorded_as_ours(tmp_path: Path) -> None:
    """A user's file kept at our path gets no hash in the manifest: nothing can later delete it."""
    small_catalog(movies=1, series=0)
    ours = first_render(tmp_path)
    settings = make_settings(tmp_path)
    for rel in ours:
        path = settings.output_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"user's own " + rel.encode())
    result = generate.run(settings)
    assert result.kept_foreign == len(ours) and result.written == 0
    with Manifest.open(settings.state_dir, settings.output_root) as manifest:
        states = manifest.file_states([key for key, _ in manifest.iter_item_folders()])
    assert {state.hash for state in states.values()} == {None}
    assert {state.kept for state in states.values()} == {"foreign"}


# -- 2. a file we wrote that a person changed since --------------------------------------------------


def test_an_edited_file_survives_generate_and_a_forced_cleanup(tmp_path: Path) -> None:
    _account, movies, _ = small_catalog(movies=4, series=1, episodes=2)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0
    nfo = next(movie_folder(settings.output_root, "Film 1").glob("*.nfo"))
    edited = nfo.read_bytes().replace(b"</movie>", b"<userrating>9</userrating></movie>")
    nfo.write_bytes(edited)

    # The item changes: its NFO re-renders, and the user's edit stays (and is reported).
    models.Movie.objects.filter(pk=movies[1].pk).update(description="A new plot from the provider.")
    result = generate.run(settings)
    assert result.exit_code == 0, result.as_dict()
    assert nfo.read_bytes() == edited
    assert result.kept_edited == 1 and result.edited == [nfo.relative_to(settings.output_root).as_posix()]
    assert stats.collect(settings)["output"]["kept"] == {"edited": 1}
    assert generate.run(settings).written == 0  # an unchanged rerun leaves it too

    # The item leaves the catalog: cleanup keeps the edited file with and without --force.
    movies[1].delete()
    generate.run(settings)
    for force in (False, True):
        cleaned = cleanup.run(settings, force=force)
        assert cleaned.exit_code == 0, cleaned.as_dict()
        assert nfo.read_bytes() == edited
        assert cleaned.changed == [nfo.relative_to(settings.output_root).as_posix()]
        assert "changed since vod2strm wrote it" in "\n".join(cleanup_lines(cleaned.as_dict(), WORDING))
    assert [p.name for p in nfo.parent.iterdir()] == [nfo.name]  # our .strm beside it went


def test_our_render_wins_over_an_edit_only_when_asked(tmp_path: Path) -> None:
    _account, movies, _ = small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    generate.run(settings)
    nfo = next(movie_folder(settings.output_root, "Film 0").glob("*.nfo"))
    nfo.write_bytes(b"<movie><title>mine</title></movie>")
    models.Movie.objects.filter(pk=movies[0].pk).update(description="Changed.")
    forced = dataclasses.replace(settings, overwrite_edited_files=True)
    result = generate.run(forced)
    assert result.kept_edited == 0 and b"Changed." in nfo.read_bytes()


def test_a_crash_between_mark_and_record_leaves_either_bytes_ours(tmp_path: Path) -> None:
    """A write-ahead mark keeps both the old and the new hash as ours: after a crash that left the
    new bytes without recording them, the next change replaces them instead of calling them edited,
    and cleanup may delete them."""
    _account, movies, _ = small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path)
    generate.run(settings)
    nfo = next(movie_folder(settings.output_root, "Film 0").glob("*.nfo"))
    rel = nfo.relative_to(settings.output_root).as_posix()
    crashed = b"<movie><title>written, then the run died</title></movie>"
    with Manifest.open(settings.state_dir, settings.output_root) as manifest:
        key = next(k for k, folder in manifest.iter_item_folders() if folder == f"Movies/{nfo.parent.name}")
        manifest.mark_rewriting([(key, ("main", rel), content_hash(crashed))])
    nfo.write_bytes(crashed)

    models.Movie.objects.filter(pk=movies[0].pk).update(description="After the crash.")
    result = generate.run(settings)
    assert result.kept_edited == 0 and b"After the crash." in nfo.read_bytes()

    # Same for cleanup: the mark's new bytes are ours to delete.
    with Manifest.open(settings.state_dir, settings.output_root) as manifest:
        manifest.mark_rewriting([(key, ("main", rel), content_hash(crashed))])
    nfo.write_bytes(crashed)
    movies[0].delete()
    generate.run(settings)
    assert cleanup.run(settings, force=True).removed == 2 and not nfo.exists()


# -- 3. one section's outage ----------------------------------------------------------------------


@pytest.fixture
def episode_heavy(tmp_path: Path):
    """A few movies beside many episodes: movies are under a fifth of the files."""
    _account, movies, series = small_catalog(movies=3, series=10, episodes=6)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0
    return settings, movies, series


def test_a_vanished_movies_section_is_refused_while_series_are_cleaned(episode_heavy) -> None:
    settings, _movies, series = episode_heavy
    movie_files = {p: b for p, b in tree(settings.output_root).items() if p.startswith("Movies/")}
    assert len(movie_files) / len(tree(settings.output_root)) < settings.cleanup_max_share
    models.M3UMovieRelation.objects.all().delete()  # the provider's movie categories vanished
    series[0].delete()  # one show of ten ends: a normal nightly removal
    assert generate.run(settings).exit_code == 0

    result = cleanup.run(settings)
    assert result.exit_code == 5 and result.refused
    assert result.message.startswith("cleanup refused for movies: its latest catalog read was empty")
    assert "series" not in result.message
    assert result.sections["movies"].startswith("refused")
    assert result.sections["series"] == "cleaned"
    after = tree(settings.output_root)
    assert {p: b for p, b in after.items() if p.startswith("Movies/")} == movie_files
    assert not any(p.startswith("TV Shows/Show 0 ") for p in after)

    forced = cleanup.run(settings, force=True)
    assert forced.exit_code == 0 and forced.removed == len(movie_files)


def test_an_empty_section_is_refused_even_when_the_share_allows_everything(episode_heavy) -> None:
    settings, _movies, _series = episode_heavy
    settings = dataclasses.replace(settings, cleanup_max_share=1.0)
    models.M3UMovieRelation.objects.all().delete()
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.exit_code == 5 and "movies: its latest catalog read was empty" in result.message


def test_a_section_losing_more_than_its_share_is_refused(episode_heavy, tmp_path: Path) -> None:
    settings, movies, _ = episode_heavy
    movies[0].delete()  # one of three movies: a third of the section, over the 20% valve
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.exit_code == 5
    assert "movies: would delete 2 of 6 files (33%, limit 20%)" in result.message


def test_the_adult_root_has_a_valve_of_its_own(tmp_path: Path) -> None:
    small_catalog(movies=6, series=0)
    adult = []
    for i in range(3):
        movie = MovieFactory(name=f"Late Show {i}", year=1990 + i, is_adult=True)
        M3UMovieRelationFactory(movie=movie, m3u_account=models.M3UAccount.objects.get(), stream_id=f"a{i}")
        adult.append(movie)
    settings = make_settings(tmp_path, adult_mode="separate", adult_root=tmp_path / "adult")
    assert generate.run(settings).exit_code == 0
    adult_files = tree(settings.adult_root)
    assert len(adult_files) == 6
    for movie in adult:
        movie.delete()
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.exit_code == 5 and "adult movies: its latest catalog read was empty" in result.message
    assert tree(settings.adult_root) == adult_files


# -- the doors ----------------------------------------------------------------------------------


def test_the_cli_reports_kept_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_catalog(movies=2, series=0)
    ours = first_render(tmp_path)
    strm = next(p for p in ours if p.endswith(".strm"))
    root = tmp_path / "library"
    (root / strm).parent.mkdir(parents=True)
    (root / strm).write_bytes(USER_STRM)
    state = tmp_path / "state"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.VOD2STRM", {"state_dir": str(state)}, raising=False)
        call_command("vod2strm", "generate", "--root", str(root))
        text = capsys.readouterr().out
        assert f"Kept 1 file vod2strm did not write where its own would go, as they are: {strm}." in text
        assert "--take-over-foreign-files" in text
        call_command("vod2strm", "stats", "--root", str(root), "--json")
        data = json.loads(capsys.readouterr().out)
        assert data["output"]["kept_files"] == [{"root": "main", "path": strm, "reason": "foreign"}]
        call_command("vod2strm", "generate", "--root", str(root), "--take-over-foreign-files", "--json")
        data = json.loads(capsys.readouterr().out)
    assert data["exit"] == 0 and data["written"] == 1
    assert (root / strm).read_bytes() == ours[strm]


def test_a_json_summary_lists_each_kept_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_catalog(movies=3, series=0)
    ours = first_render(tmp_path)
    nfos = sorted(p for p in ours if p.endswith(".nfo"))
    root = tmp_path / "library"
    for rel in nfos:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"<movie><title>my own</title></movie>")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.VOD2STRM", {"state_dir": str(tmp_path / "state")}, raising=False)
        call_command("vod2strm", "generate", "--root", str(root), "--json")
        data = json.loads(capsys.readouterr().out)
    assert data["exit"] == 0 and data["kept_foreign"] == 3 and sorted(data["foreign"]) == nfos
    assert all((root / rel).read_bytes() == b"<movie><title>my own</title></movie>" for rel in nfos)


# -- the manifest's upgrade --------------------------------------------------------------------


def test_a_version_1_manifest_is_upgraded_in_place(tmp_path: Path) -> None:
    state, root = tmp_path / "state", tmp_path / "library"
    state.mkdir()
    path = manifest_path(state, root)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema', '1'), ('root', '%s');
        CREATE TABLE files (root TEXT NOT NULL, path TEXT NOT NULL, hash TEXT, item_key TEXT NOT NULL,
            kind TEXT NOT NULL, section TEXT NOT NULL, render_run INTEGER NOT NULL,
            size INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (root, path)) WITHOUT ROWID;
        INSERT INTO files VALUES ('main', 'Movies/A/A.strm', 'abc', 'movie:a', 'movie_strm', 'movies', 1, 4);
        """.replace("%s", str(root))
    )
    db.commit()
    db.close()
    with Manifest.open(state, root) as manifest:
        states = manifest.file_states(["movie:a"])
    assert states[("main", "Movies/A/A.strm")].hash == "abc"
    assert states[("main", "Movies/A/A.strm")].pending is None
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
    db.close()


def test_a_manifest_without_the_naming_column_gets_it_and_an_older_version_can_still_write(
    tmp_path: Path,
) -> None:
    """``items.naming`` came within schema version 2: added on open (NULL: not known), and named
    in no statement of an older vod2strm, whose item upserts still work on it."""
    state, root = tmp_path / "state", tmp_path / "library"
    state.mkdir()
    path = manifest_path(state, root)
    with Manifest.open(state, root):
        pass
    db = sqlite3.connect(path)
    db.executescript(
        """
        DROP TABLE items;
        CREATE TABLE items (key TEXT PRIMARY KEY, section TEXT NOT NULL, fingerprint TEXT,
            render_run INTEGER NOT NULL, seen_run INTEGER NOT NULL, folder TEXT NOT NULL,
            root TEXT NOT NULL, nfiles INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO items VALUES ('movie:a', 'movies', 'fp', 1, 1, 'Movies/A', 'main', 2);
        """
    )
    db.commit()
    db.close()
    with Manifest.open(state, root) as manifest:
        assert manifest.item_states(["movie:a"])["movie:a"].naming is None
        manifest.mark_seen(["movie:a"], 2, naming="n1")
        assert manifest.item_states(["movie:a"])["movie:a"].naming == "n1"
        manifest.mark_seen(["movie:a"], 3, naming="n2")  # known: an unchanged item keeps it
        assert manifest.item_states(["movie:a"])["movie:a"].naming == "n1"
    db = sqlite3.connect(path)
    # An older vod2strm's upsert, which names no naming column, leaves it as it is.
    db.execute(
        "INSERT INTO items (key, section, fingerprint, render_run, seen_run, folder, root, nfiles)"
        " VALUES ('movie:a', 'movies', 'fp2', 4, 4, 'Movies/A', 'main', 2) ON CONFLICT (key) DO UPDATE"
        " SET fingerprint=excluded.fingerprint, render_run=excluded.render_run"
    )
    db.commit()
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
    assert db.execute("SELECT fingerprint, naming FROM items").fetchall() == [("fp2", "n1")]
    db.close()


def test_kept_files_are_handed_over_by_a_later_run_with_the_setting(tmp_path: Path) -> None:
    """A setting switched on after the files were kept applies to them too: their items render
    again, and our bytes replace the user's (foreign) and the edit (edited, even though our own
    render did not change)."""
    small_catalog(movies=2, series=0)
    ours = first_render(tmp_path)
    strm = next(p for p in ours if p.startswith("Movies/Film 0 ") and p.endswith(".strm"))
    settings = make_settings(tmp_path)
    (settings.output_root / strm).parent.mkdir(parents=True)
    (settings.output_root / strm).write_bytes(USER_STRM)
    assert generate.run(settings).kept_foreign == 1
    nfo = next(movie_folder(settings.output_root, "Film 1").glob("*.nfo"))
    nfo.write_bytes(b"<movie><title>mine</title></movie>")
    assert generate.run(settings).written == 0  # the edit is not seen until the item renders

    taken = generate.run(dataclasses.replace(settings, take_over_foreign_files=True))
    assert taken.written == 1 and (settings.output_root / strm).read_bytes() == ours[strm]
    assert nfo.read_bytes() == b"<movie><title>mine</title></movie>"  # an edit is not foreign

    # The edit became known only to cleanup or a render; a render with the setting restores ours.
    with Manifest.open(settings.state_dir, settings.output_root) as manifest:
        manifest.mark_kept([("main", nfo.relative_to(settings.output_root).as_posix())], "edited")
    restored = generate.run(dataclasses.replace(settings, overwrite_edited_files=True))
    assert (
        restored.written == 1 and nfo.read_bytes() == ours[nfo.relative_to(settings.output_root).as_posix()]
    )
    assert stats.collect(settings)["output"]["kept"] == {}


# -- a case-insensitive share (SMB, NTFS, APFS) ---------------------------------------------------


class CaseInsensitiveFS(LocalFS):
    """The share as SMB shows it: a name finds the entry that matches it in any case, and a new
    name made only of another case of an existing one is that same entry."""

    @staticmethod
    def resolve(path: str | os.PathLike[str]) -> str:
        parts = Path(path).parts
        current = Path(parts[0])
        for part in parts[1:]:
            exact = current / part
            if not exact.exists() and current.is_dir():
                folded = part.casefold()
                part = next((name for name in os.listdir(current) if name.casefold() == folded), part)
            current = current / part
        return str(current)

    def makedirs(self, path, mode=0o777, *, within=None):  # type: ignore[no-untyped-def]
        return super().makedirs(self.resolve(path), mode, within=within)

    def write_atomic(self, path, data, **kw):  # type: ignore[no-untyped-def,override]
        super().write_atomic(self.resolve(path), data, **kw)

    def read_bytes(self, path, limit=None, *, follow_symlinks=True):  # type: ignore[no-untyped-def]
        return super().read_bytes(self.resolve(path), limit, follow_symlinks=follow_symlinks)

    def scandir(self, path):  # type: ignore[no-untyped-def]
        return super().scandir(Path(self.resolve(path)))

    def stat(self, path, *, follow_symlinks=True):  # type: ignore[no-untyped-def]
        return super().stat(Path(self.resolve(path)), follow_symlinks=follow_symlinks)

    def unlink(self, path):  # type: ignore[no-untyped-def]
        super().unlink(Path(self.resolve(path)))


def test_a_users_file_spelled_in_another_case_is_ours_to_keep(tmp_path: Path) -> None:
    """On a case-insensitive share a user's "film 0 ….nfo" is the file our "Film 0 ….nfo" replaces."""
    small_catalog(movies=1, series=0)
    ours = first_render(tmp_path)
    nfo = next(p for p in ours if p.endswith(".nfo"))
    settings = make_settings(tmp_path)
    folder, name = nfo.rsplit("/", 1)
    user_file = settings.output_root / folder.lower() / name.lower()
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(b"<movie><title>my own</title></movie>")
    result = generate.run(settings, fs=CaseInsensitiveFS())
    assert result.kept_foreign == 1 and result.foreign == [nfo]
    assert user_file.read_bytes() == b"<movie><title>my own</title></movie>"


@pytest.mark.parametrize("follow_renames", [False, True])
def test_a_case_only_rename_keeps_one_file_and_cleanup_does_not_delete_it(
    tmp_path: Path, follow_renames: bool
) -> None:
    """Kept names keep the old spelling anyway; a followed rename writes the new spelling, which
    the share maps onto the old file, and the move's removal of the old spelling spares it."""
    _account, movies, _ = small_catalog(movies=2, series=0)
    settings = make_settings(tmp_path, follow_renames=follow_renames)
    fs = CaseInsensitiveFS()
    assert generate.run(settings, fs=fs).exit_code == 0
    old_folder = movie_folder(settings.output_root, "Film 0")
    models.Movie.objects.filter(pk=movies[0].pk).update(name="FILM 0")
    renamed = generate.run(settings, fs=fs)
    assert renamed.exit_code == 0 and renamed.kept_foreign == renamed.kept_edited == 0
    assert renamed.removed == 0
    nfo = next(old_folder.glob("*.nfo"))  # the share kept the old spelling of the one file
    assert b"<title>FILM 0</title>" in nfo.read_bytes()
    cleaned = cleanup.run(settings, force=True, fs=fs)
    assert cleaned.exit_code == 0 and cleaned.removed == 0, cleaned.as_dict()
    assert sorted(p.suffix for p in old_folder.iterdir()) == [".nfo", ".strm"]
    assert generate.run(settings, fs=fs).written == 0


def test_a_large_file_of_ours_is_still_ours(tmp_path: Path) -> None:
    """Ownership reads the whole of any file we could have written: a 2 MB NFO (a provider's
    runaway plot) is replaced when the plot changes, not reported as edited."""
    _account, movies, _ = small_catalog(movies=1, series=0)
    settings = make_settings(tmp_path)
    models.Movie.objects.filter(pk=movies[0].pk).update(description="word " * 400_000)
    generate.run(settings)
    models.Movie.objects.filter(pk=movies[0].pk).update(description="word " * 400_001)
    result = generate.run(settings)
    assert result.kept_edited == 0 and result.written == 1


def test_a_root_no_longer_configured_is_left_alone_not_refused_for_ever(tmp_path: Path) -> None:
    small_catalog(movies=3, series=0)
    movie = MovieFactory(name="Late Show", year=1990, is_adult=True)
    M3UMovieRelationFactory(movie=movie, m3u_account=models.M3UAccount.objects.get(), stream_id="a")
    separate = make_settings(tmp_path, adult_mode="separate", adult_root=tmp_path / "adult")
    generate.run(separate)
    adult_files = tree(separate.adult_root)
    settings = make_settings(tmp_path)  # adult_mode back to exclude
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.exit_code == 0, result.as_dict()
    assert result.sections["adult movies"].startswith("left as it is: the adult root is no longer configured")
    assert tree(separate.adult_root) == adult_files


def test_a_dry_run_lists_what_a_refused_section_would_lose(episode_heavy) -> None:
    settings, movies, _ = episode_heavy
    movies[0].delete()
    generate.run(settings)
    preview = cleanup.run(settings, dry_run=True)
    assert preview.refused and len(preview.listed) == 2
    assert all(p.startswith("Movies/Film 0 ") for p in preview.listed)
