"""`python -m trivision.demo`: everything the gender task does, end to end, in about a minute of CPU.

1. With shipped gender weights: predict the faces in a real photo (scikit-image's astronaut).
2. Train gender-tiny on a generated toy dataset (no download) and show the run folder it leaves.
3. Draw what the training augmentation does to a few of those images.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from trivision.cli import main as cli

GENDER_MODELS = ("gender-cnn", "gender-tiny")


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def predict_photo(out: Path) -> None:
    from trivision.models.registry import shipped_weights

    model = next((m for m in GENDER_MODELS if shipped_weights(m) is not None), None)
    if model is None:
        print("no shipped gender weights in this install (gender-cnn, gender-tiny): skipping the photo prediction")
        return
    from PIL import Image
    from skimage import data

    from trivision.predict import predict_files

    photo = out / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    _step(f"predict: {model} on {photo}")
    for line in predict_files("gender", [str(photo)], model=model):
        print(json.dumps(line), flush=True)


def train_toy(out: Path) -> Path:
    from trivision.data.synthetic import make_toy_faces

    data = make_toy_faces(out / "toy-faces")
    run = out / "run-gender-tiny"
    if run.exists():
        shutil.rmtree(run)
    _step(f"train: gender-tiny on the generated toy faces in {data}")
    rc = cli(["train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", "8",
              "--batch-size", "16", "--output-dir", str(run)])
    if rc:
        sys.exit(f"demo: training failed (exit {rc})")
    return run


def preview(out: Path) -> Path:
    images = sorted((out / "toy-faces" / "images").glob("*_0.png"))[:4]  # four people, two of each class
    target = out / "augment-preview.png"
    _step("augment-preview: the training augmentation on four toy faces")
    rc = cli(["augment-preview", *map(str, images), "--output", str(target)])
    if rc:
        sys.exit(f"demo: augment-preview failed (exit {rc})")
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trivision.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", default="demo-out", help="where everything is written (default demo-out)")
    args = p.parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    predict_photo(out)
    run = train_toy(out)
    grid = preview(out)

    _step("what the demo left")
    for what, path in (("training curves", run / "curves.png"), ("results table", run / "results.md"),
                       ("parameter table", run / "params.md"), ("trained weights", run / "model.safetensors"),
                       ("augmentation grid", grid)):
        print(f"{what:<18} {path}")
    exe = Path(sys.executable).parent / "trivision"  # the venv's command, which need not be on PATH
    print(f"\nnext: {exe if exe.exists() else 'trivision'} evaluate gender --run {run} --framing as-is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
