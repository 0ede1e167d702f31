"""The analyst API: ``import portal; conn = portal.connect(...)`` in a notebook.

It uses the same settings, services and permission checks as the web portal,
so what an analyst saves here is what the portal lists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from portal import reports
from portal.config import Settings
from portal.context import AppContext, build_context
from portal.errors import AuthenticationFailed
from portal.identity import auth
from portal.infra.db import transaction
from portal.models import User
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


class Connection:
    """An analyst's connection: queries run with the user's scope; reports are saved as the user."""

    def __init__(self, ctx: AppContext, user_id: int, *, owns_context: bool = False) -> None:
        self.ctx = ctx
        self.user_id = user_id
        self._owns = owns_context

    @contextmanager
    def _session(self) -> Iterator[tuple[Session, User]]:
        with transaction(self.ctx.sessions) as session:
            user = session.get(User, self.user_id)
            if user is None or not user.is_active:
                raise AuthenticationFailed("this account is no longer active")
            yield session, user

    @property
    def user(self) -> dict[str, Any]:
        """Who this connection acts as."""
        with self._session() as (_, u):
            return {"id": u.id, "email": u.email, "name": u.name, "tenant_id": u.tenant_id}

    def sources(self) -> pd.DataFrame:
        """The catalogued sources."""
        return pd.DataFrame(
            [
                {"source": s.name, "label": s.label, "columns": len(s.columns), "description": s.description}
                for s in self.ctx.warehouse.catalog.sources
            ]
        )

    def columns(self, source: str) -> pd.DataFrame:
        """Columns of a source."""
        return pd.DataFrame(self.ctx.warehouse.catalog.source(source).to_dict()["columns"])

    def query(self, spec: Query | QuerySpec | dict[str, Any], **params: Any) -> pd.DataFrame:
        """Run a query with the user's scope and return a DataFrame."""
        qs = spec.spec() if isinstance(spec, Query) else parse_spec(QuerySpec, spec)
        with self._session() as (session, user):
            scope = auth.user_scope(session, user)
        return self.ctx.warehouse.run(qs, scope, params=params).frame

    def save_report(
        self,
        name: str,
        spec: Query | QuerySpec | dict[str, Any],
        *,
        description: str = "",
        publish: bool = False,
        visibility: str = "private",
        heavy: bool = False,
        params: dict[str, Any] | None = None,
        report_id: int | None = None,
    ) -> dict[str, Any]:
        """Save (or, with ``report_id``, update) a report; ``publish=True`` lists it in the portal."""
        qs = spec.spec() if isinstance(spec, Query) else parse_spec(QuerySpec, spec)
        data = {
            "name": name,
            "description": description,
            "query": qs.model_dump(mode="json", by_alias=True),
            "published": publish,
            "visibility": "public" if publish and visibility == "private" else visibility,
            "heavy": heavy,
            "params": params or {},
        }
        with self._session() as (session, user):
            if report_id is None:
                r = reports.create_report(session, user, data, self.ctx.warehouse)
            else:
                r = reports.update_report(session, user, report_id, data, self.ctx.warehouse)
            return reports.report_to_dict(r)

    def reports(self, search: str | None = None) -> pd.DataFrame:
        """Reports this user can see."""
        with self._session() as (session, user):
            rows = [reports.report_to_dict(r) for r in reports.list_reports(session, user, search=search)]
        cols = ["id", "name", "visibility", "published", "owner_id", "updated_at"]
        return pd.DataFrame(rows, columns=[*cols, *(k for k in (rows[0] if rows else {}) if k not in cols)])[
            cols
        ]

    def run_report(self, report_id: int, **params: Any) -> pd.DataFrame:
        """Execute a saved report (recorded in its history) and return the result."""
        with self._session() as (session, user):
            ex = reports.execute_report(
                session,
                user,
                report_id,
                self.ctx.warehouse,
                self.ctx.settings.results_dir,
                params=params or None,
            )
            if ex.status != "done":
                raise RuntimeError(f"execution {ex.id} failed: {ex.meta_json.get('error')}")
            _, _, frame = reports.load_execution_result(session, user, ex.id, self.ctx.settings.results_dir)
        return frame

    def close(self) -> None:
        """Release the connection (and the process context, if this connection built it)."""
        if self._owns:
            self.ctx.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    *,
    token: str | None = None,
    email: str | None = None,
    password: str | None = None,
    settings: Settings | None = None,
) -> Connection:
    """Connect as a portal user, with an API token (``CONDUCTOR_TOKEN``) or e-mail and password.

    Settings come from the environment (``DATABASE_URL``, ``WAREHOUSE_URL``,
    ``REDIS_URL``, ``CONDUCTOR_HOME``), exactly as the portal reads them.
    """
    settings = settings or Settings.from_env()
    token = token or os.environ.get("CONDUCTOR_TOKEN")
    ctx = build_context(settings)
    try:
        with transaction(ctx.sessions) as session:
            if token:
                user = auth.user_for_token(session, token)
            elif email and password:
                user = auth.authenticate(session, email, password)
            else:
                raise AuthenticationFailed("connect(token=...) or connect(email=..., password=...)")
            uid = user.id
    except Exception:
        ctx.close()
        raise
    return Connection(ctx, uid, owns_context=True)
