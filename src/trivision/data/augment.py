"""The lab's Keras ImageDataGenerator on whole batches: random per sample, done by kornia.

Keras semantics are kept: a zoom factor z > 1 shows *more* of the scene (the picture shrinks),
x and y zoom are drawn independently, and pixels pulled in from outside repeat the edge ('nearest').
"""
from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
from torch import nn


@dataclass
class AugmentConfig:
    enabled: bool = True
    shift: float = 0.2            # width and height shift, fraction of the side
    rotation: float = 20.0        # degrees, either way
    zoom: tuple[float, float] = (1.0, 1.2)
    hflip: bool = True
    crop: int = 0                 # train on random crop x crop windows (fully convolutional models); 0: whole image


def build_augment(cfg: AugmentConfig) -> nn.Module:
    """An nn.Module mapping a float batch (N,C,H,W) to an augmented batch; identity when disabled."""
    if not cfg.enabled:
        return nn.Identity()
    lo, hi = cfg.zoom
    if not 0 < lo <= hi:
        raise ValueError(f"zoom range must satisfy 0 < min <= max, got {cfg.zoom}")
    scale = (1.0 / hi, 1.0 / lo, 1.0 / hi, 1.0 / lo)
    ops = [K.RandomAffine(degrees=cfg.rotation, translate=(cfg.shift, cfg.shift), scale=scale,
                          padding_mode="border", p=1.0)]
    if cfg.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if cfg.crop < 0:
        raise ValueError(f"crop must be 0 (off) or a side in pixels, got {cfg.crop}")
    if cfg.crop:
        ops.append(K.RandomCrop((cfg.crop, cfg.crop)))
    return K.AugmentationSequential(*ops, data_keys=["input"])


@torch.no_grad()
def augment_batch(augment: nn.Module, images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N,3,H,W) -> augmented float in [0, 1]."""
    x = images_uint8.float().div_(255.0)
    return augment(x).clamp_(0.0, 1.0)
