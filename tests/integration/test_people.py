"""People, groups, invitations, per-object grants and the audit trail over REST (SQLite and PostgreSQL).

One database, demo seed and API server per module and backend (tests/conftest.py): every test
makes its own users, groups and dashboards, and never relies on what another test did.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD, RESTRICTED_LOCATIONS
from portal.identity import auth
from portal.infra.db import transaction
from portal.models import ApiToken, AuditLog, Permission, User, WebSession
from tests.support.shared import copy_dashboard, sign_in_once

GOOD = "violet-harbor-cactus-93"  # meets the policy (12+ chars, zxcvbn 4)


@pytest.fixture(scope="module")
def admin(module_api):
    return sign_in_once(module_api, "admin@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def viewer(module_api, admin):
    return module_api.login("viewer@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def analyst(module_api, admin):
    return module_api.login("analyst@acme.example.com", DEV_PASSWORD)


@pytest.fixture
def api(module_api, redis_client):
    return module_api


def _email(tenant: str = "acme") -> str:
    return f"p-{uuid.uuid4().hex[:10]}@{tenant}.example.com"


def _new_user(api, admin, **extra) -> dict:
    r = admin.post(f"{api.base}/api/users", json={"email": _email(), "name": "Pat Example", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _user_id(api, email: str) -> int:
    with api.ctx.sessions() as s:
        return s.scalar(select(User.id).where(User.email == email))


def test_non_admin_gets_403_on_every_people_endpoint(api, admin, viewer):
    target = _new_user(api, admin)
    group = admin.post(f"{api.base}/api/groups", json={"name": f"G {uuid.uuid4().hex[:6]}"}).json()
    uid, gid = target["id"], group["id"]
    calls = [
        ("get", "/api/users", None),
        ("post", "/api/users", {"email": _email(), "name": "X"}),
        ("get", f"/api/users/{uid}", None),
        ("patch", f"/api/users/{uid}", {"name": "Y"}),
        ("post", f"/api/users/{uid}/disable", None),
        ("post", f"/api/users/{uid}/enable", None),
        ("post", f"/api/users/{uid}/reset-password", {"password": GOOD}),
        ("post", f"/api/users/{uid}/invite", None),
        ("get", "/api/groups", None),
        ("post", "/api/groups", {"name": "Mine"}),
        ("get", f"/api/groups/{gid}", None),
        ("patch", f"/api/groups/{gid}", {"name": "Z"}),
        ("delete", f"/api/groups/{gid}", None),
        ("put", f"/api/groups/{gid}/members/{uid}", None),
        ("delete", f"/api/groups/{gid}/members/{uid}", None),
        ("get", "/api/audit", None),
    ]
    for method, path, body in calls:
        r = getattr(viewer, method)(f"{api.base}{path}", json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error"] == "PermissionDenied"
    # nothing changed
    assert admin.get(f"{api.base}/api/users/{uid}").json()["name"] == "Pat Example"
    # no token at all: 401
    assert api.session().get(f"{api.base}/api/users").status_code == 401


def test_other_tenants_ids_are_404(api, admin):
    globex_admin = _user_id(api, "admin@globex.example.com")
    g = sign_in_once(api, "admin@globex.example.com", DEV_PASSWORD)
    globex_group = g.post(f"{api.base}/api/groups", json={"name": f"Globex {uuid.uuid4().hex[:6]}"}).json()
    mine = admin.post(f"{api.base}/api/groups", json={"name": f"Acme {uuid.uuid4().hex[:6]}"}).json()
    for method, path in (
        ("get", f"/api/users/{globex_admin}"),
        ("patch", f"/api/users/{globex_admin}"),
        ("post", f"/api/users/{globex_admin}/disable"),
        ("post", f"/api/users/{globex_admin}/invite"),
        ("get", f"/api/groups/{globex_group['id']}"),
        ("delete", f"/api/groups/{globex_group['id']}"),
        ("put", f"/api/groups/{mine['id']}/members/{globex_admin}"),
    ):
        body = {"name": "x"} if method == "patch" else None
        r = getattr(admin, method)(f"{api.base}{path}", json=body)
        assert r.status_code == 404, (method, path, r.text)
    listed = {u["email"] for u in admin.get(f"{api.base}/api/users").json()["users"]}
    assert "admin@globex.example.com" not in listed and "admin@acme.example.com" in listed


def test_last_active_admin_can_be_neither_disabled_nor_demoted(api):
    g = sign_in_once(api, "admin@globex.example.com", DEV_PASSWORD)
    me = _user_id(api, "admin@globex.example.com")
    r = g.post(f"{api.base}/api/users/{me}/disable")
    assert r.status_code == 409 and r.json()["field"] == "is_active", r.text
    r = g.patch(f"{api.base}/api/users/{me}", json={"is_admin": False})
    assert r.status_code == 409 and r.json()["field"] == "is_admin", r.text
    # another admin: that one can be demoted (one active admin remains)
    other = g.post(
        f"{api.base}/api/users", json={"email": _email("globex"), "name": "Second", "is_admin": True}
    )
    assert other.status_code == 201
    assert (
        g.patch(f"{api.base}/api/users/{other.json()['id']}", json={"is_admin": False}).json()["is_admin"]
        is False
    )
    assert g.get(f"{api.base}/api/users/{me}").json()["is_active"] is True


def test_create_validation_names_the_field(api, admin):
    cases = [
        ({"email": "nope", "name": "X"}, 422, "email"),
        ({"email": "admin@acme.example.com", "name": "X"}, 409, "email"),
        ({"email": _email(), "name": ""}, 422, "name"),
        ({"email": _email(), "name": "X", "password": "short"}, 422, "password"),
        ({"email": _email(), "name": "X", "password": "password123456"}, 422, "password"),
        ({"email": _email(), "name": "X", "locations": ["a"]}, 422, "locations"),
        ({"email": _email(), "name": "X", "is_admin": "yes"}, 422, "is_admin"),
        ({"email": _email(), "name": "X", "colour": "red"}, 400, "colour"),
        ({"email": _email(), "name": "a\u0000b"}, 422, "name"),
        ({"email": "a\u0000" + _email(), "name": "X"}, 422, "email"),
    ]
    for body, status, field in cases:
        r = admin.post(f"{api.base}/api/users", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["field"].startswith(field), (body, r.json())
    email = _email()
    r = admin.post(
        f"{api.base}/api/users",
        json={"email": email, "name": "Pat", "password": email.split("@")[0] + "-x-zebra"},
    )
    assert r.status_code == 422 and "e-mail" in r.json()["message"]
    assert admin.get(f"{api.base}/api/audit", params={"action": "bogus"}).status_code == 400
    assert admin.get(f"{api.base}/api/audit", params={"since": "yesterday"}).json()["field"] == "since"
    assert admin.get(f"{api.base}/api/users/0").status_code == 422
    assert admin.post(f"{api.base}/api/groups", json={"name": "g\u0000"}).json()["field"] == "name"
    assert admin.get(f"{api.base}/api/users", params={"search": "a\x00"}).status_code == 400
    assert admin.get(f"{api.base}/api/audit", params={"object_type": "x;drop"}).status_code == 400
    assert admin.get(f"{api.base}/api/audit", params={"since": "0001-01-01T00:00+05:00"}).status_code == 400


def test_invite_link_works_once_and_expires(api, admin):
    user = _new_user(api, admin)
    assert user["has_password"] is False
    r = admin.post(f"{api.base}/api/users/{user['id']}/invite")
    assert r.status_code == 201, r.text
    body = r.json()
    url = body["invite_url"]
    assert url.startswith(api.ctx.settings.base_url + "/invite?token=")
    assert body["emailed"] is True  # into the outbox folder (no SMTP configured)
    outbox = list(api.ctx.settings.outbox_dir.glob("*.eml"))
    assert any(user["email"] in p.read_text(errors="replace") for p in outbox)
    token = parse_qs(urlparse(url).query)["token"][0]
    with api.ctx.sessions() as s:
        u = s.get(User, user["id"])
        assert u.invite_token_hash and token not in u.invite_token_hash  # stored hashed
    accept = api.session()
    weak = accept.post(f"{api.base}/api/invites/accept", json={"token": token, "password": "pat-example-1"})
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    ok = accept.post(f"{api.base}/api/invites/accept", json={"token": token, "password": GOOD})
    assert ok.status_code == 200, ok.text
    again = accept.post(f"{api.base}/api/invites/accept", json={"token": token, "password": GOOD + "x"})
    assert again.status_code == 404 and again.json()["field"] == "token"
    assert api.token(user["email"], GOOD)  # the chosen password signs in
    # an expired link is refused with the same answer
    other = _new_user(api, admin)
    url2 = admin.post(f"{api.base}/api/users/{other['id']}/invite").json()["invite_url"]
    token2 = parse_qs(urlparse(url2).query)["token"][0]
    with transaction(api.ctx.sessions) as s:
        s.get(User, other["id"]).invite_expires_at = datetime.now(UTC) - timedelta(minutes=1)
    r = accept.post(f"{api.base}/api/invites/accept", json={"token": token2, "password": GOOD})
    assert r.status_code == 404 and r.json()["message"] == again.json()["message"]
    assert accept.post(f"{api.base}/api/invites/accept", json={"token": "x" * 43}).status_code == 400


def test_disabling_revokes_sessions_and_api_tokens(api, admin):
    user = _new_user(api, admin, password=GOOD)
    token = api.token(user["email"], GOOD)
    s = api.session(token)
    assert s.get(f"{api.base}/api/me").status_code == 200
    with transaction(api.ctx.sessions) as db:
        auth.start_web_session(db, db.get(User, user["id"]), hours=1)
    r = admin.post(f"{api.base}/api/users/{user['id']}/disable")
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert s.get(f"{api.base}/api/me").status_code == 401
    with api.ctx.sessions() as db:
        assert all(t.revoked_at for t in db.scalars(select(ApiToken).where(ApiToken.user_id == user["id"])))
        assert all(
            w.revoked_at for w in db.scalars(select(WebSession).where(WebSession.user_id == user["id"]))
        )
    assert admin.post(f"{api.base}/api/users/{user['id']}/enable").json()["is_active"] is True
    assert s.get(f"{api.base}/api/me").status_code == 401  # the revoked token stays revoked
    # reset by the admin: the old password stops working, the new one works
    r = admin.post(f"{api.base}/api/users/{user['id']}/reset-password", json={"password": GOOD + "-2"})
    assert r.status_code == 200, r.text
    assert (
        api.session()
        .post(f"{api.base}/api/tokens", json={"email": user["email"], "password": GOOD})
        .status_code
        == 401
    )
    assert api.token(user["email"], GOOD + "-2")


def test_groups_and_memberships(api, admin):
    name = f"Team {uuid.uuid4().hex[:6]}"
    g = admin.post(f"{api.base}/api/groups", json={"name": name}).json()
    dup = admin.post(f"{api.base}/api/groups", json={"name": name.upper()})
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    u = _new_user(api, admin)
    r = admin.put(f"{api.base}/api/groups/{g['id']}/members/{u['id']}")
    assert r.status_code == 200 and [m["id"] for m in r.json()["members"]] == [u["id"]]
    assert admin.get(f"{api.base}/api/users/{u['id']}").json()["groups"] == [{"id": g["id"], "name": name}]
    assert (
        admin.patch(f"{api.base}/api/groups/{g['id']}", json={"name": name + "!"}).json()["name"]
        == name + "!"
    )
    r = admin.delete(f"{api.base}/api/groups/{g['id']}/members/{u['id']}")
    assert r.status_code == 200 and r.json()["members"] == []
    assert admin.delete(f"{api.base}/api/groups/{g['id']}").status_code == 204
    assert admin.get(f"{api.base}/api/groups/{g['id']}").status_code == 404


def test_grants_give_and_remove_access_and_expire(api, admin, analyst):
    d = copy_dashboard(analyst, api.base, _demo_dashboard(api, analyst))
    person = _new_user(api, admin, password=GOOD)
    s = api.session(api.token(person["email"], GOOD))
    url = f"{api.base}/api/dashboards/{d['id']}"
    assert s.get(url).status_code == 404  # private: not even its existence
    # only who may share it may read or change its grants
    assert s.get(f"{url}/grants").status_code == 404
    r = analyst.post(
        f"{url}/grants", json={"subject_type": "user", "subject_id": person["id"], "role": "viewer"}
    )
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["subject"].startswith("Pat Example") and grant["role"] == "viewer"
    assert s.get(url).status_code == 200
    assert s.put(url, json={"name": "mine now"}).status_code == 403  # a viewer cannot edit
    assert s.get(f"{url}/grants").status_code == 403
    listed = analyst.get(f"{url}/grants").json()["grants"]
    assert [x["id"] for x in listed] == [grant["id"]]
    assert analyst.delete(f"{api.base}/api/grants/{grant['id']}").status_code == 204
    assert s.get(url).status_code == 404
    # through a group, with an expiry
    grp = admin.post(f"{api.base}/api/groups", json={"name": f"Readers {uuid.uuid4().hex[:6]}"}).json()
    admin.put(f"{api.base}/api/groups/{grp['id']}/members/{person['id']}")
    s = api.session(api.token(person["email"], GOOD))  # group membership is read at sign-in of the call
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = analyst.post(
        f"{url}/grants",
        json={"subject_type": "group", "subject_id": grp["id"], "role": "editor", "expires_at": soon},
    )
    assert r.status_code == 201, r.text
    assert s.get(url).status_code == 200
    with transaction(api.ctx.sessions) as db:
        db.get(Permission, r.json()["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert s.get(url).status_code == 404
    assert analyst.get(f"{url}/grants").json()["grants"][0]["expired"] is True


def test_grant_input_is_checked(api, admin, analyst):
    d = copy_dashboard(analyst, api.base, _demo_dashboard(api, analyst))
    url = f"{api.base}/api/dashboards/{d['id']}/grants"
    globex_admin = _user_id(api, "admin@globex.example.com")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for body, status, field in (
        ({"subject_type": "user", "subject_id": globex_admin}, 404, "subject_id"),
        ({"subject_type": "robot", "subject_id": 1}, 422, "subject_type"),
        ({"subject_type": "user", "subject_id": 1, "role": "owner"}, 422, "role"),
        ({"subject_type": "customer", "subject_id": 5, "expires_at": past}, 422, "expires_at"),
        ({"subject_type": "customer", "subject_id": 5, "extra": 1}, 400, "extra"),
    ):
        r = analyst.post(url, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["field"] == field
    assert analyst.post(url, json={"subject_type": "customer", "subject_id": 5}).status_code == 201
    assert analyst.get(f"{api.base}/api/reports/999999/grants").status_code == 404
    # reports and PDF templates have grants too (the analyst owns the demo ones)
    report = analyst.get(f"{api.base}/api/reports", params={"group": "mine"}).json()["reports"][0]
    template = analyst.get(f"{api.base}/api/pdf/templates").json()["templates"][0]
    for path in (f"/api/reports/{report['id']}", f"/api/pdf/templates/{template['id']}"):
        r = analyst.get(f"{api.base}{path}/grants")
        assert r.status_code == 200 and isinstance(r.json()["grants"], list), (path, r.text)
        v = admin.post(f"{api.base}{path}/grants", json={"subject_type": "customer", "subject_id": 9})
        assert v.status_code == 201, v.text  # an admin may share anything of the tenant
        assert analyst.delete(f"{api.base}/api/grants/{v.json()['id']}").status_code == 204
    assert analyst.delete(f"{api.base}/api/grants/999999").status_code == 404
    g = sign_in_once(api, "admin@globex.example.com", DEV_PASSWORD)
    assert g.get(url).status_code == 404


def test_audit_rows_carry_before_and_after(api, admin, analyst):
    u = _new_user(api, admin, password=GOOD)
    admin.patch(f"{api.base}/api/users/{u['id']}", json={"name": "Pat Renamed", "locations": [3, 1]})
    r = admin.get(f"{api.base}/api/audit", params={"object_type": "users", "object_id": u["id"]})
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert [e["action"] for e in entries] == ["edit", "create"]
    edit = entries[0]["details"]
    assert edit["before"] == {"name": "Pat Example", "locations": None}
    assert edit["after"] == {"name": "Pat Renamed", "locations": [1, 3]}
    assert entries[0]["user"].startswith("Acme Facilities Admin")
    # dashboards record what changed too
    d = copy_dashboard(analyst, api.base, _demo_dashboard(api, analyst))
    assert (
        analyst.put(f"{api.base}/api/dashboards/{d['id']}", json={"name": "Renamed board"}).status_code == 200
    )
    rows = admin.get(
        f"{api.base}/api/audit", params={"object_type": "dashboards", "object_id": d["id"], "action": "edit"}
    ).json()["entries"]
    assert rows[0]["details"]["before"] == {"name": d["name"]} and rows[0]["details"]["after"] == {
        "name": "Renamed board"
    }
    # paging and dates
    page = admin.get(f"{api.base}/api/audit", params={"limit": 1, "since": "2000-01-01"}).json()
    assert len(page["entries"]) == 1 and page["total"] >= 3
    # never a password hash or a token in any snapshot
    with api.ctx.sessions() as s:
        text = " ".join(str(a.snapshots) for a in s.scalars(select(AuditLog)))
        hashes = [h for h in s.scalars(select(User.password_hash)) if h]
    assert "$argon2" not in text and all(h not in text for h in hashes)


def test_restricted_demo_user_sees_only_two_locations(api):
    s = sign_in_once(api, "restricted@acme.example.com", DEV_PASSWORD)
    q = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["location_id"]}
    r = s.post(f"{api.base}/api/query", json={"query": q})
    assert r.status_code == 200, r.text
    seen = {row[0] for row in r.json()["rows"]}
    assert seen and seen <= set(RESTRICTED_LOCATIONS)
    assert s.get(f"{api.base}/api/me").json()["scope"]["location"] == sorted(RESTRICTED_LOCATIONS)


def _demo_dashboard(api, session) -> int:
    r = session.get(f"{api.base}/api/dashboards", params={"group": "public"})
    assert r.status_code == 200, r.text
    return r.json()["dashboards"][0]["id"]


def test_every_password_change_meets_the_policy_and_is_dated(api, admin):
    from portal.errors import InvalidSpec

    u = _new_user(api, admin, password=GOOD)
    with transaction(api.ctx.sessions) as s:
        user = s.get(User, u["id"])
        first = user.password_changed_at
        assert first is not None
        with pytest.raises(InvalidSpec) as e:
            auth.set_password(s, user, "pat-example-2024")  # contains the name
        assert e.value.field == "password"
        auth.set_password(s, user, GOOD + "-new")
        assert user.password_changed_at is not None and user.password_changed_at != first
    r = admin.post(f"{api.base}/api/users/{u['id']}/reset-password", json={"password": "aaaaaaaaaaaaaaaa"})
    assert r.status_code == 422 and r.json()["field"] == "password"
    r = admin.post(f"{api.base}/api/users/{u['id']}/reset-password", json={})
    assert r.status_code == 400 and r.json()["field"] == "password"
    # a reset by link: the old password stops working at once, the link sets a new one
    r = admin.post(f"{api.base}/api/users/{u['id']}/reset-password", json={"link": True})
    assert r.status_code == 201, r.text
    assert (
        api.session()
        .post(f"{api.base}/api/tokens", json={"email": u["email"], "password": GOOD + "-new"})
        .status_code
        == 401
    )
    token = parse_qs(urlparse(r.json()["invite_url"]).query)["token"][0]
    assert (
        api.session()
        .post(f"{api.base}/api/invites/accept", json={"token": token, "password": GOOD + "-3"})
        .status_code
        == 200
    )


def test_invite_acceptance_is_rate_limited_per_address(api):
    codes = [
        api.session()
        .post(f"{api.base}/api/invites/accept", json={"token": "x" * 43, "password": GOOD})
        .status_code
        for _ in range(api.ctx.settings.login_per_minute + 1)
    ]
    assert codes[:-1] == [404] * api.ctx.settings.login_per_minute and codes[-1] == 429


def test_invite_page_form(api, admin):
    import re

    import requests
    from tornado.web import Application

    from portal.web import invite
    from tests.integration.test_webauth import serve_app

    base, stop = serve_app(Application(invite.routes(api.ctx)))
    try:
        user = admin.post(
            f"{api.base}/api/users", json={"email": _email(), "name": "<b>Bold</b> Person"}
        ).json()
        link = admin.post(f"{api.base}/api/users/{user['id']}/invite").json()["invite_url"]
        token = parse_qs(urlparse(link).query)["token"][0]
        s = requests.Session()
        page = s.get(f"{base}/invite", params={"token": token})
        assert page.status_code == 200 and user["email"] in page.text
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        form = {"token": token, "_xsrf": xsrf}
        assert (
            s.post(
                f"{base}/invite", data={**form, "_xsrf": "forged", "password": GOOD, "confirm": GOOD}
            ).status_code
            == 403
        )
        r = s.post(f"{base}/invite", data={**form, "password": GOOD, "confirm": GOOD + "x"})
        assert r.status_code == 422 and "differ" in r.text
        r = s.post(f"{base}/invite", data={**form, "password": "bold-person-12", "confirm": "bold-person-12"})
        assert r.status_code == 422 and "name" in r.text and "<b>" not in r.text
        r = s.post(f"{base}/invite", data={**form, "password": GOOD, "confirm": GOOD})
        assert r.status_code == 200 and "Your password is set" in r.text
        assert s.get(f"{base}/invite", params={"token": token}).status_code == 404
        assert s.get(f"{base}/invite", params={"token": "<script>"}).status_code == 404
        r = s.post(f"{base}/invite", data={**form, "password": GOOD, "confirm": GOOD})
        assert r.status_code == 404 and "already used" in r.text
    finally:
        stop()
