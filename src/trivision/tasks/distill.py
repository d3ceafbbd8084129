"""Learning from a teacher (Hinton, Vinyals and Dean, 2015): a classification task whose loss also matches a
trained model's outputs on the same augmented batch.

loss = (1 - w)·cross-entropy(labels) + w·T²·KL(teacher ‖ student), both softened by temperature T.
With teacher_tta = hflip the teacher's answer is the mean of its probabilities on the image and its mirror.
The teacher sees exactly the student's (augmented) inputs, resized to its own input size: Beyer et al.
(2022) found such consistent views, trained on for long, the strongest recipe for distilling.

With MixUp or CutMix the engine mixes the images first: the teacher answers on the mixed images, and the labels
come as class probabilities. Targets travel as one float tensor per batch, (label or class probabilities, teacher
logits...), so that the engine's batching,
feature caching and validation handle them like any targets; the reported loss (validation too) is the
distillation loss. The teacher must not have trained on this run's validation or test images: it is
loaded from a run folder whose split.csv says so.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from trivision.config import Phase
from trivision.data.splits import check_held_out, split_beside
from trivision.errors import TrivisionError
from trivision.inference import TEST_TIME


class Distilled:
    def __init__(self, task, teacher: nn.Module, teacher_size: int, weight: float, temperature: float,
                 teacher_tta: str = "none"):
        if teacher_tta not in TEST_TIME:
            raise TrivisionError(f"teacher_tta must be {' or '.join(TEST_TIME)}, got '{teacher_tta}'")
        if not 0 <= weight <= 1:
            raise TrivisionError(f"distill must be in [0, 1] (the teacher's share of the loss), got {weight}")
        if temperature <= 0:
            raise TrivisionError(f"distill_temperature must be positive, got {temperature}")
        self.task, self.teacher, self.teacher_size = task, teacher.eval().requires_grad_(False), teacher_size
        self.weight, self.temperature, self.teacher_tta = weight, temperature, teacher_tta
        self.device = torch.device("cpu")  # where the teacher is: moved once, to the first batch's device

    def prepare(self, model: nn.Module, train) -> None:
        self.task.prepare(model, train)

    @torch.no_grad()
    def batch(self, images: torch.Tensor, targets: torch.Tensor):
        inputs, labels = self.task.batch(images, targets)
        if not (labels.dim() == 1 or (labels.dim() == 2 and labels.is_floating_point())):
            raise TrivisionError(f"a teacher can teach class labels only, not the targets of task '{self.task.name}'")
        if inputs.device != self.device:
            self.device = inputs.device
            self.teacher.to(self.device)
        seen = inputs
        if inputs.shape[-1] != self.teacher_size or inputs.shape[-2] != self.teacher_size:
            seen = F.interpolate(inputs, size=(self.teacher_size, self.teacher_size), mode="bilinear",
                                 align_corners=False, antialias=True)
        logits = self.teacher(seen.contiguous(memory_format=torch.channels_last)).float()
        if self.teacher_tta == "hflip":  # log of the mean of the two answers' probabilities
            mirrored = self.teacher(seen.flip(-1).contiguous(memory_format=torch.channels_last)).float()
            logits = torch.logsumexp(torch.stack([F.log_softmax(logits, 1), F.log_softmax(mirrored, 1)]), 0) - math.log(2)
        if labels.dim() == 2 and labels.shape[1] != logits.shape[1]:
            raise TrivisionError(f"mixed labels over {labels.shape[1]} classes, the teacher knows {logits.shape[1]}")
        return inputs, torch.cat([labels.float().reshape(len(labels), -1), logits], dim=1)

    @staticmethod
    def _split(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(labels: (N,) class ids, or (N, C) probabilities when mixed; the teacher's logits (N, C))."""
        labels, teacher_logits = targets[:, :-outputs.shape[1]], targets[:, -outputs.shape[1]:]
        return (labels[:, 0].long() if labels.shape[1] == 1 else labels), teacher_logits

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labels, teacher_logits = self._split(outputs, targets)
        t = self.temperature
        soft = F.kl_div(F.log_softmax(outputs / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                        log_target=True, reduction="batchmean") * t * t
        return (1 - self.weight) * self.task.loss(outputs, labels) + self.weight * soft

    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int | None:
        return self.task.correct(outputs, self._split(outputs, targets)[0])

    def set_phase(self, model: nn.Module, phase: Phase) -> None:
        self.task.set_phase(model, phase)


def check_teacher_split(teacher_split: Path, split_paths: dict[str, str]) -> None:
    """Refuse a teacher that trained on an image this run validates or tests on (or validated on one this run
    tests on): its outputs would carry those labels into the student. `split_paths`: path -> this run's split."""
    if not teacher_split.exists():
        raise TrivisionError(f"{teacher_split} not found: a teacher is a run folder (or its model.safetensors), "
                             "whose split.csv shows it never saw this run's validation and test images")
    check_held_out(teacher_split, split_paths, "the teacher")


def with_teacher(task, cfg, classes: list[str], paths: list[str], split: list[str]) -> Distilled:
    """`task`, taught by the run folder cfg.teacher; checked to see the same classes and view of the photo,
    and never to have trained on this run's validation or test images."""
    from trivision.inference import load_model
    loaded = load_model(cfg.teacher)
    if loaded.task != task.name:
        raise TrivisionError(f"teacher {cfg.teacher} is a {loaded.task} model, this is a {task.name} run")
    if loaded.classes != list(classes):
        raise TrivisionError(f"teacher {cfg.teacher} knows classes {loaded.classes}, this run {list(classes)}")
    if float(loaded.meta.get("frame_crop", 1.0)) != cfg.frame_crop:
        raise TrivisionError(f"teacher {cfg.teacher} saw frame_crop {loaded.meta.get('frame_crop', 1.0)} of the "
                             f"frame, this run {cfg.frame_crop}: they must see the same view")
    check_teacher_split(split_beside(cfg.teacher), dict(zip(paths, split)))
    return Distilled(task, loaded.model, loaded.image_size, cfg.distill, cfg.distill_temperature, cfg.teacher_tta)
