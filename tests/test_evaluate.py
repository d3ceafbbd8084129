"""evaluate.py: choosing a test-time augmentation on a run's validation split, never its test split."""
from __future__ import annotations

import pytest

import trivision.evaluate as ev


@pytest.mark.parametrize("task, key", [("cars", "top1"), ("gender", "accuracy")])
@pytest.mark.parametrize("val_score, chosen", [({"none": 0.70, "hflip": 0.72}, "hflip"),
                                               ({"none": 0.70, "hflip": 0.70}, "none"),
                                               ({"none": 0.71, "hflip": 0.70}, "none")])
def test_tta_is_chosen_on_validation_and_only_when_strictly_better(monkeypatch, task, key, val_score, chosen):
    asked = []

    def fake_evaluate(task_name, run, model, tta, which, framing):
        asked.append((task_name, which))
        return {key: val_score[tta]}
    monkeypatch.setattr(ev.splits, "read_split", lambda path: {"a.jpg": "train", "b.jpg": "val"})
    monkeypatch.setattr(ev, "evaluate", fake_evaluate)
    assert ev.choose_tta(task, "runs/x") == (chosen, val_score)
    assert set(asked) == {(task, "val")}  # the test split is not read to choose


def test_no_validation_split_means_no_tta(monkeypatch):
    monkeypatch.setattr(ev.splits, "read_split", lambda path: {"a.jpg": "train", "b.jpg": "test"})
    assert ev.choose_tta("cars", "runs/x") == ("none", {})
