"""The 12-column grid: overlaps and the first free slot for a new widget (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from portal.errors import InvalidSpec
from portal.models import Widget
from portal.specs import Position

GRID_COLUMNS = 12


MAX_GRID_Y = 1000


def overlap(a: Position, b: Position) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def auto_position(existing: Iterable[Position], w: int, h: int) -> Position:
    """The first free ``w`` x ``h`` slot of the 12-column grid, scanning rows top-down, columns left-right.

    Gaps left by smaller widgets are filled first; on a full grid the widget goes below everything.
    """
    taken = list(existing)
    w = max(1, min(w, GRID_COLUMNS))
    bottom = max((p.y + p.h for p in taken), default=0)
    for y in range(bottom + 1):
        if y > MAX_GRID_Y:
            break
        for x in range(GRID_COLUMNS - w + 1):
            cand = Position(x=x, y=y, w=w, h=h)
            if not any(overlap(cand, p) for p in taken):
                return cand
    raise InvalidSpec("position: the dashboard has no free space left", field="position")


def positions_of(widgets: Iterable[Widget]) -> list[Position]:
    out = []
    for w in widgets:
        if w.position:
            try:
                out.append(Position.model_validate(w.position))
            except ValueError:
                continue  # a stored position that no longer validates does not block placing others
    return out
