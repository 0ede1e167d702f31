"""Tables of file imports: one ``import_runs`` row per CSV/XLSX upload loaded into the warehouse."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models import Base, BigId, utcnow


class ImportRun(Base):
    """One import of a file into a tenant's source: its options, progress, outcome and report."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_tenant_created", "tenant_id", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: The ``data_import`` job that runs it (None for a CLI import, which runs in-process).
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    source_name: Mapped[str] = mapped_column(String(63))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigId, default=0)
    #: The :class:`portal.ingest.schema.ImportOptions` as given (JSON), and the server-side upload id.
    options_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed|canceled
    rows_read: Mapped[int] = mapped_column(BigId, default=0)
    rows_loaded: Mapped[int] = mapped_column(BigId, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigId, default=0)
    bytes_done: Mapped[int] = mapped_column(BigId, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: The bad-row report, relative to ``settings.home`` ("" when there is none yet).
    report_path: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
