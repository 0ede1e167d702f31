"""Pure rules of connected and REST sources: type mapping, page plans, record typing, watermark
and merge, data-quality rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import types

from portal.errors import InvalidSpec
from portal.ingest import quality, rest
from portal.ingest.introspect import catalog_type, check_server_url, find_table
from portal.ingest.sync import max_watermark, merge_rows, newer_than


@pytest.mark.parametrize(
    ("sql_type", "expected"),
    [
        (types.Integer(), "int"),
        (types.BigInteger(), "int"),
        (types.Numeric(10, 0), "int"),
        (types.Numeric(10, 2), "float"),
        (types.Float(), "float"),
        (types.String(20), "string"),
        (types.Text(), "string"),
        (types.Enum("a", "b"), "string"),
        (types.Boolean(), "bool"),
        (types.DateTime(), "datetime"),
        (types.Date(), "date"),
        (types.LargeBinary(), None),
        (types.JSON(), None),
    ],
)
def test_catalog_types_of_sql_types(sql_type: Any, expected: str | None) -> None:
    assert catalog_type(sql_type) == expected


def test_local_file_databases_are_refused() -> None:
    for url in ("sqlite:////etc/passwd", "duckdb:///var/x.duckdb"):
        with pytest.raises(InvalidSpec) as e:
            check_server_url(url)
        assert e.value.field == "config.url"
    check_server_url("postgresql+psycopg://db.example.com/erp")
    with pytest.raises(InvalidSpec):
        check_server_url("not a url")


def test_find_table_by_qualified_or_default_schema_name() -> None:
    structure = {
        "tables": [
            {"qualified": "public.orders", "table": "orders", "default_schema": True},
            {"qualified": "erp.orders", "table": "orders", "default_schema": False},
        ]
    }
    assert find_table(structure, "orders")["qualified"] == "public.orders"  # type: ignore[index]
    assert find_table(structure, "erp.orders")["qualified"] == "erp.orders"  # type: ignore[index]
    assert find_table(structure, "erp.nope") is None


# --------------------------------------------------------------------------- pages
def test_page_plans() -> None:
    page = rest.Pagination(kind="page", page_param="p", size_param="n", size=50)
    assert rest.page_params(page, 0, None) == {"p": "1", "n": "50"}
    assert rest.page_params(page, 2, None) == {"p": "3", "n": "50"}
    zero = rest.Pagination(kind="page", first_page=0, size=10)
    assert rest.page_params(zero, 0, None) == {"page": "0", "per_page": "10"}
    off = rest.Pagination(kind="offset", size=25)
    assert rest.page_params(off, 0, None) == {"offset": "0", "limit": "25"}
    assert rest.page_params(off, 3, None) == {"offset": "75", "limit": "25"}
    cur = rest.Pagination(kind="cursor", cursor_path="$.meta.next", cursor_param="after")
    assert rest.page_params(cur, 0, None) == {}
    assert rest.page_params(cur, 1, "abc") == {"after": "abc"}
    assert rest.next_cursor(cur, {"meta": {"next": "xyz"}}) == "xyz"
    assert rest.next_cursor(cur, {"meta": {"next": None}}) is None
    assert rest.next_cursor(cur, {"meta": {}}) is None
    # A short page ends page/offset paging; an empty one ends all; cursor paging ends without a cursor.
    assert rest.has_more(page, 50, None) and not rest.has_more(page, 49, None)
    assert not rest.has_more(off, 0, None)
    assert rest.has_more(cur, 3, "c") and not rest.has_more(cur, 3, None)
    assert not rest.has_more(rest.Pagination(), 100, None)


def test_records_path() -> None:
    body = {"data": {"items": [{"id": 1}, {"id": 2}]}}
    assert rest.extract_records(body, "$.data.items") == [{"id": 1}, {"id": 2}]
    assert rest.extract_records([{"id": 1}], "$") == [{"id": 1}]
    assert rest.extract_records(body, "$.data.items[*].id") == [1, 2]
    assert rest.extract_records(body, "$.nothing") == []


# --------------------------------------------------------------------------- typing
@pytest.mark.parametrize(
    ("value", "typ", "expected"),
    [
        ("12", "int", 12),
        (12.0, "int", 12),
        ("1.5", "float", 1.5),
        (3, "float", 3.0),
        ("yes", "bool", True),
        (0, "bool", False),
        ("2026-01-02T03:04:05Z", "datetime", datetime(2026, 1, 2, 3, 4, 5)),
        ("2026-01-02T03:04:05+02:00", "datetime", datetime(2026, 1, 2, 1, 4, 5)),
        (0, "datetime", datetime(1970, 1, 1)),
        ("2026-01-02T10:00:00", "date", date(2026, 1, 2)),
        (7, "string", "7"),
        (None, "int", None),
    ],
)
def test_coerce(value: Any, typ: str, expected: Any) -> None:
    assert rest.coerce(value, typ) == expected


@pytest.mark.parametrize(
    ("value", "typ"),
    [
        ("x", "int"),
        (1.5, "int"),
        (True, "int"),
        ("nan", "float"),
        ("maybe", "bool"),
        ("soon", "datetime"),
        ({}, "string"),
    ],
)
def test_coerce_refuses(value: Any, typ: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        rest.coerce(value, typ)


def test_map_records_rejects_with_examples() -> None:
    fields = [
        rest.FieldMap(path="id", name="id", type="int"),
        rest.FieldMap(path="who.name", name="who", type="string"),
        rest.FieldMap(path="n", name="n", type="float"),
    ]
    records = [
        {"id": 1, "who": {"name": "a"}, "n": 1},
        {"id": 2, "who": {"name": "b"}, "n": "many"},
        {"who": {"name": "c"}, "n": 3},
        "not an object",
    ]
    got = rest.map_records(records, fields, ["id"], first_row=10)
    assert got.rows == [{"id": 1, "who": "a", "n": 1.0}]
    assert got.rejected == 3
    assert [(e["row"], e["column"]) for e in got.examples] == [(11, "n"), (12, "id"), (13, "id")]


def base_config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "url": "https://api.example.com/items",
        "fields": [
            {"path": "id", "name": "id", "type": "int"},
            {"path": "ts", "name": "ts", "type": "datetime"},
        ],
        "target": "items",
    }
    return {**cfg, **over}


def test_rest_config_checks_name_the_field() -> None:
    assert rest.parse_rest_config(base_config()).pagination.kind == "none"
    cases = {
        "config.fields[0].path": base_config(fields=[{"path": "a[", "name": "a"}]),
        "config.records_path": base_config(records_path="$..["),
        "config.headers": base_config(headers={"Host": "evil"}),
        "config.schedule": base_config(schedule="every day"),
        "config.nope": base_config(nope=1),
    }
    for field, cfg in cases.items():
        with pytest.raises(InvalidSpec) as e:
            rest.parse_rest_config(cfg)
        assert e.value.field == field, (field, e.value.field, e.value.message)
    for bad in (
        base_config(key_columns=["zz"]),
        base_config(watermark_column="zz"),
        base_config(headers={"Authorization": "x"}),  # the secret one goes in credentials
        base_config(fields=[{"path": "a", "name": "a"}, {"path": "b", "name": "a"}]),
    ):
        with pytest.raises(InvalidSpec) as e:
            rest.parse_rest_config(bad)
        assert e.value.field is not None and e.value.field.startswith("config")


# --------------------------------------------------------------------------- watermark and merge
def test_watermark_filter_and_max() -> None:
    rows = [
        {"id": 1, "ts": datetime(2026, 1, 1)},
        {"id": 2, "ts": datetime(2026, 1, 3)},
        {"id": 3, "ts": None},
    ]
    assert [r["id"] for r in newer_than(rows, "ts", "datetime", "2026-01-02T00:00:00")] == [2, 3]
    assert len(newer_than(rows, "ts", "datetime", None)) == 3
    assert max_watermark(rows, "ts", None, "datetime") == "2026-01-03T00:00:00"
    assert max_watermark(rows, "ts", "2026-02-01T00:00:00", "datetime") == "2026-02-01T00:00:00"
    assert max_watermark([], "ts", None, "datetime") is None
    assert max_watermark([{"n": 5}, {"n": 12}], "n", "9", "int") == "12"  # numbers compare as numbers


def test_merge_upserts_by_key_and_is_idempotent() -> None:
    old = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    new = [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}, {"id": 3, "v": "c2"}]
    m = merge_rows(old, new, ["id"])
    assert (m.inserted, m.updated) == (1, 1)
    assert sorted((r["id"], r["v"]) for r in m.rows) == [(1, "a"), (2, "B"), (3, "c2")]
    again = merge_rows(m.rows, new[:1] + new[2:], ["id"])
    assert (again.inserted, again.updated) == (0, 0) and again.rows == m.rows
    assert merge_rows(old, new, []).inserted == 3  # without keys rows append


# --------------------------------------------------------------------------- quality rules
def test_quality_rules() -> None:
    assert quality.rule_null_rate(0, 10, 0.0, "c").ok
    r = quality.rule_null_rate(2, 10, 0.1, "c")
    assert not r.ok and r.value == pytest.approx(0.2) and "20.0%" in r.message
    assert quality.rule_null_rate(0, 0, 0.0, "c").ok  # an empty table has no empty values
    assert quality.rule_duplicate_keys(1, ["id"]).ok
    d = quality.rule_duplicate_keys(3, ["a", "b"])
    assert not d.ok and d.value == 2 and "(a, b)" in d.message
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert quality.rule_freshness(now - timedelta(hours=2), now, 3, "t").ok
    assert not quality.rule_freshness(datetime(2026, 1, 1), now, 24, "t").ok  # naive = UTC: 36 h
    assert not quality.rule_freshness(None, now, 24, "t").ok
    assert quality.rule_row_count_change(None, 10, 5).ok
    assert quality.rule_row_count_change(100, 104, 5).ok
    c = quality.rule_row_count_change(100, 80, 10)
    assert not c.ok and "-20.0%" in c.message
    assert not quality.rule_row_count_change(0, 5, 50).ok and quality.rule_row_count_change(0, 0, 0).ok


def test_check_specs() -> None:
    with pytest.raises(InvalidSpec):
        quality.parse_spec(quality.ChecksIn, {"checks": [{"kind": "null_rate"}]})  # needs a column
    with pytest.raises(InvalidSpec):
        quality.parse_spec(
            quality.ChecksIn, {"checks": [{"kind": "null_rate", "column": "a", "threshold": 2}]}
        )
    with pytest.raises(InvalidSpec):
        quality.parse_spec(quality.ChecksIn, {"checks": [{"kind": "vibes"}]})
    ok = quality.parse_spec(quality.ChecksIn, {"checks": [{"kind": "freshness", "threshold": 24}]})
    assert ok.checks[0].kind == "freshness"
