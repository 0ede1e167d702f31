"""The per-process application context: settings, engines, Redis, warehouse. Built by entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Settings
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.rollups import DEMO_ROLLUPS
from portal.data.warehouse import Warehouse
from portal.infra.cache import QueryCache
from portal.infra.db import make_engine, make_sessionmaker, make_warehouse_engine
from portal.infra.redis_server import EmbeddedRedis, ensure_redis

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

    def close(self) -> None:
        """Release connections and stop an embedded Redis."""
        self.engine.dispose()
        self.warehouse.engine.dispose()
        self.redis.close()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()


def build_context(settings: Settings, *, catalog: Catalog = DEMO_CATALOG) -> AppContext:
    """Wire engines, Redis (embedded when ``REDIS_URL`` is empty) and the warehouse."""
    settings = settings.with_secret()
    settings.home.mkdir(parents=True, exist_ok=True)
    redis_url, embedded = ensure_redis(settings)
    redis = Redis.from_url(redis_url)
    engine = make_engine(settings.metadata_url)
    wh_engine = make_warehouse_engine(settings.warehouse)
    warehouse = Warehouse(
        catalog,
        wh_engine,
        QueryCache(redis, settings.cache_ttl_seconds),
        settings.max_query_rows,
        timeout_seconds=settings.query_timeout_seconds,
        # The demo warehouse's pre-aggregations; another catalog declares its own (none yet).
        rollups=DEMO_ROLLUPS if catalog is DEMO_CATALOG else (),
    )
    return AppContext(settings, engine, make_sessionmaker(engine), redis, warehouse, embedded, redis_url)
