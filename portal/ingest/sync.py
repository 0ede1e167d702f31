"""Incremental syncs of REST sources into the warehouse, as catalog sources of origin ``rest``.

A sync fetches only what is newer than the last watermark, types the records (rejects are
counted, with a few examples), merges them by key into what is loaded (upsert: running it twice
changes nothing), and when something changed writes a NEW version: a Parquet file under
``settings.home/warehouse/t<tenant>/<name>/`` (embedded DuckDB warehouse) or a staging table
renamed over the old one (PostgreSQL warehouse). The catalog row then points at the new version
in the same transaction that records the sync, so a crash leaves the old version in place.
After commit: cached results of the source are dropped, every process reloads the tenant's
catalog and the source's quality checks run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Settings
from portal.data.catalog import Column
from portal.data.datasources import get_data_source
from portal.data.tenant_sources import catalog_changed, columns_from_json, register_source
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec
from portal.identity.principal import principal_for_user_id
from portal.infra.crypto import decrypt_json
from portal.infra.db import transaction
from portal.ingest import rest
from portal.ingest.locks import source_lock
from portal.ingest.materialize import fetch_rows, materialize_specs, spec_columns
from portal.ingest.sync_history import add_history, last_watermark, sync_to_dict
from portal.ingest.sync_store import load_rows, prune_versions, read_rows
from portal.models import CatalogSource, DataSource, SourceSync, Tenant

log = logging.getLogger(__name__)


class IngestContext(Protocol):
    """What a sync needs of the application context (``portal.context.AppContext`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def redis(self) -> Redis: ...

    @property
    def warehouse(self) -> Warehouse: ...


# --------------------------------------------------------------------------- pure: watermark and merge
def watermark_text(value: Any) -> str:
    """How a watermark value is stored and sent (ISO for dates and times)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def newer_than(
    rows: Sequence[dict[str, Any]], column: str, typ: str, since: str | None
) -> list[dict[str, Any]]:
    """The rows whose watermark is above ``since`` (all when there is none yet).

    Rows without a watermark are kept: they cannot be placed, and the key merge deduplicates.
    """
    if since is None:
        return list(rows)
    floor = rest.coerce(since, typ)
    return [r for r in rows if r.get(column) is None or r[column] > floor]


def max_watermark(rows: Sequence[dict[str, Any]], column: str, previous: str | None, typ: str) -> str | None:
    """The highest watermark after loading ``rows`` (``previous`` when none is higher)."""
    values = [r[column] for r in rows if r.get(column) is not None]
    if previous is not None:
        values.append(rest.coerce(previous, typ))
    return watermark_text(max(values)) if values else None


@dataclass
class Merged:
    """Rows after a merge, and how many were new or changed."""

    rows: list[dict[str, Any]]
    inserted: int
    updated: int


def merge_rows(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], keys: Sequence[str]) -> Merged:
    """Upsert ``new`` into ``old`` by ``keys`` (a later duplicate in ``new`` wins); identical rows
    count as nothing. Without keys every new row is appended."""
    if not keys:
        return Merged([*old, *new], len(new), 0)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {tuple(r.get(k) for k in keys): r for r in old}
    inserted = updated = 0
    seen_new: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in new:
        seen_new[tuple(r.get(k) for k in keys)] = r
    for key, r in seen_new.items():
        before = merged.get(key)
        if before is None:
            inserted += 1
        elif before != r:
            updated += 1
        else:
            continue
        merged[key] = r
    return Merged(list(merged.values()), inserted, updated)


# --------------------------------------------------------------------------- the sync
@dataclass
class SyncOutcome:
    """What :func:`run_sync` did."""

    sync_id: int
    target: str
    tenant_key: str
    changed: bool
    counts: dict[str, Any]


@dataclass
class Plan:
    """What one target of a sync loads: where, with which columns, keys and watermark."""

    target: str
    origin: str
    columns: tuple[Column, ...]
    label: str = ""
    key_columns: tuple[str, ...] = ()
    watermark_column: str | None = None
    scope: dict[str, str] = field(default_factory=dict)
    time_column: str | None = None


def sync_targets(ds: DataSource) -> list[str]:
    """The catalog sources a sync of ``ds`` loads."""
    if ds.kind == "rest":
        return [str((ds.config_json or {}).get("target") or "")[:63]]
    if ds.kind == "sql":
        specs = materialize_specs(ds.config_json or {})
        if not specs:
            raise InvalidSpec(
                "config.materialize: this database's tables are queried live; list the tables to copy",
                field="config.materialize",
            )
        return [m.target for m in specs]
    raise InvalidSpec(f"kind: {ds.kind} sources are imported, not synced", field="kind")


def _fetch_rest(
    ctx: IngestContext, session: Session, ds: DataSource, target: str
) -> tuple[Plan, rest.Typed, int, str | None]:
    cfg = rest.parse_rest_config(ds.config_json)
    creds = (
        decrypt_json(ctx.settings.secret_key, ds.credentials_encrypted) if ds.credentials_encrypted else {}
    )
    since = last_watermark(session, ds, cfg.target) if cfg.watermark_column else None
    typed = rest.Typed()
    read = 0
    for page in rest.fetch_pages(
        cfg,
        creds.get("auth_value"),
        since=since,
        allow_private=ctx.settings.webhook_allow_private,
        allowed_hosts=ctx.settings.webhook_allowed_hosts,
    ):
        got = rest.map_records(page, cfg.fields, cfg.key_columns, first_row=read + 1)
        read += len(page)
        if read > MAX_SYNC_ROWS:
            # A sync merges in memory: a source this large is imported as a file instead.
            raise InvalidSpec(
                f"config.max_pages: more than {MAX_SYNC_ROWS} records in one sync; use a watermark",
                field="config.max_pages",
            )
        typed.rows.extend(got.rows)
        typed.rejected += got.rejected
        typed.examples.extend(got.examples[: rest.MAX_REJECT_EXAMPLES - len(typed.examples)])
    columns = columns_from_json(
        [{"name": f.name, "type": f.type, **({"label": f.label} if f.label else {})} for f in cfg.fields],
        field="config.fields",
    )
    plan = Plan(
        cfg.target,
        "rest",
        columns,
        cfg.label,
        tuple(cfg.key_columns),
        cfg.watermark_column,
        {str(k): v for k, v in cfg.scope.items()},
        cfg.time_column,
    )
    return plan, typed, read, since


def _fetch_sql(
    ctx: IngestContext, session: Session, ds: DataSource, target: str
) -> tuple[Plan, rest.Typed, int, str | None]:
    from portal.data.datasources import sql_url
    from portal.ingest.introspect import find_table, introspect, probe_engine

    specs = materialize_specs(ds.config_json or {})
    i, spec = next((i, m) for i, m in enumerate(specs) if m.target == target)
    where = f"config.materialize[{i}]"
    found = find_table(introspect(ds, ctx.settings.secret_key, ctx.redis), spec.table)
    if found is None:
        raise InvalidSpec(
            f"{where}.table: no table or view {spec.table!r} in {ds.name}", field=f"{where}.table"
        )
    columns = spec_columns(found, spec, field=where)
    since = last_watermark(session, ds, target) if spec.watermark_column else None
    engine = probe_engine(sql_url(ds, ctx.settings.secret_key), COPY_TIMEOUT_SECONDS)
    try:
        typed, read = fetch_rows(engine, found, columns, spec, since)
    finally:
        engine.dispose()
    plan = Plan(
        target,
        "sql",
        columns,
        spec.label,
        tuple(spec.key_columns),
        spec.watermark_column,
        {str(k): v for k, v in spec.scope.items()},
        spec.time_column,
    )
    return plan, typed, read, since


#: Records one sync may read (rows are merged in memory).
MAX_SYNC_ROWS = 2_000_000
#: Statement timeout of one copy of a connected database's table.
COPY_TIMEOUT_SECONDS = 30 * 60


def _sync_target(
    ctx: IngestContext,
    session: Session,
    ds: DataSource,
    sync: SourceSync,
    user_id: int | None,
    sync_paths: dict[int, str],
) -> bool:
    """Fetch, type, merge and load one target; fills ``sync``'s counts. True when the data changed."""
    fetch = _fetch_rest if ds.kind == "rest" else _fetch_sql
    plan, typed, read, since = fetch(ctx, session, ds, sync.target)
    types = {c.name: c.type for c in plan.columns}
    new = typed.rows
    if plan.watermark_column:
        new = newer_than(new, plan.watermark_column, types[plan.watermark_column], since)
    current = session.scalar(
        select(CatalogSource).where(
            CatalogSource.tenant_id == ds.tenant_id, CatalogSource.name == plan.target
        )
    )
    if current is not None and (
        current.origin != plan.origin
        or current.data_source_id != ds.id
        or (not current.parquet_path and "." in current.table_name)
    ):
        raise InvalidSpec(
            f"target: a source called {plan.target!r} exists (from {current.origin})", field="target"
        )
    schema_changed = current is None or current.columns_json != [
        {"name": c.name, "type": c.type, "label": c.label, "format": c.format, "description": c.description}
        for c in plan.columns
    ]
    old = read_rows(ctx.settings, current, plan.columns) if current is not None else []
    merged = merge_rows(old, new, plan.key_columns)
    changed = bool(merged.inserted or merged.updated) or schema_changed
    sync.rows_read, sync.rows_rejected, sync.rejected_json = read, typed.rejected, typed.examples
    sync.rows_inserted, sync.rows_updated = merged.inserted, merged.updated
    sync.row_count = len(merged.rows)
    if plan.watermark_column:
        sync.watermark = max_watermark(new, plan.watermark_column, since, types[plan.watermark_column])
    if changed:
        version = (current.data_version if current is not None else 0) + 1
        where = load_rows(ctx.settings, ds.tenant_id, plan.target, plan.columns, merged.rows, version)
        register_source(
            session,
            ds.tenant_id,
            name=plan.target,
            origin=plan.origin,
            columns=plan.columns,
            label=plan.label,
            scope=plan.scope,
            time_column=plan.time_column,
            key_columns=plan.key_columns,
            table_name=where.table_name,
            parquet_path=where.parquet_path,
            data_source_id=ds.id,
            row_count=len(merged.rows),
            created_by=user_id,
        )
        sync_paths[sync.id] = where.parquet_path
    return changed


def run_sync(
    ctx: IngestContext,
    data_source_id: int,
    user_id: int,
    *,
    trigger: str = "manual",
    job_id: int | None = None,
    scheduled_for: datetime | None = None,
) -> list[SyncOutcome]:
    """Sync data source ``data_source_id`` acting as ``user_id`` (an admin of its tenant): a REST
    source's target, or each table a sql source copies (``config.materialize``).

    Per target the sync row is committed first (``running``), the load in a second transaction;
    a failure is recorded on the sync row (``failed`` with the error) and re-raised.
    """
    with transaction(ctx.sessions) as session:
        principal = principal_for_user_id(session, user_id, kind="job")
        ds = get_data_source(session, principal, data_source_id)  # admins of its tenant only
        targets = sync_targets(ds)
        tenant_key = session.get(Tenant, ds.tenant_id).slug  # type: ignore[union-attr]
        tenant_id = ds.tenant_id
    out = []
    for target in targets:
        out.append(
            _run_target(
                ctx, data_source_id, tenant_id, tenant_key, target, user_id, trigger, job_id, scheduled_for
            )
        )
    return out


def _run_target(
    ctx: IngestContext,
    data_source_id: int,
    tenant_id: int,
    tenant_key: str,
    target: str,
    user_id: int,
    trigger: str,
    job_id: int | None,
    scheduled_for: datetime | None,
) -> SyncOutcome:
    with transaction(ctx.sessions) as session:
        sync = SourceSync(
            tenant_id=tenant_id,
            data_source_id=data_source_id,
            target=target,
            trigger=trigger,
            job_id=job_id,
            scheduled_for=scheduled_for,
        )
        session.add(sync)
        session.flush()
        sync_id = sync.id
    paths: dict[int, str] = {}
    try:
        # One load of a source at a time (see portal.ingest.locks), taken before the transaction
        # so no database lock is held while waiting; old versions are pruned under it too.
        with source_lock(ctx.settings.home, tenant_id, target):
            with transaction(ctx.sessions) as session:
                ds = session.get(DataSource, data_source_id)
                sync = session.get(SourceSync, sync_id)  # type: ignore[assignment]
                if ds is None:
                    raise InvalidSpec(f"data source {data_source_id} was deleted", field="data_source_id")
                changed = _sync_target(ctx, session, ds, sync, user_id, paths)
                sync.status, sync.finished_at = "ok", datetime.now(UTC)
                counts = {
                    k: v for k, v in sync_to_dict(sync).items() if k.startswith("rows_") or k == "row_count"
                }
                entry = {"at": sync.finished_at.isoformat(), "event": "sync", "ok": True, "sync_id": sync_id}
                add_history(ds, {**entry, "target": target, **counts})
            if changed:
                prune_versions(ctx.settings, tenant_id, target, paths.get(sync_id, ""))
    except Exception as exc:
        message = str(getattr(exc, "message", None) or f"{type(exc).__name__}: {str(exc)[:300]}")
        with transaction(ctx.sessions) as session:
            failed = session.get(SourceSync, sync_id)
            ds_row = session.get(DataSource, data_source_id)
            if failed is not None:
                failed.status, failed.finished_at, failed.error = "failed", datetime.now(UTC), message[:2000]
            if ds_row is not None:
                at = datetime.now(UTC).isoformat()
                add_history(
                    ds_row,
                    {"at": at, "event": "sync", "ok": False, "sync_id": sync_id, "message": message[:300]},
                )
        raise
    if changed:
        ctx.warehouse.invalidate(target)
        catalog_changed(ctx.redis, tenant_key)
    _after_load(ctx, tenant_id, target)
    return SyncOutcome(sync_id, target, tenant_key, changed, counts)


def _after_load(ctx: IngestContext, tenant_id: int, target: str) -> None:
    """Run the source's quality checks (a failing check notifies; a broken one never undoes the sync)."""
    from portal.ingest.quality import run_checks

    try:
        with transaction(ctx.sessions) as session:
            run_checks(ctx, session, tenant_id, target)
    except Exception:
        log.exception("quality checks of %s (tenant %s) failed after its sync", target, tenant_id)
