"""trivision.load(...).predict(...): the Python door returns the CLI's fields as plain data."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

import trivision
from trivision.errors import TrivisionError


@pytest.fixture(scope="module")
def astronaut_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_predict_accepts_path_pil_and_array_alike(tiny_weights, astronaut_path):
    model = trivision.load(str(tiny_weights))
    by_path = model.predict(str(astronaut_path))
    by_pil = model.predict(Image.open(astronaut_path))
    by_array = model.predict(data.astronaut())
    assert by_path == by_pil == by_array
    assert len(by_path) == 1
    face = by_path[0]
    assert set(face) == {"box", "gender", "probability"}
    assert face["gender"] in ("female", "male") and 0.5 <= face["probability"] <= 1.0
    json.dumps(by_path)  # plain data


def test_as_is_framing_gives_one_answer_for_any_photo(tiny_weights):
    out = trivision.load(str(tiny_weights), framing="as-is").predict(np.zeros((30, 40, 3), np.uint8))
    assert len(out) == 1 and out[0]["box"] is None


def test_unknown_name_is_a_clear_error():
    with pytest.raises(TrivisionError, match="unknown model"):
        trivision.load("no-such-model")


def test_a_colorizer_takes_other_decoding_settings_and_other_models_refuse_them(koala_weights, tiny_weights):
    photo = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    own = trivision.load(str(koala_weights)).predict(photo)[0]["colorized"]
    safer = trivision.load(str(koala_weights), prior_correction=1, temperature=1)
    assert float(safer.loaded.model.temperature) == 1.0 and float(safer.loaded.model.prior_correction) == 1.0
    assert not np.array_equal(safer.predict(photo)[0]["colorized"], own)
    with pytest.raises(TrivisionError, match="colorize's decoding settings; model 'gender-tiny' is for task 'gender'"):
        trivision.load(str(tiny_weights), temperature=1)
