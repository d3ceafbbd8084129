"""engine/cache.py: a frozen backbone's features per augmented view, the backbone run in evaluation batches."""
from __future__ import annotations

import torch
from torch import nn

from trivision.config import TrainConfig
from trivision.data.augment import AugmentConfig, augment_batch, build_augment
from trivision.engine.batching import evaluation_batch_size
from trivision.engine.cache import build_cache
from trivision.engine.fit import TensorData
from trivision.tasks.classify import ClassificationTask


class Pooled(nn.Module):
    """A backbone that remembers the size of every batch it was given."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=8)
        self.calls = []

    def forward(self, x):
        self.calls.append(len(x))
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.head = Pooled(), nn.Sequential(nn.Flatten(), nn.LazyLinear(2))


def _data(n, size):
    g = torch.Generator().manual_seed(1)
    return TensorData(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), torch.arange(n) % 2)


def test_each_view_is_the_backbone_over_that_views_augmentation_drawn_per_training_batch():
    cfg = TrainConfig(task="cars", batch_size=16, cached_views=2, seed=3, augment=AugmentConfig(enabled=True))
    net, train, augment = Net(), _data(20, 300), build_augment(cfg.augment)
    cache = build_cache(net, ClassificationTask(), train, None, augment, cfg, lambda x: x)
    step = evaluation_batch_size(300, 300, "cpu", cfg.batch_size)
    assert step < cfg.batch_size and max(net.backbone.calls) == step  # large images: smaller forward batches
    for view in range(cfg.cached_views):
        torch.manual_seed(cfg.seed * 1_000_003 + view)  # the same draws, made per batch of 16 as in training
        with torch.no_grad():
            expected = torch.cat([net.backbone(augment_batch(augment, train.images[s:s + 16]))
                                  for s in range(0, len(train), 16)]).half()
        torch.testing.assert_close(cache.views[view].features, expected, atol=2e-3, rtol=1e-3)
        assert torch.equal(cache.views[view].targets, train.targets)
    assert cache.val is None
