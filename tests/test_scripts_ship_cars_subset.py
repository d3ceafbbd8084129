"""scripts/ship_cars_subset.py: a model restricted to some classes ships with the test-time augmentation chosen
on those classes' validation images and a card with every command; a rule's validation bar can stop it."""
from __future__ import annotations

import sys

from conftest import REPO
from test_cars import cars_dir, cars_run  # noqa: F401 (fixtures: a toy cars run)

import trivision.models.registry as registry
from trivision.engine.checkpoint import load_weights

sys.path.insert(0, str(REPO / "scripts"))
import ship_cars_subset


def test_a_subset_of_a_run_ships_with_its_card(cars_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ship_cars_subset, "WEIGHTS_DIR", tmp_path)
    assert ship_cars_subset.main("cars-toy", str(cars_run), str(cars_run), "1-2")
    _, meta = load_weights(tmp_path / "cars-toy.safetensors")
    assert meta["classes"] == ["1", "2"] and meta["restricted_from"] == str(cars_run)
    assert meta["split_classes"] == ["1", "2", "3", "4"]
    card = (tmp_path / "cars-toy.md").read_text()
    assert f"trivision subset {cars_run} --classes 1-2 --tta {meta['tta']} --output cars-toy.safetensors" in card
    assert sum(line.strip().startswith("trivision train cars") for line in card.splitlines()) == 1
    test_rows = [line for line in card.splitlines() if line.startswith(("| none", "| hflip"))]
    assert len(test_rows) == 2 and all("| 4 |" in row for row in test_rows)  # the test images of classes 1-2 only


def test_a_subset_below_the_rules_bar_is_not_shipped(cars_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ship_cars_subset, "WEIGHTS_DIR", tmp_path)
    assert not ship_cars_subset.main("cars-toy", str(cars_run), str(cars_run), "1-2", min_val=1.01)
    assert not ship_cars_subset.main("cars-toy", str(cars_run), str(cars_run), "1-2", min_test=1.01)
    out = capsys.readouterr().out
    assert out.count(": not adopted") == 2 and "(needs 101.00%): not adopted" in out and "test top-1" in out
    assert not list(tmp_path.iterdir())
