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


def test_a_missing_split_lists_the_ones_in_the_file(tmp_path):
    """The loader keeps only the split asked for; the message still names every Usage the
    file has (it used to say "present: none"), and the name matches in any case."""
    path = _write_csv(tmp_path / "fer.csv", [_row(3), _row(0, usage="PublicTest")])
    with pytest.raises(fer.DataError, match=r"'PrivateTest' \(present: PublicTest, Training\)"):
        fer.load(path, {"PrivateTest"}).split("PrivateTest")
    assert fer.load(path, {"publictest"}).split("publictest")[1].tolist() == [0]


@pytest.mark.parametrize("name, gzipped", [("fer.csv", True), ("fer.csv.gz", False)])
def test_csv_format_is_read_from_the_content_not_the_name(tmp_path, name, gzipped):
    path = _write_csv(tmp_path / ("x.gz" if gzipped else "x.csv"), [_row(2)])
    path.rename(tmp_path / name)
    assert fer.load(tmp_path / name).split("Training")[1].tolist() == [2]


@pytest.mark.parametrize("content, message", [
    (gzip.compress((HEADER + _row(1) * 50).encode())[:-8], r"fer\.csv\.gz.*not a readable FER-2013 CSV"),
    (b"\xff\xfe\x00binary\x00" * 50, r"fer\.csv\.gz, line 1: not a readable FER-2013 CSV"),
    (HEADER.encode(), r"fer\.csv\.gz: no rows after the header"),
])
def test_unreadable_or_empty_csv_names_the_file(tmp_path, content, message):
    path = tmp_path / "fer.csv.gz"
    path.write_bytes(content)
    with pytest.raises(fer.DataError, match=message):
        fer.load(path)


def test_header_with_spaces_as_in_kaggles_icml_file(tmp_path):
    path = _write_csv(tmp_path / "icml_face_data.csv", [f"5, Training, {' '.join(['9'] * 2304)}\n"],
                      header="emotion, Usage, pixels\n")
    assert fer.load(path).split("Training")[1].tolist() == [5]


def test_a_tree_with_val_selects_on_val_and_holds_test_out(tmp_path):
    _write_tree(tmp_path, {("train", "happy"): 2, ("val", "sad"): 1, ("test", "fear"): 3})
    dataset = fer.load(tmp_path)
    assert dataset.split("PublicTest")[1].tolist() == [4]
    assert dataset.split("PrivateTest")[1].tolist() == [2, 2, 2]


def test_two_folders_for_one_split_are_refused(tmp_path):
    _write_tree(tmp_path, {("train", "happy"): 1, ("val", "sad"): 1, ("validation", "sad"): 1})
    with pytest.raises(fer.DataError, match=r"val/ and validation/ would both be the PublicTest split"):
        fer.load(tmp_path)


def test_archive_and_file_manager_leftovers_are_skipped(tmp_path):
    _write_tree(tmp_path, {("train", "happy"): 2})
    (tmp_path / "__MACOSX" / "train").mkdir(parents=True)
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "train" / "happy" / "._000.jpg").write_bytes(b"AppleDouble")
    (tmp_path / "train" / "happy" / ".DS_Store").write_bytes(b"\0")
    assert fer.load(tmp_path).split("Training")[1].tolist() == [3, 3]
