"""Where the time of one gender training step goes on this CPU.

    python bench/profile_train.py --model gender-cnn [--images 512] [--batch-size 64] [--threads N]
                                  [--steps 10] [--warmup-steps 3] [--data DIR]

The step is the engine's (`_train_epoch` in src/trivision/engine/fit.py), on the arrays train_speed.py
loads, taken apart into the parts it runs one after another:

1. data: index the in-memory uint8 images and labels with the batch's random rows;
2. augmentation: the lab's augmentation by kornia (`augment_batch`), then the channels-last layout;
3. forward: the model and the loss;
4. backward: zero the gradients, loss.backward();
5. optimizer: Adam's step and the learning-rate schedule's;
6. bookkeeping: the finite-loss check, loss.item() and the accuracy count the progress bar shows.

Each part is timed by the wall clock over --steps steps after --warmup-steps. Then the same number of steps
runs under torch.profiler, whose op-level self times split forward and backward into convolution, batch
norm and the rest (ReLU, pooling, the dense layer, the loss); each share of its profiled part is applied to
that part's unprofiled time. Prints a table (% of the step); the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from trivision.data.augment import augment_batch, build_augment
from trivision.engine.fit import make_optimizer, make_schedule
from trivision.models.registry import create_model, model_info
from trivision.tasks.gender import GenderTask
import common  # bench/common.py
import train_speed  # bench/train_speed.py

PARTS = ("data", "augmentation", "forward", "backward", "optimizer", "bookkeeping")
SPLIT_PARTS = ("forward", "backward")  # split further by operator
OPERATORS = ("convolution", "batch norm")


def operator_kind(name: str) -> str | None:
    """'convolution', 'batch norm' or None (the rest) for a profiler event name, forward or backward."""
    plain = name.lower().replace("_", "")
    if "conv" in plain:
        return "convolution"
    if "batchnorm" in plain:
        return "batch norm"
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=train_speed.MODELS, default="gender-cnn")
    p.add_argument("--images", type=int, default=512, help="images in memory (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: every core)")
    p.add_argument("--steps", type=int, default=10, help="timed steps, and as many profiled (default 10)")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--data", type=train_speed.Path, default=train_speed.DEFAULT_DATA)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images, labels, source = train_speed.load_arrays(args.data, args.images, model_info(args.model).input_size,
                                                     args.threads)
    task = GenderTask()
    cfg = replace(task.default_config(), model=args.model, batch_size=args.batch_size, threads=args.threads)
    model = create_model(args.model, image_size=images.shape[-1]).train().to(memory_format=torch.channels_last)
    augment = build_augment(cfg.augment)
    opt = make_optimizer(cfg, model.parameters(), cfg.phases[0].lr)
    total_steps = args.warmup_steps + 2 * args.steps
    sched = make_schedule(cfg, opt, total_steps, total_steps)
    batch_size = min(args.batch_size, len(images))

    def train_step():
        """One engine step; it stops after each part and says which part it has just done."""
        idx = torch.randperm(len(images))[:batch_size]
        batch, targets = images[idx], labels[idx]
        yield "data"
        inputs = augment_batch(augment, batch).contiguous(memory_format=torch.channels_last)
        yield "augmentation"
        out = model(inputs)
        loss = task.loss(out, targets)
        yield "forward"
        opt.zero_grad(set_to_none=True)
        loss.backward()
        yield "backward"
        opt.step()
        sched.step()
        yield "optimizer"
        bool(torch.isfinite(loss))
        loss.item()
        task.correct(out.detach(), targets)
        yield "bookkeeping"

    def run_steps(steps: int, around=lambda part: nullcontext()) -> dict[str, float]:
        seconds = defaultdict(float)
        for _ in range(steps):
            step = train_step()
            for part in PARTS:
                started = time.perf_counter()
                with around(part):
                    done = next(step)
                seconds[done] += time.perf_counter() - started
        return seconds

    run_steps(args.warmup_steps)
    wall = run_steps(args.steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        profiled = run_steps(args.steps, around=record_function)
    # each operator kind's self time, within the part it ran in (forward or backward by its name)
    by_kind = defaultdict(float)
    for event in prof.key_averages():
        kind = operator_kind(event.key)
        if kind is not None:
            part = "backward" if "backward" in event.key.lower() else "forward"
            by_kind[part, kind] += event.self_cpu_time_total / 1e6

    step_seconds = sum(wall.values())
    rows = []  # (key, label, seconds over the timed steps)
    for part in PARTS:
        rows.append((part, part, wall[part]))
        if part in SPLIT_PARTS:
            shares = {kind: by_kind[part, kind] / profiled[part] for kind in OPERATORS}
            for kind in OPERATORS:
                rows.append((f"{part} {kind}", f"  {kind}", wall[part] * shares[kind]))
            rows.append((f"{part} other", "  other operators", wall[part] * (1 - sum(shares.values()))))

    print(f"{args.model}, batch {batch_size}, {args.threads} threads, {args.steps} steps; data: {source}")
    print("| part of the step | ms per step | % of step |")
    print("|---|---:|---:|")
    for _, label, s in rows:
        print(f"| {label} | {1000 * s / args.steps:.1f} | {100 * s / step_seconds:.1f}% |")
    print(f"| step | {1000 * step_seconds / args.steps:.1f} | 100% |")
    print(f"({batch_size * args.steps / step_seconds:.1f} images/s over the timed steps; under the profiler a step "
          f"took {1000 * sum(profiled.values()) / args.steps:.1f} ms)")
    print(json.dumps({"model": args.model, "batch_size": batch_size, "threads": args.threads, "steps": args.steps,
                      "images": len(images), "data": source, "step_ms": round(1000 * step_seconds / args.steps, 2),
                      "ms_per_step": {key: round(1000 * s / args.steps, 2) for key, _, s in rows},
                      "fraction_of_step": {key: round(s / step_seconds, 4) for key, _, s in rows}}))
    return 0


if __name__ == "__main__":
    common.run(main)
