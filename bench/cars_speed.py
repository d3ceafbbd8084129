"""Cars training speed: cached frozen-backbone features against recomputing the backbone, and bcnn against bcnn-lowdim.

    python bench/cars_speed.py [--data DIR] [--images N] [--image-size S] [--batch-size B] [--epochs E]
                               [--steps N] [--model M] [--backbone NAME] [--threads N] [--runs RUN ...]

(a) Frozen phase. `trivision train cars` runs the frozen backbone once per cached augmented view and then
trains only the head on its features (engine/cache.py). The lab recomputed the backbone every epoch, and
ran it twice: two VGG16 streams on the same image. Each of the three is trained by the engine (`fit`) for
--epochs epochs of the default frozen phase on the same N images: cached views; one stream recomputed;
two streams recomputed. The mean epoch over the default phase's length counts the cached run's first
epoch (which builds the cache) once.
(b) `bcnn` (C² classifier inputs) against `bcnn-lowdim` (128²): parameters, the median time of a
training step of each phase (frozen: the head on backbone features; finetune: every layer) and the peak
resident memory of a fresh process doing that phase's steps. --runs adds the test accuracy of finished
`trivision train cars` run folders (their results.md); nothing here trains long enough to measure one.

The images are the shared Stanford Cars photos of the default classes (1-20) when --data exists, else
random pixels (the time does not depend on what the pixels show). Backbones start from random weights,
which cost the same as ImageNet's. Prints tables; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from trivision.config import Phase
from trivision.data.classes import parse_class_spec
from trivision.data.datasets import encode_labels, read_dataset
from trivision.data.loading import load_images
from trivision.engine.fit import TensorData, fit
from trivision.engine.report import param_counts, read_history, read_results
from trivision.errors import TrivisionError
from trivision.models import create_model
from trivision.tasks.cars import CarsTask
from training_inputs import add_size_arguments, has_dataset, random_pixels  # bench/training_inputs.py
import common  # bench/common.py

VARIANTS = ("bcnn", "bcnn-lowdim")


def training_images(args, cfg) -> tuple[TensorData, int, str]:
    """(N images and their class indices, the number of classes, where they came from)."""
    task = CarsTask()
    if has_dataset(args):
        ds = task.select(read_dataset(args.data, task.label_column), cfg.classes)
        classes = task.classes(ds)
        ds = ds.subset(range(min(args.images, len(ds))))
        images, kept, _ = load_images(ds, range(len(ds)), args.image_size)
        return TensorData(images, torch.from_numpy(encode_labels(ds, classes)[kept])), len(classes), args.data
    classes = len(parse_class_spec(cfg.classes))
    g = torch.Generator().manual_seed(0)
    images = random_pixels(args, g)
    return TensorData(images, torch.randint(0, classes, (args.images,), generator=g)), classes, "random pixels"


class LabTwoStreams(nn.Module):
    """The lab's two identical streams on the same image. Their outer product X_a·X_bᵀ costs what X_a·X_aᵀ
    does, so the head pools the first stream with itself; the second is computed, as the lab computed it."""

    def __init__(self, stream: nn.Module):
        super().__init__()
        self.stream = stream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stream(x)
        self.stream(x)  # the second stream: same weights, same image, same cost
        return features


def frozen_phase_epochs(args, cfg, data: TensorData, classes: int) -> list[dict]:
    """Epoch seconds of the frozen phase, trained by the engine, for cached / one stream / two streams."""
    phase = cfg.phases[0]
    lab_epochs = phase.epochs  # the length of the default frozen phase, for the mean over a whole phase
    rows = []
    for variant, views, streams in (("cached (trivision)", cfg.cached_views, 1), ("one stream recomputed", 0, 1),
                                    ("two streams recomputed (lab)", 0, 2)):
        torch.manual_seed(0)
        model = create_model(cfg.model, num_classes=classes, backbone=cfg.backbone, pretrained=False)
        if streams == 2:
            model.backbone = LabTwoStreams(model.backbone)
        run_cfg = replace(cfg, cached_views=views, phases=[replace(phase, epochs=args.epochs)],
                          device="cpu")
        with tempfile.TemporaryDirectory() as run_dir:
            history = fit(model, CarsTask(), data, None, run_cfg, Path(run_dir), log=lambda line: None)
        seconds = [r["seconds"] for r in history]
        later = statistics.median(seconds[1:])
        rows.append({"variant": variant, "backbone_passes_per_epoch": 0 if views else streams,
                     "cached_views": views, "first_epoch_s": seconds[0], "later_epoch_s": later,
                     "phase_epochs": lab_epochs, "mean_epoch_s": (seconds[0] + (lab_epochs - 1) * later) / lab_epochs})
    for r in rows:
        r["vs_cached"] = r["mean_epoch_s"] / rows[0]["mean_epoch_s"]
    return rows


def step_seconds(trained: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, steps: int) -> float:
    """Median seconds of an Adam training step of `trained` on one batch (after one warm-up step)."""
    task, opt = CarsTask(), torch.optim.Adam([p for p in trained.parameters() if p.requires_grad], lr=1e-4)
    trained.train()
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss = task.loss(trained(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def measure_variant(args, cfg, model_name: str, phase: Phase) -> dict:
    """In this (fresh) process: one phase's training steps of `model_name`, their time and the peak memory."""
    data, classes, _ = training_images(args, cfg)
    batch = min(args.batch_size, len(data))
    images, targets = data.images[:batch].float() / 255.0, data.targets[:batch]
    images = images.contiguous(memory_format=torch.channels_last)  # the engine's layout
    baseline = common.peak_rss_mib()
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=classes, backbone=cfg.backbone, pretrained=False)
    model = model.to(memory_format=torch.channels_last)
    CarsTask().set_phase(model, phase)
    if phase.freeze_backbone:
        with torch.no_grad():
            features = model.backbone.eval()(images)
        seconds = step_seconds(model.head, features, targets, args.steps)
    else:
        seconds = step_seconds(model, images, targets, args.steps)
    return {"model": model_name, "phase": phase.name, "batch": batch, "step_s": seconds, "params": param_counts(model),
            "peak_rss_mib": common.peak_rss_mib(), "rss_before_model_mib": baseline}


def run_in_fresh_process(model_name: str, phase: str) -> dict:
    """measure_variant in a child process, so that its peak memory is that variant's alone."""
    done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--measure", model_name, phase],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise TrivisionError(f"measuring {model_name} ({phase}) failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_accuracy(run: str) -> dict:
    """Model, backbone and test top-1 of a finished `trivision train cars` run folder."""
    run_dir = Path(run)
    try:
        cfg = tomllib.loads((run_dir / "config.toml").read_text())
        results = read_results(run_dir / "results.md")
    except FileNotFoundError as e:
        raise TrivisionError(f"{run}: not a finished cars run folder ({Path(e.filename).name} missing)") from None
    kept = results.get("best") or results.get("last")  # the row of the weights the run ended with
    if kept is None:
        raise TrivisionError(f"{run}/results.md: no 'best' or 'last' row (is the run finished?)")
    return {"run": run, "model": cfg["model"], "backbone": cfg.get("backbone", ""), "classes": cfg.get("classes", ""),
            "image_size": cfg["image_size"], "epochs": len(read_history(run_dir / "history.csv")),
            "test_top1": kept["test_acc"]}


def main() -> int:
    cfg = CarsTask().default_config()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(p, "stanford-cars", images=64, cfg=cfg)
    p.add_argument("--epochs", type=int, default=3, help="frozen-phase epochs per variant, >= 2 (default %(default)s)")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per bcnn variant (default %(default)s)")
    p.add_argument("--model", default=cfg.model, help="model of the frozen-phase comparison (default %(default)s)")
    p.add_argument("--backbone", default=cfg.backbone, help="default %(default)s; the lab's was vgg16")
    p.add_argument("--runs", nargs="+", default=[], metavar="RUN", help="finished cars run folders: their accuracy")
    p.add_argument("--measure", nargs=2, metavar=("MODEL", "PHASE"), help=argparse.SUPPRESS)  # the child process
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first cached epoch also builds the cache)")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = replace(cfg, model=args.model, backbone=args.backbone, image_size=args.image_size,
                  batch_size=args.batch_size)
    if args.measure:
        model_name, phase_name = args.measure
        phase = next(ph for ph in cfg.phases if ph.name == phase_name)
        print(json.dumps(measure_variant(args, cfg, model_name, phase)))
        return 0

    accuracy = [run_accuracy(run) for run in args.runs]
    data, classes, source = training_images(args, cfg)
    epochs = frozen_phase_epochs(args, cfg, data, classes)
    variants = [run_in_fresh_process(m, phase.name) for m in VARIANTS for phase in cfg.phases]

    print(f"data: {len(data)} images from {source}, {args.image_size}x{args.image_size}, {classes} classes; "
          f"batch {args.batch_size}; backbone {args.backbone} (random weights); threads {torch.get_num_threads()}")
    print(f"\n(a) frozen phase of {args.model}: {args.epochs} epochs per variant; the mean epoch is over the "
          f"default phase's {epochs[0]['phase_epochs']} epochs")
    print("| variant | backbone passes per epoch | first epoch s | later epochs s (median) | mean epoch s | "
          "vs cached |")
    print("|---|---|---:|---:|---:|---:|")
    for r in epochs:
        passes = f"none ({r['cached_views']} cached views, built in epoch 1)" if r["cached_views"] else \
            str(r["backbone_passes_per_epoch"])
        print(f"| {r['variant']} | {passes} | {r['first_epoch_s']:.2f} | {r['later_epoch_s']:.2f} | "
              f"{r['mean_epoch_s']:.2f} | {r['vs_cached']:.1f}x |")
    print(f"\n(b) bcnn against bcnn-lowdim: median of {args.steps} steps; peak memory of a fresh process per row")
    print("| model | phase | total params | trainable | step s | peak RSS MiB | of it before the model MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in variants:
        print(f"| {r['model']} | {r['phase']} | {r['params']['total']:,} | {r['params']['trainable']:,} | "
              f"{r['step_s']:.3f} | {r['peak_rss_mib']:.0f} | {r['rss_before_model_mib']:.0f} |")
    if accuracy:
        print("\n| run | model | backbone | classes | image size | epochs | test top-1 |")
        print("|---|---|---|---|---:|---:|---:|")
        for r in accuracy:
            print(f"| {r['run']} | {r['model']} | {r['backbone']} | {r['classes']} | {r['image_size']} | "
                  f"{r['epochs']} | {100 * r['test_top1']:.2f}% |")
    print(json.dumps({"data": source, "images": len(data), "image_size": args.image_size, "classes": classes,
                      "batch_size": args.batch_size, "backbone": args.backbone, "threads": torch.get_num_threads(),
                      "frozen_phase": epochs, "variants": variants, "accuracy": accuracy}))
    return 0


if __name__ == "__main__":
    common.run(main)
