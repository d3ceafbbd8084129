"""What the ship scripts share: the chain of training commands behind a shipped model, and the machines it ran on."""
from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

from trivision.engine.checkpoint import save_state
from trivision.engine.report import machines
from trivision.engine.warm_start import init_chain
from trivision.models.registry import WEIGHTS_DIR


def training_chain(cfg: dict, run_dir: Path, train_command: Callable[[dict], str]) -> tuple[list[str], str]:
    """The commands that make this run, earliest first, and a sentence on where the chain starts. A run
    started from a run folder (--init) follows that run's own command; one started from a shipped model
    names that model's weights in git, since shipping this one replaces them, and that model's card's commands."""
    commands, start, data = [f"{train_command(cfg)} --output-dir {run_dir}"], "", [cfg["data"]]
    runs, first = init_chain(cfg)
    for run_dir in runs:
        cfg = tomllib.loads((run_dir / "config.toml").read_text())
        commands.insert(0, f"{train_command(cfg)} --output-dir {run_dir}")
        data.append(cfg["data"])
    if len(set(data)) > 1:
        start = f" Each run starts from the one before; they learn from {', '.join(dict.fromkeys(reversed(data)))}."
    shipped = WEIGHTS_DIR / f"{first}.safetensors"
    if first and shipped.exists():
        commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(shipped)], capture_output=True,
                                text=True, cwd=WEIGHTS_DIR).stdout.strip() or "HEAD"
        frozen = f"{first}-{commit}.safetensors"
        card = shipped.with_suffix(".md").read_text() if shipped.with_suffix(".md").exists() else ""
        earlier = [line.strip() for line in card.splitlines() if line.startswith("      trivision train ")]
        commands = ([*earlier, f"git show {commit}:src/trivision/weights/{shipped.name} > {frozen}"]
                    + [c.replace(f"--init {first} ", f"--init {frozen} ", 1) for c in commands])
        start += (f" The first starts from the weights shipped as `{first}` at commit {commit} (made by the first "
                 f"command{'s' if len(earlier) > 1 else ''} below, from that model's card).")
    return commands, start


def trained_on(run_dirs: list[Path]) -> str:
    """The machines the runs trained on (each run's machine.txt), for a card: one line when they share one."""
    found = {str(r): machines(Path(r)) or ["a machine not recorded (the run predates machine.txt)"] for r in run_dirs}
    every = list(dict.fromkeys(m for ms in found.values() for m in ms))
    if len(every) == 1:
        return every[0]
    return "; ".join(f"{r}: {' then '.join(ms)}" for r, ms in found.items())


def trailing_list(args: list[str], flag: str) -> tuple[list[str], list[str] | None]:
    """A script's arguments before `flag`, and the values after it (None without the flag)."""
    if flag not in args:
        return args, None
    return args[:args.index(flag)], args[args.index(flag) + 1:]


def set_card_section(card: Path, section: str) -> None:
    """Write `section` ('\n## Heading\n...') at the end of a model card, in place of an earlier section of that
    heading; the card's other sections stay."""
    heading = section.lstrip("\n").split("\n", 1)[0]
    text = re.sub(rf"\n{re.escape(heading)}\n.*?(?=\n## |\Z)", "", card.read_text(), flags=re.S)
    card.write_text(text.rstrip("\n") + "\n" + section)


def write_choice(weights: Path, state: dict, meta: dict, setting: dict, section: str) -> None:
    """A setting chosen on validation (e.g. {"tta": "hflip"}) into shipped weights' metadata, and the section that
    records the choice into their card (the .md beside them)."""
    save_state(weights, state, {**meta, **setting})
    set_card_section(weights.with_suffix(".md"), section)
