"""Cleanup removes what the catalog dropped — and never a user's file."""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

from tests.library_helpers import make_settings, small_catalog, tree
from vod2strm.application import cleanup_lines
from vod2strm.jobs import cleanup, generate
from vod2strm.management.commands.vod2strm import WORDING
from vod2strm.output.atomic import temp_name
from vod2strm.standalone import models

pytestmark = pytest.mark.django_db


def movie_folder(root, name_prefix):
    (folder,) = [p for p in (root / "Movies").iterdir() if p.name.startswith(name_prefix)]
    return folder


@pytest.fixture
def generated(tmp_path):
    _account, movies, series = small_catalog(movies=6, series=2, episodes=2)
    settings = make_settings(tmp_path, cleanup_max_share=0.5)
    assert generate.run(settings).exit_code == 0
    return settings, movies, series


def test_deleted_movie_files_and_empty_folder_go(generated):
    settings, movies, _ = generated
    folder = movie_folder(settings.output_root, "Film 2")
    movies[2].delete()
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.removed == 2 and result.exit_code == 0
    assert not folder.exists()
    assert (settings.output_root / "Movies").is_dir()


def test_a_killed_writes_temp_file_does_not_keep_an_emptied_folder(generated):
    """A generate killed mid-write leaves a temp in the folder; once the movie is gone, no later
    generate writes there, so cleanup sweeps it on the way out. A user's file still keeps a folder."""
    settings, movies, _ = generated
    gone, kept = movie_folder(settings.output_root, "Film 2"), movie_folder(settings.output_root, "Film 3")
    for folder in (gone, kept):
        (folder / temp_name()).write_bytes(b"<movie>half")
    (kept / "poster.jpg").write_bytes(b"jellyfin poster")
    movies[2].delete()
    movies[3].delete()
    generate.run(settings)
    result = cleanup.run(settings)
    assert result.removed == 4 and result.exit_code == 0
    assert not gone.exists()
    assert sorted(p.name for p in kept.iterdir()) == ["poster.jpg"]


def test_renamed_title_old_path_goes_new_stays(generated):
    """With follow_renames the move's old files go in the generate itself; cleanup finds none
    left (by default a renamed title keeps its path: tests/jobs/test_renames.py)."""
    settings, movies, _ = generated
    settings = dataclasses.replace(settings, follow_renames=True)
    models.Movie.objects.filter(pk=movies[0].pk).update(name="Brand New Name")
    assert generate.run(settings).removed == 2
    assert cleanup.run(settings).removed == 0
    names = {p.split("/")[1] for p in tree(settings.output_root) if p.startswith("Movies/")}
    assert any(n.startswith("Brand New Name") for n in names)
    assert not any(n.startswith("Film 0 ") for n in names)


def test_user_file_in_a_movie_folder_survives_with_its_folder(generated):
    settings, movies, _ = generated
    folder = movie_folder(settings.output_root, "Film 3")
    (folder / "poster.jpg").write_bytes(b"jellyfin poster")
    (folder / "Film 3.en.srt").write_text("subtitle")
    movies[3].delete()
    generate.run(settings)
    cleanup.run(settings)
    assert sorted(p.name for p in folder.iterdir()) == ["Film 3.en.srt", "poster.jpg"]


def test_user_strm_named_like_ours_survives(generated):
    settings, _, _ = generated
    user_folder = settings.output_root / "Movies" / "Home Video (2020)"
    user_folder.mkdir()
    (user_folder / "Home Video (2020).strm").write_text("http://my.nas/home.mp4\n")
    generate.run(settings)
    cleanup.run(settings, force=True)
    assert (user_folder / "Home Video (2020).strm").exists()


def test_file_of_ours_edited_afterwards_is_kept_and_reported(generated):
    settings, movies, _ = generated
    folder = movie_folder(settings.output_root, "Film 4")
    nfo = next(folder.glob("*.nfo"))
    nfo.write_bytes(nfo.read_bytes().replace(b"</movie>", b"<userrating>9</userrating></movie>"))
    movies[4].delete()
    generate.run(settings)
    result = cleanup.run(settings)
    assert nfo.exists()
    assert result.kept == 1
    assert any(p.endswith(nfo.name) for p in result.changed)
    assert "changed since" in "\n".join(cleanup_lines(result.as_dict(), WORDING))


def test_symlink_pointing_outside_is_not_followed(generated, tmp_path):
    settings, movies, _ = generated
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.strm"
    precious.write_text("keep me")
    folder = movie_folder(settings.output_root, "Film 5")
    strm = next(folder.glob("*.strm"))
    strm.unlink()
    strm.symlink_to(precious)  # someone replaced our file with a link to outside
    movies[5].delete()
    generate.run(settings)
    cleanup.run(settings)
    assert precious.read_text() == "keep me"
    assert strm.is_symlink()


def test_emptied_catalog_trips_the_valve(generated):
    settings, _, _ = generated
    models.Movie.objects.all().delete()
    models.Series.objects.all().delete()
    generate.run(settings)
    before = tree(settings.output_root)
    result = cleanup.run(settings)
    assert result.refused and result.exit_code == 5
    assert "movies: its latest catalog read was empty" in result.message
    assert "series: its latest catalog read was empty" in result.message
    assert tree(settings.output_root) == before
    forced = cleanup.run(settings, force=True)
    assert forced.removed == len(before)


def test_dry_run_deletes_nothing_and_lists_paths(generated):
    settings, movies, _ = generated
    movies[1].delete()
    generate.run(settings)
    before = tree(settings.output_root)
    result = cleanup.run(settings, dry_run=True)
    assert result.would_remove == 2
    assert len(result.listed) == 2
    assert tree(settings.output_root) == before


def test_no_deletion_after_a_cancelled_generate(generated):
    settings, movies, _ = generated
    movies[1].delete()
    cancel = threading.Event()
    cancel.set()
    generate.run(settings, cancel=cancel)
    result = cleanup.run(settings)
    assert result.removed == 0
    assert "not complete" in result.sections["movies"]


def test_only_movies_run_never_deletes_series_files(generated):
    settings, _, series = generated
    series[0].delete()
    generate.run(settings, only="movies")
    before = {p for p in tree(settings.output_root) if p.startswith("TV Shows/")}
    cleanup.run(settings)
    after = {p for p in tree(settings.output_root) if p.startswith("TV Shows/")}
    assert before == after
    generate.run(settings, only="series")
    cleanup.run(settings)
    assert not any(p.startswith("TV Shows/Show 0") for p in tree(settings.output_root))


def test_nothing_outside_the_root_is_touched_even_with_a_hostile_manifest(generated, tmp_path):
    settings, _movies, _ = generated
    from vod2strm.output.manifest import FileRecord, Manifest

    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    manifest = Manifest.open(settings.state_dir, settings.output_root)
    try:
        evil = FileRecord("main", "../victim.txt", None, "movie:evil", "movie_strm", "movies", 1)
        manifest.record_item(
            "movie:evil", section="movies", fingerprint="x", run_id=1, folder="Movies", root="main",
            nfiles=1, files=[evil],
        )  # fmt: skip
    finally:
        manifest.close()
    generate.run(settings)
    cleanup.run(settings, force=True)
    assert victim.exists()
    assert os.path.exists(settings.output_root)
