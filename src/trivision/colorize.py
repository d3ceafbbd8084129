"""`trivision colorize`: photos in, colorized photos and side-by-side comparisons out.

A photo of any size is colorized at the model's size (256x256): the a*b* the model gives are upsampled
(bilinear) to the photo's own size and put with the photo's own L channel, so the result is as sharp as
the input and keeps its lightness exactly. A colour photo is turned grey first (its L channel); a grey one
(one channel, or RGB with equal channels) is used as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from trivision.data.images import decode_image, is_grey
from trivision.data.lab import lab_to_rgb_keeping_l, photo_lab, rgb_to_lab
from trivision.data.loading import resize
from trivision.errors import BadImage, TrivisionError
from trivision.inference import LoadedModel, load_model

DEFAULT_MODEL = "colorize-koala"
COMPARE_HEIGHT = 512  # the comparison's panels are shrunk to at most this height


@dataclass
class Colorized:
    rgb: np.ndarray       # HxWx3 uint8: the colorized photo
    grey: np.ndarray      # HxWx3 uint8: what the model saw (the photo's L, a*b* = 0)
    original: np.ndarray  # HxWx3 uint8: the photo as decoded
    had_colour: bool


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    return rgb[0].mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


@torch.no_grad()
def colorize_photo(loaded: LoadedModel, image) -> Colorized:
    """Colorize one photo (a path, bytes, PIL image or array) at its own size."""
    rgb = decode_image(image)
    return compose(loaded, rgb, network_outputs(loaded, rgb))


@torch.no_grad()
def network_outputs(loaded: LoadedModel, rgb: np.ndarray) -> torch.Tensor:
    """The network's raw outputs for a decoded photo, seen grey at the model's size."""
    small = resize(rgb, loaded.image_size)[None].float() / 255.0
    return loaded.model(rgb_to_lab(small)[:, :1] / 100.0)


def upsampled_ab(ab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 2, h, w) a*b* resized to a photo's (height, width): bilinear, antialiased where it shrinks."""
    shrinking = ab.shape[-2] > size[0] or ab.shape[-1] > size[1]
    return F.interpolate(ab, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


@torch.no_grad()
def compose(loaded: LoadedModel, rgb: np.ndarray, outputs: torch.Tensor) -> Colorized:
    """The photo's own L with the a*b* decoded from `outputs`, upsampled to the photo's size."""
    light = photo_lab(rgb)[:, :1]
    ab = upsampled_ab(loaded.model.to_ab(outputs), rgb.shape[:2])
    colour = lab_to_rgb_keeping_l(torch.cat([light, ab], 1))
    grey = lab_to_rgb_keeping_l(torch.cat([light, torch.zeros_like(ab)], 1))
    return Colorized(_to_uint8(colour), _to_uint8(grey), rgb, not is_grey(rgb))


def comparison(result: Colorized) -> np.ndarray:
    """grey | colorized | original (the original only when the photo had colour), side by side."""
    panels = [result.grey, result.rgb] + ([result.original] if result.had_colour else [])
    h, w = result.rgb.shape[:2]
    if h > COMPARE_HEIGHT:
        size = (COMPARE_HEIGHT, max(1, round(w * COMPARE_HEIGHT / h)))
        panels = [resize(p, size).permute(1, 2, 0).numpy() for p in panels]
    return np.concatenate(panels, axis=1)


def load_colorizer(model: str | LoadedModel | None) -> LoadedModel:
    loaded = model if isinstance(model, LoadedModel) else load_model(model or DEFAULT_MODEL)
    if loaded.task != "colorize":
        raise TrivisionError(f"model '{loaded.meta['model']}' is for task '{loaded.task}', not 'colorize'")
    return loaded


def set_decoding(loaded: LoadedModel, prior_correction: float | None = None, temperature: float | None = None) -> None:
    """Decode with these settings instead of the weights' own (chosen on validation photos when shipped): a prior
    correction from 0 (the rebalanced, bold colours) to 1 (calibrated, duller, safer) and the annealed mean's
    temperature (lower: bolder). Only the classify objective has them, and only in PyTorch (ONNX bakes them in)."""
    if prior_correction is None and temperature is None:
        return
    from trivision.models.koala import Koala
    if loaded.task != "colorize":
        raise TrivisionError(f"--prior-correction and --temperature are colorize's decoding settings; model "
                             f"'{loaded.meta['model']}' is for task '{loaded.task}'")
    if not isinstance(loaded.model, Koala):
        raise TrivisionError("--prior-correction and --temperature: an ONNX graph decodes as it was exported; "
                             "use the PyTorch weights (--runtime torch)")
    if not hasattr(loaded.model, "temperature"):
        raise TrivisionError(f"--prior-correction and --temperature set how a koala trained with the classify "
                             f"objective decodes its bins; model '{loaded.meta['model']}' was trained with "
                             f"{loaded.meta.get('loss')}, which has no such settings")
    if prior_correction is not None:
        if not 0 <= prior_correction <= 1:
            raise TrivisionError(f"--prior-correction {prior_correction:g}: give 0 (bold) to 1 (calibrated)")
        loaded.model.prior_correction.fill_(prior_correction)
    if temperature is not None:
        if not 0 < temperature <= 10:
            raise TrivisionError(f"--temperature {temperature:g}: give a number above 0 and at most 10 "
                                 "(0.38: Zhang et al.'s; lower: bolder)")
        loaded.model.temperature.fill_(temperature)


def colorize_files(paths: list[str], output_dir: str, model: str | LoadedModel | None = None,
                   prior_correction: float | None = None, temperature: float | None = None) -> Iterator[dict]:
    """Write OUTPUT_DIR/NAME.png and NAME-compare.png for each photo; one dict per photo (or its error).
    `prior_correction`, `temperature`: decode with these instead of the weights' own (set_decoding)."""
    loaded = load_colorizer(model)
    set_decoding(loaded, prior_correction, temperature)
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrivisionError(f"--output-dir {out}: cannot create the folder ({e.strerror or e})") from None
    used: set[str] = set()
    for path in paths:
        try:
            result = colorize_photo(loaded, path)
        except BadImage as e:
            yield {"image": path, "error": str(e)}
            continue
        name = _unused_name(Path(path).stem, used)
        Image.fromarray(result.rgb).save(out / f"{name}.png")
        Image.fromarray(comparison(result)).save(out / f"{name}-compare.png")
        yield {"image": path, "output": str(out / f"{name}.png"), "compare": str(out / f"{name}-compare.png"),
               "had_colour": result.had_colour}


def _unused_name(stem: str, used: set[str]) -> str:
    """`stem`, or stem-2, stem-3... when photos of one call share a name (a/x.jpg, b/x.jpg)."""
    name, k = stem, 1
    while name in used:
        k += 1
        name = f"{stem}-{k}"
    used.add(name)
    return name
