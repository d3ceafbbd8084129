"""What every image-classification task shares: cross-entropy, accuracy, which layers train in a phase."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trivision.config import Phase
from trivision.data.datasets import Dataset
from trivision.errors import TrivisionError


def balanced_class_weights(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (k * count) per class (k: the classes present; an absent class weighs 0), as scikit-learn's
    "balanced": every class contributes the same total weight to the loss."""
    counts = torch.bincount(targets, minlength=num_classes).double()
    present = counts > 0
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = counts.sum() / (int(present.sum()) * counts[present])
    return weights.float()


class ClassificationTask:
    label_column = "label"
    label_smoothing = 0.0
    class_weights: torch.Tensor | None = None  # per class, in the loss (None: every class alike)
    skip_unknown_classes = False  # evaluate: stop at a row whose class the model does not know

    def select(self, ds: Dataset, spec: str) -> Dataset:
        """The rows to train on (cars: `--classes`); every row by default."""
        return ds

    def class_names(self, ds: Dataset, classes: list[str]) -> list[str]:
        """Names for people, stored with the weights; by default the class labels themselves."""
        return list(classes)

    def prepare(self, model: nn.Module, train) -> None:
        """Anything the loss needs from the whole training split before training (colorize: its bin weights)."""

    def batch(self, images: torch.Tensor, targets: torch.Tensor):
        return images, targets

    def loss(self, outputs, targets):
        weight = None if self.class_weights is None else self.class_weights.to(outputs.device)
        return F.cross_entropy(outputs, targets, weight=weight, label_smoothing=self.label_smoothing)

    def correct(self, outputs, targets) -> int:
        """Right answers; against mixed labels (MixUp, CutMix: class probabilities), the larger share."""
        labels = targets.argmax(1) if targets.dim() == 2 else targets
        return int((outputs.argmax(1) == labels).sum())

    def set_phase(self, model: nn.Module, phase: Phase) -> None:
        """Every layer trains, except the model's `backbone` in a phase that freezes it."""
        for p in model.parameters():
            p.requires_grad_(True)
        if phase.freeze_backbone:
            if not isinstance(getattr(model, "backbone", None), nn.Module):
                raise TrivisionError(f"phase '{phase.name}' freezes the backbone, but this model has none")
            for p in model.backbone.parameters():
                p.requires_grad_(False)

    def answer(self, box, probs: torch.Tensor, loaded) -> dict:
        """What `predict` says about one frame of a photo: its box (None: the whole photo) and the classes."""
        return {"box": None if box is None else box.as_list(), **self.describe(probs, loaded.classes)}
