"""Learning from a teacher: the loss, the teacher's view of the batch, and the refusal of a teacher that saw
this run's held-out images."""
from __future__ import annotations

import csv

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_one_error_line, cli, last_json
from torch import nn

from trivision.config import Phase
from trivision.errors import TrivisionError
from trivision.tasks.distill import Distilled, check_teacher_split
from trivision.tasks.gender import GenderTask


class Fixed(nn.Module):
    """A teacher that answers `logits` for every image and records the size it was shown."""

    def __init__(self, logits):
        super().__init__()
        self.logits, self.seen = torch.tensor(logits), None

    def forward(self, x):
        self.seen = tuple(x.shape)
        return self.logits.expand(len(x), -1)


def test_weight_zero_is_the_task_loss_and_accuracy_uses_the_labels():
    d = Distilled(GenderTask(), Fixed([5.0, -5.0]), teacher_size=16, weight=0.0, temperature=2.0)
    x, labels = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 1, 0])
    inputs, targets = d.batch(x, labels)
    assert torch.equal(inputs, x) and targets.shape == (4, 3) and torch.equal(targets[:, 0].long(), labels)
    out = torch.randn(4, 2)
    assert torch.allclose(d.loss(out, targets), F.cross_entropy(out, labels))
    assert d.correct(out, targets) == int((out.argmax(1) == labels).sum())


def test_weight_one_pulls_the_student_to_the_teacher():
    d = Distilled(GenderTask(), Fixed([2.0, -1.0]), teacher_size=8, weight=1.0, temperature=2.0)
    _, targets = d.batch(torch.rand(3, 3, 8, 8), torch.tensor([1, 1, 1]))  # labels disagree with the teacher
    assert float(d.loss(torch.tensor([[2.0, -1.0]] * 3), targets)) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(3, 2, requires_grad=True)
    d.loss(student, targets).backward()
    assert (student.grad[:, 0] < 0).all() and (student.grad[:, 1] > 0).all()  # descent raises class 0


def test_mixed_labels_travel_as_probabilities_beside_the_teachers_answer():
    teacher = Fixed([1.0, -1.0])
    d = Distilled(GenderTask(), teacher, teacher_size=8, weight=0.0, temperature=2.0)
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    _, targets = d.batch(torch.rand(3, 3, 8, 8), probs)
    assert targets.shape == (3, 4) and torch.equal(targets[:, 2:], teacher.logits.expand(3, -1))
    out = torch.randn(3, 2)
    assert torch.allclose(d.loss(out, targets), F.cross_entropy(out, probs))
    assert d.correct(out, targets) == GenderTask().correct(out, probs)
    with pytest.raises(TrivisionError, match="3 classes"):
        d.batch(torch.rand(2, 3, 8, 8), torch.full((2, 3), 1 / 3))


class Sided(nn.Module):
    """A teacher sure of class 0 when an image's left half is brighter, of class 1 otherwise."""

    def forward(self, x):
        left = x[..., : x.shape[-1] // 2].mean((1, 2, 3)) > x[..., x.shape[-1] // 2:].mean((1, 2, 3))
        return torch.where(left[:, None], torch.tensor([[9.0, -9.0]]), torch.tensor([[-9.0, 9.0]]))


def test_a_teacher_with_hflip_answers_the_mean_over_the_image_and_its_mirror():
    x = torch.zeros(1, 3, 8, 8)
    x[..., :4] = 1.0  # bright left half: the image says 0, its mirror 1
    _, plain = Distilled(GenderTask(), Sided(), 8, 0.5, 1.0).batch(x, torch.tensor([0]))
    _, both = Distilled(GenderTask(), Sided(), 8, 0.5, 1.0, teacher_tta="hflip").batch(x, torch.tensor([0]))
    assert plain[0, 1:].softmax(0)[0] > 0.99
    torch.testing.assert_close(both[0, 1:].exp(), torch.tensor([0.5, 0.5]))
    with pytest.raises(TrivisionError, match="teacher_tta"):
        Distilled(GenderTask(), Sided(), 8, 0.5, 1.0, teacher_tta="vflip")


def test_the_teacher_sees_the_batch_at_its_own_size():
    teacher = Fixed([0.0, 0.0])
    d = Distilled(GenderTask(), teacher, teacher_size=24, weight=0.5, temperature=1.0)
    d.batch(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]))
    assert teacher.seen == (2, 3, 24, 24)


@pytest.mark.parametrize("weight,temperature", [(-0.1, 2.0), (1.5, 2.0), (0.5, 0.0)])
def test_bad_settings_are_refused(weight, temperature):
    with pytest.raises(TrivisionError):
        Distilled(GenderTask(), Fixed([0.0, 0.0]), 16, weight, temperature)


def test_phases_pass_through():
    model = nn.Linear(2, 2)
    Distilled(GenderTask(), Fixed([0.0, 0.0]), 16, 0.5, 2.0).set_phase(model, Phase())
    assert all(p.requires_grad for p in model.parameters())


def _split_file(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["path", "split"], *rows])
    return path


@pytest.mark.parametrize("theirs,ours,leaks", [
    ("train", "train", False), ("val", "train", False), ("test", "test", False), ("test", "train", False),
    ("train", "val", True), ("train", "test", True), ("val", "test", True)])
def test_a_teacher_that_saw_held_out_images_is_refused(tmp_path, theirs, ours, leaks):
    split = _split_file(tmp_path / "split.csv", [["a.jpg", "train"], ["b.jpg", theirs]])
    if leaks:
        with pytest.raises(TrivisionError, match="b.jpg"):
            check_teacher_split(split, {"a.jpg": "train", "b.jpg": ours})
    else:
        check_teacher_split(split, {"a.jpg": "train", "b.jpg": ours})


def test_a_teacher_without_a_split_is_refused(tmp_path):
    with pytest.raises(TrivisionError, match="split.csv"):
        check_teacher_split(tmp_path / "split.csv", {"a.jpg": "test"})


# --- through the command line ----------------------------------------------------------------------

def _train(data, run, *more):
    return cli("train", "gender", "--model", "gender-tiny", "--data", str(data), "--image-size", "32",
               "--epochs", "1", "--batch-size", "8", "--steps-per-epoch", "2", "--output-dir", str(run),
               "--threads", "1", *more)


@pytest.fixture(scope="module")
def teacher_run(toy_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "run"
    code, _, err = _train(toy_dir, run, "--image-size", "48")
    assert code == 0, err
    return run


def test_a_student_learns_from_a_teacher_run(toy_dir, teacher_run, tmp_path):
    code, out, err = _train(toy_dir, tmp_path / "student", "--set", f"teacher='{teacher_run}'",
                            "--set", "distill=0.7")
    assert code == 0, err
    assert "teacher:" in out and last_json(out)["test"]["n"] > 0
    assert f"teacher = \"{teacher_run}\"" in (tmp_path / "student" / "config.toml").read_text()


def test_a_teacher_from_another_split_is_refused(toy_dir, teacher_run, tmp_path):
    code, _, err = _train(toy_dir, tmp_path / "student", "--seed", "3", "--set", f"teacher='{teacher_run}'")
    assert code != 0
    assert_one_error_line(err, "the teacher was trained on")


def test_a_teacher_with_another_view_is_refused(toy_dir, teacher_run, tmp_path):
    code, _, err = _train(toy_dir, tmp_path / "student", "--set", f"teacher='{teacher_run}'",
                          "--set", "frame_crop=0.6")
    assert code != 0
    assert_one_error_line(err, "frame_crop")
