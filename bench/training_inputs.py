"""What the training-speed benchmarks of cars and colorize share: their size options, and random pixels
to train on where the shared dataset is absent (the time does not depend on what the pixels show)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_size_arguments(p: argparse.ArgumentParser, dataset: str, images: int, cfg) -> None:
    """--data (default ../shared/data/DATASET), --images, --image-size and --batch-size (cfg's), --threads."""
    p.add_argument("--data", default=str(SHARED_DATA / dataset), help="dataset folder (default %(default)s)")
    p.add_argument("--images", type=int, default=images, help="training images (default %(default)s)")
    p.add_argument("--image-size", type=int, default=cfg.image_size, help="default %(default)s")
    p.add_argument("--batch-size", type=int, default=cfg.batch_size, help="default %(default)s")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")


def has_dataset(args) -> bool:
    return Path(args.data, "labels.csv").exists()


def random_pixels(args, generator: torch.Generator) -> torch.Tensor:
    """uint8 (--images, 3, --image-size, --image-size)."""
    return torch.randint(0, 256, (args.images, 3, args.image_size, args.image_size), dtype=torch.uint8,
                         generator=generator)
