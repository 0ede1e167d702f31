"""Dimension members with validity periods (SCD type 2), e.g. agent ``ana`` belongs to org unit
``support`` until 2026-11-15, then to ``sales``.

Each change is a new version (``valid_from``); the version it replaces ends (``valid_to``)
where the new one starts, so at any instant at most one version of a member is valid. The
snapshot build attributes an event to the version valid at its ``occurred_at``
(:func:`version_at` is the same rule in Python, for tests and callers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import InvalidSpec
from portal.models import EventDimension

KINDS = ("agent", "org_unit", "channel", "tag")
_KEY_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
MAX_ATTRS = 20


@dataclass(frozen=True)
class Version:
    """One version of a member: its attributes from ``valid_from`` until ``valid_to`` (None: open)."""

    valid_from: datetime
    valid_to: datetime | None
    attrs: dict[str, Any]


def version_at(versions: Sequence[Version], at: datetime) -> Version | None:
    """The version valid at ``at`` (``valid_from <= at < valid_to``), or None."""
    for v in versions:
        if v.valid_from <= at and (v.valid_to is None or at < v.valid_to):
            return v
    return None


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def check_member(kind: str, body: dict[str, Any], *, now: datetime) -> tuple[str, dict[str, Any], datetime]:
    """``{"key", "attrs", "valid_from"?}`` checked: (key, attrs, valid_from); InvalidSpec names the field."""
    if kind not in KINDS:
        raise InvalidSpec(f"kind: one of {', '.join(KINDS)}", field="kind")
    key = body.get("key")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise InvalidSpec("key: the member's id, 1 to 200 characters", field="key")
    attrs = body.get("attrs", {})
    if not isinstance(attrs, dict) or len(attrs) > MAX_ATTRS:
        raise InvalidSpec(f"attrs: an object of at most {MAX_ATTRS} attributes", field="attrs")
    for name, value in attrs.items():
        if not re.match(r"^[a-z][a-z0-9_]{0,62}$", name):
            raise InvalidSpec(f"attrs.{name[:60]}: attribute names are lower-case words", field="attrs")
        if not (
            value is None
            or isinstance(value, int | float | bool)
            or (isinstance(value, str) and len(value) <= 200)
        ):
            raise InvalidSpec(
                f"attrs.{name}: a number, true/false or a string of at most 200", field=f"attrs.{name}"
            )
    if kind == "agent" and attrs.get("org_unit") is not None and not isinstance(attrs.get("org_unit"), str):
        raise InvalidSpec("attrs.org_unit: the org unit's key (a string)", field="attrs.org_unit")
    raw_from = body.get("valid_from")
    if raw_from is None:
        valid_from = now
    else:
        try:
            if not isinstance(raw_from, str):
                raise ValueError
            valid_from = datetime.fromisoformat(raw_from.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidSpec(
                "valid_from: an ISO 8601 date-time with an offset", field="valid_from"
            ) from None
        if valid_from.tzinfo is None:
            raise InvalidSpec("valid_from: give the offset (e.g. Z or -03:00)", field="valid_from")
        valid_from = valid_from.astimezone(UTC)
        if not datetime(2000, 1, 1, tzinfo=UTC) <= valid_from <= datetime(2100, 1, 1, tzinfo=UTC):
            raise InvalidSpec("valid_from: between 2000 and 2100", field="valid_from")
    return key, attrs, valid_from


def upsert_member(
    session: Session, tenant_id: int, kind: str, key: str, attrs: dict[str, Any], valid_from: datetime
) -> EventDimension:
    """Record that member ``key`` of ``kind`` has ``attrs`` from ``valid_from`` on (a new version,
    closing the one it replaces; the same ``valid_from`` again updates that version)."""
    rows = list(
        session.scalars(
            select(EventDimension)
            .where(
                EventDimension.tenant_id == tenant_id,
                EventDimension.kind == kind,
                EventDimension.member_key == key,
            )
            .order_by(EventDimension.valid_from)
        )
    )
    for row in rows:
        if _aware(row.valid_from) == valid_from:
            row.attrs_json = dict(attrs)
            session.flush()
            return row
    before = [r for r in rows if _aware(r.valid_from) < valid_from]
    after = [r for r in rows if _aware(r.valid_from) > valid_from]
    if before and (before[-1].valid_to is None or _aware(before[-1].valid_to) > valid_from):
        before[-1].valid_to = valid_from
    row = EventDimension(
        tenant_id=tenant_id,
        kind=kind,
        member_key=key,
        attrs_json=dict(attrs),
        valid_from=valid_from,
        valid_to=_aware(after[0].valid_from) if after else None,
    )
    session.add(row)
    session.flush()
    return row


def members(session: Session, tenant_id: int, kind: str) -> dict[str, list[Version]]:
    """Every version of every member of ``kind``, by member key, oldest first."""
    out: dict[str, list[Version]] = {}
    rows = session.scalars(
        select(EventDimension)
        .where(EventDimension.tenant_id == tenant_id, EventDimension.kind == kind)
        .order_by(EventDimension.member_key, EventDimension.valid_from)
    )
    for r in rows:
        out.setdefault(r.member_key, []).append(
            Version(_aware(r.valid_from), _aware(r.valid_to) if r.valid_to else None, dict(r.attrs_json))
        )
    return out


def member_dict(row: EventDimension) -> dict[str, Any]:
    """A version as JSON."""
    return {
        "kind": row.kind,
        "key": row.member_key,
        "attrs": row.attrs_json,
        "valid_from": _aware(row.valid_from),
        "valid_to": _aware(row.valid_to) if row.valid_to else None,
    }
