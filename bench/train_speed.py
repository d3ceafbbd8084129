"""Training and evaluation speed of the gender models, trivision against the lab's Keras, on the same arrays.

    python bench/train_speed.py --model gender-tiny --framework trivision [--images 2048] [--batch-size 64]
                                [--threads N] [--repeats 3] [--warmup-steps 3] [--data DIR] [--compile]
                                [--precision fp32|bf16]

Both frameworks get the same decoded uint8 100x100 images in memory: a seeded sample of --images rows of
../shared/data/lfw-gender read by trivision's dataset reader, or generated toy faces where that folder is
absent (the output says which). Both train in fp32 (trivision: unless --precision bf16) with batch --batch-size, Adam 1e-3 and the lab's
augmentation (shift 0.2, rotation 20 degrees, zoom 1.0-1.2, horizontal flip), on --threads threads
(default: every core):

- trivision: the engine itself (`trivision.engine.fit.fit`, no validation split), kornia augmentation on
  each batch in the training loop; one repeat is one epoch of --images / --batch-size steps, timed by the
  engine's own epoch clock. --compile wraps the model in torch.compile first; --precision bf16 trains
  under the engine's bfloat16 autocast (config key `precision`; Keras stays fp32).
- keras: `model.fit(ImageDataGenerator(...).flow(x, y, batch_size))` as the lab wrote it (Keras 3 keeps
  ImageDataGenerator in its legacy module); TensorFlow's intra-op and inter-op threads are both set to
  --threads. Keras feeds the generator through tf.data with prefetching, so augmentation overlaps training.

--images is rounded down to whole batches. Training images/s include augmentation and data feeding; a
warm-up fit of --warmup-steps steps (at most one pass) comes first and is not timed. Evaluation images/s are inference over all the arrays (scaling to [0, 1] included), after
a one-batch warm-up. Each figure is the median of --repeats. Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from trivision.config import Phase
from trivision.data.augment import AugmentConfig
from trivision.data.datasets import encode_labels, read_dataset
from trivision.data.loading import load_images
from trivision.data.synthetic import make_toy_faces
from trivision.engine.fit import TensorData, fit, run_model
from trivision.engine.report import param_counts
from trivision.models.registry import create_model, model_info
from trivision.tasks.gender import CLASSES, GenderTask
import common  # bench/common.py

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-gender"
MODELS = ("gender-cnn", "gender-tiny")
FRAMEWORKS = ("trivision", "keras")
TOY_PHOTOS_PER_PERSON = 5


def load_arrays(data: Path, images: int, size: int, threads: int, seed: int = 0):
    """(uint8 images (N, 3, size, size), int64 labels (N,), where they came from): a seeded sample of
    `images` rows of `data`, or generated toy faces when `data` has no labels.csv."""
    with tempfile.TemporaryDirectory() as tmp:
        if (data / "labels.csv").exists():
            source = str(data)
        else:
            source = f"generated toy faces ({data / 'labels.csv'} is absent)"
            people = math.ceil(images / TOY_PHOTOS_PER_PERSON)
            data = make_toy_faces(Path(tmp) / "toy", people=people, per_person=TOY_PHOTOS_PER_PERSON, seed=seed)
        ds = read_dataset(data, "gender")
        rows = np.sort(np.random.default_rng(seed).choice(len(ds), size=min(images, len(ds)), replace=False))
        pixels, kept, _ = load_images(ds, rows, size, threads=threads)
    labels = torch.from_numpy(encode_labels(ds, CLASSES)[kept])
    return pixels, labels, source


def measure_trivision(model_name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                      threads: int, repeats: int, warmup_steps: int, compile: bool = False,
                      precision: str = "fp32") -> dict:
    task = GenderTask()
    cfg = replace(task.default_config(), model=model_name, batch_size=batch_size, threads=threads, device="cpu",
                  precision=precision)
    data = TensorData(images, labels)
    model = create_model(model_name, image_size=images.shape[-1])
    counts = param_counts(model)
    if compile:
        model = torch.compile(model)
    steps = len(images) // batch_size
    with tempfile.TemporaryDirectory() as tmp:
        fit(model, task, data, None, replace(cfg, phases=[Phase(epochs=1)], steps_per_epoch=warmup_steps),
            Path(tmp) / "warm-up", log=_quiet)
        history = fit(model, task, data, None, replace(cfg, phases=[Phase(epochs=repeats)], steps_per_epoch=steps),
                      Path(tmp) / "timed", log=_quiet)
    train_seconds = [row["seconds"] for row in history]

    run_model(model, task, TensorData(images[:batch_size], labels[:batch_size]), batch_size, cfg.channels_last,
              keep_outputs=False)
    eval_seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_model(model, task, data, batch_size, cfg.channels_last, keep_outputs=False)
        eval_seconds.append(time.perf_counter() - started)
    return _result(steps * batch_size, train_seconds, len(images), eval_seconds, counts,
                   augmentation="kornia RandomAffine + RandomHorizontalFlip on each batch, in the training loop",
                   versions={"torch": torch.__version__}, compiled=compile, precision=precision)


def measure_keras(model_name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                  threads: int, repeats: int, warmup_steps: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    from keras.src.legacy.preprocessing.image import ImageDataGenerator
    import keras_models  # bench/keras_models.py

    keras.utils.set_random_seed(0)
    x = images.permute(0, 2, 3, 1).contiguous().numpy()  # the same uint8 pixels, NHWC as Keras wants them
    y = keras.utils.to_categorical(labels.numpy(), len(CLASSES))
    lab = AugmentConfig()
    generator = ImageDataGenerator(width_shift_range=lab.shift, height_shift_range=lab.shift,
                                   rotation_range=lab.rotation, zoom_range=list(lab.zoom),
                                   horizontal_flip=lab.hflip, fill_mode="nearest", rescale=1 / 255)
    model = keras_models.gender_model(model_name)
    steps = len(x) // batch_size
    epoch_started, epoch_seconds = [], []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epoch_started.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: epoch_seconds.append(time.perf_counter() - epoch_started[-1]))
    model.fit(generator.flow(x, y, batch_size=batch_size), steps_per_epoch=warmup_steps, epochs=1, verbose=0)
    model.fit(generator.flow(x, y, batch_size=batch_size), steps_per_epoch=steps, epochs=repeats, verbose=0,
              callbacks=[timer])

    def scaled(pixels):
        return np.divide(pixels, 255, dtype=np.float32)
    model.evaluate(scaled(x[:batch_size]), y[:batch_size], batch_size=batch_size, verbose=0)
    eval_seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.evaluate(scaled(x), y, batch_size=batch_size, verbose=0)
        eval_seconds.append(time.perf_counter() - started)
    return _result(steps * batch_size, epoch_seconds, len(x), eval_seconds, keras_models.param_counts(model),
                   augmentation="keras ImageDataGenerator.flow (keras.src.legacy), fed through tf.data with prefetch",
                   versions={"keras": keras.__version__, "tensorflow": tf.__version__})


def _result(train_images: int, train_seconds: list[float], eval_images: int, eval_seconds: list[float],
            counts: dict, **extra) -> dict:
    return {"train_img_per_s": round(train_images / statistics.median(train_seconds), 1),
            "eval_img_per_s": round(eval_images / statistics.median(eval_seconds), 1),
            "train_seconds_each": [round(s, 3) for s in train_seconds],
            "eval_seconds_each": [round(s, 3) for s in eval_seconds],
            "images_per_train_repeat": train_images,
            "params": counts["total"], "trainable_params": counts["trainable"], **extra}


def _quiet(_: str) -> None:
    pass


def measure(model: str, framework: str, images: int, batch_size: int, threads: int, repeats: int,
            warmup_steps: int, data: Path = DEFAULT_DATA, compile: bool = False, precision: str = "fp32") -> dict:
    """The whole measurement as a dict (what the JSON line holds); flops.py and suite scripts call this."""
    torch.set_num_threads(threads)
    pixels, labels, source = load_arrays(data, images, model_info(model).input_size, threads)
    # whole batches only, so that every repeat of either framework is the same number of full steps
    steps = len(pixels) // batch_size
    pixels, labels = pixels[:steps * batch_size], labels[:steps * batch_size]
    warmup_steps = min(warmup_steps, steps)  # Keras' flow gives at most one pass in one go
    if framework == "keras":
        result = measure_keras(model, pixels, labels, batch_size, threads, repeats, warmup_steps)
    else:
        result = measure_trivision(model, pixels, labels, batch_size, threads, repeats, warmup_steps, compile, precision)
    return {"model": model, "framework": framework, "images": len(pixels), "batch_size": batch_size,
            "threads": threads, "repeats": repeats, "warmup_steps": warmup_steps, "data": source, **result}


def print_table(r: dict) -> None:
    print(f"data: {r['data']}")
    print(f"augmentation: {r['augmentation']}")
    print("| model | framework | images | batch | threads | train img/s | eval img/s | params |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    name = (r["framework"] + (" (torch.compile)" if r.get("compiled") else "")
            + (f" ({r['precision']})" if r.get("precision", "fp32") != "fp32" else ""))
    print(f"| {r['model']} | {name} | {r['images']} | {r['batch_size']} | {r['threads']} | "
          f"{r['train_img_per_s']:.1f} | {r['eval_img_per_s']:.1f} | {r['params']:,} |")
    print(f"(median of {r['repeats']} repeats; training repeat seconds {r['train_seconds_each']}, "
          f"evaluation {r['eval_seconds_each']})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=MODELS, default="gender-cnn")
    p.add_argument("--framework", choices=FRAMEWORKS, default="trivision")
    p.add_argument("--images", type=int, default=2048, help="images in memory (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (default: every core)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, the median is reported (default 3)")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed training steps first (default 3)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labels.csv folder (default %(default)s)")
    p.add_argument("--compile", action="store_true", help="trivision: torch.compile the model first")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="trivision: the training step's arithmetic (default fp32)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args()
    if args.images < args.batch_size:
        p.error(f"--images ({args.images}) must hold at least one batch of --batch-size ({args.batch_size})")
    if args.compile and args.framework != "trivision":
        p.error("--compile is for --framework trivision (torch.compile)")
    if args.precision != "fp32" and args.framework != "trivision":
        p.error("--precision is for --framework trivision (the engine's autocast)")
    result = measure(args.model, args.framework, args.images, args.batch_size, args.threads, args.repeats,
                     args.warmup_steps, args.data, args.compile, args.precision)
    print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    common.run(main)
