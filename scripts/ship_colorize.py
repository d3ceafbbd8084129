"""Ship a trained colorization model: choose its checkpoint and decoding on the run's validation photos,
put the weights in the package and write the model card.

    python scripts/ship_colorize.py NAME RUN [--lab LAB_RUN]

A classification colorizer turns its per-pixel distribution over a*b* bins into one colour with two
settings (models/koala.py): the prior correction (0: the rebalanced, bold colours; 1: calibrated, duller
and safer ones) and the annealed mean's temperature (low: near the mode, bolder). The validation loss
says little about how a colorization looks, so the run's `best` and `last` checkpoints are both tried.
The rule, on the validation photos only: the most colourful choice whose PSNR beats the grey baseline by more
than --margin-db (default 0; or, when none does, the one with the highest PSNR). The test photos are scored once, with that choice,
for the card; --lab scores the lab's reproduction (a run of configs/colorize-lab.toml) on the same
photos, for comparison. --choose-only stops after the choice: it neither ships nor reads the test photos, so two runs can
be compared on validation before either is shipped. --min-ratio R ships only a choice that beat the margin at a
colourfulness ratio of at least R, and otherwise stops there too: a shipping rule fixed before training ends.
"""
from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from datetime import date
from functools import cache
from itertools import product
from pathlib import Path

import numpy as np
import torch

from trivision.colorize import compose, network_outputs
from trivision.config import RUN_ONLY, set_flags, to_dict
from trivision.data.images import decode_image
from trivision.data.lab import ab_bins
from trivision.data.loading import load_images
from trivision.data.splits import read_split, shares
from trivision.engine.checkpoint import load_checkpoint, load_weights, save_weights
from trivision.engine.report import (
    param_counts,
    params_table,
    read_history,
    threads_used,
    training_seconds,
)
from trivision.evaluate import run_test_split
from trivision.inference import LoadedModel, load_model
from trivision.models import create_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks import get_task
from trivision.tasks.colorize import (
    MIN_COLOURFULNESS_RATIO,
    ColorizeTask,
    colourfulness,
    meets_targets,
    psnr,
    rebalancing_weights,
    scores,
)
from shipping import trained_on, training_chain  # scripts/shipping.py

PRIOR_CORRECTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURES = (0.2, 0.38, 0.6, 1.0)
NETWORKS = {"koala": "the lab's network, `koala`",
            "koala-spatial": "`koala-spatial`: the lab's network, `koala`, whose fusion layer\nalso takes the "
                             "classifier's last feature map of the grey photo, upsampled to the encoder's grid",
            "koala-pyramid": "`koala-pyramid`: the lab's network, `koala`, whose fusion layer\nalso takes the "
                             "classifier's feature maps of the grey photo at every resolution from 1/8 of its "
                             "size down, resized to the encoder's grid"}
HEADER = ("| | photos | PSNR (dB) | grey PSNR (dB) | PSNR - grey (± s.e.) | colourfulness ratio |\n"
          "|---|---:|---:|---:|---:|---:|")


def train_command(cfg: dict) -> str:
    """The command that trains this run again: its data, seed and starting weights as flags, then every other
    setting that differs from the task's defaults."""
    default = to_dict(ColorizeTask().default_config())
    flags = [f"--data {cfg['data']}", f"--seed {cfg['seed']}"] + ([f"--init {cfg['init']}"] if cfg.get("init") else [])
    flags += [f"--model {cfg['model']}"] if cfg["model"] != default["model"] else []
    flags += set_flags(cfg, default, RUN_ONLY | {"seed", "init", "model"})
    return "trivision train colorize " + " ".join(flags)


def row(label: str, r: dict) -> str:
    return (f"| {label} | {r['n']} | {r['psnr']:.2f} | {r['psnr_grey']:.2f} | {r['psnr'] - r['psnr_grey']:+.2f} "
            f"± {r['psnr_over_grey_se']:.2f} "
            f"| {r['colourfulness_ratio']:.2f} |")


def checkpoint_model(run_dir: Path, which: str, meta: dict, bin_weights: Callable[[], torch.Tensor]) -> LoadedModel:
    model = create_model(meta["model"], loss="classify", backbone=meta["backbone"], pretrained=False)
    state = load_checkpoint(run_dir / "checkpoints" / f"{which}.pt")["model"]
    if "bin_weights" not in state:  # checkpoints from before training stored them with the model
        state["bin_weights"] = bin_weights()
    state.update(prior_correction=model.prior_correction, temperature=model.temperature)
    model.load_state_dict(state)
    return LoadedModel(model.eval(), meta)


def decoded_scores(loaded: LoadedModel, photos: list[np.ndarray], outputs: list[torch.Tensor],
                   colour_orig: list[float]) -> dict:
    """The scores of `photos` colorized from the network's `outputs` by the model's current decoding."""
    return colorized_scores([compose(loaded, rgb, out) for rgb, out in zip(photos, outputs)], colour_orig)


def colorized_scores(done: list, colour_orig: list[float]) -> dict:
    """The scores of colorized photos (colorize.Colorized), given their originals' colourfulness."""
    return scores([psnr(d.rgb, d.original) for d in done], [psnr(d.grey, d.original) for d in done],
                  [colourfulness(d.rgb) for d in done], colour_orig)


def sweep(loaded: LoadedModel, photos: list[np.ndarray]) -> list[tuple[float, float, dict]]:
    """Scores of every (prior correction, temperature) on `photos`; the network runs once per photo."""
    outputs = [network_outputs(loaded, rgb) for rgb in photos]
    colour_orig = [colourfulness(rgb) for rgb in photos]
    results = []
    for a, t in product(PRIOR_CORRECTIONS, TEMPERATURES):
        loaded.model.prior_correction.fill_(a)
        loaded.model.temperature.fill_(t)
        results.append((a, t, decoded_scores(loaded, photos, outputs, colour_orig)))
    return results


def choose(trials: list[tuple], margin_db: float) -> tuple[tuple, bool]:
    """The most colourful trial beating grey by more than margin_db, or the highest-PSNR one when none does;
    and whether one did."""
    beating = [tr for tr in trials if tr[-1]["psnr"] - tr[-1]["psnr_grey"] > margin_db]
    if beating:
        return max(beating, key=lambda tr: tr[-1]["colourfulness_ratio"]), True
    return max(trials, key=lambda tr: tr[-1]["psnr"]), False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("run")
    ap.add_argument("--lab", help="a run folder of configs/colorize-lab.toml, scored beside the shipped model")
    ap.add_argument("--choose-only", action="store_true",
                    help="print the validation sweep and the choice, then stop (no shipping, no test photos)")
    ap.add_argument("--margin-db", type=float, default=0.0,
                    help="the PSNR over grey, on validation, a choice must beat (default 0)")
    ap.add_argument("--min-ratio", type=float, default=0.0,
                    help="ship only if the choice beat the margin at this colourfulness ratio or more (default 0)")
    args = ap.parse_args()
    run_dir = Path(args.run)
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    history = read_history(run_dir / "history.csv")
    minutes = training_seconds(history) / 60
    _, meta = load_weights(run_dir / "model.safetensors")

    train = run_test_split(run_dir, "colorize", "train")
    n_photos = len(read_split(run_dir / "split.csv"))

    @cache
    def bin_weights() -> torch.Tensor:
        """The rebalancing weights, as training computed them from the training split."""
        images, _, _ = load_images(train, range(len(train)), cfg["image_size"], desc="rebalancing weights")
        return rebalancing_weights(images, ab_bins())

    val = run_test_split(run_dir, "colorize", "val")
    val_photos = [decode_image(val.source(i)) for i in range(len(val))]

    trials = []
    for which in ("best", "last"):
        loaded = checkpoint_model(run_dir, which, meta, bin_weights)
        for a, t, r in sweep(loaded, val_photos):
            trials.append((which, a, t, r))
            print(row(f"{which}, correction {a:g}, T {t:g}", r), flush=True)
    (which, a, t, chosen), beating = choose(trials, args.margin_db)
    print(f"chosen: {which} checkpoint, prior correction {a:g}, temperature {t:g}: "
          f"{chosen['psnr'] - chosen['psnr_grey']:+.2f} ± {chosen['psnr_over_grey_se']:.2f} dB over grey, colourfulness ratio {chosen['colourfulness_ratio']:.2f}"
          + ("" if beating else f" (NOTHING beats grey by {args.margin_db:g} dB on validation: the highest PSNR)"))
    if args.choose_only:
        return
    if args.min_ratio and (not beating or round(chosen["colourfulness_ratio"], 2) < args.min_ratio):
        print(f"not shipped: the choice does not beat grey by {args.margin_db:g} dB at a colourfulness ratio of "
              f"{args.min_ratio:g} or more on validation (--min-ratio); the test photos were not read")
        return

    chain, chain_start = training_chain(cfg, run_dir, train_command)  # before the weights and card it may name are replaced
    loaded = checkpoint_model(run_dir, which, meta, bin_weights)
    loaded.model.prior_correction.fill_(a)
    loaded.model.temperature.fill_(t)
    save_weights(WEIGHTS_DIR / f"{args.name}.safetensors", loaded.model, meta)
    test = run_test_split(run_dir, "colorize")
    task = get_task("colorize")
    result = task.evaluate(load_model(args.name), test)
    lab_row = ""
    if args.lab:
        lab = task.evaluate(load_model(str(Path(args.lab) / "model.safetensors")), test)
        lab_row = "\n" + row(f"lab reproduction ({Path(args.lab).name}, mse)", lab)
    met = meets_targets(result)
    chosen_rows = [row(f"{w}, correction {x:g}, T {y:g}" + (" **(chosen)**" if (w, x, y) == (which, a, t) else ""), r)
                   for w, x, y, r in trials]
    phase = cfg["phases"][0]
    network = NETWORKS[meta["model"]]
    card = f"""# {args.name}

Automatic colorization after Deep Koalarization ({network}): the L channel of a photo in,
its a*b* out; an encoder, a fusion layer that tiles a frozen ImageNet classifier's ({cfg['backbone']}) 1000
class probabilities over the encoder's grid, and a decoder. Objective: classification over 261 quantised a*b*
bins with Zhang et al.'s class rebalancing, instead of the lab's mean squared error, which washes colours
out to sepia. Decoding: prior correction {a:g}, annealed-mean temperature {t:g}, chosen on the validation
photos (below). Any photo size: colorized at 256x256, a*b* upsampled and joined to the photo's own L.

{params_table([(args.name, param_counts(loaded.model))])}
## Training
- Data: `{Path(cfg['data']).name}` ({n_photos} colour photos), split {shares(cfg['val_fraction'], cfg['test_fraction'])}
  at random, seed {cfg['seed']}.
- {phase['epochs']} epochs, Adam at {phase['lr']:g} with cosine decay, batch {cfg['batch_size']}; each step sees a random
  {cfg['augment']['crop']}x{cfg['augment']['crop']} window of the 256x256 photo (zoomed in up to 1.33x, flipped half the time).
  Shipped: the `{which}` checkpoint.
- Commands:{chain_start}

{chr(10).join("      " + c for c in chain)}
      python scripts/ship_colorize.py {args.name} {run_dir}{f' --margin-db {args.margin_db:g}' if args.margin_db else ''}{f' --min-ratio {args.min_ratio:g}' if args.min_ratio else ''}{' --lab LAB_RUN' if args.lab else ''}

Training {'this last run ' if cfg.get('init') else ''}took {minutes:.0f} min on {trained_on([run_dir])} ({threads_used(history, cfg['threads'] or 'all')} thread(s)), {date.today()}.

## Results on held-out test photos (each at its own size)

{HEADER}
{row(args.name, result)}{lab_row}

Targets: PSNR above the grey baseline (a*b* = 0) and a colourfulness ratio (Hasler and Süsstrunk's
colourfulness of the outputs over that of the originals) of at least {MIN_COLOURFULNESS_RATIO:g}: **{'met' if met else 'not met'}**.
Rerun with `trivision evaluate colorize --run RUN --model {args.name}`.

## Choosing the checkpoint and the decoding (validation photos)

The rule: the most colourful setting whose PSNR beats grey's by more than {args.margin_db:g} dB{'' if beating else ' (none did: the highest PSNR)'}.

{HEADER}
{chr(10).join(chosen_rows)}

## Terms and limits
ImageNet is for non-commercial research and education; these weights carry the same terms. Trained on
{len(train)} photos: it knows skies, foliage, water and skin far better than the colours of man-made
objects, which are often ambiguous anyway. PSNR rewards the cautious, colourfulness the bold: the two
numbers together, not either alone, say whether it works.
"""
    (WEIGHTS_DIR / f"{args.name}.md").write_text(card)
    print(f"shipped {args.name}: psnr {result['psnr']:.2f} (grey {result['psnr_grey']:.2f}), "
          f"colourfulness ratio {result['colourfulness_ratio']:.2f}; targets {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
