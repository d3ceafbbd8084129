"""Colorization: a grey photo in, a colour one out (the lab's Deep Koalarization, models/koala.py).

Training needs only colour photos (a folder, with or without labels.csv): each augmented photo becomes its
L channel (the input, L/100) and its a*b* (the target). The `loss` setting picks the objective:
- `mse`, the lab's: mean squared error on a*b*/128. It washes colours out toward sepia: where a pixel
  could be several colours, the mean of them is a dull one;
- `classify` (the default): cross-entropy over the 261 a*b* bins (data/lab.py), each pixel weighted by
  how rare its bin is in the training set: Zhang, Isola and Efros (2016)'s class rebalancing (the bins'
  distribution smoothed by a Gaussian of sigma 5, mixed half and half with the uniform one, inverted, and
  normalised to a mean weight of 1 over the training pixels), so rare saturated colours are not drowned
  out by common dull ones.

Evaluation scores every colour photo against itself at its own size: PSNR of the colorized photo, PSNR of
its grey version (a*b* = 0, the baseline any colorization should beat), and the colourfulness (Hasler and
Süsstrunk, 2003) of the colorized photos over that of the originals.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trivision.config import Phase, TrainConfig
from trivision.data.augment import AugmentConfig
from trivision.data.datasets import Dataset
from trivision.data.images import decode_image, is_grey
from trivision.data.lab import nearest_bin, photo_lab, rgb_to_lab
from trivision.errors import BadImage, TrivisionError
from trivision.models.koala import AB_SCALE

REBALANCE_LAMBDA = 0.5  # weight of the uniform distribution in the mix
REBALANCE_SIGMA = 5.0   # a*b* units: the Gaussian that smooths the bins' distribution
MIN_COLOURFULNESS_RATIO = 0.6  # the targets' (meets_targets): colours at least 60% as vivid as the originals'
GREY_CHROMA = 5.0  # a*b* units: a pixel of the original under this chroma is grey (asphalt, a white wall, a cloud)


class ColorizeTask:
    name = "colorize"
    label_column = None  # colour photos are their own targets
    skip_unknown_classes = False
    objective = "mse"
    bin_weights: torch.Tensor | None = None  # classify: per-bin weights; None weighs every bin alike

    def default_config(self) -> TrainConfig:
        # zooms (in up to 1.33x) and flips only: shifts and rotations would pull edge pixels in. Training
        # sees random 128x128 windows of the 256x256 photo: a quarter of the compute per step, at the scale
        # the model colorizes at (a smaller photo would teach it the wrong scale); evaluation sees it whole.
        return TrainConfig(task="colorize", model="koala", backbone="mobilenet_v2", loss="classify",
                           image_size=256, batch_size=20, val_fraction=0.1, test_fraction=0.1,
                           phases=[Phase("train", epochs=15, lr=1e-3)],
                           augment=AugmentConfig(shift=0.0, rotation=0.0, zoom=(0.75, 1.0), hflip=True, crop=128))

    def select(self, ds: Dataset, spec: str) -> Dataset:
        if spec:
            raise TrivisionError("--classes: colorize has no classes (every photo is used)")
        return ds

    def classes(self, ds: Dataset | None = None) -> list[str]:
        return []

    def class_names(self, ds: Dataset, classes: list[str]) -> list[str]:
        return []

    def train_frame(self, cfg: TrainConfig):
        return None

    # --- training ----------------------------------------------------------------------------
    def prepare(self, model: nn.Module, train) -> None:
        """Take the model's objective; for classify, weigh the bins by their rarity in `train`'s photos."""
        self.objective = model.loss
        self.bin_weights = rebalancing_weights(train.images, model.ab_bins) if model.loss == "classify" else None
        if self.bin_weights is not None:  # kept with the weights, for decoding (koala's prior_correction)
            model.bin_weights.copy_(self.bin_weights)

    def batch(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB in [0, 1] -> (L/100 (N, 1, H, W), a*b* (N, 2, H, W)); the dataset's targets are unused."""
        lab = rgb_to_lab(images)
        return lab[:, :1] / 100.0, lab[:, 1:]

    def loss(self, outputs: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        if self.objective == "mse":
            return F.mse_loss(outputs, ab / AB_SCALE)
        bins = nearest_bin(F.interpolate(ab, size=outputs.shape[-2:], mode="area"))
        ce = F.cross_entropy(outputs, bins, reduction="none")
        return ce.mean() if self.bin_weights is None else (ce * self.bin_weights.to(ce.device)[bins]).mean()

    def correct(self, outputs, targets) -> None:
        return None

    def set_phase(self, model: nn.Module, phase: Phase) -> None:
        """Every layer trains but the embedder, which is frozen for good."""
        if phase.freeze_backbone:
            raise TrivisionError(f"phase '{phase.name}' freezes the backbone, but koala has none to freeze "
                                 "(its embedding network is always frozen)")
        for p in model.parameters():
            p.requires_grad_(True)
        model.embedder.requires_grad_(False)

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(self, loaded, ds: Dataset, skip_bad: bool = False) -> dict:
        """Colorize every colour photo of `ds` at its own size and score it against the original."""
        from trivision.colorize import colorize_photo
        psnr_out, psnr_grey, colour_out, colour_orig, casts = [], [], [], [], []
        bad = grey = 0
        for i in range(len(ds)):
            try:
                rgb = decode_image(ds.source(i))
            except BadImage as e:
                if not skip_bad:
                    raise TrivisionError(f"{e} (use --skip-bad to skip and count such files)") from None
                bad += 1
                continue
            if is_grey(rgb):  # nothing to compare a colorization with
                grey += 1
                continue
            result = colorize_photo(loaded, rgb)
            psnr_out.append(psnr(result.rgb, rgb))
            psnr_grey.append(psnr(result.grey, rgb))
            colour_out.append(colourfulness(result.rgb))
            colour_orig.append(colourfulness(rgb))
            casts.append(cast_on_grey(result.rgb, rgb))
        if not psnr_out:
            raise TrivisionError(f"{ds.root}: no colour photos to evaluate among {len(ds)} rows "
                                 f"({grey} grey, {bad} undecodable)")
        return {**scores(psnr_out, psnr_grey, colour_out, colour_orig), **mean_cast(casts),
                "skipped_grey": grey, "skipped_bad": bad}


def rebalancing_weights(images_uint8: torch.Tensor, centres: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """(Q,) weights of the a*b* bins from the photos' pixels: rare bins weigh more; mean 1 over the pixels."""
    counts = torch.zeros(len(centres), dtype=torch.float64)
    for s in range(0, len(images_uint8), chunk):
        ab = rgb_to_lab(images_uint8[s:s + chunk].float() / 255.0)[:, 1:]
        counts += torch.bincount(nearest_bin(ab).flatten(), minlength=len(centres)).double()
    kernel = torch.exp(-torch.cdist(centres.double(), centres.double()) ** 2 / (2 * REBALANCE_SIGMA ** 2))
    smooth = kernel @ (counts / counts.sum())
    smooth /= smooth.sum()
    weights = 1.0 / ((1 - REBALANCE_LAMBDA) * smooth + REBALANCE_LAMBDA / len(centres))
    return (weights / (smooth * weights).sum()).float()


def scores(psnr_out: list[float], psnr_grey: list[float], colour_out: list[float], colour_orig: list[float]) -> dict:
    """The colorize scores of a set of photos, from each photo's PSNR (colorized and grey, against the original)
    and colourfulness (colorized and original)."""
    mean_orig = float(np.mean(colour_orig))
    return {"n": len(psnr_out), "psnr": float(np.mean(psnr_out)), "psnr_grey": float(np.mean(psnr_grey)),
            "psnr_over_grey_se": standard_error(np.subtract(psnr_out, psnr_grey)),
            "colourfulness": float(np.mean(colour_out)), "colourfulness_original": mean_orig,
            "colourfulness_ratio": float(np.mean(colour_out)) / mean_orig if mean_orig > 0 else float("nan")}


def cast_on_grey(colorized: np.ndarray, original: np.ndarray) -> tuple[float, float, float, float]:
    """Where the original is grey (chroma under GREY_CHROMA), what colour the colorization gave it: the share of
    such pixels and their mean a*, b* and chroma (nan for a photo with none). A sepia-like cast shows as a*, b* > 0."""
    def ab(rgb):
        return photo_lab(rgb)[0, 1:].flatten(1)
    grey = ab(original).norm(dim=0) < GREY_CHROMA
    if not grey.any():
        return 0.0, float("nan"), float("nan"), float("nan")
    given = ab(colorized)[:, grey]
    return (float(grey.float().mean()), float(given[0].mean()), float(given[1].mean()),
            float(given.norm(dim=0).mean()))


def mean_cast(casts: list[tuple[float, float, float, float]]) -> dict:
    """cast_on_grey over photos: the mean share of grey pixels, and their mean a*, b* and chroma per photo that
    has any (nan when none has)."""
    share = float(np.mean([c[0] for c in casts]))
    some = np.array([c[1:] for c in casts if c[0] > 0]).reshape(-1, 3)
    a, b, chroma = some.mean(0).tolist() if len(some) else [float("nan")] * 3
    return {"grey_pixel_share": share, "cast_a": a, "cast_b": b, "cast_chroma": chroma}


def meets_targets(result: dict) -> bool:
    """The shipped colorizer's targets, on photos it never saw: PSNR above the grey baseline (a*b* = 0) and
    a colourfulness ratio of at least MIN_COLOURFULNESS_RATIO."""
    return result["psnr"] > result["psnr_grey"] and result["colourfulness_ratio"] >= MIN_COLOURFULNESS_RATIO


def standard_error(values) -> float:
    """Standard error of the mean of `values` (nan for fewer than two): for PSNR - grey, taken per photo, it says
    how far a few dozen photos pin the difference down."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two HxWx3 uint8 images, in dB (inf when identical)."""
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Süsstrunk's colourfulness of an HxWx3 uint8 image (0 for grey; about 30-60 for photos)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))

