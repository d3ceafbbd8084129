"""Torchvision backbones cut at their last convolutional feature map, with ImageNet weights used offline.

`build_backbone(name)` takes any torchvision classification network and keeps its convolutional part:
- `vgg*`: `features` without the last max-pool (conv5_3 and its ReLU, where the B-CNN paper pools);
- networks with a `features` block (`mobilenet_v2`, mobilenet_v3, efficientnet, convnext, densenet...):
  that block (for `mobilenet_v2`: 1280 channels after the last 1x1 convolution);
- the others (`resnet18`, `resnet50`, resnext, regnet, shufflenet, mnasnet...): their top-level layers up
  to the global pooling or the classifier.
Transformers and networks with side branches (vit, swin, maxvit, googlenet, inception) have no such
feature map and are refused.

Weights are torchvision's ImageNet ones (IMAGENET1K_V1 where it exists: the classic weights, and for
`mobilenet_v2` the file `scripts/install_weights.py` puts in torch's hub cache). They are read from the
hub cache only: nothing is downloaded at run time. torchvision is imported on use, so that commands
which never build a backbone (gender) do not pay a second and a half for it.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from trivision.errors import TrivisionError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REFUSED = ("vit_", "swin_", "maxvit_", "googlenet", "inception_")
HEAD_NAMES = ("avgpool", "fc", "classifier", "head", "heads")


def imagenet_weights(name: str):
    """The ImageNet weights enum member used for backbone `name`."""
    import torchvision
    weights = torchvision.models.get_model_weights(name)
    return getattr(weights, "IMAGENET1K_V1", None) or weights.DEFAULT


def cached_weights_file(weights) -> Path:
    """Where torchvision looks for `weights` before downloading them."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def convolutional_part(name: str, net: nn.Module) -> nn.Module:
    """The layers of `net` up to its last convolutional feature map."""
    if name.startswith("vgg"):
        return net.features[:-1]
    if isinstance(getattr(net, "features", None), nn.Module):
        return net.features
    layers = []
    for child_name, child in net.named_children():
        if child_name in HEAD_NAMES or isinstance(child, (nn.AdaptiveAvgPool2d, nn.Linear)):
            break
        layers.append(child)
    return nn.Sequential(*layers)


def feature_channels(features: nn.Module) -> int:
    """The channel count of a feature extractor's output, measured: no table of numbers to keep in step with
    torchvision."""
    with torch.no_grad():
        return features(torch.zeros(1, 3, 64, 64)).shape[1]


def build_backbone(name: str, pretrained: bool = True) -> tuple[nn.Module, int]:
    """(feature extractor: normalised RGB (N,3,H,W) -> (N,C,h,w), C) for torchvision network `name`."""
    import torchvision
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise TrivisionError(f"unknown backbone '{name}' (torchvision classification networks: {', '.join(known)})")
    if name.startswith(REFUSED):
        raise TrivisionError(f"backbone '{name}' has no plain convolutional feature map to pool "
                             "(use a convolutional network such as mobilenet_v2, vgg16 or resnet50)")
    weights = None
    if pretrained:
        weights = imagenet_weights(name)
        if not cached_weights_file(weights).exists():
            raise TrivisionError(
                f"ImageNet weights for backbone '{name}' are not in torch's hub cache "
                f"({cached_weights_file(weights)}): nothing is downloaded at run time; fetch them once with "
                f"`python -c \"import torchvision; torchvision.models.get_model('{name}', weights='{weights.name}')\"` "
                "or train from random weights with --set pretrained=false")
    features = convolutional_part(name, torchvision.models.get_model(name, weights=weights))
    features.eval()
    return features, feature_channels(features)


class PretrainedNet(nn.Module):
    """A torchvision backbone and a head, in two parts the engine can use separately: `backbone` ([0, 1] RGB ->
    feature map, ImageNet normalisation included) and `head` (feature map -> logits). A phase that freezes the
    backbone trains only the head, on cached backbone features."""

    def __init__(self, backbone: str, head_for_channels, pretrained: bool = True):
        super().__init__()
        from torchvision.transforms import v2  # on use, as build_backbone
        layers, channels = build_backbone(backbone, pretrained)
        self.backbone = nn.Sequential(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD), layers)
        self.head = head_for_channels(channels)
        self.pretrained = pretrained

    def train(self, mode: bool = True):
        """nn.Module.train, except that a pretrained backbone's BatchNorm layers stay in eval mode: they keep
        their ImageNet statistics while fine-tuning (Keras' advice too), so the features the head learnt on the
        frozen backbone do not shift when the backbone starts training, whatever the batch size."""
        super().train(mode)
        if self.pretrained:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))
