"""Every speed benchmark in one command (`make bench`): prints the tables and writes bench/RESULTS.md.

    python bench/suite.py [--quick] [--output FILE] [--threads N] [--rounds N] [--only NAME ...]
                          [--models gender-cnn gender-tiny]

Runs, each in its own process, from bench/:
- train_speed.py: gender-cnn and gender-tiny, trivision and the lab's Keras, --rounds times each, the runs
  of the two frameworks interleaved (and their order swapped every round) so that noise on the machine
  hits both; each figure is the median of the rounds, each round's the median of the script's repeats.
  The ratio trivision / Keras of training images/s is checked against the targets (gender-cnn at least
  2x, gender-tiny at least 3x);
- flops.py (how close those speeds come to this CPU's fp32 limit) and profile_train.py (where a training
  step's time goes), per model;
- inference_speed.py, cars_speed.py, colorize_speed.py and allocator.py, which take their own medians.
A script that is missing or fails is reported in one line and the rest go on; the exit status is then 1.
--quick runs every benchmark at smoke-test sizes, one round (a test uses it); its figures mean nothing.
RESULTS.md holds the machine (CPU, cores), date, versions, the command, the wall time and every table.
The last stdout line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from trivision.engine.report import cpu_info

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MODELS = ("gender-cnn", "gender-tiny")
FRAMEWORKS = ("trivision", "keras")
TARGET_RATIO = {"gender-cnn": 2.0, "gender-tiny": 3.0}  # trivision / Keras training images/s, from the issue
BENCHMARKS = ("train_speed", "flops", "profile_train", "inference_speed", "eval_batch", "cars_speed",
              "colorize_speed", "allocator")
PACKAGES = ("torch", "torchvision", "onnxruntime", "onnx", "kornia", "opencv-python-headless", "numpy",
            "tensorflow", "tensorflow-cpu", "keras")
# smoke-test sizes for --quick: enough to run every code path once
QUICK = {
    "train_speed": ["--images", "64", "--batch-size", "32", "--repeats", "1", "--warmup-steps", "1"],
    "flops": ["--matmul-size", "256", "--matmul-repeats", "2"],
    "profile_train": ["--images", "64", "--batch-size", "32", "--steps", "2", "--warmup-steps", "1"],
    "inference_speed": ["--models", "gender-tiny", "--runs", "20", "--warmup", "2", "--batch", "8",
                        "--batch-runs", "2"],
    "eval_batch": ["--models", "gender-tiny", "--images", "8", "--batches", "8", "32", "--rounds", "1"],
    "cars_speed": ["--model", "bcnn-lowdim", "--images", "8", "--image-size", "64", "--batch-size", "4",
                   "--epochs", "2", "--steps", "1"],
    "colorize_speed": ["--images", "8", "--image-size", "64", "--batch-size", "4", "--steps", "1", "--epochs", "2",
                       "--repeats", "1"],
    "allocator": ["--workloads", "gender-tiny", "--image-sizes", "32", "--batch-size", "4", "--epochs", "2",
                  "--steps", "1"],
}


@dataclass
class Outcome:
    command: str
    seconds: float = 0.0
    text: str = ""              # what the script printed for people (its stdout without the JSON line)
    result: dict | list | None = None
    error: str = ""             # one line when the script is missing or failed


def run_bench(name: str, args: list[str]) -> Outcome:
    script = BENCH / f"{name}.py"
    outcome = Outcome(shlex.join(["python", f"bench/{name}.py", *args]))
    if not script.exists():
        outcome.error = f"bench/{name}.py is not there yet: not measured"
        return outcome
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO)
    outcome.seconds = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or [f"exit status {done.returncode}"]
        outcome.error = f"failed: {last[0].strip()}"
        return outcome
    outcome.text, outcome.result = "\n".join(lines[:-1]), json.loads(lines[-1])
    return outcome


def training_speeds(args, extra: list[str]) -> tuple[dict, list[str]]:
    """{(model, framework): {"train": median img/s, "eval": ..., "rounds": [...]} or {"error": ...}}, and the commands."""
    runs: dict[tuple[str, str], list[dict]] = {(m, f): [] for m in args.models for f in FRAMEWORKS}
    errors: dict[tuple[str, str], str] = {}
    commands = []
    for round_ in range(args.rounds):
        for model in args.models:
            for framework in (FRAMEWORKS if round_ % 2 == 0 else FRAMEWORKS[::-1]):
                if (model, framework) in errors:  # it failed once: it would fail again
                    continue
                outcome = run_bench("train_speed", ["--model", model, "--framework", framework, *extra])
                print(f"  train_speed {model} {framework}, round {round_ + 1}/{args.rounds}: "
                      f"{outcome.error or str(outcome.result['train_img_per_s']) + ' img/s'}", flush=True)
                if round_ == 0:
                    commands.append(outcome.command)
                if outcome.error:
                    errors[(model, framework)] = outcome.error
                else:
                    runs[(model, framework)].append(outcome.result)
    speeds = {}
    for key, results in runs.items():
        if key in errors:
            speeds[key] = {"error": errors[key]}
        else:
            speeds[key] = {"train": statistics.median(r["train_img_per_s"] for r in results),
                           "eval": statistics.median(r["eval_img_per_s"] for r in results),
                           "train_rounds": [r["train_img_per_s"] for r in results],
                           "images": results[0]["images"], "threads": results[0]["threads"],
                           "params": results[0]["params"]}
    return speeds, commands


def ratio_lines(speeds: dict, models: list[str]) -> tuple[list[str], list[dict]]:
    lines, ratios = [], []
    for model in models:
        target = TARGET_RATIO[model]
        ours, theirs = speeds[(model, "trivision")], speeds[(model, "keras")]
        if "error" in ours or "error" in theirs:
            why = ours.get("error") or theirs.get("error")
            lines.append(f"- {model}: trivision / Keras training img/s: not measured ({why}); target >= {target:g}x")
            ratios.append({"model": model, "target": target, "ratio": None, "met": None})
            continue
        ratio = ours["train"] / theirs["train"]
        met = ratio >= target
        lines.append(f"- {model}: trivision / Keras training img/s = {ours['train']:.1f} / {theirs['train']:.1f} = "
                     f"{ratio:.2f}x; target >= {target:g}x: {'met' if met else 'MISSED'}")
        ratios.append({"model": model, "target": target, "ratio": ratio, "met": met})
    return lines, ratios


def ceiling_lines(speeds: dict, flops_results: list[dict]) -> list[str]:
    """The most any implementation of the same FLOPs and precision could train at, against Keras' speed."""
    lines = []
    for r in flops_results:
        keras = speeds.get((r["model"], "keras"), {})
        if r["framework"] != "trivision" or "train" not in keras:
            continue
        best, target = r["train_img_per_s_at_ceiling"], TARGET_RATIO[r["model"]]
        lines.append(f"- {r['model']}: at 100% of the ceiling ({r['ceiling_gflops']:.1f} GFLOP/s, "
                     f"{r['train_flops_per_image'] / 1e6:.1f} MFLOP per training image) training would reach "
                     f"{best:.1f} img/s = {best / keras['train']:.2f}x Keras' {keras['train']:.1f}; the {target:g}x target "
                     f"needs {100 * target * keras['train'] / best:.0f}% of the ceiling (trivision reaches "
                     f"{100 * r['train_fraction_of_ceiling']:.1f}%)")
    return lines


def training_table(speeds: dict, rounds: int) -> str:
    rows = [f"| model | framework | train img/s (median of {rounds}) | each round | eval img/s | images | threads |",
            "|---|---|---:|---|---:|---:|---:|"]
    for (model, framework), s in speeds.items():
        if "error" in s:
            rows.append(f"| {model} | {framework} | {s['error']} | | | | |")
        else:
            rows.append(f"| {model} | {framework} | {s['train']:.1f} | {', '.join(f'{v:.1f}' for v in s['train_rounds'])}"
                        f" | {s['eval']:.1f} | {s['images']} | {s['threads']} |")
    return "\n".join(rows)


def machine() -> dict:
    cpu = cpu_info()[0]
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "system": platform.platform(), "versions": versions}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke-test sizes, one round (figures mean nothing)")
    p.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default bench/RESULTS.md")
    p.add_argument("--threads", type=int, help="threads for every benchmark (default: each script's own)")
    p.add_argument("--rounds", type=int, help="train_speed runs per model and framework (default 3; --quick 1)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), help="run only these")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                   help="gender models of train_speed, flops and profile_train (default: both)")
    args = p.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    started, when = time.perf_counter(), datetime.now()

    def sizes(name: str) -> list[str]:
        return QUICK[name] if args.quick else []

    def options(name: str) -> list[str]:
        return sizes(name) + (["--threads", str(args.threads)] if args.threads else [])

    sections: list[tuple[str, str]] = []  # (title, markdown)
    summary: dict = {"failed": []}
    speeds = {}
    if "train_speed" in args.only:
        print("training speed (gender), trivision against Keras:", flush=True)
        speeds, commands = training_speeds(args, options("train_speed"))
        lines, summary["ratios"] = ratio_lines(speeds, args.models)
        summary["training"] = [{"model": m, "framework": f, **s} for (m, f), s in speeds.items()]
        summary["failed"] += [f"train_speed {m} {f}: {s['error']}" for (m, f), s in speeds.items() if "error" in s]
        sections.append(("Training speed: trivision against the lab's Keras (gender)",
                         "\n".join(f"`{c}`" for c in commands) + "\n\n" + training_table(speeds, args.rounds)
                         + "\n\n" + "\n".join(lines)))
    for model in args.models if "flops" in args.only else ():
        measured = [f for f in FRAMEWORKS if "train" in speeds.get((model, f), {})]
        # the speeds just measured, or (without them) flops.py measures trivision's itself
        given = [["--framework", f, "--train-img-per-s", str(speeds[(model, f)]["train"]),
                  "--eval-img-per-s", str(speeds[(model, f)]["eval"])] for f in measured]
        for extra in given or [["--framework", "trivision", *sizes("train_speed")]]:
            sections.append(section(f"FLOPs: how close {model} training on {extra[1]} comes to this CPU's fp32 limit",
                                    "flops", run_bench("flops", ["--model", model, *extra, *options("flops")]), summary))
    bounds = ceiling_lines(speeds, summary.get("flops", []))
    if bounds:
        sections.append(("What the fp32 ceiling allows", "\n".join(bounds)))
    for model in args.models if "profile_train" in args.only else ():
        sections.append(section(f"Where a {model} training step's time goes", "profile_train",
                                run_bench("profile_train", ["--model", model, *options("profile_train")]), summary))
    for name, title in (("inference_speed", "Inference: latency and throughput of the shipped models"),
                        ("eval_batch", "Evaluation throughput against the batch size (engine/batching.py)"),
                        ("cars_speed", "Cars: cached frozen-backbone features, bcnn against bcnn-lowdim"),
                        ("colorize_speed", "Colorize: training images/s and time per photo"),
                        ("allocator", "Training steps under each CPU allocator policy (engine/allocator.py)")):
        if name in args.only:
            sections.append(section(title, name, run_bench(name, options(name)), summary))

    wall = time.perf_counter() - started
    info = machine()
    command = shlex.join(["python", "bench/suite.py", *sys.argv[1:]])
    header = [f"# Speed benchmarks{' (--quick: smoke-test sizes, the figures mean nothing)' if args.quick else ''}",
              "", f"- machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); {info['system']}",
              f"- date: {when:%Y-%m-%d %H:%M}", "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
              f"- command: `{command}` (`make bench`)", f"- wall time: {wall / 60:.1f} min"]
    if summary["failed"]:
        header.append("- not measured: " + "; ".join(summary["failed"]))
    text = "\n".join(header) + "\n" + "".join(f"\n## {title}\n\n{body}\n" for title, body in sections)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"\nwritten: {args.output} ({wall / 60:.1f} min)")
    print(json.dumps({"output": str(args.output), "wall_seconds": round(wall, 1), "machine": info,
                      "command": command, **summary}))
    return 1 if summary["failed"] else 0


def section(title: str, name: str, outcome: Outcome, summary: dict) -> tuple[str, str]:
    """One benchmark's markdown (its command, then its tables or the line saying why there are none); printed too."""
    took = f" ({outcome.seconds:.0f} s)" if outcome.seconds else ""
    body = f"`{outcome.command}`{took}\n\n" + (outcome.error or outcome.text)
    print(f"\n## {title}\n\n{body}", flush=True)
    if outcome.error:
        summary["failed"].append(f"{name}: {outcome.error}")
    else:
        summary.setdefault(name, []).append(outcome.result)
    return title, body


if __name__ == "__main__":
    sys.exit(main())
