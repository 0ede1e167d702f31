"""The real-time bus: Redis pub/sub with a capped stream per channel, one subscriber per web process.

``channels`` names channels and decides who may subscribe or publish; ``bus`` publishes,
reads a channel's recent history and runs the process's :class:`~portal.realtime.bus.Subscriber`,
which fans messages out to local listeners through bounded, coalescing queues
(``mailbox``); ``metrics`` counts what goes through.
"""

from __future__ import annotations
