"""Redis cache of query results, keyed by compiled statement and scope, with versioned invalidation."""

from __future__ import annotations

import hashlib
import io
import logging

import pandas as pd
import pyarrow as pa
from redis import Redis
from redis.exceptions import RedisError

from portal.infra.metrics import QUERY_CACHE

log = logging.getLogger(__name__)

#: Results larger than this are not cached (they would evict everything else).
MAX_ENTRY_BYTES = 32 * 1024 * 1024


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Arrow IPC stream bytes of a frame (typed, fast, no pickle)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`frame_to_bytes`."""
    with pa.ipc.open_stream(io.BytesIO(data)) as reader:
        return reader.read_all().to_pandas()


class QueryCache:
    """Result cache. A data version per source is part of every key, so
    :meth:`invalidate` makes old entries unreachable at once; TTL reclaims them."""

    prefix = "cbi:qc"

    def __init__(self, redis: Redis, ttl_seconds: int = 600) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    def _version(self, source: str) -> str:
        try:
            g, s = self.redis.mget(f"{self.prefix}:v:*", f"{self.prefix}:v:{source}")
        except RedisError:
            return "x"
        return f"{int(g or 0)}.{int(s or 0)}"

    def key(self, source: str, statement_key: str, scope_key: str) -> str:
        """Cache key of a compiled statement for a scope (``Scope.key``: results never cross scopes)."""
        digest = hashlib.sha256(f"{statement_key}|{scope_key}".encode()).hexdigest()[:32]
        return f"{self.prefix}:{source}:{self._version(source)}:{scope_key}:{digest}"

    def get(self, key: str) -> pd.DataFrame | None:
        """The cached frame, or ``None``. Redis trouble counts as a miss, never an error."""
        try:
            data = self.redis.get(key)
        except RedisError as exc:
            log.warning("query cache unavailable: %s", exc)
            data = None
        if data is None:
            QUERY_CACHE.labels("miss").inc()
            return None
        QUERY_CACHE.labels("hit").inc()
        return frame_from_bytes(data)  # type: ignore[arg-type]

    def set(self, key: str, frame: pd.DataFrame) -> None:
        """Store a frame under ``key`` with the TTL."""
        data = frame_to_bytes(frame)
        if len(data) > MAX_ENTRY_BYTES:
            return
        try:
            self.redis.set(key, data, ex=self.ttl)
        except RedisError as exc:
            log.warning("query cache unavailable: %s", exc)

    def invalidate(self, source: str | None = None) -> None:
        """Make cached results of ``source`` (or of every source) stale."""
        self.redis.incr(f"{self.prefix}:v:{source or '*'}")
