"""What the gender trials share: a run's weights with given test-time settings, the rows of one of its splits, and
(accuracy, balanced accuracy) in percent as `trivision evaluate` computes them."""
from __future__ import annotations

from pathlib import Path

import torch

from trivision.cli import parse_logit_bias
from trivision.evaluate import run_test_split
from trivision.inference import load_model
from trivision.tasks import get_task


def load_cell(run: str, tta: str, logit_bias: list[str] | None, split: str):
    """(loaded weights, the split's rows, scores: class probabilities -> (accuracy, balanced accuracy) in %)."""
    loaded = load_model(str(Path(run) / "model.safetensors"))
    loaded.tta, loaded.bias = tta, parse_logit_bias(logit_bias)
    ds = run_test_split(Path(run), "gender", split)
    truth = torch.tensor([loaded.classes.index(label) for label in ds.labels])
    task = get_task("gender")

    def scores(probs: torch.Tensor) -> tuple[float, float]:
        m = task.metrics(probs, truth, loaded.classes)
        return 100 * m["accuracy"], 100 * m["balanced_accuracy"]
    return loaded, ds, scores
