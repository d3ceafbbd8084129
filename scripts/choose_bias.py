"""Choose a gender model's decision bias on a run's validation split, under a rule fixed in advance.

    python scripts/choose_bias.py RUN --class female [--tta hflip] [--min-gain 0.003] [--max-loss 0.003]
                                  [--ship NAME]

The bias b is added to the class's log-probability before the choice (`logit_bias` in the weights'
metadata; `trivision evaluate --logit-bias` tries one). Each b in -1, -0.75, ..., 2 is scored on RUN's
validation images (photos as they are) with RUN's weights; the choice is the highest balanced accuracy
(ties: the smallest |b|). It is adopted only if it gains at least --min-gain of balanced accuracy over b = 0
and loses at most --max-loss of accuracy, on validation. Then the test split is read once, with the choice
and with b = 0. With --ship NAME, an adopted bias is written into the shipped weights NAME (trained with the
same recipe) and a section of its card.
"""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from trivision.engine.checkpoint import load_weights
from trivision.evaluate import evaluate
from trivision.models.registry import WEIGHTS_DIR
from shipping import write_choice  # scripts/shipping.py

GRID = [b / 4 for b in range(-4, 9)]
SECTION = "\n## Decision bias\n"


def sweep(run: str, name: str, tta: str | None) -> dict[float, dict]:
    return {b: evaluate("gender", run=run, tta=tta, which="val", framing="as-is", bias={name: b}) for b in GRID}


def choose(val: dict[float, dict], min_gain: float, max_loss: float) -> tuple[float, bool]:
    best = max(val, key=lambda b: (val[b]["balanced_accuracy"], -abs(b)))
    gain = val[best]["balanced_accuracy"] - val[0.0]["balanced_accuracy"]
    loss = val[0.0]["accuracy"] - val[best]["accuracy"]
    return best, best != 0.0 and gain >= min_gain and loss <= max_loss


def row(label: str, r: dict, name: str) -> str:
    return (f"| {label} | {r['n']} | {100 * r['accuracy']:.2f}% | {100 * r['balanced_accuracy']:.2f}% | "
            f"{100 * r[f'recall_{name}']:.2f}% |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--class", dest="name", required=True, help="the class whose log-probability gets the bias")
    p.add_argument("--tta", help="test-time augmentation (default: the run weights' own)")
    p.add_argument("--min-gain", type=float, default=0.003)
    p.add_argument("--max-loss", type=float, default=0.003)
    p.add_argument("--ship", metavar="NAME", help="write an adopted bias into these shipped weights and their card")
    args = p.parse_args()
    val = sweep(args.run, args.name, args.tta)
    best, adopted = choose(val, args.min_gain, args.max_loss)
    test = {b: evaluate("gender", run=args.run, tta=args.tta, framing="as-is", bias={args.name: b})
            for b in sorted({0.0, best})}
    header = ["| bias | images | accuracy | balanced | recall " + args.name + " |", "|---:|---:|---:|---:|---:|"]
    table = "\n".join(header + [row(f"{b:+.2f}{' (chosen)' if b == best else ''}", r, args.name) for b, r in val.items()])
    tests = "\n".join(header + [row(f"{b:+.2f}", r, args.name) for b, r in test.items()])
    print(f"validation of {args.run}:\n{table}\n\nchoice {best:+.2f}: {'adopted' if adopted else 'not adopted'}"
          f"\n\ntest of {args.run}, read once:\n{tests}")
    if adopted and args.ship:
        path = WEIGHTS_DIR / f"{args.ship}.safetensors"
        state, meta = load_weights(path)
        section = (f"{SECTION}\nThe weights carry `logit_bias = {{{args.name}: {best:g}}}`: {best:g} is added to the "
                   f"log-probability of `{args.name}`\nbefore the choice (`trivision evaluate --logit-bias "
                   f"{args.name}=0` scores without it). Chosen on the validation\nimages of `{args.run}`, a run of "
                   f"this recipe on unseen people, by a rule fixed before it trained: the highest\nbalanced accuracy "
                   f"over biases -1..2 in steps of 0.25, adopted only with at least {100 * args.min_gain:g} points "
                   f"of balanced\naccuracy gained and at most {100 * args.max_loss:g} points of accuracy lost "
                   f"(`python scripts/choose_bias.py {args.run} --class {args.name}"
                   f"{f' --tta {args.tta}' if args.tta else ''} --ship {args.ship}`; {date.today()}).\n\n"
                   f"Validation:\n\n{table}\n\nThat run's test images, read once after the choice:\n\n{tests}\n")
        write_choice(path, state, meta, {"logit_bias": {args.name: best}}, section)
        print(f"{args.ship}: logit_bias = {{{args.name}: {best:g}}} written")


if __name__ == "__main__":
    main()
