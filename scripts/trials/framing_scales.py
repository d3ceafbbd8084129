"""Detected faces framed at several scales, the class probabilities averaged, against one scale: on a gender run's
validation images, whole frames and their central half (tight crops), as session 23 tried it (docs/experiments.md,
Gender; rule runs/s23-framing-tta-rule.txt; not in the product).

    python scripts/trials/framing_scales.py RUN [--tta hflip] [--logit-bias female=0.5] [--scales 0.9,1,1.1]

Each scale multiplies LFW's expansion of the detected box; a face not found is classified as it is, as `trivision
evaluate` does. The weights' bias is applied to each scale's probabilities before the scales are averaged.
"""
from __future__ import annotations

import argparse

import torch

from gender_cells import load_cell  # scripts/trials/gender_cells.py
from trivision.data.images import decode_image
from trivision.data.loading import resize
from trivision.faces import LFW_EXPAND, central_face, central_part, detect_faces, frame_face
from trivision.tasks.gender import frame_crop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--tta", default="hflip", choices=("none", "hflip"))
    ap.add_argument("--logit-bias", nargs="+", metavar="CLASS=B")
    ap.add_argument("--scales", default="0.9,1,1.1")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    args = ap.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    if 1.0 not in scales:
        ap.error("--scales must include 1, the one-scale framing it is compared with")
    loaded, ds, scores = load_cell(args.run, args.tta, args.logit_bias, args.split)
    crop = frame_crop(loaded)
    for part in (1.0, 0.5):
        views: dict[float, list] = {s: [] for s in scales}
        for i in range(len(ds)):
            rgb = central_part(decode_image(ds.source(i)), part)
            box = central_face(detect_faces(rgb), rgb.shape)
            for s in scales:
                view = central_part(rgb, crop) if box is None else frame_face(rgb, box, LFW_EXPAND * crop * s)
                views[s].append(resize(view, loaded.image_size))
        probs = {s: loaded.probabilities(torch.stack(views[s])) for s in scales}
        (a1, b1), (an, bn) = scores(probs[1.0]), scores(sum(probs.values()) / len(scales))
        print(f"{args.run}, {'whole frames' if part == 1 else 'central half'}: one scale {a1:.2f} / {b1:.2f}; "
              f"{len(scales)} scales {an:.2f} / {bn:.2f}; gain {an - a1:+.2f} / {bn - b1:+.2f}", flush=True)


if __name__ == "__main__":
    main()
