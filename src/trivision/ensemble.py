"""`trivision ensemble`: combine trained classifiers of one task and one class list into one weights file.

The file holds every member's weights (`members.<i>.` before each name) and, in its metadata, the
members' own metadata, so `load_model` rebuilds each member and averages their class probabilities
(models/ensemble.py). A member that is an ensemble already gives its own members, so every network
counts once in the mean (an ensemble of two plus a third network: the mean of three). With `half`,
floating-point weights are stored as float16 (half the file), else as float32; either way they are
computed in float32 after loading.
"""
from __future__ import annotations

from pathlib import Path

import torch

from trivision.engine.checkpoint import save_state
from trivision.errors import TrivisionError
from trivision.inference import check_test_time, read_weights, weights_path

# what every member must share to be averaged, with the value a file without the key means
MUST_MATCH = {"task": None, "classes": None, "image_size": None, "frame_crop": 1.0}


def combine(members: list[str], output: str | Path, half: bool = False, tta: str = "none") -> dict:
    """Write the ensemble of `members` (shipped names, .safetensors files or run folders) to `output`."""
    if len(members) < 2:
        raise TrivisionError("an ensemble needs two or more members")
    check_test_time(tta)
    state, metas = {}, []
    for member in members:
        path = weights_path(member)
        if path.resolve() == Path(output).resolve():
            raise TrivisionError(f"--output {output} is member {member}'s own weights file: write elsewhere")
        for weights, meta in networks(*read_weights(path)):
            if meta["task"] == "colorize":
                raise TrivisionError(f"{member}: only classifiers (gender, cars) can be averaged, not a colorizer")
            for key in MUST_MATCH if metas else ():
                theirs, first = meta.get(key, MUST_MATCH[key]), metas[0].get(key, MUST_MATCH[key])
                if theirs != first:
                    raise TrivisionError(f"{member} differs from {members[0]} in {key} "
                                         f"({_short(theirs)} against {_short(first)}): "
                                         "members must share task, classes, image size and framing")
            for name, tensor in weights.items():
                if tensor.is_floating_point():
                    tensor = tensor.to(torch.float16 if half else torch.float32)
                state[f"members.{len(metas)}.{name}"] = tensor
            metas.append(meta)
    # the ensemble's operating point and test size are its own, chosen on validation like its tta
    first = {k: v for k, v in metas[0].items() if k not in ("logit_bias", "test_size")}
    meta = {**first, "model": "ensemble", "members": metas, "tta": tta, "stored_as": "float16" if half else "float32"}
    save_state(Path(output), state, meta)
    return {"output": str(output), "members": len(metas), "task": meta["task"],
            "classes": len(meta["classes"]), "bytes": Path(output).stat().st_size}


def networks(weights: dict, meta: dict) -> list[tuple[dict, dict]]:
    """The (weights, metadata) of each network in a weights file: itself, or an ensemble's members."""
    if not meta.get("members"):
        return [(weights, meta)]
    return [({name.split(".", 2)[2]: tensor for name, tensor in weights.items() if name.startswith(f"members.{i}.")},
             member) for i, member in enumerate(meta["members"])]


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
