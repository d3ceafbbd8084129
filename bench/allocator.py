"""Training speed and peak memory under each CPU allocator policy (`cpu_allocator`: retain or system).

    python bench/allocator.py [--workloads NAME ...] [--epochs E] [--steps N] [--threads N]
                              [--image-sizes S ...] [--batch-size B]

Each workload is trained by the engine itself (`trivision.engine.fit.fit`, the lab's augmentation for the
classifiers, the task's own for colorize) on random pixels (the time does not depend on what they show), in a
fresh process per allocator, so that each row's peak resident memory (Linux's VmHWM) is its own and glibc
starts as a new process finds it. Backbones start from random weights, which cost what ImageNet's do.
A step's time is the median over epochs 2..E of epoch seconds / --steps: glibc's own mmap threshold grows
during the first steps of the system allocator, so the first epoch is left out for both.

Workloads: gender-cnn and gender-tiny (100x100, batch 64), bcnn-lowdim with every layer training (the
fine-tuning phase; 320 and 448, batch 32), koala-spatial (colorize: 128x128 windows of 256x256 photos, batch
20). --image-sizes and --batch-size replace a workload's own (for quick checks). Prints a table; the last
line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from trivision.config import Phase
from trivision.engine.allocator import ALLOCATORS
from trivision.engine.fit import TensorData, fit
from trivision.errors import TrivisionError
from trivision.models import create_model
from trivision.tasks import get_task
import common  # bench/common.py

# name: (task, model, image sizes, batch)
WORKLOADS = {
    "gender-cnn": ("gender", "gender-cnn", (100,), 64),
    "gender-tiny": ("gender", "gender-tiny", (100,), 64),
    "bcnn-lowdim": ("cars", "bcnn-lowdim", (320, 448), 32),
    "koala-spatial": ("colorize", "koala-spatial", (256,), 20),
}


def measure(workload: str, size: int, batch: int, allocator: str, epochs: int, steps: int) -> dict:
    """In this (fresh) process: `epochs` epochs of `steps` training steps, every layer training."""
    task_name, model_name, _, _ = WORKLOADS[workload]
    task = get_task(task_name)
    cfg = task.default_config()
    classes = {"gender": 2, "cars": 20, "colorize": 0}[task_name]
    cfg = replace(cfg, model=model_name, image_size=size, batch_size=batch, steps_per_epoch=steps,
                  phases=[Phase("train", epochs=epochs, lr=1e-4)], cpu_allocator=allocator, device="cpu",
                  pretrained=False, score_test=False)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch * 2, 3, size, size), dtype=torch.uint8, generator=g)
    targets = torch.randint(0, classes, (len(images),), generator=g) if classes else torch.zeros(len(images))
    torch.manual_seed(0)
    model = create_model(model_name, image_size=size, num_classes=classes, backbone=cfg.backbone or None,
                         pretrained=False, loss=cfg.loss or None)
    with tempfile.TemporaryDirectory() as run_dir:
        history = fit(model, task, TensorData(images, targets), None, cfg, Path(run_dir), log=lambda line: None)
    seconds = [r["seconds"] / steps for r in history]
    return {"workload": workload, "model": model_name, "image_size": size, "batch": batch, "allocator": allocator,
            "step_s": statistics.median(seconds[1:]), "first_epoch_step_s": seconds[0],
            "peak_rss_mib": common.peak_rss_mib()}


def in_fresh_process(args, workload: str, size: int, batch: int, allocator: str) -> dict:
    child = [sys.executable, __file__, "--epochs", str(args.epochs), "--steps", str(args.steps),
             "--measure", workload, str(size), str(batch), allocator]
    if args.threads:
        child += ["--threads", str(args.threads)]
    done = subprocess.run(child, capture_output=True, text=True)
    if done.returncode != 0:
        raise TrivisionError(f"measuring {workload} at {size} with {allocator} failed: "
                             f"{done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--epochs", type=int, default=4, help="epochs per row, >= 2 (default %(default)s)")
    p.add_argument("--steps", type=int, default=4, help="training steps per epoch (default %(default)s)")
    p.add_argument("--image-sizes", type=int, nargs="+", help="replace each workload's sizes")
    p.add_argument("--batch-size", type=int, help="replace each workload's batch")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--measure", nargs=4, metavar=("WORKLOAD", "SIZE", "BATCH", "ALLOCATOR"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first epoch is not counted)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.measure:
        workload, size, batch, allocator = args.measure
        print(json.dumps(measure(workload, int(size), int(batch), allocator, args.epochs, args.steps)))
        return 0

    rows = []
    for workload in args.workloads:
        _, _, sizes, batch = WORKLOADS[workload]
        for size in args.image_sizes or sizes:
            pair = {a: in_fresh_process(args, workload, size, args.batch_size or batch, a) for a in ALLOCATORS}
            for a in ALLOCATORS:
                pair[a]["speedup"] = pair["system"]["step_s"] / pair[a]["step_s"]
                pair[a]["memory_ratio"] = pair[a]["peak_rss_mib"] / pair["system"]["peak_rss_mib"]
                rows.append(pair[a])
    print(f"threads {torch.get_num_threads()}; {args.epochs} epochs of {args.steps} steps per row, each in a fresh "
          "process; step s: median over epochs 2.. (first epoch's in brackets)")
    common.print_report(rows, ["workload", "image size", "batch", "cpu_allocator", "step s", "speed vs system",
                               "peak RSS MiB", "memory vs system"], "llrlrrrr",
                        lambda r: [r["workload"], r["image_size"], r["batch"], r["allocator"],
                                   f"{r['step_s']:.3f} ({r['first_epoch_step_s']:.3f})", f"{r['speedup']:.2f}x",
                                   f"{r['peak_rss_mib']:.0f}", f"{r['memory_ratio']:.2f}x"])
    return 0


if __name__ == "__main__":
    common.run(main)
