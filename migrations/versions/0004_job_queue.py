"""job queue mirror: job classes, pools, owners, results; schedule fires; deliveries

Revision ID: 0004
Revises: 0003

``job_queue`` becomes the mirror of the one job state machine (``portal.queue.states``):

- ``job_type`` is renamed ``job_class`` (the name of ``portal.specs.jobs.JobClass``
  everywhere else; keeping both columns would give a job two names to disagree on);
- new ``pool`` (realtime|batch, existing rows get their class's default pool),
  ``enqueued_at`` (existing rows: their ``created_at``), ``owner_id`` (the account the job
  acts for; SET NULL when it is deleted) and ``result_json`` (rows, runtime, error class);
- ``status`` takes the new set ``queued|deferred|waiting|running|retrying|failed|done|canceled``:
  old ``retry`` rows become ``retrying``;
- ``status_reason`` stays: it is the human reason for waiting the job monitor shows;
- index (tenant_id, status) for the monitor's tenant-scoped queries; it replaces the
  index on tenant_id alone (its prefix). ``rq_job_id`` keeps its UNIQUE constraint (an index).

``report_schedules.last_fire_at`` is the baseline of ``portal.queue.schedules.due_fire``;
existing schedules get the upgrade time, so they fire at their next time (no catch-up
burst, and not never). New tables: ``schedule_fires`` (UNIQUE schedule_id, fire_time: a
fire is claimed once even with two schedulers) and ``deliveries`` (UNIQUE idempotency_key:
one e-mail per job and recipient, even after a retry).

SQLite cannot rename a column, add a named foreign key or change NOT NULL without copying
the table: the ``job_queue`` batch copies it from the table definitions below (frozen
copies, no reflection, so the offline ``--sql`` script works too); on PostgreSQL the same
batch is plain ALTER TABLE statements.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
#: Frozen copy of portal.specs.jobs.DEFAULT_POOL's realtime classes (a migration must not
#: change when the code does); every other class runs in the batch pool.
REALTIME_CLASSES = ('report_execute', 'trigger_evaluate')


def _job_queue(version: int) -> sa.Table:
    """``job_queue`` as revision 0003 (``version=3``) or this one (``version=4``) left it."""
    meta = sa.MetaData()
    sa.Table('tenants', meta, sa.Column('id', BigId, primary_key=True))
    sa.Table('users', meta, sa.Column('id', BigId, primary_key=True))
    columns: list[sa.Column[object]] = [
        sa.Column('id', BigId, nullable=False),
        sa.Column('tenant_id', BigId, nullable=True),
        sa.Column('job_type' if version == 3 else 'job_class', sa.String(length=32), nullable=False),
        sa.Column('rq_job_id', sa.String(length=128), nullable=True),
        sa.Column('dedup_key', sa.String(length=128), nullable=True),
        sa.Column('payload_json', sa.JSON(), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('status_reason', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('not_before_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('worker_id', sa.String(length=128), nullable=True),
    ]
    constraints: list[sa.SchemaItem] = [
        sa.ForeignKeyConstraint(
            ['tenant_id'], ['tenants.id'], name='fk_job_queue_tenant_id_tenants', ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name='pk_job_queue'),
        sa.UniqueConstraint('rq_job_id', name='uq_job_queue_rq_job_id'),
        sa.Index('ix_job_queue_dedup_key', 'dedup_key'),
        sa.Index('ix_job_queue_status_prio', 'status', 'priority'),
    ]
    if version == 3:
        constraints.append(sa.Index('ix_job_queue_tenant_id', 'tenant_id'))
    else:
        columns += [
            sa.Column('pool', sa.String(length=16), server_default='batch', nullable=False),
            sa.Column('enqueued_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.Column('owner_id', BigId, nullable=True),
            sa.Column('result_json', sa.JSON(), nullable=True),
        ]
        constraints += [
            sa.ForeignKeyConstraint(
                ['owner_id'], ['users.id'], name='fk_job_queue_owner_id_users', ondelete='SET NULL'
            ),
            sa.Index('ix_job_queue_tenant_status', 'tenant_id', 'status'),
            sa.Index('ix_job_queue_owner_id', 'owner_id'),
        ]
    return sa.Table('job_queue', meta, *columns, *constraints)


def upgrade() -> None:
    with op.batch_alter_table('job_queue', schema=None, copy_from=_job_queue(3)) as batch_op:
        batch_op.alter_column(
            'job_type', new_column_name='job_class', existing_type=sa.String(length=32), existing_nullable=False
        )
        batch_op.add_column(sa.Column('pool', sa.String(length=16), server_default='batch', nullable=False))
        batch_op.add_column(
            sa.Column('enqueued_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
        )
        batch_op.add_column(sa.Column('owner_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('result_json', sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            'fk_job_queue_owner_id_users', 'users', ['owner_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.drop_index('ix_job_queue_tenant_id')
        batch_op.create_index('ix_job_queue_tenant_status', ['tenant_id', 'status'], unique=False)
        batch_op.create_index('ix_job_queue_owner_id', ['owner_id'], unique=False)

    jobs = sa.table(
        'job_queue',
        sa.column('status', sa.String()),
        sa.column('job_class', sa.String()),
        sa.column('pool', sa.String()),
        sa.column('enqueued_at', sa.DateTime(timezone=True)),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    op.execute(jobs.update().where(jobs.c.status == 'retry').values(status='retrying'))
    op.execute(jobs.update().where(jobs.c.job_class.in_(REALTIME_CLASSES)).values(pool='realtime'))
    op.execute(jobs.update().values(enqueued_at=jobs.c.created_at))

    op.add_column('report_schedules', sa.Column('last_fire_at', sa.DateTime(timezone=True), nullable=True))
    schedules = sa.table('report_schedules', sa.column('last_fire_at', sa.DateTime(timezone=True)))
    op.execute(schedules.update().values(last_fire_at=sa.func.now()))

    op.create_table('schedule_fires',
    sa.Column('id', BigId, nullable=False),
    sa.Column('schedule_id', BigId, nullable=False),
    sa.Column('fire_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('job_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['job_queue.id'], name=op.f('fk_schedule_fires_job_id_job_queue'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['report_schedules.id'], name=op.f('fk_schedule_fires_schedule_id_report_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_fires')),
    sa.UniqueConstraint('schedule_id', 'fire_time', name='uq_schedule_fires_schedule_fire')
    )
    op.create_index(op.f('ix_schedule_fires_job_id'), 'schedule_fires', ['job_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', BigId, nullable=False),
    sa.Column('job_id', BigId, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['job_queue.id'], name=op.f('fk_deliveries_job_id_job_queue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_deliveries_idempotency_key'))
    )
    op.create_index(op.f('ix_deliveries_job_id'), 'deliveries', ['job_id'], unique=False)


def downgrade() -> None:
    # Fire and delivery records go: the old schema has nowhere to keep them.
    op.drop_index(op.f('ix_deliveries_job_id'), table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index(op.f('ix_schedule_fires_job_id'), table_name='schedule_fires')
    op.drop_table('schedule_fires')
    with op.batch_alter_table('report_schedules', schema=None) as batch_op:
        batch_op.drop_column('last_fire_at')

    # States the old set does not have: retrying was "retry"; waiting (held by a limit) was queued.
    jobs = sa.table('job_queue', sa.column('status', sa.String()))
    op.execute(jobs.update().where(jobs.c.status == 'retrying').values(status='retry'))
    op.execute(jobs.update().where(jobs.c.status == 'waiting').values(status='queued'))
    with op.batch_alter_table('job_queue', schema=None, copy_from=_job_queue(4)) as batch_op:
        batch_op.drop_index('ix_job_queue_owner_id')
        batch_op.drop_index('ix_job_queue_tenant_status')
        batch_op.drop_constraint('fk_job_queue_owner_id_users', type_='foreignkey')
        batch_op.drop_column('result_json')
        batch_op.drop_column('owner_id')
        batch_op.drop_column('enqueued_at')
        batch_op.drop_column('pool')
        batch_op.alter_column(
            'job_class', new_column_name='job_type', existing_type=sa.String(length=32), existing_nullable=False
        )
        batch_op.create_index('ix_job_queue_tenant_id', ['tenant_id'], unique=False)
