"""The sources a tenant adds to its catalog: imported tables, connected databases' tables,
synced REST sources, events snapshots.

They are rows of ``catalog_sources`` (:class:`portal.models.CatalogSource`) turned into
catalog :class:`Source` objects owned by their tenant (``Source.tenant_key``): no other
tenant can name them, and the scope columns an admin mapped restrict rows like the demo's.
Each process keeps the tenant's list in memory and reloads it when the tenant's catalog
version in Redis moves (:func:`catalog_changed`), so a new import is queryable at once from
every web process and worker.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast, get_args

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from portal.data.catalog import DEMO_CATALOG, Column, ColumnFormat, ColumnType, ScopeKind, Source, humanise
from portal.errors import InvalidSpec, NotFound
from portal.infra.db import make_engine
from portal.models import CatalogSource, Tenant

ORIGINS = ("import", "sql", "rest", "events")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TYPES = frozenset(get_args(ColumnType))
_FORMATS = frozenset(get_args(ColumnFormat))
_SCOPES = frozenset(get_args(ScopeKind)) - {"tenant"}
VERSION_KEY = "cbi:catalog:v:{tenant}"


def check_name(name: str, *, field: str = "name") -> str:
    """A source name queries can use: lower-case letters, digits and ``_``, not a demo source's."""
    if not NAME_RE.match(name or ""):
        raise InvalidSpec(
            f"{field}: {name!r} is not a valid source name (a lower-case letter, then letters, digits or _; "
            "at most 63)",
            field=field,
        )
    if name in DEMO_CATALOG.names:
        raise InvalidSpec(f"{field}: {name!r} is the name of a built-in source", field=field)
    return name


def columns_from_json(items: Iterable[Mapping[str, Any]], *, field: str = "columns") -> tuple[Column, ...]:
    """Catalog columns from ``[{"name", "type", "label"?, "format"?, "description"?}]``, checked."""
    out: list[Column] = []
    seen: set[str] = set()
    for i, c in enumerate(items):
        name, typ = str(c.get("name", "")), str(c.get("type", ""))
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", name):
            raise InvalidSpec(
                f"{field}[{i}].name: {name!r} is not a valid column name", field=f"{field}[{i}].name"
            )
        if name in seen:
            raise InvalidSpec(f"{field}[{i}].name: {name!r} appears twice", field=f"{field}[{i}].name")
        if typ not in _TYPES:
            raise InvalidSpec(
                f"{field}[{i}].type: {typ!r} is not one of {', '.join(sorted(_TYPES))}",
                field=f"{field}[{i}].type",
            )
        fmt = str(c.get("format") or "")
        if fmt not in _FORMATS:
            raise InvalidSpec(f"{field}[{i}].format: unknown format {fmt!r}", field=f"{field}[{i}].format")
        seen.add(name)
        out.append(
            Column(
                name,
                cast(ColumnType, typ),
                str(c.get("label") or humanise(name))[:200],
                str(c.get("description") or "")[:1000],
                cast(ColumnFormat, fmt),
            )
        )
    if not out:
        raise InvalidSpec(f"{field}: a source needs at least one column", field=field)
    return tuple(out)


def columns_to_json(columns: Sequence[Column]) -> list[dict[str, str]]:
    """The JSON form stored in ``catalog_sources.columns_json``."""
    return [
        {"name": c.name, "type": c.type, "label": c.label, "format": c.format, "description": c.description}
        for c in columns
    ]


def _check_scope(scope: Mapping[str, str], names: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, col in scope.items():
        if kind not in _SCOPES:
            raise InvalidSpec(
                f"scope.{kind}: the scope columns are {', '.join(sorted(_SCOPES))}", field=f"scope.{kind}"
            )
        if col:
            if col not in names:
                raise InvalidSpec(f"scope.{kind}: no column called {col!r}", field=f"scope.{kind}")
            out[kind] = col
    return out


def register_source(
    session: Session,
    tenant_id: int,
    *,
    name: str,
    origin: str,
    columns: Sequence[Column],
    label: str = "",
    description: str = "",
    scope: Mapping[str, str] | None = None,
    time_column: str | None = None,
    key_columns: Sequence[str] = (),
    table_name: str = "",
    parquet_path: str = "",
    data_source_id: int | None = None,
    row_count: int | None = None,
    created_by: int | None = None,
) -> CatalogSource:
    """Add or update (by tenant and name) a tenant's source; bumps its data version.

    Call :func:`catalog_changed` after the transaction commits so processes reload it.
    """
    check_name(name)
    if origin not in ORIGINS:
        raise InvalidSpec(f"origin: one of {', '.join(ORIGINS)}", field="origin")
    if not table_name and not parquet_path:
        raise InvalidSpec("table_name: a source reads a table or a Parquet file", field="table_name")
    names = {c.name for c in columns}
    scope_cols = _check_scope(scope or {}, names)
    if time_column and time_column not in names:
        raise InvalidSpec(f"time_column: no column called {time_column!r}", field="time_column")
    for k in key_columns:
        if k not in names:
            raise InvalidSpec(f"key_columns: no column called {k!r}", field="key_columns")
    row = session.scalar(
        select(CatalogSource).where(CatalogSource.tenant_id == tenant_id, CatalogSource.name == name)
    )
    if row is None:
        row = CatalogSource(
            tenant_id=tenant_id, name=name, origin=origin, created_by=created_by, data_version=0
        )
        session.add(row)
    elif row.origin != origin or row.data_source_id != data_source_id:
        raise InvalidSpec(f"name: a source called {name!r} exists (from {row.origin})", field="name")
    row.label = (label or humanise(name))[:200]
    row.description = description
    row.columns_json = columns_to_json(columns)
    row.scope_json = scope_cols
    row.time_column = time_column
    row.key_columns_json = list(key_columns)
    row.table_name = table_name
    row.parquet_path = parquet_path
    row.data_source_id = data_source_id
    row.row_count = row_count
    row.refreshed_at = datetime.now(UTC)
    row.data_version = (row.data_version or 0) + 1
    session.flush()
    return row


def get_source_row(session: Session, tenant_id: int, name: str) -> CatalogSource:
    """The tenant's source called ``name``; :class:`NotFound` otherwise."""
    row = session.scalar(
        select(CatalogSource).where(CatalogSource.tenant_id == tenant_id, CatalogSource.name == name)
    )
    if row is None:
        raise NotFound(f"source {name!r} not found", field="name")
    return row


def list_source_rows(session: Session, tenant_id: int) -> list[CatalogSource]:
    """The tenant's sources, by name."""
    return list(
        session.scalars(
            select(CatalogSource).where(CatalogSource.tenant_id == tenant_id).order_by(CatalogSource.name)
        )
    )


def to_source(row: CatalogSource, tenant_key: str) -> Source:
    """The catalog :class:`Source` of a ``catalog_sources`` row."""
    return Source(
        name=row.name,
        table=row.table_name,
        label=row.label,
        columns=columns_from_json(row.columns_json),
        scope=cast(dict[ScopeKind, str], dict(row.scope_json or {})),
        time_column=row.time_column,
        description=row.description,
        tenant_key=tenant_key,
        parquet=row.parquet_path,
        engine_key=f"ds:{row.data_source_id}" if _live(row) else "",
        version=row.data_version,
    )


def _live(row: CatalogSource) -> bool:
    """A connected database's table queried there ("schema.table"), not a copy in the warehouse
    (a Parquet file, or a ``t<tenant>_<name>`` table: ``portal.ingest.materialize``)."""
    return row.origin == "sql" and bool(row.data_source_id) and not row.parquet_path and "." in row.table_name


def catalog_changed(redis: Redis, tenant_key: str) -> None:
    """Tell every process the tenant's sources changed (they reload on their next query)."""
    # Without Redis, processes reload on their own clock (``TenantSources.max_age``).
    # A fresh random stamp, not a counter: after Redis was emptied a counter would start again
    # at a value processes already cached, and they would keep the old sources.
    with contextlib.suppress(RedisError):
        redis.set(VERSION_KEY.format(tenant=tenant_key), secrets.token_hex(8))


@dataclass
class TenantSources:
    """The per-process loader behind :attr:`portal.data.warehouse.Warehouse.tenant_sources`.

    Keeps each tenant's sources with the Redis version they were read at; reloads when the
    version moved or after :attr:`max_age` seconds (a missed signal costs at most that).
    """

    sessions: sessionmaker[Session]
    redis: Redis
    max_age: float = 30.0
    _cache: dict[str, tuple[bytes | None, float, tuple[Source, ...]]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @staticmethod
    def _load(session: Session, tenant_key: str) -> tuple[Source, ...]:
        rows = session.scalars(
            select(CatalogSource)
            .join(Tenant, Tenant.id == CatalogSource.tenant_id)
            .where(Tenant.slug == tenant_key)
            .order_by(CatalogSource.name)
        )
        return tuple(to_source(r, tenant_key) for r in rows)

    def __call__(self, tenant_key: str, session: Session | None = None) -> tuple[Source, ...]:
        try:
            version = cast(bytes | None, self.redis.get(VERSION_KEY.format(tenant=tenant_key)))
        except RedisError:
            version = b"?"
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tenant_key)
        if hit is not None and hit[0] == version and now - hit[1] < self.max_age:
            return hit[2]
        if session is not None:
            sources = self._load(session, tenant_key)
        else:
            with self.sessions() as s:
                sources = self._load(s, tenant_key)
        with self._lock:
            self._cache[tenant_key] = (version, now, sources)
        return sources


@dataclass
class ExternalEngines:
    """Engines of connected databases by ``Source.engine_key`` (``"ds:7"``), made on first use.

    ``url_of(data_source_id)`` gives the connection URL with decrypted credentials; it is asked
    again after :attr:`max_age` seconds (not on every query), and the engine is rebuilt when the
    URL changed (new credentials). Pools stay small: these are other people's servers.
    """

    url_of: Callable[[int], str]
    max_age: float = 30.0
    _engines: dict[int, tuple[str, Engine, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, key: str) -> Engine:
        if not key.startswith("ds:") or not key[3:].isdigit():
            raise NotFound(f"no engine {key!r}")
        ds_id, now = int(key[3:]), time.monotonic()
        with self._lock:
            hit = self._engines.get(ds_id)
        if hit is not None and now - hit[2] < self.max_age:
            return hit[1]
        url = self.url_of(ds_id)
        with self._lock:
            hit = self._engines.get(ds_id)
            if hit is not None and hit[0] == url:
                self._engines[ds_id] = (url, hit[1], now)
                return hit[1]
            engine = make_engine(url, pool_size=2, max_overflow=3, pool_pre_ping=True, pool_recycle=600)
            self._engines[ds_id] = (url, engine, now)
        if hit is not None:
            hit[1].dispose()
        return engine

    def forget(self, data_source_id: int) -> None:
        """Close the engine of a data source whose settings changed or that was deleted."""
        with self._lock:
            hit = self._engines.pop(data_source_id, None)
        if hit is not None:
            hit[1].dispose()

    def dispose(self) -> None:
        """Close every pool (process shutdown)."""
        with self._lock:
            engines = [e for _, e, _ in self._engines.values()]
            self._engines.clear()
        for engine in engines:
            engine.dispose()
