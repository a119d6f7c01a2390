"""FER-2013 loaders: both layouts, and bad input that names the file and line."""

import gzip

import cv2
import numpy as np
import pytest

from training import data as fer

HEADER = "emotion,pixels,Usage\n"


def _row(label, n=2304, usage="Training", value=7):
    return f"{label},{' '.join([str(value)] * n)},{usage}\n"


def _write_csv(path, rows, header=HEADER):
    text = header + "".join(rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_csv_plain_and_gzip(tmp_path, name):
    path = _write_csv(
        tmp_path / name,
        [_row(3), _row(6, value=200), _row(0, usage="PublicTest"), _row(5, usage="PrivateTest")],
    )
    dataset = fer.load(path)
    x, y = dataset.split("Training")
    assert x.shape == (2, 48, 48) and x.dtype == np.uint8
    assert y.tolist() == [3, 6]
    assert x[1, 10, 10] == 200
    assert dataset.split("PublicTest")[1].tolist() == [0]
    assert dataset.split("PrivateTest")[1].tolist() == [5]


def test_csv_keeps_only_requested_splits(tmp_path):
    path = _write_csv(tmp_path / "fer.csv", [_row(3), _row(0, usage="PublicTest")])
    dataset = fer.load(path, {"PublicTest"})
    assert set(dataset.splits) == {"PublicTest"}
    with pytest.raises(fer.DataError, match="no rows with Usage 'Training'"):
        dataset.split("Training")


@pytest.mark.parametrize(
    "rows, header, message",
    [
        ([_row(3), _row(3, n=2303)], HEADER, r"fer\.csv, line 3: 2303 pixels, expected 2304"),
        ([_row(9)], HEADER, r"fer\.csv, line 2: unknown emotion label 9"),
        ([_row("x")], HEADER, r"fer\.csv, line 2: emotion 'x' is not a number"),
        ([_row(3, value=256)], HEADER, r"fer\.csv, line 2: pixel values must be 0-255"),
        ([_row(3), _row(3, value="1.5")], HEADER, r"fer\.csv, line 3: pixels must be whole numbers"),
        ([_row(3, value="12a")], HEADER, r"fer\.csv, line 2: pixels must be whole numbers"),
        (["3,1 2 3\n"], "emotion,pixels\n", r"fer\.csv, line 1: missing column\(s\) Usage"),
        (["3,1 2,Training,extra\n"], HEADER, r"fer\.csv, line 2: 4 fields, expected 3"),
    ],
)
def test_csv_bad_input_names_file_and_line(tmp_path, rows, header, message):
    path = _write_csv(tmp_path / "fer.csv", rows, header)
    with pytest.raises(fer.DataError, match=message):
        fer.load(path)


def test_csv_saved_with_a_byte_order_mark_reads(tmp_path):
    """Spreadsheet programs save UTF-8 CSVs with a BOM before the header."""
    path = tmp_path / "fer.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + _row(4)).encode())
    assert fer.load(path).split("Training")[1].tolist() == [4]


def test_missing_path_says_what_is_expected(tmp_path):
    with pytest.raises(fer.DataError, match="no such file or folder"):
        fer.load(tmp_path / "nope.csv")


def _write_tree(root, layout):
    for (split, emotion), count in layout.items():
        folder = root / split / emotion
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            face = np.full((48, 48), 10 * i + 5, np.uint8)
            cv2.imwrite(str(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}"), face)
    return root


def test_folder_tree(tmp_path):
    root = _write_tree(tmp_path, {("train", "happy"): 3, ("train", "angry"): 2, ("test", "sad"): 2})
    dataset = fer.load(root)
    x, y = dataset.split("Training")
    assert x.shape == (5, 48, 48)
    assert sorted(y.tolist()) == [0, 0, 3, 3, 3]
    assert dataset.split("PublicTest")[1].tolist() == [4, 4]


def test_folder_tree_resizes_other_sizes(tmp_path):
    folder = tmp_path / "train" / "neutral"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "big.png"), np.full((96, 96), 128, np.uint8))
    x, y = fer.load(tmp_path).split("Training")
    assert x.shape == (1, 48, 48) and y.tolist() == [6]


def test_folder_tree_unknown_emotion(tmp_path):
    _write_tree(tmp_path, {("train", "bored"): 1})
    with pytest.raises(fer.DataError, match=r"bored.*unknown emotion folder 'bored'"):
        fer.load(tmp_path)


def test_folder_tree_unknown_split(tmp_path):
    _write_tree(tmp_path, {("holdout", "happy"): 1})
    with pytest.raises(fer.DataError, match="unknown split folder 'holdout'"):
        fer.load(tmp_path)


def test_folder_tree_unreadable_image(tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(fer.DataError, match=r"broken\.jpg: not a readable image"):
        fer.load(tmp_path)
