"""The dashboard page's real-time tiles, server-side: a tile starts from its channel's history and
takes new messages in place (streamed line points, patched bars, a new KPI value)."""

from __future__ import annotations

import pytest
from bokeh.models import ColumnDataSource
from sqlalchemy import select

from portal.models import Dashboard, Widget
from portal.realtime import bus


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_live_tiles_start_from_history_and_update_in_place(ctx, demo, monkeypatch):
    from components import session as ui_session
    from components.dashboard_builder import DashboardBuilder
    from components.widget_view import ChartPane
    from portal.identity import auth
    from portal.infra.db import transaction

    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        ws, _ = auth.start_web_session(s, s.merge(analyst), hours=1)
        identity = (ws.user_id, ws.id)
    monkeypatch.setattr(ui_session, "current_identity", lambda: identity)
    with ctx.sessions() as s:
        did = s.scalar(
            select(Dashboard.id).where(
                Dashboard.name == "Live operations", Dashboard.tenant_id == analyst.tenant_id
            )
        )
        rows = list(s.scalars(select(Widget).where(Widget.dashboard_id == did)))
        widgets = {w.title: w.id for w in rows}
        # The spec's channel is also the widget row's (the REST view shows it).
        assert {w.title: w.realtime_channel for w in rows} == {
            "Open tickets": "ops.tickets",
            "Tickets opened / closed per minute": "ops.tickets",
            "Queue sizes": "ops.queues",
        }
    tenant = analyst.tenant_id

    def tick(second: int, open_now: int, sizes: dict[str, int]) -> list[bus.Event]:
        stamp = f"2026-12-03T10:00:{second:02d}Z"
        t = bus.publish(
            ctx.redis,
            tenant,
            "ops.tickets",
            {
                "ts": stamp,
                "opened": 1,
                "closed": 0,
                "opened_per_min": second,
                "closed_per_min": 1,
                "open": open_now,
            },
        )
        q = bus.publish(
            ctx.redis, tenant, "ops.queues", {"rows": [{"queue": k, "size": v} for k, v in sizes.items()]}
        )
        return [bus.Event(tenant, m["channel"], m["id"], m["ts"], m["data"], "") for m in (t, q)]

    for second in range(3):
        tick(second, 40 + second, {"urgent": 1, "high": 2, "normal": 3, "low": 4})

    b = DashboardBuilder(ctx, did)  # outside a browser: the tiles load at once, here
    kpi, line, bars = (
        widgets["Open tickets"],
        widgets["Tickets opened / closed per minute"],
        widgets["Queue sizes"],
    )
    # The history, not the warehouse: the line has the 3 published points, the KPI the last value.
    assert b._results[line].frame["opened"].tolist() == [0, 1, 2]
    assert b._results[kpi].frame["open"].tolist() == [42]
    assert "42" in b._bodies[kpi].objects[0].object
    pane = b._bodies[line].objects[0]
    assert isinstance(pane, ChartPane)
    sources = [s for s in pane.object.select(type=ColumnDataSource) if "time" in s.data]
    lengths = [len(s.data["time"]) for s in sources]

    t3, q3 = tick(3, 57, {"urgent": 9, "high": 2, "normal": 3, "low": 4})
    b._live_update(line, [t3])
    b._live_update(kpi, [t3])
    b._live_update(bars, [q3])
    assert b._bodies[line].objects[0] is pane  # the same chart, streamed into
    assert [len(s.data["time"]) for s in sources] == [n + 1 for n in lengths]
    assert "57" in b._bodies[kpi].objects[0].object
    bar_pane = b._bodies[bars].objects[0]
    (bar_source,) = [s for s in bar_pane.object.select(type=ColumnDataSource) if "queue" in s.data]
    assert dict(zip(bar_source.data["queue"], bar_source.data["size"], strict=True))["urgent"] == 9
    # A message the tile already holds (in its history) is not applied twice.
    b._live_update(line, [t3])
    assert [len(s.data["time"]) for s in sources] == [n + 1 for n in lengths]
