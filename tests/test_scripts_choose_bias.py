"""scripts/choose_bias.py: the decision bias is chosen on validation by the rule, adopted only within its bounds,
and an adopted one goes into the shipped weights and once into their card."""
from __future__ import annotations

import shutil
import sys

from conftest import REPO, cli

from trivision.engine.checkpoint import load_weights

sys.path.insert(0, str(REPO / "scripts"))
import choose_bias


def _scores(acc, bal):
    return {"accuracy": acc, "balanced_accuracy": bal}


def test_the_rule_takes_the_best_balanced_accuracy_within_its_bounds():
    val = {b: _scores(0.97, 0.95) for b in choose_bias.GRID}
    assert choose_bias.choose(val, 0.003, 0.003) == (0.0, False)  # all tied: the smallest |b|, nothing gained
    val[0.5] = _scores(0.969, 0.956)
    val[-0.5] = _scores(0.969, 0.956)
    assert choose_bias.choose(val, 0.003, 0.003) == (-0.5, True)  # tied: the smaller |b|, the first of equals
    val[1.0] = _scores(0.96, 0.97)
    assert choose_bias.choose(val, 0.003, 0.003) == (1.0, False)  # the best, but it costs 1 point of accuracy
    assert choose_bias.choose(val, 0.003, 0.02) == (1.0, True)
    assert choose_bias.choose(val, 0.03, 0.02) == (1.0, False)  # gains less than asked


def test_an_adopted_bias_is_shipped_with_its_card_section(toy_dir, tiny_weights, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, _, err = cli("split", "gender", "--data", str(toy_dir), "--output-dir", str(run))
    assert code == 0, err
    shutil.copyfile(tiny_weights, run / "model.safetensors")
    monkeypatch.setattr(choose_bias, "WEIGHTS_DIR", tmp_path)
    shutil.copyfile(tiny_weights, tmp_path / "gender-toy.safetensors")
    (tmp_path / "gender-toy.md").write_text("# gender-toy\n\nThe card.\n")
    monkeypatch.setattr(choose_bias, "choose", lambda val, gain, loss: (0.5, True))
    for _ in range(2):  # twice: the section is replaced, not added
        monkeypatch.setattr(sys, "argv", ["choose_bias.py", str(run), "--class", "female", "--ship", "gender-toy"])
        choose_bias.main()
    out = capsys.readouterr().out
    assert "choice +0.50: adopted" in out and out.count("| +0.50 (chosen) |") == 2
    assert load_weights(tmp_path / "gender-toy.safetensors")[1]["logit_bias"] == {"female": 0.5}
    card = (tmp_path / "gender-toy.md").read_text()
    assert card.startswith("# gender-toy\n\nThe card.\n") and card.count("## Decision bias") == 1
    assert "`logit_bias = {female: 0.5}`" in card and len([ln for ln in card.splitlines() if ln.startswith("| -1.00")]) == 1
