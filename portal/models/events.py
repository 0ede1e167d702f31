"""Tables of the analytics events pipeline: per-tenant settings (PII rules, retention, the last
snapshot build) and the dimension members with validity periods (SCD type 2).

The events themselves are not rows here: they live in an append-only raw log of JSON-lines
segment files and in Parquet snapshots (:mod:`portal.events.store`, :mod:`portal.events.snapshots`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models import Base, BigId, utcnow


class EventSettings(Base):
    """One tenant's events configuration; a tenant without a row uses the defaults."""

    __tablename__ = "event_settings"
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    #: ``{"fields": {"email": "hash", "phone": "mask", "notes": "drop"}}`` (see portal.events.pii).
    pii_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw_retention_days: Mapped[int] = mapped_column(Integer, default=400)
    snapshot_retention_days: Mapped[int] = mapped_column(Integer, default=5 * 366)
    last_build_at: Mapped[datetime | None] = mapped_column(default=None)
    #: What the last snapshot build did (segments, events, days, versions).
    build_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventDimension(Base):
    """A version of a dimension member (e.g. agent ``ana`` in org unit ``support``), valid from
    ``valid_from`` until ``valid_to`` (None: still valid)."""

    __tablename__ = "event_dimensions"
    __table_args__ = (
        Index("ix_event_dimensions_member", "tenant_id", "kind", "member_key", "valid_from", unique=True),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # agent | org_unit | channel | tag
    member_key: Mapped[str] = mapped_column(String(200))
    #: ``{"org_unit": "support", "name": "Ana"}``.
    attrs_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
