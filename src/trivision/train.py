"""`trivision train`: dataset -> saved split -> decoded tensors -> engine -> reports and weights.

Launched by `torchrun` with several processes, every process reads and decodes the data and trains its
share of each epoch (engine/fit.py); rank 0 alone writes the run folder."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import torch

from trivision.config import TrainConfig, save_config
from trivision.data import splits
from trivision.data.datasets import Dataset, encode_labels
from trivision.data.loading import load_images
from trivision.data.mixing import mixes
from trivision.engine import distributed, report
from trivision.engine.checkpoint import save_weights
from trivision.engine.fit import TensorData, fit, run_model
from trivision.errors import TrivisionError
from trivision.models import create_model, model_info
from trivision.tasks import run_rows
from trivision.tasks.classify import balanced_class_weights


def default_run_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{cfg.task}-{cfg.model}-{datetime.now():%Y%m%d-%H%M%S}"


def train(task, cfg: TrainConfig, log=print) -> dict:
    """Train `cfg.model` on `cfg.data`; return a summary (run folder, metrics, time). Under `torchrun`
    (WORLD_SIZE > 1) the process group is set up here and torn down at the end."""
    with distributed.process_group():
        return _train(task, cfg, log if distributed.is_main() else (lambda s: None))


def run_dataset(task, cfg: TrainConfig) -> Dataset:
    """The rows a run with `cfg` uses: the task's selection of `cfg.data` (cars: --classes), then --limit."""
    if not cfg.data:
        raise TrivisionError("no training data: pass --data DIR")
    return run_rows(task, cfg.data, cfg.classes, cfg.limit)


def new_split(ds: Dataset, cfg: TrainConfig) -> list[str]:
    """The split of a new run: another run's saved one (split_from), else the seeded protocol's."""
    if cfg.split_from:
        return splits.load_split(splits.split_file_of(cfg.split_from), ds)
    return splits.make_split(ds, cfg.split, cfg.val_fraction, cfg.test_fraction, cfg.seed)


def save_split_only(task, cfg: TrainConfig) -> dict[str, int]:
    """Write the run folder `cfg.output_dir` with only what defines a run's split, config.toml and split.csv:
    exactly the split `trivision train` makes with these settings, for scoring weights on it whose own run
    folder is gone (`evaluate --run`, scripts/choose_tta.py). Returns the rows per split."""
    if not cfg.output_dir:
        raise TrivisionError("pass --output-dir DIR: the folder to write config.toml and split.csv to")
    run_dir = Path(cfg.output_dir)
    if (run_dir / "split.csv").exists():
        raise TrivisionError(f"{run_dir} already holds a split: choose another --output-dir")
    ds = run_dataset(task, cfg)
    split = new_split(ds, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    splits.save_split(run_dir / "split.csv", ds, split)
    save_config(cfg, run_dir / "config.toml")
    return {name: split.count(name) for name in ("train", "val", "test")}


def _train(task, cfg: TrainConfig, log) -> dict:
    main = distributed.is_main()
    if model_info(cfg.model).task != task.name:
        raise TrivisionError(f"model '{cfg.model}' is for task '{model_info(cfg.model).task}', not '{task.name}'")
    if not any(phase.epochs > 0 for phase in cfg.phases):
        raise TrivisionError("every phase has 0 epochs: nothing to train (set --epochs or phases.N.epochs)")
    if not 0 < cfg.frame_crop <= 1:
        raise TrivisionError(f"frame_crop must be in (0, 1] (the share of the frame the model sees), got {cfg.frame_crop}")
    if mixes(cfg.augment) and task.label_column is None:
        raise TrivisionError(f"augment.mixup and augment.cutmix mix class labels: not for task '{task.name}'")
    if not 0 <= cfg.label_smoothing < 1:
        raise TrivisionError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.label_smoothing and task.label_column is None:
        raise TrivisionError(f"label_smoothing softens class labels: not for task '{task.name}'")
    if task.label_column is not None:
        task.label_smoothing = cfg.label_smoothing
    if cfg.class_weight not in ("none", "balanced"):
        raise TrivisionError(f"class_weight must be none or balanced, got '{cfg.class_weight}'")
    if cfg.class_weight != "none" and task.label_column is None:
        raise TrivisionError(f"class_weight weighs class labels: not for task '{task.name}'")
    run_dir = Path(cfg.output_dir) if cfg.output_dir else default_run_dir(cfg)
    if cfg.resume == "auto" and not (run_dir / "checkpoints" / "last.pt").exists():
        raise TrivisionError(f"{run_dir}: nothing to resume (no checkpoints/last.pt); pass --output-dir RUN")
    if not cfg.resume and (run_dir / "checkpoints" / "last.pt").exists():
        raise TrivisionError(f"{run_dir} already holds a run: pass --resume to continue it, "
                             "or choose another --output-dir")
    ds = run_dataset(task, cfg)  # a dataset that cannot be read stops the run before its folder exists
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        report.record_machine(run_dir)  # what the run's times and numbers were measured on
    started = time.perf_counter()

    classes = task.classes(ds)
    if task.label_column is None:  # colorize: a photo is its own target (the task's batch makes it)
        targets = torch.zeros(len(ds), dtype=torch.int64)
    else:
        targets = torch.from_numpy(encode_labels(ds, classes))
    split_file = run_dir / "split.csv"
    if cfg.resume and split_file.exists():
        split = splits.load_split(split_file, ds)  # a resumed run must see exactly the same split
    else:  # seeded: every process computes the same split
        split = new_split(ds, cfg)
        if main:
            splits.save_split(split_file, ds, split)

    def tensors(name: str) -> TensorData | None:
        rows = splits.indices(split, name)
        if len(rows) == 0:
            return None
        images, kept, bad = load_images(ds, rows, cfg.image_size, task.train_frame(cfg),
                                        skip_bad=cfg.skip_bad, desc=f"decoding {name}")
        for name_, err in bad:
            log(f"skipped: {err}")
        return TensorData(images, targets[kept])

    train_data, val_data = tensors("train"), tensors("val")
    test_data = tensors("test") if cfg.score_test else None
    if train_data is None:
        raise TrivisionError("the training split is empty: the dataset is too small for the split fractions")
    sealed = "" if cfg.score_test else " (sealed: not scored)"
    log(f"data: {len(train_data)} train, {len(val_data or [])} val, {len(splits.indices(split, 'test'))} test{sealed} "
        f"({f'the saved split of {cfg.split_from}' if cfg.split_from else f'{cfg.split} split, seed {cfg.seed}'}); "
        f"run folder {run_dir}")

    if cfg.class_weight == "balanced":
        task.class_weights = balanced_class_weights(train_data.targets, len(classes))
        w = task.class_weights.tolist()
        log("class weights (balanced, from the training split): " + (
            ", ".join(f"{c} {x:.3f}" for c, x in zip(classes, w)) if len(w) <= 5 else f"{min(w):.3f} to {max(w):.3f}"))
    trainable = task  # what the engine trains on: the task, or the task taught by a teacher (its loss)
    if cfg.teacher:
        from trivision.tasks.distill import with_teacher
        trainable = with_teacher(task, cfg, classes, ds.paths, split)
        log(f"teacher: {cfg.teacher} (share of the loss {cfg.distill:g}, temperature {cfg.distill_temperature:g})")
    torch.manual_seed(cfg.seed)  # the initial weights too: one seed, one run
    model = create_model(cfg.model, image_size=cfg.image_size, num_classes=len(classes), dropout=cfg.dropout,
                         backbone=cfg.backbone or None, pretrained=cfg.pretrained, loss=cfg.loss or None)
    if cfg.init and not cfg.resume:  # a resumed run takes every weight from its checkpoint
        from trivision.engine.warm_start import warm_start
        log(warm_start(model, cfg, classes, dict(zip(ds.paths, split))))
    results_rows: list[dict] = []

    def on_phase_end(pi, phase, history):
        rows = [r for r in history if r["phase"] == phase.name]
        if not rows:  # a phase of 0 epochs (e.g. --set phases.1.epochs=0) leaves nothing to report
            return
        row = {"model": cfg.model, "phase": phase.name, "epochs": len(rows),
               **{k: rows[-1].get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")}}
        if not main:
            return
        if test_data is not None:
            t = run_model(model, trainable, test_data, cfg.batch_size, cfg.channels_last, keep_outputs=False)
            row.update(test_loss=t["loss"], test_acc=t["acc"])
        results_rows.append(row)
        if len(cfg.phases) > 1:  # one table per phase too (the lab's Tables 4-5)
            (run_dir / f"results-{phase.name}.md").write_text(
                f"# {cfg.model} on {cfg.data}: phase {phase.name}\n\n" + report.results_table([row]))

    history = fit(model, trainable, train_data, val_data, cfg, run_dir, log=log, on_phase_end=on_phase_end,
                  num_classes=len(classes))
    model = model.to(memory_format=torch.contiguous_format)
    summary = {"run_dir": str(run_dir), "model": cfg.model, "epochs": len(history),
               "train_seconds": round(sum(r["seconds"] for r in history), 1),
               "wall_seconds": round(time.perf_counter() - started, 1)}
    if distributed.world_size() > 1:
        summary["processes"] = distributed.world_size()
    if not main:  # rank 0 tests the best weights and writes the reports
        return summary
    if test_data is not None:
        labelled = task.label_column is not None  # colorize: scored per photo by `trivision evaluate --run`
        out = run_model(model, trainable, test_data, cfg.batch_size, cfg.channels_last, keep_outputs=labelled)
        summary["test"] = (task.metrics(out["outputs"], test_data.targets, classes) if labelled
                           else {"n": len(test_data), "loss": out["loss"]})
        results_rows.append({"model": cfg.model, "phase": cfg.keep, "epochs": len(history),
                             "test_loss": out["loss"], "test_acc": out["acc"]})
    (run_dir / "results.md").write_text(f"# {cfg.model} on {cfg.data} ({cfg.split} split)\n\n"
                                        + report.results_table(results_rows))
    (run_dir / "params.md").write_text(report.params_table([(cfg.model, report.param_counts(model))]))
    save_weights(run_dir / "model.safetensors", model, {
        "model": cfg.model, "task": task.name, "classes": classes, "class_names": task.class_names(ds, classes),
        "image_size": cfg.image_size, "frame_crop": cfg.frame_crop,
        "dropout": cfg.dropout, "backbone": cfg.backbone, "loss": cfg.loss, "split": cfg.split, "seed": cfg.seed,
        "val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction,
        **({"split_from": cfg.split_from} if cfg.split_from else {}), **({"init": cfg.init} if cfg.init else {})})
    return summary
