"""bench/time_to_accuracy.py end to end on the toy faces: both recipes train, the lab's stops on its time limit."""
from __future__ import annotations

from conftest import bench_script, last_json


def test_both_recipes_and_the_target_line(toy_dir, tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('model = "gender-tiny"\nimage_size = 32\nframe_crop = 0.6\nbatch_size = 8\n'
                      'steps_per_epoch = 2\n[[phases]]\nname = "train"\nepochs = 2\nlr = 1e-3\n')
    done = bench_script("time_to_accuracy.py", "--data", str(toy_dir), "--recipe", str(recipe), "--threads", "1",
                        "--output-dir", str(tmp_path / "out"), timeout=300)
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    fast, lab = result["results"]
    assert fast["recipe"] == "fast" and fast["epochs"] == 2 and 0 <= fast["test_accuracy"] <= 1
    # the lab's 75 epochs stop once they pass the fast recipe's training time
    assert lab["recipe"] == "lab" and 1 <= lab["epochs"] < 75
    assert result["target_met"] == (fast["test_accuracy"] >= 0.97 and fast["wall_minutes"] <= 10)
    assert ("target (>= 97.0% test accuracy within 10 min wall): " + ("met" if result["target_met"] else "MISSED")
            in done.stdout)
    again = bench_script("time_to_accuracy.py", "--data", str(toy_dir), "--output-dir", str(tmp_path / "out"))
    assert again.returncode == 2 and "exists" in again.stderr
