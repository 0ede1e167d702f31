"""Channel names, their Redis keys and who may subscribe to or publish on a channel.

A channel belongs to a tenant: the same name in two tenants is two Redis channels
(``conductor:rt:{tenant_id}:{name}``), so a message can never cross tenants whatever a client
asks for. Two families of names are bound to objects and follow the object's permissions:
``dashboard.{id}`` and ``widget.{id}`` (view to subscribe, edit to publish, both through
:func:`portal.identity.permissions.authorize`, the one gate every path calls). Any other name
(``ops.tickets``) is a tenant-wide channel open to the tenant's signed-in users, never to a
share-token viewer, who only reaches what was shared to it.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, NotFound, PermissionDenied
from portal.identity.permissions import authorize
from portal.identity.principal import Principal
from portal.models import Dashboard, Widget
from portal.specs import CHANNEL_PATTERN

CHANNEL_RE = re.compile(CHANNEL_PATTERN)
#: Pub/sub channel prefix; the subscriber of a process listens to ``conductor:rt:*``.
PUBSUB_PREFIX = "conductor:rt:"
#: Stream key prefix (a stream per channel keeps the recent messages for resuming clients).
STREAM_PREFIX = "conductor:rts:"
#: The tenant-wide sequence key: every stream id of a tenant comes from it (ordered across channels).
SEQUENCE_PREFIX = "conductor:rtseq:"

_OBJECT_RE = re.compile(r"^(dashboard|widget)\.([1-9][0-9]{0,17})$")
ObjectKind = Literal["dashboard", "widget"]


def check_channel(name: object, field: str = "channel") -> str:
    """``name`` when it is a valid channel name; :class:`BadRequest` naming ``field`` otherwise."""
    if not isinstance(name, str):
        raise BadRequest(f"{field}: must be text", field=field)
    if not CHANNEL_RE.match(name):
        shown = repr(name) if len(name) <= 60 else repr(name[:57]) + "..."
        raise BadRequest(
            f"{field}: {shown} is not a channel name (1-100 characters: lowercase letters, digits and "
            "_ . : -, starting with a letter or digit; e.g. 'ops.tickets' or 'dashboard.12')",
            field=field,
        )
    return name


def pubsub_channel(tenant_id: int, name: str) -> str:
    """The Redis pub/sub channel of a tenant's channel."""
    return f"{PUBSUB_PREFIX}{int(tenant_id)}:{name}"


def stream_key(tenant_id: int, name: str) -> str:
    """The Redis stream that keeps a tenant channel's recent messages."""
    return f"{STREAM_PREFIX}{int(tenant_id)}:{name}"


def sequence_key(tenant_id: int) -> str:
    """The key holding the last message id given out in a tenant."""
    return f"{SEQUENCE_PREFIX}{int(tenant_id)}"


def parse_pubsub_channel(raw: str) -> tuple[int, str] | None:
    """(tenant id, channel name) of a Redis pub/sub channel of the bus; None for anything else."""
    if not raw.startswith(PUBSUB_PREFIX):
        return None
    tenant, _, name = raw[len(PUBSUB_PREFIX) :].partition(":")
    if not tenant.isdigit() or not CHANNEL_RE.match(name):
        return None
    return int(tenant), name


def bound_object(name: str) -> tuple[ObjectKind, int] | None:
    """``("dashboard", 12)`` for ``dashboard.12``, ``("widget", 7)`` for ``widget.7``; None otherwise."""
    m = _OBJECT_RE.match(name)
    if m is None:
        return None
    kind: ObjectKind = "dashboard" if m.group(1) == "dashboard" else "widget"
    return kind, int(m.group(2))


def _dashboard_of(session: Session, principal: Principal, kind: ObjectKind, object_id: int) -> Dashboard:
    """The dashboard a bound channel follows; NotFound when there is none in the principal's tenant."""
    dashboard_id = object_id
    if kind == "widget":
        widget = session.get(Widget, object_id)
        if widget is None:
            raise NotFound(f"widget {object_id} not found")
        dashboard_id = widget.dashboard_id
    d = session.get(Dashboard, dashboard_id)
    if d is None:
        raise NotFound(f"dashboard {dashboard_id} not found")
    return d


def _shared_widgets(principal: Principal) -> list[int]:
    """The widgets a share link shows (a widget link: that one; a dashboard link: all of them)."""
    share = principal.share
    if share is None:
        return []
    ids = [i for table, i in share.objects if table == "widgets"]
    return [i for i in ids if share.widget_ids is None or i in share.widget_ids]


def _authorize_share(session: Session, principal: Principal, channel: str, action: str) -> None:
    """A share link's viewer hears the channels of what it shows, nothing else (no publishing)."""
    share = principal.share
    assert share is not None
    shown = _shared_widgets(principal)
    bound = bound_object(channel)
    if action == "view" and bound is not None:
        kind, object_id = bound
        if kind == "widget" and object_id in shown:
            return
        if kind == "dashboard" and share.widget_ids is None and share.allows("dashboards", object_id):
            return
    elif action == "view" and shown:
        # A tenant channel that a shown widget follows (its spec's realtime block).
        follows = session.scalar(
            select(Widget.id).where(Widget.id.in_(shown), Widget.realtime_channel == channel).limit(1)
        )
        if follows is not None:
            return
    raise NotFound(f"channel: {channel!r} is not part of this link")


def _authorize_channel(session: Session, principal: Principal, channel: str, action: str) -> None:
    bound = bound_object(check_channel(channel))
    if principal.share is not None:
        _authorize_share(session, principal, channel, action)
        return
    if bound is not None:
        # authorize() raises NotFound for another tenant's dashboard (or one in the trash).
        authorize(session, principal, action, _dashboard_of(session, principal, *bound))
        return
    if principal.kind != "user":
        raise PermissionDenied(f"channel: a {principal.kind} principal cannot use tenant channel {channel!r}")


def may_subscribe(session: Session, principal: Principal, channel: str) -> None:
    """Raise unless ``principal`` may receive the messages of ``channel`` in its own tenant.

    ``dashboard.{id}``: view on the dashboard; ``widget.{id}``: view on the widget's dashboard;
    any other channel: a user of the tenant (not a job). A share link's viewer: the channels of the
    widgets the link shows (bound or followed), nothing else.
    """
    _authorize_channel(session, principal, channel, "view")


def may_publish(session: Session, principal: Principal, channel: str) -> None:
    """Raise unless ``principal`` may publish on ``channel`` in its own tenant.

    ``dashboard.{id}`` / ``widget.{id}``: edit on the dashboard; any other channel: an active user
    of the tenant (the principal was loaded from one).
    """
    if principal.kind != "user":
        raise PermissionDenied(f"channel: a {principal.kind} principal cannot publish")
    _authorize_channel(session, principal, channel, "edit")
