"""subset.py: a classifier restricted to some of its classes answers the full model's probabilities
renormalised over them; every door takes it; classes it cannot keep are refused with one error line."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_one_error_line, cli, last_json, save_image, write_labels
from trivision.ensemble import combine
from trivision.errors import TrivisionError
from trivision.inference import load_model
from trivision.subset import kept_classes, restrict

IMAGES = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _renormalised(probabilities: torch.Tensor, rows: list[int]) -> torch.Tensor:
    kept = probabilities[:, rows]
    return kept / kept.sum(dim=1, keepdim=True)


def test_a_restricted_model_renormalises_the_full_models_probabilities(cars_weights, tmp_path):
    out = tmp_path / "sub.safetensors"
    result = restrict(str(cars_weights), "2,4-5", out)
    assert result["classes"] == 3 and result["from_classes"] == 6
    full, small = load_model(str(cars_weights)), load_model(str(out))
    assert small.classes == ["2", "4", "5"]
    assert small.class_names == ["Test Car 2 2012", "Test Car 4 2012", "Test Car 5 2012"]
    assert small.meta["restricted_from"] == str(cars_weights) and small.meta["split_classes"] == [str(i) for i in range(1, 7)]
    torch.testing.assert_close(small.probabilities(IMAGES), _renormalised(full.probabilities(IMAGES), [1, 3, 4]))
    assert sum(p.numel() for p in small.model.parameters()) < sum(p.numel() for p in full.model.parameters())


def test_an_ensemble_keeps_the_rows_of_every_member(cars_weights, tmp_path):
    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    full = load_model(str(cars_weights))
    from trivision.engine.checkpoint import save_weights
    for p in full.model.parameters():
        p.data += 0.05 * torch.randn_like(p)
    save_weights(other, full.model, full.meta)
    pair = tmp_path / "pair.safetensors"
    combine([str(cars_weights), str(other)], pair)
    out = tmp_path / "sub.safetensors"
    restrict(str(pair), "1-3", out)
    small = load_model(str(out))
    assert [m["classes"] for m in small.meta["members"]] == [["1", "2", "3"]] * 2
    members = [load_model(str(m)) for m in (cars_weights, other)]
    expected = sum(_renormalised(m.probabilities(IMAGES), [0, 1, 2]) for m in members) / 2
    torch.testing.assert_close(small.probabilities(IMAGES), expected)


def test_evaluate_and_predict_take_a_restricted_model(cars_weights, tmp_path):
    out = tmp_path / "sub.safetensors"
    code, stdout, err = cli("subset", str(cars_weights), "--classes", "1-2", "--output", str(out), "--tta", "hflip")
    assert code == 0, err
    assert last_json(stdout)["classes"] == 2 and load_model(str(out)).test_time == "hflip"
    rows = []
    for i, class_id in enumerate(["1", "2", "3", "2"]):
        save_image(tmp_path / "data" / f"{i}.png", size=(70, 50), color=(40 * i, 90, 200))
        rows.append([f"{i}.png", class_id])
    write_labels(tmp_path / "data", rows, header=("path", "class_id"))
    code, stdout, err = cli("evaluate", "cars", "--data", str(tmp_path / "data"), "--weights", str(out))
    assert code == 0, err
    assert last_json(stdout)["n"] == 3 and last_json(stdout)["skipped_unknown_class"] == 1
    code, stdout, err = cli("predict", "cars", str(tmp_path / "data" / "0.png"), "--weights", str(out))
    assert code == 0, err
    assert len(last_json(stdout)["top5"]) == 2


def test_kept_classes_are_in_the_models_order():
    assert kept_classes("3,1", ["1", "2", "3"]) == ["1", "3"]
    assert kept_classes("male, female", ["female", "male"]) == ["female", "male"]


def test_classes_that_cannot_be_kept_are_refused(cars_weights, koala_weights, tiny_weights, tmp_path):
    out = tmp_path / "out.safetensors"
    cases = [([str(cars_weights), "--classes", "5-9"], "does not know class 7 (it knows 1-6)"),
             ([str(cars_weights), "--classes", "3"], "keep two or more classes"),
             ([str(cars_weights), "--classes", "x"], "is not a class id"),
             ([str(tiny_weights), "--classes", "female,woman"], "does not know class woman"),
             ([str(koala_weights), "--classes", "1-2"], "is a colorizer"),
             ([str(tmp_path / "missing.safetensors"), "--classes", "1-2"], "weights file not found")]
    for args, message in cases:
        code, _, err = cli("subset", *args, "--output", str(out))
        assert code == 2, args
        assert_one_error_line(err, message)
        assert not out.exists()
    before = cars_weights.read_bytes()
    with pytest.raises(TrivisionError, match="own weights file"):
        restrict(str(cars_weights), "1-2", cars_weights)
    assert cars_weights.read_bytes() == before


def test_a_kept_classes_logit_bias_stays_and_a_dropped_ones_goes(cars_weights, tmp_path):
    from trivision.engine.checkpoint import load_weights, save_state
    biased = tmp_path / "biased.safetensors"
    state, meta = load_weights(cars_weights)
    save_state(biased, state, {**meta, "logit_bias": {"2": 0.5, "6": 1.0}})
    restrict(str(biased), "1-3", tmp_path / "sub.safetensors")
    assert load_model(str(tmp_path / "sub.safetensors")).logit_bias == {"2": 0.5}
