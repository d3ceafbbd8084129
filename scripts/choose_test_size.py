"""Choose a car model's test size (the side photos are resized to) on the validation split it was trained
with, under a rule fixed in advance; write an adopted size into the shipped weights and their card.

    python scripts/choose_test_size.py NAME RUN --sizes 288,320,352 [--min-gain 0.0075] [--ship]

A bilinear CNN pools over locations, so it takes any size; trained on zoomed views (augmentation zoom
1.0-1.2), it may see test photos better somewhat larger (FixRes, Touvron et al. 2019). RUN is a run folder
that saved NAME's split (checked as by choose_tta.py). Each size, and the training size, is scored on RUN's
validation images with NAME's own test-time augmentation; the choice is the best top-1 (ties: the smaller
size), adopted only if it gains at least --min-gain over the training size there; only then is the test split
read, once, at the choice and at the training size. With --ship, an adopted size is written into NAME's weights
(`test_size`) and a section of its card, only if its test top-1 is not below the training size's (a guard
against a loss, not a second choice).
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from choose_tta import check_same_split  # scripts/choose_tta.py
from shipping import write_choice  # scripts/shipping.py
from trivision.engine.checkpoint import load_weights
from trivision.errors import TrivisionError
from trivision.evaluate import evaluate
from trivision.models.registry import WEIGHTS_DIR

SECTION = "\n## Test size\n"


def choose(val: dict[int, float], trained: int, min_gain: float) -> tuple[int, bool]:
    """(the size with the best validation top-1, ties to the smaller; whether it is adopted)."""
    best = max(val, key=lambda s: (val[s], -s))
    return best, best != trained and val[best] - val[trained] >= min_gain


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name", help="shipped car weights, e.g. cars-bcnn-196")
    p.add_argument("run", help="a run folder that saved the split NAME was trained with")
    p.add_argument("--sizes", required=True, help="comma-separated sides to try, e.g. 288,320,352,384")
    p.add_argument("--min-gain", type=float, default=0.0075, help="validation top-1 the choice must gain")
    p.add_argument("--ship", action="store_true", help="write an adopted size into NAME's weights and card")
    args = p.parse_args(argv)
    path = WEIGHTS_DIR / f"{args.name}.safetensors"
    state, meta = load_weights(path)  # a name with no shipped weights: "PATH: weights file not found"
    if meta["task"] != "cars":
        raise TrivisionError(f"{args.name}: a {meta['task']} model; only car models (bcnn) take other sizes")
    check_same_split(meta, Path(args.run))
    trained, tta = int(meta["image_size"]), meta.get("tta", "none")
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")} | {trained})
    except ValueError:
        raise TrivisionError(f"--sizes {args.sizes}: give sides in pixels, e.g. 288,320,352") from None

    def score(size: int, which: str) -> dict:
        return evaluate("cars", run=args.run, model=str(path), which=which, size=size, tta=tta)

    val = {s: score(s, "val") for s in sizes}
    best, adopted = choose({s: r["top1"] for s, r in val.items()}, trained, args.min_gain)
    test = {s: score(s, "test") for s in sorted({trained, best})} if adopted else {}  # else left unread
    shipped = adopted and args.ship and test[best]["top1"] >= test[trained]["top1"]
    rows = "\n".join(f"| {s}{' (training size)' if s == trained else ''}{' (chosen)' if s == best else ''} | "
                     f"{100 * r['top1']:.2f}% | {100 * r['top5']:.2f}% | "
                     + (f"{100 * test[s]['top1']:.2f}% |" if s in test else "|") for s, r in val.items())
    read = (f"test top-1 ({test[trained]['n']} images, read once after the choice) |" if test
            else "test top-1 (not read) |")
    table = (f"| size | validation top-1 ({val[trained]['n']} images) | validation top-5 | {read}\n"
             f"|---:|---:|---:|---:|\n{rows}")
    verdict = "adopted" if adopted else "not adopted"
    if adopted and args.ship and not shipped:
        verdict += ", not shipped: its test top-1 is below the training size's"
    print(f"{args.name} on {args.run}, test-time augmentation {tta}:\n{table}\n\nchoice {best}: {verdict}")
    if not shipped:
        return
    section = (f"{SECTION}\nThe weights carry `test_size = {best}`: photos are resized to {best}x{best}, not the "
               f"training size {trained}x{trained}\n(`--image-size {trained}` gives the training size). Chosen on "
               f"the validation images of `{args.run}`, the split these weights\nwere trained with, by a rule fixed "
               f"before any prediction at another size: the best top-1 over the sizes below\n(ties: the smaller), "
               f"adopted only with at least {100 * args.min_gain:g} points gained over the training size, shipped "
               f"only if test\ntop-1 did not fall (`python scripts/choose_test_size.py {args.name} {args.run} "
               f"--sizes {args.sizes} --min-gain {args.min_gain:g} --ship`;\n{date.today()}; test-time "
               f"augmentation {tta}):\n\n{table}\n")
    write_choice(path, state, meta, {"test_size": best}, section)
    print(f"{args.name}: test_size = {best} written")


if __name__ == "__main__":
    try:
        main()
    except TrivisionError as e:
        sys.exit(f"error: {e}")
