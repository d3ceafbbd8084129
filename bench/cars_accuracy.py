"""Cars accuracy from training run folders, against the targets.

    python bench/cars_accuracy.py RUN [RUN ...] [--model NAME]

Each RUN is a folder written by `trivision train cars`: its saved test split is evaluated with its weights
(as `trivision evaluate cars --run RUN`), with the test-time augmentation that scores best on the run's
validation split (as scripts/ship_cars.py ships it; the top-1 without it is shown too). The accuracy after the frozen phase is the run's own record
(results.md: the test accuracy of the weights at the end of that phase). Training minutes are the
run's epochs; for a run started from others (`--init`, followed back), "whole recipe" adds their minutes too,
marked "+" where the chain starts from shipped weights (whose training is not counted).
Reproduce the shipped runs with the commands in the model cards (src/trivision/weights/cars-*.md).
`--model NAME` scores that model (a shipped name or weights file: e.g. the ensemble `cars-bcnn-196`, whose members
trained on RUN's split) on each RUN's splits instead of the run's own weights; the run's training record is then
not the model's, and its columns stay empty.
Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from trivision.engine.report import read_history, read_results, training_seconds
from trivision.engine.warm_start import init_chain
from trivision.evaluate import choose_tta, evaluate
from trivision.inference import load_model
import common  # bench/common.py

TARGETS = {20: 0.90, 196: 0.80}       # top-1, by number of classes
LAB = {20: (0.7768, 0.4694)}          # the lab's 20-class VGG16 B-CNN: final, after the frozen phase
RECIPE_MINUTES = {20: 30}             # the whole 20-class recipe on this 2-core machine


def minutes(run: Path) -> float:
    return training_seconds(read_history(run / "history.csv")) / 60


def row(run: Path, model: str | None = None) -> dict:
    cfg = tomllib.loads((run / "config.toml").read_text())
    tta, _ = choose_tta("cars", str(run), model=model)
    r = evaluate("cars", run=str(run), model=model, tta=tta)
    plain = r if tta == "none" else evaluate("cars", run=str(run), model=model, tta="none")
    n_classes = len(load_model(model or str(run)).classes)
    target, lab = TARGETS.get(n_classes), LAB.get(n_classes, (None, None))
    scores = {"n": r["n"], "tta": tta, "top1": r["top1"], "top1_no_tta": plain["top1"], "top5": r["top5"],
              "target": target, "lab": lab[0], "lab_frozen": lab[1],
              "meets_target": None if target is None else r["top1"] >= target}
    if model:
        return {"run": f"{model} on {run}'s split", "model": r["model"], "backbone": None, "classes": n_classes,
                "init": None, "started_from": "", "image_size": load_model(model).image_size, **scores,
                "frozen_top1": None, "train_minutes": None, "whole_recipe_minutes": None, "whole_recipe_from": None,
                "meets_recipe_minutes": None}
    own = minutes(run)
    earlier, shipped_start = init_chain(cfg)
    whole = own + sum(minutes(r) for r in earlier)
    limit = RECIPE_MINUTES.get(n_classes)
    return {"run": str(run), "model": cfg["model"], "backbone": cfg["backbone"], "classes": n_classes,
            "init": cfg.get("init") or None,
            "started_from": cfg.get("init") or ("ImageNet" if cfg.get("pretrained", True) else "random weights"),
            "image_size": cfg["image_size"], **scores,
            "frozen_top1": read_results(run / "results.md").get("frozen", {}).get("test_acc"),
            "train_minutes": round(own, 1), "whole_recipe_minutes": round(whole, 1),
            "whole_recipe_from": shipped_start or None,
            "meets_recipe_minutes": None if limit is None or shipped_start else whole <= limit}


def pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.2f}%"


def cells(r: dict) -> list:
    lab = "" if r["lab"] is None else f"{pct(r['lab'])} ({pct(r['lab_frozen'])} frozen)"
    return [r["run"], r["classes"], r["started_from"], r["n"], r["tta"], pct(r["top1"]), pct(r["top1_no_tta"]),
            pct(r["top5"]), pct(r["frozen_top1"]),
            "" if r["train_minutes"] is None else r["train_minutes"],
            "" if r["whole_recipe_minutes"] is None else f"{r['whole_recipe_minutes']}{' +' if r['whole_recipe_from'] else ''}",
            common.target_cell(r["target"], r["meets_target"], 0), lab]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--model", help="score this model (shipped name or weights file) on each RUN's splits")
    args = p.parse_args()
    rows = [row(Path(run), args.model) for run in args.runs]
    common.print_report(rows, ["run", "classes", "started from", "test n", "tta (val)", "top-1", "top-1 no tta",
                               "top-5", "after frozen", "train min", "whole recipe min", "target", "lab"],
                        "lrlrlrrrrrrrr", cells)
    return 0


if __name__ == "__main__":
    common.run(main)
