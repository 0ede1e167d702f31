"""The ``job_queue`` mirror (portal.jobstore) on SQLite and PostgreSQL: creating and deduplicating
jobs, every legal state move stored and every illegal one refused, two processes racing on one
job, schedule fires claimed once, deliveries once per key, tenant-scoped monitor queries, and
migration 0004 carrying old rows up and back down.

One database per backend for the module (tests/conftest.py); each test makes its own tenants,
users and jobs, so none depends on what another did.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal import jobstore
from portal.errors import BadRequest, Conflict, InvalidSpec, NotFound
from portal.identity import auth
from portal.identity.principal import Principal, principal_for_user
from portal.infra import migrate
from portal.infra.db import make_engine, make_sessionmaker, transaction
from portal.jobstore import records
from portal.models import Base, Delivery, JobRecord, Report, ReportSchedule, ScheduleFire, User
from portal.queue.states import FINISHED, TRANSITIONS, IllegalTransition, JobState

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def utc(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def factory(module_metadata_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(module_metadata_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@dataclass(frozen=True)
class Tenancy:
    """A fresh tenant: its id, an analyst, an admin and a report of the analyst."""

    tenant_id: int
    analyst_id: int
    admin_id: int
    report_id: int


def new_tenant(factory: sessionmaker[Session]) -> Tenancy:
    slug = f"t{uuid.uuid4().hex[:10]}"
    with transaction(factory) as s:
        t = auth.create_tenant(s, slug, slug.upper())
        analyst = auth.create_user(s, t, f"analyst@{slug}.example.com", "Analyst", None)
        admin = auth.create_user(s, t, f"admin@{slug}.example.com", "Admin", None, is_admin=True)
        report = Report(tenant_id=t.id, name="r", query_json={}, owner_id=analyst.id)
        s.add(report)
        s.flush()
        return Tenancy(t.id, analyst.id, admin.id, report.id)


def who(session: Session, user_id: int) -> Principal:
    user = session.get(User, user_id)
    assert user is not None
    return principal_for_user(session, user)


@pytest.fixture
def acme(factory: sessionmaker[Session]) -> Tenancy:
    return new_tenant(factory)


def make_job(session: Session, principal: Principal, **kw: Any) -> JobRecord:
    kw.setdefault("job_class", "report_execute")
    kw.setdefault("payload", {"report_id": 1})
    kw.setdefault("priority", "normal")
    return jobstore.create_job(session, principal, **kw)


# --------------------------------------------------------------------------- create + dedup
def test_create_fills_tenant_owner_pool_and_a_valid_rq_id(factory, acme):
    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        job = make_job(s, me, payload={"report_id": acme.report_id, "params": {"x": 1}}, priority="high")
        batch = make_job(s, me, job_class="pdf_render", pool=None)
        forced = make_job(s, me, job_class="pdf_render", pool="realtime")
    assert (job.tenant_id, job.owner_id) == (acme.tenant_id, acme.analyst_id)
    assert (job.job_class, job.pool, job.priority, job.status) == (
        "report_execute",
        "realtime",
        "high",
        "queued",
    )
    assert (batch.pool, forced.pool) == ("batch", "realtime")
    assert job.payload_json == {"report_id": acme.report_id, "params": {"x": 1}}
    assert job.attempts == 0 and job.started_at is None and job.finished_at is None
    assert utc(job.enqueued_at) == utc(job.created_at)
    for j in (job, batch, forced):
        assert j.rq_job_id and re.fullmatch(r"[A-Za-z0-9_-]+", j.rq_job_id), j.rq_job_id  # RQ's rule
    assert len({job.rq_job_id, batch.rq_job_id, forced.rq_job_id}) == 3  # no key: never deduplicated


def test_same_dedup_key_while_unfinished_returns_the_same_job(factory, acme):
    other = new_tenant(factory)
    key = f"report_execute:{acme.report_id}:abc123"
    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        first = make_job(s, me, dedup_key=key)
        again = make_job(s, who(s, acme.admin_id), dedup_key=key, priority="critical")
        theirs = make_job(s, who(s, other.analyst_id), dedup_key=key)  # keys are per tenant
        other_class = make_job(s, me, job_class="trigger_evaluate", dedup_key=key)
    assert again.id == first.id and again.priority == "normal"  # the existing job, unchanged
    assert theirs.id != first.id and theirs.tenant_id == other.tenant_id
    assert other_class.id != first.id
    assert first.rq_job_id == jobstore.job_rq_id("report_execute", acme.tenant_id, key, 0)
    assert len({first.rq_job_id, theirs.rq_job_id, other_class.rq_job_id}) == 3
    with factory() as s:
        same = select(func.count()).where(JobRecord.dedup_key == key, JobRecord.tenant_id == acme.tenant_id)
        assert s.scalar(same.where(JobRecord.job_class == "report_execute")) == 1

    # Once finished, the same key is new work: a new job with the next deterministic id.
    with transaction(factory) as s:
        jobstore.move(s, first.id, "running", worker="w1")
        jobstore.move(s, first.id, "done")
        second = make_job(s, who(s, acme.analyst_id), dedup_key=key)
        third = make_job(s, who(s, acme.analyst_id), dedup_key=key)
    assert second.id != first.id and third.id == second.id
    assert second.rq_job_id == jobstore.job_rq_id("report_execute", acme.tenant_id, key, 1)


def test_a_concurrent_creator_of_the_same_key_gets_the_job_the_other_created(factory, acme, monkeypatch):
    """Both see no job yet; the database's UNIQUE rq_job_id makes the second insert return the first."""
    key = f"report_execute:{acme.report_id}:race"
    with transaction(factory) as s:
        rival = make_job(s, who(s, acme.analyst_id), dedup_key=key)
    real_execute = Session.execute
    calls = {"n": 0}

    def blind_first_lookup(self: Session, stmt: Any, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the "is one on its way?" lookup ran before the rival's commit
            stmt = stmt.where(sa.false())
        return real_execute(self, stmt, *a, **kw)

    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        monkeypatch.setattr(Session, "execute", blind_first_lookup)
        got = make_job(s, me, dedup_key=key)
        monkeypatch.undo()
    assert calls["n"] >= 2  # the lookup, then the insert that met the rival's rq_job_id
    assert got.id == rival.id
    with factory() as s:
        assert s.scalar(select(func.count()).where(JobRecord.dedup_key == key)) == 1


def test_create_refuses_bad_input_naming_the_field(factory, acme):
    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"job_class": "report_exec"}, InvalidSpec, "job_class"),
            ({"priority": "urgent"}, InvalidSpec, "priority"),
            ({"pool": "fast"}, InvalidSpec, "pool"),
            ({"state": "running"}, BadRequest, "state"),
            ({"state": "waiting"}, BadRequest, "reason"),
            ({"state": "deferred", "reason": "off-peak"}, BadRequest, "not_before"),
            ({"dedup_key": "k" * 129}, BadRequest, "dedup_key"),
            ({"payload": {"x": object()}}, BadRequest, "payload"),
            ({"payload": {"x": "y" * 70_000}}, BadRequest, "payload"),
        ]
        for kw, error, field in cases:
            with pytest.raises(error) as info:
                make_job(s, me, **kw)
            assert info.value.field == field, kw
        held = make_job(s, me, state="deferred", reason="off-peak window opens 00:00", not_before=T0)
        assert (held.status, held.status_reason, utc(held.not_before_at)) == (
            "deferred",
            "off-peak window opens 00:00",
            T0,
        )
        assert s.scalar(select(func.count()).where(JobRecord.owner_id == acme.analyst_id)) == 1


# --------------------------------------------------------------------------- moves
def path_to(state: JobState) -> list[JobState]:
    """The shortest legal path of moves from ``queued`` to ``state``."""
    seen = {JobState.QUEUED: [JobState.QUEUED]}
    todo = deque([JobState.QUEUED])
    while todo:
        cur = todo.popleft()
        for nxt in sorted(TRANSITIONS[cur]):
            if nxt not in seen:
                seen[nxt] = [*seen[cur], nxt]
                todo.append(nxt)
    return seen[state][1:]


ARGS = {"reason": "tenant acme runs 2 of 2 allowed", "not_before": T0 + timedelta(hours=6)}


def job_in(session: Session, principal: Principal, state: JobState) -> JobRecord:
    job = make_job(session, principal)
    for i, step in enumerate(path_to(state)):
        job = jobstore.move(session, job, step, worker="w0", now=T0 + timedelta(seconds=i), **ARGS)
    assert job.status == state
    return job


def snapshot(session: Session, job_id: int) -> dict[str, Any]:
    row = session.execute(select(JobRecord.__table__).where(JobRecord.id == job_id)).one()
    return dict(row._mapping)


@pytest.mark.parametrize("source", list(JobState))
def test_every_legal_move_is_stored_with_its_times(factory, acme, source):
    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        for target in sorted(TRANSITIONS[source]):
            job = job_in(s, me, source)
            before = snapshot(s, job.id)
            at = T0 + timedelta(hours=1)
            moved = jobstore.move(
                s, job.id, target, worker="w9", error="boom", result={"rows": 3}, now=at, **ARGS
            )
            row = snapshot(s, job.id)
            assert row["status"] == moved.status == target.value, (source, target)
            assert (
                row["worker_id"] == "w9" and row["last_error"] == "boom" and row["result_json"] == {"rows": 3}
            )
            if target is JobState.RUNNING:
                assert row["attempts"] == before["attempts"] + 1
                assert utc(row["started_at"]) == at and row["finished_at"] is None
            else:
                assert row["attempts"] == before["attempts"]
                assert utc(row["started_at"]) == utc(before["started_at"])
            if target in FINISHED:
                assert utc(row["finished_at"]) == at
            else:
                assert row["finished_at"] is None
            if target in (JobState.RUNNING, JobState.DONE):
                assert row["status_reason"] is None  # running and done say nothing about waiting
            else:
                assert row["status_reason"] == ARGS["reason"]
            if target is JobState.DEFERRED:
                assert utc(row["not_before_at"]) == ARGS["not_before"]
            requeued = target is JobState.QUEUED and source in (
                JobState.FAILED,
                JobState.CANCELED,
                JobState.RETRYING,
                JobState.DEFERRED,
            )
            assert utc(row["enqueued_at"]) == (at if requeued else utc(before["enqueued_at"])), (
                source,
                target,
            )


@pytest.mark.parametrize("source", list(JobState))
def test_every_illegal_move_is_refused_with_409_and_nothing_changes(factory, acme, source):
    illegal = [t for t in JobState if t not in TRANSITIONS[source]]
    with transaction(factory) as s:
        me = who(s, acme.analyst_id)
        for target in illegal:
            job = job_in(s, me, source)
            before = snapshot(s, job.id)
            with pytest.raises(IllegalTransition) as info:
                jobstore.move(
                    s, job.id, target, worker="w9", error="boom", now=T0 + timedelta(days=1), **ARGS
                )
            assert info.value.status == 409 and info.value.field == "state"
            assert f"cannot become {target.value}" in info.value.message
            assert snapshot(s, job.id) == before, (source, target)
        job = job_in(s, me, source)
        with pytest.raises(InvalidSpec) as bad:
            jobstore.move(s, job.id, "finished")
        assert bad.value.field == "state" and snapshot(s, job.id)["status"] == source.value


def test_move_needs_a_reason_to_hold_and_finds_missing_jobs(factory, acme):
    with transaction(factory) as s:
        job = make_job(s, who(s, acme.analyst_id))
        for target, kw, field in (
            ("waiting", {}, "reason"),
            ("deferred", {"reason": "off-peak"}, "not_before"),
            ("waiting", {"reason": "   "}, "reason"),
        ):
            with pytest.raises(BadRequest) as info:
                jobstore.move(s, job.id, target, **kw)
            assert info.value.field == field
        assert snapshot(s, job.id)["status"] == "queued"
        with pytest.raises(NotFound):
            jobstore.move(s, 10**12, "running")


def test_a_stale_record_cannot_move_a_job_someone_else_moved(factory, acme):
    with transaction(factory) as s:
        job_id = make_job(s, who(s, acme.analyst_id)).id
    with factory() as mine:
        stale = mine.get(JobRecord, job_id)
        assert stale is not None and stale.status == "queued"
        with transaction(factory) as theirs:
            jobstore.move(theirs, job_id, "running", worker="other")
        with pytest.raises(Conflict) as info:
            jobstore.move(mine, stale, "running", worker="mine")
        assert info.value.status == 409 and info.value.field == "state"
        mine.rollback()
    with factory() as s:
        assert (s.get(JobRecord, job_id).worker_id, s.get(JobRecord, job_id).attempts) == ("other", 1)


def test_two_sessions_racing_to_run_one_job_exactly_one_wins(factory, acme, monkeypatch):
    """Both read ``queued`` before either writes: only the conditional UPDATE can tell them apart."""
    with transaction(factory) as s:
        job_id = make_job(s, who(s, acme.analyst_id)).id
    both_read = threading.Barrier(2, timeout=20)
    real = records.transition

    def transition_then_wait(current: str, target: str) -> JobState:
        out = real(current, target)
        both_read.wait()
        return out

    monkeypatch.setattr(records, "transition", transition_then_wait)
    outcomes: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            with transaction(factory) as session:
                jobstore.move(session, job_id, "running", worker=name)
            outcomes[name] = "won"
        except Exception as exc:  # the loser's error is the point of the test
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [n for n, o in outcomes.items() if o == "won"]
    losers = [o for o in outcomes.values() if o != "won"]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], Conflict) and losers[0].status == 409, losers[0]
    assert "changed while it was being moved" in losers[0].message
    with factory() as s:
        job = s.get(JobRecord, job_id)
        assert (job.status, job.attempts, job.worker_id) == ("running", 1, winners[0])


# --------------------------------------------------------------------------- schedule fires
def new_schedule(session: Session, t: Tenancy) -> int:
    schedule = ReportSchedule(
        report_id=t.report_id, schedule_expr="0 8 * * *", timezone="UTC", created_by=t.analyst_id
    )
    session.add(schedule)
    session.flush()
    return schedule.id


def test_claim_fire_once_and_the_transaction_stays_usable(factory, acme):
    fire = T0.replace(hour=8)
    with transaction(factory) as s:
        sid = new_schedule(s, acme)
        assert jobstore.claim_fire(s, sid, fire) is True
        # The same instant written in another zone is the same fire.
        assert jobstore.claim_fire(s, sid, fire.astimezone(ZoneInfo("America/Sao_Paulo"))) is False
        # Still usable: more writes in the same transaction, then it commits.
        job = make_job(s, who(s, acme.analyst_id), job_class="report_schedule")
        jobstore.link_fire(s, sid, fire, job.id)
        assert jobstore.claim_fire(s, sid, fire - timedelta(days=1)) is True
        with pytest.raises(BadRequest):
            jobstore.claim_fire(s, sid, fire.replace(tzinfo=None))
    with factory() as s:  # a second scheduler, later, that dies before committing
        assert jobstore.claim_fire(s, sid, fire) is False
        assert jobstore.claim_fire(s, sid, fire + timedelta(days=1)) is True
        s.rollback()
    with factory() as s:
        fires = s.execute(
            select(ScheduleFire.fire_time, ScheduleFire.job_id)
            .where(ScheduleFire.schedule_id == sid)
            .order_by(ScheduleFire.fire_time)
        ).all()
        assert [(utc(f), j) for f, j in fires] == [(fire - timedelta(days=1), None), (fire, job.id)]
        # last_fire_at moved forward to the latest claim, never back to the older one.
        assert utc(s.get(ReportSchedule, sid).last_fire_at) == fire
    with transaction(factory) as s:
        assert jobstore.claim_fire(s, sid, fire + timedelta(days=1)) is True  # rolled back before: free


# --------------------------------------------------------------------------- deliveries
def test_deliveries_once_per_key_and_a_sent_one_stays_sent(factory, acme):
    with transaction(factory) as s:
        job = make_job(s, who(s, acme.analyst_id))
        other = make_job(s, who(s, acme.analyst_id))
        ann = jobstore.delivery_key(job.id, "email", "Ann@Example.com")
        bob = jobstore.delivery_key(job.id, "email", "bob@example.com")
        assert ann == jobstore.delivery_key(job.id, "email", " ann@example.com")  # one key per mailbox
        assert len(ann) <= 128 and ann != jobstore.delivery_key(other.id, "email", "ann@example.com")

        first = jobstore.record_delivery(
            s, job.id, "email", "Ann@Example.com", ann, "failed", error="421 busy"
        )
        assert first.status == "failed" and jobstore.delivered_keys(s, job.id) == set()
        sent = jobstore.record_delivery(
            s, job.id, "email", "Ann@Example.com", ann, "sent", message_id="<m1@x>"
        )
        assert sent.id == first.id and (sent.status, sent.message_id, sent.error) == ("sent", "<m1@x>", None)
        # The retried job tries again: a failure now does not unsend what was sent.
        again = jobstore.record_delivery(s, job.id, "email", "Ann@Example.com", ann, "failed", error="x")
        assert (again.id, again.status, again.message_id) == (first.id, "sent", "<m1@x>")
        jobstore.record_delivery(s, job.id, "email", "bob@example.com", bob, "failed", error="421 busy")

        assert jobstore.delivered_keys(s, job.id) == {ann}
        assert jobstore.served_recipients(s, job.id) == {"ann@example.com"}
        assert jobstore.delivered_keys(s, other.id) == set()
        assert s.scalar(select(func.count()).where(Delivery.job_id == job.id)) == 2

        with pytest.raises(Conflict) as stolen:
            jobstore.record_delivery(s, other.id, "email", "ann@example.com", ann, "sent")
        assert stolen.value.field == "idempotency_key"
        assert jobstore.delivered_keys(s, other.id) == set()
        with pytest.raises(InvalidSpec) as bad:
            jobstore.record_delivery(s, job.id, "sms", "x", "k1", "sent")
        assert bad.value.field == "channel"
        with pytest.raises(InvalidSpec):
            jobstore.record_delivery(s, job.id, "email", "x", "k2", "bounced")
        # Still usable after the refusals.
        jobstore.record_delivery(s, job.id, "webhook", "https://hooks.example.com/x", "wh-1", "sent")
    with factory() as s:
        assert jobstore.delivered_keys(s, job.id) == {ann, "wh-1"}


# --------------------------------------------------------------------------- monitor queries
def test_list_and_get_are_tenant_scoped_for_admins_too(factory):
    one, two = new_tenant(factory), new_tenant(factory)
    with transaction(factory) as s:
        a = who(s, one.analyst_id)
        mine = [make_job(s, a).id, make_job(s, a, job_class="pdf_render", priority="low").id]
        theirs = make_job(s, who(s, two.analyst_id)).id
        jobstore.move(s, mine[0], "running", worker="w")

    with factory() as s:
        a, b, boss = who(s, one.analyst_id), who(s, two.analyst_id), who(s, one.admin_id)
        assert [j.id for j in jobstore.list_jobs(s, a)] == mine[::-1]  # newest first, own tenant only
        assert [j.id for j in jobstore.list_jobs(s, b)] == [theirs]
        assert jobstore.list_jobs(s, a, tenant_id=two.tenant_id) == []  # a filter never widens the view
        with pytest.raises(NotFound) as hidden:
            jobstore.get_job(s, a, theirs)
        with pytest.raises(NotFound) as missing:
            jobstore.get_job(s, a, 10**12)
        assert (
            (hidden.value.status, hidden.value.field)
            == (missing.value.status, missing.value.field)
            == (404, "id")
        )
        assert hidden.value.message == missing.value.message.replace(str(10**12), str(theirs))
        assert jobstore.get_job(s, a, mine[0]).status == "running"

        # A tenant admin sees its tenant's jobs and no other tenant's (payloads, errors).
        seen = {j.id for j in jobstore.list_jobs(s, boss, limit=500)}
        assert set(mine) <= seen and theirs not in seen
        assert jobstore.list_jobs(s, boss, tenant_id=two.tenant_id) == []
        with pytest.raises(NotFound):
            jobstore.get_job(s, boss, theirs)

        assert [j.id for j in jobstore.list_jobs(s, a, state="running")] == [mine[0]]
        assert [j.id for j in jobstore.list_jobs(s, a, job_class="pdf_render")] == [mine[1]]
        assert [j.id for j in jobstore.list_jobs(s, a, priority="low")] == [mine[1]]
        assert [j.id for j in jobstore.list_jobs(s, a, limit=1)] == [mine[1]]
        assert [j.id for j in jobstore.list_jobs(s, a, limit=1, before_id=mine[1])] == [mine[0]]
        with pytest.raises(InvalidSpec, match="did you mean 'running'") as typo:
            jobstore.list_jobs(s, a, state="runing")
        assert typo.value.field == "state"
        with pytest.raises(BadRequest):
            jobstore.list_jobs(s, a, limit=0)

        counts = jobstore.counts_by_state(s, a)
        assert counts == {st.value: 0 for st in JobState} | {"running": 1, "queued": 1}
        assert (
            jobstore.counts_by_state(s, b)["queued"] == 1 and jobstore.counts_by_state(s, b)["running"] == 0
        )
        assert jobstore.counts_by_state(s, boss, tenant_id=two.tenant_id)["queued"] == 0


# --------------------------------------------------------------------------- migration 0004
def test_migration_0004_carries_old_rows_up_and_back_down(metadata_url: str):
    engine = sa.create_engine(metadata_url, poolclass=sa.pool.NullPool)
    migrate.downgrade(metadata_url, "0003")
    meta = sa.MetaData()
    tenants = sa.Table("tenants", meta, autoload_with=engine)
    old_jobs = sa.Table("job_queue", meta, autoload_with=engine)
    assert "job_type" in old_jobs.c and "job_class" not in old_jobs.c
    created = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    with engine.begin() as conn:
        tid = conn.execute(
            tenants.insert().values(slug="old", name="Old", settings_json={}, created_at=created)
        ).inserted_primary_key[0]
        common = {
            "tenant_id": tid,
            "payload_json": {},
            "priority": "normal",
            "attempts": 1,
            "max_attempts": 3,
        }
        conn.execute(
            old_jobs.insert(),
            [
                {
                    **common,
                    "job_type": "report_execute",
                    "status": "retry",
                    "created_at": created,
                    "rq_job_id": "a",
                },
                {
                    **common,
                    "job_type": "pdf_render",
                    "status": "done",
                    "created_at": created,
                    "rq_job_id": "b",
                },
            ],
        )

    migrate.upgrade(metadata_url)
    with engine.connect() as conn:
        jobs = sa.Table("job_queue", sa.MetaData(), autoload_with=conn)
        c = jobs.c
        rows = conn.execute(
            select(c.rq_job_id, c.job_class, c.status, c.pool, c.enqueued_at, c.owner_id).order_by(
                c.rq_job_id
            )
        ).all()
        assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
            ("a", "report_execute", "retrying", "realtime", None),
            ("b", "pdf_render", "done", "batch", None),
        ]
        assert all(utc(r[4]) == created for r in rows)  # enqueued when it was created
        names = set(sa.inspect(conn).get_table_names())
        assert {"schedule_fires", "deliveries"} <= names
        assert "last_fire_at" in {c["name"] for c in sa.inspect(conn).get_columns("report_schedules")}
        conn.execute(jobs.update().where(c.rq_job_id == "b").values(status="waiting"))
        conn.commit()

    migrate.downgrade(metadata_url, "0003")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT rq_job_id, job_type, status FROM job_queue ORDER BY rq_job_id")
        ).all()
        assert [tuple(r) for r in rows] == [("a", "report_execute", "retry"), ("b", "pdf_render", "queued")]
        assert not {"schedule_fires", "deliveries"} & set(sa.inspect(conn).get_table_names())
        cols = {c["name"] for c in sa.inspect(conn).get_columns("job_queue")}
        assert not {"job_class", "pool", "enqueued_at", "owner_id", "result_json"} & cols

    migrate.upgrade(metadata_url)
    with engine.connect() as conn:
        assert list(compare_metadata(MigrationContext.configure(conn), Base.metadata)) == []
    engine.dispose()
