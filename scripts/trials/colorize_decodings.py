"""Score averaged colorizers and other decodings on a run's validation photos, under session 10's rule: the most
colourful decoding that beats grey by more than --margin-db must reach a colourfulness ratio of --min-ratio.

    python scripts/trials/colorize_decodings.py --photos-of RUN [--split val] --member M [--member M ...]
                                                [--tta hflip] [--decoding standard|gain|step|gate|offset|guided]
                                                [--calibrate train | --calibrate DIR:N ...]

A member is a shipped name, a weights file, or RUN:best / RUN:last (a checkpoint of a colorize run). Members'
log-probabilities over the a*b* bins are averaged (with --tta hflip, each also over the photo's mirror image), then
decoded with the first member's bins and rebalancing weights by every setting of the --decoding grid:
  standard: prior correction x temperature (scripts/ship_colorize.py's sweep);
  gain:     the same, times a chroma gain k on the decoded a*b*;
  step:     the calibrated mean m (correction 1, temperature 1) plus a step of at most r a*b* units toward a
            bolder decoding b: m + (b - m) * min(1, r / |b - m|) per pixel;
  gate:     the standard decoding times a confidence gate g = c^gamma / (the photo's mean of c^gamma), at most 2,
            where c = 1 - entropy / log(bins) of the network's distribution: chroma moves to the sure pixels;
  offset:   the standard decoding minus a constant a*b* offset per setting, the mean of (decoded - true a*b*) over
            the pixels of the --calibrate photos (the --photos-of run's train split, or a seeded random N of DIR's
            colour photos), at the network's output resolution: the least-squares correction of a colour cast;
  guided:   the standard decoding, upsampled to the photo's size, then a guided filter (He et al. 2010; kornia's
            guided_blur) with the photo's own L as the guidance, window radius r px and eps (squared L/100 units):
            colour edges follow the photo's lightness edges.
Sessions 23-25 tried these (docs/experiments.md, Colorize; rules runs/s2[345]-koala-*-rule.txt); none is in the
product.
Reads the photos of one split only (never test unless --split test is asked for).
"""
from __future__ import annotations

import argparse
import sys
from itertools import product
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import guided_blur

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ship_colorize import (PRIOR_CORRECTIONS, TEMPERATURES, checkpoint_model, colorized_scores,  # noqa: E402
                           decoded_scores, row)
from trivision.colorize import compose, network_outputs, upsampled_ab  # noqa: E402
from trivision.data.datasets import read_dataset  # noqa: E402
from trivision.data.images import decode_image, is_grey  # noqa: E402
from trivision.data.lab import photo_lab, rgb_to_lab  # noqa: E402
from trivision.data.loading import resize  # noqa: E402
from trivision.engine.checkpoint import load_weights  # noqa: E402
from trivision.errors import TrivisionError  # noqa: E402
from trivision.evaluate import run_test_split  # noqa: E402
from trivision.inference import LoadedModel, load_model  # noqa: E402
from trivision.models.koala import Koala  # noqa: E402
from trivision.tasks.colorize import colourfulness  # noqa: E402

GAINS = (1.0, 1.25, 1.5, 1.75, 2.0)
STEP_BOLD = list(product((0.0, 0.25, 0.5), (0.38, 1.0)))
STEPS = (4, 8, 12, 16, 24, 32)
GAMMAS = (0.0, 0.5, 1.0, 2.0)
GUIDED = [(0, 0.0)] + list(product((4, 8, 16), (1e-4, 1e-3, 1e-2)))  # (radius px, eps); radius 0: no filter


def member(spec: str) -> LoadedModel:
    run, _, which = spec.rpartition(":")
    if which in ("best", "last") and Path(run).is_dir():
        _, meta = load_weights(Path(run) / "model.safetensors")

        def missing():
            raise TrivisionError(f"{spec}: the checkpoint has no rebalancing weights")
        return checkpoint_model(Path(run), which, meta, missing)
    return load_model(spec)


@torch.no_grad()
def log_probs(loaded: LoadedModel, rgb, mirror: bool) -> torch.Tensor:
    out = torch.log_softmax(network_outputs(loaded, rgb), 1)
    if mirror:
        out = (out + torch.log_softmax(network_outputs(loaded, rgb[:, ::-1].copy()), 1).flip(-1)) / 2
    return out


def annealed(model: Koala, outputs: torch.Tensor, correction: float, temperature: float) -> torch.Tensor:
    """The product's decoding (Koala.to_ab) at these settings."""
    model.prior_correction.fill_(correction)
    model.temperature.fill_(temperature)
    return Koala.to_ab(model, outputs)


def confidence_gate(outputs: torch.Tensor, gamma: float, most: float = 2.0) -> torch.Tensor:
    """(N, 1, h, w): c^gamma over its mean per photo, at most `most`; c = 1 - normalised entropy of the bins."""
    logp = torch.log_softmax(outputs, 1)
    c = 1 + (logp.exp() * logp).sum(1, keepdim=True) / torch.log(torch.tensor(float(outputs.shape[1])))
    g = c.clamp_min(0) ** gamma
    return (g / g.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)).clamp(max=most)


def calibration_photos(specs: list[str], run: Path, seed: int):
    """Decoded colour photos of each --calibrate spec: 'train' (the run's train split) or 'DIR:N'."""
    for spec in specs:
        if spec == "train":
            ds = run_test_split(run, "colorize", "train")
        else:
            folder, _, n = spec.rpartition(":")
            ds = read_dataset(folder, None)
            ds = ds.subset(sorted(np.random.default_rng(seed).permutation(len(ds))[:int(n)].tolist()))
        for i in range(len(ds)):
            rgb = decode_image(ds.source(i))
            if not is_grey(rgb):
                yield rgb


@torch.no_grad()
def cast_offsets(members, photos, mirror: bool) -> dict[tuple[float, float], torch.Tensor]:
    """(correction, temperature) -> the mean (decoded - true) a*b* over the photos' pixels, shape (2,)."""
    model = members[0].model
    sums = {setting: torch.zeros(2, dtype=torch.float64) for setting in product(PRIOR_CORRECTIONS, TEMPERATURES)}
    pixels, n = 0, 0
    for rgb in photos:
        out = sum(log_probs(m, rgb, mirror) for m in members) / len(members)
        small = resize(rgb, members[0].image_size)[None].float() / 255.0
        truth = F.interpolate(rgb_to_lab(small)[:, 1:], size=out.shape[-2:], mode="area")
        for a, t in sums:
            sums[a, t] += (annealed(model, out, a, t) - truth).double().sum(dim=(0, 2, 3))
        pixels += truth[0, 0].numel()
        n += 1
    if n == 0:
        raise TrivisionError("--calibrate: no colour photos")
    print(f"offsets from {n} calibration photos", flush=True)
    return {setting: (total / pixels).float() for setting, total in sums.items()}


def decodings(kind: str, model, offsets=None):
    """(label, outputs -> a*b*) for every setting of the grid."""
    if kind == "standard":
        for a, t in product(PRIOR_CORRECTIONS, TEMPERATURES):
            yield f"correction {a:g}, T {t:g}", lambda o, a=a, t=t: annealed(model, o, a, t)
    elif kind == "gain":
        for a, t, k in product(PRIOR_CORRECTIONS, TEMPERATURES, GAINS):
            yield f"correction {a:g}, T {t:g}, gain {k:g}", lambda o, a=a, t=t, k=k: annealed(model, o, a, t) * k
    elif kind == "gate":
        for a, t, g in product(PRIOR_CORRECTIONS, TEMPERATURES, GAMMAS):
            yield (f"correction {a:g}, T {t:g}, gamma {g:g}",
                   lambda o, a=a, t=t, g=g: annealed(model, o, a, t) * confidence_gate(o, g))
    elif kind == "offset":
        for a, t in product(PRIOR_CORRECTIONS, TEMPERATURES):
            d = offsets[a, t]
            yield (f"correction {a:g}, T {t:g}, offset {d[0]:+.1f} {d[1]:+.1f}",
                   lambda o, a=a, t=t, d=d: annealed(model, o, a, t) - d[None, :, None, None])
    else:
        for (a, t), r in product(STEP_BOLD, STEPS):
            def step(o, a=a, t=t, r=r):
                m = annealed(model, o, 1.0, 1.0)
                d = annealed(model, o, a, t) - m
                return m + d * (r / d.norm(dim=1, keepdim=True).clamp_min(1e-6)).clamp(max=1.0)
            yield f"b = correction {a:g} T {t:g}, r {r:g}", step


def scored(kind: str, first: LoadedModel, photos, outs, colour_orig, offsets=None):
    """(label, scores) for every decoding of the --decoding grid."""
    if kind == "guided":
        yield from guided_rows(first, photos, outs, colour_orig)
        return
    for label, to_ab in decodings(kind, first.model, offsets):
        first.model.to_ab = to_ab  # compose decodes through it
        yield label, decoded_scores(first, photos, outs, colour_orig)


@torch.no_grad()
def guided_rows(first: LoadedModel, photos, outs, colour_orig):
    """(label, scores) for every standard setting x GUIDED filter; each setting's a*b* decoded and upsampled once."""
    model = first.model
    lights = [photo_lab(rgb)[:, :1] / 100.0 for rgb in photos]
    for a, t in product(PRIOR_CORRECTIONS, TEMPERATURES):
        full = [upsampled_ab(annealed(model, out, a, t), rgb.shape[:2]) for rgb, out in zip(photos, outs)]
        for radius, eps in GUIDED:
            done = []
            for rgb, out, light, ab in zip(photos, outs, lights, full):
                refined = ab if radius == 0 else guided_blur(light, ab, 2 * radius + 1, eps)
                model.to_ab = lambda _, refined=refined: refined  # compose's upsampling is then the identity
                done.append(compose(first, rgb, out))
            yield (f"correction {a:g}, T {t:g}, " + (f"guided r {radius} eps {eps:g}" if radius else "no filter"),
                   colorized_scores(done, colour_orig))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos-of", required=True, metavar="RUN", help="the colorize run whose split gives the photos")
    ap.add_argument("--split", default="val", choices=("val", "test", "train"))
    ap.add_argument("--member", action="append", required=True)
    ap.add_argument("--tta", default="none", choices=("none", "hflip"))
    ap.add_argument("--decoding", default="standard",
                    choices=("standard", "gain", "step", "gate", "offset", "guided"))
    ap.add_argument("--calibrate", action="append", metavar="train|DIR:N",
                    help="--decoding offset: the photos the offsets come from (never the scored split)")
    ap.add_argument("--seed", type=int, default=0, help="of --calibrate DIR:N's random sample")
    ap.add_argument("--margin-db", type=float, default=0.5)
    ap.add_argument("--min-ratio", type=float, default=0.6)
    args = ap.parse_args()
    if (args.decoding == "offset") != bool(args.calibrate):
        raise TrivisionError("--decoding offset needs --calibrate, and --calibrate is for --decoding offset only")
    if args.calibrate and args.split in args.calibrate:
        raise TrivisionError(f"--calibrate {args.split}: the offsets must not come from the photos they are scored on")
    members = [member(m) for m in args.member]
    offsets = (cast_offsets(members, calibration_photos(args.calibrate, Path(args.photos_of), args.seed),
                            args.tta == "hflip") if args.calibrate else None)
    ds = run_test_split(Path(args.photos_of), "colorize", args.split)
    photos = [decode_image(ds.source(i)) for i in range(len(ds))]
    outs = [sum(log_probs(m, rgb, args.tta == "hflip") for m in members) / len(members) for rgb in photos]
    colour_orig = [colourfulness(rgb) for rgb in photos]
    first = members[0]
    best = None
    for label, r in scored(args.decoding, first, photos, outs, colour_orig, offsets):
        print(row(label, r), flush=True)
        if r["psnr"] - r["psnr_grey"] > args.margin_db and (best is None or r["colourfulness_ratio"] > best[1]["colourfulness_ratio"]):
            best = (label, r)
    if best is None:
        print(f"nothing beats grey by {args.margin_db:g} dB: fails")
    else:
        label, r = best
        verdict = "passes" if round(r["colourfulness_ratio"], 2) >= args.min_ratio else "fails"
        print(f"most colourful beating grey by {args.margin_db:g} dB: {label}, {r['psnr'] - r['psnr_grey']:+.2f} dB at "
              f"{r['colourfulness_ratio']:.2f}: {verdict} (ratio {args.min_ratio:g} needed)")


if __name__ == "__main__":
    main()
