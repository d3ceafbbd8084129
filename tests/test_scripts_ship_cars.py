"""scripts/ship_cars.py: the commands a model card prints train with exactly the runs' recipes."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, assert_command_trains, task_config

from trivision.config import Phase, TrainConfig, to_dict
from trivision.data.augment import AugmentConfig
from trivision.errors import TrivisionError
from trivision.tasks.cars import CarsTask

sys.path.insert(0, str(REPO / "scripts"))
import ship_cars


def _cars(**changes) -> TrainConfig:
    return task_config(CarsTask(), **changes)


@pytest.mark.parametrize("cfg", [
    _cars(model="bcnn-lowdim", backbone="mobilenet_v2", image_size=320,
          phases=[Phase("frozen", 15, 0.01, True), Phase("finetune", 8, 1e-4, False)]),
    _cars(model="bcnn", backbone="vgg16", classes="1-196", seed=2, batch_size=16, cached_views=2),
    _cars(backbone="mobilenet_v2", init="runs/cars-176", augment=AugmentConfig(rotation=10.0, hflip=False)),
])
def test_card_command_reproduces_the_recipe(cfg):
    saved = to_dict(cfg)  # as config.toml holds it
    assert_command_trains(ship_cars.train_command(saved), saved, "cars", ship_cars.RUN_ONLY)


def test_a_recipe_with_another_number_of_phases_is_refused():
    with pytest.raises(TrivisionError, match="3 phases"):
        ship_cars.train_command(to_dict(_cars(backbone="mobilenet_v2", phases=[Phase(), Phase(), Phase()])))

