"""The colorize task: Lab conversions, a*b* bins and their rebalancing, metrics, photos of any size and mode,
and train -> evaluate -> colorize through the command line on generated colour photos; bad inputs."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import REPO, SHARED_DATA, assert_one_error_line, cli, last_json, save_image
from trivision.colorize import colorize_photo, load_colorizer
from trivision.config import load_config
from trivision.data.datasets import read_dataset
from trivision.data.lab import ab_bins, lab_to_rgb_keeping_l, nearest_bin, photo_lab, rgb_to_lab
from trivision.engine.checkpoint import load_weights
from trivision.tasks import get_task
from trivision.tasks.colorize import (cast_on_grey, colourfulness, mean_cast, meets_targets, psnr, rebalancing_weights,
                                      standard_error)

SIZE = "64"  # the model's input side in these tests: small, so that everything runs in seconds


def make_photos(root: Path, count: int = 12, seed: int = 0) -> Path:
    """A flat folder of 80x60 JPEG landscapes: sky, grass and a sun, in varied colours."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        sky = tuple(int(v) for v in rng.integers([40, 90, 160], [110, 170, 250]))
        img = Image.new("RGB", (80, 60), sky)
        d = ImageDraw.Draw(img)
        d.rectangle([0, rng.integers(30, 45), 80, 60], fill=tuple(int(v) for v in rng.integers([20, 110, 20], [90, 190, 80])))
        cx = rng.uniform(12, 68)
        d.ellipse([cx - 8, 4, cx + 8, 20], fill=(250, int(rng.integers(170, 240)), 40))
        img.save(root / f"photo{k:02d}.jpg", quality=92)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("photos"))


def train_args(data, run, *more):
    return ["train", "colorize", "--data", str(data), "--image-size", SIZE, "--batch-size", "4",
            "--steps-per-epoch", "2", "--epochs", "2", "--threads", "1", "--output-dir", str(run),
            "--set", "pretrained=false", *more]


@pytest.fixture(scope="module")
def run(photos, tmp_path_factory) -> Path:
    """A koala trained for 4 steps with the default objective (rebalanced classification)."""
    run = tmp_path_factory.mktemp("runs") / "colorize-run"
    code, out, err = cli(*train_args(photos, run))
    assert code == 0, err
    summary = last_json(out)
    assert summary["model"] == "koala" and summary["epochs"] == 2
    assert summary["test"]["n"] == 1 and np.isfinite(summary["test"]["loss"])  # 10% of 12 photos
    return run


@pytest.fixture(scope="module")
def loaded(run):
    return load_colorizer(str(run))


# --- Lab ------------------------------------------------------------------------------------------

def test_lab_round_trip():
    levels = torch.linspace(0, 1, 18)
    rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(1, 3, 18, 324)
    lab = rgb_to_lab(rgb)
    assert lab[:, 0].min() >= -1e-4 and lab[:, 0].max() <= 100 + 1e-3
    assert (lab_to_rgb_keeping_l(lab) - rgb).abs().max() < 1e-4  # in gamut: nothing to move


def test_photo_lab_reads_a_uint8_photo():
    photo = np.zeros((2, 3, 3), np.uint8)
    photo[0, 0] = (255, 0, 0)
    photo[1] = 255
    lab = photo_lab(photo)
    assert lab.shape == (1, 3, 2, 3) and lab.dtype == torch.float32
    assert lab[0, 0, 1].max() > 99.9 and lab[0, 0, 0, 1] < 1e-3  # white, black
    assert lab[0, 1, 0, 0] > 70 and lab[0, 1:, 1].abs().max() < 1e-2  # red's a*; white has none


def test_out_of_gamut_colours_keep_their_lightness():
    g = torch.Generator().manual_seed(0)
    lab = torch.stack([torch.rand(32, 32, generator=g) * 100,
                       (torch.rand(32, 32, generator=g) - 0.5) * 256,
                       (torch.rand(32, 32, generator=g) - 0.5) * 256])[None]
    rgb = lab_to_rgb_keeping_l(lab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert (rgb_to_lab(rgb)[:, 0] - lab[:, 0]).abs().max() < 1e-2
    # clipping each channel, as lab_to_rgb does, would not
    from kornia.color import lab_to_rgb
    assert (rgb_to_lab(lab_to_rgb(lab))[:, 0] - lab[:, 0]).abs().max() > 5


def test_ab_bins_cover_the_srgb_gamut():
    centres = ab_bins()
    assert centres.shape == (261, 2)
    assert torch.equal(nearest_bin(centres.T[None, :, :, None])[0, :, 0], torch.arange(261))
    every = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, 32)] * 3, indexing="ij")).reshape(1, 3, 32, 1024)
    ab = rgb_to_lab(every)[:, 1:]
    assert (centres[nearest_bin(ab)].permute(0, 3, 1, 2) - ab).abs().max() <= 5.0 + 1e-3  # its own cell
    far = torch.tensor([[-128.0, 127.0], [127.0, -128.0]]).T[None, :, :, None]
    assert nearest_bin(far).max() < 261  # beyond the gamut: the nearest bin, no index error


def test_rebalancing_weights_favour_rare_colours():
    grey = torch.full((6, 3, 16, 16), 128, dtype=torch.uint8)
    grey[0, :, :4, :4] = torch.tensor([200, 30, 30], dtype=torch.uint8)[:, None, None]  # a little red
    centres = ab_bins()
    w = rebalancing_weights(grey, centres)
    assert w.shape == (261,) and torch.isfinite(w).all() and (w > 0).all()
    grey_bin = int(nearest_bin(torch.zeros(1, 2, 1, 1)))
    red_bin = int(nearest_bin(rgb_to_lab(torch.tensor([200, 30, 30.0])[None, :, None, None] / 255)[:, 1:]))
    assert w[grey_bin] == w.min() and w[red_bin] > 5 * w[grey_bin]
    # mixing in the uniform distribution bounds a rare bin's weight: at most bins + 1 times a common one's
    assert float(w.max() / w.min()) <= 262


def test_metrics():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert psnr(rgb, rgb) == float("inf")
    off = np.clip(rgb.astype(int) + 10, 0, 255).astype(np.uint8)
    assert 25 < psnr(off, rgb) < 29
    assert colourfulness(np.full((8, 8, 3), 77, np.uint8)) == 0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    assert standard_error([1.0, 3.0]) == pytest.approx(1.0)  # sd sqrt(2) over sqrt(2)
    assert np.isnan(standard_error([2.0]))


def test_losses_of_both_objectives():
    task = get_task("colorize")
    images = torch.rand(2, 3, 16, 16)
    light, ab = task.batch(images, torch.zeros(2))
    assert light.shape == (2, 1, 16, 16) and 0 <= light.min() and light.max() <= 1
    task.objective = "mse"
    assert task.loss(ab / 128, ab) == 0
    task.objective = "classify"
    logits = torch.zeros(2, 261, 8, 8, requires_grad=True)
    loss = task.loss(logits, ab)
    loss.backward()
    assert loss.item() == pytest.approx(np.log(261), rel=1e-4) and logits.grad.abs().sum() > 0


# --- photos of any size and kind ---------------------------------------------------------------

def _assert_keeps_l(out: np.ndarray, rgb: np.ndarray):
    def light(a):
        return rgb_to_lab(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255)[0, 0]
    assert (light(out) - light(rgb)).abs().max() < 1.0


def test_the_output_keeps_the_inputs_l_channel(loaded, photos):
    rgb = np.array(Image.open(photos / "photo00.jpg").convert("RGB"))
    result = colorize_photo(loaded, rgb)
    assert result.rgb.shape == rgb.shape and result.had_colour
    _assert_keeps_l(result.rgb, rgb)
    _assert_keeps_l(result.grey, rgb)
    assert np.ptp(result.grey.astype(int), axis=2).max() <= 1  # grey really is grey


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (4000, 8), (8, 1500)])
def test_tiny_and_very_wide_photos(loaded, size):
    rgb = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    result = colorize_photo(loaded, rgb)
    assert result.rgb.shape == rgb.shape
    _assert_keeps_l(result.rgb, rgb)


def test_grey_photos_are_used_as_they_are(loaded, tmp_path):
    grey = np.random.default_rng(2).integers(0, 256, (30, 40), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "grey-rgb.png")
    for name in ("grey.png", "grey-rgb.png"):
        result = colorize_photo(loaded, tmp_path / name)
        assert not result.had_colour
        assert np.abs(result.grey.astype(int) - grey[..., None]).max() <= 1
        _assert_keeps_l(result.rgb, np.repeat(grey[..., None], 3, axis=2))


def test_16_bit_and_rgba_pngs(loaded, tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 48).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.png")  # a 16-bit grey PNG
    colour16 = np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 30000)], axis=2)
    cv2.imwrite(str(tmp_path / "colour16.png"), colour16[..., ::-1])  # 48-bit RGB (OpenCV writes BGR)
    rgba = np.zeros((16, 48, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, np.linspace(0, 255, 48).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name, colour in (("grey16.png", False), ("colour16.png", True), ("rgba.png", True)):
        result = colorize_photo(loaded, tmp_path / name)
        assert result.rgb.shape == (16, 48, 3) and result.had_colour == colour, name
        _assert_keeps_l(result.rgb, result.original)
    assert colorize_photo(loaded, tmp_path / "grey16.png").original[0, -1, 0] == 255  # scaled, not clipped


# --- through the command line ------------------------------------------------------------------

def test_train_writes_a_run_with_its_objective(run):
    for name in ("config.toml", "split.csv", "history.csv", "curves.png", "results.md", "params.md",
                 "model.safetensors"):
        assert (run / name).is_file(), name
    state, meta = load_weights(run / "model.safetensors")
    assert meta["task"] == "colorize" and meta["loss"] == "classify" and meta["image_size"] == 64
    assert meta["classes"] == [] and meta["backbone"] == "mobilenet_v2"
    assert state["ab_bins"].shape == (261, 2)
    assert "| koala | train | 2 |" in (run / "results.md").read_text()


def test_the_labs_mse_objective_trains_too(photos, tmp_path):
    code, out, err = cli(*train_args(photos, tmp_path / "mse", "--set", "loss=mse", "--epochs", "1",
                                     "--set", "backbone=mobilenet_v3_small"))
    assert code == 0, err
    _, meta = load_weights(tmp_path / "mse" / "model.safetensors")
    assert meta["loss"] == "mse" and meta["backbone"] == "mobilenet_v3_small"
    assert load_colorizer(str(tmp_path / "mse")).model.loss == "mse"


def test_evaluate_prints_a_table_then_json(run, photos, tmp_path):
    data = tmp_path / "data"
    make_photos(data, count=3, seed=7)
    Image.fromarray(np.full((20, 20), 90, np.uint8), "L").save(data / "grey.png")
    code, out, err = cli("evaluate", "colorize", "--data", str(data), "--weights", str(run))
    assert code == 0, err
    result = last_json(out)
    assert {"n", "psnr", "psnr_grey", "colourfulness_ratio"} <= result.keys()
    assert result["n"] == 3 and result["skipped_grey"] == 1 and result["model"] == "koala"
    assert 5 < result["psnr_grey"] < 60 and result["colourfulness_ratio"] >= 0
    assert result["psnr_over_grey_se"] > 0  # three photos, three different differences
    assert any(line.startswith("psnr_grey") for line in out.splitlines())


def test_the_decoding_settings_can_be_overridden_and_change_the_colours(run, photos, tmp_path):
    data = tmp_path / "data"
    make_photos(data, count=2, seed=3)
    base = ("evaluate", "colorize", "--data", str(data), "--weights", str(run))
    code, out, err = cli(*base)
    assert code == 0, err
    own = last_json(out)
    _, meta = load_weights(run / "model.safetensors")
    code, out, err = cli(*base, "--prior-correction", "1", "--temperature", "1")
    assert code == 0, err
    calibrated = last_json(out)
    assert (calibrated["prior_correction"], calibrated["temperature"]) == (1.0, 1.0)
    assert own["prior_correction"] == 0.0 and own["temperature"] == pytest.approx(0.38)  # the weights' own
    assert calibrated["colourfulness"] != own["colourfulness"]
    photo = str(next(data.glob("*.jpg")))
    outputs = {}
    for flags in ((), ("--prior-correction", "1", "--temperature", "1")):
        folder = tmp_path / ("own" if not flags else "calibrated")
        code, _, err = cli("colorize", photo, "--weights", str(run), "--output-dir", str(folder), *flags)
        assert code == 0, err
        outputs[folder.name] = np.asarray(Image.open(next(folder.glob("*[!e].png"))))
    assert not np.array_equal(outputs["own"], outputs["calibrated"])


@pytest.mark.parametrize("flags, message", [
    (("--prior-correction", "1.5"), "--prior-correction 1.5: give 0 (bold) to 1 (calibrated)"),
    (("--temperature", "0"), "--temperature 0: give a number above 0 and at most 10"),
])
def test_decoding_settings_out_of_range_are_one_error_line(run, photos, tmp_path, flags, message):
    code, _, err = cli("colorize", str(next(photos.glob("*.jpg"))), "--weights", str(run), "--output-dir",
                       str(tmp_path / "o"), *flags)
    assert code == 2
    assert_one_error_line(err, message)


def test_decoding_settings_are_refused_where_there_are_none(photos, tmp_path, toy_dir, tiny_weights):
    code, _, err = cli(*train_args(photos, tmp_path / "mse", "--set", "loss=mse", "--epochs", "1"))
    assert code == 0, err
    code, _, err = cli("evaluate", "colorize", "--data", str(photos), "--weights", str(tmp_path / "mse"),
                       "--temperature", "0.5")
    assert code == 2
    assert_one_error_line(err, "--prior-correction and --temperature set how a koala trained with the classify "
                               "objective decodes its bins; model 'koala' was trained with mse, which has no such settings")
    code, _, err = cli("evaluate", "gender", "--data", str(toy_dir), "--weights", str(tiny_weights),
                       "--prior-correction", "0.5")
    assert code == 2
    assert_one_error_line(err, "--prior-correction and --temperature are colorize's decoding settings")


def test_evaluate_the_runs_test_split(run):
    code, out, err = cli("evaluate", "colorize", "--run", str(run))
    assert code == 0, err
    assert last_json(out)["n"] == 1


def test_colorize_writes_the_photo_and_its_comparison(run, photos, tmp_path):
    grey = save_image(tmp_path / "in" / "grey.png", size=(40, 30), color=120, mode="L")
    other = tmp_path / "other" / "photo00.jpg"
    other.parent.mkdir()
    other.write_bytes((photos / "photo00.jpg").read_bytes())
    out_dir = tmp_path / "out"
    code, out, err = cli("colorize", str(photos / "photo00.jpg"), str(grey), str(other),
                         "--weights", str(run), "--output-dir", str(out_dir))
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [Path(line["output"]).name for line in lines] == ["photo00.png", "grey.png", "photo00-2.png"]
    assert [line["had_colour"] for line in lines] == [True, False, True]
    assert Image.open(out_dir / "photo00.png").size == (80, 60)
    assert Image.open(out_dir / "photo00-compare.png").size == (240, 60)  # grey | colorized | original
    assert Image.open(out_dir / "grey-compare.png").size == (80, 30)      # grey | colorized


def test_a_bad_photo_is_one_error_among_good_ones(run, photos, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a photo")
    code, out, err = cli("colorize", str(bad), str(photos / "photo01.jpg"), "--weights", str(run),
                         "--output-dir", str(tmp_path / "out"))
    assert code == 1
    assert err.strip() == f"error: {bad}: not an image file, or a format Pillow cannot read"
    assert (tmp_path / "out" / "photo01.png").is_file() and not (tmp_path / "out" / "bad.png").exists()


def test_the_python_door_colorizes_too(run, photos):
    import trivision
    (answer,) = trivision.load(str(run)).predict(str(photos / "photo02.jpg"))
    assert answer["colorized"].shape == (60, 80, 3) and answer["colorized"].dtype == np.uint8
    assert answer["had_colour"] is True


# --- the lab reproduction's config --------------------------------------------------------------

def test_the_lab_config_is_the_labs_quick_run():
    cfg = load_config(REPO / "configs" / "colorize-lab.toml", get_task("colorize").default_config())
    assert (cfg.model, cfg.loss, cfg.image_size, cfg.batch_size, cfg.steps_per_epoch) == ("koala", "mse", 256, 20, 5)
    assert (cfg.optimizer, cfg.schedule, cfg.val_fraction, cfg.test_fraction) == ("adam", "constant", 0.0, 0.0)
    assert [(p.epochs, p.lr) for p in cfg.phases] == [(10, 1e-3)]
    assert cfg.data == "../shared/data/seed-colorization/train"
    seed = SHARED_DATA / "seed-colorization"
    if not seed.is_dir():
        pytest.skip(f"needs the shared dataset {seed} (absent in a fresh clone)")
    train, test = read_dataset(seed / "train", None), read_dataset(seed / "test", None)
    assert len(train) == 10 and len(test) == 8
    assert not {Path(p).name for p in train.paths} & {Path(p).name for p in test.paths}
    assert tomllib.loads((REPO / "configs" / "colorize-lab.toml").read_text())["loss"] == "mse"


# --- bad inputs: one clear line -------------------------------------------------------------------

def test_train_errors(photos, tmp_path):
    code, _, err = cli(*train_args(photos, tmp_path / "r", "--set", "loss=l2"))
    assert code == 2
    assert_one_error_line(err, "unknown colorize loss 'l2' (use mse or classify)")
    code, _, err = cli(*train_args(photos, tmp_path / "r", "--image-size", "60"))
    assert code == 2
    assert_one_error_line(err, "image size 60 is not a multiple of 8")
    code, _, err = cli(*train_args(photos, tmp_path / "r", "--classes", "1-3"))
    assert code == 2
    assert_one_error_line(err, "--classes: colorize has no classes")
    code, _, err = cli(*train_args(tmp_path / "nowhere", tmp_path / "r"))
    assert code == 2
    assert_one_error_line(err, "no such dataset folder")


def test_evaluate_errors(run, tiny_weights, tmp_path):
    greys = tmp_path / "greys"
    save_image(greys / "a.png", color=100, mode="L")
    save_image(greys / "b.png", color=(50, 50, 50))
    code, _, err = cli("evaluate", "colorize", "--data", str(greys), "--weights", str(run))
    assert code == 2
    assert_one_error_line(err, "no colour photos to evaluate among 2 rows (2 grey, 0 undecodable)")
    (greys / "c.jpg").write_bytes(b"")
    code, _, err = cli("evaluate", "colorize", "--data", str(greys), "--weights", str(run))
    assert code == 2
    assert_one_error_line(err, "c.jpg: not an image file", "--skip-bad")
    code, _, err = cli("evaluate", "colorize", "--data", str(greys), "--weights", str(tiny_weights))
    assert code == 2
    assert_one_error_line(err, "model 'gender-tiny' is for task 'gender', not 'colorize'")


def test_colorize_errors(run, photos, tmp_path, tiny_weights):
    photo = str(photos / "photo00.jpg")
    code, _, err = cli("colorize", photo, "--weights", str(tiny_weights), "--output-dir", str(tmp_path))
    assert code == 2
    assert_one_error_line(err, "model 'gender-tiny' is for task 'gender', not 'colorize'")
    code, _, err = cli("predict", "gender", photo, "--weights", str(run))
    assert code == 2
    assert_one_error_line(err, "model 'koala' is for task 'colorize', not 'gender'")
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli("colorize", photo, "--weights", str(run), "--output-dir", str(blocker))
    assert code == 2
    assert_one_error_line(err, f"--output-dir {blocker}: cannot create the folder")
    from trivision.models.registry import shipped_weights
    if shipped_weights("colorize-koala") is None:  # the default model, until its weights ship
        code, _, err = cli("colorize", photo, "--output-dir", str(tmp_path / "o"))
        assert code == 2
        assert_one_error_line(err, "model 'colorize-koala' has no shipped weights in this install: "
                                   "train it (trivision train colorize --model koala-spatial)")



@pytest.mark.parametrize("psnr_out, ratio, met", [(22.1, 0.6, True), (22.0, 0.9, False), (23.0, 0.59, False)])
def test_targets_need_psnr_above_grey_and_ratio_of_at_least_0_6(psnr_out, ratio, met):
    assert meets_targets({"psnr": psnr_out, "psnr_grey": 22.0, "colourfulness_ratio": ratio}) is met


def test_the_cast_is_the_colour_given_to_pixels_grey_in_the_original():
    original = np.full((4, 8, 3), 128, np.uint8)
    original[:, 4:] = (200, 40, 40)                     # half grey, half red
    colorized = original.copy()
    colorized[:, :4] = (150, 125, 95)                   # the grey half turned warm (sepia-like)
    share, a, b, chroma = cast_on_grey(colorized, original)
    assert share == 0.5 and a > 0 and b > 10 and chroma >= np.hypot(a, b) - 1e-4
    assert cast_on_grey(original, original)[1:] == pytest.approx((0, 0, 0), abs=0.5)  # left grey: no cast
    no_grey = np.full((2, 2, 3), (200, 40, 40), np.uint8)
    assert cast_on_grey(no_grey, no_grey)[0] == 0.0
    cast = mean_cast([cast_on_grey(colorized, original), cast_on_grey(no_grey, no_grey)])
    assert cast["grey_pixel_share"] == 0.25 and cast["cast_b"] == pytest.approx(b)  # photos with no grey: left out
    assert np.isnan(mean_cast([cast_on_grey(no_grey, no_grey)])["cast_chroma"])
