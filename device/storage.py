"""Atomic file writes: a reader (or a power cut) sees the old file or the new one, never half.

The data goes to a temporary file in the destination's own folder (so the
final rename stays on one file system), is flushed and fsynced, then
``os.replace``-d over the destination; the folder is fsynced so the rename
itself survives a power cut. On any error the temporary file is removed and
the original exception (``OSError`` with ENOSPC, for example) propagates
unchanged.

When a write fails, what that says about the card (``is_card_fault``,
``StorageFullError``) and where (``card_fault_where``) is decided here too, so
the booth and the web page tell the operator alike.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import time
from pathlib import Path

__all__ = ["CARD_ADVICE", "FULL_CARD_ADVICE", "DataFolderError", "StorageFullError",
           "atomic_write_bytes", "atomic_write_text", "card_fault_where", "ensure_writable_folder",
           "fsync_folder", "is_card_fault", "remove_stale_temp_files"]

log = logging.getLogger(__name__)

_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")  # what _create_temp_beside names
STALE_TEMP_S = 3600.0  # no write takes an hour: an older temp file's writer is gone
# The card itself cannot be used: remounted read-only after errors, failing, full, or its
# folder's owner or mode changed. Not ENOENT: a file deleted a moment ago is no card fault.
_CARD_FAULTS = frozenset({errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ENOSPC,
                          getattr(errno, "EDQUOT", errno.ENOSPC)})
# What the operator does about one, for the journal (the README says how).
CARD_ADVICE = ("The memory card may be full, failing or read-only: see \"Memojis are not saved\" "
               "in the README's Troubleshooting")
FULL_CARD_ADVICE = "Delete memojis on the web page, lower storage.keep, or free space on the card"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (the folder must exist). ``mode`` (less the
    umask) is the file's from the start: a secret is never readable by others, even briefly."""
    path = Path(path)
    fd, tmp_name = _create_temp_beside(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_folder(path.parent)


class DataFolderError(Exception):
    """The data folder cannot be made or written: every memoji saved there would be lost."""


def ensure_writable_folder(folder: str | os.PathLike[str]) -> None:
    """Make ``folder`` if needed and prove a file can be written in it, before anything is
    saved there (a path under a file, a read-only card, a folder owned by someone else)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{secrets.token_hex(4)}"
        atomic_write_bytes(probe, b"")
        probe.unlink()
    except OSError as error:
        # A parent in the way is worth naming; the probe inside the folder is not.
        blamed = Path(error.filename) if error.filename else folder
        where = f" ({blamed})" if folder not in (blamed, blamed.parent) else ""
        raise DataFolderError(
            f"cannot use the data folder {folder}: {error.strerror or error}{where}; "
            "set storage.data_dir to a folder this user can write") from error


def remove_stale_temp_files(folder: str | os.PathLike[str], older_than_s: float = STALE_TEMP_S) -> int:
    """Remove the temp files of writes that never finished (the power cut, or a kill -9, came
    between the write and the rename), each logged. Only ones older than `older_than_s`: a
    younger one may be another process's write still going on. 0 (no write is under way):
    every one, even one dated after the clock, which a Pi's may be after a power cut.
    Returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    cutoff = time.time() - older_than_s
    for entry in entries:
        try:
            if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                    and (older_than_s <= 0 or entry.stat(follow_symlinks=False).st_mtime < cutoff):
                os.unlink(entry.path)
                log.info("removed %s, left by a write that never finished", entry.path)
                removed += 1
        except OSError as error:  # gone meanwhile, or not ours to remove: leave it
            log.debug("left %s: %s", entry.path, error)
    return removed


def is_card_fault(error: BaseException) -> bool:
    """Does this error mean the memory card cannot be used (the operator's to fix), rather
    than a race or a bug?"""
    return isinstance(error, OSError) and error.errno in _CARD_FAULTS and bool(error.strerror)


class StorageFullError(OSError):
    """A save failed for lack of space (or quota); nothing partial was left behind."""

    def __init__(self, folder: Path) -> None:
        # Guests read this on the page: the folder goes in ``filename``, for the journal.
        super().__init__(
            errno.ENOSPC,
            "Storage full: the booth's memory card is full, so nothing was saved. "
            "Delete old memojis in the gallery (the operator can) or free some space.",
            str(folder),
        )

    def __str__(self) -> str:
        return self.strerror


def card_fault_where(error: OSError, folder: str | os.PathLike[str]) -> tuple[str, str]:
    """The folder and the reason of a card fault, for the journal (the booth's and the
    page's alike). The folder is the one the write was refused in, where the operator
    looks (``ls -ld``, ``chown``): not a temporary file's name, and for a folder that could
    not be made its parent, since the folder named is not there. ``folder`` when the
    error names no file. The reason is the system's: a StorageFullError's strerror is the
    guests' words (and its filename the folder itself)."""
    if isinstance(error, StorageFullError):
        where = error.filename
    else:
        where = os.path.dirname(error.filename) if error.filename else None
    return str(where or folder), (os.strerror(error.errno) if error.errno else str(error))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` atomically, in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _create_temp_beside(path: Path, mode: int = 0o644) -> tuple[int, str]:
    """Open a new hidden temp file next to ``path``; ``mode`` less the umask, like a plain open()."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename or a removal in ``folder`` durable (a power cut does not undo it); some
    file systems (and Windows) cannot open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
