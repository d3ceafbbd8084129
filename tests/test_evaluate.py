"""evaluate.py: choosing a test-time augmentation on a run's validation split, never its test split; the logit
bias overridden from the command line."""
from __future__ import annotations

import pytest
from conftest import assert_one_error_line, cli, last_json, save_image, write_labels

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


def test_the_logit_bias_flag_moves_the_operating_point(toy_dir, tiny_weights):
    args = ("evaluate", "gender", "--data", str(toy_dir), "--weights", str(tiny_weights), "--framing", "as-is")
    code, stdout, err = cli(*args, "--logit-bias", "female=50")
    assert code == 0, err
    result = last_json(stdout)
    assert result["recall_female"] == 1.0 and result["recall_male"] == 0.0 and result["logit_bias"] == {"female": 50.0}
    code, stdout, err = cli(*args, "--logit-bias", "female=0")
    assert code == 0, err
    assert "logit_bias" not in last_json(stdout)
    for bad, message in (("female=x", "give CLASS=NUMBER"), ("woman=1", "class 'woman', which the model does not know")):
        code, _, err = cli(*args, "--logit-bias", bad)
        assert code == 2
        assert_one_error_line(err, message)


def test_the_image_size_flag_resizes_for_networks_that_take_any_size(tmp_path, cars_weights, toy_dir, tiny_weights):
    rows = [[save_image(tmp_path / f"{i}.png", color=(40 * i, 90, 200 - 30 * i)).name, str(i)] for i in range(1, 7)]
    write_labels(tmp_path, rows, header=("path", "class_id"))
    args = ("evaluate", "cars", "--data", str(tmp_path), "--weights", str(cars_weights))
    sizes = {}
    for extra in ((), ("--image-size", "96")):
        code, stdout, err = cli(*args, *extra)
        assert code == 0, err
        sizes[extra] = last_json(stdout)["image_size"]
    assert sizes == {(): 64, ("--image-size", "96"): 96}
    code, _, err = cli("evaluate", "gender", "--data", str(toy_dir), "--weights", str(tiny_weights),
                       "--framing", "as-is", "--image-size", "128")
    assert code == 2
    assert_one_error_line(err, "'gender-tiny' sees photos at 100x100 only, not 128x128")
