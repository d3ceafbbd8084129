"""`trivision subset`: a trained classifier restricted to some of its classes.

Its last layer keeps only the rows of the classes kept, so the model chooses among them: its class
probabilities are the full model's renormalised over those classes (for an ensemble, each member's,
then their mean). A 196-class car model restricted to class ids 1-20 is a 20-class model that learned
from the other 176 classes' photos as well.
"""
from __future__ import annotations

from pathlib import Path

import torch

from trivision.data.classes import class_list, parse_class_spec
from trivision.engine.checkpoint import save_state
from trivision.errors import TrivisionError
from trivision.inference import build_model, check_test_time, read_weights, weights_path


def kept_classes(spec: str, classes: list[str]) -> list[str]:
    """The classes of `spec` in the model's order: class ids ('1-20', '3,7') or names ('female,male')."""
    if all(c.isdigit() for c in classes):
        wanted = [str(i) for i in parse_class_spec(spec) or []]
    else:
        wanted = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [c for c in wanted if c not in classes]
    if unknown:
        raise TrivisionError(f"--classes '{spec}': the model does not know class {unknown[0]} "
                             f"(it knows {class_list(classes)})")
    if len(set(wanted)) < 2:
        raise TrivisionError(f"--classes '{spec}': keep two or more classes (a model must choose between some)")
    return [c for c in classes if c in set(wanted)]


def _restricted(meta: dict, rows: list[int]) -> dict:
    out = {**meta, "classes": [meta["classes"][i] for i in rows]}
    if meta.get("class_names"):
        out["class_names"] = [meta["class_names"][i] for i in rows]
    if meta.get("members"):
        out["members"] = [_restricted(member, rows) for member in meta["members"]]
    if meta.get("logit_bias"):
        out["logit_bias"] = {c: b for c, b in meta["logit_bias"].items() if c in out["classes"]}
    return out


def restrict(model: str, spec: str, output: str | Path, tta: str | None = None) -> dict:
    """Write `model` (a shipped name, .safetensors file or run folder) restricted to the classes of `spec`;
    `tta`: the result's test-time augmentation (default: the model's)."""
    if tta is not None:
        check_test_time(tta)
    path = weights_path(model)
    if path.resolve() == Path(output).resolve():
        raise TrivisionError(f"--output {output} is {model}'s own weights file: write elsewhere")
    state, meta = read_weights(path)
    if meta["task"] == "colorize":
        raise TrivisionError(f"{model} is a colorizer: it has no classes to keep")
    keep = kept_classes(spec, list(meta["classes"]))
    rows = [meta["classes"].index(c) for c in keep]
    # the classes its training split was drawn over: a seeded split of fewer classes is another split
    new_meta = {**_restricted(meta, rows), "restricted_from": model, **({"tta": tta} if tta else {}),
                "split_classes": meta.get("split_classes") or list(meta["classes"])}
    # the tensors whose shape follows the number of classes are the class rows: found by building both models
    full = {k: v.shape for k, v in build_model(meta).state_dict().items()}
    small = {k: v.shape for k, v in build_model(new_meta).state_dict().items()}
    index = torch.tensor(rows)
    new_state = {}
    for name, tensor in state.items():
        if name in full and full[name] != small.get(name):
            if full[name][0] != len(meta["classes"]) or full[name][1:] != small[name][1:]:
                raise TrivisionError(f"{model}: cannot tell the class rows of {name} {tuple(full[name])}")
            tensor = tensor.index_select(0, index)
        new_state[name] = tensor
    save_state(Path(output), new_state, new_meta)
    return {"output": str(output), "model": new_meta["model"], "task": meta["task"], "classes": len(keep),
            "from_classes": len(meta["classes"]), "bytes": Path(output).stat().st_size}
