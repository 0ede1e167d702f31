"""The demo warehouse generator: schema, determinism, consistency and realism."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from portal.data.catalog import DEMO_CATALOG
from portal.demo import warehouse as demo_warehouse
from portal.demo.schema import (
    DIMENSION_COLUMNS,
    NULLABLE_COLUMNS,
    TABLE_COLUMNS,
    TENANTS,
    DemoSize,
)
from portal.demo.warehouse import generate_tables, load_warehouse

END = date(2025, 6, 15)
SIZE = DemoSize.scaled(0.01)
FACTS = [s.table for s in DEMO_CATALOG.sources]

DUCK_TYPES = {
    "int": {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"},
    "float": {"DOUBLE", "FLOAT"},
    "string": {"VARCHAR"},
    "bool": {"BOOLEAN"},
    "datetime": {"TIMESTAMP"},
    "date": {"DATE"},
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, table: str, done: int, total: int) -> None:
        self.calls.append((table, done, total))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("demo") / "nested" / "wh.duckdb"  # parent dir does not exist yet
    rec = Recorder()
    counts = load_warehouse(f"duckdb:///{path}", SIZE, end=END, progress=rec)
    return {"path": path, "counts": counts, "progress": rec.calls}


@pytest.fixture
def con(warehouse: dict[str, Any]) -> Any:
    c = duckdb.connect(str(warehouse["path"]), read_only=True)
    yield c
    c.close()


def scalar(con: Any, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


def frames(size: DemoSize, end: date = END) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for name, df in generate_tables(size, end=end):
        parts[name].append(df)
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


# -- schema ------------------------------------------------------------------


def test_size_defaults_and_scaling() -> None:
    assert DemoSize().tickets == 300_000
    assert DemoSize.scaled(1.0) == DemoSize()
    assert DemoSize.scaled(0.01).tickets == 3_000
    with pytest.raises(ValueError):
        DemoSize(months=0)


@pytest.mark.parametrize("source", DEMO_CATALOG.sources, ids=lambda s: s.name)
def test_catalog_tables_have_exact_columns_and_types(con: Any, source: Any) -> None:
    described = con.execute(f'DESCRIBE "{source.table}"').fetchall()
    assert [r[0] for r in described] == source.column_names
    for (name, duck_type, *_), col in zip(described, source.columns, strict=True):
        assert duck_type in DUCK_TYPES[col.type], (source.table, name, duck_type, col.type)


@pytest.mark.parametrize("table", list(DIMENSION_COLUMNS))
def test_dimension_tables(con: Any, table: str) -> None:
    described = con.execute(f'DESCRIBE "{table}"').fetchall()
    assert [r[0] for r in described] == [c for c, _ in DIMENSION_COLUMNS[table]]
    for (name, duck_type, *_), (_, t) in zip(described, DIMENSION_COLUMNS[table], strict=True):
        assert duck_type in DUCK_TYPES[t], (table, name, duck_type, t)
    assert scalar(con, f'SELECT count(*) FROM "{table}"') > 0


def test_only_optional_columns_hold_nulls(con: Any) -> None:
    for table, cols in TABLE_COLUMNS.items():
        optional = NULLABLE_COLUMNS.get(table, frozenset())
        for col, _ in cols:
            nulls = scalar(con, f'SELECT count(*) FROM "{table}" WHERE "{col}" IS NULL')
            if col not in optional:
                assert nulls == 0, (table, col)


def test_returned_counts_and_progress(con: Any, warehouse: dict[str, Any]) -> None:
    counts = warehouse["counts"]
    assert set(counts) == set(TABLE_COLUMNS)
    for table, n in counts.items():
        assert scalar(con, f'SELECT count(*) FROM "{table}"') == n
    last: dict[str, tuple[int, int]] = {}
    for table, done, total in warehouse["progress"]:
        prev = last.get(table, (0, total))[0]
        assert done >= prev
        last[table] = (done, total)
    assert {t: d for t, (d, _) in last.items()} == counts
    assert {t: tot for t, (_, tot) in last.items()} == counts
    assert counts["tickets"] == SIZE.tickets
    assert counts["messages"] == round(SIZE.tickets * SIZE.messages_per_ticket)
    assert counts["conversations"] == round(SIZE.tickets * 0.8)
    assert counts["maintenance_orders"] == round(SIZE.tickets * 0.15)
    assert counts["expenses"] == round(SIZE.tickets * 0.2)


def test_reload_replaces_tables(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    load_warehouse(url, DemoSize(tickets=500), end=END)
    counts = load_warehouse(url, DemoSize(tickets=200, seed=3), end=END)
    c = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert scalar(c, "SELECT count(*) FROM tickets") == counts["tickets"] == 200
        assert scalar(c, "SELECT count(*) FROM messages") == counts["messages"] == 480
    finally:
        c.close()


def test_sqlalchemy_fallback_sqlite(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect, text

    url = f"sqlite:///{tmp_path / 'wh.db'}"
    counts = load_warehouse(url, DemoSize(tickets=150), end=END)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            for table, n in counts.items():
                assert c.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == n
            cols = [col["name"] for col in inspect(c).get_columns("tickets")]
            assert cols == DEMO_CATALOG.source("tickets").column_names
    finally:
        engine.dispose()


# -- determinism and chunking -------------------------------------------------


def test_deterministic() -> None:
    size = DemoSize(tickets=1_000)
    a, b = frames(size), frames(size)
    assert list(a) == list(b) == list(TABLE_COLUMNS)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    c = frames(DemoSize(tickets=1_000, seed=7))
    assert not a["tickets"].equals(c["tickets"])
    assert not a["customers"].equals(c["customers"])


def test_frames_match_catalog_column_order() -> None:
    for name, df in generate_tables(DemoSize(tickets=200), end=END):
        assert list(df.columns) == [c for c, _ in TABLE_COLUMNS[name]], name


def test_chunks_are_bounded_and_ids_contiguous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_warehouse, "CHUNK_ROWS", 400)
    parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for name, df in generate_tables(DemoSize(tickets=3_000), end=END):
        assert len(df) <= 400, name
        parts[name].append(df)
    assert len(parts["tickets"]) > 5
    for table, key in [
        ("tickets", "ticket_id"),
        ("conversations", "conversation_id"),
        ("messages", "message_id"),
    ]:
        ids = pd.concat(parts[table])[key].to_numpy()
        assert (ids == range(1, len(ids) + 1)).all(), table
    conv = pd.concat(parts["conversations"])
    msgs = pd.concat(parts["messages"])
    per_conv = msgs.groupby("conversation_id").size()
    assert per_conv.reindex(conv["conversation_id"], fill_value=0).tolist() == conv["message_count"].tolist()


# -- tenants and consistency --------------------------------------------------


def test_tenants_have_rows_everywhere(con: Any) -> None:
    assert len(TENANTS) >= 2
    keys = {t.key for t in TENANTS}
    for table in [*FACTS, *DIMENSION_COLUMNS]:
        got = {r[0] for r in con.execute(f'SELECT DISTINCT tenant_key FROM "{table}"').fetchall()}
        assert got == keys, table
    # different sizes
    sizes = dict(con.execute("SELECT tenant_key, count(*) FROM tickets GROUP BY 1").fetchall())
    assert len(set(sizes.values())) == len(sizes)


def test_dimension_ids_are_globally_unique(con: Any) -> None:
    for table, key in [
        ("customers", "customer_id"),
        ("locations", "location_id"),
        ("teams", "team_id"),
        ("agents", "agent_id"),
        ("contracts", "contract_id"),
        ("tickets", "ticket_id"),
        ("conversations", "conversation_id"),
        ("messages", "message_id"),
        ("maintenance_orders", "order_id"),
        ("expenses", "expense_id"),
    ]:
        assert scalar(con, f"SELECT count(*) - count(DISTINCT {key}) FROM {table}") == 0, table


def test_dimension_sizes(con: Any) -> None:
    for key, n_cust, n_loc, n_teams, n_contracts in con.execute(
        """SELECT c.tenant_key, count(DISTINCT c.customer_id), count(DISTINCT l.location_id),
                  (SELECT count(*) FROM teams t WHERE t.tenant_key = c.tenant_key),
                  (SELECT count(*) FROM contracts k WHERE k.tenant_key = c.tenant_key)
           FROM customers c JOIN locations l USING (customer_id) GROUP BY 1"""
    ).fetchall():
        assert 30 <= n_cust <= 60, key
        assert 2 <= n_loc / n_cust <= 4, key
        assert 6 <= n_teams <= 10, key
        assert n_cust <= n_contracts <= 2 * n_cust, key
    per_team = con.execute("SELECT count(*) FROM agents GROUP BY team_id").fetchall()
    assert all(5 <= n <= 12 for (n,) in per_team)


@pytest.mark.parametrize("table", FACTS)
def test_denormalised_columns_agree_with_dimensions(con: Any, table: str) -> None:
    cols = {c for c, _ in TABLE_COLUMNS[table]}
    checks = [
        """JOIN customers d ON d.customer_id = f.customer_id
           WHERE d.name <> f.customer_name OR d.segment <> f.customer_segment OR d.tenant_key <> f.tenant_key""",
        """JOIN locations d ON d.location_id = f.location_id
           WHERE d.name <> f.location_name OR d.city <> f.city OR d.state <> f.state OR d.region <> f.region
              OR d.customer_id <> f.customer_id OR d.tenant_key <> f.tenant_key""",
        """JOIN contracts d ON d.contract_id = f.contract_id
           WHERE d.name <> f.contract_name OR d.customer_id <> f.customer_id OR d.tenant_key <> f.tenant_key""",
    ]
    if "team_id" in cols:
        checks.append(
            """JOIN teams d ON d.team_id = f.team_id
               WHERE d.name <> f.team_name OR d.tenant_key <> f.tenant_key"""
        )
    if "agent_id" in cols:
        checks.append(
            """JOIN agents d ON d.agent_id = f.agent_id
               WHERE d.name <> f.agent_name OR d.team_id <> f.team_id OR d.tenant_key <> f.tenant_key"""
        )
    for check in checks:
        assert scalar(con, f"SELECT count(*) FROM {table} f {check}") == 0, check
    for dim, key in [
        ("customers", "customer_id"),
        ("locations", "location_id"),
        ("contracts", "contract_id"),
    ]:
        assert scalar(con, f"SELECT count(*) FROM {table} f ANTI JOIN {dim} d USING ({key})") == 0


def test_facts_fall_inside_active_contracts_and_window(con: Any) -> None:
    for table, time_col in [
        ("tickets", "opened_at"),
        ("conversations", "started_at"),
        ("maintenance_orders", "opened_at"),
        ("expenses", "incurred_at"),
    ]:
        lo, hi = con.execute(f"SELECT min({time_col}), max({time_col}) FROM {table}").fetchone()
        assert datetime(2024, 1, 1) <= lo and hi < datetime(2025, 6, 16), table
        outside = scalar(
            con,
            f"""SELECT count(*) FROM {table} f JOIN contracts c USING (contract_id)
                WHERE f.{time_col} < c.start_date OR f.{time_col} >= c.end_date + 1""",
        )
        assert outside == 0, table


def test_messages_reference_conversations(con: Any) -> None:
    assert (
        scalar(con, "SELECT count(*) FROM messages m ANTI JOIN conversations c USING (conversation_id)") == 0
    )
    bad = scalar(
        con,
        """SELECT count(*) FROM conversations c
           LEFT JOIN (SELECT conversation_id, count(*) n, min(sent_at) first_at, max(sent_at) last_at
                      FROM messages GROUP BY 1) m USING (conversation_id)
           WHERE coalesce(m.n, 0) <> c.message_count OR m.first_at <> c.started_at OR m.last_at > c.ended_at""",
    )
    assert bad == 0
    same = """SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
              WHERE m.customer_id <> c.customer_id OR m.channel <> c.channel OR m.team_id <> c.team_id
                 OR m.agent_id <> c.agent_id OR m.location_id <> c.location_id OR m.tenant_key <> c.tenant_key"""
    assert scalar(con, same) == 0
    assert (
        scalar(
            con,
            """SELECT count(*) FROM messages WHERE (direction = 'outbound') <> (response_seconds IS NOT NULL)
               OR direction NOT IN ('inbound', 'outbound') OR length_chars < 1""",
        )
        == 0
    )


# -- realism -----------------------------------------------------------------


def test_weekdays_busier_than_weekends(con: Any) -> None:
    per_day = con.execute(
        """SELECT isodow(opened_at) >= 6 AS weekend, count(*) / count(DISTINCT opened_at::date)
           FROM tickets GROUP BY 1"""
    ).fetchall()
    avg = dict(per_day)
    assert avg[False] > 1.5 * avg[True]


def test_business_hours_peak(con: Any) -> None:
    day = scalar(con, "SELECT count(*) FROM tickets WHERE hour(opened_at) BETWEEN 9 AND 17")
    night = scalar(con, "SELECT count(*) FROM tickets WHERE hour(opened_at) < 6")
    assert day > 5 * night


def test_sla_breach_rates(con: Any) -> None:
    rate = scalar(con, "SELECT avg(sla_breached::INT) FROM tickets")
    assert 0.05 <= rate <= 0.40
    by_priority = dict(
        con.execute("SELECT priority, avg(sla_breached::INT) FROM tickets GROUP BY 1").fetchall()
    )
    assert set(by_priority) == {"low", "normal", "high", "urgent"}
    assert by_priority["urgent"] > by_priority["low"] + 0.05
    by_team = [
        r[0] for r in con.execute("SELECT avg(sla_breached::INT) FROM tickets GROUP BY team_id").fetchall()
    ]
    assert max(by_team) - min(by_team) > 0.05
    inconsistent = scalar(
        con,
        """SELECT count(*) FROM tickets WHERE status = 'closed'
           AND sla_breached <> (resolution_hours > sla_target_hours)""",
    )
    assert inconsistent == 0


def test_ticket_lifecycle(con: Any) -> None:
    assert (
        scalar(
            con,
            """SELECT count(*) FROM tickets WHERE closed_at < opened_at OR first_response_at < opened_at
               OR first_response_at > closed_at
               OR (status = 'closed') <> (closed_at IS NOT NULL)
               OR (closed_at IS NULL) <> (resolution_hours IS NULL)
               OR (first_response_at IS NULL) <> (first_response_minutes IS NULL)
               OR status NOT IN ('open', 'in_progress', 'closed')
               OR abs(epoch(closed_at - opened_at) / 3600 - resolution_hours) > 1e-6""",
        )
        == 0
    )
    reopened = scalar(con, "SELECT avg(reopened::INT) FROM tickets")
    assert 0.02 <= reopened <= 0.09
    assert {r[0] for r in con.execute("SELECT DISTINCT channel FROM tickets").fetchall()} == {
        "email",
        "phone",
        "chat",
        "whatsapp",
        "portal",
    }


def test_csat(con: Any) -> None:
    assert scalar(con, "SELECT count(*) FROM conversations WHERE csat_score NOT BETWEEN 1 AND 5") == 0
    coverage = scalar(con, "SELECT count(csat_score) / count(*) FROM conversations")
    assert 0.5 <= coverage <= 0.7
    # unresolved conversations score worse
    res, unres = (
        scalar(con, f"SELECT avg(csat_score) FROM conversations WHERE resolved = {flag}")
        for flag in ("true", "false")
    )
    assert res > unres + 0.5
    assert (
        scalar(con, "SELECT count(*) FROM conversations WHERE ended_at IS NULL AND csat_score IS NOT NULL")
        == 0
    )


def test_maintenance_costs(con: Any) -> None:
    assert (
        scalar(
            con,
            "SELECT count(*) FROM maintenance_orders WHERE abs(total_cost - labor_cost - parts_cost) > 1e-9",
        )
        == 0
    )
    assert scalar(con, "SELECT min(labor_cost) >= 0 AND min(parts_cost) >= 0 FROM maintenance_orders")
    kinds = dict(con.execute("SELECT kind, avg(total_cost) FROM maintenance_orders GROUP BY 1").fetchall())
    assert set(kinds) == {"preventive", "corrective"}
    assert kinds["corrective"] > kinds["preventive"]
    assert (
        scalar(
            con,
            """SELECT count(*) FROM maintenance_orders WHERE completed_at < opened_at
               OR (status = 'completed') <> (completed_at IS NOT NULL)""",
        )
        == 0
    )


def test_expenses(con: Any) -> None:
    assert scalar(con, "SELECT min(amount) > 0 AND min(budget) > 0 FROM expenses")
    over = scalar(con, "SELECT avg((amount > budget)::INT) FROM expenses")
    assert 0.15 < over < 0.6
    assert scalar(con, "SELECT count(DISTINCT category) FROM expenses") >= 8


def test_revenue(con: Any) -> None:
    assert scalar(con, "SELECT count(*) FROM revenue WHERE day(month) <> 1") == 0
    assert scalar(con, "SELECT count(*) - count(DISTINCT (contract_id, month)) FROM revenue") == 0
    outside = scalar(
        con,
        """SELECT count(*) FROM revenue r JOIN contracts c USING (contract_id)
           WHERE r.active AND (r.month < date_trunc('month', c.start_date) OR r.month > c.end_date)""",
    )
    assert outside == 0
    # mrr moves only by new + expansion - churn
    drift = scalar(
        con,
        """SELECT max(abs(mrr - prev - new_mrr - expansion_mrr + churned_mrr)) FROM (
             SELECT *, lag(mrr) OVER (PARTITION BY contract_id ORDER BY month) prev FROM revenue) WHERE prev IS NOT NULL""",
    )
    assert drift < 0.01
    assert scalar(
        con, "SELECT sum(new_mrr) > 0 AND sum(expansion_mrr) > 0 AND sum(churned_mrr) > 0 FROM revenue"
    )
    assert scalar(con, "SELECT count(*) FROM revenue WHERE NOT active AND mrr <> 0") == 0
