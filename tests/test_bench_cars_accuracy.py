"""bench/cars_accuracy.py on toy car runs: top-1 and top-5 of the saved test split, the frozen phase's
accuracy, and the minutes of a run started from another counted with that run's."""
from __future__ import annotations

from conftest import bench_script, cli, last_json
from test_cars import make_toy_cars, train_args

from trivision.engine.report import read_history, read_results, training_seconds


def test_reports_each_run_and_the_whole_recipe_of_a_fine_tuned_one(tmp_path):
    data = make_toy_cars(tmp_path / "cars")
    first, second = tmp_path / "first", tmp_path / "second"
    for run, more in ((first, ()), (second, ("--init", str(first)))):
        code, _, err = cli(*train_args(data, run, *more))
        assert code == 0, err
    done = bench_script("cars_accuracy.py", str(first), str(second), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = last_json(done.stdout)
    assert a["classes"] == b["classes"] == 4 and a["n"] == b["n"] == 8
    assert a["init"] is None and b["init"] == str(first)
    assert a["frozen_top1"] == read_results(first / "results.md")["frozen"]["test_acc"]
    assert 0 <= a["top1"] <= a["top5"] <= 1
    assert a["tta"] in ("none", "hflip") and (a["tta"] != "none" or a["top1"] == a["top1_no_tta"])
    minutes = training_seconds(read_history(first / "history.csv")) / 60
    assert abs(b["whole_recipe_minutes"] - b["train_minutes"] - minutes) < 0.11  # each rounded to 0.1
    assert a["target"] is None and a["meets_target"] is None  # targets are for 20 and 196 classes
    assert f"| 4 | random weights | 8 | {a['tta']} |" in done.stdout and f"| 4 | {first} | 8 | {b['tta']} |" in done.stdout


def test_model_flag_scores_another_model_on_the_runs_split(tmp_path):
    from trivision.ensemble import combine
    from trivision.evaluate import evaluate
    data = make_toy_cars(tmp_path / "cars")
    first, second = tmp_path / "first", tmp_path / "second"
    for run, lr in ((first, "1e-3"), (second, "1e-2")):  # two members trained apart on one split
        code, _, err = cli(*train_args(data, run, "--set", f"phases.1.lr={lr}"))
        assert code == 0, err
    ensemble = tmp_path / "ensemble.safetensors"
    combine([str(first), str(second)], ensemble)
    done = bench_script("cars_accuracy.py", str(first), "--model", str(ensemble), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (r,) = last_json(done.stdout)
    assert r["model"] == "ensemble" and r["n"] == 8 and r["train_minutes"] is None and r["frozen_top1"] is None
    assert r["top1"] == evaluate("cars", run=str(first), model=str(ensemble), tta=r["tta"])["top1"]
    assert f"| {ensemble} on {first}'s split | 4 |  | 8 | {r['tta']} |" in done.stdout
