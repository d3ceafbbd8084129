"""scripts/choose_tta.py: shipped weights get the test-time augmentation their validation split prefers,
only from a run with their split, and the card records it once."""
from __future__ import annotations

import shutil
import sys

import pytest
from conftest import REPO, cli
from test_cars import cars_dir, cars_run  # noqa: F401 (fixtures: a toy cars run)

from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError

sys.path.insert(0, str(REPO / "scripts"))
import choose_tta


@pytest.fixture
def shipped(cars_run, tmp_path, monkeypatch):
    monkeypatch.setattr(choose_tta, "WEIGHTS_DIR", tmp_path)
    shutil.copyfile(cars_run / "model.safetensors", tmp_path / "cars-toy.safetensors")
    (tmp_path / "cars-toy.md").write_text("# cars-toy\n\nThe card.\n")
    return tmp_path


def test_the_choice_goes_into_the_weights_and_once_into_the_card(shipped, cars_run):
    choose_tta.main("cars-toy", str(cars_run))
    choose_tta.main("cars-toy", str(cars_run))  # again: the section is replaced, not added
    _, meta = load_weights(shipped / "cars-toy.safetensors")
    card = (shipped / "cars-toy.md").read_text()
    assert meta["tta"] in ("none", "hflip") and card.startswith("# cars-toy\n\nThe card.\n")
    assert card.count("## Test-time augmentation") == 1 and f"| {meta['tta']} (shipped) |" in card
    assert f"carry `tta = {meta['tta']}`" in card and "test top1 (8 images)" in card
    assert "Chosen on the 4 validation images" in card


def split_only(cars_dir, run, *more):
    """`trivision split` with the toy cars run's settings (test_cars.train_args), plus `more`."""
    code, _, err = cli("split", "cars", "--data", str(cars_dir), "--classes", "1-4", "--output-dir", str(run), *more)
    assert code == 0, err
    return run


def test_a_split_folder_of_the_same_settings_serves_as_the_run(shipped, cars_dir, cars_run, tmp_path):
    run = split_only(cars_dir, tmp_path / "split-only")
    assert (run / "split.csv").read_text() == (cars_run / "split.csv").read_text()
    choose_tta.main("cars-toy", str(run))
    assert load_weights(shipped / "cars-toy.safetensors")[1]["tta"] in ("none", "hflip")


def test_a_run_with_another_split_is_refused(shipped, cars_dir, tmp_path):
    other = split_only(cars_dir, tmp_path / "seed3", "--seed", "3")
    with pytest.raises(TrivisionError, match="split settings"):
        choose_tta.main("cars-toy", str(other))
    assert "tta" not in load_weights(shipped / "cars-toy.safetensors")[1]


def test_weights_without_a_validation_split_choose_on_runs_of_their_recipe(shipped, cars_run, tmp_path):
    other = tmp_path / "other-seed"
    shutil.copytree(cars_run, other)  # stands in for a run of the same recipe (own weights, own validation)
    choose_tta.main("cars-toy", str(cars_run), [str(cars_run), str(other)])
    _, meta = load_weights(shipped / "cars-toy.safetensors")
    card = (shipped / "cars-toy.md").read_text()
    assert "Chosen on the validation splits of 2 other runs of this recipe" in card
    assert f"`{other}` validation top1" in card and "mean validation top1" in card
    assert f"| {meta['tta']} (shipped) |" in card and card.count("## Test-time augmentation") == 1


def test_a_run_of_another_recipe_is_refused(shipped, cars_run, tmp_path):
    from trivision.engine.checkpoint import save_state
    other = tmp_path / "bigger"
    shutil.copytree(cars_run, other)
    state, meta = load_weights(other / "model.safetensors")
    save_state(other / "model.safetensors", state, {**meta, "image_size": meta["image_size"] * 2})
    with pytest.raises(TrivisionError, match="another image_size"):
        choose_tta.main("cars-toy", str(cars_run), [str(other)])
    assert "tta" not in load_weights(shipped / "cars-toy.safetensors")[1]
