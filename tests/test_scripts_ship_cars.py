"""scripts/ship_cars.py: the commands a model card prints train with exactly the runs' recipes; the
shipped weights carry the test-time augmentation chosen on validation."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, assert_command_trains, task_config
from test_cars import cars_dir, cars_run  # noqa: F401 (fixtures: a toy cars run)

import trivision.models.registry as registry
from trivision.config import Phase, TrainConfig, to_dict
from trivision.engine.checkpoint import load_weights
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


def test_the_weights_carry_their_tta_and_the_card_shows_both(cars_run, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ship_cars, "WEIGHTS_DIR", tmp_path)
    ship_cars.main("cars-toy", str(cars_run))
    _, meta = load_weights(tmp_path / "cars-toy.safetensors")
    card = (tmp_path / "cars-toy.md").read_text()
    assert meta["tta"] in ("none", "hflip") and f"`tta = {meta['tta']}`" in card
    assert f"| {meta['tta']} (shipped) | 8 |" in card and "chosen on the validation split (top-1 none " in card
    assert card.count(" | 8 | ") == 2  # a test row with and without it



def test_a_run_started_from_another_lists_both_commands_and_runs_one_phase(cars_run, cars_dir, tmp_path, monkeypatch):
    from conftest import cli
    from test_cars import train_args
    child = tmp_path / "child"
    code, _, err = cli(*train_args(cars_dir, child, "--classes", "2,4", "--init", str(cars_run),
                                   "--set", f"split_from={cars_run}", "--set", "phases.0.epochs=0"))
    assert code == 0, err
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ship_cars, "WEIGHTS_DIR", tmp_path)
    ship_cars.main("cars-child", str(child))
    card = (tmp_path / "cars-child.md").read_text()
    first, second = [line.strip() for line in card.splitlines() if line.startswith("      trivision train cars")]
    assert first.endswith(f"--output-dir {cars_run}") and f"--init {cars_run} " in second
    assert "min in the runs before this one)" in card and "- One phase: every layer; Adam" in card
    assert "| frozen |" not in card and "| finetune |" in card
    assert f"the saved split of `{cars_run}` for these classes" in card
