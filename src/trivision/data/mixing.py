"""Mixing pairs of training images and their labels, by torchvision, for classification: MixUp (Zhang et al.
2018: a weighted average of two images, and of their labels) and CutMix (Yun et al. 2019: a box of one image
pasted into another, the labels weighted by the box's area). The mixing weight is drawn from Beta(alpha,
alpha), once per batch; with both on, each batch gets one of the two at random (as timm does). Labels come
out as class probabilities, (N, classes), which cross-entropy takes as they are.

Applied by the engine to the augmented training images, before the task's batch, so that a teacher (distill)
answers on the mixed images the student sees (Beyer et al. 2022's function matching); in training only. A frozen
phase that trains on cached backbone features (cached_views > 0) sees those features unmixed.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from trivision.data.augment import AugmentConfig
from trivision.errors import TrivisionError

Mixing = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def mixes(cfg: AugmentConfig) -> bool:
    return cfg.enabled and bool(cfg.mixup or cfg.cutmix)


def build_mixing(cfg: AugmentConfig, num_classes: int) -> Mixing | None:
    """(images (N, C, H, W) float, labels (N,) int) -> (mixed images, (N, num_classes) probabilities); None
    when mixing is off."""
    cfg.check()
    if not mixes(cfg):
        return None
    if num_classes < 2:
        raise TrivisionError("augment.mixup and augment.cutmix mix class labels: this run has "
                             f"{num_classes} class(es) to mix")
    ops = ([v2.MixUp(alpha=cfg.mixup, num_classes=num_classes)] if cfg.mixup else []) + \
          ([v2.CutMix(alpha=cfg.cutmix, num_classes=num_classes)] if cfg.cutmix else [])
    return ops[0] if len(ops) == 1 else v2.RandomChoice(ops)
