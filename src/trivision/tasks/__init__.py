"""Tasks: what differs between gender, cars and colorize. Everything else is shared."""
from __future__ import annotations

from trivision.errors import TrivisionError

TASKS = ("gender", "cars", "colorize")


def get_task(name: str):
    if name == "gender":
        from trivision.tasks.gender import GenderTask
        return GenderTask()
    if name == "cars":
        from trivision.tasks.cars import CarsTask
        return CarsTask()
    if name == "colorize":
        from trivision.tasks.colorize import ColorizeTask
        return ColorizeTask()
    raise TrivisionError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
