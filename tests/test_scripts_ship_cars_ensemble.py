"""scripts/ship_cars_ensemble.py: the shipped ensemble carries its members and the test-time augmentation
chosen on validation; its card gives every member's command, a shipped member pinned to its commit."""
from __future__ import annotations

import sys
import tomllib

import pytest
import torch
from conftest import REPO
from test_cars import cars_dir, cars_run  # noqa: F401 (fixtures: a toy cars run)

import trivision.models.registry as registry
from trivision.engine.checkpoint import load_weights

sys.path.insert(0, str(REPO / "scripts"))
import ship_cars
import ship_cars_ensemble


def test_an_ensemble_of_runs_ships_with_its_card(cars_run, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ship_cars_ensemble, "WEIGHTS_DIR", tmp_path)
    ship_cars_ensemble.main("cars-toy", str(cars_run), [str(cars_run), str(cars_run)])
    state, meta = load_weights(tmp_path / "cars-toy.safetensors")
    assert meta["model"] == "ensemble" and len(meta["members"]) == 2 and meta["tta"] in ("none", "hflip")
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    card = (tmp_path / "cars-toy.md").read_text()
    assert f"`tta = {meta['tta']}`" in card and f"| {meta['tta']} (shipped) | 8 |" in card
    assert card.count("alone, with the same test-time augmentation") == 2
    assert f"trivision ensemble {cars_run} {cars_run} --half --tta {meta['tta']} --output cars-toy.safetensors" in card
    trains = [line.strip() for line in card.splitlines() if line.strip().startswith("trivision train cars")]
    assert len(trains) == 2
    saved = tomllib.loads((cars_run / "config.toml").read_text())  # the recipe check itself: ship_cars' tests
    assert trains == [f"{ship_cars.train_command(saved)} --output-dir {cars_run}"] * 2


def test_a_shipped_member_is_pinned_to_its_commit_with_its_cards_commands():
    # cars-bcnn-20 as shipped at commit ff43dd7: one network, its card with the training time
    source, text, commands, blob = ship_cars_ensemble.frozen_member("cars-bcnn-20@ff43dd7")
    card = ship_cars_ensemble.git("show", "ff43dd7:./cars-bcnn-20.md").stdout.decode()
    assert commands[:-1] == [ln.strip() for ln in card.splitlines() if ln.strip().startswith("trivision train cars")]
    commit = source.removeprefix("cars-bcnn-20-").removesuffix(".safetensors")
    assert commit == "ff43dd7" and blob == f"{commit}:src/trivision/weights/cars-bcnn-20.safetensors"
    assert commands[-1] == f"git show {blob} > {source}"
    assert f"at commit {commit}; training took " in text and "min on " in text


def test_a_shipped_ensemble_member_brings_each_networks_training():
    # cars-bcnn-196 became an ensemble of two networks at commit 57d9123; its card lists both
    member = ship_cars_ensemble.frozen_member("cars-bcnn-196@57d9123")
    trains = [c for c in member.commands if c.startswith("trivision train cars")]
    assert len(trains) == 2 and "--output-dir runs/s19-cars196-ls" in trains[0]
    assert member.commands[-1] == f"git show {member.blob} > cars-bcnn-196-57d9123.safetensors"
    assert "at commit 57d9123; an ensemble whose card lists as members (a) `runs/s19-cars196-ls`; training took 116 min" in member.text
    assert "(b) the weights shipped as `cars-bcnn-196` at commit ff43dd7; training took 86 min" in member.text


def test_a_shipped_subset_member_names_its_source():
    # at commit 00cc0f7 cars-bcnn-20 became cars-bcnn-196 (as shipped at d829493) restricted to class ids 1-20
    member = ship_cars_ensemble.frozen_member("cars-bcnn-20@00cc0f7")
    assert "at commit 00cc0f7; some classes of the weights shipped as `cars-bcnn-196` at commit d829493" in member.text
    assert len([c for c in member.commands if c.startswith("trivision train cars")]) == 3
    assert member.commands[-1] == "git show 00cc0f7:src/trivision/weights/cars-bcnn-20.safetensors > cars-bcnn-20-00cc0f7.safetensors"


def test_a_shipped_member_at_a_named_commit_and_one_that_is_not_in_git():
    import subprocess
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", "cars-bcnn-20.safetensors"], text=True,
                            capture_output=True, cwd=registry.WEIGHTS_DIR).stdout.strip()
    assert ship_cars_ensemble.frozen_member(f"cars-bcnn-20@{commit}") == ship_cars_ensemble.frozen_member("cars-bcnn-20")
    with pytest.raises(SystemExit, match="no weights shipped as cars-nothing in git"):
        ship_cars_ensemble.frozen_member("cars-nothing")
    with pytest.raises(SystemExit, match="at commit 0000000"):
        ship_cars_ensemble.frozen_member("cars-bcnn-20@0000000")
