"""The demo's report: the three tasks' sections, pictures that exist inside the report's folder, the cars
photos taken from the model's own test split, and one line for what is missing."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, cli
from test_cars import make_toy_cars, train_args
from trivision.demo import Photo, cars_section, colorize_section, gender_section, held_out_photos
from trivision.inference import load_model
from trivision.report_html import Section, write_report


@pytest.fixture(scope="module")
def toy_cars(tmp_path_factory) -> Path:
    return make_toy_cars(tmp_path_factory.mktemp("cars"))


@pytest.fixture(scope="module")
def cars_run(toy_cars, tmp_path_factory) -> Path:
    """A bcnn trained briefly on toy cars of classes 1-4 (class 5 is in the folder, not in the model)."""
    run = tmp_path_factory.mktemp("runs") / "cars"
    code, _, err = cli(*train_args(toy_cars, run))
    assert code == 0, err
    return run


def sections_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, flags=re.DOTALL))


def test_the_report_shows_the_three_tasks_with_its_pictures_inside_its_folder(tmp_path, cars_run, toy_cars,
                                                                              koala_weights):
    from skimage import data
    out = tmp_path / "demo"
    out.mkdir()
    sections = [gender_section(out, [Photo("astronaut", data.astronaut(), "the astronaut", "female")],
                               toy_epochs=1),
                cars_section(out, str(cars_run), None, toy_cars, shown=3),
                colorize_section(out, str(koala_weights),
                                 [Photo("noise", np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8),
                                        "coloured noise")])]
    report = write_report(out / "report.html", "demo", sections)

    html = report.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources and all((out / s).is_file() and not Path(s).is_absolute() for s in sources), sources
    parts = sections_of(html)
    assert list(parts) == ["gender", "cars", "colorize"]
    assert 'src="gender/astronaut.png"' in parts["gender"] and "female" in parts["gender"]
    assert 'src="run-gender-tiny/curves.png"' in parts["gender"] and "<table>" in parts["gender"]
    assert "On all 8 test photos: top-1" in parts["cars"]  # 20% of the 40 photos of classes 1-4
    assert len(re.findall("<img", parts["cars"])) == 3 and "truth: Toy Car 1" in parts["cars"]
    assert 'src="colorize/noise.png"' in parts["colorize"] and "PSNR" in parts["colorize"]


def test_the_cars_photos_are_the_models_own_test_split(cars_run, toy_cars):
    with open(cars_run / "split.csv", newline="") as f:
        saved = {str(toy_cars / row["path"]) for row in csv.DictReader(f) if row["split"] == "test"}
    shown = held_out_photos(load_model(str(cars_run)), toy_cars)
    assert {path for path, _ in shown} == saved and len(saved) == 8
    assert all(Path(path).name.startswith(f"c{truth}_") for path, truth in shown)


def test_a_restricted_models_photos_are_its_sources_test_split_of_its_classes(cars_run, toy_cars, tmp_path):
    from trivision.subset import restrict
    restrict(str(cars_run), "1-2", tmp_path / "sub.safetensors")
    with open(cars_run / "split.csv", newline="") as f:
        saved = {str(toy_cars / row["path"]) for row in csv.DictReader(f) if row["split"] == "test"}
    shown = held_out_photos(load_model(str(tmp_path / "sub.safetensors")), toy_cars)
    # a split drawn over classes 1-2 alone would be another one: the source's, over 1-4, is the held-out one
    assert {truth for _, truth in shown} == {"1", "2"}
    assert {path for path, _ in shown} == {p for p in saved if Path(p).name.startswith(("c1_", "c2_"))}


def test_what_is_missing_is_one_line_in_the_report(tmp_path, cars_run, toy_cars):
    sections = [cars_section(tmp_path, str(cars_run), None, tmp_path / "no-such-folder"),
                cars_section(tmp_path, "cars-not-a-shipped-model", None, toy_cars),
                colorize_section(tmp_path, None, [])]
    html = write_report(tmp_path / "report.html", "demo", sections).read_text(encoding="utf-8")
    notes = re.findall(r'<p class="note">([^<]*)</p>', html)
    assert len(notes) == 3 and "<img" not in html
    assert "no car photo ships" in notes[0] and "--cars" in notes[0]
    assert "cars-not-a-shipped-model is not shipped" in notes[1]
    assert "colorize-koala is not shipped in this install" in notes[2]


def test_your_car_photos_come_first_and_bad_ones_are_named(tmp_path, cars_run, toy_cars):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    photo = str(toy_cars / "images" / "c1_0.jpg")
    section = cars_section(tmp_path, str(cars_run), [photo, str(bad)], toy_cars)
    html = write_report(tmp_path / "report.html", "demo", [section]).read_text(encoding="utf-8")
    assert len(re.findall("<img", html)) == 1 and "c1_0.jpg" in html and "On all" not in html
    assert re.search(r'<p class="note">[^<]*notes\.txt[^<]*not an image', html)


def test_a_picture_outside_the_reports_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"")
    section = Section("s", "S")
    section.picture(outside, ["x"])
    with pytest.raises(ValueError, match="must lie inside"):
        write_report(tmp_path / "report" / "report.html", "demo", [section])


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_passes_your_car_photos_on():
    dry = subprocess.run(["make", "-n", "demo", "CARS=a.jpg b.jpg"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert "-m trivision.demo --cars a.jpg b.jpg" in dry.stdout, dry.stdout + dry.stderr
