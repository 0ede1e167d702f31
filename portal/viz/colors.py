"""Stable label colours: a category keeps its colour when filters change, in every chart of a dashboard.

The choice: colours are a **deterministic function of the label text**, not of the order
the values arrive in. Each label prefers the palette slot its text hashes to (BLAKE2, so the
same on every process and machine); labels of one chart that want the same slot are settled in
the order of their text, the later one taking the next free slot. So "urgent" is the same
colour in every chart of every dashboard, whatever the sort, the filters or the other values,
unless two labels of the same chart collide (then only the later of the two moves, and only
while the other one is shown). Nothing is stored, so there is nothing to migrate or keep in sync
between processes.

A view that must never move a colour once shown (a long-lived dashboard session) keeps a
:class:`ColorMap`: it remembers each label's colour and gives new labels free slots, starting
from the same preferred slot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["ColorMap", "preferred_slot", "stable_colors"]


def preferred_slot(label: str, n: int) -> int:
    """The palette slot ``label`` prefers among ``n`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(label.strip().casefold().encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def stable_colors(
    keys: Iterable[str], palette: Sequence[str], pinned: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{label: colour}`` for ``keys`` (in their order), from ``palette``, stable per label text.

    ``pinned`` labels keep the colour given there; the others avoid the colours already taken
    in this chart while the palette lasts (more labels than colours: they share, by their slot).
    """
    labels = list(dict.fromkeys(str(k) for k in keys))
    n = len(palette)
    if n == 0:
        return {}
    pinned = pinned or {}
    chosen: dict[str, str] = {k: pinned[k] for k in labels if k in pinned}
    used = {palette.index(c) for c in chosen.values() if c in palette}
    for label in sorted((k for k in labels if k not in chosen), key=lambda k: (k.casefold(), k)):
        slot = preferred_slot(label, n)
        if len(used) < n:
            while slot in used:
                slot = (slot + 1) % n
        used.add(slot)
        chosen[label] = palette[slot]
    return {k: chosen[k] for k in labels}


class ColorMap:
    """A remembering :func:`stable_colors`: once a label has a colour here, it keeps it.

    Hold one per dashboard view (e.g. per session, with ``portal.viz.prepare.CATEGORY_PALETTE``)
    and pass it to every chart of it (``charts.render(..., colors=)``, ``render_result(..., colors=)``).
    """

    def __init__(self, palette: Sequence[str]) -> None:
        self.palette = tuple(palette)
        self._known: dict[str, str] = {}

    def assign(self, keys: Iterable[str], pinned: Mapping[str, str] | None = None) -> dict[str, str]:
        """Colours of ``keys``: remembered ones first, then ``pinned`` ones (e.g. a column's known
        values), new ones stable and distinct within the chart."""
        labels = list(dict.fromkeys(str(k) for k in keys))
        seeds = pinned or {}
        fixed: dict[str, str] = {}
        taken: set[str] = set()
        for k in labels:
            colour = self._known.get(k) or seeds.get(k)
            # Two remembered labels that share a colour (met in different charts) cannot both keep it here.
            if colour is not None and colour not in taken:
                fixed[k] = colour
                taken.add(colour)
        out = stable_colors(labels, self.palette, fixed)
        for k, colour in out.items():
            self._known.setdefault(k, colour)
        return out

    def __contains__(self, label: object) -> bool:
        return label in self._known
