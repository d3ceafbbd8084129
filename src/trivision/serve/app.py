"""The web door: one page (static/index.html) and a JSON endpoint per task, FastAPI.

- `GET /`: the page; a person picks or drops a photo and sees faces boxed with gender and probability,
  the top-5 car models and the colorized photo side by side.
- `POST /api/gender`, `/api/cars`, `/api/colorize`: a multipart upload, field `file`; the same fields as
  the CLI's JSON (colorize: the colorized photo as a PNG data URL). `GET /openapi.json` describes them.

Uploads over 10 MB get 413 (counted as they arrive when no Content-Length is declared: upload_limit.py);
photos over 40 megapixels and anything that is not a decodable image get 422; a task whose model is not
installed gets 503 naming the model. Models load on first use, so the server starts at once and a missing
model never stops the others. (No `from __future__ import annotations`: FastAPI reads the endpoints'
annotations, whose types are imported inside create_app.)
"""
import base64
import contextlib
import io
import threading
import time
from pathlib import Path

from trivision.errors import BadImage, TrivisionError
from trivision.serve.upload_limit import MAX_UPLOAD_BYTES, UploadLimit, too_large

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_MODELS = {"gender": "gender-cnn", "cars": "cars-bcnn-20", "colorize": "colorize-koala"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ModelNotAvailable(Exception):
    pass


class Models:
    """The three tasks' models, each loaded on first use (and again after a failure: weights may appear)."""

    def __init__(self, names: dict[str, str]):
        self.names = names
        self._loaded: dict[str, object] = {}
        self._locks = {task: threading.Lock() for task in names}

    def get(self, task: str):
        from trivision.inference import load_model
        from trivision.models.registry import shipped_weights
        from trivision.tasks import get_task
        name = self.names[task]
        with self._locks[task]:
            if task not in self._loaded:
                looks_like_file = "/" in name or name.endswith((".safetensors", ".onnx")) or Path(name).exists()
                if not looks_like_file and shipped_weights(name) is None:
                    raise ModelNotAvailable(f"model '{name}' is not installed: this install ships no weights for it "
                                            f"(start the server with --{task}-model WEIGHTS to use a trained one)")
                try:
                    if name.endswith(".onnx"):
                        from trivision.export import load_onnx
                        loaded = load_onnx(name)
                    else:
                        loaded = load_model(name)
                except TrivisionError as e:
                    raise ModelNotAvailable(f"model '{name}' cannot be loaded: {e}") from None
                if loaded.task != task:
                    raise ModelNotAvailable(f"model '{name}' is for task '{loaded.task}', not '{task}'")
                self._loaded[task] = (loaded, get_task(task))
            return self._loaded[task]

    def lock(self, task: str) -> threading.Lock:
        return self._locks[task]


def create_app(gender: str | None = None, cars: str | None = None, colorize: str | None = None):
    """The FastAPI app; each model is a shipped name, a .safetensors file / run folder, or an .onnx file."""
    from fastapi import FastAPI, File, Form, HTTPException, UploadFile
    from fastapi.responses import HTMLResponse
    from pydantic import BaseModel

    import trivision
    from trivision.predict import predict_image

    models = Models({"gender": gender or DEFAULT_MODELS["gender"], "cars": cars or DEFAULT_MODELS["cars"],
                     "colorize": colorize or DEFAULT_MODELS["colorize"]})
    app = FastAPI(title="trivision", version=trivision.__version__,
                  description="Face gender, fine-grained cars and colorization. Each endpoint takes a multipart "
                              "upload (field `file`) of one photo: at most 10 MB and 40 megapixels.")
    app.state.models = models

    app.add_middleware(UploadLimit)

    def read_upload(file: UploadFile) -> tuple[bytes, str]:
        data = file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, too_large())
        if not data:
            raise HTTPException(422, f"{file.filename or 'the upload'}: empty file")
        return data, file.filename or "upload"

    def run(task: str, file: UploadFile, framing: str = "detect"):
        data, name = read_upload(file)
        try:
            loaded, task_obj = models.get(task)
        except ModelNotAvailable as e:
            raise HTTPException(503, str(e)) from None
        try:
            from trivision.data.images import decode_image
            rgb = decode_image(data)
        except BadImage as e:
            raise HTTPException(422, str(e).replace("<bytes>", name, 1)) from None
        with models.lock(task):
            answers = predict_image(loaded, task_obj, rgb, framing)
        return rgb, answers, loaded

    class Face(BaseModel):
        box: list[int] | None
        gender: str
        probability: float

    class GenderAnswer(BaseModel):
        model: str
        width: int
        height: int
        faces: list[Face]

    class CarClass(BaseModel):
        class_id: str
        class_name: str
        probability: float

    class CarsAnswer(BaseModel):
        model: str
        top5: list[CarClass]

    class ColorizeAnswer(BaseModel):
        model: str
        width: int
        height: int
        had_colour: bool
        image: str

    errors = {413: {"description": "upload over 10 MB"},
              422: {"description": "not a decodable image, or over 40 megapixels"},
              503: {"description": "the task's model is not installed"}}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.post("/api/gender", response_model=GenderAnswer, responses=errors,
              summary="Faces found in the photo, each with its box [x, y, w, h], gender and probability")
    def gender_endpoint(file: UploadFile = File(...), framing: str = Form("detect")):
        if framing not in ("detect", "as-is"):
            raise HTTPException(422, f"framing '{framing}': use detect or as-is")
        rgb, answers, loaded = run("gender", file, framing)
        faces = [{"box": None if a["box"] is None else [int(v) for v in a["box"]], "gender": a["gender"],
                  "probability": a["probability"]} for a in answers]
        return {"model": loaded.meta["model"], "width": rgb.shape[1], "height": rgb.shape[0], "faces": faces}

    @app.post("/api/cars", response_model=CarsAnswer, responses=errors,
              summary="The five likeliest car models (Stanford Cars classes), most likely first")
    def cars_endpoint(file: UploadFile = File(...)):
        _, answers, loaded = run("cars", file)
        return {"model": loaded.meta["model"], "top5": answers[0]["top5"]}

    @app.post("/api/colorize", response_model=ColorizeAnswer, responses=errors,
              summary="The photo colorized at its own size, as a PNG data URL")
    def colorize_endpoint(file: UploadFile = File(...)):
        from PIL import Image
        rgb, answers, loaded = run("colorize", file)
        png = io.BytesIO()
        Image.fromarray(answers[0]["colorized"]).save(png, format="PNG")
        return {"model": loaded.meta["model"], "width": rgb.shape[1], "height": rgb.shape[0],
                "had_colour": answers[0]["had_colour"],
                "image": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")}

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, gender: str | None = None, cars: str | None = None,
          colorize: str | None = None, threads: int | None = None) -> None:
    """Run the app with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise TrivisionError("the web app needs its extra: pip install 'trivision[serve]' "
                             "(fastapi, uvicorn, python-multipart)") from None
    if threads:
        import torch
        torch.set_num_threads(threads)
    app = create_app(gender, cars, colorize)
    if host not in LOOPBACK:
        print(f"warning: serving on {host}: reachable from other machines, with no authentication", flush=True)
    print(f"trivision: serving http://{'[' + host + ']' if ':' in host else host}:{port}/ "
          f"(gender: {app.state.models.names['gender']}, cars: {app.state.models.names['cars']}, "
          f"colorize: {app.state.models.names['colorize']}); Ctrl-C stops", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    except OSError as e:
        raise TrivisionError(f"cannot serve on {host}:{port} ({e.strerror or e})") from None


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0):
    """Run `app` with uvicorn in a thread (tests, notebooks); yields its base URL; stops on exit."""
    import socket

    import uvicorn
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
