"""Detected faces in photos already framed like LFW, used whole ("snapped") instead of cut again around the
detector's box, against today's framing: on a gender run's validation images, whole frames and their central half
(tight crops), as session 24 tried it (docs/experiments.md, Gender; rule runs/s24-frame-snap-rule.txt).

    python scripts/trials/frame_snap.py RUN [--tta hflip] [--logit-bias female=0.5] [--any-box]

A face not found is classified as it is, as `trivision evaluate` does. Prints, per part, how many photos snapped
and (accuracy / balanced accuracy) without and with snapping. --any-box (session 24's second rule,
runs/s24-snap-any-rule.txt): today is snapping the central face's box, against choosing any box that snaps
(faces.photo_face) before the central one.
"""
from __future__ import annotations

import argparse

import torch

from gender_cells import load_cell  # scripts/trials/gender_cells.py
from trivision.data.images import decode_image
from trivision.data.loading import resize
from trivision.faces import central_face, central_part, detect_faces, frames_whole_photo, photo_face
from trivision.tasks.gender import detected_view, frame_crop, model_view


def view(rgb, box, crop: float, snap: bool):
    """What the model sees of a face not found (the photo as it is), or of a detected box with or without snapping
    (the product's detected_view, or the frame cut around the box as before session 24)."""
    if box is None:
        return model_view(rgb, None, crop)
    return detected_view(rgb, box, crop) if snap else model_view(rgb, box, crop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--tta", default="hflip", choices=("none", "hflip"))
    ap.add_argument("--logit-bias", nargs="+", metavar="CLASS=B")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--any-box", action="store_true", help="today: the central box snapped; against: any box")
    args = ap.parse_args()
    loaded, ds, scores = load_cell(args.run, args.tta, args.logit_bias, args.split)
    crop = frame_crop(loaded)
    for part in (1.0, 0.5):
        today, snapped, n_snapped = [], [], 0
        for i in range(len(ds)):
            rgb = central_part(decode_image(ds.source(i)), part)
            boxes = detect_faces(rgb)
            central = central_face(boxes, rgb.shape)
            box = photo_face(boxes, rgb.shape) if args.any_box else central
            n_snapped += box is not None and frames_whole_photo(box, rgb.shape)
            today.append(resize(view(rgb, central, crop, snap=args.any_box), loaded.image_size))
            snapped.append(resize(view(rgb, box, crop, snap=True), loaded.image_size))
        (a0, b0), (a1, b1) = (scores(loaded.probabilities(torch.stack(v))) for v in (today, snapped))
        print(f"{args.run}, {'whole frames' if part == 1 else 'central half'}: {n_snapped} of {len(ds)} snapped; "
              f"today {a0:.2f} / {b0:.2f}; snapped {a1:.2f} / {b1:.2f}; gain {a1 - a0:+.2f} / {b1 - b0:+.2f}",
              flush=True)


if __name__ == "__main__":
    main()
