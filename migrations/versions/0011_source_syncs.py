"""Source syncs and data-quality checks

Revision ID: 0011
Revises: 0010

- new ``source_syncs``: the history of each sync of a data source into a catalog source (rows
  read / inserted / updated / rejected, a few rejected rows, the watermark reached).
- new ``quality_checks``: the data-quality rules an admin set per catalog source.
- new ``quality_results``: every check's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "source_syncs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("data_source_id", BigId, nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("job_id", BigId, nullable=True),
        sa.Column("scheduled_for", Stamp, nullable=True),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.Column("rows_read", BigId, nullable=False),
        sa.Column("rows_inserted", BigId, nullable=False),
        sa.Column("rows_updated", BigId, nullable=False),
        sa.Column("rows_rejected", BigId, nullable=False),
        sa.Column("row_count", BigId, nullable=True),
        sa.Column("rejected_json", sa.JSON(), nullable=False),
        sa.Column("watermark", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _tenant_fk("source_syncs"),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name=op.f("fk_source_syncs_data_source_id_data_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_syncs")),
    )
    op.create_index("ix_source_syncs_tenant_id", "source_syncs", ["tenant_id"], unique=False)
    op.create_index(
        "ix_source_syncs_source_started", "source_syncs", ["data_source_id", "started_at"], unique=False
    )
    op.create_table(
        "quality_checks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("source_name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("column", sa.String(length=63), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        _tenant_fk("quality_checks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_checks")),
    )
    op.create_index("ix_quality_checks_tenant_id", "quality_checks", ["tenant_id"], unique=False)
    op.create_table(
        "quality_results",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("check_id", BigId, nullable=True),
        sa.Column("source_name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        _tenant_fk("quality_results"),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["quality_checks.id"],
            name=op.f("fk_quality_results_check_id_quality_checks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_results")),
    )
    op.create_index(
        "ix_quality_results_source",
        "quality_results",
        ["tenant_id", "source_name", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_quality_results_source", table_name="quality_results")
    op.drop_table("quality_results")
    op.drop_index("ix_quality_checks_tenant_id", table_name="quality_checks")
    op.drop_table("quality_checks")
    op.drop_index("ix_source_syncs_source_started", table_name="source_syncs")
    op.drop_index("ix_source_syncs_tenant_id", table_name="source_syncs")
    op.drop_table("source_syncs")
