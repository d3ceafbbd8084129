"""scripts/shipping.py: the chain of training commands behind a shipped model, from the shipped start; the
machines it trained on."""
from __future__ import annotations

import shlex
import sys

from conftest import REPO, task_config

from trivision.config import TrainConfig, save_config, to_dict
from trivision.tasks.colorize import ColorizeTask

sys.path.insert(0, str(REPO / "scripts"))
import ship_colorize
from shipping import set_card_section, trained_on, training_chain


def _colorize(**changes) -> TrainConfig:
    return task_config(ColorizeTask(), **changes)


def test_a_chain_of_runs_lists_every_command_from_the_shipped_start(tmp_path):
    first, last = tmp_path / "cars", tmp_path / "imagenet"
    for run, cfg in ((first, _colorize(data="cars", init="colorize-koala")), (last, _colorize(data="imagenet", init=str(first)))):
        run.mkdir()
        save_config(cfg, run / "config.toml")
    commands, start = training_chain(to_dict(_colorize(data="imagenet", init=str(first))), last,
                                     ship_colorize.train_command)
    *earlier, show, cars, imagenet = commands
    assert earlier and all(c.startswith("trivision train colorize") for c in earlier)  # the shipped card's
    assert show.startswith("git show ") and show.endswith("src/trivision/weights/colorize-koala.safetensors > "
                                                          + show.split(" > ")[1])
    frozen = show.split(" > ")[1]
    assert f"--init {frozen} " in cars and cars.endswith(f"--output-dir {first}")
    assert f"--init {first} " in imagenet and imagenet.endswith(f"--output-dir {last}")
    assert shlex.split(cars)[shlex.split(cars).index("--data") + 1] == "cars"
    assert "learn from cars, imagenet" in start and "colorize-koala" in start


def test_a_card_names_the_machine_once_or_each_runs(tmp_path):
    a, b, old = tmp_path / "a", tmp_path / "b", tmp_path / "old"
    for run, text in ((a, "2 cores of CPU A\n"), (b, "2 cores of CPU A\n"), (old, None)):
        run.mkdir()
        if text:
            (run / "machine.txt").write_text(text)
    assert trained_on([a, b]) == "2 cores of CPU A"
    (b / "machine.txt").write_text("2 cores of CPU A\n16 cores of CPU B\n")  # resumed elsewhere
    assert trained_on([a, b]) == f"{a}: 2 cores of CPU A; {b}: 2 cores of CPU A then 16 cores of CPU B"
    assert "not recorded" in trained_on([old])


def test_a_card_section_is_replaced_in_place_and_the_others_stay(tmp_path):
    card = tmp_path / "m.md"
    card.write_text("# m\n\nThe card.\n\n## Decision bias\n\nold bias\n\n## Test size\n\nold size\n### a sub-heading\n")
    set_card_section(card, "\n## Decision bias\n\nnew bias\n")
    assert card.read_text() == "# m\n\nThe card.\n\n## Test size\n\nold size\n### a sub-heading\n\n## Decision bias\n\nnew bias\n"
    set_card_section(card, "\n## Test size\n\nnew size\n")
    assert card.read_text() == "# m\n\nThe card.\n\n## Decision bias\n\nnew bias\n\n## Test size\n\nnew size\n"
