"""Seeded, stratified train/val/test splits under two protocols, saved with the run.

`image`:    rows are assigned at random (the lab's protocol; one person can land in train and test).
`identity`: whole groups (people) are assigned, so nobody appears in two splits.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from trivision.data.datasets import Dataset
from trivision.errors import TrivisionError

SPLITS = ("train", "val", "test")


def make_split(ds: Dataset, protocol: str, val_fraction: float, test_fraction: float,
               seed: int, group_column: str = "identity") -> list[str]:
    """Return 'train'/'val'/'test' for every row, stratified by label."""
    if ds.fixed_split is not None:  # the lab's arrays: keep their test set, carve val from train
        return _carve_val(ds, ds.fixed_split, val_fraction, seed)
    if protocol == "image":
        groups = [str(i) for i in range(len(ds))]
    elif protocol == "identity":
        if group_column not in ds.columns:
            raise TrivisionError(f"--split identity needs a '{group_column}' column in labels.csv")
        groups = ds.columns[group_column]
    else:
        raise TrivisionError(f"unknown split protocol '{protocol}' (use image or identity)")
    return _split_groups(groups, ds.labels, val_fraction, test_fraction, seed)


def _split_groups(groups, labels, val_fraction, test_fraction, seed) -> list[str]:
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    # a group's stratum is its most common label; strata are split separately so every split keeps the mix
    strata: dict[str, list[str]] = defaultdict(list)
    for g, rows in members.items():
        votes = defaultdict(int)
        for i in rows:
            votes[labels[i]] += 1
        strata[str(max(votes, key=lambda k: (votes[k], str(k))))].append(g)
    rng = np.random.default_rng(seed)
    out = [""] * len(groups)
    for stratum in sorted(strata):
        gs = sorted(strata[stratum])
        rng.shuffle(gs)
        total = sum(len(members[g]) for g in gs)
        # fill test, then val, by image count so both protocols give splits of the requested size
        targets = {"test": test_fraction * total, "val": val_fraction * total}
        filled = {"test": 0, "val": 0}
        for g in gs:
            name = "train"
            for s in ("test", "val"):
                if filled[s] + len(members[g]) / 2 <= targets[s] and filled[s] < targets[s]:
                    name = s
                    break
            if name != "train":
                filled[name] += len(members[g])
            for i in members[g]:
                out[i] = name
    return out


def _carve_val(ds: Dataset, fixed: list[str], val_fraction: float, seed: int) -> list[str]:
    train_rows = [i for i, s in enumerate(fixed) if s == "train"]
    inner = _split_groups([str(i) for i in train_rows], [ds.labels[i] for i in train_rows],
                          val_fraction, 0.0, seed)
    out = list(fixed)
    for i, s in zip(train_rows, inner):
        out[i] = s
    return out


def save_split(path: Path, ds: Dataset, split: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "split"])
        w.writerows(zip(ds.paths, split))


def read_split(path: Path) -> dict[str, str]:
    """A saved split as written by `save_split`: image path -> train | val | test."""
    with open(path, newline="") as f:
        return {row["path"]: row["split"] for row in csv.DictReader(f)}


def load_split(path: Path, ds: Dataset) -> list[str]:
    """Re-read a saved split; every row of the dataset must be in it, or the run is not the one it claims."""
    saved = read_split(path)
    try:
        return [saved[p] for p in ds.paths]
    except KeyError as e:
        raise TrivisionError(f"{path}: the saved split does not list {e.args[0]}: "
                             "this dataset is not the one the run was trained on") from None


def split_file_of(run: str | Path) -> Path:
    """A run's saved split: `run` is its folder or the split.csv itself."""
    path = Path(run)
    path = path / "split.csv" if path.is_dir() else path
    if not path.is_file():
        raise TrivisionError(f"{run}: no saved split (split_from takes a run folder or its split.csv)")
    return path


def split_beside(weights: str | Path) -> Path:
    """The split.csv of the run that made `weights` (a run folder, or a file inside one)."""
    where = Path(weights)
    return (where if where.is_dir() else where.parent) / "split.csv"


def check_held_out(other: Path, split_paths: dict[str, str], who: str) -> None:
    """Refuse a model (a teacher, starting weights) that trained on an image this run validates or tests on,
    or validated on one it tests on: it would carry those labels into this run. `other`: that model's
    split.csv; `split_paths`: image path -> this run's split."""
    seen = read_split(other)
    for path, ours in split_paths.items():
        theirs = seen.get(path)
        if (theirs == "train" and ours in ("val", "test")) or (theirs == "val" and ours == "test"):
            raise TrivisionError(f"{who} was trained on {path}, which this run keeps for {ours}: "
                                 "give both runs the same --split, --seed and fractions")


def indices(split: list[str], name: str) -> np.ndarray:
    return np.array([i for i, s in enumerate(split) if s == name], dtype=np.int64)


def shares(val_fraction: float, test_fraction: float, short: bool = False) -> str:
    """The split's shares for people: '70% train / 10% validation / 20% test' (a share of 0 left out), or
    with `short` '70/10/20'."""
    parts = [(1 - val_fraction - test_fraction, "train"), (val_fraction, "validation"), (test_fraction, "test")]
    if short:
        return "/".join(f"{100 * f:.0f}" for f, _ in parts)
    return " / ".join(f"{100 * f:.0f}% {name}" for f, name in parts if f)
