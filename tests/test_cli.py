"""End to end through the command line: train a run, evaluate it, predict with it, resume it; bad inputs."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_error_line, cli, last_json, run_cli, save_image, write_labels

RUN_FILES = ["config.toml", "split.csv", "history.csv", "checkpoints/last.pt", "checkpoints/best.pt",
             "curves.png", "results.md", "params.md", "model.safetensors", "machine.txt"]
METRIC_KEYS = {"n", "accuracy", "balanced_accuracy", "recall_male", "recall_female", "faces_not_found"}


def train_args(data, run, epochs=2, *more):
    return ["train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", str(epochs),
            "--batch-size", "8", "--steps-per-epoch", "3", "--output-dir", str(run), "--threads", "1", *more]


@pytest.fixture(scope="module")
def run_dir(toy_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "toy-run"
    code, out, err = cli(*train_args(toy_dir, run))
    assert code == 0, err
    summary = last_json(out)
    assert summary["run_dir"] == str(run) and summary["epochs"] == 2 and summary["model"] == "gender-tiny"
    assert {"n", "accuracy", "balanced_accuracy", "recall_female", "recall_male"} <= summary["test"].keys()
    return run


# --- train -----------------------------------------------------------------------------------------

def test_train_writes_the_run_folder(run_dir, toy_dir):
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), f"{name} missing from the run folder"
    assert not list(run_dir.rglob("*.tmp"))
    with open(run_dir / "split.csv", newline="") as f:
        split = {r["path"]: r["split"] for r in csv.DictReader(f)}
    assert len(split) == 48 and set(split.values()) == {"train", "val", "test"}
    with open(run_dir / "history.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]
    assert "| gender-tiny | 91,410 | 90,962 | 448 |" in (run_dir / "params.md").read_text()
    results = (run_dir / "results.md").read_text()
    assert "| gender-tiny | train | 2 |" in results and "| gender-tiny | best | 2 |" in results
    config = (run_dir / "config.toml").read_text()
    assert 'model = "gender-tiny"' in config and f'data = "{toy_dir}"' in config


def test_evaluate_run(run_dir):
    code, out, err = cli("evaluate", "gender", "--run", str(run_dir), "--framing", "as-is")
    assert code == 0, err
    result = last_json(out)
    assert METRIC_KEYS <= result.keys()
    with open(run_dir / "split.csv", newline="") as f:
        assert result["n"] == sum(r["split"] == "test" for r in csv.DictReader(f))
    assert 0 <= result["accuracy"] <= 1 and result["faces_not_found"] == 0 and result["skipped_bad"] == 0
    assert result["framing"] == "as-is" and result["model"] == "gender-tiny"
    assert any(line.startswith("accuracy") and line.endswith("%") for line in out.splitlines())


def test_evaluate_data_with_weights(run_dir, toy_dir):
    code, out, err = cli("evaluate", "gender", "--data", str(toy_dir), "--weights",
                         str(run_dir / "model.safetensors"), "--framing", "as-is")
    assert code == 0, err
    result = last_json(out)
    assert METRIC_KEYS <= result.keys() and result["n"] == 48
    code, out, _ = cli("evaluate", "gender", "--data", str(toy_dir), "--weights", str(run_dir),
                       "--framing", "as-is", "--limit", "5")
    assert code == 0 and last_json(out)["n"] == 5


def test_predict(run_dir, toy_dir):
    images = sorted((toy_dir / "images").glob("*.png"))[:3]
    code, out, err = cli("predict", "gender", *map(str, images), "--weights", str(run_dir / "model.safetensors"),
                         "--framing", "as-is")
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["image"] for line in lines] == list(map(str, images))
    for line in lines:
        assert set(line) == {"image", "box", "gender", "probability"}
        assert line["box"] is None and line["gender"] in ("female", "male") and 0.5 <= line["probability"] <= 1


def test_predict_reports_bad_and_faceless_files(tiny_weights, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("text")
    blank = save_image(tmp_path / "blank.png", (120, 120), (128, 128, 128))
    code, out, err = cli("predict", "gender", str(bad), str(blank), "--weights", str(tiny_weights))
    assert code == 1
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert lines[0]["image"] == str(bad) and "not an image file" in lines[0]["error"]
    assert lines[1]["image"] == str(blank) and "no face found" in lines[1]["error"]
    assert err.count("error: ") == 2


def test_predict_detects_faces(tiny_weights, tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    code, out, err = cli("predict", "gender", str(photo), "--weights", str(tiny_weights))
    assert code == 0, err
    (line,) = [json.loads(s) for s in out.strip().splitlines()]
    x, y, w, h = line["box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 170


def test_resume_with_more_epochs(run_dir, toy_dir, tmp_path):
    run = tmp_path / "resumed"
    shutil.copytree(run_dir, run)
    # the run records its folder only through --output-dir: resuming needs no other change
    code, out, err = cli(*train_args(toy_dir, run, 3, "--resume"))
    assert code == 0, err
    assert f"resumed from {run / 'checkpoints' / 'last.pt'}: phase 1, epoch 2 done" in out
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 1  # only epoch 3 ran
    with open(run / "history.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3"]
    assert last_json(out)["epochs"] == 3
    assert (run / "split.csv").read_text() == (run_dir / "split.csv").read_text()


def test_refuses_to_overwrite_a_run(run_dir, toy_dir):
    code, _, err = cli(*train_args(toy_dir, run_dir))
    assert code == 2
    assert_one_error_line(err, "already holds a run: pass --resume")


def test_resume_needs_a_checkpoint(toy_dir, tmp_path):
    code, _, err = cli(*train_args(toy_dir, tmp_path / "fresh", 2, "--resume"))
    assert code == 2
    assert_one_error_line(err, "nothing to resume")


def test_train_flag_errors(toy_dir, tmp_path):
    code, _, err = cli(*train_args(toy_dir, tmp_path / "r", 2, "--set", "augment.rotate=3"))
    assert code == 2 and "--set augment.rotate: unknown setting" in err
    cfg = tmp_path / "two.toml"
    cfg.write_text('[[phases]]\nepochs = 1\n[[phases]]\nepochs = 1\n')
    code, _, err = cli(*train_args(toy_dir, tmp_path / "r", 2, "--config", str(cfg)))
    assert code == 2 and "--epochs/--lr set a single phase" in err
    code, _, err = cli("train", "gender", "--model", "gender-tiny", "--output-dir", str(tmp_path / "r"))
    assert code == 2 and "no training data" in err


def test_train_with_set_and_identity_split(toy_dir, tmp_path):
    run = tmp_path / "ident"
    code, out, err = cli(*train_args(toy_dir, run, 1, "--split", "identity", "--set", "augment.rotation=10",
                                     "--image-size", "48", "--no-augment"))
    assert code == 0, err
    config = (run / "config.toml").read_text()
    assert "rotation = 10" in config and "enabled = false" in config and "image_size = 48" in config
    people = {}
    labels = {r["path"]: r["identity"] for r in csv.DictReader(open(toy_dir / "labels.csv", newline=""))}
    for r in csv.DictReader(open(run / "split.csv", newline="")):
        people.setdefault(labels[r["path"]], set()).add(r["split"])
    assert all(len(s) == 1 for s in people.values())


def test_frame_crop_travels_with_the_weights(toy_dir, tmp_path):
    run = tmp_path / "crop"
    code, out, err = cli(*train_args(toy_dir, run, 1, "--set", "frame_crop=0.6"))
    assert code == 0, err
    from trivision.inference import load_model
    assert load_model(str(run)).meta["frame_crop"] == 0.6
    code, _, err = cli(*train_args(toy_dir, tmp_path / "bad", 1, "--set", "frame_crop=1.5"))
    assert code == 2 and "frame_crop" in err and "Traceback" not in err


def test_skip_bad_skips_and_counts(toy_dir, tiny_weights, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(toy_dir, data)
    (data / "images" / "person000_0.png").write_bytes(b"")
    (data / "images" / "person001_1.png").unlink()
    code, _, err = cli("evaluate", "gender", "--data", str(data), "--weights", str(tiny_weights), "--framing", "as-is")
    assert code == 2
    assert_one_error_line(err, "person000_0.png", "--skip-bad")
    code, out, err = cli("evaluate", "gender", "--data", str(data), "--weights", str(tiny_weights),
                         "--framing", "as-is", "--skip-bad")
    assert code == 0, err
    result = last_json(out)
    assert result["skipped_bad"] == 2 and result["n"] == 46
    code, out, err = cli(*train_args(data, tmp_path / "run", 1, "--skip-bad", "--image-size", "48"))
    assert code == 0, err
    assert sum(line.startswith("skipped: ") for line in out.splitlines()) == 2


def test_toy_faces_are_learnable(tmp_path):
    """The toy set must be clearly learnable by gender-tiny in a few epochs (demos and docs rely on it)."""
    from trivision.data.synthetic import make_toy_faces
    data = make_toy_faces(tmp_path / "toy", people=24, per_person=5)
    code, out, err = cli("train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", "10",
                         "--batch-size", "16", "--output-dir", str(tmp_path / "run"), "--threads", "1")
    assert code == 0, err
    summary = last_json(out)
    assert summary["test"]["n"] == 24
    assert summary["test"]["accuracy"] >= 0.75 and summary["test"]["balanced_accuracy"] >= 0.75, summary
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    # the training batches (augmented) are learnt within three epochs
    assert max(float(r["train_acc"]) for r in history[:3]) >= 0.9, history


def test_bad_augment_setting_stops_before_the_run_folder_exists(toy_dir, tmp_path):
    code, out, err = cli(*train_args(toy_dir, tmp_path / "run", 1, "--set", "augment.erasing=2"))
    assert code == 2
    assert_one_error_line(err, "augment.erasing must be a probability")
    assert not (tmp_path / "run").exists()


def _first_epoch_loss(run: Path) -> float:
    from trivision.engine.report import read_history
    return float(read_history(run / "history.csv")[0]["train_loss"])


def test_label_smoothing_reaches_the_loss(toy_dir, tmp_path):
    for name, more in (("plain", ()), ("smoothed", ("--set", "label_smoothing=0.5"))):
        code, _, err = cli(*train_args(toy_dir, tmp_path / name, 1, *more))
        assert code == 0, err
    plain, smoothed = _first_epoch_loss(tmp_path / "plain"), _first_epoch_loss(tmp_path / "smoothed")
    # against targets (0.75, 0.25) no prediction scores below their entropy, 0.562
    assert smoothed != plain and smoothed >= 0.562, (plain, smoothed)
    code, _, err = cli(*train_args(toy_dir, tmp_path / "bad", 1, "--set", "label_smoothing=1.0"))
    assert code == 2
    assert_one_error_line(err, "label_smoothing must be in [0, 1)")
    assert not (tmp_path / "bad").exists()


# --- split -----------------------------------------------------------------------------------------

def test_split_writes_the_split_a_training_run_makes(run_dir, toy_dir, tmp_path):
    out_dir = tmp_path / "split-only"
    code, out, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(out_dir))
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["config.toml", "split.csv"]
    assert (out_dir / "split.csv").read_text() == (run_dir / "split.csv").read_text()
    counts = last_json(out)
    assert counts["train"] + counts["val"] + counts["test"] == 48 and counts["test"] > 0
    # the folder serves as a run folder: the trained weights scored on the test rows of the same split
    code, out, err = cli("evaluate", "gender", "--run", str(out_dir), "--weights", str(run_dir), "--framing", "as-is")
    assert code == 0, err
    assert last_json(out)["n"] == counts["test"]
    # another seed, another split; an existing split is never overwritten
    code, _, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(out_dir), "--seed", "3")
    assert code == 2
    assert_one_error_line(err, "already holds a split")
    code, _, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(tmp_path / "s3"), "--seed", "3")
    assert code == 0, err
    assert (tmp_path / "s3" / "split.csv").read_text() != (run_dir / "split.csv").read_text()


# --- bad inputs: one clear line on stderr, exit code 2, no traceback ---------------------------------

def _bad_dataset(root: Path, case: str) -> Path:
    ok = save_image(root / "ok.png", (32, 32))
    rows = [["ok.png", "male"], ["x.jpg", "female"]]
    if case == "zero-byte":
        (root / "x.jpg").write_bytes(b"")
    elif case == "truncated-jpeg":
        rng = np.random.default_rng(0)
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(buf, "JPEG")
        (root / "x.jpg").write_bytes(buf.getvalue()[:-2000])
    elif case == "text-as-jpg":
        (root / "x.jpg").write_text("hello\n")
    elif case == "too-large":
        Image.new("L", (8000, 6000)).save(root / "x.png")
        rows[1][0] = "x.png"
    elif case == "missing-file":
        pass
    else:
        shutil.copy(ok, root / "x.jpg")
        if case == "missing-label-column":
            write_labels(root, [[r[0]] for r in rows], header=("path",))
            return root
        if case == "missing-path-column":
            write_labels(root, rows, header=("file", "gender"))
            return root
        if case == "empty-body":
            write_labels(root, [])
            return root
        if case == "unknown-label":
            rows[1][1] = "f"
        if case == "duplicate-rows":
            rows.append(["ok.png", "male"])
        if case == "not-utf8":
            (root / "labels.csv").write_bytes("path,gender\nok.png,male\nx.jpg,f\xe9male\n".encode("latin-1"))
            return root
    write_labels(root, rows)
    return root


CASES = {
    "zero-byte": ["x.jpg", "not an image file"],
    "truncated-jpeg": ["x.jpg", "truncated"],
    "text-as-jpg": ["x.jpg", "not an image file"],
    "too-large": ["x.png", "image too large", "limit 40 MP"],
    "missing-file": ["x.jpg", "cannot open"],
    "missing-label-column": ["missing label column 'gender'"],
    "missing-path-column": ["missing column 'path'"],
    "empty-body": ["the dataset is empty"],
    "unknown-label": ["row 2 (x.jpg): unknown label 'f'"],
    "duplicate-rows": ["labels.csv:4: duplicate row for ok.png"],
    "not-utf8": ["not UTF-8"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_one_line_in_process(case, tiny_weights, tmp_path):
    data = _bad_dataset(tmp_path / "data", case)
    code, out, err = cli("evaluate", "gender", "--data", str(data), "--weights", str(tiny_weights),
                         "--framing", "as-is")
    assert code == 2
    assert_one_error_line(err, *CASES[case])


@pytest.mark.parametrize("case", ["truncated-jpeg", "too-large", "not-utf8", "unknown-label"])
def test_bad_input_one_line_in_a_real_process(case, tmp_path):
    data = _bad_dataset(tmp_path / "data", case)
    proc = run_cli(*train_args(data, tmp_path / "run", 1))
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc.stderr, *CASES[case])


def test_bad_image_in_a_real_process_predict_and_evaluate(tiny_weights, tmp_path):
    data = _bad_dataset(tmp_path / "data", "zero-byte")
    proc = run_cli("evaluate", "gender", "--data", str(data), "--weights", str(tiny_weights), "--framing", "as-is")
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "x.jpg: not an image file")
    proc = run_cli("predict", "gender", str(data / "x.jpg"), "--weights", str(tmp_path / "none.safetensors"))
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "weights file not found")


def test_params_in_a_real_process():
    proc = run_cli("params", "gender-tiny")
    assert proc.returncode == 0 and proc.stderr == ""
    assert "| gender-tiny | 91,410 | 90,962 | 448 |" in proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1])["gender-tiny"]["total"] == 91410


def test_evaluate_bad_run_folder(tmp_path):
    code, _, err = cli("evaluate", "gender", "--run", str(tmp_path), "--framing", "as-is")
    assert code == 2
    assert_one_error_line(err, "not a run folder")


def test_same_seed_same_training(toy_dir, tmp_path):
    """Two trainings with one seed give the same history: the initial weights are seeded too."""
    histories = []
    for name in ("a", "b"):
        code, _, err = cli(*train_args(toy_dir, tmp_path / name, 1, "--image-size", "32", "--seed", "5"))
        assert code == 0, err
        with open(tmp_path / name / "history.csv", newline="") as f:
            histories.append([(r["train_loss"], r["val_loss"]) for r in csv.DictReader(f)])
    assert histories[0] == histories[1]


def test_resume_from_a_truncated_checkpoint(run_dir, toy_dir, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(run_dir, run)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    code, out, err = cli(*train_args(toy_dir, run, 3, "--resume"))
    assert code == 2
    assert_one_error_line(err, "last.pt: damaged or truncated checkpoint", "delete it to train from scratch")
    assert (run / "history.csv").read_text() == (run_dir / "history.csv").read_text()  # nothing overwritten


def _fewer_women(toy_dir: Path, root: Path) -> Path:
    """The toy faces with only every fourth woman's image: an imbalanced set, like LFW (but the other way)."""
    with open(toy_dir / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [[str((toy_dir / r["path"]).resolve()), r["gender"]]
            for i, r in enumerate(rows) if r["gender"] == "male" or i % 4 == 0]
    return write_labels(root, kept)


def test_balanced_class_weight_reaches_the_loss(toy_dir, tmp_path):
    data = _fewer_women(toy_dir, tmp_path / "imbalanced")
    logs = {}
    for name, more in (("plain", ()), ("balanced", ("--set", "class_weight=balanced"))):
        code, out, err = cli(*train_args(data, tmp_path / name, 1, *more))
        assert code == 0, err
        logs[name] = out + err
    assert "class weights (balanced, from the training split): female" in logs["balanced"]
    assert "class weights" not in logs["plain"]
    assert _first_epoch_loss(tmp_path / "balanced") != _first_epoch_loss(tmp_path / "plain")
    code, _, err = cli(*train_args(data, tmp_path / "bad", 1, "--set", "class_weight=inverse"))
    assert code == 2
    assert_one_error_line(err, "class_weight must be none or balanced")
    assert not (tmp_path / "bad").exists()


def test_class_weight_is_refused_where_there_are_no_classes(toy_dir, tmp_path):
    code, _, err = cli("train", "colorize", "--data", str(toy_dir), "--epochs", "1", "--output-dir",
                       str(tmp_path / "run"), "--set", "class_weight=balanced")
    assert code == 2
    assert_one_error_line(err, "class_weight weighs class labels: not for task 'colorize'")
    assert not (tmp_path / "run").exists()


def test_score_test_false_keeps_the_test_split_sealed(toy_dir, tmp_path):
    run = tmp_path / "sealed"
    code, out, err = cli(*train_args(toy_dir, run, 1, "--set", "score_test=false"))
    assert code == 0, err
    assert "test" not in last_json(out)
    assert "test (sealed: not scored)" in out + err
    assert "test_acc" not in (run / "history.csv").read_text() + (run / "results.md").read_text()
    code, out, err = cli("evaluate", "gender", "--run", str(run), "--framing", "as-is")
    assert code == 0, err
    with open(run / "split.csv", newline="") as f:
        n_test = sum(r["split"] == "test" for r in csv.DictReader(f))
    assert last_json(out)["n"] == n_test > 0
