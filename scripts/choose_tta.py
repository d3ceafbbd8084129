"""Choose the test-time augmentation of shipped weights on the validation split they were trained with,
write the choice into the weights and the measurement into the model card.

    python scripts/choose_tta.py NAME RUN [--recipe RUN2 ...]

For weights shipped before the choice existed (the ship scripts now make it). RUN is any run folder that
saved the split NAME was trained on: the same dataset, classes, protocol, seed and fractions; a seeded
split is the same in every run with those settings (e.g. `trivision split TASK` with the card's data,
classes, seed and fractions). That is checked against the weights' metadata. The test split is read only to report the chosen setting's score
beside the other's, after the choice.

Weights from a run with no validation split (the lab's 80/20 protocol) have nothing of their own to choose on:
`--recipe RUN2 ...` names runs of the same recipe that have one (e.g. its identity-split runs), and the choice
is the setting with the best mean score over their validation splits, each scored with its own weights.
"""
from __future__ import annotations

import sys
import tomllib
from datetime import date
from pathlib import Path

from trivision.config import TrainConfig
from trivision.data.splits import read_split, shares
from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError
from trivision.evaluate import SCORE, choose_tta, evaluate
from trivision.inference import TEST_TIME
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks import get_task, run_rows
from shipping import trailing_list, write_choice  # scripts/shipping.py

SECTION = "\n## Test-time augmentation\n"
DEFAULT = TrainConfig()  # weights written before they recorded their split fractions used the defaults


def split_settings(meta: dict) -> dict:
    """The settings that made the split the weights were trained with."""
    return {"split": meta["split"], "seed": meta["seed"], "split_from": meta.get("split_from", ""),
            "val_fraction": meta.get("val_fraction", DEFAULT.val_fraction),
            "test_fraction": meta.get("test_fraction", DEFAULT.test_fraction)}


def check_same_split(meta: dict, run: Path) -> None:
    """Refuse a run whose saved split is not the one the weights were trained with."""
    cfg = tomllib.loads((run / "config.toml").read_text())
    want = split_settings(meta)
    got = {k: cfg.get(k, "") for k in want}
    if got != want:
        raise TrivisionError(f"{run}: its split settings {got} are not those of the weights {want}")
    task = get_task(meta["task"])
    classes = task.classes(run_rows(task, cfg["data"], cfg.get("classes", "")))
    if classes != (meta.get("split_classes") or meta["classes"]) or cfg.get("limit"):  # a subset: its source's
        raise TrivisionError(f"{run}: not the weights' dataset rows (another class list, or --limit)")


def choose_on_recipe(meta: dict, runs: list[str]) -> tuple[str, dict[str, float], dict[str, dict[str, float]]]:
    """The setting with the best mean validation score over runs of the weights' recipe, each with its own
    weights: (choice, mean score per setting, score per run and setting)."""
    per_run = {}
    for run in runs:
        _, theirs = load_weights(Path(run) / "model.safetensors")
        differs = [k for k in ("task", "model", "image_size", "frame_crop", "classes") if theirs.get(k) != meta.get(k)]
        if differs:
            raise TrivisionError(f"{run}: not a run of these weights' recipe (another {', '.join(differs)})")
        _, val = choose_tta(meta["task"], run)
        if not val:
            raise TrivisionError(f"{run}: no validation split to choose on")
        per_run[run] = val
    mean = {t: sum(v[t] for v in per_run.values()) / len(per_run) for t in TEST_TIME}
    return max(TEST_TIME, key=lambda t: (mean[t], t == "none")), mean, per_run


def main(name: str, run: str, recipe: list[str] | tuple = ()) -> None:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    state, meta = load_weights(path)
    check_same_split(meta, Path(run))
    task, key = meta["task"], SCORE[meta["task"]]
    if recipe:
        tta, val, per_run = choose_on_recipe(meta, list(recipe))
    else:
        (tta, val), per_run = choose_tta(task, run, model=str(path)), {}
    if not val:
        raise TrivisionError(f"{run}: no validation split to choose on (name runs of the same recipe with --recipe)")
    test = {t: evaluate(task, run=run, model=str(path), tta=t, framing="as-is") for t in TEST_TIME}
    rows = "\n".join(f"| {t}{' (shipped)' if t == tta else ''} | "
                     + "".join(f"{100 * v[t]:.2f}% | " for v in per_run.values())
                     + f"{100 * val[t]:.2f}% | {100 * test[t][key]:.2f}% |" for t in TEST_TIME)
    settings = split_settings(meta)
    fractions = shares(settings["val_fraction"], settings["test_fraction"], short=True)
    if recipe:
        chosen_on = (f"Chosen on the validation splits of {len(recipe)} other run{'s' * (len(recipe) > 1)} of this recipe (this model's own "
                     f"split, {fractions}, has none to choose on),\neach scored with its own weights, by the mean "
                     f"(`python scripts/choose_tta.py {name} RUN --recipe {' '.join(recipe)}`; {date.today()}):")
        header = "".join(f" `{r}` validation {key} |" for r in recipe) + f" mean validation {key} |"
    else:
        n_val = list(read_split(Path(run) / "split.csv").values()).count("val")  # the run's rows only (checked)
        chosen_on = (f"Chosen on the {n_val} validation images (`python scripts/choose_tta.py {name} RUN`, RUN a\n"
                     f"run folder that saved this model's split: {meta['split']} split, seed {meta['seed']}, "
                     f"{fractions}; {date.today()}):")
        header = f" validation {key} |"
    section = (f"{SECTION}\n{chosen_on}\n`hflip` is the mean of a photo's and its mirror\n"
               f"image's class probabilities, at twice the inference. The weights carry `tta = {tta}`;\n"
               "`--tta none|hflip` overrides. The test column was read after the choice.\n\n"
               f"| test-time augmentation |{header} test {key} ({test[tta]['n']} images) |\n"
               f"|---|{'---:|' * (header.count('|') + 1)}\n{rows}\n")
    write_choice(path, state, meta, {"tta": tta}, section)
    print(f"{name}: tta = {tta} (validation {', '.join(f'{t} {v:.4f}' for t, v in val.items())})")


if __name__ == "__main__":
    args, recipe_runs = trailing_list(sys.argv[1:], "--recipe")
    if len(args) != 2 or recipe_runs == []:
        sys.exit(__doc__)
    try:
        main(*args, recipe_runs or ())
    except TrivisionError as e:
        sys.exit(f"error: {e}")
