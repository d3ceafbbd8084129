"""Fine-grained cars: a photo of a car in, its make, model and year (a Stanford Cars class) out.

Classes are the `class_id` column's ids (text, in numeric order); `--classes 1-20` keeps some of them
before the split. Their names (the `class_name` column, or the dataset's `classes.csv`) travel with the
weights, so predictions name the car.
"""
from __future__ import annotations

import csv

import numpy as np
import torch

from trivision.config import Phase, TrainConfig
from trivision.data.classes import format_class_spec, parse_class_spec
from trivision.data.datasets import Dataset
from trivision.errors import TrivisionError
from trivision.tasks.classify import ClassificationTask


class CarsTask(ClassificationTask):
    name = "cars"
    label_column = "class_id"
    skip_unknown_classes = True  # evaluate: a row of a class the model was not trained on is skipped, counted

    def default_config(self) -> TrainConfig:
        # the lab's two phases: the classifier on a frozen backbone (Adam 1e-4), then every layer (Adam 1e-5)
        return TrainConfig(task="cars", model="bcnn", backbone="mobilenet_v2", image_size=250, batch_size=32,
                           classes="1-20", phases=[Phase("frozen", epochs=20, lr=1e-4, freeze_backbone=True),
                                                   Phase("finetune", epochs=10, lr=1e-5)])

    def select(self, ds: Dataset, spec: str) -> Dataset:
        """The rows of the classes in `spec` ('1-20', '1,5,9-12', 'all'); a chosen class without rows is an error."""
        ids = []
        for i, label in enumerate(ds.labels):
            if label is None or not label.isdigit():
                raise TrivisionError(f"{ds.root / 'labels.csv'}: row {i + 1} ({ds.name(i)}): class_id '{label}' "
                                     "is not a whole number")
            ids.append(int(label))
        wanted = parse_class_spec(spec)
        if wanted is None:
            return ds
        missing = sorted(set(wanted) - set(ids))
        if missing:
            raise TrivisionError(f"--classes {spec}: no images of class {format_class_spec(missing)} in {ds.root}")
        keep = set(wanted)
        return ds.subset(i for i, c in enumerate(ids) if c in keep)

    def classes(self, ds: Dataset | None = None) -> list[str]:
        return sorted(set(ds.labels), key=int)

    def class_names(self, ds: Dataset, classes: list[str]) -> list[str]:
        """Each class's name: from labels.csv's `class_name` column, else the folder's classes.csv, else its id."""
        names = dict(zip(ds.labels, ds.columns.get("class_name", [])))
        table = ds.root / "classes.csv"
        if not names and table.exists():
            with open(table, newline="", encoding="utf-8-sig") as f:
                names = {row.get("class_id", ""): row.get("class_name", "") for row in csv.DictReader(f)}
        return [names.get(c) or c for c in classes]

    def train_frame(self, cfg: TrainConfig):
        return None  # the photos are cropped to the car: the whole photo is the input

    # --- using a trained model -------------------------------------------------------------
    def frames(self, rgb: np.ndarray, framing: str, loaded):
        return [(None, rgb)]

    def labelled_frame(self, framing: str, loaded):
        return None

    def answer(self, box, probs: torch.Tensor, loaded) -> dict:
        """The five likeliest classes (fewer when the model knows fewer), most likely first."""
        p, idx = probs.topk(min(5, len(probs)))
        return {"top5": [{"class_id": loaded.classes[i], "class_name": loaded.class_names[i],
                          "probability": round(float(q), 6)} for q, i in zip(p, idx.tolist())]}

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, classes: list[str]) -> dict:
        """n, top-1 and top-5 accuracy (top-k with k = min(5, classes))."""
        n = len(targets)
        if n == 0:
            return {"n": 0, "top1": 0.0, "top5": 0.0}
        ranked = outputs.topk(min(5, outputs.shape[1]), dim=1).indices
        hits = ranked == targets[:, None]
        return {"n": n, "top1": float(hits[:, 0].float().mean()), "top5": float(hits.any(1).float().mean())}
