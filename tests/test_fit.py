"""The training engine on tiny random tensors: run folder, resume, determinism, non-finite loss."""
from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from trivision.config import Phase, TrainConfig, load_config
from trivision.data.augment import AugmentConfig
from trivision.engine.checkpoint import load_checkpoint
from trivision.engine.fit import NonFiniteLoss, TensorData, fit, run_model
from trivision.errors import TrivisionError
from trivision.tasks.classify import ClassificationTask


def _model() -> nn.Module:
    torch.manual_seed(123)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 2))


def _data(n=24, seed=0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, 2, (n,), generator=g)
    images[targets == 1, 0] //= 4  # class 1 has little red: learnable
    return TensorData(images, targets)


def _cfg(epochs=2, **kw) -> TrainConfig:
    kw.setdefault("phases", [Phase("train", epochs=epochs, lr=0.01)])
    return TrainConfig(task="test", model="tiny-test", batch_size=8, steps_per_epoch=2, threads=1,
                       augment=AugmentConfig(rotation=10.0), **kw)


class NaNAfter(ClassificationTask):
    """Cross-entropy until `steps` training steps have run, then nan."""

    def __init__(self, steps: int):
        self.steps, self.calls = steps, 0

    def loss(self, outputs, targets):
        loss = super().loss(outputs, targets)
        if outputs.requires_grad:  # training steps only, not evaluation
            self.calls += 1
            if self.calls > self.steps:
                return loss * float("nan")
        return loss


def _history_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _losses(history):
    return [r["train_loss"] for r in history]


def test_fit_writes_the_run_folder(tmp_path):
    history = fit(_model(), ClassificationTask(), _data(), _data(8, seed=1), _cfg(epochs=2), tmp_path,
                  log=lambda s: None)
    assert [r["epoch"] for r in history] == [1, 2]
    for name in ("history.csv", "curves.png", "config.toml", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (tmp_path / name).is_file(), name
    rows = _history_csv(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(r["val_acc"] != "" and r["train_loss"] != "" for r in rows)
    assert all(r["threads"] == str(torch.get_num_threads()) for r in rows)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = load_config(tmp_path / "config.toml", TrainConfig())
    assert saved.model == "tiny-test" and saved.augment.rotation == 10.0 and saved.phases[0].epochs == 2
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["epoch_in_phase"] == 1 and len(last["history"]) == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_fit_logs_one_line_per_epoch(tmp_path):
    lines = []
    fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=2), tmp_path, log=lines.append)
    assert len(lines) == 2 and lines[0].startswith("epoch 1 (train)  loss ") and "acc " in lines[0]


def test_time_limit_stops_at_the_end_of_the_epoch_that_passes_it(tmp_path):
    lines = []
    history = fit(_model(), ClassificationTask(), _data(), None,
                  _cfg(epochs=5, time_limit=1e-9, phases=[Phase("a", 5, 1e-3), Phase("b", 5, 1e-3)]),
                  tmp_path, log=lines.append)
    assert len(history) == 1 and "time limit" in lines[-1]
    assert (tmp_path / "checkpoints" / "best.pt").exists()


def test_fit_ends_with_the_best_weights(tmp_path):
    model = _model()
    fit(model, ClassificationTask(), _data(), _data(8, seed=1), _cfg(epochs=3), tmp_path, log=lambda s: None)
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    for k, v in best["model"].items():
        torch.testing.assert_close(model.state_dict()[k], v)
    history = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["history"]
    assert best["epoch"] == max(history, key=lambda r: (r["val_acc"], -r["epoch"]))["epoch"]


def test_same_seed_same_history(tmp_path):
    a = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=2), tmp_path / "a", log=lambda s: None)
    b = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=2), tmp_path / "b", log=lambda s: None)
    c = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=2, seed=1), tmp_path / "c",
            log=lambda s: None)
    assert _losses(a) == _losses(b)
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]
    assert _losses(a) != _losses(c)


def test_resume_continues_without_repeating_epochs(tmp_path):
    fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=2), tmp_path, log=lambda s: None)
    lines = []
    history = fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=4, resume="auto"), tmp_path,
                  log=lines.append)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert lines[0].startswith("resumed from") and "epoch 2 done" in lines[0]
    assert sum(ln.startswith("epoch ") for ln in lines) == 2  # only epochs 3 and 4 ran
    assert [r["epoch"] for r in _history_csv(tmp_path / "history.csv")] == ["1", "2", "3", "4"]


def test_nan_loss_stops_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=4), tmp_path / "straight",
                   log=lambda s: None)
    run = tmp_path / "broken"
    with pytest.raises(NonFiniteLoss, match=r"loss became nan at epoch 3, step 1"):
        fit(_model(), NaNAfter(steps=4), _data(), _data(8, 1), _cfg(epochs=4), run, log=lambda s: None)
    assert issubclass(NonFiniteLoss, TrivisionError)
    last = load_checkpoint(run / "checkpoints" / "last.pt")  # the last good epoch is still there
    assert [r["epoch"] for r in last["history"]] == [1, 2]
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert len(_history_csv(run / "history.csv")) == 2
    # resuming from it gives exactly what an uninterrupted run gives
    resumed = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=4, resume="auto"), run,
                  log=lambda s: None)
    assert _losses(resumed) == _losses(straight)
    assert [r["val_acc"] for r in resumed] == [r["val_acc"] for r in straight]


def test_resume_from_a_truncated_checkpoint_is_refused(tmp_path):
    fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=1), tmp_path, log=lambda s: None)
    last = tmp_path / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:200])
    with pytest.raises(TrivisionError, match="damaged or truncated checkpoint"):
        fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=2, resume="auto"), tmp_path, log=lambda s: None)


def test_two_phases_and_an_explicit_checkpoint(tmp_path):
    phases = [Phase("head", epochs=1, lr=0.01), Phase("all", epochs=2, lr=0.001)]
    ends = []
    history = fit(_model(), ClassificationTask(), _data(), None, _cfg(phases=phases), tmp_path / "a",
                  log=lambda s: None, on_phase_end=lambda pi, ph, h: ends.append((pi, ph.name, len(h))))
    assert [(r["epoch"], r["phase"]) for r in history] == [(1, "head"), (2, "all"), (3, "all")]
    assert ends == [(0, "head", 1), (1, "all", 3)]
    # resuming from an explicit file into another folder continues in the second phase
    history = fit(_model(), ClassificationTask(), _data(), None,
                  _cfg(phases=phases + [Phase("more", epochs=1, lr=0.001)],
                       resume=str(tmp_path / "a" / "checkpoints" / "last.pt")), tmp_path / "b", log=lambda s: None)
    assert [r["phase"] for r in history] == ["head", "all", "all", "more"]


def test_keep_last_ends_with_the_final_epochs_weights(tmp_path):
    model = _model()
    fit(model, ClassificationTask(), _data(), _data(8, seed=1), _cfg(epochs=3, keep="last"), tmp_path,
        log=lambda s: None)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["epoch_in_phase"] == 2 and load_checkpoint(tmp_path / "checkpoints" / "best.pt")["epoch"] != 3
    for k, v in last["model"].items():
        torch.testing.assert_close(model.state_dict()[k], v)


def test_bad_settings(tmp_path):
    with pytest.raises(TrivisionError, match="keep must be best or last"):
        fit(_model(), ClassificationTask(), _data(), None, _cfg(keep="final"), tmp_path / "k", log=lambda s: None)
    with pytest.raises(TrivisionError, match="the training split is empty"):
        fit(_model(), ClassificationTask(), TensorData(torch.empty(0, 3, 16, 16, dtype=torch.uint8), torch.empty(0)),
            None, _cfg(), tmp_path, log=lambda s: None)
    with pytest.raises(TrivisionError, match="unknown optimizer 'lbfgs'"):
        fit(_model(), ClassificationTask(), _data(), None, _cfg(optimizer="lbfgs"), tmp_path / "o", log=lambda s: None)
    with pytest.raises(TrivisionError, match="cpu_allocator must be retain or system, got 'tcmalloc'"):
        fit(_model(), ClassificationTask(), _data(), None, _cfg(cpu_allocator="tcmalloc"), tmp_path / "a",
            log=lambda s: None)
    assert not (tmp_path / "a").exists()  # refused before the run folder is made


@pytest.mark.parametrize("optimizer, schedule, warmup", [("sgd", "constant", 0.0), ("adamw", "cosine", 1.0)])
def test_optimizers_and_schedules(tmp_path, optimizer, schedule, warmup):
    history = fit(_model(), ClassificationTask(), _data(), None,
                  _cfg(epochs=2, optimizer=optimizer, schedule=schedule, warmup_epochs=warmup), tmp_path,
                  log=lambda s: None)
    assert all(math.isfinite(r["train_loss"]) for r in history)
    if schedule == "constant":
        assert history[-1]["lr"] == pytest.approx(0.01)
    else:
        assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at zero


def test_run_model_without_augmentation():
    model = _model().eval()
    data = _data(10)
    out = run_model(model, ClassificationTask(), data, batch_size=4, channels_last=False)
    assert out["outputs"].shape == (10, 2)
    with torch.no_grad():
        logits = model(data.images.float() / 255)
    torch.testing.assert_close(out["outputs"], logits)
    assert out["acc"] == pytest.approx(float((logits.argmax(1) == data.targets).float().mean()))
    assert out["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, data.targets)), rel=1e-5)


def test_ema_weights_are_validated_saved_and_resumed(tmp_path):
    plain = _model()
    fit(plain, ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=3, schedule="constant"), tmp_path / "plain", log=lambda s: None)
    averaged = _model()
    straight = fit(averaged, ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=3, ema=0.9, schedule="constant"), tmp_path / "ema",
                   log=lambda s: None)
    last = load_checkpoint(tmp_path / "ema" / "checkpoints" / "last.pt")
    best = load_checkpoint(tmp_path / "ema" / "checkpoints" / "best.pt")
    assert last["ema"]["n_averaged"] == 3 * 2  # one update per optimizer step
    # the raw weights train exactly as without averaging; the kept ones are the average
    weight = "6.weight"
    torch.testing.assert_close(last["model"][weight], load_checkpoint(
        tmp_path / "plain" / "checkpoints" / "last.pt")["model"][weight])
    assert not torch.equal(best["model"][weight], last["model"][weight])
    for k, v in best["model"].items():
        torch.testing.assert_close(averaged.state_dict()[k], v)
    # an interrupted run resumes its average too (a constant rate: 2 epochs then 1 is the same schedule as 3)
    fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=2, ema=0.9, schedule="constant"), tmp_path / "again",
        log=lambda s: None)
    resumed = fit(_model(), ClassificationTask(), _data(), _data(8, 1), _cfg(epochs=3, ema=0.9, schedule="constant", resume="auto"),
                  tmp_path / "again", log=lambda s: None)
    assert [r["val_loss"] for r in resumed] == [r["val_loss"] for r in straight]


def test_bf16_trains_under_autocast_and_keeps_fp32_weights(tmp_path):
    model, seen = _model(), []
    model[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
    history = fit(model, ClassificationTask(), _data(), _data(8, seed=1), _cfg(epochs=1, precision="bf16"), tmp_path,
                  log=lambda s: None)
    assert seen and set(seen) == {torch.bfloat16}  # every training step's convolution ran in bf16
    assert math.isfinite(history[-1]["train_loss"]) and math.isfinite(history[-1]["val_loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp32_is_the_default_and_an_unknown_precision_is_one_error(tmp_path):
    model, seen = _model(), []
    model[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    fit(model, ClassificationTask(), _data(), None, _cfg(epochs=1), tmp_path, log=lambda s: None)
    assert set(seen) == {torch.float32}
    with pytest.raises(TrivisionError, match="precision must be fp32 or bf16, got 'fp16'"):
        fit(_model(), ClassificationTask(), _data(), None, _cfg(epochs=1, precision="fp16"), tmp_path / "b",
            log=lambda s: None)
