"""Ship a trained gender model: copy its weights into the package and write its model card.

    python scripts/ship_gender.py NAME SHIPPED_RUN [OTHER_RUN ...]

SHIPPED_RUN provides the weights; every run (the shipped one first) gets a row in the card's results
table with its split protocol, epochs, training time and the exact command that made it. Every
number in the card is measured here by `trivision.evaluate` on the runs' saved test splits.
"""
from __future__ import annotations

import platform
import shutil
import sys
import tomllib
from datetime import date
from pathlib import Path

import torch

from trivision.engine.report import param_counts, params_table, read_history, training_seconds
from trivision.evaluate import evaluate
from trivision.inference import load_model
from trivision.models.registry import WEIGHTS_DIR


def run_facts(run: Path) -> dict:
    cfg = tomllib.loads((run / "config.toml").read_text())
    history = read_history(run / "history.csv")
    seconds = training_seconds(history)
    result = evaluate("gender", run=str(run), framing="as-is")
    return {"cfg": cfg, "epochs": len(history), "minutes": seconds / 60, "result": result}


def command(cfg: dict) -> str:
    phase = cfg["phases"][0]
    return (f"trivision train gender --model {cfg['model']} --data ../shared/data/lfw-gender --split {cfg['split']} "
            f"--epochs {phase['epochs']} --lr {phase['lr']} --seed {cfg['seed']} --set warmup_epochs={cfg['warmup_epochs']:g}")


def pct(v: float) -> str:
    return f"{100 * v:.2f}%"


PROTOCOL = {"image": "image (lab's protocol: the same people in train and test)",
            "identity": "identity (no person in two splits)"}


def main(name: str, shipped_run: str, *other_runs: str) -> None:
    runs = [run_facts(Path(r)) for r in (shipped_run, *other_runs)]
    shipped = runs[0]
    shutil.copyfile(Path(shipped_run) / "model.safetensors", WEIGHTS_DIR / f"{name}.safetensors")
    model = load_model(name).model
    rows, commands = [], []
    for i, f in enumerate(runs):
        r, cfg = f["result"], f["cfg"]
        mark = " (shipped)" if i == 0 else ""
        rows.append(f"| {PROTOCOL[cfg['split']]}{mark} | {f['epochs']} | {r['n']} | {pct(r['accuracy'])} | "
                    f"{pct(r['balanced_accuracy'])} | {pct(r['recall_female'])} | {pct(r['recall_male'])} | "
                    f"{f['minutes']:.0f} min |")
        commands.append(f"      {command(cfg)}")
    machine = f"{platform.machine()}, torch {torch.__version__}, 1 thread per run, two runs at a time"
    cfg = shipped["cfg"]
    card = f"""# {name}

Face gender classifier (female / male) for LFW-framed faces at 100x100: the lab's
{'5-block' if name == 'gender-cnn' else '3-block compact'} CNN (Conv3x3-ReLU, BN, Conv3x3-ReLU, BN, MaxPool per block;
Dropout, Dense(2)). Photos framed otherwise are handled by `trivision predict`'s face detection,
which cuts each face as LFW frames it.

{params_table([(name, param_counts(model))])}
## Training
- Data: `lfw-gender` (Labeled Faces in the Wild, deep-funnelled, 11,903 images of 4,998 people,
  78% male), labels from the public LFW male/female name lists.
- Split: 70% train / 10% validation (picks the best epoch) / 20% test, stratified, seed {cfg['seed']}.
- Recipe: Adam, peak lr {cfg['phases'][0]['lr']:g}, cosine decay after {cfg['warmup_epochs']:g} warm-up epoch,
  batch {cfg['batch_size']}, the lab's augmentation (shift 0.2, rotation 20, zoom 1.0-1.2, flip).
- Commands, in the order of the table below (the first made the shipped weights):

{chr(10).join(commands)}

## Results on held-out test images

Measured with `python bench/gender_accuracy.py RUN...` (photos as they are, as in training).

| split protocol | epochs | test images | accuracy | balanced acc. | recall female | recall male | training time |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

The lab reported {'97.92%' if name == 'gender-cnn' else '97.80%'} under the image protocol after 75 epochs. The image
protocol puts the same person in train and test, so it overstates accuracy on people the model
never saw: the identity row is the number to expect on new people.

Trained {date.today()} on the project's 2-core x86-64 CPU (AVX2, no GPU); {machine}.

## Terms and limits
LFW is a research benchmark with no stated licence, not vetted for commercial use; these weights
carry the same terms. The labels are binary and come from name lists, not from the people
themselves: the model guesses apparent gender from a face photo and must not be used to decide
anything about a person. LFW is mostly adult public figures photographed by the press, 78% male;
expect lower accuracy on children, other photo sources and under-represented groups.
"""
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    print(f"shipped {name}: {WEIGHTS_DIR / (name + '.safetensors')}, card {WEIGHTS_DIR / (name + '.md')}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
