"""The bilinear CNN for fine-grained classification (Lin, RoyChowdhury and Maji, 2015).

A pretrained backbone's last convolutional feature map X (C channels over L locations) is pooled into
X·Xᵀ/L (C x C), passed through a signed square root and L2 normalisation, then dropout and a linear
classifier. The lab ran two identical VGG16 streams (same weights) on the same image; their outer product
is one stream's with itself, so this is that *symmetric* B-CNN with one backbone: the same function at
half the compute.

`bcnn` pools the backbone's C channels directly (mobilenet_v2: C = 1280, a 1,638,400-wide classifier
input; 35.0M parameters for 20 classes, 32.8M of them the classifier). `bcnn-lowdim` first projects them
to 128 channels with a learned 1x1 convolution (+BatchNorm, ReLU), so the classifier has 128² inputs per
class instead of C² (2.75M parameters for 20 classes).

The model is a `PretrainedNet` (backbones.py): `backbone` then `head`, so a phase that freezes the backbone
trains only the head, on cached backbone features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trivision.models.backbones import PretrainedNet
from trivision.models.registry import register_model

SQRT_EPS = 1e-6


def signed_sqrt(x: torch.Tensor, eps: float = SQRT_EPS) -> torch.Tensor:
    """≈ sign(x)·sqrt(|x|), written x / sqrt(|x| + eps): continuous, 0 at 0, gradient at most 1/sqrt(eps).

    The plain form has an infinite gradient at 0 (and sign(x)·sqrt(|x| + eps) jumps there)."""
    return x * torch.rsqrt(x.abs() + eps)


class BilinearPool(nn.Module):
    """(N, C, h, w) -> (N, C²): the mean outer product over locations, signed square root, unit L2 norm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w) / (h * w) ** 0.5  # scaling X, not the C² result: one pass fewer over C²
        gram = torch.bmm(x, x.transpose(1, 2))
        return F.normalize(signed_sqrt(gram.reshape(n, c * c)), dim=1)


class BilinearHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, dropout: float = 0.5, projection: int = 0):
        super().__init__()
        self.project = nn.Identity() if not projection else nn.Sequential(
            nn.Conv2d(channels, projection, 1, bias=False), nn.BatchNorm2d(projection), nn.ReLU(inplace=True))
        width = projection or channels
        self.pool = BilinearPool()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width * width, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.project(features))))


def bilinear_cnn(backbone: str = "mobilenet_v2", num_classes: int = 20, dropout: float = 0.5,
                 projection: int = 0, pretrained: bool = True) -> PretrainedNet:
    return PretrainedNet(backbone, lambda channels: BilinearHead(channels, num_classes, dropout, projection),
                         pretrained)


@register_model("bcnn", task="cars", input_size=250, any_size=True)
def bcnn(num_classes: int = 20, dropout: float = 0.5, backbone: str | None = None, pretrained: bool = True, **_):
    return bilinear_cnn(backbone or "mobilenet_v2", num_classes, dropout, projection=0, pretrained=pretrained)


@register_model("bcnn-lowdim", task="cars", input_size=250, any_size=True)
def bcnn_lowdim(num_classes: int = 20, dropout: float = 0.5, backbone: str | None = None, pretrained: bool = True,
                **_):
    return bilinear_cnn(backbone or "mobilenet_v2", num_classes, dropout, projection=128, pretrained=pretrained)
