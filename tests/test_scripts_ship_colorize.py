"""scripts/ship_colorize.py: the commands a model card prints train with exactly the runs' recipes; --choose-only
chooses on validation and ships nothing."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, assert_command_trains, cli, run_python, task_config
from test_colorize import make_photos, train_args

from trivision.config import Phase, TrainConfig, to_dict
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks.colorize import ColorizeTask

sys.path.insert(0, str(REPO / "scripts"))
import ship_colorize


def _colorize(**changes) -> TrainConfig:
    return task_config(ColorizeTask(), **changes)


@pytest.mark.parametrize("cfg", [
    _colorize(data="../shared/data/imagenet-samples", warmup_epochs=1.0),
    _colorize(data="../shared/data/imagenet-samples", model="koala-spatial", warmup_epochs=1.0),
    _colorize(data="../shared/data/stanford-cars", init="colorize-koala", val_fraction=0.05, test_fraction=0.05,
              phases=[Phase("train", 1, 5e-4)]),
    _colorize(data="photos", init="runs/a", seed=3, loss="mse", batch_size=8),
])
def test_card_command_reproduces_the_recipe(cfg):
    saved = to_dict(cfg)  # as config.toml holds it
    assert_command_trains(ship_colorize.train_command(saved), saved, "colorize", ship_colorize.RUN_ONLY)



def test_choose_only_prints_the_choice_and_ships_nothing(tmp_path):
    run = tmp_path / "run"
    code, _, err = cli(*train_args(make_photos(tmp_path / "photos"), run))
    assert code == 0, err
    name = "scratch-choose-only-test"
    done = run_python("scripts/ship_colorize.py", name, str(run), "--choose-only", timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len([ln for ln in lines if ln.startswith("| best, correction")]) == 20  # 5 corrections x 4 temperatures
    assert lines[-1].startswith("chosen: ") and "dB over grey, colourfulness ratio" in lines[-1]
    assert not list(WEIGHTS_DIR.glob(f"{name}.*"))
    # a shipping rule no choice can meet (a ratio of 5): it stops after the choice, as --choose-only does
    done = run_python("scripts/ship_colorize.py", name, str(run), "--min-ratio", "5", timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("not shipped: ")
    assert not list(WEIGHTS_DIR.glob(f"{name}.*"))


def _trial(name: str, over_grey: float, ratio: float) -> tuple:
    return (name, 0.5, 0.6, {"psnr": 22.0 + over_grey, "psnr_grey": 22.0, "colourfulness_ratio": ratio})


def test_choose_takes_the_most_colourful_beyond_the_margin():
    trials = [_trial("safe", 0.9, 0.50), _trial("bold", 0.3, 0.65), _trial("middle", 0.6, 0.58)]
    assert ship_colorize.choose(trials, 0.0) == (trials[1], True)
    assert ship_colorize.choose(trials, 0.5) == (trials[2], True)
    assert ship_colorize.choose(trials, 0.7) == (trials[0], True)


def test_choose_falls_back_to_the_highest_psnr_when_nothing_beats_the_margin():
    trials = [_trial("a", -0.4, 0.7), _trial("b", -0.1, 0.5)]
    assert ship_colorize.choose(trials, 0.0) == (trials[1], False)
