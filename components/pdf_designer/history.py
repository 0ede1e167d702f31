"""Undo and redo of the designer's edits: a bounded history of immutable spec snapshots.

Pure (no Panel): the designer pushes each valid spec it shows; undo and redo move through them.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

#: Snapshots kept behind the current one (older edits are forgotten first).
DEFAULT_LIMIT = 100


class History(Generic[T]):
    """``present`` plus up to ``limit`` snapshots to undo to and the ones undone since (to redo).

    Snapshots must be immutable (frozen pydantic models): the history keeps references, not copies.
    A new edit after an undo forgets what could have been redone, as every editor does.
    """

    def __init__(self, present: T, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._present = present
        self._past: deque[T] = deque(maxlen=limit)
        self._future: list[T] = []

    @property
    def present(self) -> T:
        """The snapshot shown now."""
        return self._present

    @property
    def can_undo(self) -> bool:
        """Whether there is an earlier snapshot."""
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        """Whether an undone snapshot can be brought back."""
        return bool(self._future)

    @property
    def undo_depth(self) -> int:
        """How many undos are possible."""
        return len(self._past)

    @property
    def redo_depth(self) -> int:
        """How many redos are possible."""
        return len(self._future)

    def push(self, snapshot: T) -> bool:
        """Record an edit; False (nothing recorded) when ``snapshot`` equals the present one."""
        if snapshot == self._present:
            return False
        self._past.append(self._present)
        self._present = snapshot
        self._future.clear()
        return True

    def undo(self) -> T | None:
        """Go back one edit; the snapshot now present, or None when there is nothing to undo."""
        if not self._past:
            return None
        self._future.append(self._present)
        self._present = self._past.pop()
        return self._present

    def redo(self) -> T | None:
        """Re-apply the last undone edit; the snapshot now present, or None when there is none."""
        if not self._future:
            return None
        self._past.append(self._present)
        self._present = self._future.pop()
        return self._present

    def reset(self, present: T) -> None:
        """Start over from ``present`` (a template loaded or rolled back): nothing to undo or redo."""
        self._present = present
        self._past.clear()
        self._future.clear()
