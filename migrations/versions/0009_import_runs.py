"""File imports: one row per CSV/XLSX upload loaded into the warehouse

Revision ID: 0009
Revises: 0008

- new ``import_runs``: who imported which file into which source, its options, status,
  progress (rows read / loaded / rejected, bytes done), error and bad-row report.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("source_name", sa.String(length=63), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", BigId, nullable=False),
        sa.Column("options_json", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", BigId, nullable=False),
        sa.Column("rows_loaded", BigId, nullable=False),
        sa.Column("rows_rejected", BigId, nullable=False),
        sa.Column("bytes_done", BigId, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("started_at", Stamp, nullable=True),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_runs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index("ix_import_runs_tenant_created", "import_runs", ["tenant_id", "created_at"], unique=False)
    op.create_index("ix_import_runs_user_id", "import_runs", ["user_id"], unique=False)
    op.create_index("ix_import_runs_job_id", "import_runs", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_runs_job_id", table_name="import_runs")
    op.drop_index("ix_import_runs_user_id", table_name="import_runs")
    op.drop_index("ix_import_runs_tenant_created", table_name="import_runs")
    op.drop_table("import_runs")
