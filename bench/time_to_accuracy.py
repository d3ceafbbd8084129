"""How long until the gender model is good on this machine: test accuracy against wall time.

    python bench/time_to_accuracy.py [--data DIR] [--recipe configs/gender-fast.toml] [--threads N]
                                     [--output-dir DIR] [--skip-lab]

Two recipes train one after the other on the lab's image-split protocol (seed 0: the same 20% test split):
- fast: the recipe file (default configs/gender-fast.toml);
- lab: the lab's recipe (gender-cnn at 100x100 on the whole LFW frame, the lab's augmentation, Adam at 1e-3
  without a schedule, 75 epochs), stopped by `time_limit` at the end of the epoch that passes the fast
  recipe's training time: what the lab's recipe gives in the same time.
For each: validation accuracy after every epoch against training minutes (history.csv), and the test
accuracy of the best checkpoint on the untouched test split, with the wall time of the whole `trivision
train` command (decoding, training, testing). Target: the fast recipe at >= 97.0% test accuracy within
10 minutes. Prints tables; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from trivision.engine.report import read_history
from trivision.errors import TrivisionError
import common  # bench/common.py

TARGET_ACCURACY, TARGET_MINUTES = 0.970, 10.0
LAB_RECIPE = ["--model", "gender-cnn", "--image-size", "100", "--epochs", "75", "--lr", "0.001",
              "--set", "schedule=constant"]


def train(name: str, args, extra: list[str]) -> dict:
    run = Path(args.output_dir) / name
    command = [sys.executable, "-m", "trivision", "train", "gender", "--data", args.data, "--split", "image",
               "--seed", "0", "--threads", str(args.threads), "--output-dir", str(run), *extra]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise TrivisionError(f"{name}: training failed (exit {done.returncode})")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    history = read_history(run / "history.csv")
    elapsed, curve = 0.0, []
    for r in history:
        elapsed += float(r["seconds"])
        curve.append((elapsed / 60, float(r["val_acc"])))
    return {"recipe": name, "run": str(run), "epochs": len(history), "train_minutes": elapsed / 60,
            "wall_minutes": wall / 60, "test_accuracy": summary["test"]["accuracy"], "curve": curve}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/lfw-gender")
    p.add_argument("--recipe", default="configs/gender-fast.toml")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output-dir", default="runs/time-to-accuracy")
    p.add_argument("--skip-lab", action="store_true", help="only the fast recipe")
    args = p.parse_args()
    if not (Path(args.data) / "labels.csv").exists():
        raise TrivisionError(f"{args.data}: no labels.csv (this benchmark needs LFW gender; see the README)")
    if Path(args.output_dir).exists():
        raise TrivisionError(f"{args.output_dir} exists: pass another --output-dir or remove it")
    results = [train("fast", args, ["--config", args.recipe])]
    if not args.skip_lab:
        limit = results[0]["train_minutes"]
        results.append(train("lab", args, LAB_RECIPE + ["--set", f"time_limit={limit:.3f}"]))

    print("\n| recipe | epochs | training min | wall min | test accuracy |\n|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['recipe']} | {r['epochs']} | {r['train_minutes']:.1f} | {r['wall_minutes']:.1f} "
              f"| {100 * r['test_accuracy']:.2f}% |")
    print("\nvalidation accuracy against training minutes:")
    for r in results:
        print(f"- {r['recipe']}: " + ", ".join(f"{m:.1f} min {100 * a:.1f}%" for m, a in r["curve"]))
    fast = results[0]
    met = fast["test_accuracy"] >= TARGET_ACCURACY and fast["wall_minutes"] <= TARGET_MINUTES
    print(f"\ntarget (>= {100 * TARGET_ACCURACY:.1f}% test accuracy within {TARGET_MINUTES:g} min wall): "
          f"{'met' if met else 'MISSED'} ({100 * fast['test_accuracy']:.2f}% in {fast['wall_minutes']:.1f} min)")
    print(json.dumps({"results": results, "target_met": met, "threads": args.threads}))
    return 0


if __name__ == "__main__":
    common.run(main)
