"""Hostile input against every JSON endpoint: nested, huge, overflowing, non-UTF-8, surrogates.

Every answer must be a 4xx with a JSON message (never a 5xx, never a hang).
The endpoint list comes from the server's own route table, so a new endpoint
is covered the day it is added.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from portal.demo.accounts import DEV_PASSWORD
from portal.web.api import routes
from portal.web.jsonsafe import MAX_JSON_BYTES
from tests.support.shared import copy_dashboard, copy_report, sign_in_once

# One database, demo seed and API server for the module (tests/conftest.py).
sqlite_only = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

NESTED_LIST = "[" * 1000 + "]" * 1000
NESTED_DICT = '{"a":' * 1000 + "1" + "}" * 1000
Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["priority"]}


def query_with(value) -> dict:
    return {**Q, "filters": [{"column": "customer_name", "op": "=", "value": value}]}


def hostile_bodies() -> list[tuple[str, bytes]]:
    """(label, raw body) pairs."""
    raw = [
        ("nested list 1000", NESTED_LIST),
        ("nested dict 1000", NESTED_DICT),
        ("nested 40 in a field", '{"query":' + "[" * 40 + "]" * 40 + "}"),
        ("nested query value", json.dumps({"query": query_with([[[[[[[[[["x"]]]]]]]]]])})),
        ("NaN", '{"query": NaN}'),
        ("Infinity", '{"days": Infinity, "position": {"x": -Infinity}}'),
        ("1e400", '{"query": {"source": "tickets", "limit": 1e400}, "days": 1e400}'),
        ("5000 digits", '{"dashboard_id": ' + "9" * 5000 + "}"),
        ("2**70", json.dumps({"dashboard_id": 2**70, "query": {**Q, "limit": 2**70}})),
        (
            "surrogate value",
            '{"query": ' + json.dumps(query_with("x"))[:-1] + ', "params": {"p": "\\ud800"}}',
        ),
        ("surrogate filter", json.dumps(query_with("\ud800")).join(['{"query": ', "}"])),
        ("surrogate key", '{"\\udfff": 1, "name": "\\ud800"}'),
        (
            "surrogate everywhere",
            '{"name": "\\ud800", "email": "\\ud800", "password": "\\ud800", "spec": {"type": "\\ud800"}}',
        ),
        ("overflow window", json.dumps({"query": query_with("{{now-999999y}}")})),
        (
            "overflow between",
            json.dumps(
                {
                    "query": {
                        **Q,
                        "filters": [
                            {
                                "column": "opened_at",
                                "op": "between",
                                "value": "{{now-999999y}}..{{now+999999y}}",
                            }
                        ],
                    }
                }
            ),
        ),
        (
            "overflow dashboard filter",
            json.dumps({"name": "x", "filters": {"time_range": "{{now-999999y}}..{{now}}"}}),
        ),
        (
            "many values",
            json.dumps(
                {
                    "query": {
                        **Q,
                        "filters": [
                            {
                                "column": "customer_name",
                                "op": "not_in",
                                "value": [str(i) for i in range(1000)],
                            }
                        ]
                        * 60,
                    }
                }
            ),
        ),
        ("long string", json.dumps({"name": "x" * 500_000, "query": query_with("y" * 500_000)})),
    ]
    out = [(label, body.encode("utf-8", "surrogatepass")) for label, body in raw]
    out += [
        ("not UTF-8", b'{"name": "\xff\xfe\xfa"}'),
        ("latin-1", '{"name": "São Paulo"}'.encode("latin-1")),
        ("UTF-16", '{"name": "x"}'.encode("utf-16")),
        ("encoded surrogate", b'{"name": "\xed\xa0\x80"}'),
        ("huge", b'{"name": "' + b"x" * (MAX_JSON_BYTES + 10) + b'"}'),
        ("not an object", b"[1, 2, 3]"),
        ("truncated", b'{"query": {"source": '),
        ("NUL", b'{"name": "a\x00b"}'),
    ]
    return out


def json_endpoints() -> list[tuple[str, str]]:
    """(method, sample path) of every route that reads a JSON body."""
    out = []
    for pattern, handler, _ in routes(None):  # type: ignore[arg-type]
        if pattern == r"/api/.*":
            continue
        path = re.sub(r"\(\\d\{1,18\}\)", "{id}", pattern)
        for method in ("post", "put"):
            if method in handler.__dict__:
                out.append((method, path))
    return out


@pytest.fixture(scope="module")
def analyst(module_api):
    """The analyst signed in once for the module (a sign-in is ~0.2 s of argon2), and the ids of their
    first dashboard and first report as seeded (read before any test could change a listing)."""
    s = sign_in_once(module_api, "analyst@acme.example.com", DEV_PASSWORD)
    d = s.get(f"{module_api.base}/api/dashboards", params={"group": "mine"}).json()["dashboards"][0]["id"]
    r = s.get(f"{module_api.base}/api/reports").json()["reports"][0]["id"]
    return s, {"d": d, "r": r}


@pytest.fixture
def hostile_api(module_api, analyst, redis_client):
    """The module's server (Redis emptied for each test) and objects of this test's own.

    A benign body may succeed (a UTF-16 rename): each test aims at copies of the seeded
    dashboard and report.
    """
    api, (s, seeded) = module_api, analyst
    d = copy_dashboard(s, api.base, seeded["d"])["id"]
    w = s.get(f"{api.base}/api/dashboards/{d}").json()["widgets"][0]["id"]
    r = copy_report(s, api.base, seeded["r"])["id"]
    ids = {"/api/dashboards": d, "/api/widgets": w, "/api/reports": r}
    return api, s, ids


def sample(path: str, ids: dict[str, int]) -> str:
    for prefix, value in ids.items():
        if path.startswith(prefix + "/{id}"):
            return path.replace("{id}", str(value))
    return path.replace("{id}", "1")


def test_every_json_endpoint_is_covered():
    found = {p for _, p in json_endpoints()}
    assert {"/api/tokens", "/api/query", "/api/reports", "/api/widgets", "/api/dashboards/{id}"} <= found


@sqlite_only
def test_hostile_bodies_on_every_json_endpoint(hostile_api):
    api, s, ids = hostile_api
    failures = []
    for method, path in json_endpoints():
        url = f"{api.base}{sample(path, ids)}"
        for label, body in hostile_bodies():
            # The unauthenticated endpoint too: that one is reachable by anyone.
            client = requests if path == "/api/tokens" else s
            r = client.request(
                method, url, data=body, headers={"Content-Type": "application/json"}, timeout=30
            )
            ok = 400 <= r.status_code < 500 and r.headers.get("Content-Type", "").startswith(
                "application/json"
            )
            if ok:
                ok = bool(r.json().get("message"))
            # A benign body may legitimately succeed on some endpoints; nothing may be a 5xx.
            if not ok and not (r.status_code < 300 and label in ("latin-1", "UTF-16")):
                failures.append((method, path, label, r.status_code, r.text[:160]))
    assert failures == [], "\n".join(map(str, failures))


@sqlite_only
@pytest.mark.parametrize(
    "args",
    [
        {"drill": NESTED_LIST},
        {"drill": NESTED_DICT},
        {"drill": '[["team_name", "\\ud800"]]'},
        {"drill": '[["team_name", 1e999]]'},
        {"time_range": "{{now-999999y}}..{{now}}"},
        {"time_range": "{{start_of_year+999999M}}..{{now}}"},
        {"team": "\ud800"},
        {"customer": "x" * 20_000},
    ],
)
def test_hostile_query_strings(hostile_api, args):
    api, s, ids = hostile_api
    for path in (
        f"/api/dashboards/{ids['/api/dashboards']}/view",
        f"/api/widgets/{ids['/api/widgets']}/data",
    ):
        url = f"{api.base}{path}"
        if any("\ud800" in v for v in args.values()):
            # requests cannot encode a lone surrogate; send the raw UTF-8 bytes of one instead.
            url += "?team=%ED%A0%80"
            r = s.get(url, timeout=30)
        else:
            r = s.get(url, params=args, timeout=30)
        assert 400 <= r.status_code < 500, (path, args, r.status_code, r.text[:200])
        assert r.json()["message"]
