"""Identity and RBAC on a real metadata database (SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.errors import AuthenticationFailed, Conflict, InvalidSpec, NotFound, PermissionDenied
from portal.identity import auth
from portal.identity.permissions import authorize, can, grant, role_of, visible_clause
from portal.infra.db import make_engine, make_sessionmaker, transaction
from portal.models import ApiToken, AuditLog, Report, Tenant
from tests.support.principals import as_principal


@pytest.fixture
def db(metadata_url):
    engine = make_engine(metadata_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def world(db):
    with transaction(db) as s:
        acme = auth.create_tenant(s, "acme", "Acme")
        globex = auth.create_tenant(s, "globex", "Globex")
        owner = auth.create_user(s, acme, "Owner@Acme.com", "Owner", "password-1")
        peer = auth.create_user(s, acme, "peer@acme.com", "Peer", "password-2")
        stranger = auth.create_user(s, acme, "stranger@acme.com", "Stranger", "password-3")
        admin = auth.create_user(s, acme, "admin@acme.com", "Admin", "password-4", is_admin=True)
        customer = auth.create_user(s, acme, "cust@client.com", "Client", "password-5", customer_id=77)
        other = auth.create_user(s, globex, "x@globex.com", "X", "password-6", is_admin=True)
        auth.create_group(s, acme, "Ops", [owner, peer])
        report = Report(tenant_id=acme.id, owner_id=owner.id, name="r", query_json={}, visibility="private")
        s.add(report)
        s.flush()
        return {k: v.id for k, v in locals().items() if hasattr(v, "id") and k != "s"}


def load(s, world, *names):
    from portal.models import User

    return [s.get(Report if n == "report" else User, world[n]) for n in names]


def test_passwords_are_argon2_and_verified(db, world):
    with db() as s:
        (owner,) = load(s, world, "owner")
        assert owner.email == "owner@acme.com"
        assert owner.password_hash.startswith("$argon2id$")
        assert auth.verify_password(owner.password_hash, "password-1")
        assert not auth.verify_password(owner.password_hash, "password-2")
        assert not auth.verify_password(None, "anything")


def test_authenticate(db, world):
    with transaction(db) as s:
        assert auth.authenticate(s, " OWNER@acme.com ", "password-1").id == world["owner"]
        with pytest.raises(AuthenticationFailed):
            auth.authenticate(s, "owner@acme.com", "wrong-password")
        with pytest.raises(AuthenticationFailed) as e:
            auth.authenticate(s, "nobody@acme.com", "password-1")
        assert e.value.message == "invalid e-mail or password"  # same message: no account enumeration


def test_user_validation(db, world):
    with transaction(db) as s:
        acme = s.get(Tenant, world["acme"])
        with pytest.raises(Conflict):
            auth.create_user(s, acme, "owner@acme.com", "dupe", "password-x")
        with pytest.raises(InvalidSpec) as e:
            auth.create_user(s, acme, "not-an-email", "x", "password-x")
        assert e.value.field == "email"
        with pytest.raises(InvalidSpec) as e:
            auth.create_user(s, acme, "short@acme.com", "x", "short")
        assert e.value.field == "password"
        with pytest.raises(InvalidSpec):
            auth.create_tenant(s, "Bad Slug!", "x")
        with pytest.raises(Conflict):
            auth.create_tenant(s, "acme", "again")


def test_api_tokens_hashed_expiring_revocable(db, world):
    with transaction(db) as s:
        (owner,) = load(s, world, "owner")
        tok, plain = auth.issue_api_token(s, owner, "notebook")
        assert plain.startswith("cbi_") and len(plain) > 40
        stored = s.get(ApiToken, tok.id)
        assert plain not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
        assert auth.user_for_token(s, plain).id == owner.id
        with pytest.raises(AuthenticationFailed):
            auth.user_for_token(s, plain + "x")
        auth.revoke_api_token(s, owner, tok.id)
        with pytest.raises(AuthenticationFailed):
            auth.user_for_token(s, plain)
        tok2, plain2 = auth.issue_api_token(s, owner, "old")
        tok2.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.flush()
        with pytest.raises(AuthenticationFailed):
            auth.user_for_token(s, plain2)
        (peer,) = load(s, world, "peer")
        with pytest.raises(NotFound):
            auth.revoke_api_token(s, peer, tok2.id)  # not theirs


def test_private_object_rules(db, world):
    with db() as s:
        owner, peer, stranger, admin, other, report = load(
            s, world, "owner", "peer", "stranger", "admin", "other", "report"
        )
        assert role_of(s, as_principal(s, owner), report) == "owner"
        assert role_of(s, as_principal(s, admin), report) == "owner"
        assert role_of(s, as_principal(s, peer), report) is None
        with pytest.raises(NotFound):
            authorize(s, as_principal(s, peer), "view", report)
        with pytest.raises(NotFound):  # other tenant's admin cannot even learn it exists
            authorize(s, as_principal(s, other), "view", report)
        authorize(s, as_principal(s, owner), "delete", report)


def test_visibility_group_public_customer(db, world):
    with transaction(db) as s:
        owner, peer, stranger, customer, other, report = load(
            s, world, "owner", "peer", "stranger", "customer", "other", "report"
        )
        report.visibility = "group"
        s.flush()
        assert role_of(s, as_principal(s, peer), report) == "viewer"
        assert role_of(s, as_principal(s, stranger), report) is None
        with pytest.raises(PermissionDenied):
            authorize(s, as_principal(s, peer), "edit", report)
        report.visibility = "public"
        s.flush()
        assert can(s, as_principal(s, stranger), "view", report) and not can(
            s, as_principal(s, stranger), "edit", report
        )
        assert role_of(s, as_principal(s, other), report) is None
        report.visibility = "customer"
        report.scope_json = {"customer_id": 77}
        s.flush()
        assert role_of(s, as_principal(s, customer), report) == "viewer"
        assert role_of(s, as_principal(s, stranger), report) is None


def test_explicit_grants_and_expiry(db, world):
    with transaction(db) as s:
        stranger, peer, report = load(s, world, "stranger", "peer", "report")
        grant(s, report, "user", stranger.id, "editor")
        assert role_of(s, as_principal(s, stranger), report) == "editor"
        authorize(s, as_principal(s, stranger), "edit", report)
        with pytest.raises(PermissionDenied):
            authorize(s, as_principal(s, stranger), "share", report)
        groups = auth.group_ids(s, peer)
        grant(
            s,
            report,
            "group",
            next(iter(groups)),
            "viewer",
            expires_at=datetime.now(UTC) - timedelta(hours=1),
        )
        assert role_of(s, as_principal(s, peer), report) is None  # expired grant is ignored


def test_visible_clause_lists_what_role_of_allows(db, world):
    with transaction(db) as s:
        owner, peer, stranger, customer, other, report = load(
            s, world, "owner", "peer", "stranger", "customer", "other", "report"
        )
        acme = report.tenant_id
        for vis, extra in (("public", {}), ("group", {}), ("customer", {"customer_id": 77}), ("private", {})):
            s.add(
                Report(
                    tenant_id=acme,
                    owner_id=owner.id,
                    name=vis,
                    query_json={},
                    visibility=vis,
                    scope_json=extra,
                )
            )
        s.flush()
        for u in (owner, peer, stranger, customer, other):
            listed = {
                r.id
                for r in s.scalars(select(Report).where(visible_clause(s, as_principal(s, u), Report)))
                if r.visibility != "customer" or can(s, as_principal(s, u), "view", r)
            }
            allowed = {
                r.id for r in s.scalars(select(Report)) if role_of(s, as_principal(s, u), r) is not None
            }
            assert listed == allowed, u.email


def test_audit_log_written(db, world):
    with db() as s:
        actions = [a.action for a in s.scalars(select(AuditLog))]
    assert actions.count("create") >= 6  # one per user
