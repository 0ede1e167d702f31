"""The in-process connection: on the server (scripts, jobs), straight to the services.

It uses the same settings, services and permission checks as the web portal,
so what an analyst saves here is what the portal lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from portal import dashboards, reports
from portal.client.base import BaseConnection
from portal.config import Settings
from portal.context import AppContext, build_context
from portal.errors import AuthenticationFailed
from portal.identity import auth
from portal.identity.principal import Principal, principal_for_user_id, principal_transaction
from portal.infra.db import transaction
from portal.models import User
from portal.specs import QuerySpec


class Connection(BaseConnection):
    """An in-process connection acting as the user ``user_id`` (see :class:`BaseConnection`)."""

    def __init__(self, ctx: AppContext, user_id: int, *, owns_context: bool = False) -> None:
        self.ctx = ctx
        self.user_id = user_id
        self._owns = owns_context

    def __repr__(self) -> str:
        return f"Connection(in-process, user_id={self.user_id})"

    @contextmanager
    def _session(self) -> Iterator[tuple[Session, Principal]]:
        # Identified inside each transaction: a user disabled meanwhile stops here.
        with principal_transaction(self.ctx.sessions, lambda s: principal_for_user_id(s, self.user_id)) as (
            session,
            principal,
        ):
            yield session, principal

    # -- transport primitives ----------------------------------------------
    def _whoami(self) -> dict[str, Any]:
        with self._session() as (session, _):
            u = session.get(User, self.user_id)
            assert u is not None  # the principal was just loaded from it
            return {"id": u.id, "email": u.email, "name": u.name, "tenant_id": u.tenant_id}

    def _catalog(self) -> list[dict[str, Any]]:
        with self._session() as (_, principal):
            tenant = principal.scope.tenant_key
        return [dict(s) for s in self.ctx.warehouse.catalog_for(tenant).to_dict()]

    def _run_query(self, spec: QuerySpec, params: dict[str, Any]) -> pd.DataFrame:
        with self._session() as (_, principal):
            scope = principal.scope
        # Outside the transaction: a long warehouse query holds no metadata connection.
        return self.ctx.warehouse.run(spec, scope, params=params).frame

    def _save_report(self, data: dict[str, Any], report_id: int | None) -> dict[str, Any]:
        with self._session() as (session, principal):
            if report_id is None:
                r = reports.create_report(session, principal, data, self.ctx.warehouse)
            else:
                r = reports.update_report(session, principal, report_id, data, self.ctx.warehouse)
            return reports.report_to_dict(r)

    def _list_reports(self, search: str | None) -> list[dict[str, Any]]:
        with self._session() as (session, principal):
            return [
                reports.report_to_dict(r) for r in reports.list_reports(session, principal, search=search)
            ]

    def _list_dashboards(self, group: str | None, search: str | None) -> list[dict[str, Any]]:
        with self._session() as (session, principal):
            rows = dashboards.list_dashboards(session, principal, group=group, search=search)
            favs = dashboards.favorite_ids(session, principal)
            return [dashboards.dashboard_to_dict(d, favorite=d.id in favs) for d in rows]

    def _execute_report(
        self, report_id: int, params: dict[str, Any] | None
    ) -> tuple[dict[str, Any], pd.DataFrame | None]:
        results = self.ctx.settings.results_dir
        with self._session() as (session, principal):
            ex = reports.execute_report(
                session, principal, report_id, self.ctx.warehouse, results, params=params
            )
            frame = None
            if ex.status == "done":
                _, _, frame = reports.load_execution_result(session, principal, ex.id, results)
            return reports.execution_to_dict(ex, principal), frame

    def close(self) -> None:
        """Release the connection (and the process context, if this connection built it)."""
        if self._owns:
            self.ctx.close()


def connect_in_process(
    *,
    token: str | None = None,
    email: str | None = None,
    password: str | None = None,
    settings: Settings | None = None,
) -> Connection:
    """An in-process connection, with an API token or e-mail and password.

    Settings come from the environment (``DATABASE_URL``, ``WAREHOUSE_URL``,
    ``REDIS_URL``, ``CONDUCTOR_HOME``), exactly as the portal reads them.
    """
    settings = settings or Settings.from_env()
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
