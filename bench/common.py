"""What every benchmark script shares: a user-facing error is one line on stderr and exit status 2; tables."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trivision.errors import TrivisionError


def run(main) -> None:
    try:
        sys.exit(main())
    except TrivisionError as e:
        print(f"{Path(sys.argv[0]).stem}: error: {e}", file=sys.stderr)
        sys.exit(2)


def markdown_table(columns: list[str], rows: list[list], align: str) -> str:
    """A markdown table; `align` has one letter per column: l(eft) or r(ight)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def target_cell(target: float | None, met: bool | None, decimals: int = 1) -> str:
    """'98.0% met', '90% MISSED', or '' where no target applies."""
    return "" if target is None else f"{100 * target:.{decimals}f}% {'met' if met else 'MISSED'}"


def run_folders(doc: str) -> list[str]:
    """The RUN... arguments of a script that reads training run folders (its docstring is the help)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    return p.parse_args().runs


def print_report(rows: list[dict], columns: list[str], align: str, cells) -> None:
    """A table for people (`cells(row)` gives a row's cells), then the rows as the last line, in JSON."""
    print(markdown_table(columns, [cells(r) for r in rows], align))
    print(json.dumps(rows))


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux's VmHWM, which, unlike getrusage's maxrss, does not
    carry the parent's peak over into a child process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise TrivisionError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")
