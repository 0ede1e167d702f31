"""Tables of the bring-your-own-data catalog: the sources a tenant added to the warehouse catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models import Base, BigId, utcnow


class CatalogSource(Base):
    """A queryable source a tenant added: an imported table, a table of a connected database,
    a synced REST source or an events snapshot. Seen only by its tenant."""

    __tablename__ = "catalog_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_catalog_sources_tenant_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: What queries name (``QuerySpec.source``); unique per tenant, never a demo source's name.
    name: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16))  # import | sql | rest | events
    #: The connected database (origin ``sql``) or REST source (``rest``) it comes from.
    data_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_sources.id", ondelete="CASCADE"), index=True, default=None
    )
    #: The table queried: in the warehouse, or (origin ``sql``) in the connected database.
    table_name: Mapped[str] = mapped_column(String(300), default="")
    #: A Parquet file that holds the data instead (imports into the embedded DuckDB warehouse,
    #: which web processes open read-only: a new load writes a new file and swaps the path).
    parquet_path: Mapped[str] = mapped_column(Text, default="")
    #: ``[{"name", "type", "label", "format", "description"}]``.
    columns_json: Mapped[list[Any]] = mapped_column(default=list)
    #: ``{"location": "site_id", ...}``: the columns that carry each scope dimension.
    scope_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    time_column: Mapped[str | None] = mapped_column(String(63), default=None)
    key_columns_json: Mapped[list[Any]] = mapped_column(default=list)
    #: Bumped by every load: part of the cache identity of its results.
    data_version: Mapped[int] = mapped_column(Integer, default=1)
    row_count: Mapped[int | None] = mapped_column(BigId, default=None)
    refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
