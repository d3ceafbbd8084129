"""Class-id specs: '1-20', '1,5,9-12', 'all' -> sorted class ids; and back to the shortest spec."""
from __future__ import annotations

from trivision.errors import TrivisionError


def parse_class_spec(spec: str) -> list[int] | None:
    """Sorted, distinct class ids of `spec`; None for 'all' (or an empty spec). Errors name the bad part."""
    spec = spec.strip()
    if spec.lower() in ("", "all"):
        return None
    ids: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise TrivisionError(f"--classes '{spec}': '{part}' is not a class id or a range like 1-20") from None
        if first < 1 or last < first:
            raise TrivisionError(f"--classes '{spec}': '{part}' is not a range of class ids (they start at 1)")
        ids.update(range(first, last + 1))
    return sorted(ids)


def format_class_spec(ids) -> str:
    """The shortest spec of `ids`: [1, 2, 3, 7] -> '1-3,7'."""
    ids = sorted(set(ids))
    parts, start = [], None
    for i, v in enumerate(ids):
        if start is None:
            start = v
        if i + 1 == len(ids) or ids[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)


def class_list(classes: list[str]) -> str:
    """Classes for a message: '1-20' for class ids, 'female, male' for names."""
    if all(c.isdigit() for c in classes):
        return format_class_spec(int(c) for c in classes)
    return ", ".join(classes)
