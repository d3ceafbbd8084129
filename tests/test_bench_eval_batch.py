"""bench/eval_batch.py on the shipped gender-tiny: a row per batch size, the engine's choice marked."""
from __future__ import annotations

import pytest

from conftest import bench_script, last_json
from trivision.models.registry import shipped_weights


def test_eval_batch_reports_every_batch_and_marks_the_engines_choice():
    if shipped_weights("gender-tiny") is None:
        pytest.skip("needs the shipped gender-tiny weights (src/trivision/weights/gender-tiny.safetensors)")
    done = bench_script("eval_batch.py", "--models", "gender-tiny", "--images", "8", "--batches", "4", "32",
                        "--rounds", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = last_json(done.stdout)
    assert [(r["model"], r["input"], r["batch"]) for r in rows] == [("gender-tiny", "3x100x100", 4),
                                                                  ("gender-tiny", "3x100x100", 32)]
    assert all(r["img_per_s"] > 0 for r in rows)
    assert [r["chosen"] for r in rows] == [False, True]  # 100x100: 32 images hold about 2**19 pixels
    assert "| gender-tiny | 3x100x100 | 32 |" in done.stdout


def test_eval_batch_names_a_model_without_weights_in_one_line():
    done = bench_script("eval_batch.py", "--models", "bcnn", "--rounds", "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("eval_batch: error:")
