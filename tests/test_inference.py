"""inference.py: test-time augmentation (the weights' own choice, overridable)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trivision.errors import TrivisionError
from trivision.inference import LoadedModel


class LeftBright(nn.Module):
    """Two classes scored by the brightness of the left and the right half: a mirror image swaps them."""

    def forward(self, x):
        half = x.shape[-1] // 2
        return torch.stack([x[..., :half].mean((1, 2, 3)), x[..., half:].mean((1, 2, 3))], dim=1) * 10


def _images():
    x = torch.zeros(3, 3, 8, 8, dtype=torch.uint8)
    x[:, :, :, :4] = torch.tensor([255, 128, 30]).view(3, 1, 1, 1)  # the left half bright, by different amounts
    return x


def test_no_tta_by_default_and_hflip_is_the_mean_over_photo_and_mirror():
    plain = LoadedModel(LeftBright(), {}, ["a", "b"])
    assert plain.test_time == "none"
    p = plain.probabilities(_images())
    assert (p[:, 0] > 0.5).all()
    mirrored = plain.probabilities(_images().flip(-1))
    flipped = LoadedModel(LeftBright(), {"tta": "hflip"}, ["a", "b"]).probabilities(_images())
    torch.testing.assert_close(flipped, (p + mirrored) / 2)
    torch.testing.assert_close(flipped, torch.full_like(flipped, 0.5))  # this model's halves just swap


def test_the_override_wins_over_the_weights_choice():
    loaded = LoadedModel(LeftBright(), {"tta": "hflip"}, ["a", "b"], tta="none")
    assert loaded.test_time == "none"
    assert (loaded.probabilities(_images())[:, 0] > 0.5).all()


def test_an_unknown_tta_is_named():
    with pytest.raises(TrivisionError, match="unknown test-time augmentation 'vflip'"):
        LoadedModel(LeftBright(), {"tta": "vflip"}, ["a", "b"]).probabilities(_images())
