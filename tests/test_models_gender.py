"""The lab's gender CNNs: Keras parameter counts, shapes, registry, the `params` command."""
from __future__ import annotations

import json

import pytest
import torch

from trivision.cli import main
from trivision.engine.report import param_counts, params_table
from trivision.errors import TrivisionError
from trivision.models import create_model, list_models, model_info


def keras_counts(widths, image_size=100, classes=2):
    """Count as Keras does: conv weights+bias, BatchNorm gamma/beta trainable, mean/var not."""
    trainable = frozen = 0
    c_in, side = 3, image_size
    for w in widths:
        trainable += (9 * c_in * w + w) + (9 * w * w + w) + 2 * (2 * w)
        frozen += 2 * (2 * w)
        c_in, side = w, side // 2
    trainable += c_in * side * side * classes + classes
    return {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def test_gender_tiny_has_the_labs_parameter_counts():
    counts = param_counts(create_model("gender-tiny"))
    assert counts == {"total": 91_410, "trainable": 90_962, "non_trainable": 448}
    assert counts == keras_counts((16, 32, 64))


def test_gender_cnn_counts_follow_the_architecture():
    assert param_counts(create_model("gender-cnn")) == keras_counts((16, 32, 64, 128, 256))
    assert param_counts(create_model("gender-tiny", image_size=64)) == keras_counts((16, 32, 64), 64)


def test_frozen_parameters_count_as_non_trainable():
    model = create_model("gender-tiny")
    for p in model.features.parameters():
        p.requires_grad_(False)
    c = param_counts(model)
    assert c["total"] == 91_410 and c["trainable"] == 64 * 12 * 12 * 2 + 2
    assert c["non_trainable"] == 91_410 - c["trainable"]


@pytest.mark.parametrize("name, size", [("gender-tiny", 100), ("gender-cnn", 100), ("gender-tiny", 48)])
def test_forward_shapes(name, size):
    model = create_model(name, image_size=size).eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = model(x)
        out_cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == (2, 2)
    torch.testing.assert_close(out, out_cl, atol=1e-4, rtol=1e-4)


def test_num_classes_and_dropout():
    model = create_model("gender-tiny", num_classes=5, dropout=0.25)
    assert model.head[-1].out_features == 5
    assert model.head[1].p == 0.25


def test_registry():
    assert {"gender-cnn", "gender-tiny"} <= set(list_models())
    assert list_models("gender") == ["gender-cnn", "gender-mobilenet", "gender-tiny"]
    assert model_info("gender-tiny").task == "gender" and model_info("gender-tiny").input_size == 100
    with pytest.raises(TrivisionError, match="unknown model 'gender-huge' \\(known: .*gender-tiny"):
        create_model("gender-huge")


def test_gender_mobilenet_is_a_pretrained_backbone_with_a_linear_head():
    model = create_model("gender-mobilenet", pretrained=False, dropout=0.1).eval()
    assert model.head[-1].in_features == 1280 and model.head[-1].out_features == 2 and model.head[2].p == 0.1
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 2) and model(torch.rand(1, 3, 96, 96)).shape == (1, 2)


def test_params_table_format():
    table = params_table([("gender-tiny", {"total": 91410, "trainable": 90962, "non_trainable": 448})])
    assert table.splitlines()[0] == "| Model | Total params | Trainable params | Non-trainable params |"
    assert "| gender-tiny | 91,410 | 90,962 | 448 |" in table


def test_params_command(capsys):
    assert main(["params", "gender-tiny"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "| gender-tiny | 91,410 | 90,962 | 448 |" in out
    assert json.loads(out[-1]) == {"gender-tiny": {"total": 91410, "trainable": 90962, "non_trainable": 448}}


def test_params_command_unknown_model(capsys):
    assert main(["params", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trivision: error: unknown model 'nope'") and "\n" not in err
