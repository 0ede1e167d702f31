"""The warehouse as the services see it: catalog + engine + cache + limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal.data.catalog import Catalog, Source
from portal.data.execute import QueryEstimate, QueryResult, estimate_query, run_query
from portal.data.rollup_store import RollupStore
from portal.data.rollups import Rollup
from portal.identity.scope import Scope
from portal.infra.cache import QueryCache
from portal.infra.db import RunningQueries
from portal.infra.metrics import QUERY_SECONDS
from portal.specs import QuerySpec

#: ``(tenant key, session or None) -> the tenant's own sources``.
TenantSourcesFn = Callable[[str, Session | None], Sequence[Source]]


@dataclass(frozen=True)
class Warehouse:
    """Runs query specs for a scope; one per process, shared by services."""

    catalog: Catalog
    engine: Engine
    cache: QueryCache | None = None
    max_rows: int = 100_000
    #: Statement timeout of every query (``Settings.query_timeout_seconds``); 0 for none.
    timeout_seconds: float = 60
    #: The queries running now, for :meth:`interrupt_all`.
    running: RunningQueries = field(default_factory=RunningQueries, repr=False, compare=False)
    #: Pre-aggregations of this warehouse (``portal.data.rollups``); fresh built ones answer
    #: the queries they answer exactly.
    rollups: tuple[Rollup, ...] = ()
    #: False: every query reads the base tables (tests and benchmarks compare both).
    use_rollups: bool = True
    #: The sources a tenant added (``portal.data.tenant_sources``), by tenant key; None: none.
    tenant_sources: TenantSourcesFn | None = field(default=None, compare=False)
    #: The engine of a connected database by ``Source.engine_key`` (``"ds:7"``).
    engines: Callable[[str], Engine] | None = field(default=None, compare=False)
    #: Build state and query routing of :attr:`rollups` (None without rollups).
    rollup_store: RollupStore | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rollups:
            object.__setattr__(self, "rollup_store", RollupStore(self.rollups, self.catalog, self.cache))

    def catalog_for(self, tenant_key: str, session: Session | None = None) -> Catalog:
        """What a user of ``tenant_key`` may query: the warehouse's catalog plus the tenant's own sources.

        The tenant's sources come from memory unless they changed; then they are read in the
        caller's ``session`` when given (a page load stays one transaction), else in a new one.
        """
        if self.tenant_sources is None:
            return self.catalog
        own = tuple(self.tenant_sources(tenant_key, session))
        return Catalog(self.catalog.sources + own) if own else self.catalog

    def run(
        self,
        spec: QuerySpec | Mapping[str, Any],
        scope: Scope,
        *,
        params: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        use_cache: bool = True,
        timeout: float | None = None,
    ) -> QueryResult:
        """Run a spec (from the cache when possible).

        The query is stopped after ``timeout`` seconds (default :attr:`timeout_seconds`;
        heavy off-peak work may pass more) with :class:`portal.errors.QueryTimeout`.
        """
        res = run_query(
            spec,
            catalog=self.catalog_for(scope.tenant_key),
            scope=scope,
            engine=self.engine,
            cache=self.cache if use_cache else None,
            params=params,
            now=now,
            max_rows=self.max_rows,
            timeout=self.timeout_seconds if timeout is None else timeout,
            running=self.running,
            rollups=self.rollup_store if self.use_rollups else None,
            engines=self.engines,
        )
        if not res.cached:
            source = spec.source if isinstance(spec, QuerySpec) else str(spec.get("source"))
            QUERY_SECONDS.labels(source if source in self.catalog.names else "tenant").observe(
                res.runtime_ms / 1000
            )
        return res

    def estimate(
        self,
        spec: QuerySpec | Mapping[str, Any],
        scope: Scope,
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> QueryEstimate:
        """Estimated size and cost of a spec (under the same statement timeout as :meth:`run`)."""
        return estimate_query(
            spec,
            catalog=self.catalog_for(scope.tenant_key),
            scope=scope,
            engine=self.engine,
            params=params,
            timeout=self.timeout_seconds if timeout is None else timeout,
            running=self.running,
            engines=self.engines,
        )

    def interrupt_all(self) -> int:
        """Stop every query running now; for a graceful shutdown (call it on SIGTERM).

        Each stopped query raises :class:`portal.errors.QueryInterrupted` (503) in
        its own thread. Returns how many queries were stopped.
        """
        return self.running.interrupt_all()

    def invalidate(self, source: str | None = None) -> None:
        """Drop cached results after the data of ``source`` (or all data) changed; its rollups
        answer nothing until rebuilt."""
        if self.cache is not None:
            self.cache.invalidate(source)
        if self.rollup_store is not None:
            self.rollup_store.invalidate(source)
