"""The analyst client over HTTP against a real server: the same frames, scope, errors and reports as in-process.

One database, demo seed and API server for the module (tests/conftest.py); each test
starts with an empty Redis (no cached results, no sign-in counts) and saves reports of
its own. The in-process connection runs on the very context the server serves, so
both modes answer the same question on the same data.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest

import portal
from portal.client import Connection, ExecutionFailed, HttpConnection, PortalUnavailable, ServerError
from portal.data.warehouse import Warehouse
from portal.demo.accounts import DEV_PASSWORD
from portal.errors import AuthenticationFailed, BadRequest, InvalidSpec, NotFound, PermissionDenied
from portal.infra.redis_server import free_port
from tests.support.shared import new_user

ARROW = "application/vnd.apache.arrow.stream"
sqlite_only = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

# Timestamps (week buckets, max closed_at), text, integer counts, float averages and NULLs
# (tickets still open have no resolution time and no closing date).
TYPED = (
    portal.Query("tickets")
    .count(as_="n")
    .agg("avg", "resolution_hours", as_="avg_h")
    .agg("max", "closed_at", as_="last_closed")
    .by("opened_at", "week", as_="week")
    .by("status")
    .order("week")
    .limit(2000)
)
BY_PRIORITY = portal.Query("tickets").count(as_="n").where("priority", "=", "{{p}}").by("team_name")


@pytest.fixture
def api(module_api, redis_client):
    """The module's API server; Redis (query cache, sign-in counts) emptied for each test."""
    return module_api


@pytest.fixture(scope="module")
def tokens(module_api) -> dict[str, str]:
    """One API token per demo user the module needs (a sign-in is ~0.2 s of argon2)."""
    return {
        who: module_api.token(f"{who}.example.com", DEV_PASSWORD)
        for who in ("analyst@acme", "viewer@acme", "admin@globex")
    }


@pytest.fixture(scope="module")
def remote(module_api, tokens) -> Iterator[HttpConnection]:
    """The acme analyst over HTTP."""
    with portal.connect(module_api.base, token=tokens["analyst@acme"]) as conn:
        assert isinstance(conn, HttpConnection)
        yield conn


@pytest.fixture
def local(module_ctx, module_demo) -> Connection:
    """The same acme analyst in-process, on the context the server serves."""
    return Connection(module_ctx, module_demo[("acme", "analyst")].id)


@sqlite_only
def test_query_returns_the_in_process_frame(api, remote, local):
    expected = local.query(TYPED)
    got = remote.query(TYPED)
    pd.testing.assert_frame_equal(got, expected)  # values and dtypes
    assert str(got["week"].dtype).startswith("datetime64") and got["n"].dtype == "int64"
    assert got["avg_h"].dtype == "float64" and pd.api.types.is_string_dtype(got["status"])
    assert got["avg_h"].isna().any() and got["last_closed"].isna().any() and got["avg_h"].notna().any()
    # A spec given as JSON, with parameters, gives the same frame as the builder.
    spec = BY_PRIORITY.spec().model_dump(mode="json", by_alias=True)
    pd.testing.assert_frame_equal(remote.query(spec, p="urgent"), local.query(BY_PRIORITY, p="urgent"))
    pd.testing.assert_frame_equal(remote.sources(), local.sources())
    pd.testing.assert_frame_equal(remote.columns("tickets"), local.columns("tickets"))
    assert remote.user == local.user == {**remote.user, "email": "analyst@acme.example.com"}


@sqlite_only
def test_scope_applies_over_http(api, module_ctx):
    email = new_user(module_ctx, "acme", DEV_PASSWORD, locations=[1, 2])
    by_location = portal.Query("tickets").count(as_="n").by("location_id").limit(5000)
    with portal.connect(api.base, token=api.token(email, DEV_PASSWORD)) as scoped:
        got = scoped.query(by_location)
        assert set(got["location_id"]) == {1, 2}
        pd.testing.assert_frame_equal(got, Connection(module_ctx, scoped.user["id"]).query(by_location))


@sqlite_only
def test_bad_spec_names_the_field(api, remote, local, tokens):
    for conn in (remote, local):
        with pytest.raises(InvalidSpec) as server_side:  # the catalog says no: answered by the server
            conn.query(portal.Query("tickets").count().by("prio"))
        assert server_side.value.field == "group_by[0].column"
        assert "did you mean 'priority'" in server_side.value.message
        with pytest.raises(InvalidSpec) as unknown_source:
            conn.columns("tikets")
        assert unknown_source.value.field == "source" and "'tickets'" in unknown_source.value.message
        with pytest.raises(InvalidSpec):  # the spec's own shape: checked before anything is sent
            conn.query({"source": "tickets"})
    with pytest.raises(InvalidSpec) as missing_param:
        remote.query(BY_PRIORITY)
    assert "p" in missing_param.value.message
    # Unknown fields are refused in Arrow requests too, named, and errors stay JSON.
    s = api.session(tokens["analyst@acme"])
    r = s.post(
        f"{api.base}/api/query",
        json={"query": BY_PRIORITY.spec().model_dump(mode="json", by_alias=True), "parms": {}},
        headers={"Accept": ARROW},
    )
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["field"] == "parms"
    rid = remote.save_report("Bad body", BY_PRIORITY, params={"p": "low"})["id"]
    r = s.post(f"{api.base}/api/reports/{rid}/execute", json={"cache": False}, headers={"Accept": ARROW})
    assert r.status_code == 400 and r.json()["field"] == "cache"


@sqlite_only
def test_bad_token_and_unreachable_portal(api, tokens, monkeypatch):
    with pytest.raises(AuthenticationFailed) as bad:
        portal.connect(api.base, token="cbi_forged")
    assert "conductor create-token" in bad.value.message and f"{api.base}/api/tokens" in bad.value.message
    with pytest.raises(AuthenticationFailed, match="no API token"):
        HttpConnection(api.base, None)
    with pytest.raises(ServerError, match="not an answer of the portal's API"):
        portal.connect(f"{api.base}/wrong-prefix", token=tokens["analyst@acme"])
    with pytest.raises(PortalUnavailable, match="cannot reach"):
        portal.connect(f"http://127.0.0.1:{free_port()}", token=tokens["analyst@acme"])
    with pytest.raises(BadRequest):
        portal.connect(api.base, email="analyst@acme.example.com", password=DEV_PASSWORD)
    # CONDUCTOR_URL and CONDUCTOR_TOKEN: what a notebook on a laptop sets once.
    monkeypatch.setenv("CONDUCTOR_URL", api.base)
    monkeypatch.setenv("CONDUCTOR_TOKEN", tokens["viewer@acme"])
    with portal.connect() as conn:
        assert isinstance(conn, HttpConnection) and conn.user["email"] == "viewer@acme.example.com"
        assert "cbi_" not in repr(conn)


@sqlite_only
def test_save_publish_list_and_run(api, remote, local, module_api, tokens):
    saved = remote.save_report("Urgent by team (http)", BY_PRIORITY, params={"p": "urgent"}, publish=True)
    assert saved["published"] and saved["visibility"] == "public" and saved["owner_id"] == local.user_id
    updated = remote.save_report(
        "Low by team (http)", BY_PRIORITY, params={"p": "low"}, publish=True, report_id=saved["id"]
    )
    assert updated["id"] == saved["id"] and updated["name"] == "Low by team (http)"
    assert saved["id"] in remote.reports()["id"].tolist()
    assert remote.reports(search="by team (http)")["name"].tolist() == ["Low by team (http)"]
    pd.testing.assert_frame_equal(remote.reports(), local.reports())
    with portal.connect(module_api.base, token=tokens["viewer@acme"]) as viewer:
        assert saved["id"] in viewer.reports()["id"].tolist()
        result = viewer.run_report(saved["id"])
        pd.testing.assert_frame_equal(result, remote.query(BY_PRIORITY, p="low"))
        pd.testing.assert_frame_equal(
            viewer.run_report(saved["id"], p="urgent"), local.query(BY_PRIORITY, p="urgent")
        )
        with pytest.raises(PermissionDenied):
            viewer.save_report("Mine now", BY_PRIORITY, report_id=saved["id"])
    with portal.connect(module_api.base, token=tokens["admin@globex"]) as outsider:
        assert saved["id"] not in outsider.reports()["id"].tolist()
        with pytest.raises(NotFound):
            outsider.run_report(saved["id"])
    pd.testing.assert_frame_equal(remote.run_report(saved["id"]), local.run_report(saved["id"]))
    # Every run went through the report's history, as the portal's Run button does.
    history = api.session(tokens["analyst@acme"]).get(f"{api.base}/api/reports/{saved['id']}/executions")
    assert len(history.json()["executions"]) == 4
    # Dashboards: the same listing as in-process, groups included.
    pd.testing.assert_frame_equal(remote.dashboards(), local.dashboards())
    assert len(remote.dashboards(group="mine")) > 0
    with pytest.raises(InvalidSpec) as bad_group:
        remote.dashboards(group="everything")
    assert bad_group.value.field == "group"


@sqlite_only
def test_failed_execution_is_reported_not_returned(api, remote, local, monkeypatch):
    rid = remote.save_report("Will fail", BY_PRIORITY, params={"p": "low"})["id"]

    def broken(*args, **kwargs):
        raise OSError("warehouse disk gone")

    monkeypatch.setattr(Warehouse, "run", broken)
    for conn in (remote, local):
        with pytest.raises(ExecutionFailed, match="warehouse disk gone"):
            conn.run_report(rid)


@sqlite_only
def test_arrow_answers_and_json_default(api, remote, tokens):
    s = api.session(tokens["analyst@acme"])
    body = {"query": TYPED.spec().model_dump(mode="json", by_alias=True)}
    r = s.post(f"{api.base}/api/query", json=body, headers={"Accept": ARROW})
    assert r.status_code == 200 and r.headers["Content-Type"] == ARROW and r.headers["Vary"] == "Accept"
    table = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    types = {f.name: f.type for f in table.schema}
    assert pa.types.is_timestamp(types["week"]) and pa.types.is_timestamp(types["last_closed"])
    assert types["n"] == pa.int64() and types["avg_h"] == pa.float64()
    assert pa.types.is_string(types["status"]) or pa.types.is_large_string(types["status"])
    assert int(r.headers["X-Conductor-Row-Count"]) == table.num_rows > 0
    assert r.headers["X-Conductor-Cached"] in ("true", "false")
    # JSON stays the default: no Accept, a wildcard, or JSON preferred.
    for accept in (None, "*/*", f"application/json, {ARROW};q=0.5"):
        j = s.post(f"{api.base}/api/query", json=body, headers={"Accept": accept} if accept else {})
        assert j.headers["Content-Type"].startswith("application/json"), accept
        assert j.json()["columns"] == table.column_names and len(j.json()["rows"]) == table.num_rows
    # A report run: the whole result as Arrow, the execution in headers (and in the history).
    rid = remote.save_report("Arrow run", TYPED)["id"]
    ex = s.post(f"{api.base}/api/reports/{rid}/execute", json={}, headers={"Accept": ARROW})
    assert ex.status_code == 201 and ex.headers["Content-Type"] == ARROW
    assert ex.headers["X-Conductor-Status"] == "done"
    assert (
        int(ex.headers["X-Conductor-Row-Count"])
        == pa.ipc.open_stream(io.BytesIO(ex.content)).read_all().num_rows
    )
    history = s.get(f"{api.base}/api/reports/{rid}/executions").json()["executions"]
    assert [e["id"] for e in history] == [int(ex.headers["X-Conductor-Execution-Id"])]
    # ... and without Accept, the JSON execution with its preview, as before.
    plain = s.post(f"{api.base}/api/reports/{rid}/execute", json={})
    assert plain.status_code == 201 and plain.json()["status"] == "done" and "preview" in plain.json()
