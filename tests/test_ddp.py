"""Multi-process training: `torchrun --nproc_per_node=2 -m trivision train ...` on the CPU (gloo).

One run folder written by rank 0 alone, one report, the data dealt out by rank, per-rank random states in
the checkpoint, resumable, and an accuracy within noise of one process on the toy faces."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from conftest import REPO, cli, last_json
from trivision.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="needs torch.distributed with gloo")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    from trivision.data.synthetic import make_toy_faces
    return make_toy_faces(tmp_path_factory.mktemp("faces"), people=24, per_person=5)


def _args(data: Path, run: Path, epochs: int = 8, *more: str) -> list[str]:
    return ["train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", str(epochs),
            "--batch-size", "8", "--image-size", "48", "--threads", "1", "--output-dir", str(run), *more]


def torchrun(*args: str, nproc: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TRIVISION_DIST_TIMEOUT_MIN": "3",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={nproc}", "-m", "trivision", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def _rows(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_two_processes_train_like_one(faces, tmp_path):
    code, out, err = cli(*_args(faces, tmp_path / "one"))
    assert code == 0, err
    one = last_json(out)

    run = tmp_path / "two"
    proc = torchrun(*_args(faces, run))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # rank 0 alone reports: one data line, one line per epoch, one summary
    assert proc.stdout.count("data: ") == 1 and proc.stdout.count("epoch 1 (train)") == 1
    assert proc.stdout.count('"run_dir"') == 1
    n_train = int(proc.stdout.split("data: ")[1].split()[0])
    steps = math.ceil((n_train // 8) / 2)  # an epoch is still one pass: each process takes half the steps
    assert f"2 processes (cpu, gloo): {steps} steps of 8 per process and epoch" in proc.stdout
    two = last_json(proc.stdout)
    assert two["processes"] == 2 and two["epochs"] == 8 and two["run_dir"] == str(run)
    # a single set of files
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert [r["epoch"] for r in _rows(run)] == [str(e) for e in range(1, 9)]
    for name in ("config.toml", "split.csv", "curves.png", "results.md", "params.md", "model.safetensors"):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.tmp"))
    assert (run / "split.csv").read_text() == (tmp_path / "one" / "split.csv").read_text()
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["world_size"] == 2 and len(last["rng_by_rank"]) == 2
    assert not (last["rng_by_rank"][0]["cpu"] == last["rng_by_rank"][1]["cpu"]).all()  # augmentation per rank
    # the same accuracy within noise (24 test faces): both learn the toy faces
    acc1, acc2 = one["test"]["accuracy"], two["test"]["accuracy"]
    assert acc1 >= 0.75 and acc2 >= 0.75 and abs(acc1 - acc2) <= 0.2, (one["test"], two["test"])
    assert float(_rows(run)[-1]["train_acc"]) >= 0.8

    # every rank resumes from the checkpoint rank 0 wrote
    before = _rows(run)
    proc = torchrun(*_args(faces, run, 9, "--resume"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("resumed from") == 1 and "epoch 8 done" in proc.stdout
    assert proc.stdout.count("epoch 9 (train)") == 1 and proc.stdout.count("epoch 8 (train)") == 0
    assert [r["epoch"] for r in _rows(run)] == [str(e) for e in range(1, 10)]
    assert _rows(run)[:8] == before
