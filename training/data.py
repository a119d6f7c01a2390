"""Load FER-2013 in either layout users have: the Kaggle CSV or the folder tree.

Both loaders return the same thing, a `Dataset` of 48x48 uint8 grey faces and
FER-order labels per split, so everything downstream is layout-agnostic. Bad
input stops with a `DataError` naming the file and line (or path), because a
silently skipped row would quietly change the class balance.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.labels import EXPRESSIONS

FACE_SIZE = 48
PIXELS = FACE_SIZE * FACE_SIZE
REQUIRED_COLUMNS = ("emotion", "pixels", "Usage")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
# Folder-tree split names -> the CSV's `Usage` values, so `--split` means the
# same thing whichever layout the data came in. Kaggle's tree is train/ and
# test/: its test is FER-2013's PublicTest. A tree that also has a val/ folder
# selects on val/ (PublicTest here) and keeps test/ held out (PrivateTest).
FOLDER_SPLITS = {
    "train": "Training",
    "training": "Training",
    "test": "PublicTest",
    "publictest": "PublicTest",
    "val": "PublicTest",
    "validation": "PublicTest",
    "privatetest": "PrivateTest",
}
_HELD_OUT_WHEN_VALIDATED = {"test": "PrivateTest"}
# Left behind by archivers, notebooks and file managers; never data.
_IGNORED_NAMES = {"__MACOSX"}


class DataError(ValueError):
    """The data set is malformed; the message names the file and line or path."""


@dataclass(frozen=True)
class Dataset:
    """Faces (N, 48, 48) uint8 and labels (N,) int64 for each split present."""

    source: str
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    present: tuple[str, ...] = ()  # every Usage in the source, loaded or not

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """One split's faces and labels; the name matches without regard to case."""
        for usage, faces_labels in self.splits.items():
            if usage.casefold() == name.casefold():
                return faces_labels
        have = ", ".join(sorted(set(self.present) | set(self.splits))) or "none"
        raise DataError(f"{self.source}: no rows with Usage {name!r} (present: {have})")


def _folded(splits: set[str] | None) -> set[str] | None:
    """The split names asked for, case-folded once (rows compare against them one by one)."""
    return None if splits is None else {name.casefold() for name in splits}


def _wanted(usage: str, folded: set[str] | None) -> bool:
    return folded is None or usage.casefold() in folded


def load(path: str | Path, splits: set[str] | None = None) -> Dataset:
    """Load a CSV (plain or .gz) or a folder tree; keep only `splits` if given."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; expected fer2013.csv(.gz) or a folder "
            "with train/<emotion>/ and test/<emotion>/ images"
        )
    if path.is_dir():
        return load_folder(path, splits)
    return load_csv(path, splits)


def _open_text(path: Path) -> io.TextIOBase:
    """Text of a plain or gzipped CSV, told apart by content, not by the file's name."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # -sig: spreadsheets save a BOM


def load_csv(path: Path, splits: set[str] | None = None) -> Dataset:
    """Parse Kaggle's `emotion,pixels,Usage` CSV, validating every row."""
    faces: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    reader = None
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            present = _read_rows(path, reader, _folded(splits), faces, labels)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as error:
        # gzip.BadGzipFile is an OSError, a truncated .gz an EOFError
        line = f", line {reader.line_num + 1}" if reader is not None else ""
        raise DataError(f"{path}{line}: not a readable FER-2013 CSV ({error})") from None
    if not present:
        raise DataError(f"{path}: no rows after the header")
    return Dataset(str(path), _stack(faces, labels), tuple(sorted(present)))


def _read_rows(path: Path, reader, wanted, faces, labels) -> set[str]:
    """Validate every row, collect those of the `wanted` (case-folded) splits into
    faces/labels; the Usage values seen."""
    try:
        # stripped: Kaggle's icml_face_data.csv has the header "emotion, Usage, pixels"
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise DataError(f"{path}: the file is empty") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}, line 1: missing column(s) {', '.join(missing)}; "
            f"expected the header {','.join(REQUIRED_COLUMNS)}"
        )
    i_emotion, i_pixels, i_usage = (header.index(c) for c in REQUIRED_COLUMNS)
    present: set[str] = set()
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line_no}: {len(row)} fields, expected {len(header)}")
        usage = row[i_usage].strip()
        present.add(usage)
        if not _wanted(usage, wanted):
            continue
        label = _parse_label(row[i_emotion], f"{path}, line {line_no}")
        try:
            pixels = np.array(row[i_pixels].split(), dtype=np.int64)
        except ValueError:
            raise DataError(f"{path}, line {line_no}: pixels must be whole numbers 0-255 "
                            "separated by spaces") from None
        if pixels.size != PIXELS:
            raise DataError(
                f"{path}, line {line_no}: {pixels.size} pixels, expected {PIXELS} (48x48)"
            )
        if pixels.min() < 0 or pixels.max() > 255:
            raise DataError(f"{path}, line {line_no}: pixel values must be 0-255")
        faces.setdefault(usage, []).append(pixels.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE))
        labels.setdefault(usage, []).append(label)
    return present


def _parse_label(text: str, where: str) -> int:
    try:
        label = int(text)
    except ValueError:
        raise DataError(f"{where}: emotion {text!r} is not a number 0-6") from None
    if not 0 <= label < len(EXPRESSIONS):
        raise DataError(f"{where}: unknown emotion label {label}; expected 0-6 ({', '.join(EXPRESSIONS)})")
    return label


def load_folder(root: Path, splits: set[str] | None = None) -> Dataset:
    """Read `<split>/<emotion>/*.jpg|png` (e.g. train/happy/001.jpg) as grey faces."""
    import cv2

    faces: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    usages = _folder_splits(root)
    wanted = _folded(splits)
    for split_dir, usage in usages.items():
        if not _wanted(usage, wanted):
            continue
        for class_dir in _entries(split_dir, folders=True):
            name = class_dir.name.lower()
            if name not in EXPRESSIONS:
                raise DataError(
                    f"{class_dir}: unknown emotion folder {class_dir.name!r}; "
                    f"expected one of {', '.join(EXPRESSIONS)}"
                )
            label = EXPRESSIONS.index(name)
            for image_path in _entries(class_dir, folders=False):
                if image_path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    raise DataError(f"{image_path}: not a readable image")
                if image.shape != (FACE_SIZE, FACE_SIZE):
                    image = cv2.resize(image, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
                faces.setdefault(usage, []).append(image)
                labels.setdefault(usage, []).append(label)
    if not faces and any(_wanted(usage, wanted) for usage in usages.values()):
        raise DataError(f"{root}: no images found under {', '.join(p.name for p in usages)}")
    return Dataset(str(root), _stack(faces, labels), tuple(sorted(set(usages.values()))))


def _entries(folder: Path, folders: bool) -> list[Path]:
    """Sub-folders or files, sorted, without what archivers and file managers leave
    behind (__MACOSX/, .ipynb_checkpoints/, .DS_Store, ._001.jpg)."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_dir() == folders and not p.name.startswith(".") and p.name not in _IGNORED_NAMES
    )


def _folder_splits(root: Path) -> dict[Path, str]:
    """Each split folder -> its Usage; two folders may not claim the same one."""
    split_dirs = _entries(root, folders=True)
    if not split_dirs:
        raise DataError(f"{root}: no split folders; expected train/<emotion>/ and test/<emotion>/")
    names = {p.name.lower() for p in split_dirs}
    validated = bool(names & {"val", "validation"})
    usages: dict[Path, str] = {}
    for split_dir in split_dirs:
        name = split_dir.name.lower()
        if name not in FOLDER_SPLITS:
            raise DataError(
                f"{split_dir}: unknown split folder {split_dir.name!r}; expected one of "
                f"{', '.join(sorted(FOLDER_SPLITS))}"
            )
        usage = (_HELD_OUT_WHEN_VALIDATED.get(name) if validated else None) or FOLDER_SPLITS[name]
        twin = next((other for other, u in usages.items() if u == usage), None)
        if twin is not None:
            raise DataError(
                f"{root}: {twin.name}/ and {split_dir.name}/ would both be the {usage} split; keep one"
            )
        usages[split_dir] = usage
    return usages


def _stack(faces: dict[str, list[np.ndarray]], labels: dict[str, list[int]]) -> dict:
    return {
        usage: (np.stack(faces[usage]), np.asarray(labels[usage], dtype=np.int64))
        for usage in faces
    }

