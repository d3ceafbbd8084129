"""The bilinear CNN: shapes, parameter counts, a gradient-safe signed square root, and its frozen phase
in the engine (backbone untouched, features cached, resumable)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from trivision.cli import main
from trivision.config import Phase, TrainConfig
from trivision.data.augment import AugmentConfig
from trivision.engine.fit import NonFiniteLoss, TensorData, fit, run_model
from trivision.engine.report import param_counts
from trivision.errors import TrivisionError
from trivision.models import create_model, model_info
from trivision.models.backbones import cached_weights_file, imagenet_weights
from trivision.models.bilinear import SQRT_EPS, BilinearPool, signed_sqrt
from trivision.tasks.cars import CarsTask
from trivision.tasks.classify import ClassificationTask

# torchvision's mobilenet_v2 `features`: 2,223,872 parameters (3,504,872 less the 1280x1000 classifier) and
# 34,112 BatchNorm statistics, counted as Keras counts
MOBILENET_FEATURES = 2_223_872 + 34_112


@pytest.mark.parametrize("name", ["bcnn", "bcnn-lowdim"])
@pytest.mark.parametrize("backbone", ["mobilenet_v2", "vgg16"])
def test_forward_shapes_and_the_two_parts(name, backbone):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, backbone=backbone, pretrained=False).eval()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 7) and torch.isfinite(out).all()
        torch.testing.assert_close(model.head(model.backbone(x)), out)  # the contract feature caching relies on


def test_registered_for_cars_at_the_labs_input_size():
    for name in ("bcnn", "bcnn-lowdim"):
        info = model_info(name)
        assert info.task == "cars" and info.input_size == 250


def test_parameter_counts_full_and_low_dimensional():
    full = param_counts(create_model("bcnn", num_classes=20, pretrained=False))
    low = param_counts(create_model("bcnn-lowdim", num_classes=20, pretrained=False))
    assert full["total"] == MOBILENET_FEATURES + 1280 * 1280 * 20 + 20
    projection = 1280 * 128 + 2 * 128 + 2 * 128  # 1x1 conv without bias, BatchNorm (gamma, beta; mean, var)
    assert low["total"] == MOBILENET_FEATURES + projection + 128 * 128 * 20 + 20
    assert full["total"] > 10 * low["total"]
    vgg = param_counts(create_model("bcnn", num_classes=20, backbone="vgg16", pretrained=False))
    assert vgg["total"] == 14_714_688 + 512 * 512 * 20 + 20  # VGG16's 13 conv layers + the lab's classifier


def test_signed_sqrt_values():
    x = torch.tensor([-4.0, -1.0, 0.0, 1e-3, 1.0, 9.0])
    torch.testing.assert_close(signed_sqrt(x), torch.sign(x) * x.abs().sqrt(), atol=1e-3, rtol=1e-3)
    assert signed_sqrt(torch.tensor(0.0)) == 0
    torch.testing.assert_close(signed_sqrt(-x), -signed_sqrt(x))


@pytest.mark.parametrize("value", [0.0, 1e-30, -1e-30, 1e-12, -1e-9, 1e-7, 3e-6])
def test_signed_sqrt_gradient_is_finite_and_bounded_near_zero(value):
    x = torch.full((5,), value, requires_grad=True)
    signed_sqrt(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad > 0).all() and (x.grad <= 1 / math.sqrt(SQRT_EPS) + 1e-3).all()


@pytest.mark.parametrize("name", ["bcnn", "bcnn-lowdim"])
def test_all_zero_features_give_finite_gradients_through_the_head(name):
    torch.manual_seed(0)
    head = create_model(name, num_classes=4, pretrained=False).head.train()
    features = torch.zeros(2, 1280, 3, 3, requires_grad=True)
    out = head(features)
    nn.functional.cross_entropy(out, torch.tensor([0, 3])).backward()
    assert torch.isfinite(out).all()
    grads = [features.grad] + [p.grad for p in head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_pooled_features_have_unit_l2_norm():
    torch.manual_seed(0)
    x = torch.randn(4, 16, 5, 6)
    pooled = BilinearPool()(x)
    assert pooled.shape == (4, 256)
    torch.testing.assert_close(pooled.norm(dim=1), torch.ones(4))
    # X·Xᵀ/L before the square root and the normalisation
    flat = x.reshape(4, 16, 30)
    gram = (flat @ flat.transpose(1, 2) / 30).reshape(4, 256)
    expected = nn.functional.normalize(torch.sign(gram) * gram.abs().sqrt(), dim=1)
    torch.testing.assert_close(pooled, expected, atol=1e-4, rtol=1e-3)
    assert torch.equal(BilinearPool()(torch.zeros(1, 16, 2, 2)), torch.zeros(1, 256))


def test_a_pretrained_backbone_keeps_its_batchnorm_statistics_in_training_mode():
    if not cached_weights_file(imagenet_weights("mobilenet_v2")).exists():
        pytest.skip("needs torchvision's MobileNetV2 weights in torch's hub cache (scripts/install_weights.py)")
    model = create_model("bcnn-lowdim", num_classes=3).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.head.training and model.head.project[1].training  # the new projection's BatchNorm learns
    assert all(p.requires_grad for p in model.backbone.parameters())  # frozen statistics, trainable weights
    random = create_model("bcnn-lowdim", num_classes=3, pretrained=False).train()
    assert all(m.training for m in random.backbone.modules())


def test_params_command_lists_the_car_models(capsys):
    assert main(["params", "bcnn", "bcnn-lowdim"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["bcnn"]["total"] == MOBILENET_FEATURES + 1280 * 1280 * 20 + 20


# --- the frozen phase in the engine --------------------------------------------------------------------

def _toy(n=24, seed=0) -> TensorData:
    """Two classes told apart by their red channel, 32 px."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    targets = torch.arange(n) % 2
    images[targets == 1, 0] //= 4
    return TensorData(images, targets)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("bcnn-lowdim", num_classes=2, dropout=0.0, pretrained=False)


def _cfg(phases, **kw) -> TrainConfig:
    kw.setdefault("augment", AugmentConfig(rotation=10.0))
    return TrainConfig(task="cars", model="bcnn-lowdim", batch_size=8, steps_per_epoch=3, threads=1,
                       phases=phases, **kw)


def _frozen(epochs=4) -> list[Phase]:
    return [Phase("frozen", epochs=epochs, lr=0.01, freeze_backbone=True)]


@pytest.mark.parametrize("views", [2, 0])
def test_a_frozen_phase_leaves_the_backbone_untouched(tmp_path, views):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lines = []
    history = fit(model, CarsTask(), _toy(), _toy(8, 1), _cfg(_frozen(), cached_views=views), tmp_path,
                  log=lines.append)
    after = model.state_dict()
    for k, v in before.items():  # weights and BatchNorm statistics alike
        if k.startswith("backbone."):
            assert torch.equal(after[k], v), k
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("head."))
    assert all(math.isfinite(r["train_loss"]) and r["val_acc"] is not None for r in history)
    cached = [ln for ln in lines if "cached" in ln]
    assert len(cached) == (1 if views else 0)
    if views:
        assert cached[0].startswith("phase frozen: frozen backbone features of 2 augmented views cached")


def test_cached_features_train_the_head(tmp_path):
    history = fit(_model(), CarsTask(), _toy(), None, _cfg(_frozen(6), cached_views=3), tmp_path,
                  log=lambda s: None)
    losses = [r["train_loss"] for r in history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] and min(losses[3:]) < min(losses[:3]), losses


def test_cached_validation_matches_the_whole_model(tmp_path):
    """Validation on cached features is the whole model's validation (float16 features aside)."""
    val = _toy(8, 1)
    cached = fit(_model(), CarsTask(), _toy(), val, _cfg(_frozen(1), cached_views=1), tmp_path / "a",
                 log=lambda s: None)
    plain = fit(_model(), CarsTask(), _toy(), val, _cfg(_frozen(1), cached_views=0), tmp_path / "b",
                log=lambda s: None)
    for run, history in (("a", cached), ("b", plain)):
        model = _model()
        model.load_state_dict(torch.load(tmp_path / run / "checkpoints" / "last.pt", weights_only=False)["model"])
        whole = run_model(model, CarsTask(), val, batch_size=8)
        assert whole["loss"] == pytest.approx(history[0]["val_loss"], rel=1e-3)
        assert whole["acc"] == history[0]["val_acc"]


class StopsAfter(CarsTask):
    """Cars' loss until `steps` training steps have run, then nan: an interrupted run."""

    def __init__(self, steps: int):
        self.steps = steps

    def loss(self, outputs, targets):
        loss = super().loss(outputs, targets)
        if outputs.requires_grad:
            self.steps -= 1
            if self.steps < 0:
                return loss * float("nan")
        return loss


def test_resume_in_a_cached_phase_matches_an_uninterrupted_run(tmp_path):
    phases = _frozen(3) + [Phase("finetune", epochs=1, lr=1e-3)]
    straight = fit(_model(), CarsTask(), _toy(), _toy(8, 1), _cfg(phases), tmp_path / "straight", log=lambda s: None)
    run = tmp_path / "interrupted"
    with pytest.raises(NonFiniteLoss, match="epoch 3, step 1"):
        fit(_model(), StopsAfter(6), _toy(), _toy(8, 1), _cfg(phases), run, log=lambda s: None)
    resumed = fit(_model(), CarsTask(), _toy(), _toy(8, 1), _cfg(phases, resume="auto"), run, log=lambda s: None)
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    assert [r["val_loss"] for r in resumed] == [r["val_loss"] for r in straight]
    for name in ("curves.png", "curves-frozen.png", "curves-finetune.png"):
        assert (run / name).read_bytes()[:4] == b"\x89PNG"


def test_freezing_a_model_without_a_backbone_is_a_clear_error(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(TrivisionError, match="phase 'frozen' freezes the backbone, but this model has none"):
        fit(model, ClassificationTask(), _toy(), None, _cfg(_frozen(1)), tmp_path, log=lambda s: None)


def test_a_moving_average_in_a_cached_phase_is_what_validation_scores(tmp_path):
    val = _toy(8, 1)
    history = fit(_model(), CarsTask(), _toy(), val, _cfg(_frozen(2), cached_views=1, ema=0.9), tmp_path,
                  log=lambda s: None)
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=False)
    averaged = _model()
    averaged.load_state_dict(best["model"])
    whole = run_model(averaged, CarsTask(), val, batch_size=8)
    assert whole["loss"] == pytest.approx(history[best["epoch"] - 1]["val_loss"], rel=1e-3)
    raw = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["model"]
    head = "head.classifier.bias"  # what trains on these toy features
    assert not torch.equal(best["model"][head], raw[head])
    backbone = [k for k in raw if k.startswith("backbone.")]
    assert all(torch.equal(best["model"][k], raw[k]) for k in backbone)  # the frozen backbone, averaged: itself


@pytest.mark.parametrize("views", [1, 0])
def test_mixing_a_cached_frozen_phase_says_its_features_are_unmixed(tmp_path, views):
    lines = []
    cfg = _cfg(_frozen(1), cached_views=views, augment=AugmentConfig(rotation=10.0, cutmix=1.0))
    history = fit(_model(), CarsTask(), _toy(), None, cfg, tmp_path, log=lines.append, num_classes=2)
    assert math.isfinite(history[0]["train_loss"])
    assert sum("unmixed" in ln for ln in lines) == (1 if views else 0)
