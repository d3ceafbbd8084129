"""Model registry: name -> builder, plus the weights and model cards shipped in the package."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from trivision.errors import TrivisionError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass
class ModelInfo:
    name: str
    task: str
    builder: Callable[..., nn.Module]
    input_size: int
    any_size: bool = False  # the network takes photos of any size (global pooling), not only its training size


_REGISTRY: dict[str, ModelInfo] = {}

# shipped weights named for what they were trained on, not for their architecture: name -> architecture
SHIPPED_AS = {"cars-bcnn-20": "bcnn", "cars-bcnn-196": "bcnn", "colorize-koala": "koala-spatial"}


def register_model(name: str, task: str, input_size: int, any_size: bool = False):
    def wrap(builder):
        _REGISTRY[name] = ModelInfo(name, task, builder, input_size, any_size)
        return builder
    return wrap


def _ensure_loaded() -> None:
    # importing the model modules fills the registry
    import trivision.models.bilinear
    import trivision.models.gender
    import trivision.models.koala  # noqa: F401


def list_models(task: str | None = None) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, m in _REGISTRY.items() if task is None or m.task == task)


def model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise TrivisionError(f"unknown model '{name}' (known: {', '.join(list_models())})")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> nn.Module:
    return model_info(name).builder(**kwargs)


def shipped_weights(name: str) -> Path | None:
    """The weights file shipped in the package for `name`, or None."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    return path if path.exists() else None
