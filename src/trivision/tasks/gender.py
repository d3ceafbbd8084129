"""Face gender: LFW-framed faces in, female/male out."""
from __future__ import annotations

import numpy as np
import torch

from trivision.config import Phase, TrainConfig
from trivision.data.datasets import Dataset
from trivision.faces import Box, central_face, detect_faces, frame_face
from trivision.tasks.classify import ClassificationTask

CLASSES = ["female", "male"]
FRAMINGS = ("detect", "as-is")


class GenderTask(ClassificationTask):
    name = "gender"
    label_column = "gender"

    def default_config(self) -> TrainConfig:
        return TrainConfig(task="gender", model="gender-cnn", image_size=100, batch_size=64,
                           phases=[Phase("train", epochs=30, lr=1e-3)])

    def classes(self, ds: Dataset | None = None) -> list[str]:
        return list(CLASSES)

    def train_frame(self, cfg: TrainConfig):
        return None  # the training data is already LFW-framed: the whole frame is the input

    # --- using a trained model -------------------------------------------------------------
    def frames(self, rgb: np.ndarray, framing: str) -> list[tuple[Box | None, np.ndarray]]:
        """Every face in a photo as (box, LFW-style frame); as-is: the whole photo is one frame."""
        if framing == "as-is":
            return [(None, rgb)]
        return [(b, frame_face(rgb, b)) for b in detect_faces(rgb)]

    def labelled_frame(self, framing: str):
        """For evaluation: a labelled photo is about one face, the central one; None when none is found."""
        def frame(rgb: np.ndarray):
            if framing == "as-is":
                return rgb
            box = central_face(detect_faces(rgb), rgb.shape)
            return None if box is None else frame_face(rgb, box)
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
