"""One training config dataclass: built-in defaults per task, a TOML file over them, flags over that."""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from trivision.data.augment import AugmentConfig
from trivision.errors import TrivisionError


@dataclass
class Phase:
    name: str = "train"
    epochs: int = 30
    lr: float = 1e-3
    freeze_backbone: bool = False


@dataclass
class TrainConfig:
    task: str = "gender"
    model: str = "gender-cnn"
    data: str = ""
    split: str = "image"              # image | identity
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_from: str = ""              # keep the saved split of this run (its folder or split.csv) for every row
                                      # it lists, e.g. a few classes of a run on many, started from it (init)
    image_size: int = 100
    frame_crop: float = 1.0           # gender: the share of the LFW frame's side the model sees, centred
    batch_size: int = 64
    optimizer: str = "adam"           # adam | adamw | sgd
    weight_decay: float = 0.0
    schedule: str = "cosine"          # constant | cosine
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    class_weight: str = "none"        # none | balanced: each class's loss weighted n / (k * its count) over the
                                      # training split, so a rarer class (LFW's women) counts as much in total
    ema: float = 0.0                  # decay of a moving average of the weights, validated and saved instead
                                      # of the raw weights (e.g. 0.999; 0: none)
    keep: str = "best"                # the weights a run ends with: best (its epoch of best validation score)
                                      # | last (its final epoch's: for a validation split too small to choose by)
    score_test: bool = True           # false: the test split stays sealed (not decoded, scored or logged), for
                                      # runs that choose a recipe; read it once later with `evaluate --run`
    init: str = ""                    # start from these weights (run folder, .safetensors, shipped name): every
                                      # tensor that fits is copied (engine/warm_start.py); '': fresh weights
    teacher: str = ""                 # a trained run folder whose outputs on each batch the model learns from
                                      # too (tasks/distill.py); it must not have trained on this run's val/test
    distill: float = 0.5              # with a teacher: its share of the loss (the rest: the labels)
    distill_temperature: float = 2.0  # with a teacher: both outputs are softened by it before matching
    teacher_tta: str = "none"         # with a teacher: hflip = it answers with the mean over the image and its mirror
    loss: str = ""                    # the objective, where a task has a choice (colorize: classify | mse)
    dropout: float = 0.5
    phases: list[Phase] = field(default_factory=lambda: [Phase()])
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    output_dir: str = ""              # the run folder; default runs/<task>-<model>-<time>
    resume: str = ""                  # '' | 'auto' (output_dir's last.pt) | a checkpoint path
    threads: int = 0                  # 0: torch's default
    channels_last: bool = True
    cpu_allocator: str = "retain"     # retain: glibc keeps freed memory for the next step instead of returning it
                                      # to the OS (engine/allocator.py; faster, higher peak memory) | system
    precision: str = "fp32"           # the training step's arithmetic: fp32 | bf16 (autocast: weights, optimizer
                                      # and loss stay fp32; evaluation is fp32). bf16 pays on GPUs and on CPUs
                                      # with AMX or AVX-512 BF16; on AVX2 alone it is slower
    steps_per_epoch: int = 0          # 0: a full pass over the training split
    time_limit: float = 0.0           # minutes: training stops at the end of the epoch that passes it (0: none)
    limit: int = 0                    # use only the first N rows of the dataset (quick runs)
    skip_bad: bool = False            # skip undecodable images, counting them, instead of stopping
    classes: str = ""                 # a subset of class ids (cars), e.g. "1-20"
    backbone: str = ""                # backbone for models that take one
    pretrained: bool = True           # start the backbone from its ImageNet weights (false: random, for tests)
    cached_views: int = 4             # a frozen-backbone phase caches the backbone's features of this many
                                      # augmented views of the training set (0: run the backbone every step)
    device: str = "auto"              # auto (cuda:LOCAL_RANK when CUDA is available, else cpu) | cpu | cuda[:N]


def _build(cls, data: dict, where: str):
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise TrivisionError(f"{where}: unknown setting '{key}' (known: {', '.join(names)})")
        if key == "phases":
            value = [_build(Phase, p, f"{where}.phases") for p in value]
        elif key == "augment":
            value = _build(AugmentConfig, value, f"{where}.augment")
            value.zoom = tuple(value.zoom)
        kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | Path | None, base: TrainConfig) -> TrainConfig:
    """Apply a TOML file over `base` (keys missing from the file keep base's values)."""
    if not path:
        return base
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TrivisionError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TrivisionError(f"{path}: not valid TOML ({e})") from None
    merged = to_dict(base)
    for key, value in data.items():
        if key == "augment" and isinstance(value, dict):
            merged["augment"].update(value)
        else:
            merged[key] = value
    return _build(TrainConfig, merged, str(path))


def apply_overrides(cfg: TrainConfig, pairs: list[str]) -> TrainConfig:
    """`key=value` pairs, dotted for nested fields (augment.rotation=10, phases.1.epochs=5: the second
    phase); values are TOML literals."""
    data = to_dict(cfg)
    for pair in pairs:
        if "=" not in pair:
            raise TrivisionError(f"--set expects key=value, got '{pair}'")
        key, raw = pair.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        target = data
        *parents, leaf = key.strip().split(".")
        for p in parents:
            if isinstance(target, list) and p.isdigit() and int(p) < len(target):
                target = target[int(p)]
            elif isinstance(target, dict) and isinstance(target.get(p), (dict, list)):
                target = target[p]
            else:
                raise TrivisionError(f"--set {key}: '{p}' is not a group of settings")
        if not isinstance(target, dict) or leaf not in target:
            raise TrivisionError(f"--set {key}: unknown setting")
        target[leaf] = value
    return _build(TrainConfig, data, "--set")


# settings about where and how a run ran, not its recipe: a model card's command leaves them out
RUN_ONLY = frozenset({"task", "data", "output_dir", "threads", "resume", "device"})


def set_flags(cfg: dict, default: dict, skip: set[str] = frozenset()) -> list[str]:
    """`--set KEY=VALUE` for every setting of `cfg` (as `to_dict` or config.toml gives it) that differs from
    `default`, `skip` aside: with them, `trivision train` turns the task's defaults into this run's recipe."""
    flags = []
    for key, value in cfg.items():
        if key in skip or key not in default:
            continue
        if key == "augment":
            flags += [f"--set augment.{k}={_literal(v)}" for k, v in value.items()
                      if _literal(v) != _literal(default[key][k])]
        elif key == "phases":
            if len(value) != len(default[key]):
                raise TrivisionError(f"{len(value)} phases where the task has {len(default[key])}: "
                                     "give them in a config file")
            flags += [f"--set phases.{i}.{k}={_literal(v)}" for i, (phase, base) in enumerate(zip(value, default[key]))
                      for k, v in phase.items() if _literal(v) != _literal(base[k])]
        elif _literal(value) != _literal(default[key]):
            flags.append(f"--set {key}={_literal(value)}")
    return flags


def _literal(value) -> str:
    """A --set value as the command line takes it (TOML, without spaces)."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: TrainConfig, path: Path) -> None:
    data = to_dict(cfg)
    data["augment"]["zoom"] = list(data["augment"]["zoom"])
    path.write_text(tomli_w.dumps(data))
