"""MixUp and CutMix: off by default, labels as class probabilities that follow the mixed pixels, refused
where there are no class labels to mix; training with them resumes exactly."""
from __future__ import annotations

import pytest
import torch

from trivision.config import Phase, TrainConfig
from trivision.data.augment import AugmentConfig
from trivision.data.mixing import build_mixing, mixes
from trivision.engine.fit import NonFiniteLoss, TensorData, fit
from trivision.errors import TrivisionError
from trivision.tasks.classify import ClassificationTask

PLAIN = dict(shift=0.0, rotation=0.0, zoom=(1.0, 1.0), hflip=False)


def _flat_batch(n=8):
    """Image i is filled with the value i, so each mixed pixel tells which images it came from."""
    images = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, 16, 16).clone()
    return images, torch.arange(n) % 4


def test_off_by_default_and_when_augmentation_is_off():
    assert build_mixing(AugmentConfig(), 4) is None and not mixes(AugmentConfig())
    assert build_mixing(AugmentConfig(enabled=False, cutmix=1.0), 4) is None


def test_mixup_mixes_two_images_and_their_labels_alike():
    torch.manual_seed(0)
    images, labels = _flat_batch()
    mixed, probs = build_mixing(AugmentConfig(mixup=1.0, **PLAIN), 4)(images.clone(), labels)
    assert probs.shape == (8, 4)
    torch.testing.assert_close(probs.sum(1), torch.ones(8))
    lam = float(probs[0, labels[0]])  # image 0's share: one weight for the whole batch
    assert 0 < lam < 1
    # image i becomes lam * i + (1 - lam) * (i - 1) (torchvision pairs each image with the one before it)
    expected = lam * images + (1 - lam) * images.roll(1, 0)
    torch.testing.assert_close(mixed, expected)


def test_cutmix_labels_weigh_each_image_by_its_share_of_the_pixels():
    torch.manual_seed(1)
    images, labels = _flat_batch()
    labels = torch.arange(8)  # one class per image, so each label's weight is one image's share
    for _ in range(5):
        mixed, probs = build_mixing(AugmentConfig(cutmix=1.0, **PLAIN), 8)(images.clone(), labels)
        for i in range(8):
            own = float((mixed[i, 0] == i).float().mean())
            assert probs[i, i] == pytest.approx(own, abs=1e-6)
            assert probs[i, (i - 1) % 8] == pytest.approx(1 - own, abs=1e-6)


def test_both_on_gives_one_or_the_other_per_batch():
    torch.manual_seed(2)
    images, labels = _flat_batch()
    mix = build_mixing(AugmentConfig(mixup=1.0, cutmix=1.0, **PLAIN), 4)
    kinds = set()
    for _ in range(20):
        mixed, _ = mix(images.clone(), labels)
        whole = all(torch.unique(m[0]).numel() == 1 for m in mixed)  # MixUp: every pixel of an image alike
        kinds.add("mixup" if whole and not torch.equal(mixed, images) else "cutmix")
    assert kinds == {"mixup", "cutmix"}


@pytest.mark.parametrize("key", ["mixup", "cutmix"])
def test_bad_settings_are_refused(key):
    with pytest.raises(TrivisionError, match=f"augment.{key}"):
        build_mixing(AugmentConfig(**{key: -1.0}), 4)
    with pytest.raises(TrivisionError, match="1 class"):
        build_mixing(AugmentConfig(**{key: 1.0}), 1)


def test_training_accuracy_counts_the_larger_share():
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    probs = torch.tensor([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    assert ClassificationTask().correct(outputs, probs) == 1


class NaNAfter(ClassificationTask):
    def __init__(self, steps: int):
        self.steps = steps

    def loss(self, outputs, targets):
        if outputs.requires_grad:
            self.steps -= 1
        return super().loss(outputs, targets) * (float("nan") if self.steps < 0 else 1.0)


def _model():
    torch.manual_seed(123)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16, 3))


def _data(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8),
                      torch.randint(0, 3, (n,), generator=g))


def _cfg(epochs, **kw):
    return TrainConfig(task="test", model="tiny-test", batch_size=8, steps_per_epoch=2, threads=1,
                       phases=[Phase("train", epochs=epochs, lr=0.01)],
                       augment=AugmentConfig(mixup=0.4, cutmix=1.0, erasing=0.5), **kw)


def test_fit_with_mixing_trains_and_resumes_exactly(tmp_path):
    straight = fit(_model(), ClassificationTask(), _data(), _data(6, 1), _cfg(4), tmp_path / "a",
                   log=lambda s: None, num_classes=3)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in straight)
    with pytest.raises(NonFiniteLoss):  # stopped in epoch 3: its checkpoint is epoch 2's
        fit(_model(), NaNAfter(steps=4), _data(), _data(6, 1), _cfg(4), tmp_path / "b", log=lambda s: None,
            num_classes=3)
    resumed = fit(_model(), ClassificationTask(), _data(), _data(6, 1), _cfg(4, resume="auto"), tmp_path / "b",
                  log=lambda s: None, num_classes=3)
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    unmixed = fit(_model(), ClassificationTask(), _data(), _data(6, 1),
                  TrainConfig(**{**_cfg(4).__dict__, "augment": AugmentConfig()}), tmp_path / "c",
                  log=lambda s: None, num_classes=3)
    assert [r["train_loss"] for r in unmixed] != [r["train_loss"] for r in straight]


class Recording(ClassificationTask):
    """Keeps the targets each training batch reached the task with."""

    def __init__(self):
        self.seen = []

    def batch(self, images, targets):
        if targets.dim() == 2:
            self.seen.append(targets)
        return images, targets


def test_the_task_gets_the_mixed_batch_so_a_teacher_answers_on_what_the_student_sees(tmp_path):
    task = Recording()
    fit(_model(), task, _data(), _data(6, 1), _cfg(1), tmp_path / "a", log=lambda s: None, num_classes=3)
    assert len(task.seen) == 2 and all(t.shape == (8, 3) for t in task.seen)  # the two steps, as probabilities


def test_training_refuses_mixing_without_class_labels_to_mix(tmp_path):
    from trivision.tasks import get_task
    from trivision.train import train
    cfg = TrainConfig(task="colorize", model="koala", output_dir=str(tmp_path / "run"),
                      augment=AugmentConfig(mixup=0.2))
    with pytest.raises(TrivisionError, match="task 'colorize'"):
        train(get_task("colorize"), cfg, log=lambda s: None)
    assert not (tmp_path / "run").exists()
