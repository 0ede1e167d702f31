"""``portal.Query``: a fluent builder of the same ``QuerySpec`` the portal's visual builder produces."""

from __future__ import annotations

from typing import Any

from portal.specs import QuerySpec, parse_spec


class Query:
    """A fluent builder of :class:`QuerySpec`: ``Query("tickets").count().by("team_name")``."""

    def __init__(self, source: str) -> None:
        self._d: dict[str, Any] = {"source": source, "metrics": [], "group_by": [], "filters": [], "sort": []}

    def _metric(self, agg: str, column: str | None, alias: str | None, **extra: Any) -> Query:
        m: dict[str, Any] = {"agg": agg, **extra}
        if column:
            m["column"] = column
        if alias:
            m["as"] = alias
        self._d["metrics"].append(m)
        return self

    def count(self, column: str | None = None, *, as_: str | None = None) -> Query:
        """Add ``count(*)`` or ``count(column)``."""
        return self._metric("count", column, as_)

    def agg(self, agg: str, column: str, *, as_: str | None = None, p: float | None = None) -> Query:
        """Add any aggregate (``sum avg min max count_distinct median percentile``)."""
        return self._metric(agg, column, as_, **({"p": p} if p is not None else {}))

    def by(self, column: str, bucket: str | None = None, *, as_: str | None = None) -> Query:
        """Group by a column, optionally bucketed in time (``day``, ``week``, ``hour_of_day``...)."""
        g: dict[str, Any] = {"column": column}
        if bucket:
            g["bucket"] = bucket
        if as_:
            g["as"] = as_
        self._d["group_by"].append(g)
        return self

    def where(self, column: str, op: str, value: Any = None) -> Query:
        """Add a filter; values may be placeholders such as ``"{{now-30d}}..{{now}}"``."""
        self._d["filters"].append({"column": column, "op": op, "value": value})
        return self

    def order(self, by: str, *, desc: bool = False) -> Query:
        """Sort by a result column."""
        self._d["sort"].append({"by": by, "desc": desc})
        return self

    def limit(self, n: int) -> Query:
        """Cap the number of rows."""
        self._d["limit"] = n
        return self

    def spec(self) -> QuerySpec:
        """The validated spec."""
        return parse_spec(QuerySpec, {k: v for k, v in self._d.items() if v != []})


def as_spec(spec: Query | QuerySpec | dict[str, Any]) -> QuerySpec:
    """A validated :class:`QuerySpec` from a builder, a spec or its JSON (else ``InvalidSpec``)."""
    return spec.spec() if isinstance(spec, Query) else parse_spec(QuerySpec, spec)
