"""ensemble.py and models/ensemble.py: members' class probabilities averaged, as one weights file that every
door loads; members that cannot be averaged are refused with one error line."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import assert_one_error_line, cli, last_json, save_image
from trivision.engine.checkpoint import load_weights, save_state, save_weights
from trivision.ensemble import combine
from trivision.errors import TrivisionError
from trivision.inference import load_model
from trivision.models import create_model
from trivision.models.ensemble import Ensemble


def test_forward_is_the_log_of_the_mean_probability():
    torch.manual_seed(0)
    members = [nn.Linear(4, 3), nn.Linear(4, 3)]
    for m in members:
        m.weight.data *= 10  # confident members: the mean of probabilities differs from that of logits
    x = torch.randn(5, 4)
    expected = (members[0](x).softmax(1) + members[1](x).softmax(1)) / 2
    got = Ensemble(members)(x)
    torch.testing.assert_close(got.softmax(1), expected)
    torch.testing.assert_close(got.exp(), expected)  # already normalised: log-probabilities
    assert not torch.allclose(((members[0](x) + members[1](x)) / 2).softmax(1), expected, atol=1e-3)


def _gender_tiny(path, seed: int, **meta):
    torch.manual_seed(seed)
    save_weights(path, create_model("gender-tiny", image_size=100).eval(), {
        "model": "gender-tiny", "task": "gender", "classes": ["female", "male"], "image_size": 100,
        "dropout": 0.5, "backbone": "", "split": "image", "seed": 0, **meta})
    return path


def test_a_members_logit_bias_stays_with_the_member(tmp_path):
    a = _gender_tiny(tmp_path / "a.safetensors", 1, logit_bias={"female": 1.0})
    b = _gender_tiny(tmp_path / "b.safetensors", 2)
    combine([str(a), str(b)], tmp_path / "ens.safetensors")
    loaded = load_model(str(tmp_path / "ens.safetensors"))
    assert loaded.logit_bias == {} and loaded.meta["members"][0]["logit_bias"] == {"female": 1.0}


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    d = tmp_path_factory.mktemp("members")
    return [_gender_tiny(d / "a.safetensors", 1), _gender_tiny(d / "b.safetensors", 2, tta="hflip")]


@pytest.mark.parametrize("half", [False, True])
def test_the_loaded_ensemble_answers_the_members_mean(members, tmp_path, half):
    out = tmp_path / "ens.safetensors"
    result = combine([str(m) for m in members], out, half=half)
    assert result["members"] == 2 and result["classes"] == 2
    loaded = load_model(str(out))
    assert loaded.meta["model"] == "ensemble" and loaded.test_time == "none" and loaded.task == "gender"
    assert loaded.classes == ["female", "male"]
    images = torch.randint(0, 256, (6, 3, 100, 100), dtype=torch.uint8)
    alone = [load_model(str(m)) for m in members]
    for a in alone:
        a.tta = "none"
    expected = (alone[0].probabilities(images) + alone[1].probabilities(images)) / 2
    tolerance = 2e-3 if half else 1e-6  # float16 storage rounds each weight to ~3 significant digits
    torch.testing.assert_close(loaded.probabilities(images), expected, atol=tolerance, rtol=0)
    state, _ = load_weights(out)
    floats = [v for v in state.values() if v.is_floating_point()]
    assert {v.dtype for v in floats} == {torch.float16 if half else torch.float32}
    assert next(loaded.model.parameters()).dtype == torch.float32


def test_cli_writes_an_ensemble_that_predict_and_evaluate_use(members, tmp_path, toy_dir):
    out = tmp_path / "ens.safetensors"
    code, stdout, err = cli("ensemble", str(members[0]), str(members[1]), "--output", str(out), "--half",
                            "--tta", "hflip")
    assert code == 0, err
    assert last_json(stdout)["members"] == 2 and out.exists()
    assert load_model(str(out)).test_time == "hflip"
    photo = save_image(tmp_path / "face.png", size=(120, 120))
    code, stdout, err = cli("predict", "gender", str(photo), "--weights", str(out), "--framing", "as-is")
    assert code == 0, err
    assert last_json(stdout)["gender"] in ("female", "male")
    code, stdout, err = cli("evaluate", "gender", "--data", str(toy_dir), "--weights", str(out), "--framing", "as-is")
    assert code == 0, err
    assert last_json(stdout)["model"] == "ensemble" and last_json(stdout)["n"] == 48


def test_members_that_cannot_be_averaged_are_refused(members, tmp_path, cars_weights, koala_weights):
    other_size = _gender_tiny(tmp_path / "c.safetensors", 3, image_size=64)
    cases = [([str(members[0])], "two or more members"),
             ([str(members[0]), str(cars_weights)], "differs from"),
             ([str(members[0]), str(other_size)], "in image_size (64 against 100)"),
             ([str(koala_weights), str(koala_weights)], "only classifiers"),
             ([str(members[0]), str(tmp_path / "missing.safetensors")], "weights file not found")]
    for names, message in cases:
        out = tmp_path / "out.safetensors"
        code, _, err = cli("ensemble", *names, "--output", str(out))
        assert code == 2, names
        assert_one_error_line(err, message)
        assert not out.exists()


@pytest.mark.parametrize("half", [False, True])
def test_an_ensemble_given_as_a_member_gives_its_networks(members, tmp_path, half):
    pair = tmp_path / "pair.safetensors"
    combine([str(m) for m in members], pair, half=True)
    third = _gender_tiny(tmp_path / "c.safetensors", 3)
    out = tmp_path / "three.safetensors"
    assert combine([str(pair), str(third)], out, half=half)["members"] == 3
    loaded = load_model(str(out))
    assert [m["model"] for m in loaded.meta["members"]] == ["gender-tiny"] * 3
    images = torch.randint(0, 256, (4, 3, 100, 100), dtype=torch.uint8)
    alone = [load_model(str(m)) for m in (*members, third)]
    for a in alone:
        a.tta = "none"
    expected = sum(a.probabilities(images) for a in alone) / 3  # each network once, not the pair as one
    torch.testing.assert_close(loaded.probabilities(images), expected, atol=2e-3, rtol=0)
    state, _ = load_weights(out)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16 if half else torch.float32}


def test_the_output_may_not_overwrite_a_member(members, tmp_path):
    before = members[0].read_bytes()
    with pytest.raises(TrivisionError, match="member .* own weights file"):
        combine([str(members[0]), str(members[1])], members[0])
    assert members[0].read_bytes() == before


def test_a_members_test_size_stays_with_the_member(tmp_path, cars_weights):
    state, meta = load_weights(cars_weights)
    save_state(tmp_path / "a.safetensors", state, {**meta, "test_size": 80})
    combine([str(tmp_path / "a.safetensors"), str(cars_weights)], tmp_path / "ens.safetensors")
    loaded = load_model(str(tmp_path / "ens.safetensors"))
    assert "test_size" not in loaded.meta and loaded.image_size == 64
