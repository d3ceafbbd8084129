"""Decode dataset rows into one in-memory uint8 tensor (N, 3, S, S), in parallel, with clear errors."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from trivision.data.datasets import Dataset
from trivision.data.images import decode_image
from trivision.errors import BadImage, TrivisionError


def resize(rgb: np.ndarray, size: int | tuple[int, int]) -> torch.Tensor:
    """HxWx3 uint8 -> (3, h, w) uint8, antialiased; an int size gives a square."""
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    if x.shape[-2:] != (h, w):
        antialias = x.shape[-2] > h or x.shape[-1] > w
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=antialias)
    return x[0].round_().clamp_(0, 255).to(torch.uint8)


def load_images(ds: Dataset, rows, size: int, frame: Callable[[np.ndarray], np.ndarray] | None = None,
                skip_bad: bool = False, desc: str = "decoding", threads: int = 4):
    """Return (images uint8 (N,3,size,size), kept row indices, bad [(name, reason)]).

    `frame` maps a decoded RGB photo to the region the model sees (e.g. a face frame) before resizing.
    A bad image stops with an error naming it, unless `skip_bad`, which counts and skips it.
    """
    rows = list(rows)

    def work(i):
        try:
            rgb = decode_image(ds.source(i))
            if frame is not None:
                rgb = frame(rgb)
            return resize(rgb, size), None
        except BadImage as e:
            return None, str(e)

    out = torch.empty((len(rows), 3, size, size), dtype=torch.uint8)
    kept, bad = [], []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(work, rows)
        for i, (img, err) in tqdm(zip(rows, results), total=len(rows), desc=desc, leave=False,
                                  mininterval=1.0, disable=len(rows) < 200):
            if err is not None:
                if not skip_bad:
                    raise TrivisionError(f"{err} (use --skip-bad to skip and count such files)")
                bad.append((ds.name(i), err))
                continue
            out[len(kept)] = img
            kept.append(i)
    if not kept:
        raise TrivisionError(f"{ds.root}: no decodable images among {len(rows)} rows")
    return out[:len(kept)], np.array(kept, dtype=np.int64), bad
