"""Saved memojis (metadata in the PNG, atomic, pruned, safe names) and the saved look."""

import errno
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from device import storage
from device.avatar import DEFAULT_LOOK, PRESETS, Look, render_png
from device.gallery import (
    SAVED_PX,
    THUMB_PX,
    Gallery,
    LookStore,
    StorageFullError,
    add_png_text,
    read_png_text,
)
from tests.conftest import card_refuses_to_remove

START = datetime(2026, 11, 24, 8, 15, 2, 123456, tzinfo=UTC)


def small_png(value=128):
    image = np.zeros((12, 10, 4), np.uint8)
    image[..., :3] = value
    image[..., 3] = 255
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


class Clock:
    def __init__(self, start=START, step=timedelta(seconds=1)):
        self.now, self.step = start, step

    def __call__(self):
        now = self.now
        self.now += self.step
        return now


def make_gallery(tmp_path, keep=100, **clock):
    return Gallery(tmp_path / "gallery", keep, clock=Clock(**clock))


def save(gallery, expression="happy", score=0.9, look=None, photo=None):
    return gallery.save(
        small_png(),
        expression=expression,
        score=score,
        look=look or PRESETS["female"].to_dict(),
        photo=photo,
    )


def test_png_text_chunks_round_trip_and_image_still_decodes():
    png = add_png_text(small_png(77), {"look": json.dumps({"a": 1}), "note": "héllo ✓"})
    assert read_png_text(png) == {"look": '{"a": 1}', "note": "héllo ✓"}
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (12, 10, 4) and image[0, 0, 0] == 77
    with pytest.raises(ValueError):
        add_png_text(b"GIF89a....", {})
    damaged = bytearray(png)
    damaged[40] ^= 0xFF  # inside the first text chunk
    with pytest.raises(ValueError):
        read_png_text(bytes(damaged))


def test_save_writes_metadata_that_reads_back(tmp_path):
    gallery = make_gallery(tmp_path)
    look = PRESETS["male"].to_dict()
    entry = save(gallery, "surprise", 0.87654, look)
    assert entry.name == "memoji-20261124-081502-123456-surprise.png"
    text = read_png_text(gallery.path_of(entry.name).read_bytes())
    assert text["expression"] == "surprise" and text["score"] == "0.8765"
    assert text["time"] == "2026-11-24T08:15:02.123456+00:00"
    assert json.loads(text["look"]) == look and text["Software"].startswith("Memoji Booth")
    fresh = Gallery(tmp_path / "gallery", 100)  # another process reading the same folder
    [read] = fresh.entries()
    assert (read.name, read.expression, read.time, read.look) == (
        entry.name,
        "surprise",
        START,
        look,
    )
    assert read.score == pytest.approx(0.8765) and read.photo_name is None


def test_save_accepts_a_look_and_stores_the_score_as_read_back(tmp_path):
    gallery = make_gallery(tmp_path)
    entry = gallery.save(small_png(), expression="fear", score=0.123456, look=PRESETS["male"])
    assert entry.look == PRESETS["male"].to_dict() and entry.score == 0.1235
    assert Gallery(gallery.folder, 10).entries() == [entry]


def test_compressed_and_damaged_text_chunks(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = small_png()
    ihdr_end = 8 + 25
    ztxt = chunk(b"zTXt", b"a\0\0" + zlib.compress(b"zipped"))
    itxt = chunk(b"iTXt", b"b\0\x01\0en\0\0" + zlib.compress("ünï".encode()))
    assert read_png_text(png[:ihdr_end] + ztxt + itxt + png[ihdr_end:]) == {
        "a": "zipped",
        "b": "ünï",
    }
    broken = chunk(b"zTXt", b"a\0\0not zlib")
    with pytest.raises(ValueError):
        read_png_text(png[:ihdr_end] + broken + png[ihdr_end:])


def test_entries_newest_first_and_names_unique_in_one_microsecond(tmp_path):
    gallery = make_gallery(tmp_path, step=timedelta(0))  # a clock that never moves
    names = [save(gallery, e).name for e in ("happy", "happy", "sad", "happy")]
    assert len(set(names)) == 4 and names == sorted(names)
    assert [e.name for e in gallery.entries()] == names[::-1]


def set_back(hours):
    """The Pi's clock read by each save: on time, then (a power cut; the Pi boots at the
    time it saved an hour before, and no network sets it) `hours` behind, running on."""
    readings = iter([START, START - timedelta(hours=hours), START - timedelta(hours=hours, seconds=-1)])
    return lambda: next(readings)


@pytest.mark.parametrize("hours", [1, 24 * 365])
def test_a_clock_set_back_still_names_memojis_in_the_order_they_were_saved(tmp_path, hours):
    """Names sort in saving order whatever the clock did, so retention removes the oldest
    saved and "newest first" is the newest; each keeps the time the clock read (a nudged
    copy of the last one's showed every memoji of the day at one minute)."""
    gallery = Gallery(tmp_path / "gallery", keep=2, clock=set_back(hours))
    saved = [save(gallery, e) for e in ("happy", "sad", "happy")]
    assert [e.name for e in saved] == sorted(e.name for e in saved)
    assert [e.name for e in gallery.entries()] == [saved[2].name, saved[1].name]  # the first pruned
    assert [e.time for e in saved] == [START, START - timedelta(hours=hours),
                                       START - timedelta(hours=hours, seconds=-1)]
    assert Gallery(gallery.folder, 10).entries() == saved[:0:-1]  # as read back


def test_a_deleted_memojis_name_is_not_given_to_the_next_one(tmp_path):
    """With the clock behind the newest memoji, a new one is named just after it: deleting
    the newest (a bad shot) gave its name to the next memoji of that expression, and phones
    that cached the deleted image (a day) or scanned its QR code showed the wrong memoji."""
    gallery = Gallery(tmp_path / "gallery", keep=10, clock=set_back(1))
    kept, bad = save(gallery, "happy"), save(gallery, "happy")
    gallery.delete(bad.name)
    after = save(gallery, "happy")
    assert after.name != bad.name and after.name > bad.name > kept.name


def test_retention_removes_the_oldest_with_their_photos(tmp_path):
    gallery = make_gallery(tmp_path, keep=3)
    photo = np.full((24, 32, 3), (200, 10, 10), np.uint8)
    saved = [save(gallery, photo=photo) for _ in range(5)]
    assert [e.name for e in gallery.entries()] == [e.name for e in saved[:1:-1]]
    files = sorted(p.name for p in gallery.folder.iterdir())
    assert files == sorted([e.name for e in saved[2:]] + [e.photo_name for e in saved[2:]])


def test_retention_tells_the_journal_once_not_at_every_save(tmp_path, caplog):
    """A full gallery removes one memoji per capture from then on: a line each, all day."""
    gallery = make_gallery(tmp_path, keep=2)
    with caplog.at_level(logging.INFO, logger="device.gallery"):
        saved = [save(gallery) for _ in range(6)]
    assert [r.getMessage() for r in caplog.records] == [
        "retention: the gallery holds storage.keep = 2 memojis, so each new one now replaces "
        f"the oldest (first removed: {saved[0].name})"]


def test_memojis_removed_at_once_by_a_lowered_keep_are_counted_in_the_journal(tmp_path, caplog):
    """storage.keep lowered from 6 to 2 and the booth restarted: its next save removes five.
    The journal said "each new one now replaces the oldest (first removed: ...)", and not
    that four more had gone with it."""
    saved = [save(make_gallery(tmp_path, keep=6)) for _ in range(6)]
    with caplog.at_level(logging.INFO, logger="device.gallery"):
        newest = save(make_gallery(tmp_path, keep=2))
    assert [entry.name for entry in make_gallery(tmp_path).entries()] == [newest.name,
                                                                          saved[-1].name]
    [line] = [r.getMessage() for r in caplog.records]
    assert "removed the 5 oldest memojis" in line and "storage.keep = 2" in line, line
    assert saved[0].name in line and saved[4].name in line, line


def test_an_old_memoji_retention_cannot_remove_does_not_fail_the_new_save(tmp_path, monkeypatch,
                                                                       caplog):
    """The new memoji was written, then pruning the oldest failed (EIO on a failing card):
    save() raised, so the guest was told "not saved", and every later save too."""
    gallery = make_gallery(tmp_path, keep=2)
    saved = [save(gallery) for _ in range(2)]
    card_refuses_to_remove(monkeypatch, lambda path: path.name == saved[0].name, errno.EIO)
    newest = save(gallery)  # does not raise
    assert gallery.entries()[0] == newest
    assert "retention: cannot remove " + saved[0].name in caplog.text

def test_photo_is_saved_beside_as_rgb_jpeg_and_deleted_with_it(tmp_path):
    gallery = make_gallery(tmp_path)
    photo = np.zeros((24, 32, 3), np.uint8)
    photo[..., 0] = 250  # pure red in RGB
    entry = save(gallery, photo=photo)
    assert entry.photo_name == entry.name.replace(".png", "-photo.jpg")
    bgr = cv2.imread(str(gallery.path_of(entry.photo_name)))
    assert bgr[12, 16, 2] > 200 and bgr[12, 16, 0] < 50
    assert gallery.entries()[0].photo_name == entry.photo_name
    gallery.delete(entry.name)
    assert list(gallery.folder.iterdir()) == []
    with pytest.raises(KeyError):
        gallery.delete(entry.name)


def test_page(tmp_path):
    gallery = make_gallery(tmp_path)
    names = [save(gallery).name for _ in range(5)][::-1]
    assert [e.name for e in gallery.page(1, 2)[0]] == names[:2]
    assert [e.name for e in gallery.page(3, 2)[0]] == names[4:]
    assert gallery.page(4, 2) == ([], 5)
    with pytest.raises(ValueError):
        gallery.page(0, 2)


@pytest.mark.parametrize(
    "name",
    [
        "../gallery/x.png",
        "/etc/passwd",
        "look.json",
        "memoji-20261124-081502-123456-happy.png/..",
        "memoji-20261124-081502-123456-happy.png",
        "..",
        "",
        "memoji-20261124-081502-123456-HAPPY.png",
    ],
)
def test_path_of_refuses_anything_the_gallery_did_not_make(tmp_path, name):
    gallery = make_gallery(tmp_path)
    save(gallery, "sad")
    (gallery.folder / "look.json").write_text("{}")
    with pytest.raises(KeyError):
        gallery.path_of(name)
    with pytest.raises(KeyError):
        gallery.delete(name)
    with pytest.raises(KeyError):
        gallery.thumb_of(name)


# ---------------------------------------------------------------- thumbnails


def memoji_png(size=SAVED_PX):
    """A memoji-like PNG: a flat orange disc on a transparent square."""
    image = np.zeros((size, size, 4), np.uint8)
    cv2.circle(image, (size // 2, size // 2), size * 2 // 5, (40, 140, 250, 255), -1)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def save_memoji(gallery, expression="happy"):
    return gallery.save(memoji_png(), expression=expression, score=0.9, look=DEFAULT_LOOK)


def thumbs_in(gallery) -> list[str]:
    folder = gallery.folder / ".thumbs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_thumbnail_is_a_small_square_png_of_the_memoji_kept_in_a_hidden_folder(tmp_path):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    thumb = gallery.thumb_of(entry.name)
    assert thumb == gallery.folder / ".thumbs" / entry.name
    with Image.open(thumb) as image:
        assert image.format == "PNG" and image.size == (THUMB_PX, THUMB_PX)
        rgba = np.asarray(image.convert("RGBA"))
    assert rgba[0, 0, 3] == 0  # the transparent corners stay transparent
    centre = rgba[THUMB_PX // 2, THUMB_PX // 2].astype(int)
    assert np.abs(centre - (250, 140, 40, 255)).max() <= 4  # the disc, RGB (in 256 colours)


def test_a_thumbnail_of_a_real_memoji_is_a_fraction_of_its_bytes(tmp_path):
    gallery = make_gallery(tmp_path)
    png = render_png(PRESETS["female"], "happy", SAVED_PX)
    entry = gallery.save(png, expression="happy", score=0.9, look=PRESETS["female"])
    assert gallery.thumb_of(entry.name).stat().st_size * 4 < len(png)


def test_a_thumbnail_is_drawn_once_and_then_read_from_its_file(tmp_path, monkeypatch):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    drawn = count_drawings(monkeypatch)
    first = gallery.thumb_of(entry.name)
    made = first.stat()
    assert gallery.thumb_of(entry.name) == first
    assert Gallery(gallery.folder, 100).thumb_of(entry.name) == first  # another process, too
    assert len(drawn) == 1 and (first.stat().st_ino, first.stat().st_mtime_ns) == (
        made.st_ino, made.st_mtime_ns)


def count_drawings(monkeypatch) -> list[str]:
    """Record each thumbnail drawn (the time of its memoji)."""
    from device import gallery as module

    drawn: list[str] = []
    real = module._thumbnail_png

    def counting(png, size):
        drawn.append(read_png_text(png)["time"])
        return real(png, size)

    monkeypatch.setattr(module, "_thumbnail_png", counting)
    return drawn


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],  # cut short
    lambda data: data[:40] + bytes(b ^ 0xFF for b in data[40:60]) + data[60:],  # a bad chunk
    lambda data: b"",
    lambda data: memoji_png(THUMB_PX // 2),  # whole, but drawn at another size
])
def test_a_missing_or_damaged_thumbnail_is_drawn_again(tmp_path, damage):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    thumb = gallery.thumb_of(entry.name)
    good = thumb.read_bytes()
    thumb.write_bytes(damage(good))
    assert gallery.thumb_of(entry.name).read_bytes() == good
    thumb.unlink()
    assert gallery.thumb_of(entry.name).read_bytes() == good


def test_a_thumbnail_goes_with_its_memoji_when_deleted_or_pruned(tmp_path):
    gallery = make_gallery(tmp_path, keep=2)
    first, second = save_memoji(gallery), save_memoji(gallery, "sad")
    for entry in (first, second):
        gallery.thumb_of(entry.name)
    third = save_memoji(gallery, "fear")  # prunes the first
    assert thumbs_in(gallery) == [second.name]
    gallery.delete(second.name)
    assert thumbs_in(gallery) == []
    assert [e.name for e in gallery.entries()] == [third.name]


def test_thumbnails_are_never_listed_as_memojis(tmp_path, caplog):
    gallery = make_gallery(tmp_path)
    names = [save_memoji(gallery, e).name for e in ("happy", "sad")][::-1]
    for name in names:
        gallery.thumb_of(name)
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        assert [e.name for e in Gallery(gallery.folder, 100).entries()] == names
    assert caplog.text == ""  # not even skipped as a foreign file
    with pytest.raises(KeyError):
        gallery.path_of(f".thumbs/{names[0]}")


def test_a_thumbnail_is_only_for_a_memoji(tmp_path):
    gallery = make_gallery(tmp_path)
    entry = gallery.save(memoji_png(), expression="happy", score=0.9, look=DEFAULT_LOOK,
                         photo=np.zeros((24, 32, 3), np.uint8))
    for name in (entry.photo_name, ".thumbs", f".thumbs/{entry.name}", f"../gallery/{entry.name}"):
        with pytest.raises(KeyError):
            gallery.thumb_of(name)
    assert thumbs_in(gallery) == []


def test_requests_side_by_side_draw_a_thumbnail_once(tmp_path, monkeypatch):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    drawn = count_drawings(monkeypatch)
    start = threading.Barrier(8)
    found = []

    def ask():
        start.wait()
        found.append(gallery.thumb_of(entry.name).read_bytes())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(drawn) == 1 and len(found) == 8 and len(set(found)) == 1


def test_a_memoji_deleted_while_its_thumbnail_is_drawn_leaves_no_thumbnail(tmp_path, monkeypatch):
    from device import gallery as module

    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    real = module._thumbnail_png

    def deleted_meanwhile(png, size):
        (gallery.folder / entry.name).unlink()  # by the kiosk's process, say
        return real(png, size)

    monkeypatch.setattr(module, "_thumbnail_png", deleted_meanwhile)
    with pytest.raises(KeyError):
        gallery.thumb_of(entry.name)
    assert thumbs_in(gallery) == []


def test_a_memoji_that_cannot_be_read_has_no_thumbnail(tmp_path):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    path = gallery.path_of(entry.name)
    path.write_bytes(path.read_bytes()[:2000])  # its metadata whole, its image cut short
    with pytest.raises(ValueError, match="cannot read the memoji"):
        gallery.thumb_of(entry.name)
    assert thumbs_in(gallery) == []


def test_a_full_card_leaves_no_part_of_a_thumbnail(tmp_path, monkeypatch):
    gallery = make_gallery(tmp_path)
    entry = save_memoji(gallery)
    monkeypatch.setattr(storage.os, "write", raising(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(StorageFullError):
        gallery.thumb_of(entry.name)
    monkeypatch.undo()
    assert list((gallery.folder / ".thumbs").iterdir()) == []


def test_foreign_and_damaged_files_are_skipped(tmp_path, caplog):
    gallery = make_gallery(tmp_path)
    good = save(gallery)
    (gallery.folder / "memoji-20260101-000000-000000-happy.png").write_bytes(b"not a png")
    (gallery.folder / "memoji-20260101-000000-000001-sad.png").write_bytes(
        small_png()
    )  # no metadata
    (gallery.folder / "holiday.png").write_bytes(small_png())
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        assert [e.name for e in Gallery(gallery.folder, 100).entries()] == [good.name]
    assert caplog.text.count("skipping") == 2
    assert "no 'look' in its PNG text" in caplog.text  # not just "('look')"


def _bytes_read_by_this_process():
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="Linux's per-process I/O counts")
def test_listing_reads_each_memojis_metadata_not_its_picture(tmp_path):
    """The first listing after a start reads every memoji: 1000 whole ones are ~100 MB."""
    gallery = make_gallery(tmp_path)
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 4), np.uint8)
    big_png = cv2.imencode(".png", noise)[1].tobytes()  # 360 kB that PNG cannot squeeze
    for _ in range(5):
        gallery.save(big_png, expression="happy", score=0.9, look=DEFAULT_LOOK)
    fresh = Gallery(gallery.folder, 100)  # as after a restart: nothing known yet
    before = _bytes_read_by_this_process()
    assert len(fresh.entries()) == 5
    assert _bytes_read_by_this_process() - before < 5 * 64 * 1024


def test_metadata_behind_a_long_chunk_is_still_read(tmp_path):
    gallery = make_gallery(tmp_path)
    entry = save(gallery)
    path = gallery.path_of(entry.name)
    note = "x" * 50_000  # before the memoji's own text chunks: beyond what is read first
    path.write_bytes(add_png_text(path.read_bytes(), {"Comment": note}))
    assert Gallery(gallery.folder, 100).entries() == [entry]


def test_missing_folder_is_an_empty_gallery(tmp_path):
    gallery = Gallery(tmp_path / "not-yet", 10)
    assert gallery.entries() == [] and gallery.page(1, 10) == ([], 0)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("failing", ["write", "replace"])
def test_full_disk_raises_storage_full_and_leaves_nothing(tmp_path, monkeypatch, code, failing):
    gallery = make_gallery(tmp_path)
    kept = save(gallery)
    real = getattr(storage.os, failing)
    calls = []

    def fail_second_file(*args):
        calls.append(args)
        if failing == "write" and len(calls) == 1 or failing == "replace" and len(calls) == 1:
            return real(*args)  # the photo goes through, the memoji itself does not fit
        raise OSError(code, "No space left on device")

    monkeypatch.setattr(storage.os, failing, fail_second_file)
    with pytest.raises(StorageFullError) as caught:
        save(gallery, photo=np.zeros((8, 8, 3), np.uint8))
    monkeypatch.undo()
    assert str(caught.value).startswith("Storage full:")
    assert str(gallery.folder) not in str(caught.value)  # guests read it; the journal gets the path
    assert caught.value.filename == str(gallery.folder)
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in gallery.folder.iterdir()) == [kept.name]
    assert [e.name for e in gallery.entries()] == [kept.name]


def test_a_full_card_makes_room_by_retention_and_saves(tmp_path, monkeypatch):
    """The screen's advice for a full card is to lower storage.keep: after that, the next
    save must free the space, although retention normally runs only after a save."""
    gallery = make_gallery(tmp_path, keep=5)
    old = [save(gallery).name for _ in range(5)]
    lowered = Gallery(gallery.folder, 2, clock=gallery._clock)  # restarted with keep = 2
    real_write = storage.os.write
    full = [True]

    def full_until_something_is_removed(*args):
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(*args)

    real_remove = lowered._remove

    def remove(name):
        full[0] = False
        real_remove(name)

    monkeypatch.setattr(storage.os, "write", full_until_something_is_removed)
    monkeypatch.setattr(lowered, "_remove", remove)
    new = save(lowered)
    assert [e.name for e in lowered.entries()] == [new.name, old[-1]]


def raising(error: Exception):
    """A stand-in for an os call that fails with `error`."""

    def fail(*args):
        raise error

    return fail


def test_a_full_card_with_nothing_beyond_keep_still_says_storage_full(tmp_path, monkeypatch):
    gallery = make_gallery(tmp_path, keep=5)
    kept = [save(gallery).name for _ in range(3)]
    monkeypatch.setattr(storage.os, "write", raising(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(StorageFullError):
        save(gallery)
    monkeypatch.undo()
    assert sorted(e.name for e in gallery.entries()) == sorted(kept)  # nothing was removed


def test_other_errors_are_not_disguised(tmp_path, monkeypatch):
    gallery = make_gallery(tmp_path)
    monkeypatch.setattr(storage.os, "replace", raising(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(PermissionError):
        save(gallery)
    monkeypatch.undo()
    assert list(gallery.folder.iterdir()) == []


def test_unknown_expression_is_refused(tmp_path):
    with pytest.raises(ValueError):
        save(make_gallery(tmp_path), "../../evil")


def test_a_gallery_forgets_memojis_another_one_removed(tmp_path):
    """`memoji-booth web` and `run` may share a folder: one's retention must not leave
    the other remembering the removed memojis for days."""
    saver = make_gallery(tmp_path, keep=3)
    reader = Gallery(tmp_path / "gallery", keep=3)
    for _ in range(10):
        save(saver)
        assert len(reader.entries()) <= 3
    assert len(reader._cache) == 3


# ---------------------------------------------------------------- LookStore


def test_look_store_round_trip_and_mtime(tmp_path):
    store = LookStore(tmp_path / "data" / "look.json")
    assert store.load() == DEFAULT_LOOK and store.mtime() is None
    store.save(PRESETS["male"])
    assert store.load() == PRESETS["male"]
    assert isinstance(store.mtime(), float)
    assert json.loads(store.path.read_text()) == PRESETS["male"].to_dict()


def test_an_unreachable_look_file_answers_the_last_time_seen(tmp_path, monkeypatch, caplog):
    """The kiosk polls mtime() every second from its display loop: a pulled USB stick (EIO)
    must neither raise there nor look like a new look."""
    store = LookStore(tmp_path / "data" / "look.json")
    store.save(PRESETS["male"])
    seen = store.mtime()
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self == store.path:
            raise OSError(errno.EIO, "Input/output error")
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        assert store.mtime() == seen and store.mtime() == seen
    assert caplog.text.count("cannot check the saved look") == 1
    monkeypatch.undo()
    assert store.mtime() == seen


@pytest.mark.parametrize("content", ["{not json", '["HOODIE"]', "\xff\xfe"])
def test_damaged_look_is_set_aside_and_default_used(tmp_path, caplog, content):
    path = tmp_path / "look.json"
    path.write_bytes(content.encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        assert LookStore(path).load() == DEFAULT_LOOK
    assert not path.exists()
    [bad] = tmp_path.glob("look.json.bad-*")
    assert bad.read_bytes() == content.encode("latin-1")
    assert bad.name in caplog.text


@pytest.mark.parametrize("content", ["{not json", '{"hair_type": "TOUPEE"}'])
def test_a_damaged_look_on_a_read_only_card_is_said_to_stay_where_it_is(
        tmp_path, caplog, monkeypatch, content):
    """The journal said "moved it to None" of a file it could not move."""
    path = tmp_path / "look.json"
    path.write_text(content)

    def read_only(source, target):
        raise OSError(errno.EROFS, "Read-only file system", str(source))

    monkeypatch.setattr("device.gallery.os.replace", read_only)
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        assert LookStore(path).load() == DEFAULT_LOOK
    assert path.read_text() == content
    assert "None" not in caplog.text and "left it where it is" in caplog.text


def test_a_look_with_one_bad_field_keeps_the_others(tmp_path, caplog):
    """An unknown key or a choice a newer python-avatars renamed costs that field only."""
    path = tmp_path / "look.json"
    original = ('{"skin_color": "DARK_BROWN", "hair_type": "TOUPEE", "hair_color": "RED", '
                '"sparkles": "YES", "accessory": 3}')
    path.write_text(original)
    with caplog.at_level(logging.WARNING, logger="device.gallery"):
        look = LookStore(path).load()
    assert look == DEFAULT_LOOK.replace(skin_color="DARK_BROWN", hair_color="RED")
    assert "hair_type='TOUPEE'" in caplog.text and "sparkles='YES'" in caplog.text
    assert LookStore(path).load() == look  # the salvaged look is what is saved now
    [bad] = tmp_path.glob("look.json.bad-*")
    assert bad.read_text() == original  # and the original is kept for the operator


def test_each_damaged_look_is_kept_apart(tmp_path):
    path = tmp_path / "look.json"
    for content in ("{first", "{second"):
        path.write_text(content)
        assert LookStore(path).load() == DEFAULT_LOOK
    kept = sorted(bad.read_text() for bad in tmp_path.glob("look.json.bad-*"))
    assert kept == ["{first", "{second"]


def test_a_damaged_look_loaded_by_two_stores_at_once_is_set_aside_once(tmp_path):
    """The kiosk and the web page each have a LookStore of the same file."""
    path = tmp_path / "look.json"
    path.write_text('{"skin_color": "DARK_BROWN", "hair_type": "TOUPEE"}')
    stores = [LookStore(path) for _ in range(6)]
    start = threading.Barrier(len(stores))
    looks = []

    def load(store):
        start.wait()
        looks.append(store.load())

    threads = [threading.Thread(target=load, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert looks == [DEFAULT_LOOK.replace(skin_color="DARK_BROWN")] * len(stores)
    assert len(list(tmp_path.glob("look.json.bad-*"))) == 1  # the damaged original, once


def test_concurrent_saves_leave_one_valid_look(tmp_path):
    path = tmp_path / "look.json"
    stores = [LookStore(path), LookStore(path)]  # e.g. two web threads and the kiosk
    looks = [
        Look(hair_color=c, clothing_color=k)
        for c in ("RED", "BLACK", "AUBURN", "BLONDE")
        for k in ("PINK", "WHITE")
    ]
    errors = []

    def worker(index):
        try:
            for round_ in range(15):
                stores[index % 2].save(looks[(index + round_) % len(looks)])
                assert stores[index % 2].load() in looks
        except (AssertionError, OSError, ValueError) as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert LookStore(path).load() in looks
    assert [p.name for p in tmp_path.iterdir()] == ["look.json"]


def test_a_new_gallery_removes_what_unfinished_saves_left(tmp_path):
    """A power cut between a save's write and its rename leaves a hidden temp file (up to a
    megabyte each): the next start removes those older than an hour, thumbnails' too."""
    from tests.test_storage import _unfinished_write

    (tmp_path / ".thumbs").mkdir()
    left = [_unfinished_write(tmp_path, "memoji-20261124-081502-123456-happy.png", age_s=7200),
            _unfinished_write(tmp_path / ".thumbs", "memoji-20261124-081502-123456-happy.png",
                              age_s=7200)]
    Gallery(tmp_path, keep=5)
    assert not any(path.exists() for path in left)


def test_a_new_gallery_removes_thumbnails_whose_memoji_is_gone(tmp_path):
    gallery = Gallery(tmp_path, keep=5, clock=Clock())
    kept, gone = save_memoji(gallery), save_memoji(gallery)
    for entry in (kept, gone):
        gallery.thumb_of(entry.name)
    (tmp_path / gone.name).unlink()  # by hand, behind the gallery's back
    assert thumbs_in(Gallery(tmp_path, keep=5)) == [kept.name]


def test_a_new_gallery_removes_camera_photos_whose_memoji_is_gone(tmp_path):
    """A power cut between a photo's write and its memoji's, or a memoji removed by hand,
    left the guest's photo for good: never shown, never pruned, never deleted."""
    gallery = Gallery(tmp_path, keep=5, clock=Clock())
    photo = np.zeros((8, 8, 3), np.uint8)
    kept, gone = save(gallery, photo=photo), save(gallery, photo=photo)
    (tmp_path / gone.name).unlink()  # by hand, behind the gallery's back
    Gallery(tmp_path, keep=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, kept.photo_name])


def erase_fixture(tmp_path, count=4):
    """A gallery of `count` memojis with photos and thumbnails, plus what a power cut and a
    removal by hand leave: an unfinished write, an orphan photo and thumbnail."""
    from tests.test_storage import _unfinished_write

    gallery = Gallery(tmp_path, keep=100, clock=Clock())
    saved = [gallery.save(memoji_png(), expression="happy", score=0.9, look=DEFAULT_LOOK,
                          photo=np.zeros((8, 8, 3), np.uint8)) for _ in range(count)]
    for entry in saved:
        gallery.thumb_of(entry.name)
    orphan = save(gallery, photo=np.zeros((8, 8, 3), np.uint8))
    gallery.thumb_of(orphan.name)
    (tmp_path / orphan.name).unlink()
    _unfinished_write(tmp_path, saved[0].photo_name, age_s=5)  # younger than a start removes
    return gallery, saved


def test_erase_removes_every_memoji_with_its_photo_and_thumbnail_and_what_was_left(tmp_path):
    gallery, saved = erase_fixture(tmp_path)
    (tmp_path / "look-notes.txt").write_text("not the booth's")  # a stranger's file stays
    erased = gallery.erase()
    assert (erased.memojis, erased.photos, erased.kept, erased.failed) == (4, 5, 0, ())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thumbs", "look-notes.txt"]
    assert thumbs_in(gallery) == [] and gallery.entries() == []
    after = save(gallery)  # the gallery goes on as before
    assert [e.name for e in gallery.entries()] == [after.name]
    assert after.name > saved[-1].name  # no name is given twice


def test_erase_removes_an_unfinished_write_dated_after_the_clock(tmp_path):
    """A power cut during a camera photo's write, and the Pi starts behind (its saved time):
    the half-written photo is dated after the clock. Erase removes it all the same."""
    from tests.test_storage import _unfinished_write

    gallery, saved = erase_fixture(tmp_path)
    ahead = _unfinished_write(tmp_path, saved[1].photo_name, age_s=-3600)  # an hour ahead
    gallery.erase()
    assert not ahead.exists()


def test_the_journal_counts_one_erased_memoji_in_the_singular(tmp_path, caplog):
    """It said "erased 1 memojis and 1 camera photos"."""
    gallery = Gallery(tmp_path, keep=10)
    save(gallery, photo=np.zeros((8, 8, 3), np.uint8))
    with caplog.at_level(logging.INFO, logger="device.gallery"):
        gallery.erase()
    assert f"erased 1 memoji and 1 camera photo from {tmp_path}" in caplog.text


def test_a_deletion_is_made_durable_before_it_returns(tmp_path, monkeypatch):
    """A memoji deleted (or erased) and a power cut seconds later: with the folder not yet
    written back, the guest's picture and photo could come back at the next start."""
    from device import gallery as gallery_module

    gallery = Gallery(tmp_path, keep=10)
    first, second = (save(gallery, photo=np.zeros((8, 8, 3), np.uint8)) for _ in range(2))
    for entry in (first, second):
        gallery.thumb_of(entry.name)
    synced = []  # (folder, the files in it then)
    monkeypatch.setattr(gallery_module, "fsync_folder", lambda folder: synced.append(
        (Path(folder), sorted(p.name for p in Path(folder).iterdir() if p.is_file()))))
    gallery.delete(first.name)
    assert synced == [(tmp_path, sorted([second.name, second.photo_name])),
                      (tmp_path / ".thumbs", [second.name])]
    synced.clear()
    refused = {second.photo_name}
    card_refuses_to_remove(monkeypatch, lambda path: path.name in refused, errno.EIO)
    with pytest.raises(OSError):  # the memoji and its thumbnail went: that much for good
        gallery.delete(second.name)
    assert synced == [(tmp_path, [second.photo_name]), (tmp_path / ".thumbs", [])]
    refused.clear()  # the card works again
    synced.clear()
    gallery.erase()
    assert synced == [(tmp_path, []), (tmp_path / ".thumbs", [])]


def test_erase_through_a_memoji_keeps_those_saved_after_it(tmp_path):
    """The operator erases what they saw (and downloaded): a guest's memoji saved meanwhile
    is not theirs to lose."""
    gallery, saved = erase_fixture(tmp_path)
    erased = gallery.erase(through=saved[1].name)
    assert (erased.memojis, erased.kept) == (2, 2)
    assert [e.name for e in gallery.entries()] == [saved[3].name, saved[2].name]
    assert all(gallery.path_of(e.photo_name) for e in saved[2:])
    assert thumbs_in(gallery) == sorted(e.name for e in saved[2:])
    with pytest.raises(ValueError):
        gallery.erase(through="../look.json")


def test_erase_that_cannot_remove_a_file_says_so_and_leaves_a_working_gallery(tmp_path, monkeypatch):
    """A card gone read-only half way: what could not go is reported, what stays is whole
    and listed (never a memoji without its PNG), and a second erase finishes the job."""
    gallery, saved = erase_fixture(tmp_path)
    refused = {saved[2].name, f".thumbs/{saved[0].name}"}
    card_refuses_to_remove(monkeypatch, lambda path: str(path.relative_to(tmp_path)) in refused)
    erased = gallery.erase()
    assert erased.memojis == 3 and erased.error.errno == errno.EROFS
    assert sorted(erased.failed) == sorted(f"{saved[i].name}: Read-only file system" for i in (0, 2))
    assert [e.name for e in gallery.entries()] == [saved[2].name]
    assert gallery.thumb_of(saved[2].name).is_file()
    monkeypatch.undo()
    assert gallery.erase().failed == ()
    assert gallery.entries() == [] and thumbs_in(gallery) == []
    assert [p.name for p in tmp_path.iterdir() if p.name != ".thumbs"] == []


def test_erase_waits_for_a_save_under_way_and_leaves_no_half_of_it(tmp_path, monkeypatch):
    """A capture saving while the operator erases: the photo and its memoji are one save, so
    the erase comes before both or after both, never between (which left a photo without
    its memoji)."""
    gallery = Gallery(tmp_path, keep=100, clock=Clock())
    photo_written, erase_done = threading.Event(), threading.Event()
    real_write = storage.atomic_write_bytes

    def slow_write(path, data, *args):
        real_write(path, data, *args)
        if str(path).endswith("-photo.jpg"):
            photo_written.set()
            erase_done.wait(1.0)  # the erase has had every chance to run in between

    monkeypatch.setattr("device.gallery.atomic_write_bytes", slow_write)
    saver = threading.Thread(target=save, args=(gallery,), kwargs={"photo": np.zeros((8, 8, 3), np.uint8)})
    saver.start()
    assert photo_written.wait(30)
    eraser = threading.Thread(target=lambda: (gallery.erase(), erase_done.set()))
    eraser.start()
    for thread in (saver, eraser):
        thread.join(60)
        assert not thread.is_alive()
    assert list(tmp_path.iterdir()) == []  # the save came first, and went whole


OLD_DAMAGED = "memoji-20200101-000000-000000-happy.png"  # before any the fixtures save
NEW_DAMAGED = "memoji-20990101-000000-000000-sad.png"  # after them


def test_erase_counts_and_removes_the_memojis_that_cannot_be_read(tmp_path):
    """The page counted only the memojis it could show, and erase removed a damaged one
    too: "Deleted 5" after the operator typed 4. A damaged one newest of all was kept."""
    gallery, saved = erase_fixture(tmp_path)
    for name in (OLD_DAMAGED, NEW_DAMAGED):
        (tmp_path / name).write_bytes(b"not a png")  # a power cut on a card that does not journal
    (tmp_path / OLD_DAMAGED.replace(".png", "-photo.jpg")).write_bytes(b"a guest's face")
    assert len(gallery.entries()) == 4
    doomed = gallery.to_erase()
    assert (doomed.through, doomed.memojis, doomed.damaged, doomed.photos) == (NEW_DAMAGED, 6, 2, 5)
    erased = gallery.erase(through=doomed.through)
    assert (erased.memojis, erased.kept, erased.failed) == (6, 0, ())
    assert [p.name for p in tmp_path.iterdir() if p.name != ".thumbs"] == []


def test_erase_keeps_a_later_memoji_the_card_failed_to_read_just_then(tmp_path, monkeypatch):
    """One saved after ``through`` (by ``memoji-booth web``, another Gallery) that could not
    be read for a moment (too many open files, EIO) is not "damaged": it may be whole."""
    from device import gallery as gallery_module

    gallery, saved = erase_fixture(tmp_path)
    through = gallery.to_erase().through
    later = save(Gallery(tmp_path, keep=100, clock=Clock()))
    read = gallery_module._png_text_of

    def busy_card(path):
        if path.name == later.name:
            raise OSError(errno.EMFILE, "Too many open files", str(path))
        return read(path)

    monkeypatch.setattr(gallery_module, "_png_text_of", busy_card)
    erased = gallery.erase(through=through)
    assert (erased.memojis, erased.kept) == (4, 1)
    assert (tmp_path / later.name).is_file()


def test_erase_through_the_newest_shown_removes_a_damaged_one_saved_after_it(tmp_path):
    """A script names the first memoji the gallery lists: one newer that cannot be read,
    never listed, goes too; a readable one saved after it is kept."""
    gallery, saved = erase_fixture(tmp_path)
    (tmp_path / NEW_DAMAGED).write_bytes(b"not a png")
    later = save(gallery)
    erased = gallery.erase(through=saved[-1].name)
    assert (erased.memojis, erased.kept) == (5, 1)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".thumbs") == [later.name]
