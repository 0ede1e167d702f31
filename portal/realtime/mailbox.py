"""A bounded queue that coalesces by key when full: a slow consumer gets the latest value per channel.

The subscriber's Redis thread puts messages in and must never wait for a consumer (a browser
tab, a WebSocket client behind a slow link); the consumer drains what is pending when it can.
When the queue is full, pending messages of the same key collapse into the newest one
(latest value wins); only when every pending message has a different key is the oldest
dropped. Memory per consumer is bounded by ``maxlen`` whatever the publish rate.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

from portal.realtime.metrics import DISCARDED

T = TypeVar("T")


class CoalescingQueue(Generic[T]):
    """At most ``maxlen`` pending ``(key, item)`` pairs; thread-safe, never blocks."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self._items: deque[tuple[str, T]] = deque()
        self._lock = threading.Lock()
        #: Counted since creation (also exported as Prometheus series).
        self.coalesced = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, item: T) -> bool:
        """Queue ``item``; True when the queue was empty (the consumer must be woken up)."""
        with self._lock:
            was_empty = not self._items
            if len(self._items) >= self.maxlen:
                self._collapse()
                if len(self._items) >= self.maxlen:
                    self._items.popleft()
                    self.dropped += 1
                    DISCARDED.labels("dropped").inc()
            self._items.append((key, item))
            return was_empty

    def _collapse(self) -> None:
        # Each key keeps its first place in the queue and its newest item: the consumer still sees
        # channels in the order they became pending, each with its latest value.
        latest: dict[str, T] = {}
        for key, item in self._items:
            latest[key] = item
        gone = len(self._items) - len(latest)
        if gone:
            self.coalesced += gone
            DISCARDED.labels("coalesced").inc(gone)
            self._items = deque(latest.items())

    def drain(self) -> list[tuple[str, T]]:
        """Everything pending, oldest first; the queue is empty afterwards."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items
