"""ONNX export: every architecture's exported graph agrees with PyTorch; --runtime onnx gives the CLI's lines."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import trivision  # noqa: E402
from trivision.models.registry import shipped_weights
from trivision.engine.checkpoint import load_weights, save_state, save_weights  # noqa: E402
from trivision.export import OnnxModel, export_onnx, input_shape, load_onnx, to_onnx_bytes  # noqa: E402
from trivision.inference import load_model  # noqa: E402
from trivision.models import create_model  # noqa: E402

from conftest import assert_one_error_line, cli, last_json  # noqa: E402


@pytest.fixture(scope="module")
def bcnn_weights(tmp_path_factory):
    """The full bilinear CNN (C² features), random MobileNetV2, 3 classes at 64x64."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "bcnn.safetensors"
    save_weights(path, create_model("bcnn", num_classes=3, pretrained=False).eval(), {
        "model": "bcnn", "task": "cars", "classes": ["1", "2", "3"], "image_size": 64, "dropout": 0.5,
        "backbone": "mobilenet_v2", "loss": "", "split": "image", "seed": 0})
    return path


@pytest.fixture(scope="module")
def ensemble_weights(tmp_path_factory, cars_weights):
    """`cars_weights` and another bcnn-lowdim of other random weights, averaged (`trivision ensemble`)."""
    from trivision.ensemble import combine
    _, meta = load_weights(cars_weights)
    directory = tmp_path_factory.mktemp("weights")
    torch.manual_seed(3)
    save_weights(directory / "other.safetensors", create_model("bcnn-lowdim", num_classes=6, pretrained=False).eval(),
                 meta)
    combine([str(cars_weights), str(directory / "other.safetensors")], directory / "ensemble.safetensors", half=True)
    return directory / "ensemble.safetensors"


def save_koala(directory, model: str, loss: str):
    """A `model` colorizer at 64x64 with random weights, saved as train.py saves."""
    torch.manual_seed(2)
    path = directory / f"{model}-{loss}.safetensors"
    save_weights(path, create_model(model, image_size=64, pretrained=False, loss=loss).eval(), {
        "model": model, "task": "colorize", "classes": [], "image_size": 64, "dropout": 0.5,
        "backbone": "mobilenet_v2", "loss": loss, "split": "image", "seed": 0})
    return path


@pytest.fixture(scope="module")
def koala_mse_weights(tmp_path_factory):
    """The lab's mse koala."""
    return save_koala(tmp_path_factory.mktemp("weights"), "koala", "mse")


@pytest.fixture(scope="module")
def koala_pyramid_weights(tmp_path_factory):
    """koala-pyramid, whose embedder's feature maps (koala-spatial's and two more) are part of the graph."""
    return save_koala(tmp_path_factory.mktemp("weights"), "koala-pyramid", "classify")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@pytest.mark.parametrize("which", ["gender-cnn", "gender-tiny", "bcnn", "bcnn-lowdim", "koala-classify", "koala-mse",
                                   "koala-pyramid", "ensemble"])
def test_onnx_agrees_with_pytorch_on_random_inputs(which, request, tmp_path):
    model = {"gender-cnn": "gender-cnn", "gender-tiny": "gender-tiny",  # the shipped weights
             "bcnn": lambda: str(request.getfixturevalue("bcnn_weights")),
             "bcnn-lowdim": lambda: str(request.getfixturevalue("cars_weights")),
             "koala-classify": lambda: str(request.getfixturevalue("koala_weights")),
             "koala-mse": lambda: str(request.getfixturevalue("koala_mse_weights")),
             "koala-pyramid": lambda: str(request.getfixturevalue("koala_pyramid_weights")),
             "ensemble": lambda: str(request.getfixturevalue("ensemble_weights"))}[which]
    model = model() if callable(model) else model
    loaded = load_model(model)
    onnx_model = OnnxModel(to_onnx_bytes(loaded), threads=1)
    gen = torch.Generator().manual_seed(0)
    for batch in (1, 3):  # the batch axis is dynamic
        x = torch.rand(*input_shape(loaded, batch), generator=gen)
        with torch.no_grad():
            expected = loaded.model(x)
        got = onnx_model(x)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-4, rtol=0), float((got - expected).abs().max())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_antialiased_resize_matches_torch():
    """The colorizer's embedder shrinks 256x256 to 224x224 with antialiasing: ONNX Resize must agree."""
    import onnxruntime as ort

    class Shrink(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False,
                                                   antialias=True)

    from trivision.export import _upsample_bilinear2d_aa
    import io
    torch.onnx.register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _upsample_bilinear2d_aa, 18)
    x = torch.rand(2, 3, 256, 256)
    buf = io.BytesIO()
    torch.onnx.export(Shrink(), (x,), buf, opset_version=18, dynamo=False, input_names=["x"])
    got = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    assert np.abs(got - Shrink()(x).numpy()).max() < 1e-4


def test_export_cli_writes_metadata_and_checks_itself(tmp_path):
    out = tmp_path / "gender-tiny.onnx"
    code, stdout, stderr = cli("export", "gender-tiny", "--format", "onnx", "--output", str(out))
    assert code == 0, stderr
    result = last_json(stdout)
    assert result["output"] == str(out) and result["model"] == "gender-tiny" and result["input"] == ["batch", 3, 100, 100]
    assert result["max_abs_diff"] < 1e-4
    loaded = load_onnx(out)
    assert loaded.task == "gender" and loaded.classes == ["female", "male"] and loaded.image_size == 100


@pytest.fixture(scope="module")
def gender_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "gender-cnn.onnx"
    export_onnx("gender-cnn", path)
    return path


def test_predict_runtime_onnx_gives_the_torch_lines(gender_onnx, photo):
    code, torch_out, err = cli("predict", "gender", str(photo))
    assert code == 0, err
    code, onnx_out, err = cli("predict", "gender", str(photo), "--runtime", "onnx", "--onnx", str(gender_onnx))
    assert code == 0, err
    torch_lines = [json.loads(s) for s in torch_out.splitlines()]
    onnx_lines = [json.loads(s) for s in onnx_out.splitlines()]
    assert len(torch_lines) == len(onnx_lines) >= 1
    for a, b in zip(torch_lines, onnx_lines):
        assert a.keys() == b.keys() and a["box"] == b["box"] and a["gender"] == b["gender"]
        assert abs(a["probability"] - b["probability"]) < 1e-4


def test_predict_cars_runtime_onnx(cars_weights, photo, tmp_path):
    onnx_file = tmp_path / "cars.onnx"
    export_onnx(str(cars_weights), onnx_file)
    _, torch_out, _ = cli("predict", "cars", str(photo), "--weights", str(cars_weights))
    code, onnx_out, err = cli("predict", "cars", str(photo), "--runtime", "onnx", "--onnx", str(onnx_file))
    assert code == 0, err
    a, b = last_json(torch_out), last_json(onnx_out)
    assert [c["class_id"] for c in a["top5"]] == [c["class_id"] for c in b["top5"]]
    assert b["top5"][0]["class_name"].startswith("Test Car")


def test_colorize_runtime_onnx(koala_weights, photo, tmp_path):
    onnx_file = tmp_path / "koala.onnx"
    export_onnx(str(koala_weights), onnx_file)
    code, _, err = cli("colorize", str(photo), "--output-dir", str(tmp_path / "torch"), "--weights", str(koala_weights))
    assert code == 0, err
    code, _, err = cli("colorize", str(photo), "--output-dir", str(tmp_path / "onnx"), "--runtime", "onnx",
                       "--onnx", str(onnx_file))
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "torch" / "astronaut.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "onnx" / "astronaut.png"), dtype=np.int16)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1
    code, _, err = cli("colorize", str(photo), "--output-dir", str(tmp_path / "onnx"), "--runtime", "onnx",
                       "--onnx", str(onnx_file), "--temperature", "1")
    assert code == 2
    assert_one_error_line(err, "--prior-correction and --temperature: an ONNX graph decodes as it was exported; "
                               "use the PyTorch weights (--runtime torch)")


def test_python_api_loads_onnx(gender_onnx, photo):
    by_onnx = trivision.load(str(gender_onnx)).predict(str(photo))
    by_torch = trivision.load("gender-cnn").predict(str(photo))
    assert [f["gender"] for f in by_onnx] == [f["gender"] for f in by_torch]


def test_runtime_onnx_needs_an_onnx_file(photo):
    code, _, err = cli("predict", "gender", str(photo), "--runtime", "onnx")
    assert code == 2
    assert_one_error_line(err, "--runtime onnx needs --onnx FILE")
    code, _, err = cli("predict", "gender", str(photo), "--onnx", "x.onnx")
    assert code == 2
    assert_one_error_line(err, "--runtime onnx")


def test_unreadable_onnx_file_is_a_clear_error(tmp_path, photo):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    code, _, err = cli("predict", "gender", str(photo), "--runtime", "onnx", "--onnx", str(bad))
    assert code == 2
    assert_one_error_line(err, "not a readable ONNX model")


def test_export_of_a_missing_model_is_a_clear_error(tmp_path):
    if shipped_weights("colorize-koala") is not None:
        pytest.skip("colorize-koala ships in this install")
    code, _, err = cli("export", "colorize-koala", "--format", "onnx", "--output", str(tmp_path / "x.onnx"))
    assert code == 2
    assert_one_error_line(err, "no shipped weights")


def test_weights_with_a_test_size_export_a_graph_of_that_size(cars_weights, photo, tmp_path):
    state, meta = load_weights(cars_weights)
    save_state(tmp_path / "sized.safetensors", state, {**meta, "test_size": 96})
    result = export_onnx(str(tmp_path / "sized.safetensors"), tmp_path / "sized.onnx")
    assert result["input"] == ["batch", 3, 96, 96] and result["max_abs_diff"] < 1e-4
    assert load_onnx(tmp_path / "sized.onnx").image_size == 96
    code, _, err = cli("predict", "cars", str(photo), "--runtime", "onnx", "--onnx", str(tmp_path / "sized.onnx"),
                       "--image-size", "64")
    assert code == 2
    assert_one_error_line(err, "this ONNX graph takes photos at 96x96 only, not 64x64")
