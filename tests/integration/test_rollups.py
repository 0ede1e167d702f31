"""Rollups built in a real warehouse answer exactly what the base tables answer, or nothing.

A copy of the session's tiny demo warehouse (DuckDB) gets the demo rollups; every query of
the demo dashboards and reports (as saved, with the dashboard's time range, as a KPI) runs with
rollups on and off for a tenant-wide and a location-restricted scope: the frames are equal
(``assert_frame_equal``, dtypes included), and the queries a rollup can answer did come from
one. Stale rollups are not used; the ``dataset_precompute`` task builds them as its admin.
The same equality holds on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, select, text

import jobs.precompute
import jobs.runtime
from portal.dashboards.data import kpi_query
from portal.dashboards.drill import apply_filters
from portal.data import rollup_store
from portal.data.catalog import DEMO_CATALOG
from portal.data.rollups import DEMO_ROLLUPS
from portal.data.warehouse import Warehouse
from portal.demo.showcase import DEMO_DASHBOARDS, DEMO_REPORTS
from portal.identity.scope import Scope
from portal.infra.cache import QueryCache
from portal.infra.db import transaction
from portal.jobqueue import submit
from portal.models import JobRecord
from portal.specs import DashboardFilters, QuerySpec
from tests.support.principals import as_principal

MIDNIGHT = datetime(2026, 11, 2)  # the day after the demo data ends: day-aligned relative windows
AFTERNOON = datetime(2026, 11, 2, 14, 37)


# --------------------------------------------------------------------------- the queries
def demo_queries() -> list[tuple[str, QuerySpec]]:
    """Every query of the demo dashboards and reports: as saved, under the dashboard's time
    range, and as a KPI card runs it."""
    out: list[tuple[str, QuerySpec]] = []
    for dash, widgets in DEMO_DASHBOARDS:
        named = {k: QuerySpec.model_validate(v) for k, v in (dash.get("queries") or {}).items()}
        inline = {
            f"{w.get('title') or i}": QuerySpec.model_validate(w["query"])
            for i, (w, _) in enumerate(widgets)
            if w.get("query")
        }
        window = (dash.get("filters") or {}).get("time_range") or "{{now-90d}}..{{now}}"
        for name, spec in {**named, **inline}.items():
            label = f"{dash['name']}/{name}"
            out.append((label, spec))
            out.append(
                (f"{label}@window", apply_filters(spec, DashboardFilters(time_range=window), DEMO_CATALOG))
            )
            if spec.group_by:
                out.append((f"{label}@kpi", kpi_query(spec)))
    out += [(f"report/{r['name']}", QuerySpec.model_validate(r["query"])) for r in DEMO_REPORTS]
    return out


QUERIES = demo_queries()
#: Queries a demo rollup must answer (the rest may fall back): the Operations dashboard, the
#: Customer service dashboard's channel/weekly views.
MUST_ANSWER = {
    "Operations & SLA/ops_kpis",
    "Operations & SLA/by_team",
    "Operations & SLA/weekly",
    "Operations & SLA/ops_kpis@window",
    "Operations & SLA/by_team@window",
    "Customer Service & CSAT/by_channel",
}


# --------------------------------------------------------------------------- fixtures
def copy_warehouse(warehouse_url: str, directory: Path) -> str:
    """A writable copy of the session's tiny warehouse (the original stays read-only for others)."""
    src = Path(warehouse_url.removeprefix("duckdb:///"))
    dst = directory / "warehouse.duckdb"
    shutil.copyfile(src, dst)
    return f"duckdb:///{dst}"


@pytest.fixture(scope="module")
def built(
    warehouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Warehouse, Warehouse]]:
    """(rollups on, rollups off) on one copy of the warehouse, every demo rollup built once."""
    url = copy_warehouse(warehouse_url, tmp_path_factory.mktemp("rollups"))
    engine = create_engine(url)
    on = Warehouse(DEMO_CATALOG, engine, rollups=DEMO_ROLLUPS)
    records = rollup_store.refresh(on)
    assert [r.name for r in records] == [r.name for r in DEMO_ROLLUPS]
    yield on, dataclasses.replace(on, use_rollups=False)
    engine.dispose()


@pytest.fixture(scope="module")
def scopes(built: tuple[Warehouse, Warehouse]) -> dict[str, Scope]:
    """A tenant-wide scope and one restricted to a few of its locations."""
    with built[0].engine.connect() as conn:
        ids = (
            conn.execute(
                text("SELECT DISTINCT location_id FROM tickets WHERE tenant_key = 'acme' ORDER BY 1 LIMIT 4")
            )
            .scalars()
            .all()
        )
    assert len(ids) == 4
    return {"tenant": Scope.of("acme"), "locations": Scope.of("acme", locations=ids[::2])}


def both(on: Warehouse, off: Warehouse, spec: Any, scope: Scope, now: datetime = MIDNIGHT) -> tuple[Any, Any]:
    a = on.run(spec, scope, now=now, use_cache=False)
    b = off.run(spec, scope, now=now, use_cache=False)
    assert b.rollup is None
    pd.testing.assert_frame_equal(a.frame, b.frame)
    return a, b


# --------------------------------------------------------------------------- equality
@pytest.mark.parametrize("scope_name", ["tenant", "locations"])
def test_every_demo_query_gives_the_same_frame_with_and_without_rollups(
    built: tuple[Warehouse, Warehouse], scopes: dict[str, Scope], scope_name: str
) -> None:
    on, off = built
    answered = set()
    for label, spec in QUERIES:
        try:
            a, b = both(on, off, spec, scopes[scope_name])
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
        if a.rollup is not None:
            answered.add(label)
            assert len(b.frame) > 0 or not spec.group_by, label  # the comparison compared something
    assert answered >= MUST_ANSWER, sorted(MUST_ANSWER - answered)
    assert len(answered) >= 15, sorted(answered)


def test_the_scope_still_applies_to_rollups(
    built: tuple[Warehouse, Warehouse], scopes: dict[str, Scope]
) -> None:
    on, _ = built
    spec = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]}
    whole = on.run(spec, scopes["tenant"], now=MIDNIGHT, use_cache=False)
    part = on.run(spec, scopes["locations"], now=MIDNIGHT, use_cache=False)
    other = on.run(spec, Scope.of("globex"), now=MIDNIGHT, use_cache=False)
    nothing = on.run(spec, Scope.of("acme", locations=[]), now=MIDNIGHT, use_cache=False)
    used = {whole.rollup, part.rollup, other.rollup, nothing.rollup}
    assert len(used) == 1 and None not in used  # the smallest tickets rollup, whatever the scope
    n = [int(r.frame["n"].iloc[0]) for r in (whole, part, other, nothing)]
    assert n[0] > n[1] > 0 and n[2] > 0 and n[3] == 0
    with on.engine.connect() as conn:
        assert n[0] == conn.execute(text("SELECT count(*) FROM tickets WHERE tenant_key = 'acme'")).scalar()


def test_a_window_inside_a_day_falls_back_and_still_agrees(
    built: tuple[Warehouse, Warehouse], scopes: dict[str, Scope]
) -> None:
    on, off = built
    spec = apply_filters(
        QuerySpec.model_validate(
            {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["team_name"]}
        ),
        DashboardFilters(time_range="{{now-90d}}..{{now}}"),
        DEMO_CATALOG,
    )
    a, _ = both(on, off, spec, scopes["tenant"], now=AFTERNOON)
    assert a.rollup is None
    a, _ = both(on, off, spec, scopes["tenant"], now=MIDNIGHT)
    assert a.rollup == "tickets_daily"
    today = spec.model_copy(
        update={"filters": [f.model_copy(update={"value": "{{today-90d}}..{{now}}"}) for f in spec.filters]}
    )
    a, _ = both(on, off, today, scopes["tenant"], now=AFTERNOON)
    assert a.rollup == "tickets_daily"


@pytest.mark.parametrize(
    "spec",
    [
        {
            "source": "tickets",
            "metrics": [{"agg": "median", "column": "resolution_hours"}],
            "group_by": ["priority"],
        },
        {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["status"]},
        {"source": "tickets", "columns": ["ticket_id"], "limit": 5},
        {"source": "maintenance_orders", "metrics": [{"agg": "count"}]},
    ],
)
def test_what_no_rollup_answers_falls_back(
    built: tuple[Warehouse, Warehouse], scopes: dict[str, Scope], spec: dict[str, Any]
) -> None:
    a, _ = both(*built, spec, scopes["tenant"])
    assert a.rollup is None


def test_errors_are_the_base_querys(built: tuple[Warehouse, Warehouse], scopes: dict[str, Scope]) -> None:
    from portal.errors import InvalidSpec

    on, _ = built
    bad = {
        "source": "tickets",
        "metrics": [{"agg": "count"}],
        "filters": [{"column": "priority", "op": "=", "value": "High"}],
    }
    with pytest.raises(InvalidSpec, match="high"):
        on.run(bad, scopes["tenant"], now=MIDNIGHT)


def test_the_build_is_recorded_and_swapped_in(built: tuple[Warehouse, Warehouse]) -> None:
    on, _ = built
    assert on.rollup_store is not None
    records = on.rollup_store.records(on.engine)
    with on.engine.connect() as conn:
        tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
        daily = conn.execute(text("SELECT count(*), sum(row_count) FROM rollup_tickets_daily")).one()
        tables = set(conn.execute(text("SELECT table_name FROM information_schema.tables")).scalars())
    rec = records["tickets_daily"]
    assert (rec.rows, rec.base_rows) == (daily[0], daily[1]) == (daily[0], tickets)
    assert rec.rows <= tickets and rec.seconds >= 0 and rec.time_min is not None and rec.time_max is not None
    assert not any(t.endswith("__next") for t in tables)  # no staging table left behind
    frame = rollup_store.state_frame(records)
    assert set(frame["name"]) == {r.name for r in DEMO_ROLLUPS}


# --------------------------------------------------------------------------- freshness and the cache
@pytest.fixture
def fresh_copy(warehouse_url: str, tmp_path: Path, redis_client: Any) -> Iterator[Warehouse]:
    """Rollups on a private copy, with the result cache (its data versions say what is fresh)."""
    engine = create_engine(copy_warehouse(warehouse_url, tmp_path))
    wh = Warehouse(DEMO_CATALOG, engine, QueryCache(redis_client), rollups=DEMO_ROLLUPS)
    rollup_store.refresh(wh, ["tickets_daily", "conversations_daily"])
    yield wh
    engine.dispose()


def test_stale_rollups_are_not_used_until_rebuilt(fresh_copy: Warehouse, redis_client: Any) -> None:
    wh = fresh_copy
    scope = Scope.of("acme")
    tickets = {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["team_name"]}
    convs = {"source": "conversations", "metrics": [{"agg": "count"}], "group_by": ["channel"]}
    assert wh.run(tickets, scope, now=MIDNIGHT).rollup == "tickets_daily"
    # Another process (its own Warehouse and store) sees the same builds and versions.
    other = Warehouse(DEMO_CATALOG, wh.engine, QueryCache(redis_client), rollups=DEMO_ROLLUPS)
    assert other.run(tickets, scope, now=MIDNIGHT, use_cache=False).rollup == "tickets_daily"

    with wh.engine.begin() as conn:  # new data, then the loader says so
        conn.execute(text("DELETE FROM tickets WHERE priority = 'urgent'"))
    wh.invalidate("tickets")
    stale = wh.run(tickets, scope, now=MIDNIGHT)
    assert stale.rollup is None and not stale.cached
    assert other.run(tickets, scope, now=MIDNIGHT, use_cache=False).rollup is None
    assert wh.run(convs, scope, now=MIDNIGHT).rollup == "conversations_daily"  # other sources stay fresh

    rollup_store.refresh(wh, ["tickets_daily"])
    again = wh.run(tickets, scope, now=MIDNIGHT)
    assert again.rollup == "tickets_daily" and not again.cached
    pd.testing.assert_frame_equal(again.frame, stale.frame)  # the rebuilt rollup has the new data
    cached = wh.run(tickets, scope, now=MIDNIGHT)
    assert cached.cached and cached.rollup == "tickets_daily"
    pd.testing.assert_frame_equal(cached.frame, again.frame)

    wh.invalidate()  # everything changed
    assert wh.run(convs, scope, now=MIDNIGHT).rollup is None
    rollup_store.refresh(wh, ["conversations_daily"])
    assert wh.run(convs, scope, now=MIDNIGHT, use_cache=False).rollup == "conversations_daily"
    # An emptied Redis starts its version counters again: an old build must not look current.
    redis_client.flushdb()
    assert wh.run(convs, scope, now=MIDNIGHT, use_cache=False).rollup is None


def test_cache_keys_of_rollup_and_base_answers_differ(fresh_copy: Warehouse) -> None:
    wh = fresh_copy
    spec = {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["priority"]}
    a = wh.run(spec, Scope.of("acme"), now=MIDNIGHT)
    b = dataclasses.replace(wh, use_rollups=False).run(spec, Scope.of("acme"), now=MIDNIGHT)
    assert a.rollup == "tickets_daily" and b.rollup is None and not b.cached
    assert a.cache_key != b.cache_key
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_a_rollup_table_that_vanished_falls_back(fresh_copy: Warehouse) -> None:
    wh = fresh_copy
    spec = {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["priority"]}
    with wh.engine.begin() as conn:
        conn.execute(text("DROP TABLE rollup_tickets_daily"))
    res = wh.run(spec, Scope.of("acme"), now=MIDNIGHT, use_cache=False)
    assert res.rollup is None and len(res.frame) == 4


def test_unknown_rollup_names_are_refused_before_building(fresh_copy: Warehouse) -> None:
    from portal.errors import InvalidSpec

    with pytest.raises(InvalidSpec, match="tickets_daily"):
        rollup_store.refresh(fresh_copy, ["tickets_dayly"])


# --------------------------------------------------------------------------- the task
@pytest.fixture
def job_ctx(
    module_ctx: Any, module_demo: Any, redis_client: Any, warehouse_url: str, tmp_path: Path
) -> Iterator[Any]:
    """The module's context with its warehouse on a private writable copy with the demo rollups,
    installed as the workers' context (the task runs in this process)."""
    saved = module_ctx.warehouse
    engine = create_engine(copy_warehouse(warehouse_url, tmp_path))
    module_ctx.warehouse = Warehouse(DEMO_CATALOG, engine, saved.cache, rollups=DEMO_ROLLUPS)
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)
    module_ctx.warehouse = saved
    engine.dispose()


def new_job(ctx: Any, user: Any, payload: dict[str, Any]) -> int:
    with transaction(ctx.sessions) as s:
        sub = submit(s, as_principal(s, user), "dataset_precompute", payload)
    sub.enqueue(ctx.redis)
    return int(sub.record.id)


def job(ctx: Any, job_id: int) -> JobRecord:
    with ctx.sessions() as s:
        rec = s.get(JobRecord, job_id)
        assert rec is not None
        return rec


@pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
def test_the_precompute_task_builds_as_an_admin(job_ctx: Any, module_demo: Any) -> None:
    ctx = job_ctx
    spec = {"source": "tickets", "metrics": [{"agg": "count"}], "group_by": ["team_name"]}
    assert ctx.warehouse.run(spec, Scope.of("acme"), now=MIDNIGHT).rollup is None  # nothing built yet

    analyst_job = new_job(ctx, module_demo[("acme", "analyst")], {"rollups": ["tickets_daily"]})
    with pytest.raises(Exception, match="administrators"):
        jobs.precompute.refresh(analyst_job)
    rec = job(ctx, analyst_job)
    assert rec.status == "failed" and "PermissionDenied" in (rec.last_error or "")
    assert ctx.warehouse.run(spec, Scope.of("acme"), now=MIDNIGHT, use_cache=False).rollup is None

    admin_job = new_job(ctx, module_demo[("acme", "admin")], {"rollups": ["tickets_daily"]})
    summary = jobs.precompute.refresh(admin_job)
    assert summary is not None and set(summary["rollups"]) == {"tickets_daily"}
    assert summary["rollups"]["tickets_daily"]["rows"] > 0
    rec = job(ctx, admin_job)
    assert rec.status == "done" and rec.result_json == summary
    res = ctx.warehouse.run(spec, Scope.of("acme"), now=MIDNIGHT, use_cache=False)
    assert res.rollup == "tickets_daily"

    everything = new_job(ctx, module_demo[("acme", "admin")], {})
    summary = jobs.precompute.refresh(everything)
    assert summary is not None and set(summary["rollups"]) == {r.name for r in DEMO_ROLLUPS}

    bad = new_job(ctx, module_demo[("acme", "admin")], {"rollups": "tickets_daily"})
    with pytest.raises(Exception, match="rollups"):
        jobs.precompute.refresh(bad)
    assert job(ctx, bad).status == "failed"


# --------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="module")
def pg_built(pg_server: Any) -> Iterator[tuple[Warehouse, Warehouse]]:
    from portal.demo.schema import DemoSize
    from portal.demo.warehouse import load_warehouse
    from portal.infra.db import make_engine

    url = pg_server.create_database()
    load_warehouse(url, DemoSize.scaled(0.004), end=date(2026, 11, 1))  # the session warehouse's size
    engine = make_engine(url)
    on = Warehouse(DEMO_CATALOG, engine, rollups=DEMO_ROLLUPS)
    rollup_store.refresh(on)
    yield on, dataclasses.replace(on, use_rollups=False)
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_rollups_give_the_same_frames(pg_built: tuple[Warehouse, Warehouse]) -> None:
    on, off = pg_built
    with on.engine.connect() as conn:
        ids = (
            conn.execute(
                select(text("DISTINCT location_id"))
                .select_from(text("tickets"))
                .where(text("tenant_key = 'acme'"))
                .limit(4)
            )
            .scalars()
            .all()
        )
    answered = set()
    for scope in (Scope.of("acme"), Scope.of("acme", locations=sorted(ids)[::2])):
        for label, spec in QUERIES:
            try:
                a, _ = both(on, off, spec, scope)
            except AssertionError as exc:
                raise AssertionError(f"{label}: {exc}") from None
            if a.rollup is not None:
                answered.add(label)
    assert answered >= MUST_ANSWER
