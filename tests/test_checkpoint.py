"""Checkpoints: atomic writes, clear errors on damaged files, safetensors weights with metadata."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from trivision.engine.checkpoint import atomic_write, load_checkpoint, load_weights, save_checkpoint, save_weights
from trivision.errors import TrivisionError
from trivision.inference import load_model
from trivision.models import create_model


def _state():
    torch.manual_seed(0)
    return {"model": nn.Linear(4, 3).state_dict(), "epoch": 2, "history": [{"epoch": 1, "train_loss": 0.5}]}


def test_save_and_load_checkpoint(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    state = _state()
    save_checkpoint(path, state)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"], "temp files left behind"
    again = load_checkpoint(path)
    assert again["epoch"] == 2 and again["history"] == state["history"]
    torch.testing.assert_close(again["model"]["weight"], state["model"]["weight"])
    save_checkpoint(path, {**state, "epoch": 3})  # overwrite in place
    assert load_checkpoint(path)["epoch"] == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_written_files_get_the_mode_open_would_give(tmp_path):
    """Not the temp file's owner-only 0600: weights and checkpoints are shared like any other run file."""
    (tmp_path / "plain.txt").write_text("x")
    save_checkpoint(tmp_path / "last.pt", _state())
    save_weights(tmp_path / "model.safetensors", nn.Linear(4, 3), {"model": "x"})
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["last.pt"] == modes["model.safetensors"] == modes["plain.txt"], modes


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    before = path.read_bytes()

    def half_then_crash(tmp):
        with open(tmp, "wb") as f:
            f.write(before[:100])
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("cut", [0, 10, 0.5])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut) if isinstance(cut, float) else cut])
    with pytest.raises(TrivisionError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "last.pt: damaged or truncated checkpoint" in msg and "delete it to train from scratch" in msg
    assert "\n" not in msg


def test_missing_checkpoint(tmp_path):
    with pytest.raises(TrivisionError, match="no checkpoint to resume from"):
        load_checkpoint(tmp_path / "last.pt")


def test_weights_round_trip_with_metadata(tmp_path):
    model = create_model("gender-tiny", image_size=48).eval()
    meta = {"model": "gender-tiny", "task": "gender", "classes": ["female", "male"], "image_size": 48,
            "dropout": 0.5, "backbone": "", "seed": 4}
    path = tmp_path / "w" / "model.safetensors"
    save_weights(path, model.to(memory_format=torch.channels_last), meta)
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]
    state, meta_back = load_weights(path)
    assert meta_back == meta
    assert state.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(state[k], v)
    loaded = load_model(str(path))
    assert loaded.task == "gender" and loaded.image_size == 48 and loaded.classes == ["female", "male"]
    x = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    with torch.no_grad():
        expected = torch.softmax(model(x.float() / 255), 1)
    torch.testing.assert_close(loaded.probabilities(x), expected)
    assert load_model(str(tmp_path / "w")).meta == meta  # a folder holding model.safetensors works too


def test_bad_weights_files(tmp_path):
    with pytest.raises(TrivisionError, match="weights file not found"):
        load_weights(tmp_path / "none.safetensors")
    with pytest.raises(TrivisionError, match="weights file not found"):
        load_model(str(tmp_path / "none.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    with pytest.raises(TrivisionError, match="not a readable safetensors weights file"):
        load_weights(junk)
    from safetensors.torch import save_file
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(TrivisionError, match="no trivision metadata"):
        load_model(str(bare))
    wrong = tmp_path / "wrong.safetensors"
    save_weights(wrong, nn.Linear(2, 2), {"model": "gender-tiny", "task": "gender", "classes": ["f", "m"],
                                          "image_size": 100})
    with pytest.raises(TrivisionError, match="weights do not fit model 'gender-tiny'"):
        load_model(str(wrong))


def test_shipped_model_name_without_weights():
    from trivision.models.registry import shipped_weights
    if shipped_weights("gender-tiny") is not None:
        pytest.skip("this install ships gender-tiny weights")
    with pytest.raises(TrivisionError, match="no shipped weights"):
        load_model("gender-tiny")


def test_metadata_is_json_in_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    save_weights(path, nn.Linear(2, 2), {"model": "x", "classes": ["a"]})
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["trivision"]) == {"model": "x", "classes": ["a"]}
