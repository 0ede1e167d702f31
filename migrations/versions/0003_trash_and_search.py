"""trash and accent-insensitive search

Revision ID: 0003
Revises: 0002

Reports and dashboards get ``deleted_at`` / ``deleted_by`` (deleting moves them to
the trash, restorable for 30 days) and ``search_text``: name and description folded
(accents removed, case folded) so that "relatorio" finds "Relatório" with one LIKE,
on SQLite and PostgreSQL alike. Existing rows are folded here; the models keep the
column up to date afterwards.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('reports', 'dashboards')


def _fold(text: str) -> str:
    # Frozen copy of portal.models.search_key: a migration must not change when the code does.
    decomposed = unicodedata.normalize('NFKD', text or '')
    return ''.join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def upgrade() -> None:
    # Plain ADD COLUMN, no batch copy of the tables (and no reflection: the offline script works).
    # deleted_by is a plain id, like audit_logs.user_id: SQLite cannot add a named foreign key
    # without copying the table, and a deleted account must not block anything here.
    for name in TABLES:
        op.add_column(name, sa.Column('search_text', sa.Text(), server_default='', nullable=False))
        op.add_column(name, sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        op.add_column(name, sa.Column('deleted_by', sa.BigInteger(), nullable=True))
        op.create_index(op.f(f'ix_{name}_deleted_at'), name, ['deleted_at'], unique=False)
    if op.get_context().as_sql:
        return  # an offline script has no rows to fold
    bind = op.get_bind()
    for name in TABLES:
        table = sa.table(name, sa.column('id'), sa.column('name'), sa.column('description'), sa.column('search_text'))
        rows = bind.execute(sa.select(table.c.id, table.c.name, table.c.description)).all()
        for row in rows:
            bind.execute(
                table.update()
                .where(table.c.id == row.id)
                .values(search_text=_fold(f"{row.name or ''}\n{row.description or ''}"))
            )


def downgrade() -> None:
    # Rows in the trash come back as ordinary rows: a downgrade never deletes anyone's work.
    for name in TABLES:
        op.drop_index(op.f(f'ix_{name}_deleted_at'), table_name=name)
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column('deleted_by')
            batch_op.drop_column('deleted_at')
            batch_op.drop_column('search_text')
