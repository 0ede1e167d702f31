"""The quickstart notebook runs end to end against real services, and what it publishes the portal lists."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sqlalchemy import select

from portal import reports
from portal.identity import auth
from portal.infra.db import transaction
from portal.models import User

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_quickstart_notebook(ctx, demo, monkeypatch, tmp_path):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        _, token = auth.issue_api_token(s, s.get(User, analyst.id), "notebook-test")
    s = ctx.settings
    for k, v in {
        "DATABASE_URL": s.database_url,
        "WAREHOUSE_URL": s.warehouse_url,
        "REDIS_URL": s.redis_url,
        "CONDUCTOR_HOME": str(s.home),
        "CONDUCTOR_TOKEN": token,
    }.items():
        monkeypatch.setenv(k, v)
    # The warehouse DuckDB file takes one process at a time: release ours while the kernel uses it.
    ctx.warehouse.engine.dispose()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    with transaction(ctx.sessions) as session:
        viewer = session.scalar(select(User).where(User.email == "viewer@acme.example.com"))
        listed = {r.name: r for r in reports.list_reports(session, viewer, published=True)}
        r = listed["SLA breach rate by team (from notebook)"]
        assert r.owner_id == analyst.id and r.visibility == "public"
        assert [e.status for e in reports.list_executions(session, viewer, r.id)] == ["done"]
