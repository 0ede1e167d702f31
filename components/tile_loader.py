"""Loads a dashboard's tiles on a shared thread pool and hands them to the page in batches.

Each tile's job (its queries) runs on :data:`TILE_POOL`, off the session's event loop; the
page shows the results on the loop. Results that arrive while the loop is busy are shown together: one
document update, one model graph recomputation and one layout pass in the browser, instead of
one per tile (each layout pass repaints every chart already on the page). A newer request for
a tile makes older ones moot (generations); a closed tab cancels what it still has queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import panel as pn

T = TypeVar("T")

#: Tile jobs of every session of this process share these threads: the warehouse (DuckDB on
#: two cores) answers a few queries at once well, and a burst of users queues here, not there.
TILE_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tiles")


class TileLoader:
    """Runs tile jobs for one page and calls ``show(tile_id, result)`` on its event loop.

    ``doc`` is the session's Bokeh document, or None outside a browser session (tests,
    scripts): then jobs run at once, in the caller's thread.
    """

    def __init__(self, doc: Any, show: Callable[[int, Any], None]) -> None:
        self._doc, self._show = doc, show
        self._generation: dict[int, int] = {}
        self._futures: dict[int, Future[Any]] = {}
        self._pending: list[tuple[int, int, Any]] = []
        self._lock = threading.Lock()
        self._flush_due = False
        self._closed = False

    def submit(self, tile_id: int, job: Callable[[], Any]) -> None:
        """Run ``job`` for a tile; an earlier request for the same tile is dropped."""
        gen = self._generation.get(tile_id, 0) + 1
        self._generation[tile_id] = gen
        if self._doc is None:
            self._arrived(tile_id, gen, job())
            return
        previous = self._futures.get(tile_id)
        if previous is not None:
            previous.cancel()  # not started yet: its filters are already out of date
        future = TILE_POOL.submit(job)
        self._futures[tile_id] = future
        future.add_done_callback(partial(self._done, tile_id, gen))

    def close(self) -> None:
        """The browser tab is gone: its queued tiles must not hold the shared pool up for others."""
        self._closed = True
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()

    def _done(self, tile_id: int, generation: int, future: Future[Any]) -> None:
        # On a pool thread: hand the result to the session's event loop, unless it is gone.
        if future.cancelled() or self._closed:
            return
        with self._lock:
            self._pending.append((tile_id, generation, future.result()))
            if self._flush_due:
                return  # the flush already scheduled takes this one too
            self._flush_due = True
        self._doc.add_next_tick_callback(self._flush)

    def _flush(self) -> None:
        """Show every result that arrived since the last flush, in one document update."""
        with self._lock:
            arrived, self._pending, self._flush_due = self._pending, [], False
        with pn.io.hold(self._doc, freeze=True):
            for tile_id, generation, result in arrived:
                self._arrived(tile_id, generation, result)

    def _arrived(self, tile_id: int, generation: int, result: Any) -> None:
        if self._generation.get(tile_id) != generation:
            return  # a newer request for this tile is on its way (filters changed meanwhile)
        self._show(tile_id, result)
