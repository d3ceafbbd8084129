"""scripts/ship_colorize.py: the commands a model card prints train with exactly the runs' recipes."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, assert_command_trains, task_config

from trivision.config import Phase, TrainConfig, to_dict
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

