"""Crash safety through the command line: a training killed with SIGKILL mid-epoch and resumed ends exactly
where an uninterrupted run ends; a non-finite loss stops with one line and keeps the last good checkpoint."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, assert_one_error_line, cli, last_json, run_cli
from trivision.engine.checkpoint import load_checkpoint, load_weights

EPOCHS = 6


def _args(data: Path, run: Path, *more: str) -> list[str]:
    return ["train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", str(EPOCHS),
            "--batch-size", "8", "--steps-per-epoch", "40", "--image-size", "32", "--threads", "1",
            "--seed", "3", "--output-dir", str(run), *more]


def _history(run: Path) -> list[dict]:
    """history.csv without the wall-clock column: what must be identical between runs."""
    if not (run / "history.csv").exists():
        return []
    with open(run / "history.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(toy_dir, tmp_path):
    straight = tmp_path / "straight"
    code, out, err = cli(*_args(toy_dir, straight))
    assert code == 0, err
    expected = last_json(out)

    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "trivision", *_args(toy_dir, run)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_history(run)) < 2:  # epoch 2 is written: epoch 3 is under way
            assert proc.poll() is None, "the training ended before it could be killed"
            assert time.monotonic() < deadline, "epoch 2 never finished"
            time.sleep(0.02)
        with open(run / "history.csv", newline="") as f:
            epoch_seconds = float(list(csv.DictReader(f))[-1]["seconds"])
        time.sleep(min(epoch_seconds / 3, 2.0))  # into the next epoch
        assert proc.poll() is None, "the training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = len(_history(run))
    assert 2 <= done < EPOCHS
    last = load_checkpoint(run / "checkpoints" / "last.pt")  # intact, though the process died mid-epoch
    assert len(last["history"]) == last["epoch_in_phase"] + 1 >= done  # at most the running epoch is lost

    proc = run_cli(*_args(toy_dir, run, "--resume"))
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and f"epoch {len(last['history'])} done" in proc.stdout
    assert "Traceback" not in proc.stderr
    # the same epochs, losses, accuracies and learning rates, the same test metrics, the same weights
    assert _history(run) == _history(straight)
    resumed = last_json(proc.stdout)
    assert resumed["test"] == expected["test"] and resumed["epochs"] == EPOCHS
    a, _ = load_weights(run / "model.safetensors")
    b, _ = load_weights(straight / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list(run.rglob("*.tmp"))


def test_same_seed_twice_gives_identical_metrics(toy_dir, tmp_path):
    """Determinism on CPU: the whole history and the test metrics, run twice in fresh processes."""
    summaries = []
    for name in ("a", "b"):
        proc = run_cli(*_args(toy_dir, tmp_path / name, "--epochs", "2", "--steps-per-epoch", "3"))
        assert proc.returncode == 0, proc.stderr
        summaries.append(last_json(proc.stdout)["test"])
    assert summaries[0] == summaries[1]
    assert _history(tmp_path / "a") == _history(tmp_path / "b") and len(_history(tmp_path / "a")) == 2


def test_non_finite_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(toy_dir, tmp_path):
    config = tmp_path / "boom.toml"  # one sane epoch, then a learning rate that blows the weights up
    config.write_text('[[phases]]\nname = "sane"\nepochs = 1\nlr = 0.001\n\n'
                      '[[phases]]\nname = "boom"\nepochs = 3\nlr = 1e30\n')
    run = tmp_path / "run"
    code, out, err = cli("train", "gender", "--model", "gender-tiny", "--data", str(toy_dir), "--config", str(config),
                         "--batch-size", "8", "--steps-per-epoch", "3", "--image-size", "32", "--threads", "1",
                         "--set", "optimizer=sgd", "--output-dir", str(run))
    assert code == 2, (out, err)
    # what a terminal shows: progress bars (cleared with carriage returns, on an error too) leave nothing
    shown = "\n".join(line.split("\r")[-1] for line in err.split("\n"))
    line = assert_one_error_line(shown, "loss became", "training stopped", "the last good checkpoint is kept")
    assert "epoch 2" in line  # the first epoch of the blown-up phase
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert [r["epoch"] for r in last["history"]] == [1]
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert len(_history(run)) == 1
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["epoch"] == 1
