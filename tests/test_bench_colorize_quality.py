"""bench/colorize_quality.py with the shipped colorizer on generated photos: the table, its verdict, the gallery."""
from __future__ import annotations

from conftest import bench_script, last_json
from PIL import Image
from test_colorize import make_photos


def test_colorize_quality_scores_against_the_targets_and_draws_a_gallery(tmp_path):
    photos = make_photos(tmp_path / "photos", count=3)
    gallery = tmp_path / "gallery.png"
    done = bench_script("colorize_quality.py", "colorize-koala", "--data", str(photos), "--gallery", str(gallery),
                        "--threads", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    (r,) = last_json(done.stdout)
    assert r["model"] == "colorize-koala" and r["n"] == 3 and r["psnr_over_grey_se"] > 0
    assert r["meets_targets"] == (r["psnr"] > r["psnr_grey"] and r["colourfulness_ratio"] >= 0.6)
    assert f"{r['psnr'] - r['psnr_grey']:+.2f} ± {r['psnr_over_grey_se']:.2f}" in done.stdout
    assert ("| met |" if r["meets_targets"] else "| MISSED |") in done.stdout
    assert Image.open(gallery).size == (3 * 192, 3 * 192)  # grey | model | original, one row per photo


def test_colorize_quality_scores_a_seeded_random_sample_of_a_folder(tmp_path):
    photos = make_photos(tmp_path / "photos", count=5)
    runs = [bench_script("colorize_quality.py", "colorize-koala", "--data", str(photos), "--sample", "2",
                         "--seed", str(seed), "--threads", "1") for seed in (0, 0, 1)]
    assert all(done.returncode == 0 for done in runs), runs[0].stderr[-3000:]
    first, again, other = (last_json(done.stdout)[0] for done in runs)
    assert first["n"] == 2 and "a random 2 (seed 0)" in runs[0].stdout
    assert first["psnr"] == again["psnr"]  # the same seed draws the same photos
    assert other["psnr"] != first["psnr"]


def test_colorize_quality_refuses_a_sample_of_a_run_split(tmp_path):
    done = bench_script("colorize_quality.py", "colorize-koala", "--test-split-of", str(tmp_path), "--sample", "2")
    assert done.returncode != 0 and "--sample draws from --data" in done.stderr
    assert "Traceback" not in done.stderr
