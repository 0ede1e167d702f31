"""Random bodies and arguments against the REST API: always JSON, never a 5xx.

One database, demo seed and API server for the module (tests/conftest.py); each test fuzzes
copies of its own.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.demo.accounts import DEV_PASSWORD
from tests.support.shared import copy_dashboard, copy_report, sign_in_once

leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "name",
        "query",
        "spec",
        "params",
        "position",
        "positions",
        "filters",
        "queries",
        "visibility",
        "dashboard_id",
        "source",
        "metrics",
        "group_by",
        "email",
        "password",
        "type",
        "chart",
    ]
)
bodies = st.dictionaries(keys, json_values, max_size=6) | json_values
ENDPOINTS = [
    ("post", "/api/query"),
    ("post", "/api/query/estimate"),
    ("post", "/api/reports"),
    ("put", "/api/reports/{r}"),
    ("post", "/api/reports/{r}/execute"),
    ("post", "/api/dashboards"),
    ("put", "/api/dashboards/{d}"),
    ("put", "/api/dashboards/{d}/layout"),
    ("post", "/api/widgets"),
    ("put", "/api/widgets/{w}"),
    ("post", "/api/tokens"),
]


@pytest.fixture(scope="module")
def analyst(module_api):
    """The analyst signed in once for the module (a sign-in is ~0.2 s of argon2), and the ids of the
    first public dashboard and first report as seeded (read before any test could change a listing)."""
    server = module_api
    s = sign_in_once(server, "analyst@acme.example.com", DEV_PASSWORD)
    d = s.get(f"{server.base}/api/dashboards", params={"group": "public"}).json()["dashboards"][0]["id"]
    r = s.get(f"{server.base}/api/reports").json()["reports"][0]["id"]
    return s, {"d": d, "r": r}


@pytest.fixture
def api(module_api, analyst, redis_client):
    """The module's server, the analyst, and ids of objects of this test's own.

    Random bodies may succeed (rename, re-query, re-layout): each test changes copies of the
    seeded dashboard and report, never what other tests copy. Redis (sign-in counts, cache) is
    emptied for each test.
    """
    server, (s, seeded) = module_api, analyst
    d = copy_dashboard(s, server.base, seeded["d"])["id"]
    w = s.get(f"{server.base}/api/dashboards/{d}").json()["widgets"][0]["id"]
    r = copy_report(s, server.base, seeded["r"])["id"]
    return server, s, {"d": d, "w": w, "r": r}


@pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_random_bodies_never_5xx(api, method, path):
    server, s, ids = api

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies)
    def check(body):
        raw = json.dumps(body, allow_nan=True)  # NaN/Infinity too: not valid JSON, must still be a 4xx
        r = getattr(s, method)(
            f"{server.base}{path.format(**ids)}", data=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code < 500, (r.status_code, r.text[:300], raw[:300])
        if r.status_code >= 400:
            assert r.json()["message"]

    check()


@pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
def test_random_query_strings_never_5xx(api):
    server, s, ids = api

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.dictionaries(
            st.sampled_from(
                ["time_range", "team", "customer", "location", "drill", "group", "search", "format"]
            ),
            st.text(max_size=40),
            max_size=4,
        )
    )
    def check(args):
        for path in ("/api/dashboards/{d}/view", "/api/widgets/{w}/data", "/api/dashboards"):
            r = s.get(f"{server.base}{path.format(**ids)}", params=args)
            assert r.status_code < 500, (path, args, r.text[:300])

    check()
