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
                made = time.localtime(os.fstat(source.fileno()).st_mtime)
                info = zipfile.ZipInfo(name, date_time=tuple(made[:6]))
                info.compress_type = zipfile.ZIP_STORED
                with archive.open(info, "w") as member:
                    while block := source.read(CHUNK_BYTES):
                        member.write(block)
                        if (data := pipe.take()):
                            yield data
            if (data := pipe.take()):
                yield data
    yield pipe.take()  # the central directory
