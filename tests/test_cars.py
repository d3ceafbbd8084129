"""The cars task: class selection, names with the weights, top-k metrics, and train -> evaluate -> predict
through the command line on generated 'cars' (a coloured shape per class); bad inputs."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import assert_one_error_line, cli, last_json, shared_dataset, write_labels
from trivision.config import apply_overrides
from trivision.data.datasets import read_dataset
from trivision.data.splits import read_split
from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError
from trivision.tasks import get_task
from trivision.tasks.cars import CarsTask

COLOURS = {1: (220, 30, 30), 2: (30, 200, 30), 3: (30, 60, 230), 4: (240, 220, 20), 5: (200, 0, 200)}
PER_CLASS = {1: 10, 2: 10, 3: 10, 4: 10, 5: 3}  # class 5 is left out of training (--classes 1-4)


def make_toy_cars(root: Path, seed: int = 0) -> Path:
    """labels.csv (path, class_id, class_name) and 80x64 JPEGs: a circle or a square in the class's colour."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid, count in PER_CLASS.items():
        for k in range(count):
            img = Image.new("RGB", (80, 64), tuple(int(v) for v in rng.integers(90, 170, 3)))
            cx, cy, r = rng.uniform(30, 50), rng.uniform(24, 40), rng.uniform(12, 18)
            shape = ImageDraw.Draw(img).ellipse if cid % 2 else ImageDraw.Draw(img).rectangle
            shape([cx - r, cy - r, cx + r, cy + r], fill=COLOURS[cid])
            name = f"images/c{cid}_{k}.jpg"
            (root / "images").mkdir(parents=True, exist_ok=True)
            img.save(root / name, quality=90)
            rows.append([name, cid, f"Toy Car {cid}"])
    return write_labels(root, rows, header=("path", "class_id", "class_name"))


@pytest.fixture(scope="module")
def cars_dir(tmp_path_factory) -> Path:
    return make_toy_cars(tmp_path_factory.mktemp("cars"))


def train_args(data, run, *more):
    return ["train", "cars", "--model", "bcnn", "--data", str(data), "--classes", "1-4", "--image-size", "48",
            "--batch-size", "8", "--steps-per-epoch", "2", "--threads", "1", "--output-dir", str(run),
            "--set", "pretrained=false", "--set", "phases.0.epochs=2", "--set", "phases.1.epochs=1", *more]


@pytest.fixture(scope="module")
def cars_run(cars_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "cars-run"
    code, out, err = cli(*train_args(cars_dir, run))
    assert code == 0, err
    summary = last_json(out)
    assert summary["epochs"] == 3 and summary["model"] == "bcnn"
    assert set(summary["test"]) == {"n", "top1", "top5"} and summary["test"]["n"] == 8  # 20% of 40
    assert "phase frozen: frozen backbone features of 4 augmented views cached" in out
    return run


# --- the task --------------------------------------------------------------------------------------

def test_select_keeps_the_chosen_classes(cars_dir):
    task, ds = CarsTask(), read_dataset(cars_dir, "class_id")
    assert len(task.select(ds, "1-4")) == 40 and len(task.select(ds, "all")) == 43
    picked = task.select(ds, "2,5")
    assert len(picked) == 13 and set(picked.labels) == {"2", "5"}
    assert task.classes(picked) == ["2", "5"]


def test_classes_are_in_numeric_order(tmp_path):
    ds = read_dataset(write_labels(tmp_path, [["a.jpg", "10"], ["b.jpg", "2"], ["c.jpg", "1"]],
                                   header=("path", "class_id")), "class_id")
    assert CarsTask().classes(ds) == ["1", "2", "10"]


def test_a_chosen_class_without_images_is_named(cars_dir):
    ds = read_dataset(cars_dir, "class_id")
    with pytest.raises(TrivisionError, match=r"--classes 1-9,12: no images of class 6-9,12 in "):
        CarsTask().select(ds, "1-9,12")
    with pytest.raises(TrivisionError, match="'1-x' is not a class id"):
        CarsTask().select(ds, "1-x")


def test_class_ids_must_be_numbers(tmp_path):
    ds = read_dataset(write_labels(tmp_path, [["a.jpg", "3"], ["b.jpg", "Audi"]], header=("path", "class_id")),
                      "class_id")
    with pytest.raises(TrivisionError, match=r"row 2 \(b.jpg\): class_id 'Audi' is not a whole number"):
        CarsTask().select(ds, "all")


def test_class_names_from_the_column_then_classes_csv_then_the_id(cars_dir, tmp_path):
    task = CarsTask()
    ds = read_dataset(cars_dir, "class_id")
    assert task.class_names(ds, ["1", "4"]) == ["Toy Car 1", "Toy Car 4"]
    bare = write_labels(tmp_path, [["a.jpg", "1"], ["b.jpg", "2"]], header=("path", "class_id"))
    assert task.class_names(read_dataset(bare, "class_id"), ["1", "2"]) == ["1", "2"]
    (bare / "classes.csv").write_text("class_id,class_name\n1,AM General Hummer SUV 2000\n")
    assert task.class_names(read_dataset(bare, "class_id"), ["1", "2"]) == ["AM General Hummer SUV 2000", "2"]


def test_top1_and_top5():
    task = CarsTask()
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4, 3],   # target 0: top-1
                           [9.0, 8, 7, 6, 5, 4, 3],   # target 4: top-5 only
                           [9.0, 8, 7, 6, 5, 4, 3],   # target 6: neither
                           [1.0, 2, 3, 4, 5, 6, 7]])  # target 6: top-1
    m = task.metrics(scores, torch.tensor([0, 4, 6, 6]), [str(i) for i in range(1, 8)])
    assert m == {"n": 4, "top1": 0.5, "top5": 0.75}
    few = task.metrics(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([0, 0]), ["1", "2"])
    assert few == {"n": 2, "top1": 0.5, "top5": 1.0}  # top-k with k = min(5, classes)


def test_default_config_is_the_labs_two_phases():
    cfg = get_task("cars").default_config()
    assert (cfg.model, cfg.backbone, cfg.image_size, cfg.batch_size, cfg.classes) == \
        ("bcnn", "mobilenet_v2", 250, 32, "1-20")
    assert [(p.name, p.lr, p.freeze_backbone) for p in cfg.phases] == [("frozen", 1e-4, True), ("finetune", 1e-5, False)]
    cfg = apply_overrides(cfg, ["phases.1.epochs=3", "phases.0.lr=0.001"])
    assert cfg.phases[1].epochs == 3 and cfg.phases[0].lr == 0.001
    with pytest.raises(TrivisionError, match="'5' is not a group of settings"):
        apply_overrides(cfg, ["phases.5.epochs=3"])


def test_stanford_cars_classes_1_to_20_are_652_rows():
    data = shared_dataset("stanford-cars")
    task = CarsTask()
    ds = task.select(read_dataset(data, "class_id"), "1-20")
    assert len(ds) == 652 and task.classes(ds) == [str(i) for i in range(1, 21)]
    names = task.class_names(ds, task.classes(ds))
    assert names[0] == "AM General Hummer SUV 2000" and len(set(names)) == 20


# --- through the command line ------------------------------------------------------------------

def test_train_writes_a_run_folder_per_phase(cars_run, cars_dir):
    for name in ("curves.png", "curves-frozen.png", "curves-finetune.png", "results.md", "results-frozen.md",
                 "results-finetune.md", "params.md", "model.safetensors", "split.csv"):
        assert (cars_run / name).is_file(), name
    assert "| bcnn | frozen | 2 |" in (cars_run / "results-frozen.md").read_text()
    assert "| bcnn | finetune | 1 |" in (cars_run / "results-finetune.md").read_text()
    with open(cars_run / "history.csv", newline="") as f:
        assert [r["phase"] for r in csv.DictReader(f)] == ["frozen", "frozen", "finetune"]
    with open(cars_run / "split.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 40  # class 5 was not chosen: not in the split at all
    _, meta = load_weights(cars_run / "model.safetensors")
    assert meta["classes"] == ["1", "2", "3", "4"] and meta["task"] == "cars"
    assert meta["class_names"] == ["Toy Car 1", "Toy Car 2", "Toy Car 3", "Toy Car 4"]
    assert meta["backbone"] == "mobilenet_v2" and meta["image_size"] == 48


def test_a_few_classes_keep_the_split_of_the_run_they_start_from(cars_run, cars_dir, tmp_path):
    run = tmp_path / "two"
    code, out, err = cli(*train_args(cars_dir, run, "--classes", "2,4", "--seed", "7", "--init", str(cars_run),
                                     "--set", f"split_from={cars_run}"))
    assert code == 0, err
    assert f"(the saved split of {cars_run});" in out
    start, ours = read_split(cars_run / "split.csv"), read_split(run / "split.csv")
    assert len(ours) == 20 and all(start[path] == s for path, s in ours.items())  # seed 7 changes nothing


def test_evaluate_skips_and_counts_unknown_classes(cars_run, cars_dir):
    code, out, err = cli("evaluate", "cars", "--data", str(cars_dir), "--weights", str(cars_run))
    assert code == 0, err
    result = last_json(out)
    assert {"n", "skipped_unknown_class", "top1", "top5"} <= result.keys()
    assert result["n"] == 40 and result["skipped_unknown_class"] == 3 and 0 <= result["top1"] <= result["top5"] <= 1
    assert "faces_not_found" not in result
    assert any(line.startswith("top5") and line.endswith("%") for line in out.splitlines())


def test_evaluate_the_runs_test_split(cars_run):
    code, out, err = cli("evaluate", "cars", "--run", str(cars_run))
    assert code == 0, err
    result = last_json(out)
    assert result["n"] == 8 and result["skipped_unknown_class"] == 0


def test_evaluate_another_split_of_the_run_with_tta(cars_run):
    code, out, err = cli("evaluate", "cars", "--run", str(cars_run), "--split", "val", "--tta", "hflip")
    assert code == 0, err
    result = last_json(out)
    assert result["tta"] == "hflip" and result["n"] == 4  # 10% of 40 images


def test_tta_chosen_on_a_real_runs_validation_split(cars_run):
    from trivision.evaluate import choose_tta
    tta, val = choose_tta("cars", str(cars_run))
    assert tta in ("none", "hflip") and set(val) == {"none", "hflip"} and val[tta] == max(val.values())


def test_a_split_needs_a_run(cars_run, cars_dir):
    code, out, err = cli("evaluate", "cars", "--data", str(cars_dir), "--weights", str(cars_run), "--split", "val")
    assert code != 0
    assert_one_error_line(err, "--split val", "--run")


def test_predict_gives_the_top_classes_by_name(cars_run, cars_dir):
    images = [cars_dir / "images" / "c1_0.jpg", cars_dir / "images" / "c5_0.jpg"]
    code, out, err = cli("predict", "cars", *map(str, images), "--weights", str(cars_run / "model.safetensors"))
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["image"] for line in lines] == list(map(str, images))
    for line in lines:
        assert set(line) == {"image", "top5"} and len(line["top5"]) == 4  # the model knows 4 classes
        probs = [c["probability"] for c in line["top5"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-4)
        assert {c["class_id"] for c in line["top5"]} == {"1", "2", "3", "4"}
        assert all(c["class_name"] == f"Toy Car {c['class_id']}" for c in line["top5"])


def test_the_python_door_predicts_cars_too(cars_run, cars_dir):
    import trivision
    (answer,) = trivision.load(str(cars_run)).predict(str(cars_dir / "images" / "c2_0.jpg"))
    assert len(answer["top5"]) == 4


# --- bad inputs: one clear line ------------------------------------------------------------------

def test_a_model_asked_about_classes_it_does_not_know(cars_run, cars_dir, tmp_path):
    only5 = tmp_path / "only5"
    shutil.copytree(cars_dir, only5)
    with open(cars_dir / "labels.csv", newline="") as f:
        rows = [r for r in csv.reader(f)][1:]
    write_labels(only5, [r for r in rows if r[1] == "5"], header=("path", "class_id", "class_name"))
    code, _, err = cli("evaluate", "cars", "--data", str(only5), "--weights", str(cars_run))
    assert code == 2
    assert_one_error_line(err, "none of the 3 rows is of a class model 'bcnn' knows (its classes: 1-4)")


@pytest.mark.parametrize("spec, message", [
    ("1-9", "--classes 1-9: no images of class 6-9 in"),
    ("3,x", "--classes '3,x': 'x' is not a class id or a range like 1-20"),
    ("4-2", "'4-2' is not a range of class ids"),
])
def test_train_class_spec_errors(cars_dir, tmp_path, spec, message):
    args = train_args(cars_dir, tmp_path / "run")
    args[args.index("--classes") + 1] = spec
    code, _, err = cli(*args)
    assert code == 2
    assert_one_error_line(err, message)


def test_no_epochs_at_all_is_named(cars_dir, tmp_path):
    code, _, err = cli(*train_args(cars_dir, tmp_path / "none", "--set", "phases.0.epochs=0",
                                   "--set", "phases.1.epochs=0"))
    assert code != 0
    assert_one_error_line(err, "every phase has 0 epochs")
    assert not (tmp_path / "none").exists()


def test_train_flag_errors(cars_dir, tmp_path):
    code, _, err = cli(*train_args(cars_dir, tmp_path / "r", "--epochs", "3"))
    assert code == 2
    assert_one_error_line(err, "--epochs/--lr set a single phase, and this run has 2: use --set phases.0.epochs=N")
    code, _, err = cli(*train_args(cars_dir, tmp_path / "r", "--backbone", "resnet9000"))
    assert code == 2
    assert_one_error_line(err, "unknown backbone 'resnet9000'")
    code, _, err = cli(*train_args(cars_dir, tmp_path / "r", "--model", "gender-tiny"))
    assert code == 2
    assert_one_error_line(err, "model 'gender-tiny' is for task 'gender', not 'cars'")


def test_an_undecodable_car_photo_is_named(cars_run, cars_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cars_dir, data)
    (data / "images" / "c3_1.jpg").write_bytes(b"")
    code, _, err = cli("evaluate", "cars", "--data", str(data), "--weights", str(cars_run))
    assert code == 2
    assert_one_error_line(err, "c3_1.jpg: not an image file", "--skip-bad")


def test_weights_of_another_task_or_none_shipped(cars_run, tiny_weights, cars_dir):
    photo = str(cars_dir / "images" / "c1_0.jpg")
    code, _, err = cli("predict", "cars", photo, "--weights", str(tiny_weights))
    assert code == 2
    assert_one_error_line(err, "model 'gender-tiny' is for task 'gender', not 'cars'")
    code, _, err = cli("predict", "gender", photo, "--weights", str(cars_run))
    assert code == 2
    assert_one_error_line(err, "model 'bcnn' is for task 'cars', not 'gender'")
    from trivision.models.registry import shipped_weights
    if shipped_weights("cars-bcnn-20") is None:  # the default model, until its weights ship
        code, _, err = cli("evaluate", "cars", "--data", str(cars_dir))
        assert code == 2
        assert_one_error_line(err, "model 'cars-bcnn-20' has no shipped weights in this install: "
                                   "train it (trivision train cars --model bcnn)")
