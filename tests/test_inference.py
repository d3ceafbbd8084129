"""inference.py: test-time augmentation, the logit bias and the test size (the weights' own choices, overridable)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trivision.errors import TrivisionError
from trivision.inference import LoadedModel


class LeftBright(nn.Module):
    """Two classes scored by the brightness of the left and the right half: a mirror image swaps them."""

    def forward(self, x):
        half = x.shape[-1] // 2
        return torch.stack([x[..., :half].mean((1, 2, 3)), x[..., half:].mean((1, 2, 3))], dim=1) * 10


def _images():
    x = torch.zeros(3, 3, 8, 8, dtype=torch.uint8)
    x[:, :, :, :4] = torch.tensor([255, 128, 30]).view(3, 1, 1, 1)  # the left half bright, by different amounts
    return x


def test_no_tta_by_default_and_hflip_is_the_mean_over_photo_and_mirror():
    plain = LoadedModel(LeftBright(), {}, ["a", "b"])
    assert plain.test_time == "none"
    p = plain.probabilities(_images())
    assert (p[:, 0] > 0.5).all()
    mirrored = plain.probabilities(_images().flip(-1))
    flipped = LoadedModel(LeftBright(), {"tta": "hflip"}, ["a", "b"]).probabilities(_images())
    torch.testing.assert_close(flipped, (p + mirrored) / 2)
    torch.testing.assert_close(flipped, torch.full_like(flipped, 0.5))  # this model's halves just swap


def test_the_override_wins_over_the_weights_choice():
    loaded = LoadedModel(LeftBright(), {"tta": "hflip"}, ["a", "b"], tta="none")
    assert loaded.test_time == "none"
    assert (loaded.probabilities(_images())[:, 0] > 0.5).all()


def test_an_unknown_tta_is_named():
    with pytest.raises(TrivisionError, match="unknown test-time augmentation 'vflip'"):
        LoadedModel(LeftBright(), {"tta": "vflip"}, ["a", "b"]).probabilities(_images())


def test_the_logit_bias_shifts_each_class_log_probability_after_tta():
    plain = LoadedModel(LeftBright(), {"tta": "hflip"}, ["a", "b"], tta="none").probabilities(_images())
    biased = LoadedModel(LeftBright(), {"logit_bias": {"b": 1.5}}, ["a", "b"]).probabilities(_images())
    expected = torch.softmax(plain.log() + torch.tensor([0.0, 1.5]), 1)
    torch.testing.assert_close(biased, expected)
    assert biased[2, 1] > 0.5 > plain[2, 1]  # the faintly left-bright photo changes class
    after_tta = LoadedModel(LeftBright(), {"tta": "hflip", "logit_bias": {"b": 1.5}}, ["a", "b"]).probabilities(_images())
    torch.testing.assert_close(after_tta, torch.softmax(torch.full_like(plain, 0.5).log() + torch.tensor([0.0, 1.5]), 1))


def test_the_bias_override_wins_and_an_unknown_class_is_named():
    loaded = LoadedModel(LeftBright(), {"logit_bias": {"b": 9.0}}, ["a", "b"], bias={"b": 0.0})
    assert loaded.logit_bias == {"b": 0.0}
    assert (loaded.probabilities(_images())[:, 0] > 0.5).all()
    with pytest.raises(TrivisionError, match="logit bias for class 'c', which the model does not know"):
        LoadedModel(LeftBright(), {"logit_bias": {"c": 1.0}}, ["a", "b"]).probabilities(_images())


def _cars_meta(**meta):
    return {"model": "bcnn-lowdim", "task": "cars", "classes": ["1", "2"], "image_size": 64, **meta}


def test_the_test_size_is_the_override_then_the_weights_then_the_training_size():
    assert LoadedModel(LeftBright(), _cars_meta(), ["1", "2"]).image_size == 64
    assert LoadedModel(LeftBright(), _cars_meta(test_size=80), ["1", "2"]).image_size == 80
    assert LoadedModel(LeftBright(), _cars_meta(test_size=80), ["1", "2"], size=96).image_size == 96


def test_a_network_of_one_input_size_refuses_another():
    meta = {"model": "gender-tiny", "task": "gender", "classes": ["female", "male"], "image_size": 100}
    assert LoadedModel(LeftBright(), meta, ["female", "male"], size=100).image_size == 100
    with pytest.raises(TrivisionError, match="'gender-tiny' sees photos at 100x100 only, not 128x128"):
        LoadedModel(LeftBright(), meta, ["female", "male"], size=128).image_size
    ensemble = {**_cars_meta(model="ensemble"), "members": [_cars_meta(), {**meta, "image_size": 64}]}
    with pytest.raises(TrivisionError, match="only networks with global pooling"):
        LoadedModel(LeftBright(), ensemble, ["1", "2"], size=80).image_size
    with pytest.raises(TrivisionError, match="too small"):
        LoadedModel(LeftBright(), _cars_meta(), ["1", "2"], size=16).image_size


def test_resize_to_refuses_at_once_a_size_the_network_cannot_take():
    meta = {"model": "gender-tiny", "task": "gender", "classes": ["female", "male"], "image_size": 100}
    with pytest.raises(TrivisionError, match="sees photos at 100x100 only, not 128x128"):
        LoadedModel(LeftBright(), meta, ["female", "male"]).resize_to(128)
    loaded = LoadedModel(LeftBright(), _cars_meta(), ["1", "2"])
    loaded.resize_to(96)
    assert loaded.image_size == 96


def test_an_onnx_graph_takes_its_exported_size_only():
    exported = LoadedModel(LeftBright(), _cars_meta(test_size=80, onnx_size=80), ["1", "2"])
    assert exported.image_size == 80
    exported.size = 64
    with pytest.raises(TrivisionError, match="this ONNX graph takes photos at 80x80 only"):
        exported.image_size
