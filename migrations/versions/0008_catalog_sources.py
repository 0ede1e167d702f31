"""Bring your own data: the sources a tenant adds to the catalog

Revision ID: 0008
Revises: 0007

- new ``catalog_sources``: imported tables, tables of connected databases, synced REST
  sources and events snapshots, each seen only by its tenant, with its columns, scope
  columns, time column, key columns and data version.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_sources",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("data_source_id", BigId, nullable=True),
        sa.Column("table_name", sa.String(length=300), nullable=False),
        sa.Column("parquet_path", sa.Text(), nullable=False),
        sa.Column("columns_json", sa.JSON(), nullable=False),
        sa.Column("scope_json", sa.JSON(), nullable=False),
        sa.Column("time_column", sa.String(length=63), nullable=True),
        sa.Column("key_columns_json", sa.JSON(), nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("row_count", BigId, nullable=True),
        sa.Column("refreshed_at", Stamp, nullable=True),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_catalog_sources_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name=op.f("fk_catalog_sources_data_source_id_data_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_catalog_sources_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_sources")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_catalog_sources_tenant_name"),
    )
    op.create_index("ix_catalog_sources_tenant_id", "catalog_sources", ["tenant_id"], unique=False)
    op.create_index("ix_catalog_sources_data_source_id", "catalog_sources", ["data_source_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_catalog_sources_data_source_id", table_name="catalog_sources")
    op.drop_index("ix_catalog_sources_tenant_id", table_name="catalog_sources")
    op.drop_table("catalog_sources")
