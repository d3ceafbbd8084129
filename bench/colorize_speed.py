"""Colorization speed: training images/s on whole photos against the default random-crop windows, and the
time to colorize one photo.

    python bench/colorize_speed.py [--data DIR] [--images N] [--image-size S] [--batch-size B] [--steps N]
                                   [--epochs E] [--repeats N] [--threads N]

Training: the default `koala` config (ColorizeTask.default_config) trained by the engine (`fit`) on the
same N photos at S x S, once as configured (random `crop` x `crop` windows, data/augment.py) and once on
the whole photo (crop off); --epochs epochs of --steps steps of --batch-size each, the first a warm-up;
images/s is the median over the others. Colorizing: `colorize_photo` on one 256x256 photo (median of
--repeats after a warm-up, loading excluded), with the shipped colorize-koala when there is one, else an
untrained koala of the same shape; the target is under 1 s per photo.

The photos are the shared ImageNet samples when --data exists, else random pixels (the time does not
depend on what they show). The embedding network starts from random weights (the same cost as
ImageNet's). Prints tables; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from trivision.data.datasets import read_dataset
from trivision.data.loading import load_images
from trivision.engine.fit import TensorData, fit
from trivision.inference import LoadedModel, load_model
from trivision.models import create_model
from trivision.models.registry import shipped_weights
from trivision.tasks.colorize import ColorizeTask
from colorize_quality import seconds_per_photo  # bench/colorize_quality.py
from training_inputs import add_size_arguments, has_dataset, random_pixels  # bench/training_inputs.py
import common  # bench/common.py

SHIPPED, TARGET_SECONDS = "colorize-koala", 1.0


def training_photos(args) -> tuple[TensorData, str]:
    if has_dataset(args):
        ds = read_dataset(args.data, None)
        images, _, _ = load_images(ds, range(min(args.images, len(ds))), args.image_size)
        source = args.data
    else:
        images = random_pixels(args, torch.Generator().manual_seed(0))
        source = "random pixels"
    return TensorData(images, torch.zeros(len(images), dtype=torch.int64)), source


def training_speed(cfg, data: TensorData, args) -> dict:
    """Images per second of the engine training `cfg` (median over the epochs after the first)."""
    torch.manual_seed(0)
    model = create_model(cfg.model, image_size=cfg.image_size, backbone=cfg.backbone, loss=cfg.loss,
                         pretrained=False)
    with tempfile.TemporaryDirectory() as run_dir:
        history = fit(model, ColorizeTask(), data, None, cfg, Path(run_dir), log=lambda line: None)
    per_epoch = [args.steps * cfg.batch_size / r["seconds"] for r in history[1:]]
    side = cfg.augment.crop or cfg.image_size
    return {"input": f"{side}x{side}" + (f" windows of {cfg.image_size}x{cfg.image_size}" if cfg.augment.crop
                                         else " whole photo"),
            "crop": cfg.augment.crop, "img_per_s": statistics.median(per_epoch)}


def colorizer(cfg) -> tuple[LoadedModel, str]:
    if shipped_weights(SHIPPED):
        return load_model(SHIPPED), SHIPPED
    model = create_model(cfg.model, image_size=cfg.image_size, backbone=cfg.backbone, loss=cfg.loss,
                         pretrained=False).eval()
    meta = {"model": cfg.model, "task": "colorize", "image_size": cfg.image_size, "loss": cfg.loss, "classes": []}
    return LoadedModel(model, meta), f"untrained {cfg.model} ({SHIPPED} is not shipped)"


def main() -> int:
    default = ColorizeTask().default_config()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(p, "imagenet-samples", images=40, cfg=default)
    p.add_argument("--steps", type=int, default=2, help="steps per epoch (default %(default)s)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per setting, >= 2; the first is a warm-up "
                                                           "(default %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="timed colorizations (default %(default)s)")
    args = p.parse_args()
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (the first is a warm-up)")
    if args.threads:
        torch.set_num_threads(args.threads)
    # windows of the default's share of the photo side, a multiple of 8 (the network's stride)
    crop = default.augment.crop * args.image_size // default.image_size // 8 * 8
    cfg = replace(default, image_size=args.image_size, batch_size=args.batch_size, steps_per_epoch=args.steps,
                  phases=[replace(default.phases[0], epochs=args.epochs)], device="cpu")
    data, source = training_photos(args)
    training = [training_speed(replace(cfg, augment=replace(cfg.augment, crop=c)), data, args) for c in (0, crop)]
    loaded, model_name = colorizer(default)  # at the size it colorizes at, whatever the training size
    seconds = seconds_per_photo(loaded, args.repeats)
    met = seconds < TARGET_SECONDS

    print(f"data: {len(data)} photos from {source}; batch {args.batch_size}; {args.epochs - 1} timed epochs of "
          f"{args.steps} steps; threads {torch.get_num_threads()}")
    print("| koala training input | img/s | vs whole photo |")
    print("|---|---:|---:|")
    for r in training:
        print(f"| {r['input']} | {r['img_per_s']:.2f} | {r['img_per_s'] / training[0]['img_per_s']:.1f}x |")
    print(f"\ncolorize one 256x256 photo ({model_name}): {seconds:.3f} s (median of {args.repeats}); "
          f"target under {TARGET_SECONDS:g} s: {'met' if met else 'MISSED'}")
    print(json.dumps({"data": source, "images": len(data), "batch_size": args.batch_size, "steps": args.steps,
                      "threads": torch.get_num_threads(), "training": training, "colorize_model": model_name,
                      "seconds_per_photo": seconds, "target_seconds": TARGET_SECONDS, "target_met": met}))
    return 0


if __name__ == "__main__":
    common.run(main)
