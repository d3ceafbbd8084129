"""bench/inference_speed.py on the shipped gender-tiny, at a few runs: sane figures, the target line from them."""
from __future__ import annotations

import pytest

from conftest import bench_script, last_json
from trivision.models.registry import shipped_weights


def test_inference_speed_reports_both_frameworks_face_detection_and_the_target_from_the_measurement():
    if shipped_weights("gender-tiny") is None:
        pytest.skip("needs the shipped gender-tiny weights (src/trivision/weights/gender-tiny.safetensors)")
    pytest.importorskip("onnxruntime", reason="needs the export extra: pip install -e '.[export]'")
    pytest.importorskip("skimage", reason="needs scikit-image (the test extra) for the astronaut photo")
    done = bench_script("inference_speed.py", "--models", "gender-tiny", "--runs", "10", "--warmup", "1",
                        "--batch", "4", "--batch-runs", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    r = last_json(done.stdout)
    assert [(m["model"], m["framework"]) for m in r["models"]] == [("gender-tiny", "pytorch"),
                                                                  ("gender-tiny", "onnxruntime")]
    for m in r["models"]:
        assert 0 < m["p50_ms"] <= m["p95_ms"] and m["img_per_s"] > 0 and m["batch"] == 4
        assert m["input"] == [3, 100, 100]
    faces = r["faces"]
    assert faces["faces"] >= 1 and 0 < faces["detect_p50_ms"] <= faces["detect_p95_ms"] and faces["frame_p50_ms"] > 0
    for m in r["models"]:
        met = m["p50_ms"] < r["target"]["p50_ms_under"]
        assert r["target"][m["framework"]]["met"] == met
        assert f"{m['framework']}: {m['p50_ms']:.2f} ms, {'met' if met else 'MISSED'}" in done.stdout
    assert "| gender-tiny | 3x100x100 | onnxruntime |" in done.stdout


def test_inference_speed_refuses_a_model_without_shipped_weights_in_one_line():
    done = bench_script("inference_speed.py", "--models", "bcnn", "--runs", "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("inference_speed: error: model 'bcnn' has no shipped weights")
