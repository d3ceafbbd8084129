"""Re-encode a labels.csv dataset small enough to travel to a rented GPU machine (the device tool's
working tree is capped at 64 MiB): same labels.csv, same relative paths, so a run trained on the packed
copy saves a split that evaluates on the original folder.

    python scripts/pack_dataset.py SRC DST [--central F] [--max-side N] [--quality Q] [--classes 1-20]

--central keeps the centred share F of each photo (gender: train the packed copy with frame_crop = 1 and
record frame_crop = F in the run's config afterwards); --max-side shrinks photos whose longest side is
larger. Only the evaluation on the original files counts: the packed copy is for training.
"""
from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trivision.data.classes import parse_class_spec
from trivision.data.images import decode_image
from trivision.data.loading import resize
from trivision.faces import central_part


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--central", type=float, default=1.0)
    p.add_argument("--max-side", type=int, default=0)
    p.add_argument("--quality", type=int, default=92, help="JPEG quality; 0: copy the files as they are")
    p.add_argument("--classes", default="", help="keep only these class ids (cars)")
    args = p.parse_args()

    with open(args.src / "labels.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    if args.classes:
        keep = set(parse_class_spec(args.classes))
        rows = [r for r in rows if int(r["class_id"]) in keep]
    args.dst.mkdir(parents=True, exist_ok=True)
    if (args.src / "classes.csv").exists():  # cars' class names
        shutil.copy(args.src / "classes.csv", args.dst / "classes.csv")
    with open(args.dst / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    total = 0
    for row in rows:
        out = args.dst / row["path"]
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.quality == 0:
            shutil.copy(args.src / row["path"], out)
            total += out.stat().st_size
            continue
        rgb = central_part(decode_image(args.src / row["path"]), args.central)
        h, w = rgb.shape[:2]
        if args.max_side and max(h, w) > args.max_side:
            scale = args.max_side / max(h, w)
            rgb = resize(rgb, (max(1, round(h * scale)), max(1, round(w * scale)))).permute(1, 2, 0).numpy()
        Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="JPEG", quality=args.quality)
        total += out.stat().st_size
    print(f"{len(rows)} images, {total / 2**20:.1f} MiB in {args.dst}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
