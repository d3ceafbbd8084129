"""`trivision predict`: photos in, one plain-data dict per answer (per face for gender) out."""
from __future__ import annotations

from typing import Iterator

import torch

from trivision.data.images import decode_image
from trivision.data.loading import resize
from trivision.errors import BadImage, TrivisionError
from trivision.evaluate import DEFAULT_MODEL
from trivision.inference import LoadedModel, load_model
from trivision.tasks import get_task


def predict_image(loaded: LoadedModel, task, image, framing: str = "detect") -> list[dict]:
    """Answers for one photo (a path, bytes, PIL image or HxWx3 array): one dict per face for gender,
    one for the whole photo for cars and colorize (the colorized photo, an HxWx3 uint8 array)."""
    if task.label_column is None:
        from trivision.colorize import colorize_photo
        result = colorize_photo(loaded, image)
        return [{"colorized": result.rgb, "had_colour": result.had_colour}]
    rgb = decode_image(image)
    frames = task.frames(rgb, framing, loaded)
    if not frames:
        return []
    batch = torch.stack([resize(f, loaded.image_size) for _, f in frames])
    probs = loaded.probabilities(batch)
    return [task.answer(box, p, loaded) for (box, _), p in zip(frames, probs)]


def predict_files(task_name: str, paths: list[str], model: str | LoadedModel | None = None,
                  framing: str = "detect", tta: str | None = None, size: int | None = None) -> Iterator[dict]:
    """`model`: a shipped name, a weights file or run folder, or a LoadedModel (e.g. export.load_onnx's);
    `tta`: override its test-time augmentation (inference.TEST_TIME); `size`: the side photos are resized to."""
    task = get_task(task_name)
    loaded = model if isinstance(model, LoadedModel) else load_model(model or DEFAULT_MODEL[task_name])
    if loaded.task != task_name:
        raise TrivisionError(f"model '{loaded.meta['model']}' is for task '{loaded.task}', not '{task_name}'")
    if tta:
        loaded.tta = tta
    if size:
        loaded.resize_to(size)  # before any photo: a network that takes one size only refuses here
    for path in paths:
        try:
            answers = predict_image(loaded, task, path, framing)
        except BadImage as e:
            yield {"image": path, "error": str(e)}
            continue
        if not answers:
            yield {"image": path, "box": None, "error": f"{path}: no face found (try --framing as-is)"}
        for a in answers:
            yield {"image": path, **a}
