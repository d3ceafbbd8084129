"""`trivision evaluate`: a model over a dataset (labelled, or colour photos for colorize), or over the
saved test split of a run."""
from __future__ import annotations

import tomllib
from pathlib import Path

import torch

from trivision.data import splits
from trivision.data.classes import class_list
from trivision.data.datasets import Dataset, encode_labels, read_dataset
from trivision.data.loading import load_images
from trivision.errors import TrivisionError
from trivision.inference import TEST_TIME, load_model
from trivision.tasks import get_task, run_rows

DEFAULT_MODEL = {"gender": "gender-cnn", "cars": "cars-bcnn-20", "colorize": "colorize-koala"}
SCORE = {"gender": "accuracy", "cars": "top1"}  # what a setting is chosen by


def run_test_split(run_dir: Path, task_name: str, which: str = "test"):
    """The rows of a run's saved test split (what the run never trained or selected on), or of another of
    its splits (`which`: train, val)."""
    if not (run_dir / "config.toml").exists() or not (run_dir / "split.csv").exists():
        raise TrivisionError(f"{run_dir}: not a run folder (needs config.toml and split.csv)")
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    task = get_task(task_name)  # the rows the run used; its split.csv lists only those
    ds = run_rows(task, cfg["data"], cfg.get("classes", ""), cfg.get("limit", 0))
    rows = splits.indices(splits.load_split(run_dir / "split.csv", ds), which)
    if len(rows) == 0:
        raise TrivisionError(f"{run_dir}: the run has no {which} split")
    return ds.subset(rows)


def known_class_rows(ds: Dataset, loaded) -> tuple[Dataset, int]:
    """The rows of classes the model was trained on, and how many others were skipped; none is an error."""
    classes = set(loaded.classes)
    known = [i for i, label in enumerate(ds.labels) if label in classes]
    if not known:
        raise TrivisionError(f"{ds.root}: none of the {len(ds)} rows is of a class model '{loaded.meta['model']}' "
                             f"knows (its classes: {class_list(loaded.classes)})")
    return ds.subset(known), len(ds) - len(known)


def evaluate(task_name: str, data: str | None = None, run: str | None = None, model: str | None = None,
             framing: str = "detect", skip_bad: bool = False, limit: int | None = None,
             tta: str | None = None, which: str = "test", bias: dict[str, float] | None = None,
             size: int | None = None, per_row: bool = False, decoding: dict | None = None) -> dict:
    """`which`: the run's split to evaluate (test; val to choose settings by); `tta`: override the weights'
    own test-time augmentation (inference.TEST_TIME); `bias`: override their logit bias (class -> bias);
    `size`: override the side photos are resized to (cars: the weights' test size, else training size);
    `decoding`: colorize's decoding settings instead of the weights' own (colorize.set_decoding's arguments);
    `per_row`: also return `predicted`, the class chosen for each row, in the dataset's order (None for a row
    skipped as bad; cars: rows of known classes only), to pair one system's answers with another's."""
    task = get_task(task_name)
    if run:
        ds = run_test_split(Path(run), task_name, which)
        model = model or str(Path(run) / "model.safetensors")
    else:
        ds = read_dataset(data, task.label_column)
    if limit:
        ds = ds.subset(range(min(limit, len(ds))))
    loaded = load_model(model or DEFAULT_MODEL[task_name])
    if loaded.task != task_name:
        raise TrivisionError(f"model '{loaded.meta['model']}' is for task '{loaded.task}', not '{task_name}'")
    loaded.tta, loaded.bias = tta or "", bias
    if size:
        loaded.resize_to(size)  # before any photo: a network that takes one size only refuses here
    from trivision.colorize import set_decoding
    set_decoding(loaded, **(decoding or {}))  # colorize's; refused by any other task's model
    if task.label_column is None:  # colorize: every photo is scored against itself
        in_use = {k: round(float(getattr(loaded.model, k)), 4) for k in ("prior_correction", "temperature")
                  if hasattr(loaded.model, k)}
        return {**task.evaluate(loaded, ds, skip_bad), "model": loaded.meta["model"], **in_use}
    unknown = 0
    if task.skip_unknown_classes:
        ds, unknown = known_class_rows(ds, loaded)
    targets = torch.from_numpy(encode_labels(ds, loaded.classes))

    not_found = []
    face_frame = task.labelled_frame(framing, loaded)

    def frame(rgb):
        framed = face_frame(rgb)
        if framed is None:  # no face found: counted, and the photo is classified as it is
            not_found.append(1)
            return rgb
        return framed

    images, kept, bad = load_images(ds, range(len(ds)), loaded.image_size, frame if face_frame else None,
                                    skip_bad=skip_bad, desc="evaluating")
    probs = loaded.probabilities(images)
    result = task.metrics(probs, targets[kept], loaded.classes)
    if per_row:
        predicted: list[str | None] = [None] * len(ds)
        for i, c in zip(kept, probs.argmax(1).tolist()):
            predicted[i] = loaded.classes[c]
        result.update(predicted=predicted)
    result.update(model=loaded.meta["model"], tta=loaded.test_time, image_size=loaded.image_size, skipped_bad=len(bad))
    if any(loaded.logit_bias.values()):
        result.update(logit_bias=loaded.logit_bias)
    if face_frame is not None:
        result.update(framing=framing, faces_not_found=len(not_found))
    if task.skip_unknown_classes:
        result.update(skipped_unknown_class=unknown)
    return result


def choose_tta(task_name: str, run: str, model: str | None = None) -> tuple[str, dict[str, float]]:
    """The test-time augmentation with the best score (SCORE: cars top-1, gender accuracy) on a run's
    validation split, for the run's weights or `model`: none unless another is strictly better, none when
    the run has no validation split; and each one's validation score. The test split is not read."""
    if "val" not in splits.read_split(Path(run) / "split.csv").values():
        return "none", {}
    key = SCORE[task_name]
    val = {tta: evaluate(task_name, run=run, model=model, tta=tta, which="val", framing="as-is")[key]
           for tta in TEST_TIME}
    return max(TEST_TIME, key=lambda tta: (val[tta], tta == "none")), val
