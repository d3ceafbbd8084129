"""Adopt a run trained elsewhere on a packed copy of a dataset (scripts/pack_dataset.py,
scripts/gpu_train.sh): point its config at the original dataset folder and, for a copy that kept only
the centred share of each LFW frame, record that share as the run's frame_crop (config and weights), so
`trivision evaluate --run RUN` measures the test split on the original files, framed as in training.

    python scripts/adopt_run.py RUN --data ../shared/data/lfw-gender [--frame-crop 0.6]
"""
from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import tomli_w

from trivision.engine.checkpoint import load_weights, save_state


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--data", required=True, help="the original dataset folder")
    p.add_argument("--frame-crop", type=float, default=None, help="the share of the frame the packed copy kept")
    args = p.parse_args()

    cfg = tomllib.loads((args.run / "config.toml").read_text())
    cfg["data"] = str(Path(args.data).resolve())
    if args.frame_crop is not None:
        if cfg.get("frame_crop", 1.0) != 1.0:
            raise SystemExit(f"{args.run}: already trained with frame_crop {cfg['frame_crop']}")
        cfg["frame_crop"] = args.frame_crop
        weights = args.run / "model.safetensors"
        state, meta = load_weights(weights)
        meta["frame_crop"] = args.frame_crop
        save_state(weights, state, meta)
    (args.run / "config.toml").write_text(tomli_w.dumps(cfg))
    print(f"{args.run}: data = {cfg['data']}, frame_crop = {cfg.get('frame_crop', 1.0)}")


if __name__ == "__main__":
    main()
