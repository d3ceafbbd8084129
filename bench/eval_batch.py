"""Evaluation throughput against the batch size, on this machine's CPU: the measurements behind
`trivision.engine.batching` (how many images an evaluation batch holds).

    python bench/eval_batch.py [--models NAME ...] [--images N] [--batches B ...] [--rounds R] [--threads N]

For each shipped model, --images random images of its own size go through `LoadedModel.probabilities`
(the path `trivision evaluate` and `predict` take) once per batch size and round, rounds interleaved so a
slower minute of a shared machine touches every batch size alike; the table gives the median images per
second of each, and marks the batch the engine chooses on a CPU. Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from trivision.engine.batching import evaluation_batch_size
from trivision.inference import load_model
from trivision.models.registry import shipped_weights
import common  # bench/common.py

DEFAULT_MODELS = ("cars-bcnn-196", "colorize-koala", "gender-tiny", "gender-cnn")


def throughput(loaded, images: torch.Tensor, batch: int) -> float:
    """Images per second of one pass over `images` in batches of exactly `batch` (the choice bypassed)."""
    start = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(images), batch):
            loaded.model(images[s:s + batch].float().div(255.0).contiguous(memory_format=torch.channels_last))
    return len(images) / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[m for m in DEFAULT_MODELS if shipped_weights(m)])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        loaded = load_model(name)
        channels = 1 if loaded.task == "colorize" else 3
        size = loaded.image_size
        images = torch.randint(0, 256, (args.images, channels, size, size), dtype=torch.uint8)
        throughput(loaded, images[:8], 8)  # warm-up: the first pass allocates
        seen = {b: [] for b in args.batches}
        for _ in range(args.rounds):
            for b in args.batches:
                seen[b].append(throughput(loaded, images, b))
        chosen = evaluation_batch_size(size, size, "cpu", 64)
        rows += [{"model": name, "input": f"{channels}x{size}x{size}", "batch": b,
                  "img_per_s": round(statistics.median(v), 1), "chosen": b == chosen} for b, v in seen.items()]
    print(f"threads {args.threads}; {args.images} random images per pass; median of {args.rounds} rounds")
    common.print_report(rows, ["model", "input", "batch", "img/s", "chosen on a CPU"], "llrrl",
                        lambda r: [r["model"], r["input"], r["batch"], f"{r['img_per_s']:.1f}",
                                   "<-" if r["chosen"] else ""])
    return 0


if __name__ == "__main__":
    common.run(main)
