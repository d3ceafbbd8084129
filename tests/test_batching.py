"""engine/batching.py: evaluation batches on a CPU hold about CPU_BATCH_PIXELS pixels; a GPU's are the caller's."""
from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from trivision.engine.batching import CPU_BATCH_PIXELS, evaluation_batch_size
from trivision.engine.fit import TensorData, run_model
from trivision.inference import LoadedModel
from trivision.tasks.classify import ClassificationTask


def test_the_measured_sizes():
    assert evaluation_batch_size(320, 320, "cpu", 64) == 4
    assert evaluation_batch_size(256, 256, "cpu", 20) == 8
    assert evaluation_batch_size(100, 100, "cpu", 64) == 32
    assert evaluation_batch_size(64, 64, "cpu", 64) == 64  # 128 fit; the caller's batch is the most
    assert evaluation_batch_size(4000, 4000, "cpu", 64) == 1


def test_a_gpu_takes_the_callers_batch():
    assert evaluation_batch_size(320, 320, torch.device("cuda"), 64) == 64


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 512))
def test_within_the_budget_and_the_callers_batch(height, width, largest):
    b = evaluation_batch_size(height, width, "cpu", largest)
    assert 1 <= b <= largest
    assert b == 1 or b * height * width <= CPU_BATCH_PIXELS
    assert b == largest or 2 * b * height * width > CPU_BATCH_PIXELS  # the most that fit, ...
    assert b == largest or b & (b - 1) == 0  # ... as a power of two


class MeanColour(nn.Module):
    """Three logits: each channel's mean brightness (anything per-image works; BatchNorm-free, no state)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, x):
        return x.mean((2, 3)) * self.scale


def _images(n=11, size=300):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_probabilities_do_not_depend_on_the_batch():
    loaded, images = LoadedModel(MeanColour(), {}, ["r", "g", "b"]), _images()
    one_by_one = torch.cat([loaded.probabilities(images[i:i + 1]) for i in range(len(images))])
    torch.testing.assert_close(loaded.probabilities(images), one_by_one)


def test_run_model_scores_every_image_whatever_the_batch():
    images = _images()
    data = TensorData(images, torch.arange(len(images)) % 3)
    out = run_model(MeanColour(), ClassificationTask(), data, batch_size=64)
    assert out["outputs"].shape == (len(images), 3)
    torch.testing.assert_close(out["outputs"], MeanColour()(images.float() / 255.0))
