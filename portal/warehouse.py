"""The warehouse as the services see it: catalog + engine + cache + limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from portal.cache import QueryCache
from portal.catalog import Catalog
from portal.metrics import QUERY_SECONDS
from portal.query import QueryEstimate, QueryResult, estimate_query, run_query
from portal.scope import Scope
from portal.specs import QuerySpec


@dataclass(frozen=True)
class Warehouse:
    """Runs query specs for a scope; one per process, shared by services."""

    catalog: Catalog
    engine: Engine
    cache: QueryCache | None = None
    max_rows: int = 100_000

    def run(
        self,
        spec: QuerySpec | Mapping[str, Any],
        scope: Scope,
        *,
        params: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        use_cache: bool = True,
    ) -> QueryResult:
        """Run a spec (from the cache when possible)."""
        res = run_query(
            spec,
            catalog=self.catalog,
            scope=scope,
            engine=self.engine,
            cache=self.cache if use_cache else None,
            params=params,
            now=now,
            max_rows=self.max_rows,
        )
        if not res.cached:
            source = spec.source if isinstance(spec, QuerySpec) else str(spec.get("source"))
            QUERY_SECONDS.labels(source if source in self.catalog.names else "?").observe(
                res.runtime_ms / 1000
            )
        return res

    def estimate(
        self, spec: QuerySpec | Mapping[str, Any], scope: Scope, *, params: Mapping[str, Any] | None = None
    ) -> QueryEstimate:
        """Estimated size and cost of a spec."""
        return estimate_query(spec, catalog=self.catalog, scope=scope, engine=self.engine, params=params)

    def invalidate(self, source: str | None = None) -> None:
        """Drop cached results after the data of ``source`` (or all data) changed."""
        if self.cache is not None:
            self.cache.invalidate(source)
