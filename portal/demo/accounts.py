"""Demo tenants and logins in the metadata database (the warehouse side is :mod:`portal.demo.warehouse`)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.demo.pdf_templates import seed_demo_templates
from portal.demo.schema import TENANTS
from portal.demo.showcase import DEMO_REPORTS, seed_demo_dashboards
from portal.identity import auth
from portal.models import Report, Tenant, User
from portal.reports import ReportIn
from portal.specs import QuerySpec

DEV_PASSWORD = "conductor-demo"  # noqa: S105 - dev-mode demo logins only
#: The demo user of the first tenant whose row scope is two locations (headquarters and first
#: branch of the first customer: the generator numbers the first tenant's locations from 1).
RESTRICTED_EMAIL_LOCAL = "restricted"
RESTRICTED_LOCATIONS = (1, 2)


@dataclass(frozen=True)
class DemoAccount:
    """A demo login to print on start."""

    tenant: str
    email: str
    role: str
    password: str


@functools.cache
def _dev_password_hash() -> str:
    # The demo accounts share one published password, so one argon2 hash (~0.2 s) serves them all.
    return auth.hash_password(DEV_PASSWORD)


def seed_demo(session: Session, *, dev_mode: bool = True) -> list[DemoAccount]:
    """Create demo tenants, users, groups and reports once; return the logins.

    In dev mode every demo user has the password ``conductor-demo``; otherwise
    random passwords are generated and returned (shown once).
    """
    accounts: list[DemoAccount] = []
    for dt in TENANTS:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == dt.key))
        if tenant is not None:
            continue
        tenant = auth.create_tenant(session, dt.key, dt.name)
        users: dict[str, User] = {}
        for role, is_admin in (("admin", True), ("analyst", False), ("viewer", False)):
            pw = DEV_PASSWORD if dev_mode else secrets.token_urlsafe(12)
            email = f"{role}@{dt.key}.example.com"
            users[role] = auth.create_user(
                session,
                tenant,
                email,
                f"{dt.name} {role.title()}",
                pw,
                is_admin=is_admin,
                password_hash=_dev_password_hash() if dev_mode else None,
            )
            accounts.append(DemoAccount(dt.key, email, role, pw))
        if dt.key == TENANTS[0].key:
            # Sees the shared dashboards and reports, with rows of two locations only.
            pw = DEV_PASSWORD if dev_mode else secrets.token_urlsafe(12)
            email = f"{RESTRICTED_EMAIL_LOCAL}@{dt.key}.example.com"
            auth.create_user(
                session,
                tenant,
                email,
                f"{dt.name} Restricted",
                pw,
                locations=list(RESTRICTED_LOCATIONS),
                password_hash=_dev_password_hash() if dev_mode else None,
            )
            accounts.append(DemoAccount(dt.key, email, "restricted", pw))
        auth.create_group(session, tenant, "Operations", [users["analyst"], users["viewer"]])
        for spec in DEMO_REPORTS:
            d = ReportIn(
                name=spec["name"],
                description=spec["description"],
                query=QuerySpec.model_validate(spec["query"]),
                visibility="public",
                published=True,
            )
            session.add(
                Report(
                    tenant_id=tenant.id,
                    owner_id=users["analyst"].id,
                    name=d.name,
                    description=d.description,
                    visibility=d.visibility,
                    published=True,
                    query_json=d.query.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                )
            )
        session.flush()
        seed_demo_dashboards(session, tenant, users["analyst"])
        seed_demo_templates(session, users["analyst"])
    return accounts
