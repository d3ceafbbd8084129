"""What every run leaves for people: history.csv, curves.png, results.md, params.md and machine.txt."""
from __future__ import annotations

import csv
import os
import platform
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HISTORY_FIELDS = ["epoch", "phase", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "threads"]


def write_history(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in HISTORY_FIELDS})


def _fmt(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v


def param_counts(model: nn.Module) -> dict:
    """Keras' way of counting: BatchNorm running mean/variance are non-trainable parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    return {"total": trainable + frozen + stats, "trainable": trainable, "non_trainable": frozen + stats}


def params_table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| Model | Total params | Trainable params | Non-trainable params |",
             "|---|---:|---:|---:|"]
    for name, c in rows:
        lines.append(f"| {name} | {c['total']:,} | {c['trainable']:,} | {c['non_trainable']:,} |")
    return "\n".join(lines) + "\n"


RESULT_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def results_table(rows: list[dict]) -> str:
    """The lab's Table 1 layout: one row per model, final losses and accuracies per split."""
    lines = ["| Model | Phase | Epochs | Train loss | Train acc | Val loss | Val acc | Test loss | Test acc |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = [r.get("model", ""), r.get("phase", ""), str(r.get("epochs", ""))]
        for k in RESULT_COLUMNS:
            v = r.get(k)
            cells.append("" if v is None else (f"{100 * v:.2f}%" if k.endswith("acc") else f"{v:.4f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_results(path: Path) -> dict[str, dict]:
    """A table written by `results_table`, by phase: {'frozen': {'model': ..., 'epochs': 10, 'test_acc': 0.6031,
    ...}}; empty cells are None."""
    def value(cell: str):
        return None if not cell else float(cell[:-1]) / 100 if cell.endswith("%") else float(cell)
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or cells[0] == "Model" or len(cells) != 3 + len(RESULT_COLUMNS):
            continue
        model, phase, epochs, *values = cells
        rows[phase] = {"model": model, "epochs": int(epochs) if epochs else None,
                       **{k: value(v) for k, v in zip(RESULT_COLUMNS, values)}}
    return rows


def plot_curves(path: Path, history: list[dict], title: str) -> None:
    """Loss on a log scale and accuracy, train and validation, against epoch (the lab's Figures 1-4)."""
    has_acc = any(r.get("train_acc") is not None for r in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6, 4), squeeze=False)
    epochs = [r["epoch"] for r in history]
    ax = axes[0][0]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        pts = [(e, r[key]) for e, r in zip(epochs, history) if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (log scale)")
    ax.set_title(f"{title}: loss")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    if has_acc:
        ax = axes[0][1]
        for key, label in (("train_acc", "train"), ("val_acc", "validation")):
            pts = [(e, 100 * r[key]) for e, r in zip(epochs, history) if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{title}: accuracy")
        ax.legend()
        ax.grid(True, alpha=0.3)
    # phase boundaries, when there is more than one phase
    boundaries = [history[i]["epoch"] - 0.5 for i in range(1, len(history))
                  if history[i]["phase"] != history[i - 1]["phase"]]
    for row in axes:
        for a in row:
            for b in boundaries:
                a.axvline(b, color="grey", ls="--", lw=1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_history(path: Path) -> list[dict]:
    """history.csv back, one dict of text per epoch."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def training_seconds(history: list[dict]) -> float:
    return sum(float(r["seconds"]) for r in history)


def threads_used(history: list[dict], unrecorded="?") -> str:
    """The CPU threads the epochs trained with, e.g. "2", or "2 (1 for 10 of 40 epochs)" for a run resumed with
    another count; epochs from before history.csv recorded it count as `unrecorded`."""
    counts = Counter(str(r.get("threads") or unrecorded) for r in history)
    (most, _), *others = counts.most_common()
    if not others:
        return most
    return f"{most} ({', '.join(f'{t} for {n} of {len(history)} epochs' for t, n in others)})"


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and instruction-set flags (/proc/cpuinfo; elsewhere platform's name, no flags)."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # not Linux: the model name from platform is all there is
        pass
    return cpu, flags


def machine() -> str:
    """The machine this process trains on, in one line: cores, CPU model, its widest vector instructions (they
    decide the speed, and the rounding of a run's arithmetic), GPU if one is used, torch's version."""
    cpu, flags = cpu_info()
    isa = next((name for flag, name in (("amx_tile", "AVX-512, AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))
                if flag in flags), "")
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return (f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores of "
            f"{cpu} ({platform.machine()}{', ' + isa if isa else ''}){gpu}, torch {torch.__version__}")


def record_machine(run_dir: Path) -> None:
    """Add this machine to the run's machine.txt, once: a run resumed elsewhere lists every machine it ran on."""
    line, seen = machine(), machines(run_dir)
    if line not in seen:
        (run_dir / "machine.txt").write_text("\n".join(seen + [line]) + "\n")


def machines(run_dir: Path) -> list[str]:
    """The machines a run trained on (machine.txt); empty for runs from before it was written."""
    path = run_dir / "machine.txt"
    return path.read_text().splitlines() if path.exists() else []
