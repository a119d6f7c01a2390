"""Atomic writes: the old file or the new one, never half, and no temp files left on failure."""

import errno
import os
import stat
from pathlib import Path

import pytest

from device import storage
from device.storage import atomic_write_bytes, atomic_write_text


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    atomic_write_text(tmp_path / "b.txt", "ünïcode\n")
    assert target.read_bytes() == b"two"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "ünïcode\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt"]


def test_large_data_is_written_whole(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    atomic_write_bytes(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data


def test_mode_follows_umask_like_open(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing):
    target = tmp_path / "look.json"
    target.write_text("old")

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, failing, boom)
    with pytest.raises(OSError) as caught:
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC  # unchanged, not wrapped
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["look.json"]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "nope" / "f", b"x")


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    """os.replace is durable only once the folder itself is fsynced: after a power cut the
    old file (or none) could come back although the save said it succeeded."""
    calls = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        info = os.fstat(fd)
        calls.append(("fsync", (info.st_dev, info.st_ino)))
        fsync(fd)

    def spy_replace(source, destination):
        replace(source, destination)
        calls.append(("replace", None))

    monkeypatch.setattr(storage.os, "fsync", spy_fsync)
    monkeypatch.setattr(storage.os, "replace", spy_replace)
    target = tmp_path / "look.json"
    atomic_write_text(target, "new")
    monkeypatch.undo()
    file, folder = os.stat(target), os.stat(tmp_path)
    assert calls == [("fsync", (file.st_dev, file.st_ino)),  # the data, in the temp file
                     ("replace", None),
                     ("fsync", (folder.st_dev, folder.st_ino))]  # then the new name


def _unfinished_write(folder, name, age_s):
    """The temp file a write leaves when the power goes before its rename, `age_s` old."""
    fd, temp = storage._create_temp_beside(folder / name)  # the real name, from the real writer
    os.close(fd)
    temp = Path(temp)
    os.utime(temp, (temp.stat().st_atime - age_s, temp.stat().st_mtime - age_s))
    return temp


def test_stale_temp_files_of_unfinished_writes_are_removed(tmp_path, caplog):
    caplog.set_level("INFO", logger="device.storage")
    old = _unfinished_write(tmp_path, "memoji-1.png", age_s=2 * 3600)
    young = _unfinished_write(tmp_path, "look.json", age_s=60)  # maybe another process's, now
    kept = {"memoji-1.png": b"png", ".look.json.bad-20261124": b"{", "notes.tmp": b"",
            ".mine.tmp": b"", ".x.0123456789ab.tmp.keep": b""}
    for name, data in kept.items():
        (tmp_path / name).write_bytes(data)
    os.utime(tmp_path / ".mine.tmp", (0, 0))
    assert storage.remove_stale_temp_files(tmp_path) == 1
    assert not old.exists() and young.exists()
    assert {p.name for p in tmp_path.iterdir()} == set(kept) | {young.name}
    assert old.name in caplog.text and "never finished" in caplog.text
    assert storage.remove_stale_temp_files(tmp_path / "missing") == 0


@pytest.mark.parametrize("error, fault", [
    (OSError(errno.EROFS, "Read-only file system"), True),
    (OSError(errno.EIO, "Input/output error"), True),
    (PermissionError(errno.EACCES, "Permission denied"), True),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), False),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), False),
    (OSError("no errno"), False),
    (ValueError("not an OSError"), False),
])
def test_card_faults_are_the_cards_not_races(error, fault):
    assert storage.is_card_fault(error) is fault


@pytest.mark.parametrize("error, where", [
    # a file could not be written in the folder (its temporary file named): the folder
    (OSError(errno.EROFS, "Read-only file system", "/data/gallery/.memoji-1.png.1f2e3d4c5b6a.tmp"),
     "/data/gallery"),
    # the folder itself could not be made: its parent, where it was refused (it is not there)
    (PermissionError(errno.EACCES, "Permission denied", "/data/gallery"), "/data"),
    # a full card: the folder it names, and the system's reason, not the guests' words
    (storage.StorageFullError(Path("/data/gallery")), "/data/gallery"),
    # no file named: the folder given
    (OSError(errno.EIO, "Input/output error"), "/given"),
])
def test_a_card_fault_names_the_folder_the_write_was_refused_in(error, where):
    assert storage.card_fault_where(error, "/given") == (where, os.strerror(error.errno))
