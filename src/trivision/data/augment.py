"""The lab's Keras ImageDataGenerator on whole batches: random per sample, done by kornia.

Keras semantics are kept: a zoom factor z > 1 shows *more* of the scene (the picture shrinks),
x and y zoom are drawn independently, and pixels pulled in from outside repeat the edge ('nearest').
Beyond the lab's: random erasing (Zhong et al. 2020) here, and mixing two images and their labels (MixUp,
CutMix) in data/mixing.py, off by default.
"""
from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
from torch import nn

from trivision.errors import TrivisionError


@dataclass
class AugmentConfig:
    enabled: bool = True
    shift: float = 0.2            # width and height shift, fraction of the side
    rotation: float = 20.0        # degrees, either way
    zoom: tuple[float, float] = (1.0, 1.2)
    hflip: bool = True
    crop: int = 0                 # train on random crop x crop windows (fully convolutional models); 0: whole image
    erasing: float = 0.0          # the chance that a training image has a random box blacked out; 0: off
    mixup: float = 0.0            # MixUp's Beta(alpha, alpha) for the mixing weight (data/mixing.py); 0: off
    cutmix: float = 0.0           # CutMix's alpha, the same way; with both on, each batch gets one of them

    def __post_init__(self):
        self.check()  # a bad value stops a run when its config is read, before anything is decoded or written

    def check(self) -> None:
        lo, hi = self.zoom
        if not 0 < lo <= hi:
            raise TrivisionError(f"augment.zoom must satisfy 0 < min <= max, got {tuple(self.zoom)}")
        if self.crop < 0:
            raise TrivisionError(f"augment.crop must be 0 (off) or a side in pixels, got {self.crop}")
        if not 0 <= self.erasing <= 1:
            raise TrivisionError(f"augment.erasing must be a probability in [0, 1], got {self.erasing}")
        for key in ("mixup", "cutmix"):
            if getattr(self, key) < 0:
                raise TrivisionError(f"augment.{key} must be 0 (off) or a positive Beta alpha, "
                                     f"got {getattr(self, key)}")


def build_augment(cfg: AugmentConfig, image_size: int = 0) -> nn.Module:
    """An nn.Module mapping a float batch (N,C,H,W) to an augmented batch; identity when disabled.
    `image_size`: the batch's side, when known; a crop window as large as the image or larger is the whole image."""
    cfg.check()  # again: a field may have been set after construction
    if not cfg.enabled:
        return nn.Identity()
    lo, hi = cfg.zoom
    scale = (1.0 / hi, 1.0 / lo, 1.0 / hi, 1.0 / lo)
    ops = [K.RandomAffine(degrees=cfg.rotation, translate=(cfg.shift, cfg.shift), scale=scale,
                          padding_mode="border", p=1.0)]
    if cfg.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if cfg.crop and not 0 < image_size <= cfg.crop:
        ops.append(K.RandomCrop((cfg.crop, cfg.crop)))
    if cfg.erasing:  # after the crop, so the box lies inside what the model sees
        ops.append(K.RandomErasing(p=cfg.erasing))
    return K.AugmentationSequential(*ops, data_keys=["input"])


@torch.no_grad()
def augment_batch(augment: nn.Module, images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N,3,H,W) -> augmented float in [0, 1]."""
    x = images_uint8.float().div_(255.0)
    return augment(x).clamp_(0.0, 1.0)
