"""bench/gender_accuracy.py on toy gender runs: each run's saved test split scored with its weights, the
split's fractions and kept weights named, targets applied to the lab's models on the image protocol."""
from __future__ import annotations

from conftest import bench_script, cli, last_json

from trivision.evaluate import evaluate


def test_scores_each_run_on_its_own_test_split(tmp_path, toy_dir):
    runs = {"lab": (tmp_path / "lab", "image", ("--set", "val_fraction=0.0", "--set", "keep=last")),
            "identity": (tmp_path / "identity", "identity", ())}
    for run, split, more in runs.values():
        code, _, err = cli("train", "gender", "--model", "gender-tiny", "--data", str(toy_dir), "--split", split,
                           "--epochs", "1", "--output-dir", str(run), "--threads", "1", "--set", "image_size=32", *more)
        assert code == 0, err
    done = bench_script("gender_accuracy.py", *(str(r) for r, _, _ in runs.values()), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    lab, identity = last_json(done.stdout)
    assert (lab["split"], lab["fractions"], lab["kept"]) == ("image", "80/0/20", "last")
    assert (identity["split"], identity["fractions"], identity["kept"]) == ("identity", "70/10/20", "best")
    for row, (run, _, _) in zip((lab, identity), runs.values()):
        again = evaluate("gender", run=str(run), framing="as-is")
        assert (row["n"], row["accuracy"]) == (again["n"], again["accuracy"])
    assert lab["target"] == 0.975 and lab["meets_target"] == (lab["accuracy"] >= 0.975)
    assert identity["target"] is None and identity["meets_target"] is None  # targets are for the image split
    assert "| gender-tiny | image | 80/0/20 (last) | 1 |" in done.stdout
