"""A small generated labels.csv dataset for demos and tests: no download, learnable in seconds.

Each 'person' is a drawn face (skin tone, head shape, position jitter). The two classes differ in ways a
small CNN picks up in a few epochs, whatever the augmentation: 'female' faces have long, bright, warm
hair (blond to red) falling wide on both sides below the chin; 'male' faces have short dark-blue hair
and a big dark-blue beard. Several images per identity, so both split protocols can be exercised.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _face(rng: np.random.Generator, female: bool, person: np.random.Generator, size: int) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(60, 200, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    t = person.uniform(0, 1)  # light to dark skin
    skin = tuple(int(a + t * (b - a)) for a, b in zip((250, 220, 190), (120, 80, 55)))
    if female:  # blond to red
        hair = (int(person.integers(200, 256)), int(person.integers(60, 200)), int(person.integers(0, 60)))
    else:  # dark blue-black
        hair = (int(person.integers(0, 40)), int(person.integers(0, 40)), int(person.integers(60, 120)))
    cx = size / 2 + rng.normal(0, size * 0.03)
    cy = size / 2 + rng.normal(0, size * 0.03)
    rx, ry = size * person.uniform(0.16, 0.2), size * person.uniform(0.2, 0.25)
    if female:  # long hair, wide, from above the head to well below the chin
        d.ellipse([cx - rx * 1.8, cy - ry * 1.35, cx + rx * 1.8, cy + ry * 0.9], fill=hair)
        d.rectangle([cx - rx * 1.8, cy, cx + rx * 1.8, cy + ry * 1.9], fill=hair)
    else:  # short hair on top
        d.chord([cx - rx * 1.05, cy - ry * 1.15, cx + rx * 1.05, cy + ry * 0.3], 180, 360, fill=hair)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
    eye = size * 0.025
    for sx in (-1, 1):
        ex, ey = cx + sx * rx * 0.4, cy - ry * 0.2
        d.ellipse([ex - eye, ey - eye, ex + eye, ey + eye], fill=(20, 20, 20))
    if female:
        d.line([cx - rx * 0.35, cy + ry * 0.45, cx + rx * 0.35, cy + ry * 0.45], fill=(200, 30, 60), width=3)
    else:  # a full beard from the cheeks down, the mouth showing through it
        d.chord([cx - rx * 1.05, cy - ry * 0.2, cx + rx * 1.05, cy + ry * 1.3], 0, 180, fill=hair)
        d.line([cx - rx * 0.3, cy + ry * 0.45, cx + rx * 0.3, cy + ry * 0.45], fill=(120, 30, 30), width=2)
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
