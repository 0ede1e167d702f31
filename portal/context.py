"""The per-process application context: settings, engines, Redis, warehouse. Built by entry points."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Settings
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.datasources import sql_url
from portal.data.rollups import DEMO_ROLLUPS
from portal.data.tenant_sources import ExternalEngines, TenantSources
from portal.data.warehouse import Warehouse
from portal.errors import NotFound
from portal.infra.cache import QueryCache
from portal.infra.db import make_engine, make_sessionmaker, make_warehouse_engine
from portal.infra.redis_server import EmbeddedRedis, ensure_redis
from portal.models import DataSource
from portal.realtime.bus import Subscriber

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything shared by the requests and sessions of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    warehouse: Warehouse
    embedded_redis: EmbeddedRedis | None = field(default=None, repr=False)
    #: The Redis this process uses (the embedded server's, when ``REDIS_URL`` is empty).
    redis_url: str = ""
    _subscriber: Subscriber | None = field(default=None, init=False, repr=False)
    _subscriber_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def subscriber(self) -> Subscriber:
        """The process's real-time subscriber (:mod:`portal.realtime`), made on first use.

        One per process (one Redis pub/sub connection and thread, whatever the number of pages
        and clients), and only in processes that ask for it: workers and the CLI never start one.
        """
        with self._subscriber_lock:
            if self._subscriber is None:
                self._subscriber = Subscriber(self.redis_url or _url_of(self.redis))
            return self._subscriber

    def close(self) -> None:
        """Release connections and stop an embedded Redis."""
        if self._subscriber is not None:
            self._subscriber.stop()
        self.engine.dispose()
        self.warehouse.engine.dispose()
        if isinstance(self.warehouse.engines, ExternalEngines):
            self.warehouse.engines.dispose()
        self.redis.close()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()


def _url_of(redis: Redis) -> str:
    """A URL for a second connection to the Redis ``redis`` talks to (contexts built by hand)."""
    kw = redis.connection_pool.connection_kwargs
    if kw.get("path"):
        return f"unix://{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def build_context(settings: Settings, *, catalog: Catalog = DEMO_CATALOG) -> AppContext:
    """Wire engines, Redis (embedded when ``REDIS_URL`` is empty) and the warehouse."""
    settings = settings.with_secret()
    settings.home.mkdir(parents=True, exist_ok=True)
    redis_url, embedded = ensure_redis(settings)
    redis = Redis.from_url(redis_url)
    engine = make_engine(settings.metadata_url)
    wh_engine = make_warehouse_engine(settings.warehouse)
    sessions = make_sessionmaker(engine)
    warehouse = Warehouse(
        catalog,
        wh_engine,
        QueryCache(redis, settings.cache_ttl_seconds),
        settings.max_query_rows,
        timeout_seconds=settings.query_timeout_seconds,
        # The demo warehouse's pre-aggregations; another catalog declares its own (none yet).
        rollups=DEMO_ROLLUPS if catalog is DEMO_CATALOG else (),
        tenant_sources=TenantSources(sessions, redis),
        engines=ExternalEngines(functools.partial(_source_url, sessions, settings.secret_key)),
    )
    return AppContext(settings, engine, sessions, redis, warehouse, embedded, redis_url)


def _source_url(sessions: sessionmaker[Session], secret_key: str, data_source_id: int) -> str:
    with sessions() as s:
        ds = s.get(DataSource, data_source_id)
        if ds is None or ds.kind != "sql":
            raise NotFound(f"data source {data_source_id} not found")
        return sql_url(ds, secret_key)
