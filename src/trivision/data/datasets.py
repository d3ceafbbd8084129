"""Read a dataset in any of three layouts into one `Dataset`: rows of (image, label, extra columns).

1. a folder with `labels.csv` (column `path` relative to the folder, a label column, any extras);
2. the lab's arrays `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy` (the split comes with them);
3. a folder of class subfolders (`root/<label>/<image>`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trivision.errors import TrivisionError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class Dataset:
    root: Path
    paths: list[str]                       # relative to root ('' for in-memory arrays)
    labels: list[str | None]               # raw label text per row, None where unlabeled
    columns: dict[str, list[str]] = field(default_factory=dict)  # every CSV column, e.g. identity
    arrays: np.ndarray | None = None       # NxHxWx3 uint8 when the images came as .npy
    fixed_split: list[str] | None = None   # 'train'/'test' per row when the layout carries its own split

    def __len__(self) -> int:
        return len(self.labels)

    def source(self, i: int):
        """What `decode_image` accepts for row i: a path, or an in-memory array."""
        return self.arrays[i] if self.arrays is not None else self.root / self.paths[i]

    def name(self, i: int) -> str:
        return self.paths[i] or f"row {i}"

    def subset(self, indices) -> "Dataset":
        idx = list(indices)
        return Dataset(self.root, [self.paths[i] for i in idx], [self.labels[i] for i in idx],
                       {k: [v[i] for i in idx] for k, v in self.columns.items()},
                       None if self.arrays is None else self.arrays[idx],
                       None if self.fixed_split is None else [self.fixed_split[i] for i in idx])


def read_dataset(root: str | Path, label_column: str | None) -> Dataset:
    """Read whichever layout `root` holds; `label_column=None` reads images without labels."""
    root = Path(root)
    if not root.exists():
        raise TrivisionError(f"{root}: no such dataset folder")
    if root.is_file() and root.name == "labels.csv":
        root = root.parent
    if not root.is_dir():
        raise TrivisionError(f"{root}: expected a dataset folder, got a file")
    if (root / "labels.csv").exists():
        ds = read_labels_csv(root / "labels.csv", label_column)
    elif (root / "x_train.npy").exists():
        ds = read_lab_arrays(root, label_column)
    else:
        ds = read_class_folders(root, labelled=label_column is not None)
    if len(ds) == 0:
        raise TrivisionError(f"{root}: the dataset is empty")
    return ds


def read_labels_csv(csv_path: Path, label_column: str | None) -> Dataset:
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TrivisionError(f"{csv_path}: not UTF-8 text (byte {e.start})") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    if "path" not in header:
        raise TrivisionError(f"{csv_path}: missing column 'path' (columns: {', '.join(header) or 'none'})")
    if label_column is not None and label_column not in header:
        raise TrivisionError(f"{csv_path}: missing label column '{label_column}' "
                             f"(columns: {', '.join(header)})")
    columns: dict[str, list[str]] = {c: [] for c in header}
    seen: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise TrivisionError(f"{csv_path}:{line_no}: wrong number of fields")
        path = row["path"].strip()
        if not path:
            raise TrivisionError(f"{csv_path}:{line_no}: empty path")
        if path in seen:
            raise TrivisionError(f"{csv_path}:{line_no}: duplicate row for {path} (first on line {seen[path]})")
        seen[path] = line_no
        if label_column is not None and not row[label_column].strip():
            raise TrivisionError(f"{csv_path}:{line_no}: empty '{label_column}' for {path}")
        for c in header:
            columns[c].append(row[c].strip())
    root = csv_path.parent
    labels = list(columns[label_column]) if label_column else [None] * len(columns["path"])
    return Dataset(root, columns.pop("path"), labels, columns)


def read_lab_arrays(root: Path, label_column: str | None) -> Dataset:
    xs, ys, split = [], [], []
    for part in ("train", "test"):
        x_file, y_file = root / f"x_{part}.npy", root / f"y_{part}.npy"
        if not x_file.exists():
            continue
        try:
            x = np.load(x_file, allow_pickle=False)
            y = np.load(y_file, allow_pickle=False) if y_file.exists() else None
        except (OSError, ValueError) as e:
            raise TrivisionError(f"{x_file.parent}: cannot read the .npy arrays ({e})") from None
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise TrivisionError(f"{x_file}: expected N x H x W x 3 images, got shape {x.shape}")
        if x.dtype != np.uint8:
            scale = 255.0 if float(np.nanmax(x)) <= 1.0 else 1.0
            x = np.clip(x * scale + 0.5, 0, 255).astype(np.uint8)
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        if y is None:
            y = np.full(len(x), -1)
        if y.ndim == 2:  # one-hot, as Keras' to_categorical writes it
            y = y.argmax(axis=1)
        if len(y) != len(x):
            raise TrivisionError(f"{y_file}: {len(y)} labels for {len(x)} images")
        xs.append(x)
        ys.extend(str(int(v)) if int(v) >= 0 else None for v in y)
        split.extend([part] * len(x))
    if not xs:
        raise TrivisionError(f"{root}: no x_train.npy or x_test.npy")
    arrays = np.concatenate(xs)
    labels = ys if label_column is not None else [None] * len(ys)
    return Dataset(root, [f"{s}[{i}]" for i, s in enumerate(split)], labels, {}, arrays, split)


def read_class_folders(root: Path, labelled: bool = True) -> Dataset:
    paths, labels = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(f.relative_to(root)))
                labels.append(sub.name)
    if not paths:  # a flat folder of photos (colorization needs no labels)
        paths = [str(f.relative_to(root)) for f in sorted(root.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
        labels = [None] * len(paths)
        if labelled and paths:
            raise TrivisionError(f"{root}: no labels.csv and no class subfolders: cannot tell the labels")
    return Dataset(root, paths, labels if labelled else [None] * len(paths))


def encode_labels(ds: Dataset, classes: list[str], csv_hint: str = "labels.csv") -> np.ndarray:
    """Map label text to class indices; an unknown label is an error that names its row."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.empty(len(ds), dtype=np.int64)
    for i, label in enumerate(ds.labels):
        if label not in index and label is not None and label.isdigit() and int(label) < len(classes) \
                and not any(c.isdigit() for c in classes):
            label = classes[int(label)]  # the lab's arrays store class indices
        if label not in index:
            raise TrivisionError(f"{ds.root / csv_hint}: row {i + 1} ({ds.name(i)}): unknown label "
                                 f"'{label}' (known: {', '.join(classes)})")
        out[i] = index[label]
    return out
