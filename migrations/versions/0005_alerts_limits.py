"""triggers' memory, alerts' actors, alert tickets, notifications, queue limits, job usage

Revision ID: 0005
Revises: 0004

- ``report_triggers``: ``name``, ``created_by``, ``created_at``, ``state_json`` (the recent
  matches for "for N consecutive evaluations" and the re-arm flag), ``last_evaluated_at``;
- ``alerts``: ``trigger_id``, ``widget_id`` (a highlighted widget shows the alert on every
  dashboard holding it), ``updated_at``; index (tenant_id, status) for the alerts center;
- new ``alert_tickets`` (action ``open_ticket``) and ``notifications`` (the bell);
- new ``queue_limits``: admission limits and quotas, global (tenant NULL) and per tenant;
- ``job_queue``: ``admission_json`` (heavy, off-peak only, override, breaker keys),
  ``cpu_seconds`` and ``peak_rss_mb`` measured by the worker (quotas, the job monitor).

Only new nullable (or server-defaulted) columns on existing tables, without foreign keys:
plain ``ALTER TABLE ADD COLUMN`` on SQLite and PostgreSQL alike, no table copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("report_triggers", recreate="never") as b:
        b.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("created_by", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("created_at", Stamp, nullable=True))
        b.add_column(sa.Column("state_json", sa.JSON(), server_default="{}", nullable=False))
        b.add_column(sa.Column("last_evaluated_at", Stamp, nullable=True))
    with op.batch_alter_table("alerts", recreate="never") as b:
        b.add_column(sa.Column("trigger_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("widget_id", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("updated_at", Stamp, nullable=True))
        b.create_index("ix_alerts_trigger_id", ["trigger_id"], unique=False)
        b.create_index("ix_alerts_widget_id", ["widget_id"], unique=False)
        b.create_index("ix_alerts_tenant_status", ["tenant_id", "status"], unique=False)
    with op.batch_alter_table("job_queue", recreate="never") as b:
        b.add_column(sa.Column("admission_json", sa.JSON(), server_default="{}", nullable=False))
        b.add_column(sa.Column("cpu_seconds", sa.Float(), nullable=True))
        b.add_column(sa.Column("peak_rss_mb", sa.Float(), nullable=True))

    op.create_table(
        "alert_tickets",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("alert_id", BigId, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("external_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("closed_at", Stamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_tickets_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alert_tickets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_tickets")),
    )
    op.create_index(op.f("ix_alert_tickets_alert_id"), "alert_tickets", ["alert_id"], unique=False)
    op.create_index(op.f("ix_alert_tickets_tenant_id"), "alert_tickets", ["tenant_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("alert_id", BigId, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("read_at", Stamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_notifications_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notifications_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_alert_id"), "notifications", ["alert_id"], unique=False)
    op.create_index(op.f("ix_notifications_tenant_id"), "notifications", ["tenant_id"], unique=False)
    op.create_index("ix_notifications_user_read", "notifications", ["user_id", "read_at"], unique=False)

    op.create_table(
        "queue_limits",
        sa.Column("id", BigId, nullable=False),
        sa.Column("tenant_id", BigId, nullable=True),
        sa.Column("limits_json", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_queue_limits_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_limits")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_queue_limits_tenant_id")),
    )


def downgrade() -> None:
    op.drop_table("queue_limits")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_index(op.f("ix_notifications_tenant_id"), table_name="notifications")
    op.drop_index(op.f("ix_notifications_alert_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_alert_tickets_tenant_id"), table_name="alert_tickets")
    op.drop_index(op.f("ix_alert_tickets_alert_id"), table_name="alert_tickets")
    op.drop_table("alert_tickets")
    with op.batch_alter_table("job_queue") as b:
        b.drop_column("peak_rss_mb")
        b.drop_column("cpu_seconds")
        b.drop_column("admission_json")
    with op.batch_alter_table("alerts") as b:
        b.drop_index("ix_alerts_tenant_status")
        b.drop_index("ix_alerts_widget_id")
        b.drop_index("ix_alerts_trigger_id")
        b.drop_column("updated_at")
        b.drop_column("widget_id")
        b.drop_column("trigger_id")
    with op.batch_alter_table("report_triggers") as b:
        b.drop_column("last_evaluated_at")
        b.drop_column("state_json")
        b.drop_column("created_at")
        b.drop_column("created_by")
        b.drop_column("name")
