"""Ship a trained cars model: copy its weights into the package and write its model card.

    python scripts/ship_cars.py NAME RUN

Every number in the card is measured here: `trivision.evaluate` on the run's saved test split, and
the run's own per-phase results (results-<phase>.md), history and config.
"""
from __future__ import annotations

import sys
import tomllib
from datetime import date
from pathlib import Path

import torch

from trivision.config import RUN_ONLY, set_flags, to_dict
from trivision.data.splits import read_split
from trivision.engine.checkpoint import load_weights, save_state
from trivision.engine.report import param_counts, params_table, read_history, training_seconds
from trivision.evaluate import choose_tta, evaluate
from trivision.inference import TEST_TIME, load_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks.cars import CarsTask


FLAGGED = {"model", "backbone", "classes", "image_size", "seed", "init"}
TTA_LINE = {"none": "none, each photo is classified as it is",
            "hflip": "each photo's class probabilities are the mean over the photo and its mirror image"}


def train_command(cfg: dict) -> str:
    """The command that trains this run again: its main settings as flags, then every other setting that
    differs from the task's defaults."""
    flags = [f"--model {cfg['model']}", f"--backbone {cfg['backbone']}", "--data ../shared/data/stanford-cars",
             f"--classes {cfg['classes']}", f"--image-size {cfg['image_size']}", f"--seed {cfg['seed']}"]
    flags += [f"--init {cfg['init']}"] if cfg.get("init") else []
    flags += set_flags(cfg, to_dict(CarsTask().default_config()), RUN_ONLY | FLAGGED)
    return "trivision train cars " + " ".join(flags)


def main(name: str, run: str) -> None:
    run_dir = Path(run)
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    history = read_history(run_dir / "history.csv")
    minutes = training_seconds(history) / 60
    tta, val = choose_tta("cars", run)
    state, meta = load_weights(run_dir / "model.safetensors")
    save_state(WEIGHTS_DIR / f"{name}.safetensors", state, {**meta, "tta": tta})
    results = {t: evaluate("cars", run=run, model=name, tta=t) for t in TEST_TIME}
    result = results[tta]
    loaded = load_model(name)
    command = train_command(cfg)
    start, commands = f"an ImageNet-pretrained {cfg['backbone']} backbone", f"      {command}"
    if cfg.get("init"):  # started from a run on other classes: its command first, and its time
        first = tomllib.loads((Path(cfg["init"]) / "config.toml").read_text())
        first_minutes = training_seconds(read_history(Path(cfg["init"]) / "history.csv")) / 60
        start = (f"a {cfg['backbone']} backbone (ImageNet-pretrained) and projection fine-tuned first on class ids "
                 f"{first['classes']}, none of this model's classes ({first_minutes:.0f} min, {first['threads']} thread(s))")
        commands = f"      {train_command(first)} --output-dir {cfg['init']}\n{commands}"
    val_n = list(read_split(run_dir / "split.csv").values()).count("val")
    kept = (f"the final epoch's (`keep = last`: with {val_n} validation images, the best of {len(history)} epochs "
            "on them would be chosen by noise)" if cfg.get("keep") == "last"
            else "those of the epoch with the best validation accuracy")
    per_phase = "\n".join((run_dir / f"results-{p['name']}.md").read_text().split("\n", 2)[2]
                          for p in cfg["phases"])
    card = f"""# {name}

Fine-grained car model classifier over {len(loaded.classes)} Stanford Cars classes (class ids
{cfg['classes']}: {', '.join(loaded.class_names[:3])}, ...): a bilinear CNN (`{cfg['model']}`) on
{start}, at {cfg['image_size']}x{cfg['image_size']}, one backbone pooled with itself
(the lab's two identical VGG16 streams are the same function at twice the compute).

{params_table([(name, param_counts(loaded.model))])}
## Training
- Data: `stanford-cars` (cropped to the car, red/blue corrected), class ids {cfg['classes']},
  split 70% train / 10% validation / 20% test, stratified, seed {cfg['seed']}.
- Two phases, as the lab: the backbone frozen (its features cached for 4 augmented views), then
  every layer; Adam, cosine decay; the lab's augmentation. Learning rates differ from the lab's
  (1e-4, then 1e-5): in short trials the L2-normalised head barely moved at 1e-4; these were
  chosen on the validation split.
- Weights shipped: {kept}.
- Test-time augmentation: {TTA_LINE[tta]} (`tta = {tta}` in the weights' metadata; `--tta` overrides),
  {f"chosen on the validation split (top-1 {', '.join(f'{t} {100 * v:.2f}%' for t, v in val.items())})"
   if val else "as the run has no validation split to choose on"}.
- Commands:

{commands}

## Results on held-out test images (`trivision evaluate cars --run RUN`)

| test-time augmentation | test images | top-1 | top-5 |
|---|---:|---:|---:|
{chr(10).join(f"| {t}{' (shipped)' if t == tta else ''} | {r['n']} | {100 * r['top1']:.2f}% | {100 * r['top5']:.2f}% |"
              for t, r in results.items())}

Per phase (the lab's Tables 4-5 layout; test accuracy of the weights at the end of each phase):

{per_phase}
The lab reported 77.68% (46.94% after the frozen phase) on its own 20-class set with VGG16.
Training{' this model' if cfg.get('init') else ''} took {minutes:.0f} min on the project's 2-core x86-64 CPU ({cfg['threads']} thread(s); wall time, which
includes any other training that shared the machine), torch {torch.__version__}, {date.today()}.

## Terms and limits
Stanford Cars is for non-commercial research and education; these weights carry the same terms.
The classes are 2012-era US-market models photographed for the dataset; other makes, years, angles
and photo sources are out of distribution.
"""
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    print(f"shipped {name}: top1 {result['top1']:.4f}, top5 {result['top5']:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
