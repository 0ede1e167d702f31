"""Principals for service-level tests: the demo fixtures hand out ORM users."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.identity.principal import Principal, principal_for_user
from portal.models import User


def as_principal(session: Session, user: Any) -> Principal:
    """The principal of ``user`` (an ORM user, possibly from another session), loaded in ``session``."""
    loaded = session.get(User, user.id)
    assert loaded is not None, f"user {user.id} is gone"
    return principal_for_user(session, loaded)
