"""A dashboard loads in one transaction, with a number of metadata statements that does not grow
with its widgets (before the reshaping: 11 transactions and 41 statements for 10 widgets)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, event, select

from portal import dashboards
from portal.infra.db import transaction
from portal.models import Dashboard
from tests.support.principals import as_principal


@dataclass
class Counts:
    transactions: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def counted(engine: Engine) -> Iterator[Counts]:
    """Transactions begun and statements sent on ``engine`` (the metadata database) meanwhile."""
    c = Counts()

    def on_begin(_conn: object) -> None:
        c.transactions += 1

    def on_statement(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        c.statements.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield c
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_statement)


def _dashboard(ctx, demo, name: str) -> int:
    with ctx.sessions() as s:
        return s.scalar(
            select(Dashboard.id).where(
                Dashboard.name == name, Dashboard.tenant_id == demo[("acme", "viewer")].tenant_id
            )
        )


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_dashboard_page_loads_in_one_transaction(ctx, demo, monkeypatch):
    from components import session as ui_session
    from components.dashboard_builder import DashboardBuilder
    from portal.identity import auth

    did = _dashboard(ctx, demo, "Operations & SLA")
    with transaction(ctx.sessions) as s:
        ws, _ = auth.start_web_session(s, s.merge(demo[("acme", "viewer")]), hours=1)
        identity = (ws.user_id, ws.id)
    monkeypatch.setattr(ui_session, "current_identity", lambda: identity)

    with counted(ctx.engine) as small:
        b = DashboardBuilder(ctx, did)
    assert b.view is not None and len(b.view.widgets) >= 10
    assert all(r.error is None for r in b.view.widgets), [r.error for r in b.view.widgets]
    print(
        f"\n{len(b.view.widgets)} widgets: {small.transactions} transaction(s), {len(small.statements)} statements"
    )
    assert small.transactions == 1
    # (+1: the tenant's own catalog sources, read once and then kept in memory)
    assert small.statements.count("SELECT") <= 9, small.statements

    # Twice the widgets: the same transaction and statements (none per widget).
    with transaction(ctx.sessions) as s:
        owner = as_principal(s, demo[("acme", "analyst")])
        for r in b.view.widgets:
            spec = dashboards.widget_spec(r.widget)
            dashboards.add_widget(s, owner, did, spec)
    with counted(ctx.engine) as big:
        b2 = DashboardBuilder(ctx, did)
    assert b2.view is not None and len(b2.view.widgets) == 2 * len(b.view.widgets)
    assert big.transactions == 1
    # No statement per widget (one fewer: the tenant's catalog sources are in memory by now).
    assert len(big.statements) in (len(small.statements), len(small.statements) - 1), (big.statements, small)

    # A filter change or a drill step reloads the whole view, again in one transaction.
    with counted(ctx.engine) as again:
        b2.time_range = "Last 30 days"
    assert again.transactions == 1 and again.statements.count("SELECT") <= 8


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_service_load_authorizes_once_with_one_scope(ctx, demo):
    did = _dashboard(ctx, demo, "Operations & SLA")
    with transaction(ctx.sessions) as s:
        viewer = as_principal(s, demo[("acme", "viewer")])
    with counted(ctx.engine) as c, transaction(ctx.sessions) as s:
        view = dashboards.load_dashboard(s, viewer, ctx.warehouse, did)
    n = len(view.widgets)
    # dashboard, grants (one authorization), widgets, favorite, audit insert, the tenant's own
    # catalog sources — whatever the widget count.
    assert c.transactions == 1 and len(c.statements) <= 7, (n, c.statements)
    assert {r.query.source for r in view.widgets if r.query is not None} and all(
        r.frame is not None for r in view.widgets if r.spec is not None and r.spec.type != "text"
    )
