"""The report library over REST (groups, owner names, last runs, reports published from a notebook),
search that ignores accents and case (reports and dashboards, SQLite and PostgreSQL), and the one
user-facing wording of errors.

One database, demo seed and API server per backend (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, insert, pool, select, text

from portal import Query, connect
from portal.demo.accounts import DEV_PASSWORD
from portal.infra import migrate
from portal.models import Base
from tests.support.http import issue_token

ANALYST = "analyst@acme.example.com"
VIEWER = "viewer@acme.example.com"
GLOBEX = "analyst@globex.example.com"
Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}], "group_by": ["priority"]}


@pytest.fixture
def api(module_api, redis_client):
    return module_api


@pytest.fixture(scope="module")
def sessions(module_api):
    return {e: module_api.login(e, DEV_PASSWORD) for e in (ANALYST, VIEWER, GLOBEX)}


def new_report(s, base, name, **kw):
    r = s.post(f"{base}/api/reports", json={"name": name, "query": Q, **kw})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def listed(s, base, **params):
    r = s.get(f"{base}/api/reports", params=params)
    assert r.status_code == 200, r.text
    return {x["id"]: x for x in r.json()["reports"]}


def test_library_groups_owner_and_last_run(api, sessions):
    a, v, base = sessions[ANALYST], sessions[VIEWER], api.base
    private = new_report(a, base, "Library private")
    public = new_report(a, base, "Library public", visibility="public", published=True)
    team = new_report(a, base, "Library team", visibility="group")

    mine = listed(a, base, group="mine")
    assert {private, public, team} <= set(mine)
    assert mine[public]["owner_name"] and mine[public]["last_run"] is None
    assert public in listed(v, base, group="public") and private not in listed(v, base)
    # The viewer shares the analyst's "Operations" group: group-visible reports are "My team".
    assert team in listed(v, base, group="team") and team not in listed(a, base, group="team")
    assert public not in listed(v, base, group="team")

    run = a.post(f"{base}/api/reports/{public}/execute", json={}, params={"preview": "0"})
    assert run.status_code == 201, run.text
    last = listed(a, base, group="mine")[public]["last_run"]
    assert last["status"] == "done" and last["row_count"] == run.json()["row_count"] > 0
    assert last["runtime_ms"] is not None and last["executed_at"]
    # Others see when and how it ran, not the runner's row count (execution_to_dict's rule).
    seen = listed(v, base, group="public")[public]["last_run"]
    assert (
        seen["status"] == "done" and seen["row_count"] is None and seen["executed_at"] == last["executed_at"]
    )

    r = a.get(f"{base}/api/reports", params={"group": "favorites"})
    assert r.status_code == 422 and r.json()["field"] == "group"
    assert r.json()["message"].startswith("group: must be one of mine, team, public")


def test_report_published_from_a_notebook_is_in_the_library(api, sessions):
    token = issue_token(api.base, ANALYST, DEV_PASSWORD)
    conn = connect(api.base, token=token)
    query = Query("tickets").count(as_="n").by("priority")
    rid = int(conn.save_report("Notebook: tickets by priority", query, publish=True)["id"])
    for who in (sessions[ANALYST], sessions[VIEWER]):
        found = listed(who, api.base, group="public", search="notebook: tickets")
        assert rid in found and found[rid]["published"] is True
    assert rid in listed(sessions[ANALYST], api.base, group="mine")
    assert rid not in listed(sessions[GLOBEX], api.base)


def test_search_ignores_accents_and_case(api, sessions):
    a, base = sessions[ANALYST], api.base
    rid = new_report(a, base, "Relatório de Chamados", description="Visão geral por prioridade")
    other = new_report(a, base, "Relatorio sem acento")
    plain = new_report(a, base, "Ticket overview 100%_done")
    for term in ("relatorio", "RELATÓRIO", "relatório de", "CHAMADOS", "visao geral", "Prioridade"):
        assert rid in listed(a, base, search=term), term
    assert {rid, other} <= set(listed(a, base, search="relatório"))
    assert rid not in listed(a, base, search="relatorios")
    # LIKE wildcards in the search are literal text.
    assert set(listed(a, base, search="100%_d")) == {plain}
    assert plain not in listed(a, base, search="ticket overview 100x")

    d = a.post(f"{base}/api/dashboards", json={"name": "Operação São Paulo", "description": "Índice"})
    assert d.status_code == 201, d.text
    did = d.json()["id"]
    for term in ("operacao", "SAO PAULO", "indice", "Operação"):
        found = a.get(f"{base}/api/dashboards", params={"search": term}).json()["dashboards"]
        assert did in [x["id"] for x in found], term
    # Renaming keeps the folded column in step.
    assert a.put(f"{base}/api/dashboards/{did}", json={"name": "Manutenção Ceará"}).status_code == 200
    found = a.get(f"{base}/api/dashboards", params={"search": "ceara"}).json()["dashboards"]
    assert did in [x["id"] for x in found]
    gone = a.get(f"{base}/api/dashboards", params={"search": "operacao"}).json()["dashboards"]
    assert did not in [x["id"] for x in gone]


def test_errors_read_field_colon_problem(api, sessions):
    a, base = sessions[ANALYST], api.base

    def message(body, path="/api/query"):
        r = a.post(f"{base}{path}", json={"query": body} if path == "/api/query" else body)
        assert r.status_code == 422, r.text
        doc = r.json()
        assert "Value error" not in doc["message"] and "QuerySpec" not in doc["message"], doc
        assert "Input should" not in doc["message"], doc
        return doc

    for limit, words in ((0, "at least 1"), (-5, "at least 1"), (100_001, "at most 100000")):
        doc = message({**Q, "limit": limit})
        assert doc["field"] == "limit" and doc["message"].startswith(f"limit: must be {words}"), doc
    doc = message({"source": "tickets"})
    assert doc["message"] == "query: give at least one of metrics, group_by or columns", doc
    doc = message({**Q, "metrics": [{"agg": "Count"}]})
    assert doc["field"] == "metrics.0.agg" and "did you mean 'count'?" in doc["message"], doc
    doc = message({"name": "x", "query": {**Q, "limit": 0}}, "/api/reports")
    assert doc["message"].startswith("query.limit: must be at least 1"), doc

    # A reversed range is an error naming the filter, not 0 rows.
    reversed_range = {"column": "opened_at", "op": "between", "value": "{{now}}..{{now-30d}}"}
    doc = message({**Q, "filters": [reversed_range]})
    assert doc["field"] == "filters[0].value" and "starts after it ends" in doc["message"], doc
    # A value of a known low-cardinality column in the wrong case names the valid one.
    doc = message({**Q, "filters": [{"column": "priority", "op": "=", "value": "High"}]})
    assert doc["field"] == "filters[0].value" and "did you mean 'high'?" in doc["message"], doc
    doc = message({**Q, "filters": [{"column": "priority", "op": "in", "value": ["urgent", "Hihg"]}]})
    assert doc["field"] == "filters[0].value[1]" and "did you mean 'high'?" in doc["message"], doc
    # Values that exist still work.
    good = {**Q, "filters": [{"column": "priority", "op": "in", "value": ["high"]}]}
    ok = a.post(f"{base}/api/query", json={"query": good})
    assert ok.status_code == 200 and ok.json()["row_count"] == 1
    catalog = a.get(f"{base}/api/catalog").json()
    tickets = next(s for s in catalog["sources"] if s["name"] == "tickets")
    priority = next(c for c in tickets["columns"] if c["name"] == "priority")
    assert priority["values"] == ["low", "normal", "high", "urgent"]


def test_known_values_match_the_demo_warehouse(module_ctx):
    """The catalog's known values are exactly what the demo warehouse holds (no valid filter refused)."""
    from portal.data.catalog import DEMO_VALUES
    from portal.demo import vocabulary as v

    generated = {
        "priority": v._PRIORITIES,
        "channel": v._CHANNELS,
        "kind": v._KINDS,
        "direction": v._DIRECTIONS,
        ("tickets", "status"): v._TICKET_STATUS,
        ("maintenance_orders", "status"): v._MAINT_STATUS,
    }
    with module_ctx.warehouse.engine.connect() as conn:
        for (source, column), values in DEMO_VALUES.items():
            assert tuple(values) == tuple(generated.get((source, column), generated.get(column, ()))), column
            held = set(conn.scalars(text(f"SELECT DISTINCT {column} FROM {source}")))  # catalogued names
            assert held - {None} <= set(values), (source, column, held)


def test_migration_folds_existing_names(metadata_url):
    """Rows written before the search column existed are folded by the migration."""
    migrate.downgrade(metadata_url, "0002")
    engine = create_engine(metadata_url, poolclass=pool.NullPool)
    tenants = Base.metadata.tables["tenants"]
    with engine.begin() as conn:
        tid = conn.execute(
            insert(tenants).values(slug="t", name="T", settings_json={}, created_at=text("CURRENT_TIMESTAMP"))
        ).inserted_primary_key[0]
        conn.execute(
            text(
                "INSERT INTO dashboards (tenant_id, name, description, layout_json, filters_json, visibility,"
                " scope_json, realtime_enabled, created_at, updated_at) VALUES (:t, 'Relatório Ágil', 'Visão',"
                " '{}', '{}', 'private', '{}', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"t": tid},
        )
    migrate.upgrade(metadata_url)
    with engine.connect() as conn:
        folded = conn.scalar(text("SELECT search_text FROM dashboards WHERE name = 'Relatório Ágil'"))
        deleted = conn.scalar(select(Base.metadata.tables["dashboards"].c.deleted_at))
    engine.dispose()
    assert folded == "relatorio agil\nvisao" and deleted is None
