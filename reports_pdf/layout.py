"""Pure flow and pagination logic: where each element of a template page lands on paper.

A template page is a canvas: each element has a ``box`` in mm from the paper's top-left
corner. Tables, text, sections and the table of contents can *grow* past their box and run
over several physical pages. :class:`Flow` maps a *template y* (the box's ``y``) to a physical
``(page, y)``:

* Every position starts from an :class:`Anchor` ``(page, shift)``: physical y = template y +
  shift, on that page. The canvas starts with its *base* anchor (the page it starts on,
  shift 0 for a template page; the band's corner for a section band).
* When an element ends past its box (a table that ran two more pages), every element that
  starts at or below the grown element's box bottom moves with it: from that template y on,
  the anchor is ``(end page, end y - box bottom)`` -- "moves down by the growth". Elements
  beside a grown element (starting above its bottom) keep the anchor they had.
  Several growths: an element takes the furthest anchor among the growths above it
  (anchors order by page, then shift).
* An element moved by a growth that no longer fits above the content area's bottom starts
  on the next page at the area's top, and the elements below it follow it there. Elements
  at their designed place on the canvas' first page (``pinned``) are drawn where the
  designer put them, even past the bottom.
* ``page_break`` sends everything from its ``y`` on to the next page, at the area's top.

The renderer gives this module numbers only: it never draws, so it is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EPS", "Anchor", "Area", "Flow", "Slot"]

#: Positions closer than this (mm) are the same (designer snapping and float sums).
EPS = 0.01


@dataclass(frozen=True, order=True)
class Anchor:
    """Template y maps to ``y + shift`` on physical page ``page`` (1-based)."""

    page: int
    shift: float


@dataclass(frozen=True, order=True)
class Slot:
    """A physical position: page (1-based) and y in mm from the paper's top."""

    page: int
    y: float


@dataclass(frozen=True)
class Area:
    """The vertical room content may use on a physical page (between header and footer)."""

    top: float
    bottom: float

    @property
    def height(self) -> float:
        """Usable height in mm."""
        return self.bottom - self.top


class Flow:
    """Template y -> physical slot for one canvas (a template page, or one section band)."""

    def __init__(self, base: Anchor, area: Area, *, pinned: bool = True) -> None:
        self.base = base
        self.area = area
        self.pinned = pinned
        # (template y from which it applies, anchor), in the order they were found.
        self._marks: list[tuple[float, Anchor]] = []
        self._extent: Slot | None = None

    def anchor(self, y: float) -> Anchor:
        """The anchor of template ``y``: the furthest one among the growths above it."""
        best = self.base
        for start, anchor in self._marks:
            if start <= y + EPS and anchor > best:
                best = anchor
        return best

    def map(self, y: float) -> Slot:
        """Where template ``y`` lands, given the growths so far (no fitting)."""
        a = self.anchor(y)
        return Slot(a.page, y + a.shift)

    def place(self, y: float, h: float) -> Slot:
        """The slot of an element whose box starts at template ``y`` and needs ``h`` mm
        before it can break (a fixed element: its height; a flowing one: its first line).

        An element that was moved (by a growth or a page break, or anywhere in a band) and
        does not fit above the bottom starts the next page; the elements below follow it.
        """
        a = self.anchor(y)
        top = y + a.shift
        moved = not self.pinned or a != self.base
        if moved and top + h > self.area.bottom + EPS and top > self.area.top + EPS:
            a = Anchor(a.page + 1, self.area.top - y)
            self._marks.append((y, a))
            top = self.area.top
        return Slot(a.page, top)

    def grew(self, bottom: float, end: Slot) -> None:
        """An element whose box ends at template ``bottom`` really ended at ``end``: elements
        starting at or below ``bottom`` move by the growth (a shorter element moves nothing)."""
        a = Anchor(end.page, end.y - bottom)
        if a > self.anchor(bottom):
            self._marks.append((bottom, a))

    def page_break(self, y: float) -> None:
        """Everything from template ``y`` on goes to the next page, at the area's top."""
        a = self.anchor(y)
        self._marks.append((y, Anchor(a.page + 1, self.area.top - y)))

    def reach(self, end: Slot) -> None:
        """Note that an element of this canvas ended at ``end`` (see :attr:`extent`)."""
        if self._extent is None or end > self._extent:
            self._extent = end

    def extent(self, bottom: float) -> Slot:
        """Where the canvas ends: template ``bottom`` (its own height) after the growths, or the
        furthest end of its elements if that is further."""
        end = self.map(bottom)
        return end if self._extent is None or end > self._extent else self._extent

    @property
    def last_page(self) -> int:
        """The furthest page this canvas has reached so far."""
        return max([self.base.page, *(a.page for _, a in self._marks)])
