"""`python -m trivision.demo`: the three tasks on built-in photos, in under a minute of CPU, and a report to
open in a browser: demo-out/report.html (the folder is self-contained).

1. gender: the shipped gender-cnn boxes the faces in photos that come with scikit-image and matplotlib;
   then gender-tiny is trained on generated toy faces (no download), with its curves and tables, and a grid
   of what the training augmentation does.
2. cars: the shipped cars-bcnn-20 names the car in photos of its own test split, when the Stanford Cars
   folder is at hand (--cars-data), or in your own photos (--cars a.jpg b.jpg; `make demo CARS="a.jpg"`).
3. colorize: the shipped colorize-koala colorizes scikit-image's colour photos after turning them grey.

A task whose model is not shipped in this install says so in one line and is skipped.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trivision.cli import main as cli
from trivision.models.registry import shipped_weights
from trivision.report_html import Section, write_report

GENDER_MODELS = ("gender-cnn", "gender-tiny")
CARS_MODEL = "cars-bcnn-20"
COLORIZE_MODEL = "colorize-koala"
DEFAULT_CARS_DATA = "../shared/data/stanford-cars"  # where the project keeps it, beside the repository
CARS_SHOWN = 8
GENDER_COLOURS = {"female": (214, 39, 120), "male": (31, 119, 180)}


@dataclass
class Photo:
    name: str          # file name stem in the report's folder
    rgb: np.ndarray    # HxWx3 uint8
    caption: str
    truth: str | None = None  # the right answer, where it is known


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _skip(section: Section, text: str) -> Section:
    print(text, flush=True)
    section.text(text, "note")
    return section


def _available(model: str) -> bool:
    return Path(model).exists() or shipped_weights(model) is not None


def people_photos() -> list[Photo]:
    from matplotlib import cbook
    from skimage import data

    from trivision.data.images import decode_image
    hopper = decode_image(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return [Photo("astronaut", data.astronaut(), "Eileen Collins, astronaut (scikit-image's astronaut)", "female"),
            Photo("grace-hopper", hopper, "Grace Hopper, computer scientist (matplotlib's sample photo)", "female")]


def colour_photos() -> list[Photo]:
    from skimage import data
    return [Photo(name, getattr(data, name)(), f"scikit-image's {name}")
            for name in ("coffee", "chelsea", "astronaut", "rocket")]


# --- gender ----------------------------------------------------------------------------------------

def draw_faces(rgb: np.ndarray, faces: list[dict]) -> Image.Image:
    """The photo with each face's box and its gender and probability above it."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(12, img.width // 28))
    line = max(2, img.width // 200)
    for face in faces:
        x, y, w, h = face["box"]
        colour = GENDER_COLOURS[face["gender"]]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=line)
        label = f"{face['gender']} {face['probability']:.1%}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        ty = max(0, y - (bottom - top) - 3 * line)
        draw.rectangle([x, ty, x + right - left + 2 * line, ty + bottom - top + 2 * line], fill=colour)
        draw.text((x + line - left, ty + line - top), label, fill="white", font=font)
    return img


def gender_section(out: Path, photos: list[Photo], toy_epochs: int = 8) -> Section:
    section = Section("gender", "Gender: faces boxed, with gender and probability")
    model = next((m for m in GENDER_MODELS if shipped_weights(m) is not None), None)
    if model is None:
        _skip(section, "gender: no shipped gender weights in this install (gender-cnn, gender-tiny): "
                       "skipping the photos")
    else:
        predict_faces(out / "gender", photos, model, section)
    run = train_toy(out, toy_epochs)
    section.text(f"gender-tiny trained for {toy_epochs} epochs on generated toy faces (no download); its run "
                 f"folder {run.name}/ holds these and the weights, history and saved split too.")
    section.picture(run / "curves.png", ["training curves (curves.png)"])
    section.markdown((run / "results.md").read_text(encoding="utf-8"))
    section.markdown((run / "params.md").read_text(encoding="utf-8"))
    section.picture(preview(out), ["the training augmentation: each row a toy face, then seven augmented copies"])
    return section


def predict_faces(folder: Path, photos: list[Photo], model: str, section: Section) -> None:
    import trivision
    _step(f"gender: {model} on {len(photos)} photos")
    predictor = trivision.load(model)
    folder.mkdir(parents=True, exist_ok=True)
    section.text(f"{model} finds the faces (OpenCV), frames each as LFW frames its faces and classifies it. "
                 "It is below the lab's accuracy (its model card has the numbers); its answers are shown as they "
                 "are, wrong ones marked.")
    for photo in photos:
        faces = predictor.predict(photo.rgb)
        for face in faces:
            print(json.dumps({"image": photo.name, **face}), flush=True)
        target = folder / f"{photo.name}.png"
        draw_faces(photo.rgb, faces).save(target)
        lines: list = [photo.caption]
        for face in faces:
            verdict = "" if photo.truth is None else (" right" if face["gender"] == photo.truth else " wrong")
            lines.append((f"{face['gender']} {face['probability']:.1%}{verdict}", verdict.strip()))
        section.picture(target, lines if faces else lines + [("no face found", "wrong")])


def train_toy(out: Path, epochs: int) -> Path:
    from trivision.data.synthetic import make_toy_faces

    data = make_toy_faces(out / "toy-faces")
    run = out / "run-gender-tiny"
    if run.exists():
        shutil.rmtree(run)
    _step(f"train: gender-tiny on the generated toy faces in {data}")
    rc = cli(["train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", str(epochs),
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


# --- cars ------------------------------------------------------------------------------------------

def held_out_photos(loaded, data: Path) -> list[tuple[str, str]]:
    """(path, class id) of the photos in the model's own test split, which training never saw. The split is
    recomputed as training made it: over the classes it was drawn over (a model restricted to some classes,
    `trivision subset`: its source's), with the split protocol and seed stored in the weights and the cars
    task's default 70/10/20 fractions (the shipped model's card states them); the photos of the model's
    own classes are kept."""
    from trivision.data.datasets import read_dataset
    from trivision.data.splits import indices, make_split
    from trivision.tasks import get_task
    task = get_task("cars")
    cfg = task.default_config()
    drawn_over = loaded.meta.get("split_classes") or loaded.classes
    ds = task.select(read_dataset(data, task.label_column), ",".join(drawn_over))
    split = make_split(ds, loaded.meta["split"], cfg.val_fraction, cfg.test_fraction, int(loaded.meta["seed"]))
    known = set(loaded.classes)
    return [(str(ds.root / ds.paths[i]), ds.labels[i]) for i in indices(split, "test") if ds.labels[i] in known]


def cars_section(out: Path, model: str, photos: list[str] | None, data: Path | None,
                 shown: int = CARS_SHOWN) -> Section:
    """Your photos when given; else the model's test photos, when the Stanford Cars folder `data` is there."""
    import trivision
    from trivision.errors import TrivisionError

    section = Section("cars", "Cars: the five likeliest car models")
    if not _available(model):
        return _skip(section, f"cars: the model {model} is not shipped in this install: skipping")
    predictor = trivision.load(model)
    meta = predictor.loaded.meta
    if photos:
        labelled = [(p, None) for p in photos]
        section.text(f"{model} on your photos. It knows {len(predictor.loaded.classes)} car models (its model "
                     "card names them); any other car gets the likeliest of those.")
    elif data is not None and (data / "labels.csv").exists():
        try:
            labelled = held_out_photos(predictor.loaded, data)
        except TrivisionError as e:
            return _skip(section, f"cars: cannot find {model}'s test photos in {data}: {e}")
        section.text(f"{model} on the photos of its own test split in {data}, which training never saw: the "
                     f"split is recomputed from the protocol ({meta['split']}) and seed ({meta['seed']}) stored in "
                     "its weights and the 70/10/20 fractions of its model card.")
    else:
        return _skip(section, "cars: no car photo ships with the dependencies and the Stanford Cars folder "
                              f"({data}) is absent: pass your own with --cars a.jpg b.jpg (make demo CARS=...)")
    _step(f"cars: {model} on {len(labelled)} photos")
    answers = _predict_cars(predictor, labelled, section)
    if not photos:
        section.text(_accuracy(answers) + f"; shown: one photo of each of the first {shown} classes.")
        answers = _one_per_class(answers)[:shown]
    folder = out / "cars"
    folder.mkdir(parents=True, exist_ok=True)
    for k, (path, truth, top5) in enumerate(answers):
        print(json.dumps({"image": path, "truth": truth, "top1": top5[0]}), flush=True)
        lines: list = [Path(path).name if truth is None else f"truth: {_name(predictor.loaded, truth)}"]
        lines += [(f"{r}. {c['class_name']} {c['probability']:.1%}", "right" if c["class_id"] == truth else "")
                  for r, c in enumerate(top5, 1)]
        section.picture(_thumbnail(path, folder / f"{k:02d}-{Path(path).stem}.jpg"), lines, small=True)
    return section


def _predict_cars(predictor, labelled: list[tuple], section: Section) -> list[tuple]:
    """(path, class id or None, top5) for each photo that decodes; a note for each that does not."""
    from trivision.errors import BadImage
    answers = []
    for path, truth in labelled:
        try:
            answers.append((path, truth, predictor.predict(path)[0]["top5"]))
        except BadImage as e:
            print(f"cars: {e}", flush=True)
            section.text(str(e), "note")
    return answers


def _thumbnail(path: str, target: Path) -> Path:
    from trivision.data.images import decode_image
    img = Image.fromarray(decode_image(path))
    img.thumbnail((320, 320))
    img.save(target, quality=90)
    return target


def _accuracy(answers: list[tuple]) -> str:
    n = len(answers)
    top1 = sum(top5[0]["class_id"] == truth for _, truth, top5 in answers)
    in5 = sum(any(c["class_id"] == truth for c in top5) for _, truth, top5 in answers)
    return f"On all {n} test photos: top-1 {top1 / max(n, 1):.1%}, top-5 {in5 / max(n, 1):.1%}"


def _one_per_class(answers: list[tuple]) -> list[tuple]:
    first: dict[str, tuple] = {}
    for answer in answers:
        first.setdefault(answer[1], answer)
    return [first[c] for c in sorted(first, key=int)]


def _name(loaded, class_id: str) -> str:
    return dict(zip(loaded.classes, loaded.class_names)).get(class_id, class_id)


# --- colorize --------------------------------------------------------------------------------------

def colorize_section(out: Path, model: str | None, photos: list[Photo]) -> Section:
    from trivision.colorize import colorize_photo, comparison, load_colorizer
    from trivision.tasks.colorize import psnr

    section = Section("colorize", "Colorize: grey | colorized | original")
    if model is None:
        return _skip(section, f"colorize: the model {COLORIZE_MODEL} is not shipped in this install: skipping")
    _step(f"colorize: {model} on {len(photos)} photos turned grey")
    loaded = load_colorizer(model)
    folder = out / "colorize"
    folder.mkdir(parents=True, exist_ok=True)
    section.text(f"{loaded.meta['model']} ({model}) sees only the lightness of each colour photo and predicts its "
                 "colours. PSNR against the original, in dB (higher is closer); the grey photo's PSNR is the "
                 "baseline a colorization has to beat.")
    for photo in photos:
        result = colorize_photo(loaded, photo.rgb)
        scores = psnr(result.rgb, photo.rgb), psnr(result.grey, photo.rgb)
        print(json.dumps({"image": photo.name, "psnr": round(scores[0], 2), "psnr_grey": round(scores[1], 2)}),
              flush=True)
        target = folder / f"{photo.name}.png"
        Image.fromarray(comparison(result)).save(target)
        section.picture(target, [photo.caption, f"PSNR {scores[0]:.2f} dB (grey {scores[1]:.2f} dB)"])
    return section


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trivision.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", default="demo-out", help="where everything is written (default demo-out)")
    p.add_argument("--cars", nargs="+", metavar="PHOTO", help="car photos to name (instead of the test photos)")
    p.add_argument("--cars-data", default=DEFAULT_CARS_DATA,
                   help=f"the Stanford Cars folder the test photos come from (default {DEFAULT_CARS_DATA})")
    p.add_argument("--colorize-weights", metavar="WEIGHTS",
                   help=f"a trained colorize model (.safetensors or run folder) instead of {COLORIZE_MODEL}")
    args = p.parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    colorizer = args.colorize_weights or (COLORIZE_MODEL if shipped_weights(COLORIZE_MODEL) else None)

    sections = [gender_section(out, people_photos()),
                cars_section(out, CARS_MODEL, args.cars, Path(args.cars_data)),
                colorize_section(out, colorizer, colour_photos())]
    report = write_report(out / "report.html", "trivision demo", sections,
                          intro="The three tasks of trivision on photos that ship with its dependencies "
                                "(and Stanford Cars test photos where that folder is at hand).")
    _step("what the demo left")
    print(f"report (open it in a browser): {report}")
    exe = Path(sys.executable).parent / "trivision"  # the venv's command, which need not be on PATH
    print(f"next: {exe if exe.exists() else 'trivision'} evaluate gender --run {out / 'run-gender-tiny'} "
          "--framing as-is")
    return 0


if __name__ == "__main__":
    sys.exit(main())
