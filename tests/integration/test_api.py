"""REST API end to end over HTTP: auth, reports, executions, exports, and 4xx JSON for bad input."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from portal.demo.accounts import DEV_PASSWORD

Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["priority"]}


def test_health_and_metrics(api):
    r = api.session().get(f"{api.base}/healthz")
    assert r.status_code == 200 and r.json()["checks"] == {"metadata": "ok", "warehouse": "ok", "redis": "ok"}
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    m = api.session().get(f"{api.base}/metrics")
    assert m.status_code == 200 and "conductor_http_requests_total" in m.text


def test_login_and_me(api):
    s = login(api, "analyst@acme.example.com")
    me = s.get(f"{api.base}/api/me").json()
    assert me["email"] == "analyst@acme.example.com" and me["tenant"] == "acme"
    bad = api.session().post(
        f"{api.base}/api/tokens", json={"email": "analyst@acme.example.com", "password": "nope"}
    )
    assert bad.status_code == 401 and bad.json()["message"] == "invalid e-mail or password"
    assert api.session().get(f"{api.base}/api/me").status_code == 401
    assert api.session("cbi_forged").get(f"{api.base}/api/me").status_code == 401


def test_login_rate_limited(api):
    # Per address: ten attempts a minute whatever the account.
    codes = [
        api.session()
        .post(f"{api.base}/api/tokens", json={"email": f"x{i}@y.com", "password": "wrong-pass"})
        .status_code
        for i in range(12)
    ]
    assert codes[:10] == [401] * 10 and codes[-1] == 429


def test_login_backoff_per_account(api, redis_client):
    codes = [
        api.session()
        .post(f"{api.base}/api/tokens", json={"email": "viewer@acme.example.com", "password": "wrong-pass"})
        .status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    r = api.session().post(
        f"{api.base}/api/tokens", json={"email": "viewer@acme.example.com", "password": DEV_PASSWORD}
    )
    assert r.status_code == 429 and "this account" in r.json()["message"]


def test_query_catalog_estimate(api):
    s = login(api, "viewer@acme.example.com")
    cat = s.get(f"{api.base}/api/catalog").json()
    assert "tickets" in [x["name"] for x in cat["sources"]]
    r = s.post(f"{api.base}/api/query", json={"query": Q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["priority", "n"] and body["row_count"] == len(body["rows"]) > 0
    assert s.post(f"{api.base}/api/query", json={"query": Q}).json()["cached"] is True
    est = s.post(f"{api.base}/api/query/estimate", json={"query": Q}).json()
    assert est["scanned_rows"] == sum(row[1] for row in body["rows"])


def test_report_lifecycle_and_exports(api):
    s = login(api, "analyst@acme.example.com")
    r = s.post(f"{api.base}/api/reports", json={"name": "By priority", "query": Q, "visibility": "public"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert s.get(f"{api.base}/api/reports/{rid}").json()["name"] == "By priority"
    ex = s.post(f"{api.base}/api/reports/{rid}/execute", json={})
    assert ex.status_code == 201, ex.text
    exd = ex.json()
    assert exd["status"] == "done" and exd["row_count"] == len(exd["preview"]["rows"])
    hist = s.get(f"{api.base}/api/reports/{rid}/executions").json()["executions"]
    assert hist[0]["id"] == exd["id"]
    for fmt, reader in (("csv", pd.read_csv), ("xlsx", pd.read_excel), ("parquet", pd.read_parquet)):
        f = s.get(f"{api.base}/api/executions/{exd['id']}/export", params={"format": fmt})
        assert f.status_code == 200, f.text
        assert "attachment" in f.headers["Content-Disposition"]
        frame = reader(io.BytesIO(f.content))
        assert list(frame.columns) == ["priority", "n"] and len(frame) == exd["row_count"]
    # a viewer of the same tenant can run and export the public report, but not edit or delete it
    v = login(api, "viewer@acme.example.com")
    assert v.post(f"{api.base}/api/reports/{rid}/execute", json={}).status_code == 201
    assert v.put(f"{api.base}/api/reports/{rid}", json={"name": "x", "query": Q}).status_code == 403
    assert v.delete(f"{api.base}/api/reports/{rid}").status_code == 403
    # another tenant cannot see it at all
    g = login(api, "admin@globex.example.com")
    assert g.get(f"{api.base}/api/reports/{rid}").status_code == 404
    assert g.get(f"{api.base}/api/executions/{exd['id']}/export").status_code == 404
    assert s.delete(f"{api.base}/api/reports/{rid}").status_code == 204
    assert s.get(f"{api.base}/api/reports/{rid}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/api/reports", b"{not json", 400, "body"),
        ("post", "/api/reports", b"[1,2]", 400, "body"),
        ("post", "/api/reports", {"name": "x"}, 422, "query"),
        ("post", "/api/reports", {"name": "x", "query": {**Q, "source": "tikets"}}, 422, "source"),
        ("post", "/api/reports", {"name": "x", "query": {**Q, "limit": 10**9}}, 422, "query.limit"),
        ("post", "/api/reports", {"name": "x" * 300, "query": Q}, 422, "name"),
        ("post", "/api/query", {"query": {**Q, "group_by": ["prio"]}}, 422, "group_by[0].column"),
        ("post", "/api/query", {"query": Q, "params": [1]}, 400, "params"),
        ("post", "/api/query", {}, 400, "query"),
        (
            "post",
            "/api/query",
            {"query": {"source": "tickets", "metrics": [{"agg": "sum", "column": "priority"}]}},
            422,
            "metrics[0].column",
        ),
        (
            "post",
            "/api/query",
            {"query": {**Q, "filters": [{"column": "opened_at", "op": ">", "value": "last tuesday"}]}},
            422,
            "filters[0].value",
        ),
        ("get", "/api/reports/999999", None, 404, None),
        ("get", "/api/reports/99999999999999999999999", None, 404, None),
        ("get", "/api/nothing/here", None, 404, None),
        ("post", "/api/reports/1/execute", {"params": "x"}, 400, "params"),
        ("get", "/api/executions/1/export?format=docx", None, 404, None),
    ],
)
def test_bad_input_is_4xx_json(api, method, path, body, status, field):
    s = login(api, "analyst@acme.example.com")
    kw = {"data": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    r = getattr(s, method)(f"{api.base}{path}", **kw)
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["message"] and "Traceback" not in r.text
    if field:
        assert doc.get("field") == field, doc


def login(api, email, password=DEV_PASSWORD):
    return api.login(email, password)
