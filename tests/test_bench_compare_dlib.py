"""bench/compare_dlib.py's photo-by-photo comparison (dlib itself is not needed here), and evaluate's per-row answers
that it pairs with dlib's."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import compare_dlib  # noqa: E402


def test_mcnemar_counts_only_the_photos_the_two_systems_disagree_on():
    a = np.array([True] * 90 + [True] * 8 + [False] * 2)
    b = np.array([True] * 90 + [False] * 8 + [True] * 2)
    # 8 against 2 discordant photos: 2 * P(X <= 2), X ~ Binomial(10, 1/2) = 2 * 56 / 1024
    assert compare_dlib.mcnemar_p(a, b) == pytest.approx(112 / 1024)
    assert compare_dlib.mcnemar_p(a, a) == 1.0
    assert compare_dlib.mcnemar_p(b, a) == compare_dlib.mcnemar_p(a, b)


def test_paired_gaps_and_the_interval_around_them():
    truth = ["female"] * 40 + ["male"] * 160
    reference = list(truth)
    pred = list(truth)
    for i in range(10):  # 10 of 40 women called men: recall 75% against 100%
        pred[i] = "male"
    pred[45] = None  # no face found: wrong
    r = compare_dlib.paired(pred, reference, truth)
    assert r["accuracy_gap"] == pytest.approx(-11 / 200)
    assert r["balanced_gap"] == pytest.approx(((30 / 40 + 159 / 160) / 2) - 1)
    low, high = r["balanced_gap_95"]
    assert low < r["balanced_gap"] < high < 0  # the reference is right on every photo: the gap is surely negative
    assert r["mcnemar_p"] < 0.01
    same = compare_dlib.paired(reference, reference, truth)
    assert same["accuracy_gap"] == 0 and same["balanced_gap_95"] == [0.0, 0.0] and same["mcnemar_p"] == 1.0


def test_evaluate_returns_each_rows_answer_in_the_datasets_order(toy_dir, tiny_weights):
    from trivision.data.datasets import read_dataset
    from trivision.evaluate import evaluate
    r = evaluate("gender", data=str(toy_dir), model=str(tiny_weights), framing="as-is", per_row=True)
    labels = list(read_dataset(toy_dir, "gender").labels)
    assert len(r["predicted"]) == len(labels) == r["n"]
    assert set(r["predicted"]) <= {"female", "male"}
    right = np.mean([p == t for p, t in zip(r["predicted"], labels)])
    assert right == pytest.approx(r["accuracy"])
    assert "predicted" not in evaluate("gender", data=str(toy_dir), model=str(tiny_weights), framing="as-is")
