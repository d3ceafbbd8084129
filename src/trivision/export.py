"""ONNX: export a trained model (shipped name or weights file) and run an exported file with onnxruntime.

The exported graph is the model's own `forward`, the nn.Module every door calls: (N, 3, S, S) RGB in
[0, 1] -> logits for gender and cars, (N, 1, S, S) L/100 -> the raw a*b* outputs for colorize (the
whole Koala network, frozen ImageNet embedder included). The batch axis is dynamic. The trivision
metadata of the weights (model, task, classes, image size...) travels in the ONNX file's
`metadata_props`, so `load_onnx` gives a LoadedModel that predict and colorize use unchanged.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from trivision.errors import TrivisionError
from trivision.inference import LoadedModel, load_model

OPSET = 18
META_KEY = "trivision"
DECODING_KEY = "trivision.decoding"  # colorize with the classify head: the buffers its a*b* decoding uses
DECODING_BUFFERS = ("ab_bins", "bin_weights", "prior_correction", "temperature")


def _missing(what: str) -> TrivisionError:
    return TrivisionError(f"{what} is not installed: pip install 'trivision[export]' (onnx, onnxruntime)")


def input_shape(loaded: LoadedModel, batch: int = 1) -> tuple[int, int, int, int]:
    """The input the exported graph takes: RGB for classifiers, the L channel for colorize."""
    channels = 1 if loaded.task == "colorize" else 3
    return (batch, channels, loaded.image_size, loaded.image_size)


def _resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in): torch's antialiased bilinear resize of one axis, as a matrix (resizing is linear)."""
    # one photo per unit vector along the height axis; width 2, kept as is (a width of 1 trips torch's kernel)
    basis = torch.eye(n_in)[:, None, :, None].expand(-1, 1, -1, 2).contiguous()
    out = torch.nn.functional.interpolate(basis, size=(n_out, 2), mode="bilinear", align_corners=False,
                                          antialias=True)
    return out[:, 0, :, 0].T.contiguous()


def _upsample_bilinear2d_aa(g, x, output_size, align_corners, scale_factors):
    """ONNX for F.interpolate(..., mode='bilinear', antialias=True) between fixed sizes: two MatMuls by
    the resize's own matrices, so the graph computes exactly what torch does (onnxruntime's antialiased
    Resize differs from torch's by about 1e-2)."""
    from torch.onnx import symbolic_helper as sym
    if sym._maybe_get_const(align_corners, "b"):
        raise TrivisionError("ONNX export: antialiased resize with align_corners=True is not supported")
    size = sym._maybe_get_const(output_size, "is")
    shape = sym._get_tensor_sizes(x)
    if not isinstance(size, (list, tuple)) or not shape or any(d is None for d in shape[-2:]):
        raise TrivisionError("ONNX export: antialiased resize needs fixed input and output sizes")
    rows = g.op("Constant", value_t=_resize_matrix(shape[-2], size[0]))        # (oh, H)
    cols = g.op("Constant", value_t=_resize_matrix(shape[-1], size[1]).T.contiguous())  # (W, ow)
    return g.op("MatMul", rows, g.op("MatMul", x, cols))


def to_onnx_bytes(loaded: LoadedModel, opset: int = OPSET) -> bytes:
    """The model's forward as an ONNX graph with a dynamic batch axis, trivision metadata attached."""
    try:
        import onnx
    except ImportError:
        raise _missing("onnx") from None
    torch.onnx.register_custom_op_symbolic("aten::_upsample_bilinear2d_aa", _upsample_bilinear2d_aa, opset)
    model = loaded.model.eval()
    example = torch.rand(*input_shape(loaded))
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(model, (example,), buf, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              opset_version=opset, dynamo=False)
        except TrivisionError:
            raise
        except Exception as e:  # the exporter raises many kinds
            raise TrivisionError(f"ONNX export of model '{loaded.meta.get('model')}' failed: "
                                 f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    props = {META_KEY: json.dumps({**loaded.meta, "onnx_size": input_shape(loaded)[-1]})}  # its input's fixed side
    if loaded.task == "colorize" and isinstance(getattr(model, "ab_bins", None), torch.Tensor):
        props[DECODING_KEY] = json.dumps({name: getattr(model, name).tolist() for name in DECODING_BUFFERS})
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "trivision"
    return proto.SerializeToString()


def export_onnx(model: str, output: str | Path, opset: int = OPSET, check: bool = True) -> dict:
    """Write `output` (ONNX) for a shipped model name or weights file; with `check`, run it once with
    onnxruntime on a random input and report the largest difference from PyTorch."""
    loaded = load_model(model)
    data = to_onnx_bytes(loaded, opset)
    out = Path(output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as e:
        raise TrivisionError(f"--output {out}: cannot write ({e.strerror or e})") from None
    result = {"output": str(out), "format": "onnx", "model": loaded.meta["model"], "task": loaded.task,
              "input": ["batch", *input_shape(loaded)[1:]], "opset": opset, "bytes": len(data)}
    if check:
        x = torch.rand(*input_shape(loaded, batch=2), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = loaded.model(x).numpy()
        got = OnnxModel(data)(x).numpy()
        result["max_abs_diff"] = float(np.abs(got - expected).max())
    return result


class OnnxModel:
    """An exported graph behind the interface the predictors use: call it with a torch tensor, get one back."""

    def __init__(self, source: bytes | str | Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise _missing("onnxruntime") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise TrivisionError(f"{source if not isinstance(source, bytes) else '<onnx>'}: "
                                 f"not a readable ONNX model ({str(e).splitlines()[0]})") from None
        self.input_name = self.session.get_inputs()[0].name
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = json.loads(props.get(META_KEY, "{}"))
        self.loss = self.meta.get("loss") or "mse"
        decoding = json.loads(props.get(DECODING_KEY, "{}"))
        for name in DECODING_BUFFERS:
            setattr(self, name, torch.tensor(decoding[name]) if name in decoding else None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float().contiguous().cpu().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])

    def eval(self):
        return self

    def to_ab(self, outputs: torch.Tensor) -> torch.Tensor:
        """Colorize: the raw outputs -> a*b*, exactly as the PyTorch model decodes them."""
        from trivision.models.koala import Koala
        if self.loss != "mse" and self.ab_bins is None:
            raise TrivisionError("this ONNX colorizer has no a*b* bins in its metadata: export it again")
        return Koala.to_ab(self, outputs)


def load_onnx(path: str | Path) -> LoadedModel:
    """An ONNX file written by `trivision export` as a LoadedModel (its metadata names task and classes)."""
    path = Path(path)
    if not path.is_file():
        raise TrivisionError(f"{path}: ONNX file not found")
    model = OnnxModel(path)
    if "model" not in model.meta or "task" not in model.meta:
        raise TrivisionError(f"{path}: no trivision metadata (model name, classes): not written by trivision export")
    return LoadedModel(model, model.meta, list(model.meta.get("classes", [])))
