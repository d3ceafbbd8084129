"""scripts/trials: the session-23 trials run end to end on toy runs and print their verdicts."""
from __future__ import annotations

import shutil

from conftest import REPO, cli, run_python
from test_colorize import make_photos


def test_colorize_decodings_scores_every_setting_and_gives_the_rules_verdict(koala_weights, tmp_path):
    photos = make_photos(tmp_path / "photos", count=20)
    run = tmp_path / "run"
    code, _, err = cli("split", "colorize", "--data", str(photos), "--output-dir", str(run))
    assert code == 0, err
    for decoding, rows in (("standard", 20), ("step", 36)):
        done = run_python(str(REPO / "scripts/trials/colorize_decodings.py"), "--photos-of", str(run),
                          "--member", str(koala_weights), "--member", str(koala_weights), "--tta", "hflip",
                          "--decoding", decoding, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.strip().splitlines()
        assert len([ln for ln in lines if ln.startswith("| ")]) == rows
        assert "fails" in lines[-1] or "passes" in lines[-1]


def test_framing_scales_compares_one_scale_with_their_mean(toy_dir, tiny_weights, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(run))
    assert code == 0, err
    shutil.copyfile(tiny_weights, run / "model.safetensors")
    done = run_python(str(REPO / "scripts/trials/framing_scales.py"), str(run), "--logit-bias", "female=0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and "whole frames: one scale" in lines[0] and "central half" in lines[1]
    refused = run_python(str(REPO / "scripts/trials/framing_scales.py"), str(run), "--scales", "0.9,1.1")
    assert refused.returncode != 0 and "--scales must include 1" in refused.stderr
