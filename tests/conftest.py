"""Shared fixtures. Everything runs on one thread: the suite shares a 2-core machine with real trainings."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trivision.cli import main

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/data, or skip the test: a fresh clone has no ../shared."""
    path = SHARED_DATA / name
    if not (path / "labels.csv").exists():
        pytest.skip(f"needs the shared dataset {path} (absent in a fresh clone)")
    return path


def write_labels(root: Path, rows: list[list], header=("path", "gender")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return root


def save_image(path: Path, size=(32, 32), color=(200, 120, 40), mode="RGB", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, **kwargs)
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    """Run `trivision ARGV` in this process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse errors and predict's failures
            code = e.code
    return code, out.getvalue(), err.getvalue()


def last_json(stdout: str):
    return json.loads(stdout.strip().splitlines()[-1])


def run_python(*args: str, timeout: float = 120, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python ARGS` in a fresh process on one thread, with this checkout's src/ first on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m trivision ARGS` in a fresh process, on one thread."""
    return run_python("-m", "trivision", *args, timeout=timeout)


def bench_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python ARGS` in bench/ (a benchmark script and its options), in a fresh process on one thread."""
    return run_python(*args, timeout=timeout, cwd=REPO / "bench")


def task_config(task, **changes):
    """`task`'s default training config with `changes` applied, as a recipe to build card commands from."""
    cfg = task.default_config()
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def assert_command_trains(line: str, saved: dict, task: str, run_only) -> None:
    """`line` (a model card's command) parsed by `trivision train` gives the recipe `saved` (a run's
    resolved config), settings about where and how it ran (`run_only`) aside."""
    import shlex

    from trivision.cli import build_parser, train_config
    from trivision.config import to_dict
    argv = shlex.split(line)
    assert argv[:3] == ["trivision", "train", task]
    again, saved = to_dict(train_config(build_parser().parse_args(argv[1:]))), dict(saved)
    for key in run_only:
        again.pop(key), saved.pop(key)
    assert again == saved, line


def assert_one_error_line(stderr: str, *fragments: str) -> str:
    """The user-facing failure contract: no traceback, exactly one line, `trivision: error: ...`."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert lines[0].startswith("trivision: error:"), lines[0]
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory) -> Path:
    """The generated toy faces: 12 people x 4 images, labels.csv with path, gender, identity."""
    from trivision.data.synthetic import make_toy_faces
    return make_toy_faces(tmp_path_factory.mktemp("toy"), people=12, per_person=4)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained gender-tiny saved as trivision weights: enough to exercise evaluate and predict."""
    from trivision.engine.checkpoint import save_weights
    from trivision.models import create_model
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(path, create_model("gender-tiny", image_size=100).eval(), {
        "model": "gender-tiny", "task": "gender", "classes": ["female", "male"], "image_size": 100,
        "dropout": 0.5, "backbone": "", "split": "image", "seed": 0})
    return path


@pytest.fixture
def rgb_noise():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def cars_weights(tmp_path_factory) -> Path:
    """An untrained bcnn-lowdim (random MobileNetV2) on 6 named classes at 64x64, saved as train.py saves."""
    from trivision.engine.checkpoint import save_weights
    from trivision.models import create_model
    torch.manual_seed(0)
    classes = [str(i) for i in range(1, 7)]
    path = tmp_path_factory.mktemp("weights") / "cars.safetensors"
    save_weights(path, create_model("bcnn-lowdim", image_size=64, num_classes=6, pretrained=False).eval(), {
        "model": "bcnn-lowdim", "task": "cars", "classes": classes,
        "class_names": [f"Test Car {c} 2012" for c in classes], "image_size": 64, "dropout": 0.5,
        "backbone": "mobilenet_v2", "loss": "", "split": "image", "seed": 0})
    return path


@pytest.fixture(scope="session")
def koala_weights(tmp_path_factory) -> Path:
    """An untrained koala (random embedder, classify head) at 64x64, saved as train.py saves."""
    from trivision.engine.checkpoint import save_weights
    from trivision.models import create_model
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "koala.safetensors"
    save_weights(path, create_model("koala", image_size=64, pretrained=False, loss="classify").eval(), {
        "model": "koala", "task": "colorize", "classes": [], "class_names": [], "image_size": 64,
        "dropout": 0.5, "backbone": "mobilenet_v2", "loss": "classify", "split": "image", "seed": 0})
    return path
