"""CIE Lab for colorization: kornia's conversions, plus the two things kornia does not do.

- `lab_to_rgb_keeping_l`: Lab -> sRGB where a colour outside sRGB is moved toward the grey of the same
  luminance (in linear RGB, where luminance is linear) until it fits, instead of clipping each channel.
  Clipping changes the lightness of a saturated colour; this keeps the photo's own L.
- the a*b* bins of the classification objective (Zhang, Isola and Efros, 2016): a*b* cut into 10x10 cells,
  keeping the cells that some sRGB colour falls in (261 of them), and each a*b* pair's bin.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from kornia.color import lab_to_rgb, linear_rgb_to_rgb, rgb_to_lab, rgb_to_linear_rgb

__all__ = ["AB_BIN", "ab_bins", "lab_to_rgb_keeping_l", "nearest_bin", "photo_lab", "rgb_to_lab"]

AB_BIN = 10.0  # a*b* units per bin side
LUMINANCE = (0.212671, 0.715160, 0.072169)  # linear RGB -> Y, the row kornia's rgb_to_xyz uses


def photo_lab(rgb) -> torch.Tensor:
    """An HxWx3 uint8 photo (numpy array) as Lab, (1, 3, H, W) float32."""
    return rgb_to_lab(torch.as_tensor(rgb).permute(2, 0, 1)[None].float() / 255.0)


def lab_to_rgb_keeping_l(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) Lab -> sRGB in [0, 1], out-of-gamut colours desaturated at constant luminance."""
    linear = rgb_to_linear_rgb(lab_to_rgb(lab, clip=False))
    weights = torch.tensor(LUMINANCE, dtype=linear.dtype, device=linear.device)[:, None, None]
    grey = (linear * weights).sum(-3, keepdim=True).clamp(0.0, 1.0)
    away = linear - grey
    # the largest t in [0, 1] with grey + t * away inside [0, 1] on every channel
    room = torch.where(away > 0, 1.0 - grey, grey) / away.abs().clamp(min=1e-12)
    t = room.amin(-3, keepdim=True).clamp(max=1.0)
    return linear_rgb_to_rgb(grey + t * away).clamp(0.0, 1.0)


@lru_cache(maxsize=1)
def _bins() -> tuple[torch.Tensor, torch.Tensor, int]:
    levels = torch.linspace(0, 1, 64)
    every_rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, -1, 1)
    cells = torch.round(rgb_to_lab(every_rgb)[1:, :, 0] / AB_BIN).long()
    kept = torch.unique(cells, dim=1).T  # (Q, 2) cell coordinates, sorted
    centres = kept.float() * AB_BIN
    # a table from any cell of a*b* in [-128, 128] to its nearest kept bin
    reach = int(torch.ceil(torch.tensor(128.0 / AB_BIN)))
    axis = torch.arange(-reach, reach + 1, dtype=torch.float32) * AB_BIN
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    table = torch.cdist(grid, centres).argmin(1).reshape(len(axis), len(axis))
    return centres, table, reach


def ab_bins() -> torch.Tensor:
    """(Q, 2) the a*b* centres of the bins, Q = 261."""
    return _bins()[0].clone()


def nearest_bin(ab: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) a*b* -> (N, H, W) the index of each pixel's bin (the nearest kept one)."""
    _, table, reach = _bins()
    cell = torch.round(ab / AB_BIN).long().clamp(-reach, reach) + reach
    return table.to(cell.device)[cell[:, 0], cell[:, 1]]
