"""Every CLI command that reads images or datasets against the generated bad-input corpus (tests/corpus.py):
an undecodable file or a broken labels.csv gets one clear line and a non-zero exit, never a traceback (or a
counted skip with --skip-bad); every decodable oddity is decoded correctly and goes through."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_one_error_line, cli, last_json, run_cli
from corpus import BAD_IMAGES, CSV_CASES, FILE_NAMES, GOOD_IMAGES, build_csv, build_images, check_decoded
from trivision.data.images import decode_image
from trivision.engine.checkpoint import save_weights
from trivision.errors import BadImage
from trivision.models import create_model

LABELS = {"gender": ("gender", ["female", "male"]), "cars": ("class_id", ["1", "2"]),
          "colorize": ("gender", ["female", "male"])}  # colorize ignores every column but path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return build_images(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny_weights) -> dict[str, Path]:
    """Untrained weights for each task: enough to run every command."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    cars = create_model("bcnn", image_size=48, num_classes=2, backbone="mobilenet_v2", pretrained=False).eval()
    save_weights(root / "cars.safetensors", cars, {
        "model": "bcnn", "task": "cars", "classes": ["1", "2"], "class_names": ["Car 1", "Car 2"],
        "image_size": 48, "dropout": 0.5, "backbone": "mobilenet_v2", "seed": 0})
    koala = create_model("koala", image_size=64, pretrained=False).eval()
    save_weights(root / "colorize.safetensors", koala, {
        "model": "koala", "task": "colorize", "classes": [], "image_size": 64, "dropout": 0.5, "backbone": "",
        "loss": koala.loss, "seed": 0})
    return {"gender": tiny_weights, "cars": root / "cars.safetensors", "colorize": root / "colorize.safetensors"}


def _dataset(root: Path, files: list[Path], task: str) -> Path:
    """A valid labels.csv over copies of `files`, labelled in turn with the task's labels."""
    column, labels = LABELS[task]
    root.mkdir(parents=True, exist_ok=True)
    lines = [f"path,{column}"]
    for i, f in enumerate(files):
        shutil.copy(f, root / f.name)
        lines.append(f"{f.name},{labels[i % len(labels)]}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def _good(corpus) -> list[Path]:
    return [corpus[c] for c in GOOD_IMAGES]


def _evaluate(task: str, data: Path, weights, *more: str):
    extra = ["--framing", "as-is"] if task == "gender" else []
    return cli("evaluate", task, "--data", str(data), "--weights", str(weights[task]), *extra, *more)


def _train(data: Path, run: Path, *more: str):
    return cli("train", "gender", "--model", "gender-tiny", "--data", str(data), "--epochs", "1", "--batch-size", "4",
               "--steps-per-epoch", "1", "--image-size", "32", "--threads", "1", "--output-dir", str(run), *more)


def _no_traceback(*streams: str) -> None:
    for s in streams:
        assert "Traceback" not in s, s


# --- the decoder -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", GOOD_IMAGES)
def test_decodable_cases_are_decoded_correctly(corpus, case):
    check_decoded(case, decode_image(corpus[case]))


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_undecodable_cases_are_one_clear_error(corpus, case):
    with pytest.raises(BadImage) as info:
        decode_image(corpus[case])
    msg = str(info.value)
    assert "\n" not in msg and corpus[case].name in msg and BAD_IMAGES[case] in msg, msg


# --- predict, colorize, augment-preview: one line per bad photo; the good ones go through -----------

@pytest.mark.parametrize("task", ["gender", "cars"])
def test_predict_over_the_corpus(corpus, weights, task):
    paths = [str(p) for p in corpus.values()]
    extra = ["--framing", "as-is"] if task == "gender" else []
    code, out, err = cli("predict", task, *paths, "--weights", str(weights[task]), *extra)
    _no_traceback(out, err)
    assert code == 1
    lines = [json.loads(s) for s in out.strip().splitlines()]
    assert [line["image"] for line in lines] == paths  # one answer per photo, in order
    by_case = dict(zip(corpus, lines))
    for case, fragment in BAD_IMAGES.items():
        assert fragment in by_case[case]["error"], by_case[case]
    for case in GOOD_IMAGES:
        assert "error" not in by_case[case], by_case[case]
    errors = [s for s in err.splitlines() if s.strip()]
    assert len(errors) == len(BAD_IMAGES) and all(s.startswith("error: ") for s in errors), err


def test_predict_gender_detecting_faces_in_odd_photos(corpus, weights):
    """Face detection on a 1x1 photo, a 20000x20 strip, a grey or a 16-bit one: no face, no crash."""
    paths = [str(corpus[c]) for c in GOOD_IMAGES]
    code, out, err = cli("predict", "gender", *paths, "--weights", str(weights["gender"]))
    _no_traceback(out, err)
    assert code == 1
    lines = [json.loads(s) for s in out.strip().splitlines()]
    assert {line["image"] for line in lines} == set(paths)
    assert all("no face found" in line["error"] for line in lines if "error" in line)


def test_colorize_over_the_corpus(corpus, weights, tmp_path):
    paths = [str(p) for p in corpus.values()]
    code, out, err = cli("colorize", *paths, "--weights", str(weights["colorize"]), "--output-dir", str(tmp_path))
    _no_traceback(out, err)
    assert code == 1
    by_case = dict(zip(corpus, (json.loads(s) for s in out.strip().splitlines())))
    for case, fragment in BAD_IMAGES.items():
        assert fragment in by_case[case]["error"]
    for case in GOOD_IMAGES:  # written at the photo's own (upright) size
        rgb = decode_image(corpus[case])
        with Image.open(by_case[case]["output"]) as img:
            assert img.size == (rgb.shape[1], rgb.shape[0]) and img.mode == "RGB", case
    assert len([s for s in err.splitlines() if s.strip()]) == len(BAD_IMAGES)


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_augment_preview_bad_photo(corpus, case, tmp_path):
    code, out, err = cli("augment-preview", str(corpus[case]), "--output", str(tmp_path / "p.png"), "--copies", "2")
    assert code == 2
    assert_one_error_line(err, corpus[case].name, BAD_IMAGES[case])
    assert not (tmp_path / "p.png").exists()


def test_augment_preview_odd_photos(corpus, tmp_path):
    out_png = tmp_path / "p.png"
    code, out, err = cli("augment-preview", *[str(p) for p in _good(corpus)], "--output", str(out_png),
                         "--image-size", "32", "--copies", "2")
    assert code == 0, err
    with Image.open(out_png) as img:
        assert img.size == (3 * 32 + 4 * 2, len(GOOD_IMAGES) * 32 + (len(GOOD_IMAGES) + 1) * 2)


# --- evaluate (three tasks) and train: a dataset holding one bad photo ------------------------------

@pytest.fixture(scope="module")
def bad_datasets(corpus, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(task, bad case) -> the good photos plus that one bad photo; (task, 'all') -> with every bad photo."""
    root = tmp_path_factory.mktemp("bad-datasets")
    out = {}
    for task in LABELS:
        for case in [*BAD_IMAGES, "all"]:
            bad = list(BAD_IMAGES) if case == "all" else [case]
            out[task, case] = _dataset(root / task / case, _good(corpus) + [corpus[b] for b in bad], task)
    return out


@pytest.mark.parametrize("task", list(LABELS))
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_evaluate_stops_at_a_bad_photo(bad_datasets, weights, task, case):
    code, out, err = _evaluate(task, bad_datasets[task, case], weights)
    assert code == 2, err
    assert_one_error_line(err, FILE_NAMES[case], BAD_IMAGES[case], "--skip-bad")


@pytest.mark.parametrize("task", list(LABELS))
def test_evaluate_skip_bad_counts(bad_datasets, weights, task):
    code, out, err = _evaluate(task, bad_datasets[task, "all"], weights, "--skip-bad")
    assert code == 0, err
    _no_traceback(err)
    result = last_json(out)
    assert result["skipped_bad"] == len(BAD_IMAGES)
    if task == "colorize":  # grey photos have no colour to compare with: counted apart
        assert result["n"] + result["skipped_grey"] == len(GOOD_IMAGES)
    else:
        assert result["n"] == len(GOOD_IMAGES)


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_train_stops_at_a_bad_photo(bad_datasets, case, tmp_path):
    code, out, err = _train(bad_datasets["gender", case], tmp_path / "run")
    assert code == 2
    assert_one_error_line(err, BAD_IMAGES[case], "--skip-bad")


def test_train_skip_bad_counts(bad_datasets, tmp_path):
    code, out, err = _train(bad_datasets["gender", "all"], tmp_path / "run", "--skip-bad")
    assert code == 0, err
    _no_traceback(err)
    skipped = [s for s in out.splitlines() if s.startswith("skipped: ")]
    assert len(skipped) == len(BAD_IMAGES)
    assert all(any(BAD_IMAGES[c] in s for s in skipped) for c in BAD_IMAGES)


# --- labels.csv defects ----------------------------------------------------------------------------

# the commands that read labels.csv, and the defects each accepts: a counted skip or an ignored column
CSV_COMMANDS = {"train gender": {}, "evaluate gender": {}, "evaluate cars": {"unknown-label": "skipped_unknown_class"},
                "evaluate colorize": {"unknown-label": None, "missing-column": None}}


@pytest.fixture(scope="module")
def csv_datasets(corpus, tmp_path_factory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("csv")
    files = [corpus[c] for c in ("rgba-png", "cmyk-jpeg", "grey-jpeg", "palette-gif", "png-16bit", "one-pixel")]
    return {(task, case): build_csv(root / task / case, case, files, *LABELS[task])
            for task in LABELS for case in CSV_CASES}


@pytest.mark.parametrize("command", list(CSV_COMMANDS))
@pytest.mark.parametrize("case", list(CSV_CASES))
def test_labels_csv_defects(csv_datasets, weights, command, case, tmp_path):
    verb, task = command.split()
    data = csv_datasets[task, case]
    if verb == "train":
        code, out, err = _train(data, tmp_path / "run")
    else:
        code, out, err = _evaluate(task, data, weights)
    accepted = CSV_COMMANDS[command]
    if case in accepted:
        assert code == 0, err
        _no_traceback(err)
        if accepted[case]:
            assert last_json(out)[accepted[case]] == 1
        return
    assert code == 2, (out, err)
    assert_one_error_line(err, *CSV_CASES[case])


# --- a few in real processes: what a user's shell sees ---------------------------------------------

def test_real_process_predict_over_the_corpus(corpus, weights):
    proc = run_cli("predict", "gender", *[str(p) for p in corpus.values()], "--weights", str(weights["gender"]),
                   "--framing", "as-is")
    assert proc.returncode == 1
    _no_traceback(proc.stderr)
    assert len([s for s in proc.stderr.splitlines() if s.strip()]) == len(BAD_IMAGES)


def test_real_process_train_and_augment_preview(bad_datasets, corpus, tmp_path):
    proc = run_cli("train", "gender", "--model", "gender-tiny", "--data", str(bad_datasets["gender", "bomb"]),
                   "--epochs", "1", "--image-size", "32", "--output-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "bomb.png", "image too large")
    proc = run_cli("augment-preview", str(corpus["truncated-jpeg"]), "--output", str(tmp_path / "p.png"))
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "truncated.jpg", "truncated")


def test_real_process_labels_csv(csv_datasets, weights):
    proc = run_cli("evaluate", "cars", "--data", str(csv_datasets["cars", "not-utf8"]), "--weights",
                   str(weights["cars"]))
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, "not UTF-8")


def test_corpus_images_are_what_they_claim(corpus):
    """The corpus itself: each odd case really is that kind of file."""
    assert corpus["zero-byte"].stat().st_size == 0
    modes = {"png-16bit": "I", "rgba-png": "RGBA", "cmyk-jpeg": "CMYK", "palette-gif": "P", "grey-jpeg": "L"}
    for case, mode in modes.items():
        with Image.open(corpus[case]) as img:
            assert img.mode.startswith(mode), (case, img.mode)
    with Image.open(corpus["bomb"]) as img:
        assert img.size[0] * img.size[1] > 40_000_000 and corpus["bomb"].stat().st_size < 1_000_000
    with Image.open(corpus["exif-rotated"]) as img:
        assert img.getexif()[0x0112] == 6 and img.size == (60, 30)
    assert np.asarray(Image.open(corpus["strip"])).shape == (20, 20_000, 3)
