"""PDF designer: renders as jobs, themes, assets, signing configs, PDF schedules

Revision ID: 0006
Revises: 0005

- ``pdf_renders``: ``tenant_id`` (the tenant scope of every listing), ``job_id`` (its job on
  the queue), ``size_bytes``, ``file_sha256``, ``started_at``, ``finished_at``,
  ``schedule_id``, ``signed``, ``scope_json`` (the row scope it was rendered in);
- ``pdf_template_versions``: ``name`` (a version is the whole template as saved);
- new ``pdf_themes`` (saved themes, per tenant and name), ``pdf_assets`` (uploaded images,
  sniffed and size-limited), ``pdf_signing_configs`` (one PKCS#12 per tenant, encrypted at
  rest like data-source credentials), ``pdf_schedules`` (cron/RRULE renders delivered by
  e-mail, in-app and link; the same columns the report schedules have) and
  ``pdf_schedule_fires`` (each fire claimed once, as ``schedule_fires`` for reports).

Only new nullable (or server-defaulted) columns on existing tables, without foreign keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    with op.batch_alter_table("pdf_renders", recreate="never") as b:
        b.add_column(sa.Column("tenant_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("job_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("started_at", Stamp, nullable=True))
        b.add_column(sa.Column("finished_at", Stamp, nullable=True))
        b.add_column(sa.Column("schedule_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("signed", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("scope_json", sa.JSON(), server_default="{}", nullable=False))
        b.create_index("ix_pdf_renders_tenant_requested", ["tenant_id", "requested_at"], unique=False)
        b.create_index("ix_pdf_renders_job_id", ["job_id"], unique=False)
    with op.batch_alter_table("pdf_template_versions", recreate="never") as b:
        b.add_column(sa.Column("name", sa.String(length=200), nullable=True))

    op.create_table(
        "pdf_themes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("theme_json", sa.JSON(), nullable=False),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk("pdf_themes", "tenant_id", "tenants", "CASCADE"),
        _fk("pdf_themes", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_themes")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_pdf_themes_tenant_name"),
    )
    op.create_table(
        "pdf_assets",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        _fk("pdf_assets", "tenant_id", "tenants", "CASCADE"),
        _fk("pdf_assets", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_assets")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_pdf_assets_tenant_name"),
    )
    op.create_table(
        "pdf_signing_configs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("not_after", Stamp, nullable=True),
        sa.Column("tsa_url", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_by", BigId, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk("pdf_signing_configs", "tenant_id", "tenants", "CASCADE"),
        _fk("pdf_signing_configs", "updated_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_signing_configs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_pdf_signing_configs_tenant_id")),
    )
    op.create_table(
        "pdf_schedules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("template_id", BigId, nullable=False),
        sa.Column("schedule_expr", sa.String(length=500), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", Stamp, nullable=True),
        sa.Column("last_fire_at", Stamp, nullable=True),
        sa.Column("params_json", sa.JSON(), nullable=False),
        sa.Column("delivery_config_json", sa.JSON(), nullable=False),
        sa.Column("offpeak_only", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("created_by", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        _fk("pdf_schedules", "template_id", "pdf_templates", "CASCADE"),
        _fk("pdf_schedules", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_schedules")),
    )
    op.create_index(op.f("ix_pdf_schedules_template_id"), "pdf_schedules", ["template_id"], unique=False)
    op.create_index(op.f("ix_pdf_schedules_next_run_at"), "pdf_schedules", ["next_run_at"], unique=False)
    op.create_table(
        "pdf_schedule_fires",
        sa.Column("id", BigId, nullable=False),
        sa.Column("schedule_id", BigId, nullable=False),
        sa.Column("fire_time", Stamp, nullable=False),
        sa.Column("job_id", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        _fk("pdf_schedule_fires", "schedule_id", "pdf_schedules", "CASCADE"),
        _fk("pdf_schedule_fires", "job_id", "job_queue", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_schedule_fires")),
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_pdf_schedule_fires_schedule_fire"),
    )
    op.create_index(op.f("ix_pdf_schedule_fires_job_id"), "pdf_schedule_fires", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pdf_schedule_fires_job_id"), table_name="pdf_schedule_fires")
    op.drop_table("pdf_schedule_fires")
    op.drop_index(op.f("ix_pdf_schedules_next_run_at"), table_name="pdf_schedules")
    op.drop_index(op.f("ix_pdf_schedules_template_id"), table_name="pdf_schedules")
    op.drop_table("pdf_schedules")
    op.drop_table("pdf_signing_configs")
    op.drop_table("pdf_assets")
    op.drop_table("pdf_themes")
    with op.batch_alter_table("pdf_template_versions") as b:
        b.drop_column("name")
    with op.batch_alter_table("pdf_renders") as b:
        b.drop_index("ix_pdf_renders_job_id")
        b.drop_index("ix_pdf_renders_tenant_requested")
        for col in ("scope_json", "signed", "schedule_id", "finished_at", "started_at", "file_sha256",
                    "size_bytes", "job_id", "tenant_id"):  # fmt: skip
            b.drop_column(col)
