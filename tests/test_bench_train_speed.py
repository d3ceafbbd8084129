"""bench/train_speed.py, flops.py and profile_train.py run end to end on a few generated images, and the
Keras rebuild of gender-tiny has the lab's parameter count."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import REPO, last_json

BENCH = REPO / "bench"
TINY_PARAMS, TINY_TRAINABLE = 91_410, 90_962  # the lab's Keras summary of gender-tiny


def run_bench(*args: str) -> dict:
    """`python ARGS` in bench/, in a fresh process on one thread; its last stdout line as JSON."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=BENCH)
    assert done.returncode == 0, done.stderr[-3000:]
    return last_json(done.stdout)


def test_train_speed_trivision_reports_positive_speeds_and_keras_style_params(tmp_path):
    r = run_bench("train_speed.py", "--model", "gender-tiny", "--framework", "trivision", "--images", "64",
                  "--repeats", "1", "--threads", "1", "--data", str(tmp_path / "absent"))
    assert r["train_img_per_s"] > 0 and r["eval_img_per_s"] > 0
    assert (r["params"], r["trainable_params"]) == (TINY_PARAMS, TINY_TRAINABLE)
    assert (r["model"], r["framework"], r["images"], r["batch_size"], r["threads"], r["repeats"]) == \
        ("gender-tiny", "trivision", 64, 64, 1, 1)
    assert r["data"].startswith("generated")


def test_train_speed_measures_the_engines_bf16_autocast_when_asked(tmp_path):
    r = run_bench("train_speed.py", "--model", "gender-tiny", "--framework", "trivision", "--images", "64",
                  "--repeats", "1", "--threads", "1", "--precision", "bf16", "--data", str(tmp_path / "absent"))
    assert r["precision"] == "bf16" and r["train_img_per_s"] > 0


def test_flops_counts_training_as_forward_and_backward():
    r = run_bench("flops.py", "--model", "gender-tiny", "--train-img-per-s", "10", "--eval-img-per-s", "40",
                  "--threads", "1", "--matmul-size", "256", "--matmul-repeats", "2")
    assert r["ceiling_gflops"] > 0
    # backward costs about twice the forward (the first layer needs no input gradient, so a little less)
    assert 2 * r["forward_flops_per_image"] < r["train_flops_per_image"] <= 3 * r["forward_flops_per_image"]
    assert r["train_fraction_of_ceiling"] == pytest.approx(
        10 * r["train_flops_per_image"] / 1e9 / r["ceiling_gflops"], rel=0.01)


def test_profile_train_parts_add_up_to_the_step(tmp_path):
    r = run_bench("profile_train.py", "--model", "gender-tiny", "--images", "64", "--steps", "1",
                  "--warmup-steps", "1", "--threads", "1", "--data", str(tmp_path / "absent"))
    parts = r["fraction_of_step"]
    assert sum(parts[p] for p in ("data", "augmentation", "forward", "backward", "optimizer", "bookkeeping")) \
        == pytest.approx(1, abs=0.01)
    for part in ("forward", "backward"):
        assert parts[f"{part} convolution"] > 0 and parts[f"{part} batch norm"] > 0
        split = sum(parts[f"{part} {k}"] for k in ("convolution", "batch norm", "other"))
        assert split == pytest.approx(parts[part], abs=0.01)


@pytest.mark.skipif(importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None,
                    reason="needs Keras 3 and TensorFlow: pip install -e '.[bench]'")
def test_keras_gender_tiny_has_the_labs_parameter_count():
    counts = run_bench("-c", "import json, keras_models as k; "
                             "print(json.dumps(k.param_counts(k.gender_model('gender-tiny'))))")
    assert (counts["total"], counts["trainable"]) == (TINY_PARAMS, TINY_TRAINABLE)
