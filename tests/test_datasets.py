"""The three dataset layouts, label encoding, and one clear error for each malformed labels.csv."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import save_image, write_labels
from trivision.data.datasets import encode_labels, read_dataset
from trivision.data.loading import load_images
from trivision.errors import TrivisionError

CLASSES = ["female", "male"]


def _images(root, names):
    for n in names:
        save_image(root / n, (24, 24), (30, 60, 90))


# --- labels.csv -----------------------------------------------------------------------------------

def test_labels_csv_keeps_extra_columns(tmp_path):
    _images(tmp_path, ["a.png", "sub/b.png"])
    write_labels(tmp_path, [["a.png", "female", "ann", "31"], ["sub/b.png", "male", "bob", "40"]],
                 header=("path", "gender", "identity", "age"))
    ds = read_dataset(tmp_path, "gender")
    assert ds.paths == ["a.png", "sub/b.png"]
    assert ds.labels == ["female", "male"]
    assert ds.columns["identity"] == ["ann", "bob"]
    assert ds.columns["age"] == ["31", "40"]
    assert ds.source(1) == tmp_path / "sub/b.png"
    assert encode_labels(ds, CLASSES).tolist() == [0, 1]
    sub = ds.subset([1])
    assert sub.paths == ["sub/b.png"] and sub.columns["identity"] == ["bob"]


def test_labels_csv_path_may_be_given_and_bom_is_accepted(tmp_path):
    _images(tmp_path, ["a.png"])
    (tmp_path / "labels.csv").write_bytes("\ufeffpath,gender\na.png,female\n".encode("utf-8"))
    ds = read_dataset(tmp_path / "labels.csv", "gender")
    assert ds.root == tmp_path and ds.labels == ["female"]


def test_unlabelled_read_ignores_label_column(tmp_path):
    write_labels(tmp_path, [["a.png"]], header=("path",))
    assert read_dataset(tmp_path, None).labels == [None]


@pytest.mark.parametrize("content, message", [
    (b"path,identity\na.png,ann\n", "missing label column 'gender' (columns: path, identity)"),
    (b"file,gender\na.png,male\n", "missing column 'path'"),
    (b"", "missing column 'path' (columns: none)"),
    (b"path,gender\n", "the dataset is empty"),
    (b"path,gender\na.png,male\nb.png,female\na.png,male\n", "labels.csv:4: duplicate row for a.png (first on line 2)"),
    (b"path,gender\na.png,male\nb.png\n", "labels.csv:3: wrong number of fields"),
    (b"path,gender\na.png,\n", "labels.csv:2: empty 'gender' for a.png"),
    (b"path,gender\n,male\n", "labels.csv:2: empty path"),
    (b"path,gender\n\xe9t\xe9.png,male\n", "not UTF-8 text (byte 12)"),
])
def test_bad_labels_csv(tmp_path, content, message):
    (tmp_path / "labels.csv").write_bytes(content)
    with pytest.raises(TrivisionError) as info:
        read_dataset(tmp_path, "gender")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_label_names_the_row(tmp_path):
    write_labels(tmp_path, [["a.png", "female"], ["b.png", "woman"]])
    ds = read_dataset(tmp_path, "gender")
    message = r"labels.csv: row 2 \(b.png\): unknown label 'woman' \(known: female, male\)"
    with pytest.raises(TrivisionError, match=message):
        encode_labels(ds, CLASSES)


def test_missing_folder_and_file_instead_of_folder(tmp_path):
    with pytest.raises(TrivisionError, match="no such dataset folder"):
        read_dataset(tmp_path / "nowhere", "gender")
    f = save_image(tmp_path / "x.png")
    with pytest.raises(TrivisionError, match="expected a dataset folder"):
        read_dataset(f, "gender")


# --- the lab's .npy arrays ------------------------------------------------------------------------

def _lab_arrays(root, dtype):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    y_train = np.eye(2)[[0, 1] * 5]        # one-hot, as to_categorical writes it
    y_test = np.eye(2)[[1, 1, 0, 0]]
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        np.save(root / f"{name}.npy", x if dtype == "uint8" else (x / 255.0).astype(dtype))
    np.save(root / "y_train.npy", y_train)
    np.save(root / "y_test.npy", y_test)
    return x_train, x_test


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_lab_arrays(tmp_path, dtype):
    x_train, x_test = _lab_arrays(tmp_path, dtype)
    ds = read_dataset(tmp_path, "gender")
    assert len(ds) == 14
    assert ds.arrays.dtype == np.uint8 and ds.arrays.shape == (14, 8, 8, 3)
    np.testing.assert_array_equal(ds.arrays, np.concatenate([x_train, x_test]))  # float [0,1] back to bytes exactly
    assert ds.fixed_split == ["train"] * 10 + ["test"] * 4
    assert ds.labels[:4] == ["0", "1", "0", "1"] and ds.labels[10:] == ["1", "1", "0", "0"]
    assert encode_labels(ds, CLASSES).tolist() == [0, 1] * 5 + [1, 1, 0, 0]
    assert ds.name(11) == "test[11]"
    images, kept, bad = load_images(ds, range(len(ds)), 8, threads=1)
    assert bad == [] and kept.tolist() == list(range(14))
    np.testing.assert_array_equal(images.permute(0, 2, 3, 1).numpy(), ds.arrays)


def test_lab_arrays_grey_and_integer_labels(tmp_path):
    np.save(tmp_path / "x_train.npy", np.full((3, 5, 5), 9, np.uint8))
    np.save(tmp_path / "y_train.npy", np.array([1, 0, 1]))
    ds = read_dataset(tmp_path, "gender")
    assert ds.arrays.shape == (3, 5, 5, 3) and ds.fixed_split == ["train"] * 3
    assert encode_labels(ds, CLASSES).tolist() == [1, 0, 1]


def test_lab_arrays_errors(tmp_path):
    np.save(tmp_path / "x_train.npy", np.zeros((3, 5, 5, 3), np.uint8))
    np.save(tmp_path / "y_train.npy", np.zeros(2))
    with pytest.raises(TrivisionError, match="2 labels for 3 images"):
        read_dataset(tmp_path, "gender")
    np.save(tmp_path / "x_train.npy", np.zeros((3, 5, 5, 2), np.uint8))
    with pytest.raises(TrivisionError, match="expected N x H x W x 3"):
        read_dataset(tmp_path, "gender")
    (tmp_path / "x_train.npy").write_bytes(b"not numpy")
    with pytest.raises(TrivisionError, match="cannot read the .npy arrays"):
        read_dataset(tmp_path, "gender")


# --- class folders --------------------------------------------------------------------------------

def test_class_folders(tmp_path):
    _images(tmp_path, ["female/a.png", "female/deeper/b.jpg", "male/c.PNG"])
    (tmp_path / "male" / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    save_image(tmp_path / ".hidden" / "x.png")
    ds = read_dataset(tmp_path, "gender")
    assert ds.paths == ["female/a.png", "female/deeper/b.jpg", "male/c.PNG"]
    assert ds.labels == ["female", "female", "male"]
    assert encode_labels(ds, CLASSES).tolist() == [0, 0, 1]


def test_flat_folder_needs_labels(tmp_path):
    _images(tmp_path, ["a.png", "b.png"])
    with pytest.raises(TrivisionError, match="cannot tell the labels"):
        read_dataset(tmp_path, "gender")
    assert read_dataset(tmp_path, None).paths == ["a.png", "b.png"]
    (tmp_path / "a.png").unlink()
    (tmp_path / "b.png").unlink()
    with pytest.raises(TrivisionError, match="the dataset is empty"):
        read_dataset(tmp_path, "gender")


# --- decoding rows: stop on the first bad file, or skip and count -----------------------------------

def test_load_images_stops_or_skips(tmp_path):
    _images(tmp_path, ["a.png", "c.png"])
    (tmp_path / "b.png").write_bytes(b"")
    write_labels(tmp_path, [["a.png", "female"], ["b.png", "male"], ["c.png", "male"], ["d.png", "male"]])
    ds = read_dataset(tmp_path, "gender")
    with pytest.raises(TrivisionError, match=r"b.png: not an image file.*use --skip-bad"):
        load_images(ds, range(len(ds)), 16, threads=1)
    images, kept, bad = load_images(ds, range(len(ds)), 16, skip_bad=True, threads=1)
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.uint8
    assert kept.tolist() == [0, 2]
    assert [name for name, _ in bad] == ["b.png", "d.png"]
    assert "cannot open" in bad[1][1]


def test_load_images_all_bad(tmp_path):
    (tmp_path / "b.png").write_bytes(b"")
    write_labels(tmp_path, [["b.png", "male"]])
    with pytest.raises(TrivisionError, match="no decodable images among 1 rows"):
        load_images(read_dataset(tmp_path, "gender"), [0], 16, skip_bad=True, threads=1)


def test_load_images_applies_frame_before_resizing(tmp_path):
    save_image(tmp_path / "a.png", (40, 20), (255, 0, 0))
    write_labels(tmp_path, [["a.png", "female"]])
    ds = read_dataset(tmp_path, "gender")
    seen = []

    def frame(rgb):
        seen.append(rgb.shape)
        return rgb[:, :10]
    images, _, _ = load_images(ds, [0], 8, frame=frame, threads=1)
    assert seen == [(20, 40, 3)] and images.shape == (1, 3, 8, 8)
    assert images[0, 0].min() == 255 and images[0, 1].max() == 0
