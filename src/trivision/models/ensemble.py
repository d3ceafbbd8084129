"""An ensemble of trained classifiers as one network: the mean of their class probabilities.

Networks trained apart (another seed, recipe or loss) make partly different mistakes, so the mean of
their probabilities is right more often than either (cars-bcnn-196: see its model card), at the cost of
one forward pass per member. `forward` returns the log of that mean: a softmax of it gives the mean
back, so every door treats an ensemble like any classifier's logits (and ONNX export sees one graph).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Ensemble(nn.Module):
    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack([m(x).log_softmax(dim=1) for m in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))
