"""Saved data: memoji PNGs that carry their own metadata, and the saved look.

Each saved memoji is one PNG whose text chunks hold the expression, score,
time and look, so the folder is the whole database: copy it anywhere and
nothing is lost. Names are unique and sort in the order memojis were saved
(``memoji-20261124-081502-123456-happy.png``: the UTC time, or just after the
newest name when the Pi's clock was behind it); an optional camera photo
sits beside it (``...-happy-photo.jpg``), and the small copy the web page's grid
shows, once a phone has asked for it, in the hidden ``.thumbs/`` (a cache: delete
it at will). A memoji goes with its photo and thumbnail, one at a time (``delete``,
retention) or all at once at the end of an event (``erase``). Every write is atomic
(``storage.py``); a full disk raises ``StorageFullError`` and leaves nothing
half-written.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from device import __version__
from device.avatar import DEFAULT_LOOK, Look, LookError
from device.labels import EXPRESSIONS
from device.storage import (
    StorageFullError,
    atomic_write_bytes,
    atomic_write_text,
    fsync_folder,
    remove_stale_temp_files,
)
from device.words import how_many

__all__ = ["SAVED_PX", "THUMB_PX", "Entry", "Erased", "Gallery", "LookStore", "StorageFullError",
           "ToErase", "add_png_text", "read_png_text"]

log = logging.getLogger(__name__)

# Pixels of every saved memoji PNG, from the button or from a phone's photo alike.
SAVED_PX = 1024
# Pixels of the copy the web page's grid shows: its cells are 143 to 208 CSS pixels wide on
# a phone (198 on a 430-pixel-wide one, whose screen has 3 pixels to each), so this is sharp there.
THUMB_PX = 600
_THUMBS = ".thumbs"  # hidden, and no memoji's name: never listed, never in the ZIP

_NAME = re.compile(r"memoji-(\d{8}-\d{6}-\d{6})-([a-z]+)(\.png|-photo\.jpg)")
_TIME_FORMAT = "%Y%m%d-%H%M%S-%f"
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class Entry:
    """One saved memoji, as read back from its PNG."""

    name: str
    expression: str
    score: float
    time: datetime  # the clock when it was saved (a Pi's may be wrong: see _name_time)
    look: dict[str, Any]
    photo_name: str | None = field(default=None)


@dataclass(frozen=True)
class ToErase:
    """What ``Gallery.erase(through)`` removes, counted for the operator to confirm first."""

    through: str | None  # the newest memoji's name, readable or not (None: there are none)
    memojis: int  # every memoji, those that cannot be read included
    damaged: int  # of those, the ones that cannot be read: the gallery does not show them
    photos: int  # the camera photos kept with them


@dataclass(frozen=True)
class Erased:
    """What ``Gallery.erase`` removed, what it left on purpose, and what it could not remove."""

    memojis: int
    photos: int
    kept: int  # saved after the newest memoji the operator saw: not theirs to erase yet
    failed: tuple[str, ...] = ()  # files still there, each "name: reason"
    error: OSError | None = None  # the first of those failures, for a card fault's message


# ---------------------------------------------------------------- PNG text chunks

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt when the value is Latin-1 (most readers show it), else uncompressed UTF-8 iTXt."""
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def add_png_text(png: bytes, text: Mapping[str, str]) -> bytes:
    """The same PNG with text chunks inserted right after IHDR."""
    if not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4
    chunks = b"".join(_text_chunk(key, value) for key, value in text.items())
    return png[:ihdr_end] + chunks + png[ihdr_end:]


_IMAGE_CHUNKS = (b"IDAT", b"IEND")


def read_png_text(data: bytes) -> dict[str, str]:
    """The tEXt/iTXt/zTXt chunks of a PNG; ValueError if it is not a sound PNG up to its image
    data. The image data itself is not read: ``data`` may end after the first IDAT's header."""
    text: dict[str, str] = {}
    for kind, body in _png_chunks(data, until=_IMAGE_CHUNKS):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, value = _decode_text_chunk(kind, body)
            text[key] = value
        elif kind in _IMAGE_CHUNKS:
            return text  # metadata we write always precedes the image data
    raise ValueError("truncated PNG")


def _png_chunks(data: bytes, until: tuple[bytes, ...] = ()) -> Iterator[tuple[bytes, bytes]]:
    """Each chunk's kind and body, in order, its CRC checked, until the data ends or a chunk
    of a kind in ``until`` (yielded with an empty body, unread); ValueError for data that is
    no PNG or a damaged chunk."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    offset = len(_PNG_SIGNATURE)
    while offset + 12 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind in until:
            yield kind, b""
            return
        body = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        if (
            len(body) != length
            or len(crc) != 4
            or struct.unpack(">I", crc)[0] != zlib.crc32(kind + body)
        ):
            raise ValueError(f"damaged {kind!r} chunk")
        yield kind, body
        offset += 12 + length


def _decode_text_chunk(kind: bytes, body: bytes) -> tuple[str, str]:
    try:
        key, _, rest = body.partition(b"\0")
        if kind == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
        compressed, rest = rest[0], rest[2:]  # iTXt: flag, method, language, translated key, text
        _language, _, rest = rest.partition(b"\0")
        _translated, _, value = rest.partition(b"\0")
        return key.decode("latin-1"), (zlib.decompress(value) if compressed else value).decode(
            "utf-8"
        )
    except (IndexError, zlib.error) as error:
        raise ValueError(f"damaged {kind.decode()} chunk: {error}") from None


# ---------------------------------------------------------------- the gallery


class Gallery:
    """The folder of saved memojis, newest first, pruned to ``keep``."""

    def __init__(
        self, folder: Path | str, keep: int, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.folder = Path(folder)
        self.keep = keep
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._cache: dict[str, Entry] = {}  # saved files never change, so metadata is read once
        self._skipped: set[str] = set()
        self._damaged: set[str] = set()  # read, and not a memoji: erase may remove them
        self._last_named: datetime | None = None  # the time in the newest name given
        self._pruned_before = False  # retention has removed a memoji since this started
        # Thumbnails are drawn one at a time: the kiosk's loop shares the Pi's cores, and
        # two phones opening the same page draw each one once.
        self._drawing = threading.Lock()
        # Thumbnails written so far: a caller tells one drawn (the card takes thumbnails)
        # from one kept (which proves nothing about it).
        self.thumbs_drawn = 0
        for where in (self.folder, self.folder / _THUMBS):  # a power cut mid-save leaves these
            remove_stale_temp_files(where)
        if left := self._remove_orphans():  # a read-only card: one line, not one a file
            log.warning("gallery: %s whose memoji is gone cannot be removed (%s: %s)",
                        how_many(len(left), "file"), *left[0])

    # -- writing

    def save(
        self,
        png: bytes,
        *,
        expression: str,
        score: float,
        look: Mapping[str, Any] | Look,
        photo: np.ndarray | None = None,
    ) -> Entry:
        """Store one memoji (and the camera photo, RGB, if given); prune the oldest beyond ``keep``."""
        if expression not in EXPRESSIONS:
            raise ValueError(
                f"unknown expression {expression!r}; expected one of {', '.join(EXPRESSIONS)}"
            )
        if isinstance(look, Look):
            look = look.to_dict()
        score = round(float(score), 4)  # as stored in the PNG, so a fresh read gives the same Entry
        photo_jpeg = _encode_jpeg(photo) if photo is not None else None
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            when = self._clock().astimezone(UTC)
            stem = f"memoji-{self._name_time(when, expression).strftime(_TIME_FORMAT)}-{expression}"
            entry = Entry(
                name=f"{stem}.png",
                expression=expression,
                score=score,
                time=when,
                look=dict(look),
                photo_name=f"{stem}-photo.jpg" if photo_jpeg is not None else None,
            )
            data = add_png_text(
                png,
                {
                    "expression": expression,
                    "score": f"{score:.4f}",
                    "time": when.isoformat(timespec="microseconds"),
                    "look": json.dumps(entry.look, sort_keys=True, separators=(",", ":")),
                    "Software": f"Memoji Booth {__version__}",
                },
            )
            try:
                self._write_entry(entry, data, photo_jpeg)
            except StorageFullError:
                # Retention normally runs after a save; on a full card (say, after
                # storage.keep was lowered) make room for this one first, then retry once.
                if not self._prune(self.keep - 1):
                    raise
                log.warning("storage full: removed the oldest memojis beyond storage.keep = %d "
                            "and saved again", self.keep)
                self._write_entry(entry, data, photo_jpeg)
            self._cache[entry.name] = entry
            self._prune(self.keep)
        return entry

    def _write_entry(self, entry: Entry, png: bytes, photo_jpeg: bytes | None) -> None:
        """The photo (if any), then the memoji; a failure leaves neither behind."""
        written: list[Path] = []
        try:
            if photo_jpeg is not None:
                self._write(entry.photo_name, photo_jpeg)
                written.append(self.folder / entry.photo_name)
            self._write(entry.name, png)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def _write(self, name: str, data: bytes) -> None:
        try:
            atomic_write_bytes(self.folder / name, data)
        except OSError as error:
            if error.errno in _FULL_ERRNOS:
                raise StorageFullError(self.folder) from error
            raise

    def _name_time(self, now: datetime, expression: str) -> datetime:
        """The time in a new memoji's name: ``now``, or, when the clock is behind a name given
        before (a Pi has no battery clock: after a power cut it boots at an older time, and NTP
        may set it back), a microsecond after the newest. So names sort in the order memojis
        were saved, whatever the clock did, retention removes the oldest saved, and no name
        is given twice in a run, even one deleted meanwhile (a phone may have it cached)."""
        latest = [_time_of(name) for name in self._names()[:1]]
        if self._last_named is not None:
            latest.append(self._last_named)
        when = now
        if latest and when <= max(latest):
            when = max(latest) + timedelta(microseconds=1)
        while (self.folder / f"memoji-{when.strftime(_TIME_FORMAT)}-{expression}.png").exists():
            when += timedelta(microseconds=1)
        self._last_named = when
        return when

    def _prune(self, keep: int) -> int:
        """Remove all but the newest `keep` memojis; returns how many went."""
        removed = []
        for name in self._names()[keep:]:
            try:
                self._remove(name)
            except OSError as error:  # the new memoji is saved: never report it lost for this
                log.warning("retention: cannot remove %s: %s", name, error)
                continue
            removed.append(name)
        self._log_pruned(removed[::-1], keep)
        return len(removed)

    def _log_pruned(self, removed: list[str], keep: int) -> None:
        """One line when retention starts, and for many at once (storage.keep lowered);
        the one a day's every save removes only at DEBUG."""
        if len(removed) > 1:
            log.info("retention: removed the %d oldest memojis (%s to %s) to keep the newest "
                     "storage.keep = %d; each new one now replaces the oldest", len(removed),
                     removed[0], removed[-1], self.keep)
        elif removed and not self._pruned_before:
            log.info("retention: the gallery holds storage.keep = %d memojis, so each new "
                     "one now replaces the oldest (first removed: %s)", self.keep, removed[0])
        elif removed:  # every save from now on: the journal heard it once
            log.debug("retention: removed %s (keeping the newest %d)", removed[0], keep)
        self._pruned_before = self._pruned_before or bool(removed)

    # -- reading

    def entries(self) -> list[Entry]:
        """Every readable memoji, newest first; foreign or damaged files are skipped with a log line."""
        names = self._names()
        for gone in set(self._cache) - set(names):
            self._cache.pop(gone, None)  # removed by another Gallery of this folder (web, run)
        return [entry for name in names if (entry := self._entry(name)) is not None]

    def _entry(self, name: str) -> Entry | None:
        return self._cache.get(name) or self._read(name)

    def _unreadable(self, name: str) -> bool:
        """A memoji file there whose contents are no memoji's: damaged, or not ours. One the
        card failed to read just now (EIO, too many open files) is not: it may be whole."""
        return (self._entry(name) is None and name in self._damaged
                and (self.folder / name).exists())

    def names(self) -> list[str]:
        """Every memoji's name, newest first, readable or not (``erase`` removes them all)."""
        return self._names()

    def to_erase(self) -> ToErase:
        """What ``erase(through=<its through>)`` removes now: every memoji file, those that
        cannot be read too (the gallery does not show them; erase removes them, for they
        may hold a guest's face as much as any), with their camera photos."""
        names = self._names()
        return ToErase(through=names[0] if names else None, memojis=len(names),
                       damaged=sum(map(self._unreadable, names)),
                       photos=sum((self.folder / _photo_name(name)).is_file() for name in names))

    def page(self, number: int, per_page: int) -> tuple[list[Entry], int]:
        """Page ``number`` (from 1) of ``per_page`` entries, and the total number of entries."""
        if number < 1 or per_page < 1:
            raise ValueError("page number and page size start at 1")
        everything = self.entries()
        start = (number - 1) * per_page
        return everything[start : start + per_page], len(everything)

    def path_of(self, name: str) -> Path:
        """The file of a memoji or photo this gallery made; KeyError for anything else."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise KeyError(name)
        path = self.folder / name
        if not path.is_file():
            raise KeyError(name)
        return path

    def thumb_of(self, name: str) -> Path:
        """The file of a memoji's thumbnail (THUMB_PX square, in ``.thumbs/``), drawn from
        the memoji on first use and again when it is missing or damaged. KeyError for
        anything but a memoji's name; ValueError when the memoji cannot be read; OSError
        (StorageFullError) when the thumbnail cannot be written."""
        if not _is_memoji(name):
            raise KeyError(name)
        source, thumb = self.path_of(name), self.folder / _THUMBS / name
        if _is_thumb(thumb):
            return thumb
        with self._drawing:
            if _is_thumb(thumb):  # drawn by a request that held the lock before this one
                return thumb
            try:
                data = _thumbnail_png(source.read_bytes(), THUMB_PX)
            except FileNotFoundError:
                raise KeyError(name) from None
            thumb.parent.mkdir(exist_ok=True)
            self._write(f"{_THUMBS}/{name}", data)
            self.thumbs_drawn += 1
        if not source.is_file():
            # Deleted while drawn (here, or by the kiosk's process): the memoji goes before
            # its thumbnail, so either that removal or this one catches the new file.
            thumb.unlink(missing_ok=True)
            raise KeyError(name)
        return thumb

    def delete(self, name: str) -> None:
        """Remove a memoji, its photo and its thumbnail; KeyError if there is no such memoji."""
        if not _is_memoji(name):
            raise KeyError(name)
        with self._lock:
            if not (self.folder / name).is_file():
                raise KeyError(name)
            try:
                self._remove(name)
            finally:  # what went, went for good, though a later file would not go
                self._sync_removals()

    def _sync_removals(self) -> None:
        """A memoji deleted is gone for good: a power cut seconds later (before the kernel
        writes the folder back) must not bring a guest's picture, or their photo, back."""
        fsync_folder(self.folder)
        fsync_folder(self.folder / _THUMBS)

    def _remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)
        (self.folder / _THUMBS / name).unlink(missing_ok=True)  # after the memoji: see thumb_of
        (self.folder / _photo_name(name)).unlink(missing_ok=True)
        self._cache.pop(name, None)

    def erase(self, through: str | None = None) -> Erased:
        """The end of an event: remove every memoji saved up to ``through`` (the newest one
        the operator has seen; None: all of them), and every one that cannot be read, each
        with its photo and thumbnail, then what no memoji owns any more: photos and
        thumbnails left behind, and unfinished writes. One saved after ``through`` is kept,
        unless it cannot be read: the gallery never showed it, and a script names the newest
        it lists (``to_erase`` counts them all). Each memoji goes as ``delete`` removes
        it, the PNG first, so one that cannot be removed stays whole in the gallery; the
        files that could not go are in the answer, not raised. Saves and thumbnails wait
        meanwhile. ValueError for a ``through`` that is no memoji's name."""
        if through is not None and not _is_memoji(through):
            raise ValueError(f"not a memoji's name: {through!r}")
        with self._lock, self._drawing:
            names = self._names()
            doomed = [n for n in names if through is None or _order(n) <= _order(through)
                      or self._unreadable(n)]
            photos_before = self._photo_count()
            stuck: list[tuple[Path, OSError]] = []  # memojis still there
            for name in doomed:
                try:
                    self._remove(name)
                except OSError as error:  # a photo or thumbnail it left: the sweep below retries
                    if (self.folder / name).exists():
                        stuck.append((self.folder / name, error))
            failed = stuck + self._remove_orphans()
            for where in (self.folder, self.folder / _THUMBS):  # no write of ours is under way
                remove_stale_temp_files(where, older_than_s=0.0)
            self._sync_removals()
            photos = photos_before - self._photo_count()
        erased = Erased(memojis=len(doomed) - len(stuck), photos=photos, kept=len(names) - len(doomed),
                        failed=tuple(f"{path.name}: {error.strerror or error}" for path, error in failed),
                        error=failed[0][1] if failed else None)
        log.info("erased %s and %s from %s%s%s", how_many(erased.memojis, "memoji"),
                 how_many(erased.photos, "camera photo"), self.folder,
                 f"; kept {erased.kept} saved since" if erased.kept else "",
                 f"; {how_many(len(failed), 'file')} could not be removed" if failed else "")
        return erased

    def _photo_count(self) -> int:
        return sum(map(_is_photo, _listdir(self.folder)))

    def _remove_orphans(self) -> list[tuple[Path, OSError]]:
        """Thumbnails and camera photos whose memoji is gone (removed by hand, a removal
        that failed half way, a power cut between a photo's write and its memoji's): never
        shown, never pruned, so kept for ever. Returns what could not be removed."""
        thumbs = self.folder / _THUMBS
        owned = [(thumbs / name, name) for name in _listdir(thumbs) if _is_memoji(name)]
        owned += [(self.folder / name, _memoji_of_photo(name)) for name in _listdir(self.folder)
                  if _is_photo(name)]
        failed = []
        for path, memoji in owned:
            if (self.folder / memoji).exists():
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                failed.append((path, error))
        return failed

    def _names(self) -> list[str]:
        """Memoji PNG names, newest first (the names sort by UTC time)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted((n for n in names if _is_memoji(n)), key=_order, reverse=True)

    def _read(self, name: str) -> Entry | None:
        path = self.folder / name
        try:
            text = _png_text_of(path)
            look = json.loads(text["look"])
            if not isinstance(look, dict):
                raise TypeError("look is not an object")
            when = datetime.fromisoformat(text["time"])
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            photo = _photo_name(name)
            entry = Entry(
                name=name,
                expression=text["expression"],
                score=float(text["score"]),
                time=when,
                look=look,
                photo_name=photo if (self.folder / photo).is_file() else None,
            )
        except FileNotFoundError:
            return None  # deleted meanwhile
        except (OSError, ValueError, KeyError, TypeError) as error:
            if not isinstance(error, OSError):  # what it holds, not the card's trouble
                self._damaged.add(name)
            if name not in self._skipped:
                self._skipped.add(name)
                # A KeyError says only "'look'": the text a memoji carries was stripped (an
                # image tool rewrote it, say) or never there
                reason = f"no {error} in its PNG text" if isinstance(error, KeyError) else error
                log.warning("gallery: skipping %s: not a readable memoji (%s)", path, reason)
            return None
        self._cache[name] = entry
        self._damaged.discard(name)  # written again since (a copy put back by hand, say)
        return entry


def _is_memoji(name: object) -> bool:
    """A memoji PNG's name (not a photo's, a thumbnail folder's or a stranger's)."""
    match = _NAME.fullmatch(name) if isinstance(name, str) else None
    return match is not None and match.group(3) == ".png"


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:  # not made yet, or unreadable: nothing of ours to find there
        return []


def _is_photo(name: str) -> bool:
    """A camera photo's name (``...-photo.jpg``, beside its memoji)."""
    match = _NAME.fullmatch(name)
    return match is not None and match.group(3) == "-photo.jpg"


def _order(name: str) -> tuple[str, str]:
    """Where a memoji's name sorts: by the UTC time in it (the order memojis were saved)."""
    return _NAME.fullmatch(name).group(1), name


# A saved memoji's metadata comes right after its IHDR, a few hundred bytes in all.
_PNG_HEAD_BYTES = 4096


def _png_text_of(path: Path) -> dict[str, str]:
    """read_png_text of a file, reading its start, not its picture: the first listing after
    a start reads every memoji's metadata, and 1000 whole memojis are ~100 MB on the card."""
    with path.open("rb") as file:
        head = file.read(_PNG_HEAD_BYTES)
        try:
            return read_png_text(head)
        except ValueError:
            rest = file.read()  # more before the image data than a memoji has
            if not rest:
                raise
    return read_png_text(head + rest)


def _is_thumb(path: Path) -> bool:
    """A whole PNG of THUMB_PX square: one cut short or damaged (a power cut on a card
    that does not journal, say) is drawn again."""
    try:
        chunks = _png_chunks(path.read_bytes())
        kind, header = next(chunks)
        if kind != b"IHDR" or struct.unpack(">II", header[:8]) != (THUMB_PX, THUMB_PX):
            return False
        return any(later == b"IEND" for later, _ in chunks)
    except (OSError, ValueError, StopIteration, struct.error):
        return False


def _thumbnail_png(png: bytes, size: int) -> bytes:
    """The memoji ``size`` pixels square, in at most 256 colours: flat cartoon colours lose
    nothing a phone shows, and the file is a quarter of a full-colour one."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as image:
            small = image.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:  # Pillow's ways to refuse
        raise ValueError(f"cannot read the memoji: {error}") from error
    out = io.BytesIO()
    small.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    return out.getvalue()


def _photo_name(png_name: str) -> str:
    return png_name[: -len(".png")] + "-photo.jpg"


def _memoji_of_photo(photo_name: str) -> str:
    return photo_name[: -len("-photo.jpg")] + ".png"


def _time_of(name: str) -> datetime:
    stamp = _NAME.fullmatch(name).group(1)
    return datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"photo must be an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


# ---------------------------------------------------------------- the saved look


_FILE_LOCKS: dict[Path, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.RLock:
    """One lock per file for the whole process: the kiosk and the web page each have a
    LookStore of the same file, and a damaged one must be set aside only once."""
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path.absolute(), threading.RLock())


class LookStore:
    """The look chosen on the web page, in one JSON file that survives restarts and bad edits."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = _lock_for(self.path)
        self._last_mtime: float | None = None
        self._unreachable = False

    def load(self) -> Look:
        """The saved look; DEFAULT_LOOK when there is none. A damaged file is set aside
        (``look.json.bad-<UTC time>``, never overwriting an earlier one) and what can be
        salvaged of it is kept: each good field, the rest at their defaults. Loads and
        saves of one file take turns, so a salvage never undoes a look saved meanwhile."""
        with self._lock:
            return self._load()

    def _load(self) -> Look:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return DEFAULT_LOOK
        except OSError as error:
            log.warning(
                "cannot read the saved look %s (%s); using the default look", self.path, error
            )
            return DEFAULT_LOOK
        try:
            fields = json.loads(data.decode("utf-8"))
        except ValueError as error:  # JSONDecodeError and UnicodeError are ValueErrors
            log.warning("saved look %s is damaged (%s); %s and using the default look",
                        self.path, error, self._set_aside())
            return DEFAULT_LOOK
        try:
            return Look.from_dict(fields)
        except LookError:
            look, dropped = Look.salvage(fields)
        log.warning("saved look %s has fields this version cannot use (%s); kept the rest, "
                    "%s", self.path, "; ".join(dropped), self._set_aside())
        if look != DEFAULT_LOOK:  # something was saved: keep it for the next start
            try:
                self.save(look)
            except OSError as error:
                log.warning("could not save the salvaged look to %s: %s", self.path, error)
        return look

    def _set_aside(self) -> str:
        """Move the damaged file out of the way under a name no earlier one has; says where
        it went, for the journal (a read-only card keeps it in place)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        bad = self.path.with_name(f"{self.path.name}.bad-{stamp}")
        count = 1
        while bad.exists():
            count += 1
            bad = self.path.with_name(f"{self.path.name}.bad-{stamp}-{count}")
        try:
            os.replace(self.path, bad)
        except OSError as error:
            log.warning("could not move %s aside: %s", self.path, error)
            return "left it where it is"
        return f"moved it to {bad}"

    def save(self, look: Look) -> None:
        """Write atomically; concurrent savers are serialised, the last one wins."""
        text = json.dumps(look.to_dict(), indent=2, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                atomic_write_text(self.path, text)
            except OSError as error:
                if error.errno in _FULL_ERRNOS:
                    raise StorageFullError(self.path.parent) from error
                raise

    def mtime(self) -> float | None:
        """When the look was last saved (None: never), for cheap polling by the kiosk.

        Polled every second by the display loop, so it never raises: while the
        file cannot be reached (a data folder on a pulled USB stick, EIO) it
        answers the last time it saw, and the kiosk keeps its current look.
        """
        try:
            seen = self.path.stat().st_mtime
        except FileNotFoundError:
            seen = None
        except OSError as error:
            if not self._unreachable:
                log.warning("cannot check the saved look %s (%s); keeping the current look",
                            self.path, error)
            self._unreachable = True
            return self._last_mtime
        if self._unreachable:
            log.info("the saved look %s can be read again", self.path)
        self._unreachable = False
        self._last_mtime = seen
        return seen
