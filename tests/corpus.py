"""The bad-input corpus, generated (never downloaded): odd and broken image files, and broken labels.csv files.

`build_images(root)` writes every image case and returns {case: path}; `check_decoded(case, rgb)` asserts
what a correct decoding of a decodable case is. `build_csv(root, case, good, labels)` writes a dataset folder
whose labels.csv has one defect, around decodable images.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# undecodable: what the one error line must say
BAD_IMAGES = {
    "zero-byte": "not an image file",
    "truncated-jpeg": "truncated",
    "text-as-jpg": "not an image file",
    "bomb": "image too large",
}
# decodable, each decoded correctly (check_decoded)
GOOD_IMAGES = ["png-16bit", "rgba-png", "cmyk-jpeg", "palette-gif", "grey-jpeg", "exif-rotated", "one-pixel",
               "strip"]
FILE_NAMES = {"zero-byte": "zero.jpg", "truncated-jpeg": "truncated.jpg", "text-as-jpg": "text.jpg",
              "bomb": "bomb.png", "png-16bit": "deep.png", "rgba-png": "alpha.png", "cmyk-jpeg": "cmyk.jpg",
              "palette-gif": "palette.gif", "grey-jpeg": "grey.jpg", "exif-rotated": "rotated.jpg",
              "one-pixel": "dot.png", "strip": "strip.png"}

# labels.csv defects: the fragments of the one error line (for tasks that read labels)
CSV_CASES = {
    "missing-file": ["nowhere.png", "cannot open"],
    "unknown-label": ["unknown label 'robot'"],
    "missing-column": ["missing label column"],
    "duplicate-row": ["duplicate row for"],
    "empty-body": ["the dataset is empty"],
    "not-utf8": ["not UTF-8"],
}


def _write(root: Path, case: str) -> Path:
    path = root / FILE_NAMES[case]
    rng = np.random.default_rng(0)
    if case == "zero-byte":
        path.write_bytes(b"")
    elif case == "truncated-jpeg":
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(buf, "JPEG")
        path.write_bytes(buf.getvalue()[:-2000])
    elif case == "text-as-jpg":
        path.write_text("this is not a photo\n")
    elif case == "bomb":  # 50 megapixels of one bit: a few KB on disk, over the 40 MP limit once decoded
        Image.new("1", (10_000, 5_000)).save(path)
    elif case == "png-16bit":
        Image.fromarray(np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))).save(path)
    elif case == "rgba-png":
        arr = np.zeros((48, 48, 4), np.uint8)
        arr[:, :24] = (255, 0, 0, 255)  # opaque red left half, fully transparent right half
        arr[:, 24:] = (0, 0, 255, 0)
        Image.fromarray(arr, "RGBA").save(path)
    elif case == "cmyk-jpeg":
        Image.new("CMYK", (48, 48), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    elif case == "palette-gif":
        img = Image.new("RGB", (48, 40), (0, 0, 255))
        img.paste((255, 255, 0), (24, 0, 48, 40))
        img.convert("P", palette=Image.ADAPTIVE, colors=4).save(path)
    elif case == "grey-jpeg":
        Image.new("L", (48, 40), 90).save(path)
    elif case == "exif-rotated":  # stored 60x30 with a white band on its left; shown rotated 90 degrees clockwise
        img = Image.new("RGB", (60, 30), (0, 0, 0))
        img.paste((255, 255, 255), (0, 0, 15, 30))
        exif = Image.Exif()
        exif[0x0112] = 6
        img.save(path, exif=exif, quality=95)
    elif case == "one-pixel":
        Image.new("RGB", (1, 1), (1, 2, 3)).save(path)
    elif case == "strip":
        arr = np.zeros((20, 20_000, 3), np.uint8)
        arr[:, 10_000:] = 200
        Image.fromarray(arr).save(path)
    else:
        raise KeyError(case)
    return path


def build_images(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    return {case: _write(root, case) for case in [*BAD_IMAGES, *GOOD_IMAGES]}


def check_decoded(case: str, rgb: np.ndarray) -> None:
    """What a correct decoding of each decodable case looks like."""
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (case, rgb.shape)
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    if case == "png-16bit":  # scaled to 8 bits, not clipped; grey
        assert rgb.shape == (48, 64, 3) and rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 255 and 120 <= rgb[0, 32, 0] <= 136
        assert (r == g).all() and (g == b).all()
    elif case == "rgba-png":  # composited on white
        assert rgb.shape == (48, 48, 3)
        assert rgb[10, 5].tolist() == [255, 0, 0] and rgb[10, 40].tolist() == [255, 255, 255]
    elif case == "cmyk-jpeg":
        assert rgb.shape == (48, 48, 3) and r[24, 24] > 200 and g[24, 24] < 60 and b[24, 24] < 60
    elif case == "palette-gif":
        assert rgb.shape == (40, 48, 3)
        assert np.abs(rgb[20, 5].astype(int) - [0, 0, 255]).max() <= 8
        assert np.abs(rgb[20, 40].astype(int) - [255, 255, 0]).max() <= 8
    elif case == "grey-jpeg":
        assert rgb.shape == (40, 48, 3) and (r == g).all() and (g == b).all() and abs(r.mean() - 90) <= 3
    elif case == "exif-rotated":  # turned upright: 30 wide, 60 high, the band now on top
        assert rgb.shape == (60, 30, 3) and rgb[:10].mean() > 200 and rgb[-30:].mean() < 50
    elif case == "one-pixel":
        assert rgb.tolist() == [[[1, 2, 3]]]
    elif case == "strip":
        assert rgb.shape == (20, 20_000, 3) and rgb[:, :10_000].max() == 0 and rgb[:, 10_000:].min() == 200
    else:
        raise KeyError(case)


def build_csv(root: Path, case: str, good: list[Path], label_column: str, labels: list[str]) -> Path:
    """A dataset folder holding copies of `good` images and a labels.csv (path, LABEL_COLUMN) with one defect."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, src in enumerate(good):
        shutil.copy(src, root / src.name)
        rows.append([src.name, labels[i % len(labels)]])
    header = ["path", label_column]
    if case == "missing-file":
        rows.append(["nowhere.png", labels[0]])
    elif case == "unknown-label":
        rows[-1][1] = "robot"
    elif case == "missing-column":
        header, rows = ["path"], [[r[0]] for r in rows]
    elif case == "duplicate-row":
        rows.append(list(rows[0]))
    elif case == "empty-body":
        rows = []
    elif case != "not-utf8":
        raise KeyError(case)
    text = "\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n"
    data = text.encode()
    if case == "not-utf8":
        data += f"caf\xe9.png,{labels[0]}\n".encode("latin-1")
    (root / "labels.csv").write_bytes(data)
    return root
