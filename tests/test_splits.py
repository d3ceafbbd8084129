"""Both split protocols: sizes, stratification, identity-disjointness, determinism, saved splits."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_dataset
from trivision.data import splits
from trivision.data.datasets import Dataset, read_dataset
from trivision.errors import TrivisionError


def _dataset(n_people=120, seed=0) -> Dataset:
    """People with 1..12 images each; about 30% of people female."""
    rng = np.random.default_rng(seed)
    paths, labels, ids = [], [], []
    for p in range(n_people):
        gender = "female" if rng.random() < 0.3 else "male"
        for k in range(int(rng.integers(1, 13))):
            paths.append(f"p{p}/{k}.jpg")
            labels.append(gender)
            ids.append(f"p{p}")
    return Dataset(Path("."), paths, labels, {"identity": ids})


def _fractions(split):
    c = Counter(split)
    return {s: c[s] / len(split) for s in splits.SPLITS}


def _female_share(ds, split, name):
    rows = splits.indices(split, name)
    return np.mean([ds.labels[i] == "female" for i in rows])


@pytest.mark.parametrize("protocol", ["image", "identity"])
def test_sizes_match_fractions_and_are_stratified(protocol):
    ds = _dataset()
    split = splits.make_split(ds, protocol, 0.1, 0.2, seed=0)
    assert set(split) == set(splits.SPLITS)
    f = _fractions(split)
    tol = 0.01 if protocol == "image" else 0.04
    assert abs(f["test"] - 0.2) <= tol and abs(f["val"] - 0.1) <= tol, f
    overall = np.mean([lab == "female" for lab in ds.labels])
    for name in splits.SPLITS:
        assert abs(_female_share(ds, split, name) - overall) <= (0.02 if protocol == "image" else 0.08), name


def test_image_split_exact_counts_per_class():
    labels = ["a"] * 100 + ["b"] * 50
    ds = Dataset(Path("."), [str(i) for i in range(150)], labels)
    split = splits.make_split(ds, "image", 0.1, 0.2, seed=3)
    by = defaultdict(Counter)
    for lab, s in zip(labels, split):
        by[lab][s] += 1
    assert by["a"] == Counter(train=70, test=20, val=10)
    assert by["b"] == Counter(train=35, test=10, val=5)


def test_identity_split_keeps_people_together():
    ds = _dataset()
    for seed in range(5):
        split = splits.make_split(ds, "identity", 0.1, 0.2, seed=seed)
        where = defaultdict(set)
        for person, s in zip(ds.columns["identity"], split):
            where[person].add(s)
        assert all(len(s) == 1 for s in where.values()), "a person landed in two splits"


def test_image_split_does_mix_people():
    # the lab's protocol: the same person can be in train and test (why identity exists)
    ds = _dataset()
    split = splits.make_split(ds, "image", 0.1, 0.2, seed=0)
    where = defaultdict(set)
    for person, s in zip(ds.columns["identity"], split):
        where[person].add(s)
    assert any(len(s) > 1 for s in where.values())


@pytest.mark.parametrize("protocol", ["image", "identity"])
def test_deterministic_per_seed_and_different_across_seeds(protocol):
    ds = _dataset()
    a = splits.make_split(ds, protocol, 0.1, 0.2, seed=7)
    assert splits.make_split(ds, protocol, 0.1, 0.2, seed=7) == a
    assert splits.make_split(ds, protocol, 0.1, 0.2, seed=8) != a


def test_identity_needs_identity_column_and_protocol_is_checked():
    ds = Dataset(Path("."), ["a", "b"], ["male", "female"])
    with pytest.raises(TrivisionError, match="needs a 'identity' column"):
        splits.make_split(ds, "identity", 0.1, 0.2, seed=0)
    with pytest.raises(TrivisionError, match="unknown split protocol 'person'"):
        splits.make_split(ds, "person", 0.1, 0.2, seed=0)


def test_save_load_round_trip(tmp_path):
    ds = _dataset()
    split = splits.make_split(ds, "identity", 0.1, 0.2, seed=1)
    splits.save_split(tmp_path / "split.csv", ds, split)
    assert splits.load_split(tmp_path / "split.csv", ds) == split
    # a subset (e.g. --limit) reloads fine; a dataset with rows the run never saw does not
    sub = ds.subset(range(10))
    assert splits.load_split(tmp_path / "split.csv", sub) == split[:10]
    other = Dataset(Path("."), ds.paths + ["new.jpg"], ds.labels + ["male"])
    with pytest.raises(TrivisionError, match="does not list new.jpg"):
        splits.load_split(tmp_path / "split.csv", other)
    np.testing.assert_array_equal(splits.indices(split, "test"),
                                  [i for i, s in enumerate(split) if s == "test"])


def test_lab_arrays_keep_their_test_set(tmp_path):
    np.save(tmp_path / "x_train.npy", np.zeros((100, 4, 4, 3), np.uint8))
    np.save(tmp_path / "y_train.npy", np.eye(2)[[0] * 60 + [1] * 40])
    np.save(tmp_path / "x_test.npy", np.zeros((25, 4, 4, 3), np.uint8))
    np.save(tmp_path / "y_test.npy", np.eye(2)[[0] * 15 + [1] * 10])
    ds = read_dataset(tmp_path, "gender")
    for protocol in ("image", "identity"):  # the arrays' own split wins over the protocol
        split = splits.make_split(ds, protocol, 0.1, 0.2, seed=0)
        assert split[100:] == ["test"] * 25
        assert Counter(split[:100]) == Counter(train=90, val=10)
        assert Counter(ds.labels[i] for i in splits.indices(split, "val")) == Counter({"0": 6, "1": 4})
    assert splits.make_split(ds, "image", 0.1, 0.2, seed=1) != splits.make_split(ds, "image", 0.1, 0.2, seed=0)


def test_lfw_identity_split_has_no_overlap():
    root = shared_dataset("lfw-gender")
    ds = read_dataset(root, "gender")  # reads labels.csv only: no image is decoded
    assert len(ds) > 10_000
    split = splits.make_split(ds, "identity", 0.1, 0.2, seed=0)
    people = {s: {p for p, t in zip(ds.columns["identity"], split) if t == s} for s in splits.SPLITS}
    assert not people["train"] & people["test"]
    assert not people["train"] & people["val"]
    assert not people["val"] & people["test"]
    f = _fractions(split)
    assert abs(f["test"] - 0.2) < 0.02 and abs(f["val"] - 0.1) < 0.02, f
    overall = np.mean([lab == "female" for lab in ds.labels])
    assert abs(_female_share(ds, split, "test") - overall) < 0.03


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=40), seed=st.integers(0, 2**31),
       val=st.floats(0.0, 0.3), test=st.floats(0.0, 0.4), female_every=st.integers(1, 4))
def test_identity_split_properties(sizes, seed, val, test, female_every):
    paths, labels, ids = [], [], []
    for p, n in enumerate(sizes):
        for k in range(n):
            paths.append(f"{p}/{k}")
            labels.append("female" if p % female_every == 0 else "male")
            ids.append(str(p))
    ds = Dataset(Path("."), paths, labels, {"identity": ids})
    split = splits.make_split(ds, "identity", val, test, seed)
    assert len(split) == len(ds) and set(split) <= set(splits.SPLITS)
    where = defaultdict(set)
    for person, s in zip(ids, split):
        where[person].add(s)
    assert all(len(s) == 1 for s in where.values())
    # a split never takes more than its share plus half of a person (at most 8 images) per label
    c = Counter(split)
    assert c["test"] <= test * len(ds) + 4 * 2 and c["val"] <= val * len(ds) + 4 * 2
    assert splits.make_split(ds, "identity", val, test, seed) == split


def test_split_file_of_a_run_folder_or_the_file_itself(tmp_path):
    from trivision.data.splits import split_file_of
    (tmp_path / "split.csv").write_text("path,split\n")
    assert split_file_of(tmp_path) == split_file_of(tmp_path / "split.csv") == tmp_path / "split.csv"
    with pytest.raises(TrivisionError, match="no saved split"):
        split_file_of(tmp_path / "nowhere")


def test_shares_say_the_split_for_people():
    assert splits.shares(0.1, 0.2) == "70% train / 10% validation / 20% test"
    assert splits.shares(0.0, 0.2) == "80% train / 20% test"  # the lab's protocol: no validation split
    assert splits.shares(0.0, 0.2, short=True) == "80/0/20"
