"""Torchvision backbones cut at their last convolutional map; ImageNet weights only from the hub cache."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trivision.errors import TrivisionError
from trivision.models.backbones import build_backbone, cached_weights_file, imagenet_weights


def _out(features: nn.Module, size: int = 64) -> torch.Size:
    with torch.no_grad():
        return features.eval()(torch.zeros(1, 3, size, size)).shape


@pytest.mark.parametrize("name, channels, side", [
    ("mobilenet_v2", 1280, 2),   # stride 32
    ("vgg16", 512, 4),           # conv5_3 + ReLU: stride 16, the last max-pool is cut
    ("resnet18", 512, 2),
    ("resnet50", 2048, 2),
])
def test_named_backbones_end_at_the_last_convolutional_map(name, channels, side):
    features, c = build_backbone(name, pretrained=False)
    assert c == channels
    assert _out(features) == (1, channels, side, side)


def test_vgg16_is_cut_before_its_last_max_pool():
    features, _ = build_backbone("vgg16", pretrained=False)
    assert isinstance(features[-1], nn.ReLU) and isinstance(features[-2], nn.Conv2d)
    assert sum(isinstance(m, nn.MaxPool2d) for m in features) == 4


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_x_400mf"])
def test_other_torchvision_networks_through_the_same_door(name):
    features, c = build_backbone(name, pretrained=False)
    shape = _out(features)
    assert len(shape) == 4 and shape[1] == c and not any(isinstance(m, nn.Linear) for m in features.modules())


@pytest.mark.parametrize("name, message", [
    ("resnet9000", "unknown backbone 'resnet9000' (torchvision classification networks: alexnet"),
    ("vit_b_16", "backbone 'vit_b_16' has no plain convolutional feature map"),
    ("googlenet", "has no plain convolutional feature map"),
])
def test_unusable_names_are_one_clear_error(name, message):
    with pytest.raises(TrivisionError) as e:
        build_backbone(name, pretrained=False)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_weights_are_the_classic_imagenet_ones():
    assert imagenet_weights("mobilenet_v2").name == "IMAGENET1K_V1"  # the file install_weights.py provides
    assert imagenet_weights("vgg16").name == "IMAGENET1K_V1"
    assert cached_weights_file(imagenet_weights("mobilenet_v2")).name == "mobilenet_v2-b0353104.pth"


def test_missing_weights_are_never_downloaded(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty hub cache
    with pytest.raises(TrivisionError) as e:
        build_backbone("mobilenet_v2")
    assert not (tmp_path / "checkpoints").exists()  # nothing fetched
    message = str(e.value)
    assert "ImageNet weights for backbone 'mobilenet_v2' are not in torch's hub cache" in message
    assert str(tmp_path / "checkpoints" / "mobilenet_v2-b0353104.pth") in message
    assert "--set pretrained=false" in message and "\n" not in message


def test_pretrained_mobilenet_v2_loads_offline():
    weights = imagenet_weights("mobilenet_v2")
    if not cached_weights_file(weights).exists():
        pytest.skip("needs torchvision's MobileNetV2 weights in torch's hub cache (scripts/install_weights.py)")
    features, _ = build_backbone("mobilenet_v2")
    state = torch.load(cached_weights_file(weights), map_location="cpu", weights_only=True)
    torch.testing.assert_close(features[0][0].weight, state["features.0.0.weight"])
    torch.testing.assert_close(features[18][1].running_var, state["features.18.1.running_var"])
