"""The training engine: any model, any task, one or more phases, resumable, atomic checkpoints.

A task tells the engine five things: what its loss needs from the whole training split (colorize: how
rare each colour is; classification: nothing), how to turn an augmented batch into (inputs, targets), the
loss, how many predictions were correct (or None), and which parameters train in a phase. The engine knows
nothing about faces, cars or colours. A model with a `backbone` and a `head` (forward = head(backbone(x)))
can have its backbone frozen by a phase: it then stays in eval mode, and its features are cached
(engine/cache.py), so such an epoch costs only the head.

Devices and processes: the model trains on `cfg.device` (auto: the process's GPU when there is one); the
decoded images stay uint8 in CPU memory and each batch moves to the device. Launched by `torchrun` with
several processes (engine/distributed.py), the model is wrapped in DistributedDataParallel, each epoch's
seeded order is dealt out by rank (order[rank::world]) with the steps divided among the processes (an epoch
is still one pass over the data), augmentation and dropout are seeded per rank, the training loss and
accuracy are summed over the processes, validation runs identically on every one, and only rank 0 writes
files. A frozen-backbone phase caches the features of the whole training set in every process.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from trivision.config import Phase, TrainConfig, save_config
from trivision.data.augment import augment_batch, build_augment
from trivision.data.mixing import build_mixing
from trivision.engine import distributed, report
from trivision.engine.allocator import check_allocator, use_allocator
from trivision.engine.batching import evaluation_batch_size
from trivision.engine.cache import build_cache, can_cache
from trivision.engine.checkpoint import load_checkpoint, save_checkpoint
from trivision.errors import TrivisionError


@dataclass
class TensorData:
    images: torch.Tensor   # uint8 (N, 3, H, W), decoded once and kept in memory
    targets: torch.Tensor  # (N, ...) whatever the task's loss wants

    def __len__(self) -> int:
        return len(self.images)


class Trainable(Protocol):
    def prepare(self, model: nn.Module, train: TensorData) -> None: ...
    def batch(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...
    def correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int | None: ...
    def set_phase(self, model: nn.Module, phase: Phase) -> None: ...


class NonFiniteLoss(TrivisionError):
    pass


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}  # cfg.precision: the training step's arithmetic
RANK_SEED = 1_000_003  # process r of a multi-process run seeds its augmentation and dropout with seed + r * this


def device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    raise TrivisionError(f"unknown optimizer '{cfg.optimizer}' (use adam, adamw or sgd)")


def make_schedule(cfg: TrainConfig, opt, total_steps: int, steps_per_epoch: int):
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "cosine":
            t = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        raise TrivisionError(f"unknown schedule '{cfg.schedule}' (use constant or cosine)")
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _to_model_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def run_model(model: nn.Module, task: Trainable, data: TensorData, batch_size: int,
              channels_last: bool = True, keep_outputs: bool = True) -> dict:
    """Loss, accuracy and (with keep_outputs) raw outputs of `model` over `data`, without augmentation, in
    batches of at most `batch_size` (engine/batching.py: fewer on a CPU for large images).
    Outputs can be large (colorize: logits per pixel), so callers that need only loss and accuracy drop them."""
    model.eval()
    device = device_of(model)
    batch_size = evaluation_batch_size(*data.images.shape[-2:], device, batch_size)

    def batches():
        for start in range(0, len(data), batch_size):
            x = data.images[start:start + batch_size].to(device).float().div_(255.0)
            inputs, targets = task.batch(x, data.targets[start:start + batch_size].to(device))
            yield _to_model_layout(inputs, channels_last), targets
    return _run(model, task, batches(), keep_outputs)


@torch.no_grad()
def _run(forward: nn.Module, task: Trainable, batches, keep_outputs: bool = True) -> dict:
    total_loss, correct, n, outputs = 0.0, 0, 0, []
    for inputs, targets in batches:
        out = forward(inputs)
        total_loss += float(task.loss(out, targets)) * len(inputs)
        c = task.correct(out, targets)
        correct = None if c is None else correct + c
        n += len(inputs)
        if keep_outputs:
            outputs.append(out.cpu())
    return {"loss": total_loss / max(n, 1), "acc": None if correct is None else correct / max(n, 1),
            "outputs": torch.cat(outputs) if outputs else torch.empty(0)}


def fit(model: nn.Module, task: Trainable, train: TensorData, val: TensorData | None,
        cfg: TrainConfig, run_dir: Path, log: Callable[[str], None] = print,
        on_phase_end: Callable[[int, Phase, list[dict]], None] | None = None, num_classes: int = 0) -> list[dict]:
    """Train through cfg.phases; return the history (one dict per epoch). The weights cfg.keep names (best or
    last) end up in `model` (which is moved to cfg.device). `num_classes`: what MixUp/CutMix mix (cfg.augment)."""
    if len(train) == 0:
        raise TrivisionError("the training split is empty")
    if cfg.keep not in ("best", "last"):
        raise TrivisionError(f"keep must be best or last (the weights a run ends with), got '{cfg.keep}'")
    if cfg.precision not in PRECISIONS:
        raise TrivisionError(f"precision must be {' or '.join(PRECISIONS)}, got '{cfg.precision}'")
    check_allocator(cfg.cpu_allocator)
    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    if not main:
        log = _quiet
    device = distributed.resolve_device(cfg.device)
    if device.type == "cpu":
        use_allocator(cfg.cpu_allocator)  # before the first batch's activations
    run_dir.mkdir(parents=True, exist_ok=True)
    ck_dir = run_dir / "checkpoints"
    if main:
        save_config(cfg, run_dir / "config.toml")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + RANK_SEED * rank)
    task.prepare(model, train)
    model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    augment = build_augment(cfg.augment, cfg.image_size).to(device)
    mixing = build_mixing(cfg.augment, num_classes)
    # with cfg.ema the averaged weights (BatchNorm statistics too) are what is validated and saved
    ema = AveragedModel(model, multi_avg_fn=_ema_update(cfg.ema), use_buffers=True) if cfg.ema else None
    evaluated = model if ema is None else ema.module

    def layout(x: torch.Tensor) -> torch.Tensor:
        return _to_model_layout(x, cfg.channels_last)

    def augmented_batch(idx: torch.Tensor):
        images = augment_batch(augment, train.images[idx].to(device, non_blocking=True))
        targets = train.targets[idx].to(device, non_blocking=True)
        if mixing is not None:  # before the task's batch: a teacher (distill) then answers on the mixed images
            images, targets = mixing(images, targets)
        inputs, targets = task.batch(images, targets)
        return layout(inputs), targets

    state = None
    if cfg.resume:
        state = load_checkpoint(Path(cfg.resume) if cfg.resume != "auto" else ck_dir / "last.pt")
        model.load_state_dict(state["model"])
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        log(f"resumed from {cfg.resume if cfg.resume != 'auto' else ck_dir / 'last.pt'}: "
            f"phase {state['phase'] + 1}, epoch {state['epoch_in_phase'] + 1} done")
    history: list[dict] = state["history"] if state else []
    best = state["best"] if state else None
    batch_size = min(cfg.batch_size, len(train))
    # one pass over the data per epoch, whatever the number of processes: each takes 1/world of the steps
    steps = max(1, math.ceil((cfg.steps_per_epoch or max(1, len(train) // batch_size)) / world))
    if world > 1:
        log(f"{world} processes ({device.type}, {'nccl' if device.type == 'cuda' else 'gloo'}): "
            f"{steps} steps of {batch_size} per process and epoch")

    fit_started = time.perf_counter()
    out_of_time = False
    for pi, phase in enumerate(cfg.phases):
        if out_of_time:
            break
        if state and pi < state["phase"]:
            continue
        task.set_phase(model, phase)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = make_optimizer(cfg, params, phase.lr)
        sched = make_schedule(cfg, opt, phase.epochs * steps, steps)
        first = 0
        if state and pi == state["phase"]:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            _restore_rng(state, cfg, rank, world, device, log)
            first = state["epoch_in_phase"] + 1
            state = None
        started = time.perf_counter()  # the phase's first epoch also pays for caching features
        cache = None
        if first < phase.epochs and can_cache(model, phase, cfg):
            cache = build_cache(model, task, train, val, augment, cfg, layout)
            log(f"phase {phase.name}: frozen backbone features of {len(cache.views)} augmented views cached "
                f"({cache.nbytes() / 2**20:.0f} MiB, {time.perf_counter() - started:.0f}s"
                f"{', in each process' if world > 1 else ''})")
            if mixing is not None:
                log(f"phase {phase.name}: trains on the cached features unmixed (MixUp/CutMix need the whole network: "
                    "cached_views=0 mixes this phase too)")
        trained = model if cache is None else model.head  # the cached phase trains the head alone
        if world > 1 and first < phase.epochs:
            from torch.nn.parallel import DistributedDataParallel
            trained = DistributedDataParallel(trained, device_ids=[device.index] if device.type == "cuda" else None)
        for ep in range(first, phase.epochs):
            epoch = len(history) + 1
            t0 = started if ep == first else time.perf_counter()
            _train_mode(model, phase)
            # the cached phase: this epoch's view of the cached features
            batch_of = augmented_batch if cache is None else cache.views[ep % len(cache.views)].batch
            row = _train_epoch(trained, task, batch_of, opt, sched, len(train), batch_size, steps, cfg,
                               desc=f"{phase.name} {ep + 1}/{phase.epochs}", epoch=epoch, rank=rank, world=world,
                               after_step=None if ema is None else lambda: ema.update_parameters(model))
            distributed.broadcast_buffers(model)  # rank 0's BatchNorm statistics: validation agrees everywhere
            if ema is not None:
                distributed.broadcast_buffers(evaluated)
            if val is not None and len(val):
                v = (run_model(evaluated, task, val, batch_size, cfg.channels_last, keep_outputs=False)
                     if cache is None
                     else _run(evaluated.head.eval(), task, cache.val.batches(batch_size), keep_outputs=False))
                row.update(val_loss=v["loss"], val_acc=v["acc"])
            row.update(epoch=epoch, phase=phase.name, lr=opt.param_groups[0]["lr"],
                       seconds=time.perf_counter() - t0, threads=torch.get_num_threads())
            history.append(row)
            score = _score(row)
            rng = _rng_state(device)
            rng_by_rank = distributed.gather_objects(rng) if world > 1 else None
            # every process stops after the same epoch, however their clocks differ
            out_of_time = bool(cfg.time_limit) and distributed.any_process(  # time_limit is alike everywhere
                time.perf_counter() - fit_started > 60 * cfg.time_limit)
            if not main:  # rank 0 writes every file
                if best is None or score > best:
                    best = score
                if out_of_time:
                    break
                continue
            if best is None or score > best:
                best = score
                save_checkpoint(ck_dir / "best.pt", {"model": evaluated.state_dict(), "epoch": epoch})
            save_checkpoint(ck_dir / "last.pt", {
                "model": model.state_dict(), **({} if ema is None else {"ema": ema.state_dict()}),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": rng["cpu"], "cuda_rng": rng["cuda"], "rng_by_rank": rng_by_rank, "world_size": world,
                "phase": pi, "epoch_in_phase": ep, "history": history, "best": best})
            report.write_history(run_dir / "history.csv", history)
            report.plot_curves(run_dir / "curves.png", history, cfg.model)
            if len(cfg.phases) > 1:  # and one per phase (the lab's Figures 5-6)
                report.plot_curves(run_dir / f"curves-{phase.name}.png",
                                   [r for r in history if r["phase"] == phase.name], f"{cfg.model}, {phase.name}")
            log(_epoch_line(row))
            if out_of_time:
                log(f"time limit of {cfg.time_limit:g} min reached after epoch {epoch}: training stops here")
                break
        del trained
        if on_phase_end is not None:
            on_phase_end(pi, phase, history)
    if cfg.keep == "last":
        model.load_state_dict(evaluated.state_dict())  # with cfg.ema, the averaged weights
    else:
        distributed.barrier()  # rank 0 has written best.pt
        model.load_state_dict(load_checkpoint(ck_dir / "best.pt")["model"])
    return history


def _quiet(_: str) -> None:
    pass


def _ema_update(decay: float):
    """An exponential moving average whose decay warms up as (1 + n) / (10 + n) until it reaches `decay`,
    so the starting weights fade within a few dozen steps instead of lingering (0.999^2600 is still 7%).
    lerp keeps weights that do not change (a frozen backbone) exactly as they are; counters are copied.
    AveragedModel calls it once per group of same-dtype tensors, so the decay is read once per step."""
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        weight = 1 - min(decay, (1 + float(n)) / (10 + float(n)))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, weight)
            else:
                a.copy_(c)
    return update


def _rng_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _restore_rng(state: dict, cfg: TrainConfig, rank: int, world: int, device: torch.device, log) -> None:
    """This process's random state where the checkpoint was written, so a resumed run repeats exactly what
    an uninterrupted one does (with the same number of processes)."""
    saved_world = state.get("world_size", 1)
    per_rank = state.get("rng_by_rank")
    if world == saved_world:
        mine = per_rank[rank] if world > 1 else {"cpu": state["rng"], "cuda": state.get("cuda_rng")}
    elif world == 1:
        mine = {"cpu": state["rng"], "cuda": state.get("cuda_rng")}
        log(f"note: the checkpoint was written by {saved_world} processes and this run has 1: "
            "it continues from rank 0's random state")
    else:
        torch.manual_seed(cfg.seed + RANK_SEED * rank + len(state["history"]))
        log(f"note: the checkpoint was written by {saved_world} process(es) and this run has {world}: "
            "augmentation is reseeded per process")
        return
    torch.set_rng_state(mine["cpu"])
    if mine.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], device)


def _score(row: dict) -> float:
    if row.get("val_acc") is not None:
        return row["val_acc"]
    return -(row["val_loss"] if row.get("val_loss") is not None else row["train_loss"])


def _epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']} ({row['phase']})", f"loss {row['train_loss']:.4f}"]
    if row.get("train_acc") is not None:
        parts.append(f"acc {100 * row['train_acc']:.2f}%")
    if row.get("val_loss") is not None:
        parts.append(f"val_loss {row['val_loss']:.4f}")
    if row.get("val_acc") is not None:
        parts.append(f"val_acc {100 * row['val_acc']:.2f}%")
    parts.append(f"{row['seconds']:.0f}s")
    return "  ".join(parts)


def _train_mode(model: nn.Module, phase: Phase) -> None:
    """Training mode, except a frozen backbone: its BatchNorm statistics stay as they are."""
    model.train()
    if phase.freeze_backbone and isinstance(getattr(model, "backbone", None), nn.Module):
        model.backbone.eval()


def _train_epoch(forward: nn.Module, task, batch_of, opt, sched, rows: int, batch_size: int, steps: int,
                 cfg: TrainConfig, desc: str, epoch: int, rank: int = 0, world: int = 1,
                 after_step: Callable[[], None] | None = None) -> dict:
    """`steps` optimizer steps; batch_of(row indices) gives (inputs, targets) for `forward`. With several
    processes, each takes every world-th row of the epoch's order, starting at its rank."""
    # the order depends only on (seed, epoch), so a resumed run sees the same batches
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    need = steps * batch_size * world
    order = torch.cat([torch.randperm(rows, generator=g) for _ in range(math.ceil(need / rows))])
    if world > 1:
        order = order[rank::world]
    total_loss, correct, n = 0.0, 0, 0
    dtype = PRECISIONS[cfg.precision]  # the forward pass's arithmetic (autocast when not fp32)
    # closed on an error too, so a failure's message is not printed after a half-drawn bar
    with tqdm(range(steps), desc=desc, leave=False, mininterval=1.0, dynamic_ncols=True, disable=rank > 0) as bar:
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            inputs, targets = batch_of(idx)
            with torch.autocast(inputs.device.type, dtype=dtype, enabled=dtype != torch.float32):
                out = forward(inputs)
            out = out.float()  # the loss, and what the task counts as correct, in fp32
            loss = task.loss(out, targets)
            finite = bool(torch.isfinite(loss))
            if world > 1 and distributed.any_process(not finite):  # every process stops together
                raise NonFiniteLoss(f"loss became non-finite ({loss.item()} in process {rank}) at epoch {epoch}, "
                                    f"step {step + 1}: training stopped; the last good checkpoint is kept "
                                    "(try a lower learning rate)")
            if not finite:
                raise NonFiniteLoss(f"loss became {loss.item()} at epoch {epoch}, step {step + 1}: training stopped; "
                                    "the last good checkpoint is kept (try a lower learning rate)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step()
            total_loss += loss.item() * len(idx)
            n += len(idx)
            c = task.correct(out.detach(), targets)
            correct = None if c is None or correct is None else correct + c
            postfix = {"loss": f"{total_loss / n:.4f}"}
            if correct is not None:
                postfix["acc"] = f"{100 * correct / n:.2f}%"
            bar.set_postfix(postfix, refresh=False)
    if world > 1:  # the whole epoch's numbers, over every process
        total_loss, summed_correct, n = distributed.all_reduce_sum([total_loss, correct or 0, n])
        correct = None if correct is None else summed_correct
    return {"train_loss": total_loss / n, "train_acc": None if correct is None else correct / n}
