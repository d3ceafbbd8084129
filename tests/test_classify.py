import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from trivision.tasks.classify import ClassificationTask, balanced_class_weights


def test_balanced_weights_are_n_over_k_times_count():
    w = balanced_class_weights(torch.tensor([0, 0, 0, 1]), 2)
    assert w.tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])


def test_a_class_absent_from_training_weighs_nothing_and_the_others_share_n():
    w = balanced_class_weights(torch.tensor([0, 0, 2, 2, 2, 2]), 3)
    assert w[1] == 0
    assert w.tolist() == pytest.approx([6 / (2 * 2), 0.0, 6 / (2 * 4)])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=60))
def test_every_present_class_carries_the_same_total_weight(labels):
    targets = torch.tensor(labels)
    w = balanced_class_weights(targets, 5)
    totals = {c: float(w[c]) * labels.count(c) for c in set(labels)}
    assert all(t == pytest.approx(len(labels) / len(totals)) for t in totals.values()), totals


def test_the_loss_weights_each_example_by_its_class():
    task = ClassificationTask()
    outputs, targets = torch.randn(6, 2), torch.tensor([0, 0, 0, 0, 0, 1])
    plain = task.loss(outputs, targets)
    task.class_weights = balanced_class_weights(targets, 2)
    per_example = F.cross_entropy(outputs, targets, reduction="none")
    w = task.class_weights[targets]
    assert task.loss(outputs, targets) == pytest.approx(float((w * per_example).sum() / w.sum()))
    assert task.loss(outputs, targets) != pytest.approx(float(plain))


def test_class_weights_apply_to_mixed_labels_too():
    task = ClassificationTask()
    outputs = torch.randn(4, 2)
    mixed = torch.tensor([[0.7, 0.3], [0.2, 0.8], [1.0, 0.0], [0.5, 0.5]])
    plain = float(task.loss(outputs, mixed))
    task.class_weights = torch.tensor([3.0, 0.5])
    assert float(task.loss(outputs, mixed)) != pytest.approx(plain)
