"""Atomic writes, temp-file sweep and the filesystem boundary (no database needed)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vod2strm.output import atomic
from vod2strm.output.atomic import TEMP_PREFIX, atomic_write, is_temp_name, sweep_temp_files, temp_name
from vod2strm.output.fs import LocalFS


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if is_temp_name(p.name))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- atomic_write ---------------------------------------------------------------------------------


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "Movie (2001).strm"
    atomic_write(target, b"http://a\n")
    assert target.read_bytes() == b"http://a\n"
    atomic_write(target, b"http://b\n")
    assert target.read_bytes() == b"http://b\n"
    assert temp_files(tmp_path) == []


def test_failure_midway_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.nfo"
    target.write_bytes(b"old bytes")
    seen: list[Path] = []

    def half_then_enospc(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        seen.extend(p for p in tmp_path.iterdir() if is_temp_name(p.name))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "write_all", half_then_enospc)
    with pytest.raises(OSError) as info:
        atomic_write(target, b"new bytes that never fully land")
    assert info.value.errno == errno.ENOSPC
    assert len(seen) == 1 and seen[0].parent == tmp_path  # the temp file was in the same folder
    assert target.read_bytes() == b"old bytes"
    assert temp_files(tmp_path) == []


def test_interrupt_midway_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.strm"
    target.write_bytes(b"old")

    def interrupted(fd: int, data: bytes) -> None:
        os.write(fd, b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_failed_rename_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "user file").write_bytes(b"keep")
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert (target / "user file").read_bytes() == b"keep"
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)]
)
def test_umask_is_honoured(tmp_path: Path, mask: int, expected: int) -> None:
    target = tmp_path / "f.strm"
    with umask(mask):
        atomic_write(target, b"x")
    assert mode_of(target) == expected


def test_file_mode_overrides_umask(tmp_path: Path) -> None:
    target = tmp_path / "f.nfo"
    with umask(0o077):
        atomic_write(target, b"x", file_mode=0o664)
    assert mode_of(target) == 0o664
    target.chmod(0o600)
    with umask(0o000):
        atomic_write(target, b"y", file_mode=0o640)
    assert mode_of(target) == 0o640


def test_gid_is_applied(tmp_path: Path) -> None:
    target = tmp_path / "f.nfo"
    atomic_write(target, b"x", gid=os.getegid())
    assert target.stat().st_gid == os.getegid()


def test_fsync_option_writes_normally(tmp_path: Path) -> None:
    target = tmp_path / "f.strm"
    atomic_write(target, b"synced", fsync=True)
    assert target.read_bytes() == b"synced"


def test_temp_names_are_short_hidden_unique_and_recognised() -> None:
    names = [temp_name() for _ in range(1000)]
    assert len(set(names)) == len(names)
    for tmp in names:
        assert tmp.isascii() and len(tmp) < 40 and tmp.startswith(".") and tmp.endswith(".tmp")
        assert is_temp_name(tmp)


def test_the_temp_file_sits_beside_its_target_whatever_the_path_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(atomic.os, "open", lambda p, *a: opened.append(p) or real_open(p, *a))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Season 01").mkdir()
    for target in (tmp_path / "a.strm", str(tmp_path / "Season 01" / "b.nfo"), "c.strm"):
        atomic_write(target, b"x")
    assert [os.path.dirname(p) for p in opened] == [str(tmp_path), str(tmp_path / "Season 01"), ""]
    assert sorted(p.name for p in tmp_path.rglob("*.*")) == ["a.strm", "b.nfo", "c.strm"]


def test_long_multibyte_target_name_is_written(tmp_path: Path) -> None:
    name = "Фильм " + "Ж" * 119 + ".strm"  # 254 bytes
    assert len(name.encode()) <= 255
    atomic_write(tmp_path / name, b"u")
    assert (tmp_path / name).read_bytes() == b"u"
    assert temp_files(tmp_path) == []


def test_is_temp_name() -> None:
    assert is_temp_name(TEMP_PREFIX + "abc-x.strm.tmp")
    assert not is_temp_name("x.strm")
    assert not is_temp_name(".vod2strm-root")
    assert not is_temp_name("vod2strm-tmp-x")


# -- sweep ----------------------------------------------------------------------------------------


def test_sweep_removes_only_our_temp_files(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    show = lib / "Show" / "Season 01"
    show.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"{TEMP_PREFIX}victim").write_bytes(b"not ours to delete")

    (lib / f"{TEMP_PREFIX}aaa-x.strm.tmp").write_bytes(b"leftover")
    (lib / "Movie.strm").write_bytes(b"keep")
    (lib / "poster.jpg").write_bytes(b"keep")
    (lib / "my.tmp").write_bytes(b"keep")
    (lib / f"{TEMP_PREFIX}dir").mkdir()
    (lib / f"{TEMP_PREFIX}dir" / "inside").write_bytes(b"keep")
    (lib / f"{TEMP_PREFIX}link").symlink_to(outside / f"{TEMP_PREFIX}victim")
    (lib / "linkdir").symlink_to(outside, target_is_directory=True)
    (show / f"{TEMP_PREFIX}bbb-e.nfo.tmp").write_bytes(b"leftover")
    (show / "S01E01.strm").write_bytes(b"keep")

    fs = LocalFS()
    assert sweep_temp_files(lib, fs) == 1
    assert (show / f"{TEMP_PREFIX}bbb-e.nfo.tmp").exists()  # not recursive by default
    assert sweep_temp_files(lib, fs, recursive=True) == 1
    assert not (show / f"{TEMP_PREFIX}bbb-e.nfo.tmp").exists()

    assert (lib / "Movie.strm").exists() and (lib / "poster.jpg").exists() and (lib / "my.tmp").exists()
    assert (lib / f"{TEMP_PREFIX}dir" / "inside").exists()
    assert (lib / f"{TEMP_PREFIX}link").is_symlink()
    assert (outside / f"{TEMP_PREFIX}victim").read_bytes() == b"not ours to delete"
    assert (show / "S01E01.strm").exists()


def test_sweep_of_missing_folder_is_zero(tmp_path: Path) -> None:
    assert sweep_temp_files(tmp_path / "nope", LocalFS(), recursive=True) == 0


# -- LocalFS --------------------------------------------------------------------------------------


def test_makedirs_reports_created_parents_first(tmp_path: Path) -> None:
    fs = LocalFS()
    target = tmp_path / "TV Shows" / "Show" / "Season 01"
    assert fs.makedirs(target) == [
        str(tmp_path / "TV Shows"),
        str(tmp_path / "TV Shows" / "Show"),
        str(target),
    ]
    assert fs.makedirs(target) == []
    assert fs.makedirs(target.parent / "Season 02") == [str(target.parent / "Season 02")]


def test_makedirs_never_creates_the_root_it_is_confined_to(tmp_path: Path) -> None:
    fs = LocalFS()
    root = tmp_path / "mnt" / "library"
    with pytest.raises(FileNotFoundError):
        fs.makedirs(root / "Movies" / "X", within=root)
    assert not root.exists()
    with pytest.raises(ValueError):
        fs.makedirs(root, within=root)
    with pytest.raises(ValueError):
        fs.makedirs(tmp_path / "elsewhere", within=root)
    with pytest.raises(ValueError):  # compared after normalising, never as written
        fs.makedirs(f"{root}/Movies/../../elsewhere", within=root)


def test_makedirs_honours_umask(tmp_path: Path) -> None:
    with umask(0o027):
        created = LocalFS().makedirs(tmp_path / "a" / "b")
    assert [mode_of(Path(p)) for p in created] == [0o750, 0o750]


def test_scandir_never_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "link-dir").symlink_to(tmp_path / "dir", target_is_directory=True)
    (tmp_path / "link-file").symlink_to(tmp_path / "file")
    entries = {e.name: e for e in LocalFS().scandir(tmp_path)}
    assert entries["dir"].is_dir and not entries["dir"].is_symlink
    assert entries["file"].is_file
    assert entries["link-dir"].is_symlink and not entries["link-dir"].is_dir
    assert entries["link-file"].is_symlink and not entries["link-file"].is_file
    assert entries["file"].path == tmp_path / "file"


def test_exists_is_dir_unlink_rmdir(tmp_path: Path) -> None:
    fs = LocalFS()
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"x")
    assert fs.exists(tmp_path / "d") and fs.is_dir(tmp_path / "d")
    assert fs.exists(tmp_path / "f") and not fs.is_dir(tmp_path / "f")
    assert not fs.exists(tmp_path / "f" / "under-a-file")
    assert not fs.exists(tmp_path / "missing") and not fs.is_dir(tmp_path / "missing")
    (tmp_path / "d" / "x").write_bytes(b"x")
    with pytest.raises(OSError):
        fs.rmdir(tmp_path / "d")  # never removes a folder that still holds something
    fs.unlink(tmp_path / "d" / "x")
    fs.rmdir(tmp_path / "d")
    fs.write_atomic(tmp_path / "g", b"hello")
    assert fs.read_bytes(tmp_path / "g") == b"hello"
    assert fs.read_bytes(tmp_path / "g", 2) == b"he"


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.write`` may take fewer bytes than asked (a signal, a nearly full disk): the rest follows."""
    real_write = os.write
    calls: list[int] = []

    def three_bytes_at_a_time(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(atomic.os, "write", three_bytes_at_a_time)
    atomic_write(tmp_path / "f.nfo", b"0123456789")
    monkeypatch.undo()
    assert (tmp_path / "f.nfo").read_bytes() == b"0123456789" and calls == [10, 7, 4, 1]
