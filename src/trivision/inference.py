"""Load a trained model (shipped name or weights file) and use it: predict photos, evaluate datasets."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from trivision.engine.batching import evaluation_batch_size
from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError
from trivision.models import create_model, model_info
from trivision.models.ensemble import Ensemble
from trivision.models.registry import SHIPPED_AS, shipped_weights


TEST_TIME = ("none", "hflip")  # test-time augmentation: none, or the mean over a photo and its mirror image


def check_test_time(tta: str) -> str:
    if tta not in TEST_TIME:
        raise TrivisionError(f"unknown test-time augmentation '{tta}' (use {' or '.join(TEST_TIME)})")
    return tta


@dataclass
class LoadedModel:
    model: nn.Module
    meta: dict
    classes: list[str] = field(default_factory=list)
    tta: str = ""  # '' the weights' own choice (metadata 'tta', chosen on validation when shipped) | TEST_TIME
    bias: dict[str, float] | None = None  # None: the weights' own (metadata 'logit_bias') | class -> bias
    size: int = 0  # the side photos are resized to; 0: the weights' test size ('test_size'), else training size

    @property
    def logit_bias(self) -> dict[str, float]:
        """Added to each class's log-probability before the choice (after test-time augmentation): an
        operating point chosen on validation, e.g. to trade one class's recall for another's."""
        bias = self.meta.get("logit_bias", {}) if self.bias is None else self.bias
        unknown = [c for c in bias if c not in self.classes]
        if unknown:
            raise TrivisionError(f"logit bias for class '{unknown[0]}', which the model does not know "
                                 f"(its classes: {', '.join(self.classes[:5])}{', ...' * (len(self.classes) > 5)})")
        return {c: float(b) for c, b in bias.items()}

    @property
    def test_time(self) -> str:
        """The test-time augmentation in use: `tta` when set, else the weights' own, else none."""
        return check_test_time(self.tta or self.meta.get("tta", "none"))

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def class_names(self) -> list[str]:
        """Names for people (cars: 'AM General Hummer SUV 2000'); the classes themselves when none were stored."""
        return list(self.meta.get("class_names") or self.classes)

    def resize_to(self, size: int) -> None:
        """Resize photos to `size` from now on; refused at once if the network takes one size only."""
        self.size = size
        self._checked_size()

    @property
    def image_size(self) -> int:
        """The side photos are resized to: `size` when set, else the weights' test size (chosen on validation
        when shipped: a network trained on zoomed views may see better somewhat larger), else their training
        size. An exported ONNX graph takes the size it was exported at (metadata 'onnx_size') only."""
        return self._checked_size()

    def _checked_size(self) -> int:
        trained, exported = int(self.meta["image_size"]), int(self.meta.get("onnx_size", 0))
        size = int(self.size or exported or self.meta.get("test_size") or trained)
        fixed = exported or (0 if takes_any_size(self.meta) else trained)
        if fixed and size != fixed:
            what = "this ONNX graph takes" if exported else f"model '{self.meta['model']}' sees"
            raise TrivisionError(f"{what} photos at {fixed}x{fixed} only, not {size}x{size}"
                                 + ("" if exported else " (only networks with global pooling, bcnn, take any size)"))
        if size < 32:
            raise TrivisionError(f"image size {size} is too small (32 or more)")
        return size

    @property
    def device(self) -> torch.device:
        """Where the model runs: its parameters' device (an ONNX model, export.OnnxModel, runs on the CPU)."""
        first = next(self.model.parameters(), None) if isinstance(self.model, nn.Module) else None
        return first.device if first is not None else torch.device("cpu")

    @torch.no_grad()
    def probabilities(self, images_uint8: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        outs, flip = [], self.test_time == "hflip"
        batch_size = evaluation_batch_size(*images_uint8.shape[-2:], self.device, batch_size)
        for s in range(0, len(images_uint8), batch_size):
            x = (images_uint8[s:s + batch_size].float() / 255.0).contiguous(memory_format=torch.channels_last)
            p = torch.softmax(self.model(x), dim=1)
            if flip:
                mirrored = x.flip(-1).contiguous(memory_format=torch.channels_last)
                p = (p + torch.softmax(self.model(mirrored), dim=1)) / 2
            outs.append(p)
        probs = torch.cat(outs) if outs else torch.empty(0, len(self.classes))
        bias = self.logit_bias
        if any(bias.values()):
            offsets = torch.tensor([bias.get(c, 0.0) for c in self.classes], dtype=probs.dtype, device=probs.device)
            probs = torch.softmax(probs.log() + offsets, 1)
        return probs


def weights_path(name_or_path: str) -> Path:
    """The weights file of a shipped name (e.g. 'gender-cnn'), a .safetensors file or a run folder."""
    path = Path(name_or_path)
    if path.is_dir() and (path / "model.safetensors").exists():
        path = path / "model.safetensors"
    if not path.exists() or path.is_dir():
        if path.suffix == ".safetensors" or "/" in name_or_path:
            raise TrivisionError(f"{name_or_path}: weights file not found")
        # a shipped name is an architecture's ('gender-cnn') or its own ('cars-bcnn-20': bcnn on classes 1-20)
        path = shipped_weights(name_or_path)
        if path is None:
            info = model_info(SHIPPED_AS.get(name_or_path, name_or_path))
            raise TrivisionError(f"model '{name_or_path}' has no shipped weights in this install: "
                                 f"train it (trivision train {info.task} --model {info.name}) and pass --weights")
    return path


def takes_any_size(meta: dict) -> bool:
    """Whether every network of a weights file takes photos of any size."""
    return all(model_info(m["model"]).any_size for m in meta.get("members") or [meta])


def build_model(meta: dict) -> nn.Module:
    """The untrained network that a weights file's metadata describes (an ensemble: each member's)."""
    if meta.get("members"):
        return Ensemble([build_model(member) for member in meta["members"]])
    return create_model(meta["model"], image_size=meta["image_size"], num_classes=len(meta["classes"]),
                        dropout=meta.get("dropout", 0.5), backbone=meta.get("backbone") or None,
                        loss=meta.get("loss") or None, pretrained=False)  # every weight comes from the file


def read_weights(path: Path) -> tuple[dict, dict]:
    """(state dict, metadata) of a weights file written by trivision; another safetensors file is an error."""
    state, meta = load_weights(path)
    if "model" not in meta:
        raise TrivisionError(f"{path}: no trivision metadata (model name, classes): not written by trivision")
    return state, meta


def load_model(name_or_path: str) -> LoadedModel:
    """A shipped model by name (e.g. 'gender-cnn'), or a .safetensors file / run folder written by training."""
    path = weights_path(name_or_path)
    state, meta = read_weights(path)
    model = build_model(meta)
    try:
        model.load_state_dict(state)  # weights stored as float16 (`trivision ensemble --half`) become float32
    except RuntimeError as e:
        raise TrivisionError(f"{path}: weights do not fit model '{meta['model']}' ({str(e).splitlines()[0]})") from None
    # channels-last: oneDNN's preferred layout on CPU (gender-tiny at batch 1: about 3x faster)
    model.eval().to(memory_format=torch.channels_last)
    return LoadedModel(model, meta, list(meta["classes"]))
