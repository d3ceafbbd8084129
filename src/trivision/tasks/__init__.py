"""Tasks: what differs between gender, cars and colorize. Everything else is shared."""
from __future__ import annotations

from trivision.errors import TrivisionError

TASKS = ("gender",)


def get_task(name: str):
    if name == "gender":
        from trivision.tasks.gender import GenderTask
        return GenderTask()
    raise TrivisionError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
