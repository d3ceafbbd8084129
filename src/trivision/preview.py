"""`trivision augment-preview`: what the lab's augmentation does to some photos, as one grid image."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image

from trivision.data.augment import AugmentConfig, augment_batch, build_augment
from trivision.data.images import decode_image
from trivision.data.loading import resize


def augment_preview(paths: list[str], output: str, size: int = 100, copies: int = 7, seed: int = 0,
                    cfg: AugmentConfig | None = None) -> Path:
    """Each row: the original, then `copies` augmented versions."""
    torch.manual_seed(seed)
    augment = build_augment(cfg or AugmentConfig(), size)
    rows = []
    for p in paths:
        img = resize(decode_image(p), size)
        batch = img[None].expand(copies, -1, -1, -1)
        rows.append(torch.cat([img[None].float() / 255.0, augment_batch(augment, batch)]))
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(rows), out, nrow=copies + 1, padding=2, pad_value=1.0)
    return out
