"""Inference speed of every shipped model, in PyTorch and in ONNX Runtime; face detection apart.

    python bench/inference_speed.py [--models NAME ...] [--threads N] [--runs N] [--batch N] [--batch-runs N]

For each shipped model (the package's weights: gender-cnn, gender-tiny, cars-bcnn-20, colorize-koala when
shipped) on random input of its own size: latency at batch 1 (p50 and p95 of --runs forward passes after
--warmup ones) and throughput at batch --batch (images per second from the median of --batch-runs passes),
for the PyTorch model and for its ONNX export (`trivision.export`, written to a temporary folder) run by
ONNX Runtime with as many threads. Face detection (OpenCV, `trivision.faces`) is timed on skimage's
astronaut photo, with the framing of each face found. The target, gender-tiny under 2 ms per face at
batch 1 (p50), is checked against the measurement. Prints tables; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from trivision.data.loading import resize
from trivision.errors import TrivisionError
from trivision.export import OnnxModel, export_onnx, input_shape
from trivision.faces import detect_faces, frame_face
from trivision.inference import load_model
from trivision.models import list_models, model_info
from trivision.models.registry import SHIPPED_AS, shipped_weights
import common  # bench/common.py

TARGET_MODEL, TARGET_P50_MS = "gender-tiny", 2.0


def shipped_models() -> list[str]:
    return [n for n in sorted(set(list_models()) | set(SHIPPED_AS)) if shipped_weights(n) is not None]


def seconds_per_call(fn, runs: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def speed(forward, shape_1: tuple, shape_batch: tuple, args) -> dict:
    """Batch-1 latency percentiles (ms) and batch throughput (images/s) of `forward` on random input."""
    one, batch = torch.rand(*shape_1), torch.rand(*shape_batch)
    with torch.inference_mode():
        latency = 1000 * seconds_per_call(lambda: forward(one), args.runs, args.warmup)
        batch_seconds = seconds_per_call(lambda: forward(batch), args.batch_runs, warmup=1)
    return {"p50_ms": float(np.percentile(latency, 50)), "p95_ms": float(np.percentile(latency, 95)),
            "batch": shape_batch[0], "img_per_s": shape_batch[0] / float(np.median(batch_seconds))}


def face_detection(args) -> dict:
    from skimage import data  # scikit-image: the test and demo extras
    photo = data.astronaut()
    boxes = detect_faces(photo)
    if not boxes:
        raise TrivisionError("no face found on skimage's astronaut photo: face detection cannot be timed")
    size = model_info(TARGET_MODEL).input_size  # the face frame the gender models take
    detect = 1000 * seconds_per_call(lambda: detect_faces(photo), args.runs, args.warmup)
    framing = 1000 * seconds_per_call(lambda: resize(frame_face(photo, boxes[0]), size), args.runs, args.warmup)
    return {"photo": "skimage astronaut", "width": photo.shape[1], "height": photo.shape[0], "faces": len(boxes),
            "detect_p50_ms": float(np.percentile(detect, 50)), "detect_p95_ms": float(np.percentile(detect, 95)),
            "frame_p50_ms": float(np.percentile(framing, 50)), "frame_size": size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", help="shipped model names or weights files (default: every shipped model)")
    p.add_argument("--threads", type=int, help="torch and ONNX Runtime threads (default: torch's)")
    p.add_argument("--runs", type=int, default=200, help="batch-1 timed runs per model (default %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default %(default)s)")
    p.add_argument("--batch", type=int, default=64, help="throughput batch size (default %(default)s)")
    p.add_argument("--batch-runs", type=int, default=5, help="timed batches; the median counts (default %(default)s)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    models = args.models or shipped_models()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            loaded = load_model(name)
            shapes = input_shape(loaded, 1), input_shape(loaded, args.batch)
            onnx_file = Path(tmp) / f"{Path(name).stem}.onnx"
            export_onnx(name, onnx_file, check=False)
            for framework, forward in (("pytorch", loaded.model), ("onnxruntime", OnnxModel(onnx_file, threads))):
                rows.append({"model": name, "input": list(shapes[0][1:]), "framework": framework,
                             **speed(forward, *shapes, args)})
    faces = face_detection(args)

    print(f"threads: {threads}; batch 1: {args.runs} runs after {args.warmup} warm-up; "
          f"batch {args.batch}: median of {args.batch_runs}")
    print(f"| model | input | framework | batch 1 p50 ms | batch 1 p95 ms | batch {args.batch} img/s |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {'x'.join(map(str, r['input']))} | {r['framework']} | {r['p50_ms']:.2f} | "
              f"{r['p95_ms']:.2f} | {r['img_per_s']:.1f} |")
    print()
    print("| face detection (OpenCV) | photo | faces | p50 ms | p95 ms |")
    print("|---|---|---:|---:|---:|")
    print(f"| detect_faces | {faces['photo']} {faces['width']}x{faces['height']} | {faces['faces']} | "
          f"{faces['detect_p50_ms']:.2f} | {faces['detect_p95_ms']:.2f} |")
    print(f"| frame + resize to {faces['frame_size']}, per face | | | {faces['frame_p50_ms']:.2f} | |")
    target = {"model": TARGET_MODEL, "p50_ms_under": TARGET_P50_MS}
    for r in rows:
        if r["model"] == TARGET_MODEL:
            target[r["framework"]] = {"p50_ms": r["p50_ms"], "met": r["p50_ms"] < TARGET_P50_MS}
            print(f"target {TARGET_MODEL} p50 under {TARGET_P50_MS:g} ms per face at batch 1, {r['framework']}: "
                  f"{r['p50_ms']:.2f} ms, {'met' if target[r['framework']]['met'] else 'MISSED'}")
    print(json.dumps({"threads": threads, "runs": args.runs, "models": rows, "faces": faces, "target": target}))
    return 0


if __name__ == "__main__":
    common.run(main)
