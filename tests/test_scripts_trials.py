"""scripts/trials: the trials of sessions 23-25 run end to end on toy runs and print their verdicts."""
from __future__ import annotations

import importlib.util
import shutil

import torch
import torch.nn.functional as F

from conftest import REPO, cli, run_python
from trivision.data.images import decode_image
from trivision.data.lab import rgb_to_lab
from trivision.data.loading import resize
from test_colorize import make_photos


def test_colorize_decodings_scores_every_setting_and_gives_the_rules_verdict(koala_weights, tmp_path):
    photos = make_photos(tmp_path / "photos", count=20)
    run = tmp_path / "run"
    code, _, err = cli("split", "colorize", "--data", str(photos), "--output-dir", str(run))
    assert code == 0, err
    script = str(REPO / "scripts/trials/colorize_decodings.py")
    rows_of = {}
    for decoding, rows, extra in (("standard", 20, ()), ("step", 36, ()), ("gate", 80, ()),
                                  ("offset", 20, ("--calibrate", "train", "--calibrate", f"{photos}:3")),
                                  ("guided", 200, ())):
        done = run_python(script, "--photos-of", str(run), "--member", str(koala_weights), "--member",
                          str(koala_weights), "--tta", "hflip", "--decoding", decoding, *extra, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.strip().splitlines()
        rows_of[decoding] = [ln for ln in lines if ln.startswith("| ")]
        assert len(rows_of[decoding]) == rows
        assert "fails" in lines[-1] or "passes" in lines[-1]
        if decoding == "offset":
            assert any(ln.startswith("offsets from ") for ln in lines)
    # the guided grid's unfiltered rows are the standard decoding's: its own upsampling is compose's
    unfiltered = [ln.replace(", no filter", "") for ln in rows_of["guided"] if ", no filter" in ln]
    assert unfiltered == rows_of["standard"]
    refused = run_python(script, "--photos-of", str(run), "--member", str(koala_weights), "--decoding", "offset",
                         "--calibrate", "val")
    assert refused.returncode != 0 and "must not come from the photos they are scored on" in refused.stderr


def _trial(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts/trials" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_confidence_gate_moves_chroma_from_unsure_pixels_to_sure_ones():
    gate = _trial("colorize_decodings").confidence_gate
    outputs = torch.zeros(1, 8, 2, 2)         # uniform over the bins: no confidence anywhere...
    outputs[0, 3, 0, 0] = 20.0                # ...but one pixel, sure of one bin
    assert torch.equal(gate(outputs, 0.0), torch.ones(1, 1, 2, 2))  # gamma 0: today's decoding
    g = gate(outputs, 1.0)
    assert g.shape == (1, 1, 2, 2) and g[0, 0, 0, 0] == 2.0  # clamped at most 2
    assert torch.all(g[0, 0].flatten()[1:] < 1e-3)
    assert torch.isfinite(gate(torch.full((1, 8, 3, 3), -1e4), 2.0)).all()  # all unsure: no division by zero


def test_the_offset_decoding_takes_out_the_calibration_photos_mean_cast(koala_weights, tmp_path):
    trial = _trial("colorize_decodings")
    photos = [decode_image(p) for p in sorted(make_photos(tmp_path / "photos", count=4).glob("*.jpg"))]
    members = [trial.member(str(koala_weights))]
    offsets = trial.cast_offsets(members, photos, mirror=False)
    decode = {label.split(", offset")[0]: fn for label, fn in trial.decodings("offset", members[0].model, offsets)}
    residual = torch.zeros(2)
    for rgb in photos:
        out = trial.log_probs(members[0], rgb, mirror=False)
        truth = F.interpolate(rgb_to_lab(resize(rgb, members[0].image_size)[None].float() / 255.0)[:, 1:],
                              size=out.shape[-2:], mode="area")
        residual += (decode["correction 0.25, T 0.6"](out) - truth).mean(dim=(0, 2, 3)) / len(photos)
    assert offsets[0.25, 0.6].abs().max() > 0.1  # a toy network has a cast to take out...
    assert residual.abs().max() < 1e-3           # ...and the offset takes it out (sign and weighting right)


def _toy_gender_run(toy_dir, weights, folder):
    """A run folder holding a split of the toy faces and `weights`, as the gender trials read one."""
    code, _, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(folder))
    assert code == 0, err
    shutil.copyfile(weights, folder / "model.safetensors")
    return folder


def _gender_trial_lines(script: str, run) -> list[str]:
    """The stdout lines of a gender trial on a toy run, with a decision bias as gender-tiny's."""
    done = run_python(str(REPO / "scripts/trials" / script), str(run), "--logit-bias", "female=0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_framing_scales_compares_one_scale_with_their_mean(toy_dir, tiny_weights, tmp_path):
    run = _toy_gender_run(toy_dir, tiny_weights, tmp_path / "run")
    lines = _gender_trial_lines("framing_scales.py", run)
    assert len(lines) == 2 and "whole frames: one scale" in lines[0] and "central half" in lines[1]
    refused = run_python(str(REPO / "scripts/trials/framing_scales.py"), str(run), "--scales", "0.9,1.1")
    assert refused.returncode != 0 and "--scales must include 1" in refused.stderr


def test_frame_snap_compares_todays_framing_with_snapping(toy_dir, tiny_weights, tmp_path):
    run = _toy_gender_run(toy_dir, tiny_weights, tmp_path / "run")
    lines = _gender_trial_lines("frame_snap.py", run)
    assert len(lines) == 2 and "whole frames:" in lines[0] and "central half:" in lines[1]
    assert all(" snapped; today " in ln and "; gain " in ln for ln in lines)
