"""Tables of a connected database exposed in the tenant's catalog (queried live there).

An admin picks introspected tables or views, names each catalog source, keeps some columns
(with their types overridden and labels set) and maps the scope columns; every source is
registered with origin ``sql``, the data source's id and ``table_name = "schema.table"``.
The tenant owns them (``Source.tenant_key``); row scope applies like on the demo tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from portal.data.catalog import Column
from portal.data.datasources import DataSourceIn, create_data_source, get_data_source
from portal.data.tenant_sources import check_name, columns_from_json
from portal.errors import InvalidSpec, PermissionDenied
from portal.identity import audit
from portal.identity.principal import Principal
from portal.infra.crypto import encrypt_json
from portal.ingest.introspect import check_server_url, find_table
from portal.models import CatalogSource, DataSource
from portal.specs import parse_spec


class ColumnPick(BaseModel):
    """A column of the table to keep: its type may be overridden, its label set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=63)
    type: Literal["int", "float", "string", "bool", "datetime", "date"] | None = None
    label: str | None = Field(default=None, max_length=200)


class TablePick(BaseModel):
    """One table or view to expose as catalog source ``name``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=63)
    label: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=1000)
    #: Empty: every column the catalog can query.
    columns: list[ColumnPick] = Field(default_factory=list, max_length=1000)
    #: ``{"location": "site_id", "customer": "client_id", "contract": "contract_no"}``.
    scope: dict[Literal["location", "customer", "contract"], str] = Field(default_factory=dict)
    time_column: str | None = Field(default=None, max_length=63)


class ExposeRequest(BaseModel):
    """``POST /api/sources/{id}/expose``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: list[TablePick] = Field(min_length=1, max_length=100)


def pick_columns(found: Mapping[str, Any], picks: Sequence[ColumnPick], *, field: str) -> tuple[Column, ...]:
    """The catalog columns of an introspected table for the admin's picks (all when none)."""
    available = {c["name"]: c for c in found["columns"]}
    if not picks:
        items: list[dict[str, Any]] = [{"name": c["name"], "type": c["type"]} for c in found["columns"]]
    else:
        items = []
        for i, p in enumerate(picks):
            if p.name not in available:
                skipped = p.name in found.get("skipped", [])
                why = "has a type the catalog cannot query" if skipped else "is not a column of the table"
                raise InvalidSpec(
                    f"{field}.columns[{i}].name: {p.name!r} {why}", field=f"{field}.columns[{i}].name"
                )
            item: dict[str, Any] = {"name": p.name, "type": p.type or available[p.name]["type"]}
            if p.label:
                item["label"] = p.label
            items.append(item)
    return columns_from_json(items, field=f"{field}.columns")


def expose_tables(
    session: Session,
    principal: Principal,
    data_source_id: int,
    tables: Sequence[Mapping[str, Any]] | ExposeRequest,
    structure: Mapping[str, Any],
) -> list[CatalogSource]:
    """Register the picked tables of sql data source ``data_source_id`` as catalog sources.

    ``structure`` is the database's introspection (:func:`portal.ingest.introspect.introspect`);
    every table and column named must be in it. Admins only; call
    :func:`portal.data.tenant_sources.catalog_changed` after commit.
    """
    from portal.data.tenant_sources import register_source

    ds = get_data_source(session, principal, data_source_id)  # admins of the tenant only
    if ds.kind != "sql":
        raise InvalidSpec(f"kind: only sql sources have tables to expose, not {ds.kind}", field="kind")
    req = tables if isinstance(tables, ExposeRequest) else parse_spec(ExposeRequest, {"tables": list(tables)})
    names = [t.name for t in req.tables]
    out: list[CatalogSource] = []
    for i, pick in enumerate(req.tables):
        field = f"tables[{i}]"
        check_name(pick.name, field=f"{field}.name")
        if names.count(pick.name) > 1:
            raise InvalidSpec(f"{field}.name: {pick.name!r} appears twice", field=f"{field}.name")
        found = find_table(structure, pick.table)
        if found is None:
            raise InvalidSpec(
                f"{field}.table: no table or view {pick.table!r} in {ds.name} (refresh the table list?)",
                field=f"{field}.table",
            )
        if "." in found["table"] or "." in found["schema"]:
            # "a.b.c" could not be split back into schema and table unambiguously.
            raise InvalidSpec(f"{field}.table: names with a dot are not supported", field=f"{field}.table")
        columns = pick_columns(found, pick.columns, field=field)
        key_cols = [k for k in found.get("primary_key", []) if k in {c.name for c in columns}]
        try:
            row = register_source(
                session,
                principal.tenant_id,
                name=pick.name,
                origin="sql",
                columns=columns,
                label=pick.label,
                description=pick.description,
                scope={str(k): v for k, v in pick.scope.items()},
                time_column=pick.time_column or None,
                key_columns=key_cols,
                table_name=found["qualified"],
                data_source_id=ds.id,
                created_by=principal.user_id,
            )
        except InvalidSpec as exc:
            # Name the table in the field: the admin sent several.
            sub = exc.field or "name"
            raise InvalidSpec(f"{field}.{exc.message}", field=f"{field}.{sub}") from None
        out.append(row)
    audit.record(session, principal, "edit", ds, details={"exposed": names})
    return out


# --------------------------------------------------------------------------- data sources (admin)
class SourcePatch(BaseModel):
    """``PATCH /api/sources/{id}``: what may change (credentials are replaced whole)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    credentials: dict[str, str] | None = None


def source_to_dict(ds: DataSource, catalog: Sequence[CatalogSource] = ()) -> dict[str, Any]:
    """A data source as the API shows it: never the credentials (only which ones are set)."""
    creds_set = bool(ds.credentials_encrypted)
    history = list(ds.sync_history_json or [])
    return {
        "id": ds.id,
        "name": ds.name,
        "kind": ds.kind,
        "config": dict(ds.config_json or {}),
        "credentials_set": creds_set,
        "last_tested_at": ds.last_tested_at,
        "last_test_ok": ds.last_test_ok,
        "last_test_message": ds.last_test_message,
        "last_event": history[-1] if history else None,
        "catalog_sources": [c.name for c in catalog],
        "created_at": ds.created_at,
    }


def check_config(
    kind: str, config: Mapping[str, Any], *, allow_private: bool = False, allowed_hosts: Sequence[str] = ()
) -> None:
    """Reject a configuration its kind cannot use: a rest source's is parsed in full and its URL
    goes through the SSRF guard now (and again on every request)."""
    if kind == "rest":
        from portal.ingest.rest import parse_rest_config
        from portal.notify.netguard import check_url

        cfg = parse_rest_config(config)
        check_url(
            cfg.url,
            allow_private=allow_private,
            allowed_hosts=allowed_hosts,
            field="config.url",
            purpose="REST sources",
            setting="WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWED_HOSTS",
        )
    if kind == "sql":
        from croniter import croniter

        from portal.ingest.materialize import materialize_specs

        materialize_specs(config)
        cron = config.get("schedule")
        if cron is not None and (not isinstance(cron, str) or not croniter.is_valid(cron)):
            raise InvalidSpec(f"config.schedule: {cron!r} is not a cron expression", field="config.schedule")


def create_source(
    session: Session,
    principal: Principal,
    data: Mapping[str, Any],
    secret_key: str,
    *,
    allow_private: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> DataSource:
    """Register a sql or rest data source (admins); its credentials are encrypted."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in ("sql", "rest"):
        raise InvalidSpec("kind: one of sql, rest (files are imported, not connected)", field="kind")
    config = data.get("config")
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins manage data sources")
    cfg = config if isinstance(config, Mapping) else {}
    if kind == "sql":
        check_server_url(cfg.get("url"))
    check_config(str(kind), cfg, allow_private=allow_private, allowed_hosts=allowed_hosts)
    return create_data_source(session, principal, dict(data), secret_key)


def update_source(
    session: Session,
    principal: Principal,
    source_id: int,
    data: Any,
    secret_key: str,
    *,
    allow_private: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> DataSource:
    """Change a data source's name, configuration or credentials (admins)."""
    ds = get_data_source(session, principal, source_id)
    patch = parse_spec(SourcePatch, data)
    if patch.name is not None and patch.name != ds.name:
        if session.scalar(
            select(DataSource.id).where(DataSource.tenant_id == ds.tenant_id, DataSource.name == patch.name)
        ):
            raise InvalidSpec(f"name: a data source called {patch.name!r} exists", field="name")
        ds.name = patch.name
    if patch.config is not None:
        if ds.kind == "sql":
            # Same checks as on creation (a URL, no password in it).
            create_check = DataSourceIn(name=ds.name, kind="sql", config=patch.config)
            _check_sql_url(create_check.config)
            check_server_url(create_check.config.get("url"))
        check_config(ds.kind, patch.config, allow_private=allow_private, allowed_hosts=allowed_hosts)
        ds.config_json = dict(patch.config)
    if patch.credentials is not None:
        ds.credentials_encrypted = encrypt_json(secret_key, patch.credentials) if patch.credentials else None
    session.flush()
    audit.record(session, principal, "edit", ds, details={"fields": sorted(patch.model_fields_set)})
    return ds


def _check_sql_url(config: Mapping[str, Any]) -> None:
    url = config.get("url")
    if not isinstance(url, str):
        raise InvalidSpec("config.url: a SQLAlchemy URL is required for sql sources", field="config.url")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidSpec("config.url: not a SQLAlchemy URL", field="config.url") from None
    if parsed.password:
        raise InvalidSpec(
            "config.url: put the password in credentials.password, not in the URL", field="config.url"
        )


def delete_source(session: Session, principal: Principal, source_id: int) -> tuple[DataSource, list[str]]:
    """Delete a data source and the catalog sources it feeds (admins); their names."""
    ds = get_data_source(session, principal, source_id)
    names = [
        c.name for c in session.scalars(select(CatalogSource).where(CatalogSource.data_source_id == ds.id))
    ]
    session.execute(sa_delete(CatalogSource).where(CatalogSource.data_source_id == ds.id))
    audit.record(session, principal, "delete", ds, details={"name": ds.name, "catalog_sources": names})
    session.delete(ds)
    session.flush()
    return ds, names


def list_sources(session: Session, principal: Principal) -> list[tuple[DataSource, list[CatalogSource]]]:
    """The tenant's data sources with the catalog sources each feeds (admins)."""
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins manage data sources")
    sources = list(
        session.scalars(
            select(DataSource).where(DataSource.tenant_id == principal.tenant_id).order_by(DataSource.id)
        )
    )
    cats = list(session.scalars(select(CatalogSource).where(CatalogSource.tenant_id == principal.tenant_id)))
    return [(ds, [c for c in cats if c.data_source_id == ds.id]) for ds in sources]
