"""How OpenCV's face boxes sit in LFW's frames: the measurement behind `trivision.faces.LFW_EXPAND`.

    python bench/face_framing.py [--data ../shared/data/lfw-gender] [-n 300] [--seed 0]

On N random LFW frames (seeded), runs `detect_faces`, takes the face `central_face` picks, and reports
the miss rate (no face found) and the ratio frame side / detected box width (median and quartiles).
LFW frames are the detector's box enlarged about its centre, so that median is the factor that
`frame_face` must enlarge an OpenCV box by to cut an LFW-like frame from any photo.
Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from trivision.data.datasets import read_dataset
from trivision.data.images import decode_image
from trivision.faces import LFW_EXPAND, central_face, detect_faces
import common  # bench/common.py

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-gender"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="LFW folder with labels.csv (default %(default)s)")
    p.add_argument("-n", type=int, default=300, help="number of random frames (default 300)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ds = read_dataset(args.data, label_column=None)
    rows = np.random.default_rng(args.seed).choice(len(ds), size=min(args.n, len(ds)), replace=False)
    ratios, misses, several = [], 0, 0
    started = time.perf_counter()
    for i in rows:
        rgb = decode_image(ds.source(int(i)))
        boxes = detect_faces(rgb)
        box = central_face(boxes, rgb.shape)
        if box is None:
            misses += 1
            continue
        several += len(boxes) > 1
        ratios.append(max(rgb.shape[:2]) / box.w)
    seconds = time.perf_counter() - started

    n = len(rows)
    q1, median, q3 = (float(v) for v in np.percentile(ratios, [25, 50, 75])) if ratios else (float("nan"),) * 3
    result = {"data": args.data, "n": n, "seed": args.seed, "found": len(ratios), "missed": misses,
              "miss_rate": round(misses / n, 4) if n else None, "several_faces": several,
              "ratio_median": round(median, 3), "ratio_q1": round(q1, 3), "ratio_q3": round(q3, 3),
              "lfw_expand_in_use": LFW_EXPAND, "seconds": round(seconds, 1)}
    print("| measure | value |")
    print("|---|---:|")
    print(f"| frames (seed {args.seed}) | {n} |")
    print(f"| no face found | {misses} ({100 * misses / max(n, 1):.1f}%) |")
    print(f"| more than one face found | {several} |")
    print(f"| frame side / box width, median | {median:.3f} |")
    print(f"| frame side / box width, quartiles | {q1:.3f} .. {q3:.3f} |")
    print(f"| LFW_EXPAND in faces.py | {LFW_EXPAND} |")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    common.run(main)
