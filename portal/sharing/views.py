"""What a share link's viewer page reads, always through the link's principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from portal.data.warehouse import Warehouse
from portal.errors import NotFound
from portal.identity import audit
from portal.identity.permissions import authorize
from portal.identity.principal import Principal
from portal.models import Dashboard, Report, ShareToken
from portal.reports.service import get_report
from portal.specs import QuerySpec, parse_spec


@dataclass(frozen=True)
class SharedHeader:
    """What the viewer's title bar says: the object's name, the link's expiry and permissions."""

    object_type: str
    object_id: int
    name: str
    expires_at: datetime | None
    permissions: frozenset[str]


def _share(principal: Principal) -> Any:
    if principal.share is None:
        raise NotFound("link not found")
    return principal.share


def shared_dashboard_id(principal: Principal) -> int:
    """The dashboard a dashboard, snapshot or widget link shows."""
    share = _share(principal)
    if share.object_type in ("dashboard", "snapshot"):
        return int(share.object_id)
    found = [i for t, i in share.objects if t == "dashboards"]
    if not found:
        raise NotFound("link not found")
    return int(found[0])


def shared_header(session: Session, principal: Principal) -> SharedHeader:
    """The shared object's name (checked through the gate) and the link's terms."""
    share = _share(principal)
    token = session.get(ShareToken, share.token_id)
    name = ""
    if share.object_type in ("dashboard", "snapshot", "widget"):
        d = session.get(Dashboard, shared_dashboard_id(principal))
        if d is not None:
            authorize(session, principal, "view", d)
            name = d.name
    elif share.object_type == "report":
        name = get_report(session, principal, share.object_id, "view").name
    return SharedHeader(
        object_type=share.object_type,
        object_id=share.object_id,
        name=name,
        expires_at=token.expires_at if token is not None else None,
        permissions=share.permissions,
    )


def snapshot_doc(session: Session, principal: Principal) -> dict[str, Any]:
    """The frozen document of a snapshot link."""
    share = _share(principal)
    token = session.get(ShareToken, share.token_id)
    if not share.snapshot or token is None or token.snapshot_json is None:
        raise NotFound("snapshot not found")
    d = session.get(Dashboard, share.object_id)
    if d is None:
        raise NotFound("snapshot not found")
    authorize(session, principal, "view", d)
    audit.record(session, principal, "view", d, details={"share_token": token.id, "snapshot": True})
    return dict(token.snapshot_json)


def report_frame(
    session: Session, principal: Principal, warehouse: Warehouse, *, export: bool = False
) -> tuple[Report, pd.DataFrame]:
    """A shared report's current result in the link's scope (``export``: also checks that the
    link allows exports)."""
    share = _share(principal)
    r = get_report(session, principal, share.object_id, "export" if export else "run")
    spec = parse_spec(QuerySpec, r.query_json)
    result = warehouse.run(spec, principal.scope, params=dict(r.params_json or {}))
    audit.record(
        session, principal, "export" if export else "view", r, details={"share_token": share.token_id}
    )
    return r, result.frame
