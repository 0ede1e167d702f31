"""Fresh objects for tests that share one database and API server per module (tests/conftest.py).

A test that changes something gets its own copy of it, made through the public API
(the service signatures move; the REST edge is what these tests exercise anyway), or its
own user: tests then neither see nor depend on what the other tests of the module did.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests


def sign_in_once(api: Any, email: str, password: str) -> requests.Session:
    """A session of ``email`` on the module's ``api``, for a module-scoped fixture (argon2: ~0.2 s a sign-in).

    Redis is emptied first: a module fixture is set up between two tests, and the sign-in
    attempts the previous test made still count against this address.
    """
    api.ctx.redis.flushdb()
    session: requests.Session = api.login(email, password)
    return session


#: What ``POST /api/reports`` accepts of a report's JSON view (the rest is server-owned).
REPORT_FIELDS = ("name", "description", "query", "params", "visibility", "heavy", "published", "viz")


def copy_dashboard(s: requests.Session, base: str, dashboard_id: int) -> dict[str, Any]:
    """A new dashboard of the caller: a copy of ``dashboard_id`` with its queries and widgets."""
    r = s.post(f"{base}/api/dashboards/{dashboard_id}/duplicate", json={})
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def copy_report(s: requests.Session, base: str, report_id: int) -> dict[str, Any]:
    """A new report of the caller with the definition of ``report_id``."""
    src = s.get(f"{base}/api/reports/{report_id}")
    assert src.status_code == 200, src.text
    body = {k: v for k, v in src.json().items() if k in REPORT_FIELDS and v is not None}
    r = s.post(f"{base}/api/reports", json=body)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def new_user(ctx: Any, tenant: str, password: str, **options: Any) -> str:
    """E-mail of a new user of ``tenant`` (unique per call; ``options`` go to ``auth.create_user``)."""
    from sqlalchemy import select

    from portal.identity import auth
    from portal.infra.db import transaction
    from portal.models import Tenant

    email = f"user-{uuid.uuid4().hex[:10]}@{tenant}.example.com"
    with transaction(ctx.sessions) as s:
        t = s.scalar(select(Tenant).where(Tenant.slug == tenant))
        assert t is not None, f"no tenant {tenant!r}"
        auth.create_user(s, t, email, email.split("@")[0], password, **options)
    return email
