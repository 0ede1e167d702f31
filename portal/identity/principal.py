"""The principal a service acts for, and the one way to open a transaction for it.

A principal is a signed-in user today; a share-token viewer or a scheduled job
tomorrow. Services take a :class:`Principal`, never an ORM ``User``: what they
need (tenant, row scope, groups, admin flag) is loaded once, when the caller is
identified, and read from here for the rest of the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from portal.errors import AuthenticationFailed, PermissionDenied
from portal.identity.auth import group_ids, user_scope
from portal.identity.scope import Scope
from portal.infra.db import transaction
from portal.models import User

PrincipalKind = Literal["user", "share", "job"]


@dataclass(frozen=True)
class ShareGrant:
    """What a share-token viewer may see: one object (and what it is made of) and how.

    ``objects`` are ``(table name, id)`` pairs the viewer may view: the shared object and
    its parts (a dashboard's widgets and the reports they read). ``widget_ids`` limits a
    dashboard to some of its widgets (a widget link); ``None`` means all of them.
    """

    token_id: int
    object_type: str
    object_id: int
    permissions: frozenset[str]
    objects: frozenset[tuple[str, int]]
    widget_ids: frozenset[int] | None = None
    snapshot: bool = False

    def allows(self, table: str, object_id: int) -> bool:
        """Whether the object (by table name and id) is part of what was shared."""
        return (table, object_id) in self.objects


@dataclass(frozen=True)
class Principal:
    """Who is asking, with everything authorization and the query scope need.

    ``user_id`` is the acting account (a job acts as its owner; a ``no_login``
    share-token viewer has none, a ``with_login`` one is the signed-in user). ``scope`` is
    applied to every warehouse query the principal runs; ``group_ids`` and ``customer_id``
    decide shared objects.
    """

    kind: PrincipalKind
    tenant_id: int
    scope: Scope
    user_id: int | None = None
    group_ids: frozenset[int] = field(default_factory=frozenset)
    customer_id: int | None = None
    is_admin: bool = False
    label: str = ""
    #: Set for a share-token viewer (``kind == "share"``): what the link shares and how.
    share: ShareGrant | None = None

    def require_user(self, action: str = "do this") -> int:
        """The acting user's id; :class:`PermissionDenied` for a principal without an account."""
        if self.user_id is None:
            raise PermissionDenied(f"a {self.kind} principal cannot {action}")
        return self.user_id


def principal_for_user(session: Session, user: User, kind: PrincipalKind = "user") -> Principal:
    """The principal of an active account: scope and group memberships loaded now, once."""
    groups = frozenset(group_ids(session, user))
    return Principal(
        kind=kind,
        tenant_id=user.tenant_id,
        scope=user_scope(session, user),
        user_id=user.id,
        group_ids=groups,
        customer_id=user.customer_id,
        is_admin=bool(user.is_admin),
        label=f"{user.name} ({user.email})",
    )


def principal_for_user_id(session: Session, user_id: int, kind: PrincipalKind = "user") -> Principal:
    """The principal of an active account by id (scripts on the server, jobs acting as their owner)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed(f"user {user_id} is unknown or disabled")
    return principal_for_user(session, user, kind)


#: Identifies the caller inside the transaction: ``(session) -> Principal`` (raises when it cannot).
Identify = Callable[[Session], Principal]


@contextmanager
def principal_transaction(
    sessions: sessionmaker[Session], identify: Identify
) -> Iterator[tuple[Session, Principal]]:
    """One transaction and the principal identified in it — the one way every entry point opens one.

    The web pages identify by the browser session, the REST API by the bearer
    token, the in-process client by the user id and jobs by their owner; the
    check runs inside the same transaction as the work, so a revoked session
    or token stops the work it would authorize.
    """
    with transaction(sessions) as session:
        yield session, identify(session)
