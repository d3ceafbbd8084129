"""Ship a trained colorization model: pick its annealed-mean temperature on the run's validation photos,
put the weights in the package and write the model card.

    python scripts/ship_colorize.py NAME RUN [--lab LAB_RUN] [--temperatures 0.2,0.3,...]

The temperature T turns the per-pixel distribution over a*b* bins into one colour (Zhang et al.'s annealed
mean): low T, bolder colours and more wrong ones; high T, the mean, duller and safer. The rule, on the
validation split only: the most colourful T whose PSNR beats the grey baseline. The test split is scored
once, with the chosen T, for the card; --lab scores the lab's reproduction (a run of
configs/colorize-lab.toml) on the same test photos, for comparison.
"""
from __future__ import annotations

import argparse
import tomllib
from datetime import date
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from trivision.engine.report import (
    param_counts,
    params_table,
    read_history,
    training_seconds,
)
from trivision.evaluate import run_test_split
from trivision.inference import load_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks import get_task

TEMPERATURES = (0.2, 0.25, 0.3, 0.38, 0.5, 0.7, 1.0)


def with_temperature(weights: Path, temperature: float, target: Path) -> None:
    """Copy a koala weights file, its annealed-mean temperature set to `temperature`."""
    tensors = load_file(str(weights))
    with safe_open(str(weights), "pt") as f:
        metadata = f.metadata()
    if "ab_bins" not in tensors:
        raise SystemExit(f"{weights}: not a classification (bins) colorizer: there is no temperature to choose")
    tensors["temperature"] = torch.tensor(float(temperature))
    save_file(tensors, str(target), metadata=metadata)


def scores(weights: Path, photos) -> dict:
    return get_task("colorize").evaluate(load_model(str(weights)), photos)


def row(label: str, r: dict) -> str:
    return (f"| {label} | {r['n']} | {r['psnr']:.2f} | {r['psnr_grey']:.2f} | {r['psnr'] - r['psnr_grey']:+.2f} "
            f"| {r['colourfulness_ratio']:.2f} |")


HEADER = ("| | photos | PSNR (dB) | grey PSNR (dB) | PSNR - grey | colourfulness ratio |\n"
          "|---|---:|---:|---:|---:|---:|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("run")
    ap.add_argument("--lab", help="a run folder of configs/colorize-lab.toml, scored beside the shipped model")
    ap.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)))
    args = ap.parse_args()
    run_dir = Path(args.run)
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    minutes = training_seconds(read_history(run_dir / "history.csv")) / 60
    candidate = run_dir / "model-temperature.safetensors"

    val = run_test_split(run_dir, "colorize", "val")
    trials = []
    print(HEADER)
    for t in (float(x) for x in args.temperatures.split(",")):
        with_temperature(run_dir / "model.safetensors", t, candidate)
        r = scores(candidate, val)
        trials.append((t, r))
        print(row(f"T = {t:g}", r), flush=True)
    beating = [(t, r) for t, r in trials if r["psnr"] > r["psnr_grey"]]
    if not beating:
        raise SystemExit("no temperature beats the grey baseline on the validation photos: not shipping")
    chosen, _ = max(beating, key=lambda tr: tr[1]["colourfulness_ratio"])
    print(f"chosen T = {chosen:g} (the most colourful that beats grey on validation)")

    target = WEIGHTS_DIR / f"{args.name}.safetensors"
    with_temperature(run_dir / "model.safetensors", chosen, target)
    candidate.unlink()
    test = run_test_split(run_dir, "colorize")
    result = scores(target, test)
    lab_row = ""
    if args.lab:
        lab_row = "\n" + row(f"lab reproduction ({Path(args.lab).name}, mse)",
                             scores(Path(args.lab) / "model.safetensors", test))
    loaded = load_model(args.name)
    val_table = "\n".join([HEADER] + [row(f"T = {t:g}" + (" (chosen)" if t == chosen else ""), r) for t, r in trials])
    phase = cfg["phases"][0]
    card = f"""# {args.name}

Automatic colorization after Deep Koalarization (the lab's network, `koala`): the L channel of a photo in,
its a*b* out; an encoder, a fusion layer that tiles a frozen ImageNet classifier's ({cfg['backbone']}) 1000
class probabilities over the encoder's grid, and a decoder. Objective: classification over 261 quantised a*b*
bins with Zhang et al.'s class rebalancing, decoded by the annealed mean at T = {chosen:g} (chosen on the
validation photos; see below), instead of the lab's mean squared error, which washes colours out to sepia.
Any photo size: colorized at 256x256, a*b* upsampled and joined to the photo's own L.

{params_table([(args.name, param_counts(loaded.model))])}
## Training
- Data: `imagenet-samples` (906 colour photos, one per ImageNet class), split 80% train / 10% validation /
  10% test at random, seed {cfg['seed']}.
- {phase['epochs']} epochs, Adam at {phase['lr']:g} with cosine decay, batch {cfg['batch_size']}; each step sees a random
  {cfg['augment']['crop']}x{cfg['augment']['crop']} window of the 256x256 photo (zoomed in up to 1.33x, flipped half the time).
- Command:

      trivision train colorize --data ../shared/data/imagenet-samples --seed {cfg['seed']} --threads 1 --set warmup_epochs={cfg['warmup_epochs']:g}
      python scripts/ship_colorize.py {args.name} RUN{' --lab LAB_RUN' if args.lab else ''}

Training took {minutes:.0f} min on the project's 2-core x86-64 CPU (1 thread), torch {torch.__version__}, {date.today()}.

## Choosing the temperature (validation photos)

{val_table}

## Results on held-out test photos (`trivision evaluate colorize --run RUN`, each at its own size)

{HEADER}
{row(args.name, result)}{lab_row}

Targets: PSNR above the grey baseline (a*b* = 0) and a colourfulness ratio (Hasler and Süsstrunk's
colourfulness of the outputs over that of the originals) of at least 0.6.

## Terms and limits
ImageNet is for non-commercial research and education; these weights carry the same terms. Trained on
{len(run_test_split(run_dir, 'colorize', 'train'))} photos: it knows skies, foliage, water and skin far better than the colours of
man-made objects, which are often ambiguous anyway. PSNR rewards the cautious; colourfulness the bold: the
two numbers together, not either alone, say whether it works.
"""
    (WEIGHTS_DIR / f"{args.name}.md").write_text(card)
    print(f"shipped {args.name}: T {chosen:g}, psnr {result['psnr']:.2f} (grey {result['psnr_grey']:.2f}), "
          f"colourfulness ratio {result['colourfulness_ratio']:.2f}")


if __name__ == "__main__":
    main()
