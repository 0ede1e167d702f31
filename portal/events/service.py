"""Ingesting a batch of events, and a tenant's events settings.

:func:`ingest` is the one path every event takes (the REST handler and the demo generator):
validate and upcast each event, apply the tenant's PII rules, drop duplicates (inside the batch
and against the dedup window), append the rest to the raw log with an fsync, record their ids.
A bad event is reported with its index, id, field and reason and never fails the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from portal.errors import InvalidSpec, PermissionDenied, PortalError
from portal.events import pii
from portal.events.schema import MAX_PROPERTIES_BYTES, Rejected, stamp, validate
from portal.events.store import Dedup, append_segment
from portal.identity.principal import Principal
from portal.models import EventSettings

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 5 * 1024 * 1024
DEFAULT_RAW_DAYS = 400
DEFAULT_SNAPSHOT_DAYS = 5 * 366


class Unavailable(PortalError):
    """The dedup store (Redis) cannot be reached: nothing was stored, retry later."""

    status = 503


@dataclass
class IngestResult:
    """What happened to a batch."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    segment: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of ``POST /api/events``."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def may_ingest(principal: Principal) -> None:
    """Events are tenant-wide data: a signed-in account of the tenant without a row scope."""
    principal.require_user("post analytics events")
    if principal.customer_id is not None or principal.scope.restrictions():
        raise PermissionDenied("an account limited to some rows cannot post tenant-wide events")


def require_admin(principal: Principal, action: str) -> None:
    """Configuration (PII rules, retention, dimensions, builds) is for the tenant's admins."""
    principal.require_user(action)
    if not principal.is_admin:
        raise PermissionDenied(f"only administrators may {action}")


def settings_row(session: Session, tenant_id: int) -> EventSettings | None:
    """The tenant's stored settings (None: the defaults)."""
    return session.get(EventSettings, tenant_id)


def tenant_policy(session: Session, secret_key: str, tenant_id: int) -> pii.PiiPolicy:
    """The PII policy the tenant's events go through."""
    row = settings_row(session, tenant_id)
    return pii.policy(secret_key, tenant_id, row.pii_json if row is not None else None)


def _rejection(index: int, raw: Any, exc: Rejected) -> dict[str, Any]:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return {
        "index": index,
        "event_id": event_id if isinstance(event_id, str) and len(event_id) <= 100 else None,
        "field": exc.field,
        "reason": exc.reason,
    }


def ingest(
    *,
    home: Path,
    redis: Redis,
    tenant_id: int,
    policy: pii.PiiPolicy,
    items: Sequence[Any],
    now: datetime | None = None,
) -> IngestResult:
    """Validate, protect, deduplicate and durably append ``items`` (parsed JSON values, or
    :class:`Rejected` for lines that did not parse). Raises :class:`Unavailable` without Redis."""
    if len(items) > MAX_BATCH_EVENTS:
        raise InvalidSpec(f"body: at most {MAX_BATCH_EVENTS} events a request", field="body")
    now = now or datetime.now(UTC)
    received = stamp(now.astimezone(UTC))
    result = IngestResult()
    ids: list[str] = []
    lines: list[bytes] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        try:
            if isinstance(raw, Rejected):
                raise raw
            event = validate(raw, now=now)
        except Rejected as exc:
            result.rejected.append(_rejection(index, raw, exc))
            continue
        if event.event_id in seen:
            result.duplicates += 1
            continue
        record = pii.protect(policy, event).record(received)
        try:
            # Strict: no NaN/Infinity, no lone surrogate, no absurd nesting reaches the raw log.
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (ValueError, UnicodeEncodeError, RecursionError):
            result.rejected.append(_rejection(index, raw, Rejected("properties", "values JSON cannot store")))
            continue
        if len(line) > MAX_PROPERTIES_BYTES and len(json.dumps(record["properties"])) > MAX_PROPERTIES_BYTES:
            result.rejected.append(
                _rejection(
                    index, raw, Rejected("properties", f"at most {MAX_PROPERTIES_BYTES} bytes of JSON")
                )
            )
            continue
        seen.add(event.event_id)
        ids.append(event.event_id)
        lines.append(line + b"\n")
    if not ids:
        return result
    dedup = Dedup(redis, tenant_id, now)
    try:
        known = dedup.known(ids)
        fresh = [(i, line) for i, line, k in zip(ids, lines, known, strict=True) if not k]
        result.duplicates += len(ids) - len(fresh)
        if not fresh:
            return result
        # Durable first, recorded second: a crash in between is a re-post, never a loss.
        result.segment = str(append_segment(home, tenant_id, [line for _, line in fresh]))
        added = dedup.add([i for i, _ in fresh])
    except RedisError as exc:
        raise Unavailable(f"events: the dedup store is unavailable ({type(exc).__name__}); retry") from None
    except OSError as exc:
        raise Unavailable(
            f"events: the raw log cannot be written ({exc.strerror or type(exc).__name__}); retry"
        ) from None
    result.accepted = sum(added)
    result.duplicates += len(added) - result.accepted
    return result


# --------------------------------------------------------------------------- settings
def update_settings(session: Session, tenant_id: int, body: dict[str, Any]) -> EventSettings:
    """Change PII rules and retention: ``{"pii": {...}, "raw_retention_days", "snapshot_retention_days"}``."""
    row = settings_row(session, tenant_id)
    if row is None:
        row = EventSettings(
            tenant_id=tenant_id,
            pii_json={},
            raw_retention_days=DEFAULT_RAW_DAYS,
            snapshot_retention_days=DEFAULT_SNAPSHOT_DAYS,
            build_json={},
        )
        session.add(row)
    if "pii" in body:
        fields, defaults = pii.parse_rules(body["pii"])
        row.pii_json = {"fields": fields, "defaults": defaults}
    for key, low, high in (("raw_retention_days", 1, 3660), ("snapshot_retention_days", 1, 36600)):
        if key in body:
            v = body[key]
            if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
                raise InvalidSpec(f"{key}: a whole number of days from {low} to {high}", field=key)
            setattr(row, key, v)
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row


def settings_dict(row: EventSettings | None) -> dict[str, Any]:
    """A tenant's events settings as JSON (the defaults when it has none)."""
    if row is None:
        return {
            "pii": {"fields": {}, "defaults": True},
            "raw_retention_days": DEFAULT_RAW_DAYS,
            "snapshot_retention_days": DEFAULT_SNAPSHOT_DAYS,
            "last_build_at": None,
            "last_build": {},
        }
    return {
        "pii": {
            "fields": dict(row.pii_json.get("fields", {})),
            "defaults": bool(row.pii_json.get("defaults", True)),
        },
        "raw_retention_days": row.raw_retention_days,
        "snapshot_retention_days": row.snapshot_retention_days,
        "last_build_at": row.last_build_at,
        "last_build": row.build_json,
    }
