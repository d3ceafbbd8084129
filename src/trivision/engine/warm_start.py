"""Starting a run from a trained model's weights (`init`): fine-tuning a shipped model on new photos, or
training a model on a few classes from one trained on many others.

Every tensor of the starting model whose name and shape fit the new one is copied, except the classifier's
when the two models know different classes: then, if every new class is one of the starting model's, its
rows for those classes are copied (a model on a few classes starts as the many-class model restricted to
them); otherwise the classifier keeps the values it was created with, as do tensors that do not fit. Starting
weights with a split.csv beside them (a run folder) are checked never to have trained on this run's
validation or test images; for others (a shipped model, a bare file) that is the user's to know.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import torch
from torch import nn

from trivision.data.splits import check_held_out, split_beside
from trivision.errors import TrivisionError
from trivision.models import create_model


def warm_start(model: nn.Module, cfg, classes: list[str], split_paths: dict[str, str]) -> str:
    """Copy cfg.init's fitting weights into `model` (built from `cfg` for `classes`); return a log line."""
    from trivision.inference import load_model
    start, member = load_model(cfg.init), ""
    if start.meta.get("members"):
        start, member = _member_to_start_from(start, cfg)
    if start.meta["model"] != cfg.model:
        raise TrivisionError(f"init {cfg.init} is a '{start.meta['model']}' model, this run trains '{cfg.model}'")
    split_file = split_beside(cfg.init)
    if Path(cfg.init).exists() and split_file.exists():
        check_held_out(split_file, split_paths, f"the starting model {cfg.init}")
    own, theirs = model.state_dict(), start.model.state_dict()
    skip = _class_tensors(cfg, len(classes)) if start.classes != list(classes) else set()
    fitting = {k: v for k, v in theirs.items() if k in own and k not in skip and own[k].shape == v.shape}
    if skip and set(classes) <= set(start.classes):
        rows = torch.tensor([start.classes.index(c) for c in classes])
        fitting.update({k: theirs[k][rows] for k in skip
                        if k in theirs and theirs[k].shape[1:] == own[k].shape[1:]
                        and len(theirs[k]) == len(start.classes)})
    if not fitting:
        raise TrivisionError(f"init {cfg.init}: none of its weights fit this model (another backbone?)")
    model.load_state_dict(fitting, strict=False)
    fresh = [k for k in own if k not in fitting]
    view = (start.image_size, float(start.meta.get("frame_crop", 1.0)))
    return (f"init: {len(fitting)} of {len(own)} weight tensors from {cfg.init}{member}"
            + (f" (new: {', '.join(fresh)})" if fresh else "")
            + (f"; note: it was trained on {view[0]}px inputs with frame_crop {view[1]:g}, this run uses "
               f"{cfg.image_size}px with frame_crop {cfg.frame_crop:g}" if view != (cfg.image_size, cfg.frame_crop) else ""))


def _member_to_start_from(ensemble, cfg):
    """An ensemble (`trivision ensemble`) starts a run from its first member of the run's architecture, in
    the order the members were given; and the log's words for it."""
    from trivision.inference import LoadedModel
    members = ensemble.meta["members"]
    for i, meta in enumerate(members):
        if meta["model"] == cfg.model:
            return (LoadedModel(ensemble.model.members[i], meta, list(meta["classes"])),
                    f" (its member {i + 1} of {len(members)})")
    raise TrivisionError(f"init {cfg.init} is an ensemble of {', '.join(m['model'] for m in members)}; "
                         f"none is a '{cfg.model}', the model this run trains")


def init_chain(cfg: dict) -> tuple[list[Path], str]:
    """The run folders a run (its config.toml as a dict) started from, nearest first, following each one's
    own init; and the start of the chain that is not a run folder (a shipped name, a file; '' for none)."""
    runs = []
    while cfg.get("init") and (Path(cfg["init"]) / "config.toml").exists():
        runs.append(Path(cfg["init"]))
        cfg = tomllib.loads((runs[-1] / "config.toml").read_text())
    return runs, cfg.get("init") or ""


def _class_tensors(cfg, num_classes: int) -> set[str]:
    """The tensors whose shape depends on the number of classes (the classifier's): those that change when
    the model is built for one class more."""
    kwargs = {"image_size": cfg.image_size, "dropout": cfg.dropout, "backbone": cfg.backbone or None,
              "pretrained": False, "loss": cfg.loss or None}
    a = create_model(cfg.model, num_classes=num_classes, **kwargs).state_dict()
    b = create_model(cfg.model, num_classes=num_classes + 1, **kwargs).state_dict()
    return {k for k in a if a[k].shape != b[k].shape}
