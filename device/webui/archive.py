"""Saved memojis as one ZIP, written while it is sent.

The operator's end-of-event export: a full gallery is a few hundred megabytes,
which a Pi should neither hold in memory nor write to its card a second time,
so the archive is produced file by file into the response. PNGs are compressed
already, so members are stored, not deflated.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK_BYTES = 256 * 1024
# The dates a ZIP entry can hold (DOS time, two-second steps). A memoji saved while the Pi's
# clock was wrong (1970 after a boot without its saved time; a year set by hand) is dated
# the nearest of these rather than ending the download.
ZIP_EARLIEST = (1980, 1, 1, 0, 0, 0)
ZIP_LATEST = (2107, 12, 31, 23, 59, 58)


class _Pipe(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken as they come (zipfile then
    writes sizes after each member, as it must on a stream)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def zip_chunks(files: Iterable[tuple[str, Path]]) -> Iterator[bytes]:
    """The ZIP of ``files`` ((name in the archive, path) pairs), in pieces; a file that is
    gone by the time its turn comes (deleted, pruned) is left out."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in files:
            try:
                source = open(path, "rb")  # noqa: SIM115 - closed below, before the next member
            except FileNotFoundError:
                continue
            with source:
                # from the open file, not the path: pruned now, it is still this file
                made = _zip_date(os.fstat(source.fileno()).st_mtime)
                info = zipfile.ZipInfo(name, date_time=made)
                info.compress_type = zipfile.ZIP_STORED
                with archive.open(info, "w") as member:
                    while block := source.read(CHUNK_BYTES):
                        member.write(block)
                        if (data := pipe.take()):
                            yield data
            if (data := pipe.take()):
                yield data
    yield pipe.take()  # the central directory


def _zip_date(seconds: float) -> tuple[int, int, int, int, int, int]:
    """A file time as a ZIP entry's local date, kept within what ZIP can hold."""
    try:
        local = tuple(time.localtime(seconds)[:6])
    except (OverflowError, OSError, ValueError):  # beyond what the C library can convert
        return ZIP_EARLIEST if seconds < 0 else ZIP_LATEST
    return min(max(local, ZIP_EARLIEST), ZIP_LATEST)
