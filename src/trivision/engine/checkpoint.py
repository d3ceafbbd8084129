"""Checkpoints written atomically (temp file, fsync, rename) and read with clear errors."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from trivision.errors import TrivisionError


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: set it back at once
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file; mkstemp's own is 0600, owner only


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) then move tmp over `path`, so readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict:
    if not path.exists():
        raise TrivisionError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several types for a damaged zip
        raise TrivisionError(f"{path}: damaged or truncated checkpoint ({type(e).__name__}); "
                             "refusing to start over silently: delete it to train from scratch") from None


def save_weights(path: Path, model: torch.nn.Module, meta: dict) -> None:
    """Weights for users: safetensors, with what is needed to use them (model name, classes...) as metadata."""
    save_state(path, model.state_dict(), meta)


def save_state(path: Path, state: dict, meta: dict) -> None:
    """A state dict as `save_weights` writes a model's (e.g. one read by `load_weights`, with new metadata)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"trivision": json.dumps(meta)}))


def load_weights(path: str | Path) -> tuple[dict, dict]:
    """Return (state_dict, metadata) from a safetensors file written by `save_weights`."""
    path = Path(path)
    if not path.exists():
        raise TrivisionError(f"{path}: weights file not found")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("trivision", "{}"))
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError) as e:
        raise TrivisionError(f"{path}: not a readable safetensors weights file ({e})") from None
