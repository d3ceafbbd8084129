"""How many images one evaluation batch holds.

On a CPU a forward pass is fastest when a batch's activations stay near the caches: `python
bench/eval_batch.py --models cars-bcnn-196 gender-tiny --images 32 --rounds 2 --threads 2` on the project's
2-core AVX2 CPU (2026-12-07) ran `cars-bcnn-196` (320x320; then one network, now an ensemble of two) at 33.8 img/s in batches of 4 and 16.8 in
batches of 64, and `gender-tiny` (100x100) at 407-418 img/s in batches of 8-32 and 398 at 64. So a CPU
batch holds about CPU_BATCH_PIXELS input pixels (a power of two of images, at most the caller's batch);
a GPU takes the caller's batch as it is. Results do not depend on the batch: every model is evaluated in
eval mode.
"""
from __future__ import annotations

import torch

CPU_BATCH_PIXELS = 1 << 19  # cars at 320x320: 4 images; colorize at 256x256: 8; gender at 100x100: 32


def evaluation_batch_size(height: int, width: int, device: torch.device | str, largest: int) -> int:
    """The batch for evaluating (N, C, height, width) inputs on `device`: at most `largest`, at least 1."""
    if torch.device(device).type != "cpu":
        return max(1, largest)
    fits = max(1, CPU_BATCH_PIXELS // max(1, height * width))
    return max(1, min(largest, 1 << (fits.bit_length() - 1)))
