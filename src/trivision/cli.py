"""The command line: `trivision <command> <task> ...`. Tables for people; the last stdout line is JSON."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from trivision.errors import TrivisionError


def _print_json(obj) -> None:
    print(json.dumps(obj, default=_jsonable), flush=True)


def _jsonable(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return str(v)


# --- train -------------------------------------------------------------------------------------

def train_config(args):
    """The resolved training config of `trivision train` ARGS: task defaults, then --config, flags, --set."""
    from trivision.config import apply_overrides, load_config
    from trivision.tasks import get_task

    cfg = load_config(args.config, get_task(args.task).default_config())
    flag = lambda name: getattr(args, name, None)  # noqa: E731  (`split` takes only some of train's flags)
    for key in ("model", "data", "split", "image_size", "batch_size", "seed", "output_dir", "threads", "limit",
                "steps_per_epoch", "classes", "backbone", "init"):
        if flag(key) is not None:
            setattr(cfg, key, flag(key))
    if flag("resume") is not None:
        cfg.resume = args.resume
    if flag("skip_bad"):
        cfg.skip_bad = True
    if flag("no_augment"):
        cfg.augment.enabled = False
    if flag("epochs") is not None or flag("lr") is not None:
        if len(cfg.phases) != 1:
            raise TrivisionError(f"--epochs/--lr set a single phase, and this run has {len(cfg.phases)}: "
                                 "use --set phases.0.epochs=N (phases.1.lr=X, ...) or a config file")
        cfg.phases[0].epochs = args.epochs if args.epochs is not None else cfg.phases[0].epochs
        cfg.phases[0].lr = args.lr if args.lr is not None else cfg.phases[0].lr
    return apply_overrides(cfg, args.set or [])


def cmd_train(args) -> None:
    from trivision.tasks import get_task
    from trivision.train import train

    task = get_task(args.task)
    cfg = train_config(args)
    summary = train(task, cfg, log=lambda s: print(s, flush=True))
    if int(os.environ.get("RANK", "0")) != 0 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return  # under torchrun, rank 0 alone reports
    if "test" in summary:
        _print_metrics_table(summary["test"])
    _print_json(summary)


def cmd_split(args) -> None:
    from trivision.tasks import get_task
    from trivision.train import save_split_only

    cfg = train_config(args)
    counts = save_split_only(get_task(args.task), cfg)
    _print_metrics_table(counts)
    _print_json({"run_dir": cfg.output_dir, **counts})


# --- evaluate ----------------------------------------------------------------------------------

def cmd_evaluate(args) -> None:
    from trivision.evaluate import evaluate
    if args.split != "test" and not args.run:
        raise TrivisionError(f"--split {args.split} is one of a run's saved splits: add --run RUN")
    decoding = {k: v for k, v in (("prior_correction", args.prior_correction), ("temperature", args.temperature))
                if v is not None}
    result = evaluate(args.task, data=args.data, run=args.run, model=args.weights or args.model,
                      framing=args.framing, skip_bad=args.skip_bad, limit=args.limit, tta=args.tta,
                      which=args.split, bias=parse_logit_bias(args.logit_bias), size=args.image_size,
                      decoding=decoding)
    _print_metrics_table(result, percent=args.task != "colorize")  # colorize: dB, colourfulness and a ratio
    _print_json(result)


def parse_logit_bias(pairs: list[str] | None) -> dict[str, float] | None:
    """--logit-bias CLASS=B ... -> {CLASS: B}; None (the weights' own) when not given."""
    if pairs is None:
        return None
    bias = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            bias[name.strip()] = float(value)
        except ValueError:
            raise TrivisionError(f"--logit-bias {pair}: give CLASS=NUMBER, e.g. female=0.5") from None
    return bias


def _print_metrics_table(metrics: dict, percent: bool = True) -> None:
    """One metric a line; with `percent`, fractions (accuracies) are shown as percentages."""
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        if isinstance(v, float):
            as_percent = percent and 0 <= v <= 1 and k != "loss"
            shown = "n/a" if math.isnan(v) else (f"{100 * v:.2f}%" if as_percent else f"{v:.4f}")
        else:
            shown = str(v)
        print(f"{k:<{width}}  {shown}")


# --- predict -----------------------------------------------------------------------------------

def cmd_predict(args) -> None:
    from trivision.predict import predict_files
    model = _runtime_model(args) or args.weights or args.model
    _print_answers(predict_files(args.task, args.images, model=model, framing=args.framing, tta=args.tta,
                                 size=args.image_size))


def _print_answers(lines) -> None:
    """One JSON line per answer; a photo that failed also gets an error line, and the exit status is 1."""
    failed = 0
    for line in lines:
        if "error" in line:
            failed += 1
            print(f"error: {line['error']}", file=sys.stderr)
        _print_json(line)
    if failed:
        raise SystemExit(1)


def _runtime_model(args):
    """`--runtime onnx --onnx FILE`: the exported file, loaded for onnxruntime; None for the torch runtime."""
    if getattr(args, "runtime", "torch") != "onnx":
        if getattr(args, "onnx", None):
            raise TrivisionError("--onnx FILE runs with onnxruntime: add --runtime onnx")
        return None
    if not args.onnx:
        raise TrivisionError("--runtime onnx needs --onnx FILE (write one with: trivision export MODEL "
                             "--format onnx --output FILE)")
    if args.weights or args.model:
        raise TrivisionError("--runtime onnx runs the --onnx file: drop --weights/--model")
    from trivision.export import load_onnx
    return load_onnx(args.onnx)


# --- export, serve -----------------------------------------------------------------------------

def cmd_export(args) -> None:
    from trivision.export import export_onnx
    result = export_onnx(args.model, args.output, opset=args.opset)
    print(f"wrote {result['output']} ({result['bytes'] / 1e6:.1f} MB, opset {result['opset']}); "
          f"onnxruntime vs PyTorch on a random input: max |difference| {result['max_abs_diff']:.2e}", flush=True)
    _print_json(result)


def cmd_ensemble(args) -> None:
    from trivision.ensemble import combine
    result = combine(args.members, args.output, half=args.half, tta=args.tta or "none")
    print(f"wrote {result['output']} ({result['bytes'] / 1e6:.1f} MB): {result['members']} {result['task']} "
          f"models over {result['classes']} classes, averaging their class probabilities", flush=True)
    _print_json(result)


def cmd_subset(args) -> None:
    from trivision.subset import restrict
    result = restrict(args.model, args.classes, args.output, tta=args.tta)
    print(f"wrote {result['output']} ({result['bytes'] / 1e6:.1f} MB): {args.model} choosing among "
          f"{result['classes']} of its {result['from_classes']} classes", flush=True)
    _print_json(result)


def cmd_serve(args) -> None:
    from trivision.serve.app import serve
    serve(host=args.host, port=args.port, gender=args.gender_model, cars=args.cars_model,
          colorize=args.colorize_model, threads=args.threads)


# --- colorize ----------------------------------------------------------------------------------

def cmd_colorize(args) -> None:
    import torch
    from trivision.colorize import colorize_files
    if args.threads:
        torch.set_num_threads(args.threads)
    model = _runtime_model(args) or args.weights or args.model
    _print_answers(colorize_files(args.images, args.output_dir, model=model, prior_correction=args.prior_correction,
                                  temperature=args.temperature))


# --- augment-preview, params -------------------------------------------------------------------

def cmd_augment_preview(args) -> None:
    from trivision.preview import augment_preview
    out = augment_preview(args.images, args.output, size=args.image_size, copies=args.copies, seed=args.seed)
    _print_json({"output": str(out)})


def cmd_params(args) -> None:
    from trivision.engine.report import param_counts, params_table
    from trivision.models import create_model, list_models
    names = args.models or list_models()
    rows = [(n, param_counts(create_model(n, pretrained=False))) for n in names]
    print(params_table(rows), end="")
    _print_json({n: c for n, c in rows})


def _add_tta_flag(parser) -> None:
    from trivision.inference import TEST_TIME
    parser.add_argument("--tta", choices=TEST_TIME, help="test-time augmentation (hflip: the mean over the photo and "
                        "its mirror image); default: the weights' own, chosen on validation when shipped")


def _add_size_flag(parser) -> None:
    parser.add_argument("--image-size", type=int, help="cars: the side photos are resized to; default: the weights' "
                        "own test size, chosen on validation when shipped, else their training size")


def _add_decoding_flags(parser) -> None:
    parser.add_argument("--prior-correction", type=float, metavar="A", help="colorize: 0 (bold colours, often "
                        "wrong) to 1 (calibrated: duller, safer); default: the weights' own, chosen on validation")
    parser.add_argument("--temperature", type=float, metavar="T", help="colorize: the annealed mean's temperature "
                        "(lower: bolder; Zhang et al. 0.38); default: the weights' own")


def _add_runtime_flags(parser) -> None:
    parser.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                        help="torch (default), or onnx: run the --onnx file with onnxruntime")
    parser.add_argument("--onnx", metavar="FILE", help="an ONNX file written by `trivision export`")


def build_parser() -> argparse.ArgumentParser:
    from trivision.inference import TEST_TIME
    p = argparse.ArgumentParser(prog="trivision", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model; writes a run folder")
    t.add_argument("task", choices=["gender", "cars", "colorize"])
    t.add_argument("--model")
    t.add_argument("--backbone", help="cars: the torchvision backbone (mobilenet_v2, vgg16, resnet50, ...); "
                                      "colorize: the frozen ImageNet classifier of the fusion (mobilenet_v2)")
    t.add_argument("--classes", help="cars: class ids to train on: 1-20, 1,5,9-12 or all (1-20)")
    t.add_argument("--data", help="dataset folder (labels.csv, the lab's .npy arrays, or class folders; "
                                  "colorize: any folder of colour photos)")
    t.add_argument("--split", choices=["image", "identity"])
    t.add_argument("--epochs", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--image-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--output-dir", help="the run folder (default runs/<task>-<model>-<time>)")
    t.add_argument("--config", help="TOML file of settings; flags override it")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="any setting, e.g. augment.rotation=10")
    t.add_argument("--resume", nargs="?", const="auto", help="continue from --output-dir's last checkpoint, or FILE")
    t.add_argument("--init", metavar="WEIGHTS", help="start from a trained model (run folder, .safetensors or "
                   "shipped name) and fine-tune it; a classifier for other classes starts afresh")
    t.add_argument("--threads", type=int)
    t.add_argument("--limit", type=int, help="use only the first N rows (quick runs)")
    t.add_argument("--steps-per-epoch", type=int)
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--skip-bad", action="store_true", help="skip undecodable images (counted) instead of stopping")
    t.set_defaults(func=cmd_train)

    sp = sub.add_parser("split", help="write only the split a training run would make (config.toml, split.csv), "
                                      "to evaluate shipped weights on their own held-out rows")
    sp.add_argument("task", choices=["gender", "cars", "colorize"])
    sp.add_argument("--data", required=True)
    sp.add_argument("--output-dir", required=True)
    for name in ("--model", "--classes", "--config"):
        sp.add_argument(name, help=f"as for train ({name[2:]})")
    sp.add_argument("--split", choices=["image", "identity"])
    sp.add_argument("--seed", type=int)
    sp.add_argument("--limit", type=int)
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="e.g. val_fraction=0.0, split_from=RUN")
    sp.set_defaults(func=cmd_split)

    e = sub.add_parser("evaluate", help="evaluate a model on a labelled dataset or a run's test split")
    e.add_argument("task", choices=["gender", "cars", "colorize"])
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset folder: every row is evaluated")
    src.add_argument("--run", help="run folder: its saved test split is evaluated with its weights")
    e.add_argument("--model", help="shipped model name")
    e.add_argument("--weights", help="a .safetensors file or run folder")
    e.add_argument("--framing", choices=["detect", "as-is"], default="detect", help="gender: find the face or not")
    e.add_argument("--split", choices=["test", "val", "train"], default="test",
                   help="with --run: which of its saved splits (val: to choose settings by, leaving test unread)")
    _add_tta_flag(e)
    e.add_argument("--logit-bias", nargs="+", metavar="CLASS=B", help="added to these classes' log-probabilities "
                   "before the choice (default: the weights' own; CLASS=0 for none)")
    _add_size_flag(e)
    _add_decoding_flags(e)
    e.add_argument("--limit", type=int)
    e.add_argument("--skip-bad", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="predict photos; one JSON line per face (gender) or per photo (cars)")
    pr.add_argument("task", choices=["gender", "cars"])
    pr.add_argument("images", nargs="+")
    pr.add_argument("--model", default=None)
    pr.add_argument("--weights")
    pr.add_argument("--framing", choices=["detect", "as-is"], default="detect", help="gender: find faces or not")
    _add_tta_flag(pr)
    _add_size_flag(pr)
    _add_runtime_flags(pr)
    pr.set_defaults(func=cmd_predict)

    c = sub.add_parser("colorize", help="colorize photos: writes NAME.png and NAME-compare.png per photo")
    c.add_argument("images", nargs="+")
    c.add_argument("--output-dir", required=True)
    c.add_argument("--model", help="shipped model name (colorize-koala)")
    c.add_argument("--weights", help="a .safetensors file or run folder")
    c.add_argument("--threads", type=int, help="torch CPU threads (torch's default)")
    _add_decoding_flags(c)
    _add_runtime_flags(c)
    c.set_defaults(func=cmd_colorize)

    x = sub.add_parser("export", help="export a model to ONNX (checked against PyTorch with onnxruntime)")
    x.add_argument("model", help="shipped model name, .safetensors file or run folder")
    x.add_argument("--format", choices=["onnx"], default="onnx")
    x.add_argument("--output", required=True, help="the .onnx file to write")
    x.add_argument("--opset", type=int, default=18, help="ONNX opset (18)")
    x.set_defaults(func=cmd_export)

    en = sub.add_parser("ensemble", help="combine trained classifiers of one task and class list into one model "
                                         "(the mean of their class probabilities; one forward pass per member)")
    en.add_argument("members", nargs="+", help="two or more: shipped names, .safetensors files or run folders "
                    "(an ensemble among them gives its own networks)")
    en.add_argument("--output", required=True, help="the .safetensors file to write")
    en.add_argument("--half", action="store_true", help="store the weights as float16 (half the file); "
                    "they are computed in float32")
    en.add_argument("--tta", choices=TEST_TIME, help="the ensemble's test-time augmentation (default none; "
                    "choose it on validation: scripts/choose_tta.py)")
    en.set_defaults(func=cmd_ensemble)

    sb = sub.add_parser("subset", help="a trained classifier restricted to some of its classes (it chooses "
                                       "among them only)")
    sb.add_argument("model", help="a shipped name, .safetensors file or run folder")
    sb.add_argument("--classes", required=True, help="the classes to keep: class ids (1-20, 3,7,9) or names")
    sb.add_argument("--output", required=True, help="the .safetensors file to write")
    sb.add_argument("--tta", choices=TEST_TIME, help="the result's test-time augmentation (default: the model's)")
    sb.set_defaults(func=cmd_subset)

    sv = sub.add_parser("serve", help="the web page and JSON API (FastAPI): gender, cars and colorize")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--gender-model", default="gender-cnn", help="shipped name, .safetensors file or run folder")
    sv.add_argument("--cars-model", default="cars-bcnn-20", help="shipped name, .safetensors file or run folder")
    sv.add_argument("--colorize-model", default="colorize-koala",
                    help="shipped name, .safetensors file or run folder")
    sv.add_argument("--threads", type=int, help="torch CPU threads (torch's default)")
    sv.set_defaults(func=cmd_serve)

    a = sub.add_parser("augment-preview", help="a grid of augmented copies of some photos")
    a.add_argument("images", nargs="+")
    a.add_argument("--output", default="augment-preview.png")
    a.add_argument("--image-size", type=int, default=100)
    a.add_argument("--copies", type=int, default=7)
    a.add_argument("--seed", type=int, default=0)
    a.set_defaults(func=cmd_augment_preview)

    pa = sub.add_parser("params", help="parameter table (total / trainable / non-trainable)")
    pa.add_argument("models", nargs="*")
    pa.set_defaults(func=cmd_params)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except TrivisionError as e:
        print(f"trivision: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trivision: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
