"""Prometheus series of the real-time bus (exposed with the core's at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter("conductor_realtime_published_total", "Messages published on the real-time bus")
DELIVERED = Counter(
    "conductor_realtime_delivered_total", "Messages handed to a client or a page", ["transport"]
)
#: ``coalesced``: an older pending message of the same channel was replaced by a newer one (a slow
#: consumer); ``dropped``: a pending message was discarded with no newer one of its channel.
DISCARDED = Counter(
    "conductor_realtime_discarded_total", "Pending messages a full queue did not deliver", ["reason"]
)
CONNECTIONS = Gauge("conductor_realtime_connections", "Open real-time connections", ["transport"])
PUSH_SECONDS = Histogram(
    "conductor_realtime_push_seconds",
    "Time from publishing a message to handing it to a client",
    ["transport"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECONNECTS = Counter("conductor_realtime_reconnects_total", "Times the subscriber reconnected to Redis")
