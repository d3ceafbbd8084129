"""Multi-process training (PyTorch DDP) as `torchrun` launches it, and the device a process trains on.

`torchrun` sets RANK, WORLD_SIZE and LOCAL_RANK for every process it starts. With WORLD_SIZE > 1 the
process group is set up (nccl when CUDA is available, gloo on CPU); with none of them set everything here
is a no-op and training runs in one process as before.
"""
from __future__ import annotations

import contextlib
import os
from datetime import timedelta

import torch
import torch.distributed as dist

from trivision.errors import TrivisionError


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise TrivisionError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number") from None


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def resolve_device(name: str = "auto") -> torch.device:
    """'auto': this process's GPU (cuda:LOCAL_RANK) when CUDA is available, else the CPU; or an explicit
    torch device name ('cpu', 'cuda', 'cuda:1')."""
    name = (name or "auto").strip()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank() % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrivisionError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrivisionError(f"device '{name}': CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", local_rank() % torch.cuda.device_count())
    return device


@contextlib.contextmanager
def process_group():
    """Set up the process group when launched by torchrun with more than one process, tear it down after.
    Does nothing in a single process, or when the caller already set one up."""
    if env_world_size() <= 1 or (dist.is_available() and dist.is_initialized()):
        yield
        return
    if not dist.is_available():
        raise TrivisionError("WORLD_SIZE > 1, but this PyTorch build has no torch.distributed")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    minutes = float(os.environ.get("TRIVISION_DIST_TIMEOUT_MIN", "30"))
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=minutes))
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a few numbers over every process (float64; on the CPU for gloo, the GPU for nccl)."""
    if not is_distributed():
        return list(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.cpu().tolist()


def any_process(flag: bool) -> bool:
    """True on every process when `flag` is true on any of them."""
    return all_reduce_sum([1.0 if flag else 0.0])[0] > 0 if is_distributed() else flag


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every process, so evaluation agrees everywhere."""
    if is_distributed():
        for b in model.buffers():
            dist.broadcast(b.data, 0)


def gather_objects(obj) -> list:
    """Every process's `obj`, in rank order, on every process."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
