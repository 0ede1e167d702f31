"""Analytics events: per-tenant settings and dimensions with validity periods

Revision ID: 0010
Revises: 0009

- new ``event_settings``: a tenant's PII rules, retention (raw log, snapshots) and last build.
- new ``event_dimensions``: dimension members with ``valid_from``/``valid_to`` (SCD type 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_settings",
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("pii_json", sa.JSON(), nullable=False),
        sa.Column("raw_retention_days", sa.Integer(), nullable=False),
        sa.Column("snapshot_retention_days", sa.Integer(), nullable=False),
        sa.Column("last_build_at", Stamp, nullable=True),
        sa.Column("build_json", sa.JSON(), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_event_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_event_settings")),
    )
    op.create_table(
        "event_dimensions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("member_key", sa.String(length=200), nullable=False),
        sa.Column("attrs_json", sa.JSON(), nullable=False),
        sa.Column("valid_from", Stamp, nullable=False),
        sa.Column("valid_to", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_event_dimensions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dimensions")),
    )
    op.create_index(
        "ix_event_dimensions_member",
        "event_dimensions",
        ["tenant_id", "kind", "member_key", "valid_from"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_event_dimensions_member", table_name="event_dimensions")
    op.drop_table("event_dimensions")
    op.drop_table("event_settings")
