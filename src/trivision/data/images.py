"""The one safe image decoder: EXIF orientation, any mode to RGB, a pixel limit, clear errors."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from trivision.errors import BadImage

MAX_PIXELS = 40_000_000  # 40 megapixels: larger inputs are refused, not resized
Image.MAX_IMAGE_PIXELS = None  # we enforce MAX_PIXELS ourselves, with a clear message


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float grey: scale the full range to 8 bits instead of clipping it; a float image within
        # [0, 1] is that range, as for arrays (decode_image of a float array)
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        top = arr.max(initial=0)
        hi = 65535.0 if img.mode.startswith("I;16") or top > 255 else 1.0 if img.mode == "F" and top <= 1 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def decode_image(source: str | os.PathLike | bytes | Image.Image | np.ndarray,
                 max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Return an HxWx3 uint8 RGB array, or raise BadImage naming the input."""
    if isinstance(source, np.ndarray):
        return _from_array(source)
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if isinstance(source, Image.Image):
        img, name = source, "<PIL image>"
    else:
        try:
            fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source).open("rb")
        except OSError as e:
            raise BadImage(f"{name}: cannot open ({e.strerror or e})") from None
        try:
            img = Image.open(fp)
        except UnidentifiedImageError:
            raise BadImage(f"{name}: not an image file, or a format Pillow cannot read") from None
        except OSError as e:
            raise BadImage(f"{name}: cannot read image ({e})") from None
    width, height = img.size
    if width < 1 or height < 1:
        raise BadImage(f"{name}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise BadImage(f"{name}: image too large ({width}x{height} = {width * height / 1e6:.1f} MP, "
                       f"limit {max_pixels / 1e6:.0f} MP)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"{name}: corrupt or truncated image ({e})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def _from_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise BadImage(f"<array>: expected HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise BadImage(f"<array>: image too large ({arr.shape[1]}x{arr.shape[0]})")
    return np.ascontiguousarray(arr)


def is_grey(rgb: np.ndarray, tolerance: int = 2) -> bool:
    """True when all three channels are (nearly) equal: a grey photo stored as RGB."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return bool(np.abs(r - g).max(initial=0) <= tolerance and np.abs(g - b).max(initial=0) <= tolerance)
