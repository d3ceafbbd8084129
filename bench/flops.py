"""How close gender training and evaluation come to this machine's fp32 limit.

    python bench/flops.py --model gender-cnn [--framework trivision] [--threads N] [train_speed.py's options]
    python bench/flops.py --model gender-cnn --train-img-per-s 120 --eval-img-per-s 900   # speeds measured before

- The ceiling: fp32 torch.matmul of two --matmul-size square matrices on --threads threads, 2 n^3 floating
  point operations each, median of --matmul-repeats: what this CPU does at its very best.
- FLOPs per image: PyTorch's FlopCounterMode counts the forward pass of one training batch (convolutions
  and the dense layer; BatchNorm, ReLU, pooling and the optimizer are memory-bound and not counted), and
  the backward pass of its loss the same way; training = forward + backward. Keras runs the same
  architecture, so the same counts serve both frameworks.
- Speeds: measured here by train_speed.py's measurement (same options), unless both are given.

Achieved fraction = images/s x FLOPs per image / ceiling. Prints a table; the last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from trivision.models.registry import create_model, model_info
from trivision.tasks.gender import CLASSES, GenderTask
import common  # bench/common.py
import train_speed  # bench/train_speed.py


def matmul_gflops(size: int, threads: int, repeats: int) -> tuple[float, float]:
    """fp32 GFLOP/s of torch.matmul on two size x size matrices: (median, best) of the repeats."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.matmul(a, b)  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b, out=out)
        seconds.append(time.perf_counter() - started)
    return 2 * size ** 3 / statistics.median(seconds) / 1e9, 2 * size ** 3 / min(seconds) / 1e9


def flops_per_image(model_name: str, batch_size: int) -> dict:
    """Counted forward and training (forward + backward) FLOPs per image of one training step."""
    torch.manual_seed(0)
    side = model_info(model_name).input_size
    model = create_model(model_name, image_size=side).train()
    images = torch.rand(batch_size, 3, side, side)
    targets = torch.randint(len(CLASSES), (batch_size,))
    with FlopCounterMode(display=False) as forward:
        loss = GenderTask().loss(model(images), targets)
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    return {"forward": forward.get_total_flops() / batch_size,
            "training": (forward.get_total_flops() + backward.get_total_flops()) / batch_size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train_speed.add_arguments(p)
    p.add_argument("--train-img-per-s", type=float,
                   help="a training speed measured before, of --framework (with --eval-img-per-s)")
    p.add_argument("--eval-img-per-s", type=float, help="an evaluation speed measured before")
    p.add_argument("--matmul-size", type=int, default=2048, help="side of the square matrices (default 2048)")
    p.add_argument("--matmul-repeats", type=int, default=5)
    args = p.parse_args()
    if (args.train_img_per_s is None) != (args.eval_img_per_s is None):
        p.error("give both --train-img-per-s and --eval-img-per-s, or neither (then they are measured)")

    if args.train_img_per_s is None:
        speed = train_speed.measure(args.model, args.framework, args.images, args.batch_size, args.threads,
                                    args.repeats, args.warmup_steps, args.data, args.compile)
        source = f"measured: {args.framework}, {speed['images']} images, median of {args.repeats}"
        measured = {"train_speed": speed}
    else:
        speed = {"train_img_per_s": args.train_img_per_s, "eval_img_per_s": args.eval_img_per_s}
        source, measured = f"given for {args.framework}", {}
    ceiling, best_matmul = matmul_gflops(args.matmul_size, args.threads, args.matmul_repeats)
    counted = flops_per_image(args.model, args.batch_size)
    train_gflops = speed["train_img_per_s"] * counted["training"] / 1e9
    eval_gflops = speed["eval_img_per_s"] * counted["forward"] / 1e9
    result = {"model": args.model, "framework": args.framework,
              "threads": args.threads, "speeds": source,
              "ceiling_gflops": round(ceiling, 1), "best_matmul_gflops": round(best_matmul, 1),
              "matmul_size": args.matmul_size,
              "forward_flops_per_image": int(counted["forward"]), "train_flops_per_image": int(counted["training"]),
              "train_img_per_s": speed["train_img_per_s"], "eval_img_per_s": speed["eval_img_per_s"],
              "train_gflops": round(train_gflops, 2), "eval_gflops": round(eval_gflops, 2),
              "train_fraction_of_ceiling": round(train_gflops / ceiling, 4),
              "eval_fraction_of_ceiling": round(eval_gflops / ceiling, 4),
              # no implementation of these FLOPs at this precision trains faster than this
              "train_img_per_s_at_ceiling": round(ceiling * 1e9 / counted["training"], 1), **measured}

    print(f"{args.model}, {args.threads} threads; speeds {source}")
    print(f"ceiling: fp32 matmul {args.matmul_size}x{args.matmul_size}, median {ceiling:.1f} GFLOP/s "
          f"(best of {args.matmul_repeats}: {best_matmul:.1f}); a busy CPU lowers it, and then fractions come out high")
    print("| pass | MFLOP per image | images/s | GFLOP/s | of ceiling |")
    print("|---|---:|---:|---:|---:|")
    print(f"| training (forward + backward) | {counted['training'] / 1e6:.1f} | {speed['train_img_per_s']:.1f} | "
          f"{train_gflops:.2f} | {100 * train_gflops / ceiling:.1f}% |")
    print(f"| evaluation (forward) | {counted['forward'] / 1e6:.1f} | {speed['eval_img_per_s']:.1f} | "
          f"{eval_gflops:.2f} | {100 * eval_gflops / ceiling:.1f}% |")
    print(f"at the ceiling, training these FLOPs would reach {result['train_img_per_s_at_ceiling']:.1f} img/s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    common.run(main)
