"""Starting from a trained model: what is copied, what starts afresh, and what is refused."""
from __future__ import annotations

import csv

import pytest
import torch
from conftest import assert_one_error_line, cli, last_json

from trivision.config import TrainConfig
from trivision.engine.checkpoint import save_weights
from trivision.engine.warm_start import warm_start
from trivision.errors import TrivisionError
from trivision.models import create_model


def _saved(path, model_name, classes, **build):
    torch.manual_seed(1)
    model = create_model(model_name, num_classes=len(classes), **build)
    save_weights(path, model, {"model": model_name, "task": "cars" if "bcnn" in model_name else "gender",
                               "classes": classes, "image_size": build.get("image_size", 32), "dropout": 0.5,
                               "backbone": build.get("backbone", ""), "loss": ""})
    return model.state_dict()


def test_the_same_model_for_the_same_classes_is_copied_whole(tmp_path):
    saved = _saved(tmp_path / "w.safetensors", "gender-tiny", ["female", "male"], image_size=32)
    torch.manual_seed(2)
    model = create_model("gender-tiny", image_size=32)
    line = warm_start(model, TrainConfig(model="gender-tiny", image_size=32, init=str(tmp_path / "w.safetensors")),
                      ["female", "male"], {})
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert f"{len(saved)} of {len(saved)} weight tensors" in line and "new:" not in line and "note" not in line


def test_another_input_size_is_named(tmp_path):
    _saved(tmp_path / "w.safetensors", "gender-tiny", ["female", "male"], image_size=32)
    line = warm_start(create_model("gender-tiny", image_size=48),
                      TrainConfig(model="gender-tiny", image_size=48, init=str(tmp_path / "w.safetensors")),
                      ["female", "male"], {})
    assert "new:" in line and "trained on 32px inputs with frame_crop 1, this run uses 48px" in line


@pytest.mark.parametrize("classes", [["3", "4", "5"], ["1", "2"]])  # as many classes, or fewer, but others
def test_a_classifier_for_other_classes_starts_afresh(tmp_path, classes):
    build = {"image_size": 32, "backbone": "mobilenet_v2", "pretrained": False}
    saved = _saved(tmp_path / "w.safetensors", "bcnn-lowdim", ["3", "4"], **build)
    torch.manual_seed(2)
    model = create_model("bcnn-lowdim", num_classes=len(classes), **build)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(task="cars", model="bcnn-lowdim", image_size=32, backbone="mobilenet_v2",
                      pretrained=False, init=str(tmp_path / "w.safetensors"))
    line = warm_start(model, cfg, classes, {})
    after = model.state_dict()
    kept_fresh = {k for k in after if torch.equal(after[k], fresh[k]) and not torch.equal(after[k], saved[k])}
    assert kept_fresh and all("classifier" in k or k.startswith("head.") for k in kept_fresh)
    assert all(torch.equal(after[k], saved[k]) for k in after if k.startswith("backbone."))
    assert "new:" in line


def test_a_few_of_the_starting_classes_keep_their_classifier_rows(tmp_path):
    build = {"image_size": 32, "backbone": "mobilenet_v2", "pretrained": False}
    _saved(tmp_path / "w.safetensors", "bcnn-lowdim", ["1", "2", "3", "4"], **build)
    start = create_model("bcnn-lowdim", num_classes=4, **build)
    start.load_state_dict(_saved(tmp_path / "w.safetensors", "bcnn-lowdim", ["1", "2", "3", "4"], **build))
    torch.manual_seed(2)
    model = create_model("bcnn-lowdim", num_classes=2, **build)
    cfg = TrainConfig(task="cars", model="bcnn-lowdim", image_size=32, backbone="mobilenet_v2",
                      pretrained=False, init=str(tmp_path / "w.safetensors"))
    line = warm_start(model, cfg, ["4", "2"], {})
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():  # the 2-class model is the 4-class one restricted to classes 4 and 2, in that order
        torch.testing.assert_close(model.eval()(x), start.eval()(x)[:, [3, 1]])
    assert "new:" not in line


def test_an_ensemble_starts_from_its_first_member_of_the_runs_model(tmp_path):
    from trivision.ensemble import combine
    first = _saved(tmp_path / "a.safetensors", "gender-tiny", ["female", "male"], image_size=32)
    torch.manual_seed(5)
    second = create_model("gender-tiny", image_size=32)
    save_weights(tmp_path / "b.safetensors", second, {"model": "gender-tiny", "task": "gender", "image_size": 32,
                                                      "classes": ["female", "male"], "dropout": 0.5})
    combine([str(tmp_path / "b.safetensors"), str(tmp_path / "a.safetensors")], tmp_path / "ens.safetensors")
    model = create_model("gender-tiny", image_size=32)
    cfg = TrainConfig(model="gender-tiny", image_size=32, init=str(tmp_path / "ens.safetensors"))
    line = warm_start(model, cfg, ["female", "male"], {})
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, first[k]) for k, v in model.state_dict().items())
    assert "ens.safetensors (its member 1 of 2)" in line
    with pytest.raises(TrivisionError, match="is an ensemble of gender-tiny, gender-tiny; none is a 'gender-cnn'"):
        warm_start(create_model("gender-cnn", image_size=32),
                   TrainConfig(model="gender-cnn", image_size=32, init=cfg.init), ["female", "male"], {})


def test_another_model_is_refused(tmp_path):
    _saved(tmp_path / "w.safetensors", "gender-cnn", ["female", "male"], image_size=32)
    with pytest.raises(TrivisionError, match="'gender-cnn' model, this run trains 'gender-tiny'"):
        warm_start(create_model("gender-tiny", image_size=32),
                   TrainConfig(init=str(tmp_path / "w.safetensors"), model="gender-tiny"), ["female", "male"], {})


def test_a_start_that_trained_on_this_runs_test_images_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _saved(run / "model.safetensors", "gender-tiny", ["female", "male"], image_size=32)
    with open(run / "split.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "split"], ["a.jpg", "train"], ["b.jpg", "test"]])
    cfg = TrainConfig(model="gender-tiny", image_size=32, init=str(run))
    warm_start(create_model("gender-tiny", image_size=32), cfg, ["female", "male"], {"a.jpg": "train"})
    with pytest.raises(TrivisionError, match="a.jpg, which this run keeps for test"):
        warm_start(create_model("gender-tiny", image_size=32), cfg, ["female", "male"], {"a.jpg": "test"})


# --- through the command line ----------------------------------------------------------------------

def _train(data, run, *more):
    return cli("train", "gender", "--model", "gender-tiny", "--data", str(data), "--image-size", "32",
               "--epochs", "1", "--batch-size", "8", "--steps-per-epoch", "2", "--output-dir", str(run),
               "--threads", "1", *more)


def test_fine_tuning_a_run_through_the_command_line(toy_dir, tmp_path):
    code, _, err = _train(toy_dir, tmp_path / "first")
    assert code == 0, err
    code, out, err = _train(toy_dir, tmp_path / "second", "--init", str(tmp_path / "first"))
    assert code == 0, err
    assert "init: " in out and last_json(out)["test"]["n"] > 0
    assert f'init = "{tmp_path / "first"}"' in (tmp_path / "second" / "config.toml").read_text()
    code, _, err = _train(toy_dir, tmp_path / "third", "--init", str(tmp_path / "first"), "--seed", "5")
    assert code != 0  # another seed: another split, whose test images the first run trained on
    assert_one_error_line(err, "was trained on")
    code, _, err = _train(toy_dir, tmp_path / "fourth", "--init", str(tmp_path / "nowhere"))
    assert code != 0
    assert_one_error_line(err, "nowhere")


def test_fine_tuning_a_shipped_model(toy_dir, tmp_path):
    from trivision.inference import load_model
    shipped = load_model("gender-tiny")
    code, out, err = _train(toy_dir, tmp_path / "run", "--init", "gender-tiny", "--image-size", str(shipped.image_size),
                            "--set", f"frame_crop={shipped.meta['frame_crop']}")
    assert code == 0, err
    n = len(shipped.model.state_dict())
    assert f"init: {n} of {n} weight tensors from gender-tiny" in out and "note" not in out
