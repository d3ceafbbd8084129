"""Gender accuracy under both split protocols, from training run folders, against the targets.

    python bench/gender_accuracy.py RUN [RUN ...]

Each RUN is a folder written by `trivision train gender` (its saved test split is evaluated with its
weights, photos as they are, as in training). Reproduce the shipped runs with the commands in the
model cards (src/trivision/weights/gender-*.md). Prints a table; the last line is JSON.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from trivision.data.splits import shares
from trivision.engine.report import read_history, training_seconds
from trivision.evaluate import evaluate
import common  # bench/common.py

TARGETS = {("gender-cnn", "image"): 0.980, ("gender-tiny", "image"): 0.975}
LAB = {"gender-cnn": 0.9792, "gender-tiny": 0.9780}


def cells(r: dict) -> list:
    lab = "" if r["lab"] is None else f"{100 * r['lab']:.2f}%"  # gender-mobilenet is not a lab model
    return ([r["model"], r["split"], f"{r['fractions']} ({r['kept']})", r["epochs"], r["train_minutes"], r["n"]]
            + [f"{100 * r[k]:.2f}%" for k in ("accuracy", "balanced_accuracy", "recall_female", "recall_male")]
            + [common.target_cell(r["target"], r["meets_target"]), lab])


def main() -> int:
    rows = []
    for run in common.run_folders(__doc__):
        cfg = tomllib.loads((Path(run) / "config.toml").read_text())
        history = read_history(Path(run) / "history.csv")
        seconds = training_seconds(history)
        r = evaluate("gender", run=run, framing="as-is")
        target = TARGETS.get((cfg["model"], cfg["split"]))
        rows.append({"run": run, "model": cfg["model"], "split": cfg["split"], "epochs": len(history),
                     "fractions": shares(cfg["val_fraction"], cfg["test_fraction"], short=True), "kept": cfg.get("keep", "best"),
                     "train_minutes": round(seconds / 60, 1), "n": r["n"], "accuracy": r["accuracy"],
                     "balanced_accuracy": r["balanced_accuracy"], "recall_female": r["recall_female"],
                     "recall_male": r["recall_male"], "target": target, "lab": LAB.get(cfg["model"]),
                     "meets_target": None if target is None else r["accuracy"] >= target})
    common.print_report(rows, ["model", "split", "train/val/test % (kept)", "epochs", "train min", "test n", "accuracy", "balanced",
                               "recall F", "recall M", "target", "lab"], "lllrrrrrrrrr", cells)
    return 0


if __name__ == "__main__":
    common.run(main)
