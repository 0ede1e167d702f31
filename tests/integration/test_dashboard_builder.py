"""The dashboard builder component, server-side, for several sessions of the same dashboard."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Dashboard


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_saved_time_window_in_every_session(ctx, demo, monkeypatch):
    from components import session as ui_session
    from components.dashboard_builder import TIME_PRESETS, DashboardBuilder
    from portal.data.timewindows import describe_window
    from portal.identity import auth
    from portal.infra.db import transaction

    with transaction(ctx.sessions) as s:
        ws, _ = auth.start_web_session(s, s.merge(demo[("acme", "analyst")]), hours=1)
        identity = (ws.user_id, ws.id)
    monkeypatch.setattr(ui_session, "current_identity", lambda: identity)
    with ctx.sessions() as s:
        d = s.scalar(
            select(Dashboard).where(
                Dashboard.name == "Maintenance & Expenses",
                Dashboard.tenant_id == demo[("acme", "analyst")].tenant_id,
            )
        )
        saved = d.filters_json["time_range"]
    assert saved not in TIME_PRESETS.values()  # the case that broke: a window that is no preset
    before = dict(TIME_PRESETS)
    for _ in range(2):  # a second session must work like the first
        b = DashboardBuilder(ctx, d.id)
        # Shown as people say it (issue 8: the choice read "Saved: {{now-6M}}..{{now}}").
        assert b.time_range == f"Saved: {describe_window(saved)}" and "{{" not in b.time_range
        assert b.filters().time_range == saved
        assert b.view is not None and len(b.view.widgets) == 12
    assert before == TIME_PRESETS  # sessions never change the shared presets
