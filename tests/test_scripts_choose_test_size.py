"""scripts/choose_test_size.py: a car model's test size is chosen on validation by the rule, shipped only when
adopted and test did not fall, and recorded once in its card."""
from __future__ import annotations

import shutil
import sys

import pytest
from conftest import REPO
from test_cars import cars_dir, cars_run  # noqa: F401 (fixtures: a toy cars run)

from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError

sys.path.insert(0, str(REPO / "scripts"))
import choose_test_size


def test_the_rule_takes_the_best_size_and_adopts_it_only_past_the_margin():
    assert choose_test_size.choose({288: 0.80, 320: 0.81, 352: 0.81}, 320, 0.0075) == (320, False)  # tie: smaller
    assert choose_test_size.choose({288: 0.80, 320: 0.81, 352: 0.815}, 320, 0.0075) == (352, False)
    assert choose_test_size.choose({288: 0.80, 320: 0.81, 352: 0.82, 384: 0.82}, 320, 0.0075) == (352, True)
    assert choose_test_size.choose({320: 0.81, 352: 0.81}, 320, 0.0) == (320, False)  # the training size itself


@pytest.fixture
def shipped(cars_run, tmp_path, monkeypatch):
    monkeypatch.setattr(choose_test_size, "WEIGHTS_DIR", tmp_path)
    shutil.copyfile(cars_run / "model.safetensors", tmp_path / "cars-toy.safetensors")
    (tmp_path / "cars-toy.md").write_text("# cars-toy\n\nThe card.\n")
    return tmp_path


def _scores(monkeypatch, top1: dict):
    """evaluate() answering top1[(which, size)]: the rule's inputs, fixed."""
    def fake(task, run, model, which, size, tta):
        return {"n": 10, "top1": top1[which, size], "top5": 1.0}
    monkeypatch.setattr(choose_test_size, "evaluate", fake)


def test_an_adopted_size_is_shipped_once_into_weights_and_card(shipped, cars_run, monkeypatch, capsys):
    _scores(monkeypatch, {("val", 40): 0.5, ("val", 48): 0.6, ("val", 64): 0.7, ("test", 48): 0.6, ("test", 64): 0.6})
    for _ in range(2):  # twice: the section is replaced, not added
        choose_test_size.main(["cars-toy", str(cars_run), "--sizes", "40,64", "--ship"])
    out = capsys.readouterr().out
    assert "choice 64: adopted" in out and "| 48 (training size) | 60.00% | 100.00% | 60.00% |" in out
    assert "| 40 | 50.00% | 100.00% | |" in out
    assert load_weights(shipped / "cars-toy.safetensors")[1]["test_size"] == 64
    card = (shipped / "cars-toy.md").read_text()
    assert card.startswith("# cars-toy\n\nThe card.\n") and card.count("## Test size") == 1
    assert "`test_size = 64`" in card and "| 64 (chosen) | 70.00% |" in card


def test_an_adopted_size_whose_test_falls_is_not_shipped(shipped, cars_run, monkeypatch, capsys):
    _scores(monkeypatch, {("val", 48): 0.6, ("val", 64): 0.7, ("test", 48): 0.6, ("test", 64): 0.55})
    choose_test_size.main(["cars-toy", str(cars_run), "--sizes", "64", "--ship"])
    assert "choice 64: adopted, not shipped: its test top-1 is below" in capsys.readouterr().out
    assert "test_size" not in load_weights(shipped / "cars-toy.safetensors")[1]
    assert "## Test size" not in (shipped / "cars-toy.md").read_text()


def test_not_adopted_changes_nothing_and_leaves_test_unread(shipped, cars_run, monkeypatch, capsys):
    _scores(monkeypatch, {("val", 48): 0.6, ("val", 64): 0.605})  # no test scores: reading one would fail
    before = (shipped / "cars-toy.safetensors").read_bytes()
    choose_test_size.main(["cars-toy", str(cars_run), "--sizes", "64", "--ship"])
    out = capsys.readouterr().out
    assert "choice 64: not adopted" in out and "test top-1 (not read)" in out
    assert (shipped / "cars-toy.safetensors").read_bytes() == before


def test_bad_sizes_and_other_splits_are_refused(shipped, cars_run, cars_dir, tmp_path):
    with pytest.raises(TrivisionError, match="--sizes 40,big: give sides in pixels"):
        choose_test_size.main(["cars-toy", str(cars_run), "--sizes", "40,big"])
    from test_scripts_choose_tta import split_only
    other = split_only(cars_dir, tmp_path / "seed3", "--seed", "3")
    with pytest.raises(TrivisionError, match="split settings"):
        choose_test_size.main(["cars-toy", str(other), "--sizes", "64"])
