"""bench/colorize_speed.py at a tiny size on generated pixels: both training inputs timed, the target line."""
from __future__ import annotations

from conftest import bench_script, last_json


def test_colorize_speed_times_whole_photos_and_windows_and_checks_the_target(tmp_path):
    done = bench_script("colorize_speed.py", "--data", str(tmp_path / "absent"), "--images", "4", "--image-size", "32",
                        "--batch-size", "2", "--steps", "1", "--epochs", "2", "--repeats", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    r = last_json(done.stdout)
    assert r["data"] == "random pixels" and r["images"] == 4
    whole, windows = r["training"]
    assert whole["crop"] == 0 and 0 < windows["crop"] < 32 and windows["crop"] % 8 == 0
    assert whole["img_per_s"] > 0 and windows["img_per_s"] > 0
    assert r["seconds_per_photo"] > 0 and r["target_met"] == (r["seconds_per_photo"] < r["target_seconds"])
    assert f"{r['seconds_per_photo']:.3f} s" in done.stdout
    assert ("target under 1 s: met" if r["target_met"] else "target under 1 s: MISSED") in done.stdout
