"""Ship a trained gender model: copy its weights into the package and write its model card.

    python scripts/ship_gender.py NAME SHIPPED_RUN [OTHER_RUN ...] [--tta-from RUN ...]

SHIPPED_RUN provides the weights; every run (the shipped one first) gets a row in the card's results
table with its split protocol, epochs, training time and the exact command that made it. Every
number in the card is measured here by `trivision.evaluate` on the runs' saved test splits. The
test-time augmentation is chosen on SHIPPED_RUN's validation split, when it has one, or else on the
validation splits of the runs of the same recipe that `--tta-from` names (scripts/choose_tta.py).
"""
from __future__ import annotations

import shutil
import sys
import tomllib
from datetime import date
from pathlib import Path

from trivision.config import RUN_ONLY, set_flags, to_dict
from trivision.data.splits import read_split, shares
from trivision.engine.report import param_counts, params_table, read_history, threads_used, training_seconds
from trivision.errors import TrivisionError
from trivision.evaluate import evaluate
from trivision.inference import load_model
from trivision.models.registry import WEIGHTS_DIR
from trivision.tasks.gender import GenderTask
import choose_tta  # scripts/choose_tta.py: the test-time augmentation, chosen on validation
from shipping import trailing_list, trained_on  # scripts/shipping.py


def run_facts(run: Path) -> dict:
    cfg = tomllib.loads((run / "config.toml").read_text())
    history = read_history(run / "history.csv")
    seconds = training_seconds(history)
    result = evaluate("gender", run=str(run), framing="as-is")
    trained = date.fromtimestamp((run / "history.csv").stat().st_mtime)
    teacher = Path(cfg["teacher"]) / "history.csv" if cfg.get("teacher") else None
    teacher_minutes = training_seconds(read_history(teacher)) / 60 if teacher and teacher.exists() else None
    return {"cfg": cfg, "epochs": len(history), "minutes": seconds / 60, "teacher_minutes": teacher_minutes,
            "result": result, "trained": trained, "threads": threads_used(history, cfg["threads"])}


def training_time(facts: dict) -> str:
    """The card's training-time cell: a taught run's own minutes, then its teacher's, which it could not do without."""
    own = f"{facts['minutes']:.0f} min"
    return own if facts.get("teacher_minutes") is None else f"{own} + {facts['teacher_minutes']:.0f} min teacher"


def command(cfg: dict) -> str:
    """The command that trains this run again: every setting that differs from the task's defaults."""
    phase = cfg["phases"][0]
    flags = [f"--model {cfg['model']}", "--data ../shared/data/lfw-gender", f"--split {cfg['split']}",
             f"--epochs {phase['epochs']}", f"--lr {phase['lr']:g}", f"--seed {cfg['seed']}"]
    flags += set_flags(cfg, to_dict(GenderTask().default_config()), RUN_ONLY | {"model", "split", "seed", "phases"})
    return "trivision train gender " + " ".join(flags)


def recipe(cfg: dict) -> str:
    aug = cfg["augment"]
    zoom = "-".join(f"{z:g}" for z in aug["zoom"])
    regular = ", ".join(part for part in (
        f"weight decay {cfg['weight_decay']:g}" if cfg["weight_decay"] else "",
        f"label smoothing {cfg['label_smoothing']:g}" if cfg["label_smoothing"] else "",
        "class-balanced loss" if cfg.get("class_weight", "none") == "balanced" else "") if part)
    crop = cfg.get("frame_crop", 1.0)
    seen = "the whole LFW frame" if crop == 1 else f"the central {crop:g} of the LFW frame"
    optimizer = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[cfg["optimizer"]]
    taught = (f"; taught by the run {cfg['teacher']} (its share of the loss {cfg['distill']:g}, "
              f"temperature {cfg['distill_temperature']:g})" if cfg.get("teacher") else "")
    taught += f"; started from the weights of {cfg['init']}" if cfg.get("init") else ""
    return (f"{optimizer}{f' ({regular})' if regular else ''}, peak lr {cfg['phases'][0]['lr']:g}, "
            f"{cfg['schedule']} decay after {cfg['warmup_epochs']:g} warm-up epoch(s), batch {cfg['batch_size']}; "
            f"input {cfg['image_size']}x{cfg['image_size']}, {seen}; "
            f"augmentation shift {aug['shift']:g}, rotation {aug['rotation']:g}, zoom {zoom}"
            f"{', flip' if aug['hflip'] else ''}{beyond_the_lab(aug)}{taught}")


def beyond_the_lab(aug: dict) -> str:
    """The augmentations the lab did not use, as the card's recipe names them."""
    parts = [f"random erasing in {aug['erasing']:g} of the images" if aug.get("erasing") else "",
             f"MixUp (alpha {aug['mixup']:g})" if aug.get("mixup") else "",
             f"CutMix (alpha {aug['cutmix']:g})" if aug.get("cutmix") else ""]
    return "".join(f", {part}" for part in parts if part)


def split_line(cfg: dict) -> str:
    """How the shipped run split the images and which epoch's weights it kept."""
    val, test = cfg["val_fraction"], cfg["test_fraction"]
    kept = ("the last epoch's weights are kept" if cfg.get("keep", "best") == "last"
            else "the epoch of best validation accuracy is kept")
    if val:
        return f"{shares(val, test)}, stratified, seed {cfg['seed']}; {kept}"
    return (f"{shares(val, test)} (the lab's protocol: no validation split, so nothing is chosen on "
            f"held-out images), stratified, seed {cfg['seed']}; {kept}")


def pct(v: float) -> str:
    return f"{100 * v:.2f}%"


ARCHITECTURE = {
    "gender-cnn": "the lab's\n5-block CNN (Conv3x3-ReLU, BN, Conv3x3-ReLU, BN, MaxPool per block;\nDropout, Dense(2))",
    "gender-tiny": "the lab's\n3-block compact CNN (Conv3x3-ReLU, BN, Conv3x3-ReLU, BN, MaxPool per block;\nDropout, Dense(2))",
    "gender-mobilenet": "not one of the lab's models: MobileNetV2\npretrained on ImageNet (torchvision's IMAGENET1K_V1 weights), global average pooling, Dropout,\n"
                        "Dense(2), every layer fine-tuned (BatchNorm statistics kept from ImageNet)"}
LAB = {"gender-cnn": "The lab reported 97.92% under the image protocol after 75 epochs.",
       "gender-tiny": "The lab reported 97.80% under the image protocol after 75 epochs.",
       "gender-mobilenet": "The lab had no such model (its gender-cnn: 97.92% under the image protocol)."}

IMAGENET_TERMS = (", and they start from ImageNet-trained weights (ImageNet: non-commercial research and "
                  "education use)")

PROTOCOL = {"image": "image (lab's protocol: the same people in train and test)",
            "identity": "identity (no person in two splits)"}


def main(name: str, shipped_run: str, *other_runs: str, tta_from: list[str] | tuple = ()) -> None:
    runs = [run_facts(Path(r)) for r in (shipped_run, *other_runs)]
    shipped = runs[0]
    shutil.copyfile(Path(shipped_run) / "model.safetensors", WEIGHTS_DIR / f"{name}.safetensors")
    loaded = load_model(name)
    has_val = "val" in read_split(Path(shipped_run) / "split.csv").values()
    if has_val and tta_from:
        raise TrivisionError(f"{shipped_run} has a validation split of its own to choose on: drop --tta-from")
    rows, commands = [], []
    for i, f in enumerate(runs):
        r, cfg = f["result"], f["cfg"]
        mark = " (shipped)" if i == 0 else ""
        rows.append(f"| {PROTOCOL[cfg['split']]}{mark} | {f['epochs']} | {r['n']} | {pct(r['accuracy'])} | "
                    f"{pct(r['balanced_accuracy'])} | {pct(r['recall_female'])} | {pct(r['recall_male'])} | "
                    f"{training_time(f)} | {f['threads']} | {f['trained']} |")
        if cfg.get("teacher"):  # the teacher's own run first, into the folder the student names
            teacher_cfg = tomllib.loads((Path(cfg["teacher"]) / "config.toml").read_text())
            commands.append(f"      {command(teacher_cfg)} --output-dir {cfg['teacher']}")
        commands.append(f"      {command(cfg)}")
    machine = (f"{trained_on([Path(r) for r in (shipped_run, *other_runs)])}; a run on one thread may have shared "
               "the cores with another training, which its time includes")
    cfg = shipped["cfg"]
    size = cfg["image_size"]
    card = f"""# {name}

Face gender classifier (female / male) for LFW-framed faces, seen at {size}x{size}: {ARCHITECTURE[name]}. Photos framed otherwise are handled by `trivision predict`'s face detection,
which cuts each face as LFW frames it.

{params_table([(name, param_counts(loaded.model))])}
## Training
- Data: `lfw-gender` (Labeled Faces in the Wild, deep-funnelled, 11,903 images of 4,998 people,
  78% male), labels from the public LFW male/female name lists.
- Split: {split_line(cfg)}.
- Recipe of the shipped run: {recipe(cfg)}.
- Commands, in the order of the table below (the first made the shipped weights; a taught run follows
  its teacher's):

{chr(10).join(commands)}

## Results on held-out test images

Measured with `python bench/gender_accuracy.py RUN...` (photos as they are, as in training).

| split protocol | epochs | test images | accuracy | balanced acc. | recall female | recall male | training time | threads | trained |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
{chr(10).join(rows)}

{LAB[name]} The image
protocol puts the same person in train and test, so it can overstate accuracy on people the model
never saw: the identity row is the number to expect on new people.

Trained on {machine}. Card written {date.today()}.

## Terms and limits
LFW is a research benchmark with no stated licence, not vetted for commercial use; these weights
carry the same terms{IMAGENET_TERMS if name == "gender-mobilenet" else ""}. The labels are binary and come from name lists, not from the people
themselves: the model guesses apparent gender from a face photo and must not be used to decide
anything about a person. LFW is mostly adult public figures photographed by the press, 78% male;
expect lower accuracy on children, other photo sources and under-represented groups.
"""
    if not has_val and not tta_from:  # nothing to choose on under 80/20: the weights keep the run's own setting
        card += (f"\n## Test-time augmentation\n\nThe shipped run has no validation split to choose one on: "
                 f"the weights carry `tta = {loaded.meta.get('tta', 'none')}`; `--tta none|hflip` overrides.\n")
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    if has_val or tta_from:
        choose_tta.main(name, shipped_run, tta_from)  # writes the card's section on it (tta_from: only without val)
    print(f"shipped {name}: {WEIGHTS_DIR / (name + '.safetensors')}, card {WEIGHTS_DIR / (name + '.md')}")


if __name__ == "__main__":
    args, tta_from = trailing_list(sys.argv[1:], "--tta-from")
    if len(args) < 2 or tta_from == []:
        sys.exit(__doc__)
    main(*args, tta_from=tta_from or ())
