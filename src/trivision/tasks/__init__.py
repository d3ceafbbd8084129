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


def run_rows(task, data: str, classes: str = "", limit: int = 0):
    """The rows of dataset `data` a run uses: the task's selection (cars: its --classes), then the first
    `limit` (--limit). Training, evaluating a run's splits and checking one all take the same rows."""
    from trivision.data.datasets import read_dataset
    ds = task.select(read_dataset(data, task.label_column), classes)
    return ds.subset(range(min(limit, len(ds)))) if limit else ds
