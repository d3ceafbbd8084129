"""Settings: task defaults, a TOML file over them, --set over that; unknown keys are errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from trivision.config import Phase, TrainConfig, apply_overrides, load_config, save_config, to_dict
from trivision.errors import TrivisionError
from trivision.tasks import get_task


def _defaults() -> TrainConfig:
    return get_task("gender").default_config()


def test_task_defaults():
    cfg = _defaults()
    assert cfg.model == "gender-cnn" and cfg.image_size == 100 and cfg.batch_size == 64
    assert [(p.name, p.epochs, p.lr) for p in cfg.phases] == [("train", 30, 1e-3)]
    assert cfg.augment.enabled and cfg.augment.shift == 0.2 and cfg.augment.rotation == 20.0
    assert cfg.augment.zoom == (1.0, 1.2) and cfg.augment.hflip


def test_no_file_keeps_base():
    base = _defaults()
    assert load_config(None, base) is base
    assert load_config("", base) is base


def test_toml_file_overrides_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('model = "gender-tiny"\nbatch_size = 8\n\n[augment]\nrotation = 5.0\nzoom = [1.0, 1.1]\n\n'
                    '[[phases]]\nname = "warm"\nepochs = 2\nlr = 0.01\n\n'
                    '[[phases]]\nname = "fine"\nepochs = 3\nlr = 0.0001\n')
    cfg = load_config(path, _defaults())
    assert cfg.model == "gender-tiny" and cfg.batch_size == 8
    assert cfg.image_size == 100 and cfg.seed == 0            # untouched keys keep the defaults
    assert cfg.augment.rotation == 5.0 and cfg.augment.shift == 0.2  # a partial [augment] merges
    assert cfg.augment.zoom == (1.0, 1.1)
    assert cfg.phases == [Phase("warm", 2, 0.01), Phase("fine", 3, 0.0001)]


@pytest.mark.parametrize("text, message", [
    ("batch_sise = 8\n", "unknown setting 'batch_sise'"),
    ("[augment]\nrotate = 3\n", "c.toml.augment: unknown setting 'rotate'"),
    ("[[phases]]\nepochs = 2\nfreeze = true\n", "c.toml.phases: unknown setting 'freeze'"),
    ("batch_size = = 3\n", "not valid TOML"),
])
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(TrivisionError, match=message):
        load_config(path, _defaults())


def test_missing_config_file(tmp_path):
    with pytest.raises(TrivisionError, match="config file not found"):
        load_config(tmp_path / "none.toml", _defaults())


def test_set_overrides():
    cfg = apply_overrides(_defaults(), ["augment.rotation=10", "batch_size=16", "schedule=constant",
                                        "augment.hflip=false", "augment.zoom=[0.9, 1.3]"])
    assert cfg.augment.rotation == 10 and cfg.batch_size == 16 and cfg.schedule == "constant"
    assert cfg.augment.hflip is False and cfg.augment.zoom == (0.9, 1.3)
    cfg = apply_overrides(cfg, ['phases=[{name="a", epochs=1}, {name="b", epochs=2, lr=0.5}]'])
    assert cfg.phases == [Phase("a", 1, 1e-3), Phase("b", 2, 0.5)]
    assert cfg.augment.rotation == 10  # earlier overrides survive


@pytest.mark.parametrize("pair, message", [
    ("augment.rotations=10", "--set augment.rotations: unknown setting"),
    ("epochz=3", "--set epochz: unknown setting"),
    ("seed.x=1", "'seed' is not a group of settings"),
    ("rotation", "--set expects key=value, got 'rotation'"),
    ('phases=[{name="a", epoch=1}]', "--set.phases: unknown setting 'epoch'"),
])
def test_bad_overrides(pair, message):
    with pytest.raises(TrivisionError, match=message):
        apply_overrides(_defaults(), [pair])


def test_save_then_load_round_trip(tmp_path):
    cfg = apply_overrides(_defaults(), ["augment.zoom=[1.0, 1.5]", "seed=3", 'phases=[{epochs=1}, {epochs=2}]'])
    save_config(cfg, tmp_path / "config.toml")
    again = load_config(tmp_path / "config.toml", TrainConfig())
    assert to_dict(again) == to_dict(cfg)
    assert again.augment.zoom == (1.0, 1.5)


CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_files_load(path):
    """Every recipe in configs/ loads over its task's defaults (a typo in one is an error, not a surprise)."""
    task = "colorize" if path.name.startswith("colorize") else "gender"
    cfg = load_config(path, get_task(task).default_config())
    assert cfg.phases and all(p.epochs > 0 and p.lr > 0 for p in cfg.phases)


def _recipe(name: str) -> dict:
    return to_dict(load_config(CONFIG_DIR / name, _defaults()))


def test_erasing_recipe_is_gender_fast_with_erasing_and_twice_the_epochs():
    fast, erasing = _recipe("gender-fast.toml"), _recipe("gender-erasing.toml")
    assert erasing["augment"].pop("erasing") == 0.5 and erasing.pop("keep") == "last"
    assert erasing["phases"][0].pop("epochs") == 2 * fast["phases"][0].pop("epochs")
    fast["augment"].pop("erasing"), fast.pop("keep")
    assert erasing == fast


def test_balanced_recipe_is_the_erasing_recipe_with_a_balanced_loss_and_60_epochs():
    erasing, balanced = _recipe("gender-erasing.toml"), _recipe("gender-balanced.toml")
    assert balanced.pop("class_weight") == "balanced" and erasing.pop("class_weight") == "none"
    assert balanced["phases"][0].pop("epochs") == 60 and erasing["phases"][0].pop("epochs") == 40
    assert balanced == erasing


def test_tiny_balanced_recipe_is_the_shipped_tiny_recipe_with_a_balanced_loss():
    lab_size, tiny = _recipe("gender-lab-size.toml"), _recipe("gender-tiny-balanced.toml")
    assert tiny.pop("class_weight") == "balanced" and lab_size.pop("class_weight") == "none"
    assert (tiny.pop("model"), tiny.pop("keep"), tiny["phases"][0].pop("epochs")) == ("gender-tiny", "last", 32)
    lab_size.pop("model"), lab_size.pop("keep"), lab_size["phases"][0].pop("epochs")
    assert tiny == lab_size


def test_tiny_distilled_recipe_is_the_shipped_tiny_recipe_taught_in_bfloat16():
    lab_size, tiny = _recipe("gender-lab-size.toml"), _recipe("gender-tiny-distilled.toml")
    assert (tiny.pop("teacher"), tiny.pop("distill"), tiny.pop("distill_temperature")) == (
        "runs/gender-teacher-balanced", 0.8, 2.0)
    assert tiny.pop("precision") == "bf16" and lab_size.pop("precision") == "fp32"
    assert (tiny.pop("model"), tiny.pop("keep"), tiny["phases"][0].pop("epochs")) == ("gender-tiny", "last", 32)
    for key in ("teacher", "distill", "distill_temperature", "model", "keep"):
        lab_size.pop(key)
    lab_size["phases"][0].pop("epochs")
    assert tiny == lab_size


@pytest.mark.parametrize("setting, says", [("erasing = 1.5", "augment.erasing"), ("zoom = [1.2, 1.0]", "augment.zoom"),
                                           ("crop = -4", "augment.crop"), ("mixup = -1.0", "augment.mixup")])
def test_bad_augment_values_fail_when_the_config_is_read(tmp_path, setting, says):
    path = tmp_path / "c.toml"
    path.write_text(f"[augment]\n{setting}\n")
    with pytest.raises(TrivisionError, match=says):
        load_config(path, _defaults())
    key, value = (part.strip() for part in setting.split("="))
    with pytest.raises(TrivisionError, match=says):
        apply_overrides(_defaults(), [f"augment.{key}={value}"])
