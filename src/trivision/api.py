"""The Python door: `trivision.load(name)` -> a Predictor whose `.predict(image)` returns plain data."""
from __future__ import annotations

from trivision.inference import load_model
from trivision.predict import predict_image
from trivision.tasks import get_task


class Predictor:
    def __init__(self, name_or_path: str, framing: str = "detect", prior_correction: float | None = None,
                 temperature: float | None = None):
        if str(name_or_path).endswith(".onnx"):  # an exported file: runs with onnxruntime
            from trivision.export import load_onnx
            self.loaded = load_onnx(name_or_path)
        else:
            self.loaded = load_model(str(name_or_path))
        self.task = get_task(self.loaded.task)
        self.framing = framing
        if prior_correction is not None or temperature is not None:
            from trivision.colorize import set_decoding  # colorize's decoding settings; refused by other models
            set_decoding(self.loaded, prior_correction, temperature)

    def predict(self, image) -> list[dict]:
        """`image`: a path, bytes, a PIL image or an HxWx3 uint8 array. Gender: one dict per face found."""
        return predict_image(self.loaded, self.task, image, self.framing)


def load(name_or_path: str, framing: str = "detect", prior_correction: float | None = None,
         temperature: float | None = None) -> Predictor:
    """A shipped model by name ('gender-cnn', 'gender-tiny'), a .safetensors file / run folder, or an .onnx
    file written by `trivision export` (run with onnxruntime). A colorizer decodes with `prior_correction` and
    `temperature` instead of its weights' own when they are given (the CLI's --prior-correction, --temperature)."""
    return Predictor(name_or_path, framing, prior_correction, temperature)
