"""scripts/ship_gender.py: the command a model card prints trains with exactly the run's recipe."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, assert_command_trains

from trivision.config import Phase, TrainConfig, to_dict
from trivision.data.augment import AugmentConfig

sys.path.insert(0, str(REPO / "scripts"))
import ship_gender


@pytest.mark.parametrize("cfg", [
    TrainConfig(model="gender-tiny", split="identity", seed=3, phases=[Phase("train", 25, 2e-3)]),
    TrainConfig(model="gender-cnn", image_size=64, frame_crop=0.6, optimizer="adamw", weight_decay=0.05,
                label_smoothing=0.1, warmup_epochs=1.0, phases=[Phase("train", 40, 0.002)],
                augment=AugmentConfig(shift=0.1, rotation=10.0, zoom=(1.0, 1.1))),
    TrainConfig(ema=0.999, val_fraction=0.15, skip_bad=True, augment=AugmentConfig(hflip=False)),
    TrainConfig(teacher="runs/gender-teacher", distill=0.7, distill_temperature=3.0),
    TrainConfig(model="gender-mobilenet", image_size=96, dropout=0.2),
    TrainConfig(init="gender-cnn", phases=[Phase("train", 5, 1e-4)]),
    TrainConfig(val_fraction=0.0, keep="last", seed=1),
])
def test_card_command_reproduces_the_recipe(cfg):
    saved = to_dict(cfg)  # as config.toml holds it
    assert_command_trains(ship_gender.command(saved), saved, "gender", ship_gender.RUN_ONLY)


def test_recipe_names_what_differs_from_the_lab():
    text = ship_gender.recipe(to_dict(TrainConfig(optimizer="adamw", weight_decay=0.05, frame_crop=0.6)))
    assert text.startswith("AdamW (weight decay 0.05)") and "the central 0.6 of the LFW frame" in text
    assert ship_gender.recipe(to_dict(TrainConfig(class_weight="balanced"))).startswith("Adam (class-balanced loss)")
    assert "class-balanced" not in ship_gender.recipe(to_dict(TrainConfig()))


def test_recipe_names_the_augmentations_beyond_the_lab():
    aug = AugmentConfig(erasing=0.5, mixup=0.2, cutmix=1.0)
    assert ship_gender.recipe(to_dict(TrainConfig(augment=aug))).endswith(
        "flip, random erasing in 0.5 of the images, MixUp (alpha 0.2), CutMix (alpha 1)")
    assert ship_gender.recipe(to_dict(TrainConfig())).endswith("zoom 1-1.2, flip")


def test_recipe_names_the_teacher():
    text = ship_gender.recipe(to_dict(TrainConfig(teacher="runs/t", distill=0.5, distill_temperature=2.0)))
    assert text.endswith("taught by the run runs/t (its share of the loss 0.5, temperature 2)")
    assert "taught" not in ship_gender.recipe(to_dict(TrainConfig()))


def test_a_taught_runs_training_time_counts_its_teacher():
    assert ship_gender.training_time({"minutes": 22.4, "teacher_minutes": 29.2}) == "22 min + 29 min teacher"
    assert ship_gender.training_time({"minutes": 22.4, "teacher_minutes": None}) == "22 min"


def test_recipe_names_the_starting_weights():
    assert ship_gender.recipe(to_dict(TrainConfig(init="gender-cnn"))).endswith("started from the weights of gender-cnn")


def test_split_line_follows_the_run():
    assert ship_gender.split_line(to_dict(TrainConfig())) == (
        "70% train / 10% validation / 20% test, stratified, seed 0; the epoch of best validation accuracy is kept")
    lab = ship_gender.split_line(to_dict(TrainConfig(val_fraction=0.0, keep="last", seed=1)))
    assert lab.startswith("80% train / 20% test (the lab's protocol") and lab.endswith("seed 1; the last epoch's weights are kept")


def test_shipping_writes_weights_a_card_and_the_tta_chosen_on_validation(toy_dir, tmp_path, monkeypatch):
    from conftest import cli
    from test_cli import train_args

    import choose_tta
    import trivision.models.registry as registry
    from trivision.engine.checkpoint import load_weights
    run = tmp_path / "run"
    code, _, err = cli(*train_args(toy_dir, run))
    assert code == 0, err
    for module in (registry, ship_gender, choose_tta):
        monkeypatch.setattr(module, "WEIGHTS_DIR", tmp_path)
    ship_gender.main("gender-tiny", str(run))
    _, meta = load_weights(tmp_path / "gender-tiny.safetensors")
    card = (tmp_path / "gender-tiny.md").read_text()
    assert card.startswith("# gender-tiny") and card.count("## Test-time augmentation") == 1
    assert meta["tta"] in ("none", "hflip") and f"| {meta['tta']} (shipped) |" in card


def test_shipping_an_80_20_run_says_which_tta_it_keeps(toy_dir, tmp_path, monkeypatch):
    from conftest import cli
    from test_cli import train_args

    import trivision.models.registry as registry
    run = tmp_path / "run"
    code, _, err = cli(*train_args(toy_dir, run, 1, "--set", "val_fraction=0.0", "--set", "keep=last"))
    assert code == 0, err
    for module in (registry, ship_gender):
        monkeypatch.setattr(module, "WEIGHTS_DIR", tmp_path)
    ship_gender.main("gender-tiny", str(run))
    card = (tmp_path / "gender-tiny.md").read_text()
    assert card.count("## Test-time augmentation") == 1 and "no validation split to choose one on" in card
    assert "`tta = none`" in card


def test_shipping_an_80_20_run_can_choose_tta_on_runs_of_its_recipe(toy_dir, tmp_path, monkeypatch):
    from conftest import cli
    from test_cli import train_args

    import choose_tta
    import trivision.models.registry as registry
    from trivision.engine.checkpoint import load_weights
    from trivision.errors import TrivisionError
    lab, identity = tmp_path / "lab", tmp_path / "identity"
    code, _, err = cli(*train_args(toy_dir, lab, 1, "--set", "val_fraction=0.0", "--set", "keep=last"))
    assert code == 0, err
    code, _, err = cli(*train_args(toy_dir, identity))
    assert code == 0, err
    for module in (registry, ship_gender, choose_tta):
        monkeypatch.setattr(module, "WEIGHTS_DIR", tmp_path)
    ship_gender.main("gender-tiny", str(lab), tta_from=[str(identity)])
    card = (tmp_path / "gender-tiny.md").read_text()
    tta = load_weights(tmp_path / "gender-tiny.safetensors")[1]["tta"]
    assert card.count("## Test-time augmentation") == 1 and "validation splits of 1 other run of this recipe" in card
    assert "no validation split to choose one on" not in card and f"| {tta} (shipped) |" in card
    with pytest.raises(TrivisionError, match="drop --tta-from"):
        ship_gender.main("gender-tiny", str(identity), tta_from=[str(identity)])
