"""Face gender: LFW-framed faces in, female/male out."""
from __future__ import annotations

import numpy as np
import torch

from trivision.config import Phase, TrainConfig
from trivision.data.datasets import Dataset
from trivision.faces import (LFW_EXPAND, Box, central_part, detect_faces, distinct_faces, frame_face, frames_whole_photo,
                             photo_face)
from trivision.tasks.classify import ClassificationTask

CLASSES = ["female", "male"]
FRAMINGS = ("detect", "as-is")


def frame_crop(loaded) -> float:
    """The share of the LFW frame's side a trained model saw, centred (weights from before it was stored: 1)."""
    return float(loaded.meta.get("frame_crop", 1.0))


def model_view(rgb: np.ndarray, box: Box | None, crop: float) -> np.ndarray:
    """The part of a photo the model sees: the central `crop` of the LFW-style frame around the face `box`
    (None: the photo is such a frame already)."""
    return central_part(rgb, crop) if box is None else frame_face(rgb, box, LFW_EXPAND * crop)


def detected_view(rgb: np.ndarray, box: Box, crop: float) -> np.ndarray:
    """model_view of a detected face; a photo framed like LFW already is used whole rather than cut again around
    the detector's jittery box (faces.frames_whole_photo; chosen on validation: docs/experiments.md, Gender)."""
    return model_view(rgb, None if frames_whole_photo(box, rgb.shape) else box, crop)


class GenderTask(ClassificationTask):
    name = "gender"
    label_column = "gender"

    def default_config(self) -> TrainConfig:
        return TrainConfig(task="gender", model="gender-cnn", image_size=100, batch_size=64,
                           phases=[Phase("train", epochs=30, lr=1e-3)])

    def classes(self, ds: Dataset | None = None) -> list[str]:
        return list(CLASSES)

    def train_frame(self, cfg: TrainConfig):
        """The training data is LFW-framed already: the model sees the frame's central `frame_crop`."""
        return None if cfg.frame_crop == 1 else lambda rgb: central_part(rgb, cfg.frame_crop)

    # --- using a trained model -------------------------------------------------------------
    def frames(self, rgb: np.ndarray, framing: str, loaded) -> list[tuple[Box | None, np.ndarray]]:
        """Every face in a photo as (box, the part of an LFW-style frame the model saw in training);
        as-is: the photo is one LFW-style frame."""
        crop = frame_crop(loaded)
        if framing == "as-is":
            return [(None, model_view(rgb, None, crop))]
        return [(b, detected_view(rgb, b, crop)) for b in distinct_faces(detect_faces(rgb), rgb.shape)]

    def labelled_frame(self, framing: str, loaded):
        """For evaluation: a labelled photo is about one face, one that frames the photo or else the central one
        (faces.photo_face); None when none is found."""
        crop = frame_crop(loaded)

        def frame(rgb: np.ndarray):
            if framing == "as-is":
                return model_view(rgb, None, crop)
            box = photo_face(detect_faces(rgb), rgb.shape)
            return None if box is None else detected_view(rgb, box, crop)
        return frame

    def describe(self, probs: torch.Tensor, classes: list[str]) -> dict:
        p = probs.tolist()
        k = int(np.argmax(p))
        return {"gender": classes[k], "probability": round(p[k], 6)}

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, classes: list[str]) -> dict:
        pred = outputs.argmax(1)
        out = {"n": int(len(targets)), "accuracy": float((pred == targets).float().mean()) if len(targets) else 0.0}
        recalls = []
        for i, c in enumerate(classes):
            mask = targets == i
            r = float((pred[mask] == i).float().mean()) if mask.any() else float("nan")
            out[f"recall_{c}"] = r
            recalls.append(r)
        present = [r for r in recalls if r == r]
        out["balanced_accuracy"] = sum(present) / len(present) if present else 0.0
        return out
