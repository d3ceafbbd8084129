"""Deep Koalarization (Baldassarre, Morín and Rodés-Guirao, 2017), the lab's colorization network.

Input: the L channel of CIE Lab, scaled to [0, 1] (L/100), (N, 1, H, W) with H and W multiples of 8 (the
lab's 256x256). Output: a*b*, which with the input's L makes the colour photo.

- encoder: 3x3 convolutions 64/s2, 128, 128/s2, 256, 256/s2, 512, 512, 256 (ReLU) -> an H/8 x W/8 grid;
- fusion: a frozen pretrained ImageNet classifier, the `embedder` (the lab's Inception-ResNet-v2; here
  MobileNetV2 by default, or any torchvision classification network), sees the grey image (L with
  a*b* = 0, as RGB); its 1000 class probabilities are tiled over the encoder's grid and concatenated to
  it, then a 1x1 convolution to 256 (ReLU);
  `koala-spatial` (not the lab's) also fuses the embedder's last convolutional feature map (backbones.py;
  MobileNetV2: 1280 channels at 1/32 of the photo), computed on the grey photo at its own size and
  upsampled to the grid: where things are, not only what the photo shows, from features ImageNet taught;
  `koala-pyramid` (not the lab's either) fuses the embedder's maps at every resolution from 1/8 of the photo
  to the last (MobileNetV2: 32 channels at 1/8, 96 at 1/16, 1280 at 1/32), parts as well as objects;
- decoder: conv 128, up x2, conv 64, up x2, conv 32, conv 16, then one of two heads:
  - `mse` (the lab's): conv 2 with tanh, up x2 -> a*b*/128 at H x W, trained by mean squared error;
  - `classify`: conv to the 261 a*b* bins (data/lab.py) -> logits at H/2 x W/2, trained by rebalanced
    cross-entropy (tasks/colorize.py) and turned into a*b* by the annealed mean (T = 0.38 unless the weights say otherwise), as in
    Zhang, Isola and Efros (2016).

As in Keras: 'same' padding, nearest-neighbour upsampling, Glorot-uniform weights and zero biases.
The embedder stays frozen and in eval mode whatever the phase; its weights are saved with the model,
so a weights file needs nothing from torch's hub cache.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trivision.errors import TrivisionError
from trivision.models.backbones import (IMAGENET_MEAN, IMAGENET_STD, cached_weights_file, convolutional_part,
                                        imagenet_weights)
from trivision.models.registry import register_model

LOSSES = ("mse", "classify")
AB_SCALE = 128.0          # the mse head predicts a*b* / 128
ANNEALED_T = 0.38         # Zhang et al.'s temperature for the annealed mean: the default
ENCODER = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1), (256, 1))  # (width, stride)


def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


def build_embedder(name: str, pretrained: bool) -> tuple[nn.Module, int, int]:
    """(frozen torchvision classifier `name`, its input side, its number of classes); ImageNet weights
    come from torch's hub cache only."""
    import torchvision  # on use, as in backbones.py
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise TrivisionError(f"unknown embedding network '{name}' (use a torchvision ImageNet classifier, "
                             "e.g. mobilenet_v2, resnet50, inception_v3)")
    weights = imagenet_weights(name)
    if pretrained and not cached_weights_file(weights).exists():
        raise TrivisionError(f"ImageNet weights for embedding network '{name}' are not in torch's hub cache "
                             f"({cached_weights_file(weights)}): nothing is downloaded at run time; "
                             "use --set pretrained=false to start from random weights")
    net = torchvision.models.get_model(name, weights=weights if pretrained else None)
    net.eval().requires_grad_(False)
    return net, weights.transforms().crop_size[0], len(weights.meta["categories"])


def resolution_ends(features: nn.Sequential, side: int = 64) -> tuple[list[int], list[int]]:
    """(index of the last layer at each resolution from 1/8 of the input down, its channels), measured on a
    side x side input: where a pyramid of the feature extractor's maps is read."""
    ends, x = {}, torch.zeros(1, 3, side, side)
    with torch.no_grad():
        for i, layer in enumerate(features):
            x = layer(x)
            if side // x.shape[-1] >= 8:
                ends[x.shape[-1]] = (i, x.shape[1])
    picked = [ends[r] for r in sorted(ends, reverse=True)]
    return [i for i, _ in picked], [c for _, c in picked]


class Koala(nn.Module):
    def __init__(self, embedder: str = "mobilenet_v2", loss: str = "mse", pretrained: bool = True,
                 feature_maps: str = "none"):
        super().__init__()
        from trivision.data.lab import ab_bins  # kornia, on use: gender commands never pay for it
        if loss not in LOSSES:
            raise TrivisionError(f"unknown colorize loss '{loss}' (use {' or '.join(LOSSES)})")
        self.loss = loss
        layers, c_in = [], 1
        for width, stride in ENCODER:
            layers.append(conv(c_in, width, stride))
            c_in = width
        self.encoder = nn.Sequential(*layers)
        self.embedder, self.embed_size, classes = build_embedder(embedder, pretrained)
        self.embedder_name = embedder
        self.map_ends, channels = [], []  # the embedder's layers whose outputs the fusion takes
        if feature_maps != "none":  # the last layer ends the smallest resolution: "last" is the pyramid's top
            self.map_ends, channels = resolution_ends(self.embedder_features())
            if feature_maps == "last":
                self.map_ends, channels = self.map_ends[-1:], channels[-1:]
        spatial_channels = sum(channels)
        self.fusion = nn.Sequential(nn.Conv2d(256 + classes + spatial_channels, 256, 1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(conv(256, 128), nn.Upsample(scale_factor=2), conv(128, 64),
                                     nn.Upsample(scale_factor=2), conv(64, 32), conv(32, 16))
        if loss == "mse":
            self.head = nn.Sequential(nn.Conv2d(16, 2, 3, padding=1), nn.Tanh(), nn.Upsample(scale_factor=2))
        else:
            self.register_buffer("ab_bins", ab_bins())  # saved with the weights: decoding uses the file's bins
            # Decoding settings, saved with the weights; scripts/ship_colorize.py picks them on validation photos.
            # Rebalanced training makes the network predict p(bin) x weight(bin), not p(bin): rare saturated
            # colours come out too often. `prior_correction` a divides the weights^a back out (logit
            # adjustment): 0 keeps the rebalanced, bold colours; 1 the calibrated, duller and safer ones.
            # `temperature` is the annealed mean's (lower: nearer the mode, bolder).
            self.register_buffer("bin_weights", torch.ones(len(self.ab_bins)))  # the task's rebalancing weights
            self.register_buffer("prior_correction", torch.tensor(0.0))
            self.register_buffer("temperature", torch.tensor(ANNEALED_T))
            self.head = nn.Conv2d(16, len(self.ab_bins), 3, padding=1)
        for part in (self.encoder, self.fusion, self.decoder, self.head):
            for m in part.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)

    def train(self, mode: bool = True):
        """nn.Module.train, except the embedder: it is frozen, in eval mode always."""
        super().train(mode)
        self.embedder.eval()
        return self

    def embedder_features(self) -> nn.Module:
        """The embedder's convolutional part; looked up, not registered, so its weights are saved once."""
        return convolutional_part(self.embedder_name, self.embedder)

    @staticmethod
    def grey_rgb(light: torch.Tensor) -> torch.Tensor:
        from kornia.color import lab_to_rgb  # kornia, on use
        return lab_to_rgb(torch.cat([light * 100.0, torch.zeros_like(light), torch.zeros_like(light)], 1))

    @torch.no_grad()
    def embed(self, light: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) L/100 -> (N, classes): the embedder's class probabilities for the grey image."""
        grey = F.interpolate(self.grey_rgb(light), size=(self.embed_size, self.embed_size), mode="bilinear",
                             align_corners=False, antialias=True)
        return torch.softmax(self.embedder((grey - self.mean) / self.std), 1)

    @torch.no_grad()
    def embed_spatial(self, light: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(N, 1, H, W) L/100 -> (N, C, *grid): the embedder's feature maps (`map_ends`) of the grey image at
        its own size, each resized to the encoder's grid, stacked."""
        x, maps = (self.grey_rgb(light) - self.mean) / self.std, []
        for i, layer in enumerate(self.embedder_features()[:self.map_ends[-1] + 1]):
            x = layer(x)
            if i in self.map_ends:
                maps.append(F.interpolate(x, size=grid, mode="bilinear", align_corners=False))
        return torch.cat(maps, 1)

    def forward(self, light: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) L/100 -> mse: (N, 2, H, W) a*b*/128; classify: (N, bins, H/2, W/2) logits."""
        features = self.encoder(light)
        grid = features.shape[-2:]
        fused = [features, self.embed(light)[:, :, None, None].expand(-1, -1, *grid)]
        if self.map_ends:
            fused.append(self.embed_spatial(light, grid))
        return self.head(self.decoder(self.fusion(torch.cat(fused, 1))))

    def to_ab(self, outputs: torch.Tensor) -> torch.Tensor:
        """The model's outputs -> a*b* in Lab units, (N, 2, h, w) at the outputs' resolution."""
        if self.loss == "mse":
            return outputs * AB_SCALE
        logits = outputs - self.prior_correction * self.bin_weights.log()[:, None, None]
        annealed = torch.softmax(logits / self.temperature, 1)
        return torch.einsum("nqhw,qc->nchw", annealed, self.ab_bins)


def build_koala(image_size: int, backbone: str | None, pretrained: bool, loss: str | None, feature_maps: str) -> Koala:
    if image_size < 8 or image_size % 8:
        raise TrivisionError(f"koala: image size {image_size} is not a multiple of 8 "
                             "(the encoder halves it three times)")
    return Koala(backbone or "mobilenet_v2", loss or "mse", pretrained, feature_maps)


@register_model("koala", task="colorize", input_size=256)
def koala(image_size: int = 256, backbone: str | None = None, pretrained: bool = True, loss: str | None = None,
          **_):
    return build_koala(image_size, backbone, pretrained, loss, feature_maps="none")


@register_model("koala-spatial", task="colorize", input_size=256)
def koala_spatial(image_size: int = 256, backbone: str | None = None, pretrained: bool = True,
                  loss: str | None = None, **_):
    return build_koala(image_size, backbone, pretrained, loss, feature_maps="last")


@register_model("koala-pyramid", task="colorize", input_size=256)
def koala_pyramid(image_size: int = 256, backbone: str | None = None, pretrained: bool = True,
                  loss: str | None = None, **_):
    return build_koala(image_size, backbone, pretrained, loss, feature_maps="pyramid")
