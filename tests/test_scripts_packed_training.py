"""scripts/pack_dataset.py + scripts/adopt_run.py: a run trained on a packed copy (the central part of each
frame, re-encoded) evaluates on the original folder, framed as in training."""
from __future__ import annotations

import csv
import tomllib

from conftest import last_json, run_cli, run_python

from trivision.data.images import decode_image
from trivision.engine.checkpoint import load_weights


def test_pack_train_adopt_evaluate(toy_dir, tmp_path):
    packed = tmp_path / "packed"
    done = run_python("scripts/pack_dataset.py", str(toy_dir), str(packed), "--central", "0.5", "--quality", "95")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(toy_dir / "labels.csv")))
    assert list(csv.DictReader(open(packed / "labels.csv"))) == rows  # same rows, same paths: same split
    original, small = decode_image(toy_dir / rows[0]["path"]), decode_image(packed / rows[0]["path"])
    assert small.shape[:2] == (round(original.shape[0] * 0.5), round(original.shape[1] * 0.5))

    run = tmp_path / "run"
    done = run_cli("train", "gender", "--model", "gender-tiny", "--data", str(packed), "--image-size", "32",
                   "--epochs", "1", "--batch-size", "8", "--threads", "1", "--output-dir", str(run), timeout=300)
    assert done.returncode == 0, done.stderr
    trained_on_packed = last_json(done.stdout)["test"]

    done = run_python("scripts/adopt_run.py", str(run), "--data", str(toy_dir), "--frame-crop", "0.5")
    assert done.returncode == 0, done.stderr
    cfg = tomllib.loads((run / "config.toml").read_text())
    assert cfg["data"] == str(toy_dir.resolve()) and cfg["frame_crop"] == 0.5
    assert load_weights(run / "model.safetensors")[1]["frame_crop"] == 0.5

    done = run_cli("evaluate", "gender", "--run", str(run), "--framing", "as-is", timeout=300)
    assert done.returncode == 0, done.stderr
    adopted = last_json(done.stdout)
    assert adopted["n"] == trained_on_packed["n"]
    # the same test images, seen through the original files: JPEG re-encoding moves a few pixels at most
    assert abs(adopted["accuracy"] - trained_on_packed["accuracy"]) <= 2 / adopted["n"]

    again = run_python("scripts/adopt_run.py", str(run), "--data", str(toy_dir), "--frame-crop", "0.5")
    assert again.returncode != 0 and "already" in again.stderr
