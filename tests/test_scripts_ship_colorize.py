"""scripts/ship_colorize.py: the commands a model card prints train with exactly the runs' recipes, a chain
of runs started from one another included."""
from __future__ import annotations

import shlex
import sys

import pytest
from conftest import REPO, assert_command_trains, task_config

from trivision.config import Phase, TrainConfig, save_config, to_dict
from trivision.tasks.colorize import ColorizeTask

sys.path.insert(0, str(REPO / "scripts"))
import ship_colorize


def _colorize(**changes) -> TrainConfig:
    return task_config(ColorizeTask(), **changes)


@pytest.mark.parametrize("cfg", [
    _colorize(data="../shared/data/imagenet-samples", warmup_epochs=1.0),
    _colorize(data="../shared/data/stanford-cars", init="colorize-koala", val_fraction=0.05, test_fraction=0.05,
              phases=[Phase("train", 1, 5e-4)]),
    _colorize(data="photos", init="runs/a", seed=3, loss="mse", batch_size=8),
])
def test_card_command_reproduces_the_recipe(cfg):
    saved = to_dict(cfg)  # as config.toml holds it
    assert_command_trains(ship_colorize.train_command(saved), saved, "colorize", ship_colorize.RUN_ONLY)


def test_a_chain_of_runs_lists_every_command_from_the_shipped_start(tmp_path):
    first, last = tmp_path / "cars", tmp_path / "imagenet"
    for run, cfg in ((first, _colorize(data="cars", init="colorize-koala")), (last, _colorize(data="imagenet", init=str(first)))):
        run.mkdir()
        save_config(cfg, run / "config.toml")
    commands, start = ship_colorize.training_chain(to_dict(_colorize(data="imagenet", init=str(first))), last)
    *earlier, show, cars, imagenet = commands
    assert earlier and all(c.startswith("trivision train colorize") for c in earlier)  # the shipped card's
    assert show.startswith("git show ") and show.endswith("src/trivision/weights/colorize-koala.safetensors > "
                                                          + show.split(" > ")[1])
    frozen = show.split(" > ")[1]
    assert f"--init {frozen} " in cars and cars.endswith(f"--output-dir {first}")
    assert f"--init {first} " in imagenet and imagenet.endswith(f"--output-dir {last}")
    assert shlex.split(cars)[shlex.split(cars).index("--data") + 1] == "cars"
    assert "learn from cars, imagenet" in start and "colorize-koala" in start
