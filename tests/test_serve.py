"""The web app's JSON endpoints, limits and schema, over real HTTP (uvicorn in a thread)."""
from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("multipart")

from trivision.models.registry import shipped_weights
from trivision.serve.app import MAX_UPLOAD_BYTES, background_server, create_app  # noqa: E402

from conftest import cli  # noqa: E402


def file_part_head(boundary: str, field: str = "file", filename: str = "photo.png") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()


def post(url: str, data: bytes, filename: str = "photo.png", field: str = "file", fields: dict | None = None):
    """A multipart POST; returns (status, parsed JSON body)."""
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
             for k, v in (fields or {}).items()]
    parts.append(file_part_head(boundary, field, filename) + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post_chunked(url: str, chunks, filename: str = "photo.png") -> tuple[int, dict]:
    """A multipart POST of the file given as an iterable of byte chunks, sent with Transfer-Encoding: chunked
    and no Content-Length. Returns (status, parsed JSON body)."""
    import http.client
    from urllib.parse import urlsplit
    boundary = uuid.uuid4().hex
    pieces = [file_part_head(boundary, filename=filename), *chunks, f"\r\n--{boundary}--\r\n".encode()]
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    try:
        conn.putrequest("POST", where.path)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for piece in pieces:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> bytes:
    from skimage import data
    return png(data.astronaut())  # 512x512, one face


@pytest.fixture(scope="module")
def server(cars_weights, koala_weights):
    with background_server(create_app(gender="gender-cnn", cars=str(cars_weights),
                                      colorize=str(koala_weights))) as url:
        yield url


@pytest.fixture(scope="module")
def bare_server():
    """The install as shipped: the default model of each task."""
    with background_server(create_app()) as url:
        yield url


def test_gender_endpoint_boxes_faces(server, astronaut):
    status, body = post(server + "/api/gender", astronaut)
    assert status == 200, body
    assert body["model"] == "gender-cnn" and (body["width"], body["height"]) == (512, 512)
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert face["gender"] in ("female", "male") and 0.5 <= face["probability"] <= 1
    x, y, w, h = face["box"]
    assert 0 <= x < 512 and 0 <= y < 512 and w > 20 and h > 20


def test_gender_endpoint_answers_as_the_cli_does(server, astronaut, tmp_path):
    photo = tmp_path / "a.png"
    photo.write_bytes(astronaut)
    _, out, _ = cli("predict", "gender", str(photo))
    line = json.loads(out.splitlines()[0])
    _, body = post(server + "/api/gender", astronaut)
    assert body["faces"][0] == {k: line[k] for k in ("box", "gender", "probability")}
    _, body = post(server + "/api/gender", astronaut, fields={"framing": "as-is"})
    assert body["faces"][0]["box"] is None


def test_cars_endpoint_gives_top5(server, astronaut):
    status, body = post(server + "/api/cars", astronaut)
    assert status == 200, body
    assert len(body["top5"]) == 5
    probs = [c["probability"] for c in body["top5"]]
    assert probs == sorted(probs, reverse=True)
    assert all(c["class_name"].startswith("Test Car") for c in body["top5"])


def test_colorize_endpoint_returns_a_png_of_the_photo_size(server, astronaut):
    import base64
    status, body = post(server + "/api/colorize", astronaut)
    assert status == 200, body
    assert body["image"].startswith("data:image/png;base64,") and body["had_colour"] is True
    img = Image.open(io.BytesIO(base64.b64decode(body["image"].split(",", 1)[1])))
    assert img.size == (512, 512) and img.mode == "RGB"


def test_not_an_image_is_a_clear_422_and_the_server_keeps_serving(server, astronaut):
    status, body = post(server + "/api/gender", b"hello, not a photo", filename="notes.txt")
    assert status == 422
    assert "notes.txt" in body["detail"] and "not an image" in body["detail"]
    status, body = post(server + "/api/cars", png(np.zeros((20, 20, 3), np.uint8))[:40], filename="cut.png")
    assert status == 422 and "cut.png" in body["detail"]
    status, body = post(server + "/api/colorize", b"", filename="empty.jpg")
    assert status == 422 and "empty" in body["detail"]
    assert post(server + "/api/gender", astronaut)[0] == 200


def test_uploads_over_10_mb_get_413(server, astronaut):
    status, body = post(server + "/api/gender", b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert status == 413 and "10 MB" in body["detail"]
    assert post(server + "/api/gender", astronaut)[0] == 200


def test_photos_over_40_megapixels_get_422(server):
    big = Image.new("L", (8000, 5001))  # 40.008 MP; a blank PNG of it is small
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    assert len(buf.getvalue()) < MAX_UPLOAD_BYTES
    status, body = post(server + "/api/gender", buf.getvalue(), filename="huge.png")
    assert status == 422 and "too large" in body["detail"] and "40 MP" in body["detail"]


def test_missing_file_field_is_a_4xx(server, astronaut):
    status, _ = post(server + "/api/gender", astronaut, field="photo")
    assert status == 422


def test_the_shipped_models_serve_by_default(bare_server, astronaut):
    for task, model in (("gender", "gender-cnn"), ("cars", "cars-bcnn-20"), ("colorize", "colorize-koala")):
        status, body = post(bare_server + f"/api/{task}", astronaut)
        if shipped_weights(model) is None:
            assert status == 503 and f"model '{model}' is not installed" in body["detail"]
        else:
            assert status == 200 and body["model"], body


def test_models_that_are_not_installed_get_503_naming_them(astronaut):
    with background_server(create_app(cars="cars-never-shipped", colorize="colorize-never-shipped")) as url:
        for task in ("cars", "colorize"):
            status, body = post(url + f"/api/{task}", astronaut)
            assert status == 503 and f"model '{task}-never-shipped' is not installed" in body["detail"]
        assert post(url + "/api/gender", astronaut)[0] == 200  # the installed one still works


def test_openapi_schema_describes_the_endpoints(server):
    with urllib.request.urlopen(server + "/openapi.json", timeout=30) as r:
        schema = json.loads(r.read())
    for task in ("gender", "cars", "colorize"):
        op = schema["paths"][f"/api/{task}"]["post"]
        assert "multipart/form-data" in op["requestBody"]["content"]
        assert {"200", "413", "422", "503"} <= set(op["responses"])


def test_page_is_served(server):
    with urllib.request.urlopen(server + "/", timeout=30) as r:
        page = r.read().decode()
    assert r.headers["content-type"].startswith("text/html")
    for fragment in ('id="file"', "/api/", "gender-panel", "cars-panel", "colorize-panel"):
        assert fragment in page


def test_serve_binds_loopback_by_default():
    from trivision.cli import build_parser
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000
    assert args.gender_model == "gender-cnn" and args.cars_model == "cars-bcnn-20"


def test_trivision_serve_command_serves_until_stopped():
    """`trivision serve` in its own process: the page's schema answers, then SIGINT stops it cleanly."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from conftest import REPO
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "trivision", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=5) as r:
                    assert "/api/gender" in json.loads(r.read())["paths"]
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out
    assert "Traceback" not in err


def test_declared_bodies_far_over_the_limit_are_refused_before_reading(server, astronaut):
    status, body = post(server + "/api/cars", b"\0" * (MAX_UPLOAD_BYTES * 2))
    assert status == 413 and "10 MB" in body["detail"]
    assert post(server + "/api/cars", astronaut)[0] == 200


def test_chunked_uploads_are_counted_as_they_arrive(server, astronaut):
    """No Content-Length: the limit is applied to the bytes received, and the server goes on serving."""
    status, body = post_chunked(server + "/api/gender", (b"\0" * 65536 for _ in range(176)))  # 11 MiB
    assert status == 413 and body["detail"] == "upload too large: the limit is 10 MB"
    status, body = post_chunked(server + "/api/gender", [astronaut[:1000], astronaut[1000:]])
    assert status == 200 and len(body["faces"]) == 1
    assert post(server + "/api/gender", astronaut)[0] == 200


def test_an_endless_chunked_upload_is_refused_without_being_read_to_its_end():
    """The client sends 1 MiB chunks for ever: the answer is 413 after at most DRAIN_LIMIT bytes, where an app
    that waited for the whole body before checking its size would never answer."""
    import asyncio

    from trivision.serve.upload_limit import DRAIN_LIMIT
    chunk = b"\0" * (1 << 20)
    boundary = "b" * 16
    pulled = 0
    give_up = DRAIN_LIMIT + 16 * len(chunk)  # the test's own bound: then the client hangs up

    async def receive():
        nonlocal pulled
        if pulled == 0:
            pulled = 1
            return {"type": "http.request", "body": file_part_head(boundary), "more_body": True}
        if pulled > give_up:
            return {"type": "http.disconnect"}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    answer = []

    async def send(message):
        answer.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/gender", "raw_path": b"/api/gender", "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 50000),
             "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
                         (b"transfer-encoding", b"chunked")]}
    asyncio.run(create_app()(scope, receive, send))
    assert pulled <= DRAIN_LIMIT + len(chunk), f"read {pulled / 2**20:.0f} MiB before answering"
    assert answer[0]["type"] == "http.response.start" and answer[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in answer[1:]))["detail"].startswith("upload too large")
