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

from trivision.config import RUN_ONLY, set_flags, to_dict
from trivision.data.splits import read_split, shares
from trivision.engine.checkpoint import load_weights, save_state
from trivision.engine.warm_start import init_chain
from trivision.engine.report import param_counts, params_table, read_history, threads_used, training_seconds
from trivision.evaluate import choose_tta, evaluate
from trivision.inference import TEST_TIME, load_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks.cars import CarsTask
from shipping import trained_on, training_chain  # scripts/shipping.py


FLAGGED = {"model", "backbone", "classes", "image_size", "seed", "init"}
TTA_LINE = {"none": "none, each photo is classified as it is",
            "hflip": "each photo's class probabilities are the mean over the photo and its mirror image"}


TERMS = """## Terms and limits
Stanford Cars is for non-commercial research and education; these weights carry the same terms.
The classes are 2012-era US-market models photographed for the dataset; other makes, years, angles
and photo sources are out of distribution.
"""


def results_table(results: dict[str, dict], shipped: str) -> str:
    """Top-1 and top-5 on the test images with each test-time augmentation, the shipped one marked."""
    rows = [f"| {t}{' (shipped)' if t == shipped else ''} | {r['n']} | {100 * r['top1']:.2f}% | {100 * r['top5']:.2f}% |"
            for t, r in results.items()]
    return "\n".join(["| test-time augmentation | test images | top-1 | top-5 |", "|---|---:|---:|---:|", *rows])


def train_command(cfg: dict) -> str:
    """The command that trains this run again: its main settings as flags, then every other setting that
    differs from the task's defaults."""
    flags = [f"--model {cfg['model']}", f"--backbone {cfg['backbone']}", "--data ../shared/data/stanford-cars",
             f"--classes {cfg['classes']}", f"--image-size {cfg['image_size']}", f"--seed {cfg['seed']}"]
    flags += [f"--init {cfg['init']}"] if cfg.get("init") else []
    flags += set_flags(cfg, to_dict(CarsTask().default_config()), RUN_ONLY | FLAGGED)
    return "trivision train cars " + " ".join(flags)


def split_line(cfg: dict) -> str:
    val, test = cfg["val_fraction"], cfg["test_fraction"]
    percentages = shares(val, test) + ", stratified"
    if cfg.get("split_from"):  # the split of an earlier run of the chain, so no run before saw these test images
        theirs = tomllib.loads((Path(cfg["split_from"]) / "config.toml").read_text())
        return (f"the saved split of `{cfg['split_from']}` for these classes (its {percentages}, seed "
                f"{theirs['seed']}, over class ids {theirs['classes']}: the split every run with those settings "
                "saves), so the held-out images of a start trained that way stay held out")
    return f"split {percentages}, seed {cfg['seed']}"


def phases_line(cfg: dict) -> str:
    """How this run trained: the lab's two phases, or only the second (its start had the first)."""
    ran = [p for p in cfg["phases"] if p["epochs"]]
    lrs = ", then ".join(f"{p['lr']:g}" for p in ran)
    if len(ran) == 2:
        text = ("Two phases, as the lab: the backbone frozen (its features cached for "
                f"{cfg['cached_views']} augmented views), then every layer")
    else:
        text = f"One phase: {'the backbone frozen' if ran[0]['freeze_backbone'] else 'every layer'}"
    return (f"{text}; {cfg['optimizer'].capitalize()} {lrs}, {cfg['schedule']} decay; the lab's augmentation. The lab's "
            "learning rates were 1e-4, then 1e-5: in short trials the L2-normalised head barely moved at 1e-4;\n"
            "  these were chosen on the validation split.")


def main(name: str, run: str) -> None:
    run_dir = Path(run)
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    history = read_history(run_dir / "history.csv")
    minutes = training_seconds(history) / 60
    tta, val = choose_tta("cars", run)
    results = {t: evaluate("cars", run=run, tta=t) for t in TEST_TIME}
    chain, chain_start = training_chain(cfg, run_dir, train_command)  # before the weights it may name are replaced
    state, meta = load_weights(run_dir / "model.safetensors")
    save_state(WEIGHTS_DIR / f"{name}.safetensors", state, {**meta, "tta": tta})
    result = results[tta]
    loaded = load_model(name)
    earlier, first = init_chain(cfg)
    earlier_minutes = sum(training_seconds(read_history(r / "history.csv")) for r in earlier) / 60
    start = f"an ImageNet-pretrained {cfg['backbone']} backbone"
    if cfg.get("init"):
        before = [f"{earlier_minutes:.0f} min in the runs before this one"] if earlier else []
        before += ["the training of the shipped start"] if first else []
        start += (f", trained by the chain of runs below, each started from the one before "
                  f"({' plus '.join(before)})")
    val_n = list(read_split(run_dir / "split.csv").values()).count("val")
    kept = (f"the final epoch's (`keep = last`: with {val_n} validation images, the best of {len(history)} epochs "
            "on them would be chosen by noise)" if cfg.get("keep") == "last"
            else "those of the epoch with the best validation accuracy")
    per_phase = "\n".join((run_dir / f"results-{p['name']}.md").read_text().split("\n", 2)[2]
                          for p in cfg["phases"] if p["epochs"])
    card = f"""# {name}

Fine-grained car model classifier over {len(loaded.classes)} Stanford Cars classes (class ids
{cfg['classes']}: {', '.join(loaded.class_names[:3])}, ...): a bilinear CNN (`{cfg['model']}`) on
{start}, at {cfg['image_size']}x{cfg['image_size']}, one backbone pooled with itself
(the lab's two identical VGG16 streams are the same function at twice the compute).

{params_table([(name, param_counts(loaded.model))])}
## Training
- Data: `stanford-cars` (cropped to the car, red/blue corrected), class ids {cfg['classes']},
  {split_line(cfg)}.
- {phases_line(cfg)}
- Weights shipped: {kept}.
- Test-time augmentation: {TTA_LINE[tta]} (`tta = {tta}` in the weights' metadata; `--tta` overrides),
  {f"chosen on the validation split (top-1 {', '.join(f'{t} {100 * v:.2f}%' for t, v in val.items())})"
   if val else "as the run has no validation split to choose on"}.
- Commands:{chain_start}

{chr(10).join(f"      {c}" for c in chain)}

## Results on held-out test images (`trivision evaluate cars --run RUN`)

{results_table(results, tta)}

Per phase (the lab's Tables 4-5 layout; test accuracy of the weights at the end of each phase):

{per_phase}
The lab reported 77.68% (46.94% after the frozen phase) on its own 20-class set with VGG16.
Training{' this model' if cfg.get('init') else ''} took {minutes:.0f} min on {trained_on([run_dir])} ({threads_used(history, cfg['threads'])} thread(s); wall time,
which includes any other training that shared the machine), {date.today()}.

{TERMS}"""
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    print(f"shipped {name}: top1 {result['top1']:.4f}, top5 {result['top5']:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
