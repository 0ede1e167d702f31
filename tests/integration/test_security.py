"""Regression tests for the outside probe's findings on the REST API (issue 6).

Each test failed before its fix: stored results handed across scopes, report
``viz`` stored unvalidated, ids leaked in 404s, unrevocable API tokens, public
metrics.
"""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD
from portal.identity import auth
from portal.infra.db import transaction
from portal.models import ApiToken
from tests.support.shared import new_user

# One database, demo seed and API server for the module (tests/conftest.py): each test starts with
# an empty Redis, and a test that changes a user or counts a user's tokens gets a user of its own.
pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

BY_LOCATION = {
    "source": "tickets",
    "metrics": [{"agg": "count", "as": "n"}],
    "group_by": ["location_id"],
    "limit": 5000,
}


def login(api, email: str, password: str = DEV_PASSWORD) -> requests.Session:
    return api.login(email, password)


@pytest.fixture
def ctx(module_ctx, redis_client):
    """The module's context; Redis (sign-in counts, cache) emptied for each test."""
    return module_ctx


@pytest.fixture
def demo(module_demo):
    return module_demo


@pytest.fixture
def api(module_api, redis_client):
    return module_api


@pytest.fixture
def restricted(ctx, demo):
    """A new user of acme who may see locations 1 and 2 only (their own: a test narrows it further)."""
    return new_user(ctx, "acme", DEV_PASSWORD, locations=[1, 2])


@pytest.fixture
def own_user(ctx, demo):
    """A new user of acme, for a test that counts and revokes the user's API tokens."""
    return new_user(ctx, "acme", DEV_PASSWORD)


def test_export_of_someone_elses_run_is_rerun_under_the_callers_scope(api, restricted):
    analyst = login(api, "analyst@acme.example.com")
    r = analyst.post(
        f"{api.base}/api/reports",
        json={"name": "By location", "query": BY_LOCATION, "visibility": "public"},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    ex = analyst.post(f"{api.base}/api/reports/{rid}/execute").json()
    assert ex["status"] == "done" and "result_ref" not in ex  # no server paths in the API
    full = analyst.get(f"{api.base}/api/executions/{ex['id']}/export", params={"format": "csv"})
    assert full.status_code == 200
    all_locations = set(pd.read_csv(pd.io.common.StringIO(full.text))["location_id"])
    assert len(all_locations) > 2

    field = login(api, restricted)
    got = field.get(f"{api.base}/api/executions/{ex['id']}/export", params={"format": "csv"})
    assert got.status_code == 200, got.text
    assert set(pd.read_csv(pd.io.common.StringIO(got.text))["location_id"]) <= {1, 2}
    # The history does not tell them how many rows the runner saw either.
    hist = field.get(f"{api.base}/api/reports/{rid}/executions").json()["executions"]
    assert hist[0]["row_count"] is None and hist[0]["meta"] == {}
    mine = analyst.get(f"{api.base}/api/reports/{rid}/executions").json()["executions"]
    assert mine[0]["row_count"] == len(all_locations)


def test_runner_whose_scope_shrank_gets_a_rerun(api, ctx, restricted):
    field = login(api, restricted)
    rid = field.post(
        f"{api.base}/api/reports", json={"name": "Mine", "query": BY_LOCATION, "visibility": "private"}
    ).json()["id"]
    ex = field.post(f"{api.base}/api/reports/{rid}/execute").json()
    with transaction(ctx.sessions) as s:
        u = s.scalar(select(auth.User).where(auth.User.email == restricted))
        u.location_scope = [1]
    got = field.get(f"{api.base}/api/executions/{ex['id']}/export", params={"format": "csv"})
    assert set(pd.read_csv(pd.io.common.StringIO(got.text))["location_id"]) == {1}


def test_other_tenants_execution_is_the_same_404_as_a_missing_one(api):
    analyst = login(api, "analyst@acme.example.com")
    rid = analyst.get(f"{api.base}/api/reports").json()["reports"][0]["id"]
    eid = analyst.post(f"{api.base}/api/reports/{rid}/execute").json()["id"]
    outsider = login(api, "admin@globex.example.com")
    theirs = outsider.get(f"{api.base}/api/executions/{eid}/export")
    missing = outsider.get(f"{api.base}/api/executions/999999/export")
    assert theirs.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(theirs)["message"] == f"execution {eid} not found"
    assert strip(missing)["message"] == "execution 999999 not found"
    assert strip(theirs).keys() == strip(missing).keys() and f"report {rid}" not in theirs.text


@pytest.mark.parametrize(
    ("viz", "field"),
    [
        ({"viz": "<img src=x onerror=alert(document.domain)>", "x": "priority", "y": ["n"]}, "viz.0.viz"),
        ({"foo": 1}, "viz.0"),
        ({"viz": "bar", "x": "priority", "y": ["nope"]}, "viz.0"),
        ("a string", "viz.0"),
    ],
)
def test_report_viz_is_validated_on_write(api, viz, field):
    analyst = login(api, "analyst@acme.example.com")
    q = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["priority"]}
    r = analyst.post(f"{api.base}/api/reports", json={"name": "x", "query": q, "viz": [viz]})
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field)
    ok = analyst.post(
        f"{api.base}/api/reports",
        json={"name": "x", "query": q, "viz": [{"viz": "bar", "x": "priority", "y": ["n"]}]},
    )
    assert ok.status_code == 201 and ok.json()["viz"] == [{"viz": "bar", "x": "priority", "y": ["n"]}]


def test_api_tokens_listed_revoked_and_short_lived(api, ctx, own_user):
    s = login(api, own_user)
    listing = s.get(f"{api.base}/api/tokens").json()["tokens"]
    assert len(listing) == 1 and listing[0]["state"] == "active" and listing[0]["last_used_at"]
    assert "token_hash" not in listing[0]
    tid = listing[0]["id"]
    with ctx.sessions() as db:
        tok = db.get(ApiToken, tid)
        lifetime = tok.expires_at - tok.created_at
    assert 29 <= lifetime.days <= 30  # 30 days by default (was 365)
    other = login(api, "viewer@acme.example.com")
    assert other.get(f"{api.base}/api/tokens/{tid}").status_code == 404
    assert other.delete(f"{api.base}/api/tokens/{tid}").status_code == 404
    assert s.get(f"{api.base}/api/tokens/{tid}").json()["state"] == "active"
    r = s.delete(f"{api.base}/api/tokens/{tid}")
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert s.get(f"{api.base}/api/me").status_code == 401  # revoked at once


@pytest.mark.parametrize("days", [0, 366, -1, "30", True, 1.5])
def test_token_lifetime_bounds(api, days):
    r = requests.post(
        f"{api.base}/api/tokens",
        json={"email": "analyst@acme.example.com", "password": DEV_PASSWORD, "days": days},
    )
    assert r.status_code == 400 and r.json()["field"] == "days"


def test_token_lifetime_chosen(api):
    r = requests.post(
        f"{api.base}/api/tokens",
        json={"email": "analyst@acme.example.com", "password": DEV_PASSWORD, "days": 1},
    )
    assert r.status_code == 201
    assert pd.Timestamp(r.json()["expires_at"]) - pd.Timestamp.now(tz="UTC") < pd.Timedelta(days=1)


def test_metrics_only_for_allowed_networks_or_the_scrape_token(api, ctx):
    assert requests.get(f"{api.base}/metrics").status_code == 200  # loopback is allowed by default
    from portal.web.api import metrics_allowed

    closed = ctx.settings.with_(metrics_networks=("10.0.0.0/8",), metrics_token="scrape-token")
    assert not metrics_allowed(closed, "127.0.0.1", "")
    assert not metrics_allowed(closed, "192.168.1.9", "Bearer wrong")
    assert metrics_allowed(closed, "192.168.1.9", "Bearer scrape-token")
    assert metrics_allowed(closed, "10.1.2.3", "")
    assert not metrics_allowed(ctx.settings.with_(metrics_networks=("garbage",)), "127.0.0.1", "")
