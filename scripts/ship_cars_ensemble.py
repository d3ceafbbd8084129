"""Ship an ensemble of trained cars models (`trivision ensemble`) as one model, with its model card.

    python scripts/ship_cars_ensemble.py NAME RUN MEMBER MEMBER [...]

MEMBER: a run folder, the name of weights shipped now (e.g. the NAME being replaced), or NAME@COMMIT (the weights
shipped as NAME at that commit). RUN: a run folder whose saved split every member was trained with; its validation
split chooses the test-time augmentation, then its test split is read. The weights are stored as float16 (`--half`). Every number in the card is
measured here, or comes from a member's own run (history, machine) or its card at the commit named.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from datetime import date
from pathlib import Path
from typing import NamedTuple

from trivision.engine.checkpoint import load_weights, save_state
from trivision.engine.report import param_counts, params_table, read_history, threads_used, training_seconds
from trivision.ensemble import combine
from trivision.evaluate import choose_tta, evaluate
from trivision.inference import TEST_TIME, load_model
from trivision.models.registry import WEIGHTS_DIR
from ship_cars import TERMS, TTA_LINE, split_line, results_table, train_command  # scripts/ship_cars.py
from shipping import trained_on  # scripts/shipping.py


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, cwd=WEIGHTS_DIR)


class Member(NamedTuple):
    source: str           # what `trivision ensemble` is given: a run folder, or the file a shipped member is written to
    text: str             # how it was trained, for the card
    commands: list[str]   # the commands that make it
    blob: str = ""        # a shipped member: COMMIT:PATH of its weights in git


def frozen_member(spec: str) -> Member:
    """A shipped member, NAME or NAME@COMMIT (weights shipped as NAME at that commit; default: the last commit
    of NAME's weights), pinned to its commit since shipping replaces the file. A shipped ensemble brings its
    networks (`trivision ensemble` counts each once) and its card's commands for all of them."""
    name, _, commit = spec.partition("@")
    shipped = WEIGHTS_DIR / f"{name}.safetensors"
    commit = commit or git("log", "-1", "--format=%h", "--", str(shipped)).stdout.decode().strip()
    found = git("show", f"{commit}:./{name}.md") if commit else None
    if not found or found.returncode:
        sys.exit(f"{spec}: no weights shipped as {name} in git{f' at commit {commit}' if commit else ''}; a member "
                 "must be a run folder or weights in git (NAME or NAME@COMMIT)")
    frozen, blob = f"{name}-{commit}.safetensors", f"{commit}:src/trivision/weights/{shipped.name}"
    card = " ".join(found.stdout.decode().split())
    before_results = card.split("## Results")[0]
    commands = re.findall(r"(trivision train cars .*?)(?= trivision train | git show | trivision ensemble | \#\# |$)",
                          before_results)
    members = re.findall(r" \d+\. (.*?); alone, with the same test-time augmentation", before_results)
    subset_of = re.search(r" - Source: (.*?)\. - Per-phase", before_results)
    if members:  # an ensemble's card: one line per member
        trained = "an ensemble whose card lists as members " + "; ".join(
            f"({chr(97 + i)}) {m}" for i, m in enumerate(members))
    elif subset_of:  # a subset's card (ship_cars_subset.py)
        trained = f"some classes of {subset_of.group(1)}"
    else:
        took = re.search(r"Training (?:this model )?took (.*?\d{4}-\d{2}-\d{2})\.", card)
        trained = f"training took {took.group(1) if took else 'a time its card does not give'}"
    return Member(frozen, f"the weights shipped as `{name}` at commit {commit}; {trained}",
                  [c.strip() for c in commands] + [f"git show {blob} > {frozen}"], blob)


def run_member(run_dir: Path) -> Member:
    cfg = tomllib.loads((run_dir / "config.toml").read_text())
    history = read_history(run_dir / "history.csv")
    return Member(str(run_dir), f"`{run_dir}`; training took {training_seconds(history) / 60:.0f} min on "
                  f"{trained_on([run_dir])}, {threads_used(history, cfg['threads'])} thread(s) (wall time, which "
                  "includes any other work that shared the machine)", [f"{train_command(cfg)} --output-dir {run_dir}"])


def weights_file(spec: str, part: Member, tmp: str) -> str:
    """The weights to use for `part`: a run folder as it is; a shipped member's committed file, written into
    `tmp` under the name its last command gives it."""
    if not part.blob:
        return part.source
    shown = git("show", part.blob)
    if shown.returncode:
        sys.exit(f"{spec}: {shown.stderr.decode().strip()}")
    path = Path(tmp) / part.source
    path.write_bytes(shown.stdout)
    return str(path)


def card_end(name: str, commands: list[str], results: dict[str, dict], tta: str) -> str:
    """A shipped cars model's card from its commands on: the commands, the test results, the terms."""
    return f"""{chr(10).join(f"      {c}" for c in commands)}

## Results on held-out test images (`trivision evaluate cars --run RUN --model {name}`)

{results_table(results, tta)}

Measured {date.today()}.

{TERMS}"""


def main(name: str, run: str, members: list[str]) -> None:
    cfg = tomllib.loads((Path(run) / "config.toml").read_text())
    parts = [run_member(Path(m)) if Path(m).is_dir() else frozen_member(m) for m in members]
    with tempfile.TemporaryDirectory() as tmp:
        sources = [weights_file(member, part, tmp) for member, part in zip(members, parts)]
        candidate = Path(tmp) / f"{name}.safetensors"
        combine(sources, candidate, half=True)
        tta, val = choose_tta("cars", run, model=str(candidate))
        state, meta = load_weights(candidate)  # as ship_cars.py: the choice joins the metadata, the weights stay
        save_state(WEIGHTS_DIR / f"{name}.safetensors", state, {**meta, "tta": tta})
        alone = [evaluate("cars", run=run, model=s, tta=tta)["top1"] for s in sources]
    loaded = load_model(name)
    results = {t: evaluate("cars", run=run, model=name, tta=t) for t in TEST_TIME}
    member_lines = [f"{i + 1}. {part.text}; alone, with the same test-time augmentation: {100 * a:.2f}% top-1 on the "
                    "test images below" for i, (part, a) in enumerate(zip(parts, alone))]
    commands = [c for part in parts for c in part.commands]
    sources = [part.source for part in parts]
    commands.append(f"trivision ensemble {' '.join(sources)} --half --tta {tta} --output {name}.safetensors")
    result = results[tta]
    card = f"""# {name}

Fine-grained car model classifier over {len(loaded.classes)} Stanford Cars classes (class ids
{cfg['classes']}: {', '.join(loaded.class_names[:3])}, ...): an ensemble of {len(loaded.meta['members'])} bilinear CNNs
(`{'`, `'.join(m['model'] for m in loaded.meta['members'])}`), each on an ImageNet-pretrained
{loaded.meta['members'][0]['backbone']} backbone at {loaded.image_size}x{loaded.image_size}, trained apart on the
same images; it answers with the mean of their class probabilities (`trivision ensemble`), one forward pass
per member. The weights are stored as float16 and computed in float32.

{params_table([(name, param_counts(loaded.model))])}
## Training
- Data: `stanford-cars` (cropped to the car, red/blue corrected), class ids {cfg['classes']},
  {split_line(cfg)}; every member trained on this split's training images.
- Members:
{chr(10).join(f"  {line}" for line in member_lines)}
- Test-time augmentation: {TTA_LINE[tta]} (`tta = {tta}` in the weights' metadata; `--tta` overrides),
  chosen on the validation split (top-1 {', '.join(f'{t} {100 * v:.2f}%' for t, v in val.items())}).
- Commands: each member's training (a shipped member's card's commands, then its very weights as committed),
  then the ensemble of them:

{card_end(name, commands, results, tta)}"""
    (WEIGHTS_DIR / f"{name}.md").write_text(card)
    print(f"shipped {name}: top1 {result['top1']:.4f}, top5 {result['top5']:.4f}")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
