"""Dashboards and widgets over HTTP: the seed-000 endpoints end to end, and 4xx JSON naming the field.

One database, demo seed and API server per backend for the whole module (tests/conftest.py):
each test starts with an empty Redis and works on dashboards it creates itself.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from portal.demo.accounts import DEV_PASSWORD
from tests.support.shared import sign_in_once

Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}], "group_by": ["team_name"]}
CHART = {
    "type": "chart",
    "title": "By team",
    "query_name": "q",
    "chart": {"viz": "bar", "x": "team_name", "y": ["tickets"]},
    "drilldown": {"hierarchy": ["team_name", "agent_name"]},
}
KPI = {
    "type": "kpi",
    "title": "Tickets",
    "query": {**Q, "group_by": []},
    "kpi": {"value": "tickets", "target": 10},
}


@pytest.fixture
def api(module_api, redis_client):
    """The module's API server; Redis (sign-in counts, cache) emptied for each test."""
    return module_api


@pytest.fixture(scope="module")
def analyst(module_api):
    """One signed-in analyst for the ~46 bad-input cases of a backend (a sign-in is ~0.2 s of argon2)."""
    return sign_in_once(module_api, "analyst@acme.example.com", DEV_PASSWORD)


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if status != 204 else None


def test_dashboard_and_widget_lifecycle(api):
    s = login(api, "analyst@acme.example.com")
    base = api.base
    d = ok(
        s.post(
            f"{base}/api/dashboards",
            json={"name": "Team board", "visibility": "group", "queries": {"q": Q}, "filters": {"team": []}},
        ),
        201,
    )
    did = d["id"]
    assert d["widgets"] == [] and d["favorite"] is False and d["queries"]["q"]["source"] == "tickets"
    w = ok(s.post(f"{base}/api/widgets", json={"dashboard_id": did, "spec": CHART}), 201)
    assert w["position"] == {"x": 0, "y": 0, "w": 6, "h": 4} and w["viz"] == "bar"
    k = ok(
        s.post(
            f"{base}/api/widgets",
            json={"dashboard_id": did, "spec": KPI, "position": {"x": 6, "y": 0, "w": 3, "h": 2}},
        ),
        201,
    )
    assert ok(s.get(f"{base}/api/widgets/{k['id']}"))["title"] == "Tickets"
    got = ok(s.get(f"{base}/api/dashboards/{did}"))
    assert [x["id"] for x in got["widgets"]] == [w["id"], k["id"]]
    # edit: name, filters, realtime and layout in one PUT
    put = ok(
        s.put(
            f"{base}/api/dashboards/{did}",
            json={
                "name": "Team board v2",
                "realtime_enabled": True,
                "filters": {"time_range": "{{now-30d}}..{{now}}"},
                "positions": {str(k["id"]): {"x": 0, "y": 4, "w": 3, "h": 2}},
            },
        )
    )
    assert (put["name"], put["realtime_enabled"], put["filters"]) == (
        "Team board v2",
        True,
        {"time_range": "{{now-30d}}..{{now}}"},
    )
    assert {x["id"]: x["position"] for x in put["widgets"]}[k["id"]] == {"x": 0, "y": 4, "w": 3, "h": 2}
    lay = ok(
        s.put(
            f"{base}/api/dashboards/{did}/layout",
            json={"positions": {str(w["id"]): {"x": 6, "y": 0, "w": 6, "h": 4}}},
        )
    )
    assert {x["id"]: x["position"] for x in lay["widgets"]}[w["id"]] == {"x": 6, "y": 0, "w": 6, "h": 4}
    upd = ok(s.put(f"{base}/api/widgets/{w['id']}", json={"spec": {**CHART, "title": "Teams"}}))
    assert upd["title"] == "Teams" and upd["position"] == {"x": 6, "y": 0, "w": 6, "h": 4}
    # data and view
    data = ok(s.get(f"{base}/api/widgets/{w['id']}/data"))
    assert data["columns"] == ["team_name", "tickets"] and data["drill"]["next"] == "agent_name"
    kd = ok(s.get(f"{base}/api/widgets/{k['id']}/data"))
    assert kd["kpi"]["target"] == 10 and "previous" in kd
    view = ok(s.get(f"{base}/api/dashboards/{did}/view"))
    assert view["name"] == "Team board v2" and all("data" in x for x in view["widgets"])
    # listing, favorites, duplicate
    mine = ok(s.get(f"{base}/api/dashboards", params={"group": "mine", "search": "team board"}))["dashboards"]
    assert [x["id"] for x in mine] == [did]
    assert ok(s.post(f"{base}/api/dashboards/{did}/favorite"))["favorite"] is True
    favs = ok(s.get(f"{base}/api/dashboards", params={"group": "favorites"}))["dashboards"]
    assert [(x["id"], x["favorite"]) for x in favs] == [(did, True)]
    v = login(api, "viewer@acme.example.com")
    team = ok(v.get(f"{base}/api/dashboards", params={"group": "team"}))["dashboards"]
    assert [x["id"] for x in team] == [did]
    dup = ok(v.post(f"{base}/api/dashboards/{did}/duplicate", json={}), 201)
    assert (
        dup["name"] == "Copy of Team board v2"
        and dup["owner_id"] != put["owner_id"]
        and len(dup["widgets"]) == 2
    )
    assert ok(v.get(f"{base}/api/dashboards", params={"group": "mine"}))["dashboards"][0]["id"] == dup["id"]
    # deletes
    assert ok(s.delete(f"{base}/api/widgets/{k['id']}"), 204) is None
    assert s.get(f"{base}/api/widgets/{k['id']}").status_code == 404
    assert ok(s.delete(f"{base}/api/dashboards/{did}"), 204) is None
    assert s.get(f"{base}/api/dashboards/{did}").status_code == 404
    assert s.get(f"{base}/api/widgets/{w['id']}/data").status_code == 404
    assert ok(v.get(f"{base}/api/dashboards/{dup['id']}"))["id"] == dup["id"]  # the copy lives on


def test_view_filters_and_drill_on_a_demo_dashboard(api):
    v = login(api, "viewer@acme.example.com")
    base = api.base
    found = ok(v.get(f"{base}/api/dashboards", params={"group": "public", "search": "Operations"}))[
        "dashboards"
    ]
    (ops,) = [d for d in found if d["name"] == "Operations & SLA"]  # "Live operations" matches too
    view = ok(v.get(f"{base}/api/dashboards/{ops['id']}/view"))
    assert view["filters_applied"] == {"time_range": "{{now-90d}}..{{now}}"} and len(view["widgets"]) >= 8
    assert [x["title"] for x in view["widgets"] if "error" in x] == []
    bar = next(x for x in view["widgets"] if x["title"].startswith("Tickets by team"))
    # an absolute window: the tiny test warehouse ends on 2026-11-01 whatever today is
    window = "2026-05-01..2026-11-01"
    wide = ok(v.get(f"{base}/api/widgets/{bar['id']}/data", params={"time_range": window}))
    team = wide["rows"][0][0]
    narrowed = ok(
        v.get(
            f"{base}/api/dashboards/{ops['id']}/view",
            params=[("time_range", window), ("team", team), ("team", "nobody")],
        )
    )
    assert narrowed["filters_applied"] == {"time_range": window, "team": [team, "nobody"]}
    nbar = next(x for x in narrowed["widgets"] if x["id"] == bar["id"])
    assert [r[0] for r in nbar["data"]["rows"]] == [team]
    drill = quote(json.dumps([["team_name", team]]))
    down = ok(v.get(f"{base}/api/widgets/{bar['id']}/data?drill={drill}&time_range="))
    assert down["columns"][0] == "agent_name" and down["rows"]
    assert down["widget"]["spec"]["chart"]["x"] == "agent_name"
    # everyone in the tenant may view; only the owner side may change it
    assert v.put(f"{base}/api/dashboards/{ops['id']}", json={"name": "x"}).status_code == 403
    assert v.delete(f"{base}/api/dashboards/{ops['id']}").status_code == 403
    assert v.post(f"{base}/api/widgets", json={"dashboard_id": ops["id"], "spec": KPI}).status_code == 403
    assert v.put(f"{base}/api/dashboards/{ops['id']}/layout", json={"positions": {}}).status_code == 403
    g = login(api, "admin@globex.example.com")
    for path in ("", "/view"):
        r = g.get(f"{base}/api/dashboards/{ops['id']}{path}")
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
    assert g.get(f"{base}/api/widgets/{bar['id']}/data").status_code == 404
    assert g.post(f"{base}/api/dashboards/{ops['id']}/favorite").status_code == 404
    assert api.session().get(f"{base}/api/dashboards").status_code == 401


@pytest.fixture
def board(api, analyst):
    """A dashboard with one widget of this test's own (a case that wrongly succeeded changes only it)."""
    s = analyst
    d = s.post(f"{api.base}/api/dashboards", json={"name": "Bad inputs", "queries": {"q": Q}}).json()
    w = s.post(f"{api.base}/api/widgets", json={"dashboard_id": d["id"], "spec": CHART}).json()
    return s, {"d": d["id"], "w": w["id"]}


def fill(obj, ids):
    """Replace "{d}"/"{w}" in paths, strings, keys and whole values with the fixture's ids."""
    if isinstance(obj, str):
        if obj in ("{d}", "{w}"):
            return ids[obj[1]]
        return obj.replace("{d}", str(ids["d"])).replace("{w}", str(ids["w"]))
    if isinstance(obj, dict):
        return {fill(k, ids): fill(v, ids) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fill(v, ids) for v in obj]
    return obj


POS = {"x": 0, "y": 0, "w": 3, "h": 2}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/api/dashboards", b"{not json", 400, "body"),
        ("post", "/api/dashboards", b"[]", 400, "body"),
        ("post", "/api/dashboards", {}, 422, "name"),
        ("post", "/api/dashboards", {"name": "x", "visibility": "everyone"}, 422, "visibility"),
        ("post", "/api/dashboards", {"name": "x", "owner_id": 1}, 422, "owner_id"),
        (
            "post",
            "/api/dashboards",
            {"name": "x", "queries": {"q": {**Q, "source": "tikets"}}},
            422,
            "queries.q.source",
        ),
        (
            "post",
            "/api/dashboards",
            {"name": "x", "queries": {"q": {**Q, "group_by": ["tem"]}}},
            422,
            "queries.q.group_by[0].column",
        ),
        ("post", "/api/dashboards", {"name": "x", "queries": {"bad name": Q}}, 422, "queries"),
        (
            "post",
            "/api/dashboards",
            {"name": "x", "filters": {"time_range": "yesterday"}},
            422,
            "filters.time_range",
        ),
        ("post", "/api/dashboards", {"name": "x", "filters": {"colour": "red"}}, 422, "filters.colour"),
        ("get", "/api/dashboards?group=everyone", None, 422, "group"),
        ("get", "/api/dashboards/999999", None, 404, None),
        ("put", "/api/dashboards/{d}", {"name": ""}, 422, "name"),
        ("put", "/api/dashboards/{d}", {"queries": {}}, 422, "queries"),
        ("put", "/api/dashboards/{d}", {"positions": {"999999": POS}}, 422, "positions.999999"),
        ("post", "/api/dashboards/{d}/duplicate", {"name": 3}, 400, "name"),
        ("get", "/api/dashboards/{d}/view?time_range=last%20week", None, 422, "time_range"),
        ("get", "/api/dashboards/{d}/view?time_range=2026-02-01..2026-01-01", None, 422, "time_range"),
        ("post", "/api/widgets", {}, 400, "dashboard_id"),
        ("post", "/api/widgets", {"dashboard_id": "x", "spec": CHART}, 400, "dashboard_id"),
        ("post", "/api/widgets", {"dashboard_id": "{d}"}, 400, "spec"),
        ("post", "/api/widgets", {"dashboard_id": "{d}", "spec": CHART, "size": 3}, 400, "size"),
        ("post", "/api/widgets", {"dashboard_id": 999999, "spec": CHART}, 404, None),
        (
            "post",
            "/api/widgets",
            {"dashboard_id": "{d}", "spec": {**CHART, "query_name": "nope"}},
            422,
            "spec.query_name",
        ),
        (
            "post",
            "/api/widgets",
            {
                "dashboard_id": "{d}",
                "spec": {**CHART, "query_name": None, "query": {**Q, "group_by": ["tem"]}},
            },
            422,
            "spec.query.group_by[0].column",
        ),
        (
            "post",
            "/api/widgets",
            {
                "dashboard_id": "{d}",
                "spec": {**CHART, "chart": {"viz": "bar", "x": "agent_name", "y": ["tickets"]}},
            },
            422,
            "spec.chart.x",
        ),
        (
            "post",
            "/api/widgets",
            {"dashboard_id": "{d}", "spec": {**CHART, "type": "gauge"}},
            422,
            "spec.type",
        ),
        (
            "post",
            "/api/widgets",
            {"dashboard_id": "{d}", "spec": CHART, "position": {"x": 10, "w": 6}},
            422,
            "position",
        ),
        (
            "post",
            "/api/widgets",
            {"dashboard_id": "{d}", "spec": {**CHART, "query_name": None, "report_id": 999999}},
            404,
            "spec.report_id",
        ),
        ("put", "/api/widgets/{w}", {}, 400, "spec"),
        ("put", "/api/widgets/{w}", {"title": "x"}, 400, "title"),
        ("put", "/api/widgets/{w}", {"position": {"w": 0}}, 422, "position.w"),
        ("put", "/api/widgets/{w}", {"spec": "chart"}, 400, "spec"),
        ("put", "/api/widgets/999999", {"position": POS}, 404, None),
        ("delete", "/api/widgets/999999", None, 404, None),
        ("put", "/api/dashboards/{d}/layout", {}, 400, "positions"),
        ("put", "/api/dashboards/{d}/layout", {"positions": [1]}, 400, "positions"),
        ("put", "/api/dashboards/{d}/layout", {"positions": {"999999": POS}}, 422, "positions.999999"),
        ("put", "/api/dashboards/{d}/layout", {"positions": {"abc": POS}}, 422, "positions"),
        (
            "put",
            "/api/dashboards/{d}/layout",
            {"positions": {"{w}": {"x": 11, "w": 3}}},
            422,
            "positions.{w}",
        ),
        ("get", "/api/widgets/{w}/data?drill=notjson", None, 400, "drill"),
        ("get", "/api/widgets/{w}/data?drill=" + quote('{"team_name": 1}'), None, 400, "drill"),
        ("get", "/api/widgets/{w}/data?drill=" + quote('[["agent_name", "x"]]'), None, 422, "drill"),
        (
            "get",
            "/api/widgets/{w}/data?drill=" + quote('[["team_name", "x"], ["agent_name", "y"]]'),
            None,
            422,
            "drill",
        ),
        ("get", "/api/widgets/{w}/data?team=" + "x" * 5, None, 200, None),
        ("get", "/api/widgets/999999/data", None, 404, None),
    ],
)
def test_bad_input_is_4xx_json(api, board, method, path, body, status, field):
    s, ids = board
    kw = {"data": body} if isinstance(body, bytes) else {"json": fill(body, ids)} if body is not None else {}
    r = getattr(s, method)(f"{api.base}{fill(path, ids)}", **kw)
    assert r.status_code == status, r.text
    doc = r.json()
    assert "Traceback" not in r.text
    if status >= 400:
        assert doc["message"]
    if field:
        assert doc.get("field") == fill(field, ids), doc


def login(api, email, password=DEV_PASSWORD):
    return api.login(email, password)
