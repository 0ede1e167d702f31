"""Introspection of a connected database: its schemas, tables, views, columns (as catalog types)
and primary keys, read with SQLAlchemy's ``inspect()`` under a timeout and cached in Redis.

The cache key holds a hash of the data source's configuration and encrypted credentials, so a
changed URL or password reads the database again; ``refresh=True`` bypasses the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, inspect, text, types
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from portal.data.datasources import sql_url
from portal.errors import BadRequest, InvalidSpec
from portal.models import DataSource

CACHE_KEY = "cbi:introspect:{ds}:{digest}"
CACHE_TTL_SECONDS = 3600
#: Stops a huge database from producing a huge answer (and a slow request).
MAX_TABLES = 500
#: Schemas of the database's own machinery, never offered.
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "sys", "mysql", "performance_schema"}
)


def catalog_type(sql_type: Any) -> str | None:
    """The catalog type (int/float/string/bool/datetime/date) of a SQLAlchemy column type, or None
    when the catalog cannot query it (binary, JSON, arrays...)."""
    if isinstance(sql_type, types.Boolean):
        return "bool"
    if isinstance(sql_type, types.DateTime):
        return "datetime"
    if isinstance(sql_type, types.Date):
        return "date"
    if isinstance(sql_type, types.Integer):
        return "int"
    if isinstance(sql_type, types.Float):  # REAL, DOUBLE PRECISION (not a Numeric in SQLAlchemy 2.1)
        return "float"
    if isinstance(sql_type, types.Numeric):  # NUMERIC(p, 0) holds whole numbers
        return "int" if getattr(sql_type, "scale", None) == 0 else "float"
    if isinstance(sql_type, types.String | types.Enum | types.Uuid):
        return "string"
    if isinstance(sql_type, types.Time | types.Interval):
        return "string"
    return None


def config_digest(ds: DataSource) -> str:
    """A hash of what the introspection depends on: the URL/config and the (encrypted) credentials."""
    h = hashlib.sha256(json.dumps(ds.config_json, sort_keys=True, default=str).encode())
    h.update(ds.credentials_encrypted or b"")
    return h.hexdigest()[:16]


def probe_engine(url: str, timeout_seconds: float) -> Engine:
    """A one-off engine (no pool) whose connect and statements stop after ``timeout_seconds``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidSpec("config.url: not a SQLAlchemy URL", field="config.url") from None
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        ms = int(timeout_seconds * 1000)
        connect_args = {
            "connect_timeout": max(1, int(timeout_seconds)),
            "options": f"-c statement_timeout={ms}",
        }
    try:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise InvalidSpec(f"config.url: no driver for this URL ({exc})", field="config.url") from None


def read_structure(engine: Engine) -> dict[str, Any]:
    """``{"tables": [{schema, table, kind, qualified, columns: [{name, type, sql_type, nullable}],
    primary_key, skipped}], "truncated"}`` of every non-system schema."""
    insp = inspect(engine)
    default = insp.default_schema_name
    schemas = [s for s in insp.get_schema_names() if s not in SYSTEM_SCHEMAS and not s.startswith("pg_temp")]
    out: list[dict[str, Any]] = []
    truncated = False
    for schema in sorted(schemas):
        names = [(t, "table") for t in insp.get_table_names(schema=schema)]
        names += [(v, "view") for v in insp.get_view_names(schema=schema)]
        for name, kind in sorted(names):
            if len(out) >= MAX_TABLES:
                truncated = True
                break
            cols: list[dict[str, Any]] = []
            skipped: list[str] = []
            for c in insp.get_columns(name, schema=schema):
                typ = catalog_type(c["type"])
                if typ is None:
                    skipped.append(str(c["name"]))
                    continue
                cols.append(
                    {
                        "name": str(c["name"]),
                        "type": typ,
                        "sql_type": str(c["type"]),
                        "nullable": bool(c.get("nullable", True)),
                    }
                )
            pk = (
                insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
                if kind == "table"
                else []
            )
            out.append(
                {
                    "schema": schema,
                    "table": name,
                    "kind": kind,
                    # What ``expose_tables`` takes: the default schema's tables by bare name too.
                    "qualified": f"{schema}.{name}",
                    "default_schema": schema == default,
                    "columns": cols,
                    "primary_key": list(pk),
                    "skipped": skipped,
                }
            )
    return {"tables": out, "truncated": truncated}


def introspect(
    ds: DataSource,
    secret_key: str,
    redis: Redis | None,
    *,
    refresh: bool = False,
    timeout_seconds: float = 15.0,
) -> dict[str, Any]:
    """The structure of sql data source ``ds`` (cached 1 h in Redis per configuration).

    A database that cannot be reached is a :class:`BadRequest` saying why (never a 500).
    """
    if ds.kind != "sql":
        raise InvalidSpec(f"kind: only sql sources have tables, not {ds.kind}", field="kind")
    key = CACHE_KEY.format(ds=ds.id, digest=config_digest(ds))
    if redis is not None and not refresh:
        with contextlib.suppress(RedisError, ValueError):
            hit = redis.get(key)
            if hit:
                cached: dict[str, Any] = json.loads(hit)
                return {**cached, "cached": True}
    engine = probe_engine(sql_url(ds, secret_key), timeout_seconds)
    try:
        found = read_structure(engine)
    except (SQLAlchemyError, ValueError, TypeError, OSError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise BadRequest(
            f"connection: cannot read the database's tables: {first}", field="connection"
        ) from None
    finally:
        engine.dispose()
    if redis is not None:
        with contextlib.suppress(RedisError):
            redis.set(key, json.dumps(found), ex=CACHE_TTL_SECONDS)
    return {**found, "cached": False}


def find_table(structure: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The introspected table called ``name`` (``schema.table``, or a bare name in the default schema)."""
    for t in structure.get("tables", []):
        if name == t["qualified"] or (t.get("default_schema") and name == t["table"]):
            return dict(t)
    return None


#: Dialects that read files on the portal's own disk: a connected database is a server.
LOCAL_DIALECTS = frozenset({"sqlite", "duckdb"})


def check_server_url(url: object) -> None:
    """Refuse a URL that is not a database server (a file on this machine could be read)."""
    if not isinstance(url, str):
        raise InvalidSpec("config.url: a SQLAlchemy URL is required for sql sources", field="config.url")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidSpec("config.url: not a SQLAlchemy URL", field="config.url") from None
    if parsed.get_backend_name() in LOCAL_DIALECTS:
        raise InvalidSpec(
            f"config.url: {parsed.get_backend_name()} reads files on the portal server; "
            "connect a database server",
            field="config.url",
        )


def probe_source(ds: DataSource, secret_key: str, *, timeout_seconds: float = 10.0) -> dict[str, Any]:
    """Connect to sql source ``ds`` (``SELECT 1``, under a timeout); the outcome is added to its history."""
    if ds.kind != "sql":
        raise InvalidSpec(f"kind: connection tests apply to sql sources, not {ds.kind}", field="kind")
    t0 = time.perf_counter()
    try:
        engine = probe_engine(sql_url(ds, secret_key), timeout_seconds)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        ok, message = True, "connected"
    except InvalidSpec as exc:
        ok, message = False, exc.message
    except Exception as exc:  # any driver error is an answer to show, not a 500
        ok, message = False, (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    ms = round((time.perf_counter() - t0) * 1000, 1)
    ds.last_tested_at, ds.last_test_ok, ds.last_test_message = datetime.now(UTC), ok, message
    entry = {"at": ds.last_tested_at.isoformat(), "event": "test", "ok": ok, "message": message, "ms": ms}
    ds.sync_history_json = [*(ds.sync_history_json or []), entry][-100:]
    return entry
