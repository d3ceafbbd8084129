"""Ship a cars model restricted to some of its classes (`trivision subset`) as one model, with its model card.

    python scripts/ship_cars_subset.py NAME SOURCE RUN --classes SPEC [--min-val TOP1] [--min-test TOP1]

SOURCE: a run folder, weights shipped now (NAME) or NAME@COMMIT, as in ship_cars_ensemble.py. RUN: a run folder
with the split SOURCE was trained on; its validation images of the kept classes choose the test-time
augmentation, then its test images of those classes are read once. With --min-val (--min-test) the model ships
only if its validation (test) top-1 reaches TOP1, a rule fixed before; the test figures are printed either way.
"""
from __future__ import annotations

import argparse
import tempfile
import tomllib
from pathlib import Path

from trivision.engine.checkpoint import load_weights, save_state
from trivision.engine.report import param_counts, params_table
from trivision.evaluate import choose_tta, evaluate
from trivision.inference import TEST_TIME, load_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.subset import restrict
from ship_cars import TTA_LINE, split_line  # scripts/ship_cars.py
from ship_cars_ensemble import card_end, frozen_member, run_member, weights_file  # scripts/ship_cars_ensemble.py


def main(name: str, source: str, run: str, spec: str, min_val: float = 0.0, min_test: float = 0.0) -> bool:
    cfg = tomllib.loads((Path(run) / "config.toml").read_text())
    part = run_member(Path(source)) if Path(source).is_dir() else frozen_member(source)
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / f"{name}.safetensors"
        restrict(weights_file(source, part, tmp), spec, candidate)
        tta, val = choose_tta("cars", run, model=str(candidate))
        results = {t: evaluate("cars", run=run, model=str(candidate), tta=t) for t in TEST_TIME}
        adopted = val.get(tta, 0.0) >= min_val and results[tta]["top1"] >= min_test
        print(f"{name}: validation top-1 {100 * val.get(tta, 0.0):.2f}% with {tta} (needs {100 * min_val:.2f}%), "
              f"test top-1 {100 * results[tta]['top1']:.2f}% of {results[tta]['n']} images (needs "
              f"{100 * min_test:.2f}%): {'adopted' if adopted else 'not adopted'}")
        if not adopted:
            return False
        # as `trivision subset ... --tta` makes it, the source named as the card's command names it (not tmp's file)
        state, meta = load_weights(candidate)
        save_state(WEIGHTS_DIR / f"{name}.safetensors", state, {**meta, "tta": tta, "restricted_from": part.source})
    loaded = load_model(name)
    networks = loaded.meta.get("members") or [loaded.meta]
    commands = part.commands + [f"trivision subset {part.source} --classes {spec} --tta {tta} --output {name}.safetensors"]
    card = f"""# {name}

Fine-grained car model classifier over {len(loaded.classes)} Stanford Cars classes (class ids
{spec}: {', '.join(loaded.class_names[:3])}, ...): {part.text.split(';')[0]} (over class ids {cfg['classes']}),
restricted to these classes (`trivision subset`: the last layer keeps their rows, so it chooses among them
only; its probabilities are the full model's renormalised over them). {len(networks)} bilinear CNN(s)
(`{'`, `'.join(n['model'] for n in networks)}`) on an ImageNet-pretrained {networks[0]['backbone']} backbone at
{loaded.image_size}x{loaded.image_size}, one forward pass each: it learned from the training photos of class
ids {cfg['classes']}, these classes' among them.

{params_table([(name, param_counts(loaded.model))])}
## Training
- Data: `stanford-cars` (cropped to the car, red/blue corrected), class ids {cfg['classes']},
  {split_line(cfg)}; the test images below are this split's test images of class ids {spec}, never trained on.
- Source: {part.text}.
- Per-phase figures (the frozen backbone, then every layer) are those of the source's own runs, over all
  their classes; this model has no training of its own.
- Test-time augmentation: {TTA_LINE[tta]} (`tta = {tta}` in the weights' metadata; `--tta` overrides),
  chosen on this split's validation images of these classes (top-1 {', '.join(f'{t} {100 * v:.2f}%' for t, v in val.items())}).
- Commands: the source's training (for weights shipped before: their card's commands, then those weights as
  committed), then the subset:

{card_end(name, commands, results, tta)}"""
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    print(f"shipped {name}: top1 {results[tta]['top1']:.4f}, top5 {results[tta]['top5']:.4f}")
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("source")
    parser.add_argument("run")
    parser.add_argument("--classes", required=True)
    parser.add_argument("--min-val", type=float, default=0.0, help="the validation top-1 (0..1) needed to ship")
    parser.add_argument("--min-test", type=float, default=0.0, help="the test top-1 (0..1) needed to ship")
    args = parser.parse_args()
    main(args.name, args.source, args.run, args.classes, args.min_val, args.min_test)
