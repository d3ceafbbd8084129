"""A small generated labels.csv dataset for demos and tests: no download, learnable in seconds.

Each 'person' is a drawn face (skin tone, head shape, position jitter); class 'female' faces have long
hair drawn beside the head, 'male' faces a beard below the mouth. Several images per identity, so both
split protocols can be exercised.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _face(rng: np.random.Generator, female: bool, person: np.random.Generator, size: int) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(40, 220, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    skin = tuple(int(v) for v in person.integers(90, 240, 3))
    hair = tuple(int(v) for v in person.integers(0, 120, 3))
    cx = size / 2 + rng.normal(0, size * 0.03)
    cy = size / 2 + rng.normal(0, size * 0.03)
    rx, ry = size * person.uniform(0.16, 0.2), size * person.uniform(0.2, 0.25)
    if female:  # long hair framing the face
        d.rectangle([cx - rx * 1.35, cy - ry * 0.9, cx + rx * 1.35, cy + ry * 1.5], fill=hair)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
    eye = size * 0.025
    for sx in (-1, 1):
        ex, ey = cx + sx * rx * 0.4, cy - ry * 0.2
        d.ellipse([ex - eye, ey - eye, ex + eye, ey + eye], fill=(20, 20, 20))
    d.line([cx - rx * 0.35, cy + ry * 0.45, cx + rx * 0.35, cy + ry * 0.45], fill=(120, 30, 30), width=2)
    if not female:  # a beard
        d.chord([cx - rx * 0.8, cy + ry * 0.2, cx + rx * 0.8, cy + ry * 1.05], 0, 180, fill=hair)
    noise = rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def make_toy_faces(root: str | Path, people: int = 24, per_person: int = 5, size: int = 125,
                   seed: int = 0) -> Path:
    """Write `root/labels.csv` (path, gender, identity) and `root/images/*.png`; return root."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        female = p % 2 == 0
        person_seed = int(rng.integers(1 << 31))
        for k in range(per_person):
            person = np.random.default_rng(person_seed)
            name = f"images/person{p:03d}_{k}.png"
            _face(rng, female, person, size).save(root / name)
            rows.append([name, "female" if female else "male", f"person{p:03d}"])
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "gender", "identity"])
        w.writerows(rows)
    return root
