"""Sources a tenant adds to its catalog: queryable at once by that tenant only, with row scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from portal.data.catalog import Column
from portal.data.tenant_sources import catalog_changed, register_source
from portal.errors import InvalidSpec, NotFound, PermissionDenied
from portal.infra.db import transaction
from tests.support.principals import as_principal

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

COUNT_BY_SITE = {"source": "site_visits", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["site"]}


def write_parquet(path: Path, rows: list[tuple[int, str, int]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (location_id INTEGER, site VARCHAR, visits INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return str(path)


@pytest.fixture(scope="module")
def users(module_demo: Any) -> dict[str, Any]:
    return {
        "admin": module_demo[("acme", "admin")],
        "restricted": module_demo[("acme", "restricted")],
        "other": next(u for (t, _), u in module_demo.items() if t != "acme"),
    }


def register(ctx: Any, user: Any, path: str, *, scope: dict[str, str] | None = None) -> None:
    with transaction(ctx.sessions) as s:
        register_source(
            s,
            user.tenant_id,
            name="site_visits",
            origin="import",
            columns=(Column("location_id", "int"), Column("site", "string"), Column("visits", "int")),
            scope=scope or {},
            parquet_path=path,
            created_by=user.id,
        )
    catalog_changed(ctx.redis, "acme")


def scope_of(ctx: Any, user: Any) -> Any:
    with ctx.sessions() as s:
        return as_principal(s, user).scope


def test_a_registered_parquet_source_is_queryable_at_once_by_its_tenant_only(
    module_ctx: Any, users: dict[str, Any], tmp_path: Path
) -> None:
    ctx = module_ctx
    admin = users["admin"]
    path = write_parquet(tmp_path / "v1.parquet", [(1, "north", 3), (2, "south", 4), (3, "east", 5)])
    register(ctx, admin, path)
    assert "site_visits" in ctx.warehouse.catalog_for("acme").names
    frame = ctx.warehouse.run(COUNT_BY_SITE, scope_of(ctx, admin)).frame
    assert dict(zip(frame["site"], frame["n"], strict=True)) == {"east": 1, "north": 1, "south": 1}

    other = users["other"]
    other_scope = scope_of(ctx, other)
    assert "site_visits" not in ctx.warehouse.catalog_for(other_scope.tenant_key).names
    with pytest.raises(InvalidSpec, match="source"):
        ctx.warehouse.run(COUNT_BY_SITE, other_scope)
    # Even handed the catalog that holds it, another tenant's scope is refused by the compiler.
    from portal.data.query import compile_query

    with pytest.raises(NotFound):
        compile_query(COUNT_BY_SITE, ctx.warehouse.catalog_for("acme"), other_scope)

    # A restricted user: no location column mapped, so the source is refused (fails closed) ...
    restricted = scope_of(ctx, users["restricted"])
    assert restricted.location_ids is not None
    with pytest.raises(PermissionDenied, match="location"):
        ctx.warehouse.run(COUNT_BY_SITE, restricted)
    # ... and with the mapping, only the user's locations are seen; a new load is seen at once.
    path2 = write_parquet(
        tmp_path / "v2.parquet", [(1, "north", 3), (2, "south", 4), (3, "east", 5), (1, "west", 1)]
    )
    register(ctx, admin, path2, scope={"location": "location_id"})
    frame = ctx.warehouse.run(COUNT_BY_SITE, restricted).frame
    assert restricted.location_ids == {1, 2}  # the demo's restricted user
    assert sorted(frame["site"]) == ["north", "south", "west"]
    assert len(ctx.warehouse.run(COUNT_BY_SITE, scope_of(ctx, admin)).frame) == 4


def test_source_names_and_columns_are_checked(module_ctx: Any, users: dict[str, Any]) -> None:
    admin = users["admin"]
    with transaction(module_ctx.sessions) as s:
        for bad, field in (("tickets", "name"), ("Bad Name", "name"), ("x;drop", "name")):
            with pytest.raises(InvalidSpec) as e:
                register_source(s, admin.tenant_id, name=bad, origin="import", columns=(Column("a", "int"),),
                                parquet_path="/tmp/x.parquet")  # fmt: skip
            assert e.value.field == field
        with pytest.raises(InvalidSpec) as e:
            register_source(s, admin.tenant_id, name="ok_name", origin="import", columns=(Column("a", "int"),),
                            scope={"location": "nope"}, parquet_path="/tmp/x.parquet")  # fmt: skip
        assert e.value.field == "scope.location"
