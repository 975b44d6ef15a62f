"""A provider's rename of a title: kept names by default (the media server keeps the item and its
watch history), moved files with ``follow_renames`` and after a change of the naming settings (the
old files removed in the same run, and only ours), and a move interrupted midway that the next
run finishes (docs/media-servers.md, "When a title is renamed")."""

from __future__ import annotations

import dataclasses
import errno
import json
import sqlite3

import pytest

from tests.faults.helpers import Fault, FaultFS, library_problems, manifest_problems, reference_tree
from tests.library_helpers import age_files, make_settings, mtimes, small_catalog, tree
from vod2strm.jobs import cleanup, generate
from vod2strm.output.changes import ChangeLog
from vod2strm.output.manifest import manifest_path
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db


def folders_of(files: dict[str, bytes], section: str = "Movies") -> set[str]:
    return {p.split("/")[1] for p in files if p.startswith(section + "/")}


def changed(before: dict[str, int], root) -> set[str]:
    after = mtimes(root)
    return {p for p in after if after[p] != before.get(p)}


def first_run(tmp_path, **settings):
    _, movies, series = small_catalog(movies=2, series=1, episodes=3)
    settings = make_settings(tmp_path, **settings)
    assert generate.run(settings).exit_code == 0
    age_files(settings.output_root)
    return settings, movies, series


# -- by default: kept names --------------------------------------------------------------------


def test_a_renamed_movie_keeps_its_folder_and_files_and_rewrites_only_its_nfo(tmp_path):
    settings, movies, _ = first_run(tmp_path, kodi_url="http://kodi.invalid:8080")
    before_files, before = tree(settings.output_root), mtimes(settings.output_root)
    (old_folder,) = [f for f in folders_of(before_files) if f.startswith("Film 0 (2000)")]
    logged = len(change_lines(settings))
    models.Movie.objects.filter(pk=movies[0].pk).update(name="The Provider's New Name", year=2001)

    result = generate.run(settings)

    assert result.exit_code == 0 and result.written == 1 and result.removed == 0
    after = tree(settings.output_root)
    assert set(after) == set(before_files)  # no path came or went
    (nfo,) = changed(before, settings.output_root)
    assert nfo == f"Movies/{old_folder}/{old_folder}.nfo"
    assert b"<title>The Provider's New Name</title>" in after[nfo] and b"<year>2001</year>" in after[nfo]
    # The media servers hear of a rewritten NFO in the same folder (Kodi is asked to re-read it).
    lines = [line for line in change_lines(settings)[logged:] if "f" in line]
    assert lines == [{"r": "main", "f": f"Movies/{old_folder}", "t": "m", "n": 1}]
    assert cleanup.run(settings).removed == 0  # nothing was left behind either


def test_an_unchanged_rerun_after_a_kept_rename_writes_nothing(tmp_path):
    settings, movies, series = first_run(tmp_path)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    models.Series.objects.filter(pk=series[0].pk).update(name="Renamed Show")
    generate.run(settings)
    age_files(settings.output_root)
    before = mtimes(settings.output_root)
    again = generate.run(settings)
    assert again.written == 0 and again.removed == 0 and again.unchanged == again.files
    assert mtimes(settings.output_root) == before


def test_a_renamed_series_keeps_its_show_folder_and_episode_names(tmp_path):
    settings, _, series = first_run(tmp_path)
    before_files, before = tree(settings.output_root), mtimes(settings.output_root)
    models.Series.objects.filter(pk=series[0].pk).update(name="A Whole New Show")

    result = generate.run(settings)

    assert result.exit_code == 0
    after = tree(settings.output_root)
    assert set(after) == set(before_files)
    rewritten = changed(before, settings.output_root)
    # tvshow.nfo (its title) and each episode's NFO (its showtitle); not season.nfo, no .strm
    assert sorted(p.rsplit("/", 1)[1] for p in rewritten) == [
        "Show 0 S01E01 - Chapter 1.nfo",
        "Show 0 S01E02 - Chapter 2.nfo",
        "Show 0 S01E03 - Chapter 3.nfo",
        "tvshow.nfo",
    ]
    assert result.written == 4
    assert all(b"A Whole New Show" in after[p] for p in rewritten)


def test_a_new_episode_of_a_renamed_show_goes_in_the_kept_folder_with_the_kept_name(tmp_path):
    settings, _, series = first_run(tmp_path)
    (show_folder,) = folders_of(tree(settings.output_root), "TV Shows")
    models.Series.objects.filter(pk=series[0].pk).update(name="A Whole New Show")
    generate.run(settings)
    add_episode(series[0], season=1, number=4, name="Chapter 4")
    add_episode(series[0], season=2, number=1, name="Next Season")

    result = generate.run(settings)

    assert result.exit_code == 0
    after = tree(settings.output_root)
    assert folders_of(after, "TV Shows") == {show_folder}
    new = f"TV Shows/{show_folder}/Season 01/Show 0 S01E04 - Chapter 4"
    assert {f"{new}.strm", f"{new}.nfo"} <= set(after)
    assert b"<showtitle>A Whole New Show</showtitle>" in after[f"{new}.nfo"]
    assert f"TV Shows/{show_folder}/Season 02/Show 0 S02E01 - Next Season.strm" in after


def test_a_retitled_episode_keeps_its_file_name(tmp_path):
    settings, _, series = first_run(tmp_path)
    before_files, before = tree(settings.output_root), mtimes(settings.output_root)
    episode = models.Episode.objects.get(series=series[0], episode_number=2)
    models.Episode.objects.filter(pk=episode.pk).update(name="The Real Title")

    result = generate.run(settings)

    assert result.exit_code == 0 and result.written == 1
    assert set(tree(settings.output_root)) == set(before_files)
    (nfo,) = changed(before, settings.output_root)
    assert nfo.endswith("/Season 01/Show 0 S01E02 - Chapter 2.nfo")
    assert b"<title>The Real Title</title>" in tree(settings.output_root)[nfo]


def test_a_renumbered_episode_is_another_file(tmp_path):
    """The code is what Kodi reads the episode by: a new code is a new name, as before, and the old
    file goes at cleanup (the catalog no longer has that episode)."""
    settings, _, series = first_run(tmp_path)
    episode = models.Episode.objects.get(series=series[0], episode_number=3)
    models.Episode.objects.filter(pk=episode.pk).update(episode_number=5)
    result = generate.run(settings)
    assert result.removed == 0
    names = {p.rsplit("/", 1)[1] for p in tree(settings.output_root) if p.endswith(".strm")}
    assert {"Show 0 S01E03 - Chapter 3.strm", "Show 0 S01E05 - Chapter 3.strm"} <= names
    assert cleanup.run(settings).removed == 2


def test_a_manifest_of_an_older_version_learns_the_names_of_unchanged_items(tmp_path):
    """Items recorded before the naming settings were kept (NULL) get them from an unchanged run
    (their fingerprint covers those settings), and then keep their names when renamed."""
    settings, movies, _ = first_run(tmp_path)
    path = manifest_path(settings.state_dir, settings.output_root)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE items SET naming = NULL")
    db.close()
    assert generate.run(settings).written == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM items WHERE naming IS NULL").fetchone() == (0,)
    db.close()
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    assert generate.run(settings).written == 1
    assert not any(f.startswith("Renamed Film") for f in folders_of(tree(settings.output_root)))


# -- follow_renames: the files move, and the old ones go in the same run ---------------------------


def change_lines(settings) -> list[dict]:
    log = ChangeLog.of(settings).path
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_follow_renames_moves_the_item_and_removes_only_our_old_files(tmp_path):
    settings, movies, _ = first_run(
        tmp_path, follow_renames=True, jellyfin_url="http://jf.invalid:8096", jellyfin_api_key="k"
    )
    files = tree(settings.output_root)
    (old,) = [f for f in folders_of(files) if f.startswith("Film 0 (2000)")]
    old_folder = settings.output_root / "Movies" / old
    (old_folder / "poster.jpg").write_bytes(b"a user's poster")
    logged = len(change_lines(settings))
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")

    result = generate.run(settings)

    assert result.exit_code == 0 and result.written == 2 and result.removed == 2
    after = tree(settings.output_root)
    (new,) = [f for f in folders_of(after) if f.startswith("Renamed Film (2000)")]
    assert {f"Movies/{new}/{new}.strm", f"Movies/{new}/{new}.nfo"} <= set(after)
    # Our two files went; the user's poster did not, and keeps its folder.
    assert sorted(p.name for p in old_folder.iterdir()) == ["poster.jpg"]
    assert (old_folder / "poster.jpg").read_bytes() == b"a user's poster"
    # Recorded for the media servers: the new folder created, the old one deleted from.
    lines = [(line["f"], line["t"]) for line in change_lines(settings)[logged:] if "f" in line]
    assert (f"Movies/{new}", "c") in lines and (f"Movies/{old}", "d") in lines
    assert manifest_problems(settings) == []
    assert cleanup.run(settings).removed == 0
    assert generate.run(settings).written == 0


def test_follow_renames_moves_a_show_and_its_episodes(tmp_path):
    settings, _, series = first_run(tmp_path, follow_renames=True)
    episode = models.Episode.objects.get(series=series[0], episode_number=2)
    models.Episode.objects.filter(pk=episode.pk).update(name="The Real Title")
    models.Series.objects.filter(pk=series[0].pk).update(name="A Whole New Show")

    result = generate.run(settings)

    assert result.exit_code == 0
    assert result.removed == 1 + 1 + 3 * 2  # tvshow.nfo, season.nfo, three episodes' two files
    after = tree(settings.output_root)
    (show,) = folders_of(after, "TV Shows")
    assert show.startswith("A Whole New Show (2010)")
    assert not any((settings.output_root / "TV Shows").glob("Show 0*"))  # its emptied folders went
    assert f"TV Shows/{show}/Season 01/A Whole New Show S01E02 - The Real Title.strm" in after
    assert after == reference_tree(settings, tmp_path / "reference")  # as a first run writes it


def test_a_file_of_ours_edited_since_stays_when_its_item_moves(tmp_path):
    settings, movies, _ = first_run(tmp_path, follow_renames=True)
    (old,) = [f for f in folders_of(tree(settings.output_root)) if f.startswith("Film 0 (2000)")]
    nfo = settings.output_root / "Movies" / old / f"{old}.nfo"
    nfo.write_bytes(nfo.read_bytes().replace(b"</movie>", b"<userrating>9</userrating></movie>"))
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    result = generate.run(settings)
    assert result.exit_code == 0 and result.removed == 1  # the .strm; the edited NFO is the user's
    assert b"<userrating>9</userrating>" in nfo.read_bytes()


def test_turning_follow_renames_on_moves_the_names_kept_so_far(tmp_path):
    settings, movies, _ = first_run(tmp_path)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    generate.run(settings)
    assert any(f.startswith("Film 0 (2000)") for f in folders_of(tree(settings.output_root)))
    result = generate.run(dataclasses.replace(settings, follow_renames=True))
    assert result.removed == 2
    folders = folders_of(tree(settings.output_root))
    assert any(f.startswith("Renamed Film (2000)") for f in folders)
    assert not any(f.startswith("Film 0 (2000)") for f in folders)


# -- a change of naming settings is a deliberate rename: it always follows -------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"id_tag_style": "emby"},
        {"id_tag_style": "none"},
        {"movies_folder": "Films", "series_folder": "Series"},
    ],
)
def test_a_change_of_naming_settings_moves_everything_in_one_run(tmp_path, change):
    settings, movies, _ = first_run(tmp_path)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")  # followed too
    (settings.output_root / "Movies" / "notes.txt").write_bytes(b"the user's")
    renamed = dataclasses.replace(settings, **change)

    result = generate.run(renamed)

    assert result.exit_code == 0
    after = tree(settings.output_root)
    expected = reference_tree(renamed, tmp_path / "reference")
    assert {p: b for p, b in after.items() if p != "Movies/notes.txt"} == expected
    assert after["Movies/notes.txt"] == b"the user's"
    assert result.removed == len(expected)  # every old file, in this run
    assert manifest_problems(renamed) == []
    assert cleanup.run(renamed).removed == 0
    assert generate.run(renamed).written == 0


def test_a_naming_change_is_followed_even_when_an_interrupted_run_recorded_part_of_it(tmp_path):
    """A run that failed midway moved some items: the next run moves the others (their recorded
    naming is still the old one, or they render again after their failed files), and the moved
    ones stay put."""
    small_catalog(movies=12, series=0)
    settings = make_settings(tmp_path, chunk_size=3)
    generate.run(settings)
    renamed = dataclasses.replace(settings, id_tag_style="emby")
    fs = FaultFS([Fault("mkdir", errno.EIO, after=5)])  # the share fails a few folders in
    first = generate.run(renamed, fs=fs)
    assert first.exit_code != 0 and 0 < first.removed < 24
    second = generate.run(renamed)
    assert second.exit_code == 0, second.as_dict()
    assert tree(settings.output_root) == reference_tree(renamed, tmp_path / "reference")
    assert manifest_problems(renamed) == []


# -- a move interrupted between its new files and the removal of its old ones ----------------------


class Crash(BaseException):
    """The process dying (a kill, a power cut) at a chosen call: nothing in the run catches it."""


@pytest.mark.parametrize("at", ["first unlink", "second unlink"])
def test_a_crash_between_the_new_files_and_the_removal_of_the_old_converges(tmp_path, at):
    settings, movies, _ = first_run(tmp_path, follow_renames=True)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    unlinks = []

    def crash(op, path):  # before the unlink: at the second, the first file is gone already
        if op == "unlink":
            unlinks.append(path)
            if len(unlinks) == (1 if at == "first unlink" else 2):
                raise Crash(str(path))

    with pytest.raises(Crash):
        generate.run(settings, fs=FaultFS(on_call=crash))
    files = tree(settings.output_root)
    assert library_problems(settings.output_root, temps_allowed=True) == []
    assert any(f.startswith("Renamed Film (2000)") for f in folders_of(files))  # new files in place
    assert any(f.startswith("Film 0 (2000)") for f in folders_of(files))  # old ones (some) still there
    assert manifest_problems(settings) == []

    again = generate.run(settings)  # generate alone finishes the move

    assert again.exit_code == 0 and again.written == 0 and again.removed == (2 if at == "first unlink" else 1)
    assert tree(settings.output_root) == reference_tree(settings, tmp_path / "reference")
    assert manifest_problems(settings) == []
    assert generate.run(settings).written == 0


def test_an_old_file_that_cannot_be_removed_is_tried_again_next_run(tmp_path):
    settings, movies, _ = first_run(tmp_path, follow_renames=True)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Renamed Film")
    fs = FaultFS([Fault("unlink", errno.EACCES, match=".strm")])
    result = generate.run(settings, fs=fs)
    assert result.exit_code == 4 and result.errors == 1 and result.removed == 1
    again = generate.run(settings)
    assert again.exit_code == 0 and again.written == 0 and again.removed == 1
    assert tree(settings.output_root) == reference_tree(settings, tmp_path / "reference")


def add_episode(show, *, season: int, number: int, name: str):
    from tests.factories import EpisodeFactory, M3UEpisodeRelationFactory

    relation = models.M3USeriesRelation.objects.get(series=show)
    episode = EpisodeFactory(series=show, season_number=season, episode_number=number, name=name)
    M3UEpisodeRelationFactory(
        episode=episode,
        m3u_account=relation.m3u_account,
        series_relation=relation,
        stream_id=f"new-{show.pk}-{season}-{number}",
    )
    return episode


def test_a_kept_name_a_lower_key_claims_first_goes_to_it_and_the_renamed_item_moves(tmp_path):
    """The rare collision (docs/media-servers.md): series A (lower key) had no episodes, B got the
    plain name; B is renamed as A gets its first episode. A takes the plain name and writes over
    B's files where their names meet (they were ours: no file kept as a stranger's, even with the
    two in separate chunks); B is named after its new title, and its other old files go at cleanup."""
    from tests.factories import M3UAccountFactory, M3USeriesRelationFactory, SeriesFactory

    account = M3UAccountFactory(name="Main", priority=1)
    a = SeriesFactory(name="Show", year=2010)
    M3USeriesRelationFactory(series=a, m3u_account=account)
    b = SeriesFactory(name="Show", year=2010)
    M3USeriesRelationFactory(series=b, m3u_account=account)
    add_episode(b, season=1, number=1, name="Chapter 1")
    add_episode(b, season=1, number=2, name="Chapter 2")
    settings = make_settings(tmp_path, id_tag_style="none", chunk_size=1)
    generate.run(settings)
    models.Series.objects.filter(pk=b.pk).update(name="Show Renamed")
    add_episode(a, season=1, number=1, name="Chapter 1")

    result = generate.run(settings)

    assert result.exit_code == 0 and result.kept_foreign == 0 and result.removed == 0
    assert folders_of(tree(settings.output_root), "TV Shows") == {"Show (2010)", "Show Renamed (2010)"}
    a_strm = tree(settings.output_root)["TV Shows/Show (2010)/Season 01/Show S01E01 - Chapter 1.strm"]
    assert f"new-{a.pk}-1-1".encode() in a_strm  # A's own stream, over B's old file
    assert cleanup.run(settings).removed == 2  # B's old S01E02, which A's names did not meet
    assert sorted(p for p in tree(settings.output_root) if p.startswith("TV Shows/Show (2010)/")) == [
        "TV Shows/Show (2010)/Season 01/Show S01E01 - Chapter 1.nfo",
        "TV Shows/Show (2010)/Season 01/Show S01E01 - Chapter 1.strm",
        "TV Shows/Show (2010)/Season 01/season.nfo",
        "TV Shows/Show (2010)/tvshow.nfo",
    ]
    assert manifest_problems(settings) == [] and generate.run(settings).written == 0


def test_an_item_that_moves_between_roots_leaves_none_of_its_files_behind(tmp_path):
    """adult_mode moves adult titles between output_root and adult_root: a move like any other,
    except that a root no longer configured is left as it is (as cleanup leaves it)."""
    from tests.factories import M3UMovieRelationFactory, MovieFactory

    small_catalog(movies=1, series=0)
    late = MovieFactory(name="Late Show", year=1990, is_adult=True)
    M3UMovieRelationFactory(movie=late, m3u_account=models.M3UAccount.objects.get(), stream_id="a")
    separate = make_settings(tmp_path, adult_mode="separate", adult_root=tmp_path / "adult")
    generate.run(separate)
    adult = tree(separate.adult_root)
    assert len(adult) == 2
    included = dataclasses.replace(separate, adult_mode="include", adult_root=None)

    into_main = generate.run(included)

    assert into_main.exit_code == 0 and into_main.removed == 0  # the adult root is not configured
    assert tree(separate.adult_root) == adult
    assert sum(p.startswith("Movies/Late Show") for p in tree(separate.output_root)) == 2

    back = generate.run(separate)

    assert back.exit_code == 0 and back.removed == 2 and back.written == 0  # its adult files are there
    assert tree(separate.adult_root) == adult
    assert not any(p.startswith("Movies/Late Show") for p in tree(separate.output_root))
