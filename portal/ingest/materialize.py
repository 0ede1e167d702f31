"""Tables of a connected database COPIED into the warehouse (``config.materialize`` of a sql
source) instead of queried live: what to copy, and the incremental read.

Each entry names an introspected table, the catalog source it becomes, its key columns (the
merge upserts by them) and optionally a watermark column: only rows above the last watermark
are read. The statement is built from introspected names (quoted by SQLAlchemy) with the
watermark as a bound parameter, under the source engine's statement timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, bindparam, column, select, table

from portal.data.catalog import Column
from portal.data.tenant_sources import check_name, columns_from_json
from portal.errors import InvalidSpec
from portal.ingest.rest import Typed, coerce
from portal.specs import parse_spec


class MaterializeSpec(BaseModel):
    """One table to copy: ``{"table": "erp.orders", "target": "orders_copy", "key_columns": ["id"],
    "watermark_column": "updated_at", "scope": {"location": "site"}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(min_length=1, max_length=300)
    target: str = Field(min_length=1, max_length=63)
    label: str = Field(default="", max_length=200)
    #: Empty: every column the catalog can query.
    columns: list[str] = Field(default_factory=list, max_length=1000)
    key_columns: list[str] = Field(default_factory=list, max_length=10)
    watermark_column: str | None = Field(default=None, max_length=63)
    scope: dict[Literal["location", "customer", "contract"], str] = Field(default_factory=dict)
    time_column: str | None = Field(default=None, max_length=63)
    max_rows: int = Field(default=2_000_000, ge=1, le=2_000_000)  # merged in memory: see MAX_SYNC_ROWS


class MaterializeList(BaseModel):
    """``config.materialize`` of a sql source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    materialize: list[MaterializeSpec] = Field(default_factory=list, max_length=50)


def materialize_specs(config: Mapping[str, Any]) -> list[MaterializeSpec]:
    """The checked ``config.materialize`` entries (names unique, valid catalog names)."""
    raw = (config or {}).get("materialize") or []
    try:
        specs = parse_spec(MaterializeList, {"materialize": raw}).materialize
    except InvalidSpec as exc:
        f = f"config.{exc.field}" if exc.field else "config.materialize"
        raise InvalidSpec(f"{f}: {exc.message.removeprefix(f'{exc.field}: ')}", field=f) from None
    targets = [s.target for s in specs]
    for i, s in enumerate(specs):
        check_name(s.target, field=f"config.materialize[{i}].target")
        if targets.count(s.target) > 1:
            raise InvalidSpec(
                f"config.materialize[{i}].target: {s.target!r} appears twice",
                field=f"config.materialize[{i}].target",
            )
    return specs


def spec_columns(found: Mapping[str, Any], spec: MaterializeSpec, *, field: str) -> tuple[Column, ...]:
    """The catalog columns copied (introspected types); every named column must exist."""
    available = {c["name"]: c for c in found["columns"]}
    names = spec.columns or list(available)
    for what, cols in (
        ("columns", spec.columns),
        ("key_columns", spec.key_columns),
        ("watermark_column", [spec.watermark_column] if spec.watermark_column else []),
    ):
        for c in cols:
            if c not in available:
                raise InvalidSpec(
                    f"{field}.{what}: no column {c!r} in {found['qualified']}", field=f"{field}.{what}"
                )
    needed = [*names, *(k for k in spec.key_columns if k not in names)]
    if spec.watermark_column and spec.watermark_column not in needed:
        needed.append(spec.watermark_column)
    return columns_from_json(
        [{"name": n, "type": available[n]["type"]} for n in needed], field=f"{field}.columns"
    )


def fetch_rows(
    engine: Engine,
    found: Mapping[str, Any],
    columns: Sequence[Column],
    spec: MaterializeSpec,
    since: str | None,
) -> tuple[Typed, int]:
    """Rows of the table above ``since`` (all without a watermark), typed; and how many were read."""
    tbl = table(found["table"], *[column(c.name) for c in columns], schema=found["schema"])
    stmt = select(*[tbl.c[c.name] for c in columns])
    types = {c.name: c.type for c in columns}
    if spec.watermark_column and since is not None:
        floor = coerce(since, types[spec.watermark_column])
        stmt = stmt.where(tbl.c[spec.watermark_column] > bindparam("since", floor))
    stmt = stmt.limit(spec.max_rows)
    out = Typed()
    read = 0
    with engine.connect() as conn:
        for n, r in enumerate(conn.execute(stmt), start=1):
            read += 1
            row: dict[str, Any] = {}
            for c in columns:
                try:
                    row[c.name] = coerce(r._mapping[c.name], c.type)
                except (ValueError, TypeError, OverflowError) as exc:
                    out.reject(n, c.name, f"{c.type}: {exc}")
                    break
            else:
                if any(row.get(k) is None for k in spec.key_columns):
                    out.reject(n, spec.key_columns[0], "key column is empty")
                else:
                    out.rows.append(row)
    return out, read
