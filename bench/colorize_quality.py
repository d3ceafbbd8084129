"""Colorization against the targets, on colour photos the models never saw; a gallery; the time per photo.

    python bench/colorize_quality.py MODEL [MODEL ...] (--data DIR | --test-split-of RUN)
                                     [--gallery FILE] [--limit N | --sample N [--seed S]] [--threads N]

Each MODEL is a shipped name (colorize-koala), a weights file or a run folder. All are scored on the same
photos: every colour photo of DIR (e.g. ../shared/data/seed-colorization/test), or the saved test split of
RUN (a `trivision train colorize` run folder: the photos it never trained or selected on); --limit N keeps the
first N, --sample N a seeded random N of DIR's (another source's photos, e.g. LFW faces or cars). Targets, for
every model but the lab's reproduction: PSNR above the grey baseline (a*b* = 0) and a colourfulness ratio
of at least 0.6. The cast is what colour the model gives the pixels that are grey in the original (asphalt, a
white wall, a cloud): their mean a*, b* and chroma (a*, b* > 0: a warm, sepia-like cast). The time is that of colorizing one 256x256 photo (median of 5, after a warm-up), model
loading excluded. --gallery draws the first 8 photos, one row each: grey | each model | original.
Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trivision.colorize import colorize_photo, load_colorizer
from trivision.data.datasets import read_dataset
from trivision.data.images import decode_image, is_grey
from trivision.data.loading import resize
from trivision.errors import TrivisionError
from trivision.evaluate import run_test_split
from trivision.tasks import get_task
from trivision.tasks.colorize import meets_targets
import common  # bench/common.py

GALLERY_ROWS, GALLERY_SIDE = 8, 192


def seconds_per_photo(loaded, repeats: int = 5) -> float:
    photo = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    colorize_photo(loaded, photo)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        colorize_photo(loaded, photo)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gallery(path: Path, models: dict, photos: list[np.ndarray]) -> None:
    """One row per photo: grey | each model's colorization | original; panels are central squares."""
    def panel(rgb):
        h, w = rgb.shape[:2]
        side = min(h, w)
        square = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        return resize(square, GALLERY_SIDE).permute(1, 2, 0).numpy()
    rows = []
    for rgb in photos:
        results = [colorize_photo(loaded, rgb) for loaded in models.values()]
        rows.append(np.concatenate([panel(results[0].grey)] + [panel(r.rgb) for r in results] + [panel(rgb)], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data")
    src.add_argument("--test-split-of", metavar="RUN")
    p.add_argument("--gallery", help="PNG file for the gallery of the first 8 photos")
    p.add_argument("--limit", type=int, help="the first N photos")
    p.add_argument("--sample", type=int, help="a random N of --data's photos (seeded by --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sample and not args.data:
        raise TrivisionError("--sample draws from --data's photos")
    ds = run_test_split(Path(args.test_split_of), "colorize") if args.test_split_of else read_dataset(args.data, None)
    if args.sample:
        ds = ds.subset(sorted(np.random.default_rng(args.seed).permutation(len(ds))[:args.sample].tolist()))
    elif args.limit:
        ds = ds.subset(range(min(args.limit, len(ds))))
    rows, loaded = [], {}
    for name in args.models:
        loaded[name] = load_colorizer(name)
        r = get_task("colorize").evaluate(loaded[name], ds)
        lab = loaded[name].meta.get("loss") == "mse"  # the lab's objective: shown beside, no target
        rows.append({**r, "model": name, "loss": loaded[name].meta.get("loss"),
                     "seconds_per_256px_photo": seconds_per_photo(loaded[name]), "threads": torch.get_num_threads(),
                     "meets_targets": None if lab else meets_targets(r)})
    drawn = f", a random {args.sample} (seed {args.seed})" if args.sample else ""
    print(f"photos: {args.data or 'test split of ' + args.test_split_of}{drawn} ({rows[0]['n']} in colour)")
    print("| model | objective | PSNR | grey PSNR | PSNR - grey (± s.e.) | colourfulness ratio "
          "| cast on grey pixels: a*, b* (chroma) | s per 256px photo | targets |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        verdict = {None: "(lab)", True: "met", False: "MISSED"}[r["meets_targets"]]
        print(f"| {r['model']} | {r['loss']} | {r['psnr']:.2f} | {r['psnr_grey']:.2f} | "
              f"{r['psnr'] - r['psnr_grey']:+.2f} ± {r['psnr_over_grey_se']:.2f} | "
              f"{r['colourfulness_ratio']:.2f} | {r['cast_a']:+.1f}, {r['cast_b']:+.1f} ({r['cast_chroma']:.1f}) | "
              f"{r['seconds_per_256px_photo']:.2f} | {verdict} |")
    if args.gallery:
        photos = [rgb for rgb in (decode_image(ds.source(i)) for i in range(len(ds))) if not is_grey(rgb)]
        gallery(Path(args.gallery), loaded, photos[:GALLERY_ROWS])
        print(f"gallery: {args.gallery} (grey | {' | '.join(args.models)} | original)")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    common.run(main)
