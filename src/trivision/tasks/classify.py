"""What every image-classification task shares: cross-entropy, accuracy, all layers training."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trivision.config import Phase


class ClassificationTask:
    label_column = "label"
    label_smoothing = 0.0

    def batch(self, images: torch.Tensor, targets: torch.Tensor):
        return images, targets

    def loss(self, outputs, targets):
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    def correct(self, outputs, targets) -> int:
        return int((outputs.argmax(1) == targets).sum())

    def set_phase(self, model: nn.Module, phase: Phase) -> None:
        for p in model.parameters():
            p.requires_grad_(True)
