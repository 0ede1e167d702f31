"""Tables of source syncs and data-quality checks: the history of each sync, the checks an admin
configured per catalog source, and every check's results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models import Base, BigId, utcnow


class SourceSync(Base):
    """One sync of a data source into a catalog source: rows read / inserted / updated / rejected.

    The ``watermark`` of the last successful sync of a (data source, target) pair is where the
    next incremental sync starts.
    """

    __tablename__ = "source_syncs"
    __table_args__ = (Index("ix_source_syncs_source_started", "data_source_id", "started_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    data_source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id", ondelete="CASCADE"))
    #: The catalog source the rows land in.
    target: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | failed
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual | schedule
    job_id: Mapped[int | None] = mapped_column(BigId, default=None)
    #: The cron fire a scheduled sync was for: the next fire is computed from it.
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    rows_read: Mapped[int] = mapped_column(BigId, default=0)
    rows_inserted: Mapped[int] = mapped_column(BigId, default=0)
    rows_updated: Mapped[int] = mapped_column(BigId, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigId, default=0)
    row_count: Mapped[int | None] = mapped_column(BigId, default=None)
    #: ``[{"row", "column", "reason"}]``: a few rejected rows, to show why.
    rejected_json: Mapped[list[Any]] = mapped_column(default=list)
    #: Highest watermark loaded so far (as text), None before the first incremental load.
    watermark: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class QualityCheck(Base):
    """A data-quality rule an admin set on a catalog source of the tenant."""

    __tablename__ = "quality_checks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    source_name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(20))  # null_rate | duplicate_keys | freshness | row_count_change
    column: Mapped[str | None] = mapped_column(String(63), default=None)
    threshold: Mapped[float] = mapped_column(Float, default=0.0)
    #: Also e-mail the tenant's admins when it fails (the in-app notification is always sent).
    email: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QualityResult(Base):
    """The outcome of one check on one run (after a sync or import, or on demand)."""

    __tablename__ = "quality_results"
    __table_args__ = (Index("ix_quality_results_source", "tenant_id", "source_name", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    check_id: Mapped[int | None] = mapped_column(
        ForeignKey("quality_checks.id", ondelete="SET NULL"), default=None
    )
    source_name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(20))
    ok: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
