"""Sharing and people: share-token viewers, their access log, invitations

Revision ID: 0007
Revises: 0006

- ``share_tokens``: ``label`` (what the creator called the link), ``frame_origins_json`` (the
  origins allowed to frame the viewer: CSP ``frame-ancestors``), ``last_used_at``,
  ``snapshot_json`` (a snapshot share freezes the dashboard's data at creation);
- new ``share_access_log``: every use of a token (granted or refused) with when, IP, user
  agent, the signed-in user of a ``with_login`` token and the result;
- ``users``: ``password_changed_at``, ``invite_token_hash`` / ``invite_expires_at`` (an
  invited user sets a password through a one-time link, stored hashed).

Only new nullable (or server-defaulted) columns on existing tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("share_tokens", recreate="never") as b:
        b.add_column(sa.Column("label", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("frame_origins_json", sa.JSON(), server_default="[]", nullable=False))
        b.add_column(sa.Column("last_used_at", Stamp, nullable=True))
        b.add_column(sa.Column("snapshot_json", sa.JSON(), nullable=True))
        b.create_index("ix_share_tokens_object", ["tenant_id", "object_type", "object_id"], unique=False)
    with op.batch_alter_table("users", recreate="never") as b:
        b.add_column(sa.Column("password_changed_at", Stamp, nullable=True))
        b.add_column(sa.Column("invite_token_hash", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("invite_expires_at", Stamp, nullable=True))
        b.create_index("ix_users_invite_token_hash", ["invite_token_hash"], unique=True)
    op.create_table(
        "share_access_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_id", BigId, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("at", Stamp, nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["share_tokens.id"],
            name=op.f("fk_share_access_log_token_id_share_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_access_log")),
    )
    op.create_index("ix_share_access_log_token_at", "share_access_log", ["token_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_share_access_log_token_at", table_name="share_access_log")
    op.drop_table("share_access_log")
    with op.batch_alter_table("users", recreate="never") as b:
        b.drop_index("ix_users_invite_token_hash")
        b.drop_column("invite_expires_at")
        b.drop_column("invite_token_hash")
        b.drop_column("password_changed_at")
    with op.batch_alter_table("share_tokens", recreate="never") as b:
        b.drop_index("ix_share_tokens_object")
        b.drop_column("snapshot_json")
        b.drop_column("last_used_at")
        b.drop_column("frame_origins_json")
        b.drop_column("label")
