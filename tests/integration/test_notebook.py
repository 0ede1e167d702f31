"""The quickstart notebook runs end to end against a portal in another process, as on an analyst's laptop.

The kernel knows only the portal's URL and an API token (``CONDUCTOR_URL``,
``CONDUCTOR_TOKEN``): every query, save and run goes over HTTP. What it publishes,
the portal then lists to another user of the tenant.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from portal.demo.accounts import DEV_PASSWORD, seed_demo
from portal.infra.db import make_engine, make_sessionmaker, transaction
from tests.support.http import ROOT, PortalProcess, issue_token

NOTEBOOK = ROOT / "notebooks" / "01-quickstart.ipynb"
PUBLISHED = "SLA breach rate by team (from notebook)"


@pytest.fixture(scope="module")
def portal_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, warehouse_url: str
) -> Iterator[PortalProcess]:
    """One ``conductor serve`` for the module: the tiny demo warehouse, demo accounts, its own Redis."""
    home = tmp_path_factory.mktemp("notebook-portal")
    shutil.copyfile(sqlite_template, home / "conductor.sqlite3")
    # A copy, not the session's file: a DuckDB file is opened by one process at a time.
    shutil.copyfile(warehouse_url.removeprefix("duckdb:///"), home / "warehouse.duckdb")
    engine = make_engine(f"sqlite:///{home / 'conductor.sqlite3'}")
    with transaction(make_sessionmaker(engine)) as session:
        seed_demo(session)
    engine.dispose()
    server = PortalProcess(home, workers=True).start()  # run_report goes through the job queue
    yield server
    server.stop()


def test_quickstart_notebook_over_http(portal_server: PortalProcess, monkeypatch: pytest.MonkeyPatch):
    base = portal_server.base
    token = issue_token(base, "analyst@acme.example.com", DEV_PASSWORD)
    monkeypatch.setenv("CONDUCTOR_URL", base)
    monkeypatch.setenv("CONDUCTOR_TOKEN", token)
    # Nothing but the URL and the token: an in-process fallback would find no database here.
    for name in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", portal_server.env["PYTHONPATH"])  # the kernel imports this checkout
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors

    def get(token: str, path: str, **params: str) -> dict:
        r = requests.get(
            f"{base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert r.status_code == 200, r.text
        return r.json()

    analyst_id = get(token, "/api/me")["id"]
    viewer = issue_token(base, "viewer@acme.example.com", DEV_PASSWORD)
    listed = {r["name"]: r for r in get(viewer, "/api/reports", search="from notebook")["reports"]}
    r = listed[PUBLISHED]
    assert r["owner_id"] == analyst_id and r["visibility"] == "public" and r["published"] is True
    runs = get(viewer, f"/api/reports/{r['id']}/executions")["executions"]
    assert [e["status"] for e in runs] == ["done"]
