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
