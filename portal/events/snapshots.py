"""Snapshots of the events: counts, distinct counts and sums per hour, day and week by dimension,
built incrementally with DuckDB into Parquet files (the embedded warehouse is read-only for the
web processes, so snapshots are files the catalog reads with ``read_parquet``).

One build (a tenant at a time, under a file lock):

1. read the raw segments not folded yet (``raw/incoming``), or, for a backfill, every raw
   segment with events in the date range;
2. for each day those events happened on, rewrite ``clean/<day>.parquet``: that day's events,
   deduplicated by event id (the first received wins), so re-folding a segment changes nothing
   and late (out-of-order) events land in the day they belong to;
3. recompute the snapshot rows of those days (and weeks) from the clean days, keep the other
   rows of the current snapshot file, and write a new version of each snapshot file;
4. the caller registers the new files as catalog sources, commits, and only then archives the
   folded segments (a crash before that re-folds them: idempotent).

Times are UTC; weeks start on Monday. The org unit of an event is its own, else the one of
its agent's dimension version valid at ``occurred_at`` (SCD type 2).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from portal.data.catalog import Column
from portal.events.dimensions import Version
from portal.events.store import list_incoming, list_log, tenant_dir

#: Measures summed (with a count of the events carrying them) in every snapshot.
MEASURES = ("duration_sec", "first_response_sec", "handle_sec", "csat")
GRAINS = {"events_hourly": "hour", "events_daily": "day", "events_weekly": "week"}
TAGS_SOURCE = "events_tags_daily"
NONE = "(none)"
RAW_COLUMNS = {
    "event_id": "VARCHAR",
    "type": "VARCHAR",
    "occurred_at": "VARCHAR",
    "received_at": "VARCHAR",
    "org_unit": "VARCHAR",
    "channel": "VARCHAR",
    "agent": "VARCHAR",
    "tags": "VARCHAR[]",
    "ticket_id": "VARCHAR",
    "customer": "VARCHAR",
    "measures": "MAP(VARCHAR, DOUBLE)",
}
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
BUILD_MEMORY = os.environ.get("CONDUCTOR_EVENTS_BUILD_MEMORY", "512MB")


def snapshot_columns(name: str) -> tuple[Column, ...]:
    """Catalog columns of a snapshot source."""
    dims = [
        Column("bucket", "datetime", "Period start (UTC)"),
        Column("event_type", "string", "Event type"),
    ]
    if name == TAGS_SOURCE:
        dims.append(Column("tag", "string", "Tag"))
        metrics = [Column("events", "int", "Events", format="integer"), Column("tickets", "int", "Tickets")]
        return (*dims, *metrics)
    dims += [
        Column("org_unit", "string", "Org unit"),
        Column("channel", "string", "Channel"),
        Column("agent", "string", "Agent"),
    ]
    metrics = [
        Column("events", "int", "Events", format="integer"),
        Column("tickets", "int", "Tickets (distinct)", format="integer"),
        Column("customers", "int", "Customers (distinct)", format="integer"),
    ]
    for m in MEASURES:
        fmt: Any = "duration_s" if m.endswith("_sec") else "number"
        metrics.append(Column(f"{m}_sum", "float", f"{m.replace('_', ' ').capitalize()} (sum)", format=fmt))
        metrics.append(
            Column(f"{m}_count", "int", f"{m.replace('_', ' ').capitalize()} (events)", format="integer")
        )
    return (*dims, *metrics)


# --------------------------------------------------------------------------- pure planning
def bucket_start(when: datetime, grain: str) -> datetime:
    """The start of the hour, day or (Monday) week ``when`` falls in."""
    if grain == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"unknown grain {grain!r}")


def weeks_of(days: Sequence[date]) -> list[date]:
    """The Mondays of the weeks the days fall in."""
    return sorted({d - timedelta(days=d.weekday()) for d in days})


def days_of_weeks(mondays: Sequence[date]) -> list[date]:
    """Every day of the given weeks."""
    return [m + timedelta(days=i) for m in mondays for i in range(7)]


# --------------------------------------------------------------------------- files
@dataclass
class Layout:
    """Where one tenant's derived files live."""

    home: Path
    tenant_id: int

    @property
    def root(self) -> Path:
        return tenant_dir(self.home, self.tenant_id)

    @property
    def clean(self) -> Path:
        return self.root / "clean"

    @property
    def snap(self) -> Path:
        return self.root / "snap"

    def clean_file(self, day: date) -> Path:
        return self.clean / f"{day.isoformat()}.parquet"

    def manifest(self) -> dict[str, str]:
        """The current file of each snapshot."""
        path = self.snap / "current.json"
        if not path.exists():
            return {}
        data: dict[str, str] = json.loads(path.read_text())
        return data

    def write_manifest(self, current: Mapping[str, str]) -> None:
        tmp = self.snap / ".current.json.tmp"
        tmp.write_text(json.dumps(dict(current), sort_keys=True))
        os.replace(tmp, self.snap / "current.json")


@contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """One build per tenant at a time (a second one waits)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".build.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _lit(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(_lit(p) for p in paths) + "]"


@dataclass
class BuildResult:
    """What a build did; ``files`` are the new snapshot files to register (name -> path)."""

    segments: list[Path] = field(default_factory=list)
    events_read: int = 0
    days: list[date] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON for the job's result and ``event_settings.build_json``."""
        return {
            "segments": len(self.segments),
            "events_read": self.events_read,
            "days": [d.isoformat() for d in self.days[:50]],
            "days_count": len(self.days),
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
        }


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit={_lit(BUILD_MEMORY)}")
    con.execute("SET threads=2")
    con.execute("SET TimeZone='UTC'")
    return con


def _load_raw(con: duckdb.DuckDBPyConnection, segments: Sequence[Path]) -> None:
    cols = "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in RAW_COLUMNS.items()) + "}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE new_ev AS
        SELECT event_id, type, strptime(occurred_at, '{TS_FORMAT}') AS occurred_at,
               strptime(received_at, '{TS_FORMAT}') AS received_at,
               org_unit, channel, agent, tags, ticket_id, customer, measures
        FROM read_json({_list(segments)}, format='newline_delimited', columns={cols})"""
    )


def _empty_raw(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE new_ev (event_id VARCHAR, type VARCHAR, occurred_at TIMESTAMP,
        received_at TIMESTAMP, org_unit VARCHAR, channel VARCHAR, agent VARCHAR, tags VARCHAR[],
        ticket_id VARCHAR, customer VARCHAR, measures MAP(VARCHAR, DOUBLE))"""
    )


def _write_clean(
    con: duckdb.DuckDBPyConnection, layout: Layout, days: Sequence[date], *, merge: bool
) -> None:
    layout.clean.mkdir(parents=True, exist_ok=True)
    for day in days:
        target = layout.clean_file(day)
        parts = [f"SELECT * FROM new_ev WHERE CAST(occurred_at AS DATE) = DATE '{day.isoformat()}'"]
        if merge and target.exists():
            parts.append(f"SELECT * FROM read_parquet({_lit(target)})")
        union = " UNION ALL ".join(parts)
        tmp = layout.clean / f".tmp-{day.isoformat()}.parquet"
        con.execute(
            f"""COPY (SELECT * FROM ({union})
                QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at, occurred_at, type) = 1
                ORDER BY occurred_at) TO {_lit(tmp)} (FORMAT parquet, COMPRESSION zstd)"""
        )
        n = con.execute(f"SELECT count(*) FROM read_parquet({_lit(tmp)})").fetchone()
        if n is not None and n[0] == 0:
            tmp.unlink()
            target.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)


def _load_dims(con: duckdb.DuckDBPyConnection, agents: Mapping[str, Sequence[Version]]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE agent_dim (agent VARCHAR, org_unit VARCHAR, valid_from TIMESTAMP, "
        "valid_to TIMESTAMP)"
    )
    rows = [
        (
            key,
            v.attrs.get("org_unit"),
            v.valid_from.replace(tzinfo=None),
            v.valid_to.replace(tzinfo=None) if v.valid_to else None,
        )
        for key, versions in agents.items()
        for v in versions
        if isinstance(v.attrs.get("org_unit"), str)
    ]
    if rows:
        con.executemany("INSERT INTO agent_dim VALUES (?, ?, ?, ?)", rows)


def _events_view(con: duckdb.DuckDBPyConnection, layout: Layout, days: Sequence[date], name: str) -> bool:
    files = [layout.clean_file(d) for d in days if layout.clean_file(d).exists()]
    if not files:
        return False
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT e.*, COALESCE(e.org_unit, d.org_unit) AS unit
        FROM read_parquet({_list(files)}) e
        LEFT JOIN agent_dim d ON d.agent = e.agent AND e.occurred_at >= d.valid_from
             AND (d.valid_to IS NULL OR e.occurred_at < d.valid_to)"""
    )
    return True


def _aggregate_sql(source: str, name: str) -> str:
    if name == TAGS_SOURCE:
        return f"""SELECT date_trunc('day', occurred_at) AS bucket, type AS event_type, tag,
                   count(*) AS events, count(DISTINCT ticket_id) AS tickets
            FROM (SELECT occurred_at, type, ticket_id, unnest(tags) AS tag FROM {source})
            GROUP BY ALL"""
    measures = ", ".join(
        f"sum(measures['{m}']) AS {m}_sum, count(measures['{m}']) AS {m}_count" for m in MEASURES
    )
    grain = GRAINS[name]
    return f"""SELECT date_trunc('{grain}', occurred_at) AS bucket, type AS event_type,
               COALESCE(unit, '{NONE}') AS org_unit, COALESCE(channel, '{NONE}') AS channel,
               COALESCE(agent, '{NONE}') AS agent,
               count(*) AS events, count(DISTINCT ticket_id) AS tickets,
               count(DISTINCT customer) AS customers, {measures}
        FROM {source} GROUP BY ALL"""


def _empty_sql(name: str) -> str:
    kinds = {"datetime": "TIMESTAMP", "string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE"}
    cols = ", ".join(f"CAST(NULL AS {kinds[c.type]}) AS {c.name}" for c in snapshot_columns(name))
    return f"SELECT {cols} WHERE false"


def _write_snapshot(
    con: duckdb.DuckDBPyConnection, layout: Layout, name: str, fresh_sql: str | None, keep_where: str
) -> tuple[str, int]:
    """A new version of snapshot ``name``: the current file's rows matching ``keep_where`` plus
    ``fresh_sql``'s rows; returns (path, rows)."""
    current = layout.manifest().get(name)
    parts: list[str] = []
    if current and Path(current).exists():
        parts.append(f"SELECT * FROM read_parquet({_lit(current)}) WHERE {keep_where}")
    if fresh_sql:
        parts.append(fresh_sql)
    cols = ", ".join(c.name for c in snapshot_columns(name))
    body = " UNION ALL BY NAME ".join(f"({p})" for p in parts) if parts else _empty_sql(name)
    layout.snap.mkdir(parents=True, exist_ok=True)
    path = layout.snap / f"{name}-{time.time_ns()}.parquet"
    con.execute(
        f"COPY (SELECT {cols} FROM ({body}) ORDER BY ALL) TO {_lit(path)} (FORMAT parquet, COMPRESSION zstd)"
    )
    row = con.execute(f"SELECT count(*) FROM read_parquet({_lit(path)})").fetchone()
    return str(path), int(row[0]) if row else 0


def _in_days(days: Sequence[date]) -> str:
    return "(" + ", ".join(f"DATE '{d.isoformat()}'" for d in days) + ")"


def _publish(layout: Layout, files: Mapping[str, str]) -> None:
    """Make ``files`` current and delete versions older than the previous one (a query that
    started on the previous version may still be reading it)."""
    previous = layout.manifest()
    current = {**previous, **files}
    layout.write_manifest(current)
    keep = set(current.values()) | set(previous.values())
    for path in layout.snap.glob("events_*.parquet"):
        if str(path) not in keep:
            path.unlink(missing_ok=True)


def build(
    home: Path,
    tenant_id: int,
    agents: Mapping[str, Sequence[Version]],
    *,
    backfill: tuple[date, date] | None = None,
) -> BuildResult:
    """Fold new raw segments (or, with ``backfill=(first, last)``, every raw segment of those
    days) into the clean days and the snapshots. Call with the tenant's build lock held."""
    started = time.monotonic()
    layout = Layout(home, tenant_id)
    result = BuildResult()
    con = _connect()
    try:
        if backfill is None:
            result.segments = list_incoming(home, tenant_id)
            if not result.segments:
                return result
            _load_raw(con, result.segments)
            found = con.execute("SELECT DISTINCT CAST(occurred_at AS DATE) FROM new_ev ORDER BY 1").fetchall()
            result.days = [r[0] for r in found]
        else:
            first, last = backfill
            result.segments = list_incoming(home, tenant_id)
            every = list_log(home, tenant_id) + result.segments
            if every:
                _load_raw(con, every)
                outside = f"CAST(occurred_at AS DATE) NOT BETWEEN DATE '{first}' AND DATE '{last}'"
                con.execute(f"DELETE FROM new_ev WHERE {outside}")
            else:
                _empty_raw(con)
            # Days of the range that have a clean file or raw events: rebuilt from the raw log alone.
            found = con.execute("SELECT DISTINCT CAST(occurred_at AS DATE) FROM new_ev").fetchall()
            days = {r[0] for r in found}
            d = first
            while d <= last:
                if layout.clean_file(d).exists():
                    days.add(d)
                d += timedelta(days=1)
            result.days = sorted(days)
        row = con.execute("SELECT count(*) FROM new_ev").fetchone()
        result.events_read = int(row[0]) if row else 0
        if not result.days:
            return result
        _write_clean(con, layout, result.days, merge=backfill is None)
        _load_dims(con, agents)
        weeks = weeks_of(result.days)
        has_days = _events_view(con, layout, result.days, "ev_days")
        has_weeks = _events_view(con, layout, days_of_weeks(weeks), "ev_weeks")
        day_keep = f"CAST(bucket AS DATE) NOT IN {_in_days(result.days)}"
        for name in ("events_hourly", "events_daily", TAGS_SOURCE):
            fresh = _aggregate_sql("ev_days", name) if has_days else None
            path, n = _write_snapshot(con, layout, name, fresh, day_keep)
            result.files[name], result.rows[name] = path, n
        fresh = _aggregate_sql("ev_weeks", "events_weekly") if has_weeks else None
        path, n = _write_snapshot(
            con, layout, "events_weekly", fresh, f"CAST(bucket AS DATE) NOT IN {_in_days(weeks)}"
        )
        result.files["events_weekly"], result.rows["events_weekly"] = path, n
        _publish(layout, result.files)
        return result
    finally:
        con.close()
        result.seconds = time.monotonic() - started


def apply_retention(home: Path, tenant_id: int, *, raw_cutoff: date, snapshot_cutoff: date) -> dict[str, Any]:
    """Delete raw segments received and clean days before ``raw_cutoff``, and snapshot rows before
    ``snapshot_cutoff`` (new snapshot versions). Call with the tenant's build lock held."""
    layout = Layout(home, tenant_id)
    removed_segments = removed_days = 0
    log = layout.root / "raw" / "log"
    if log.is_dir():
        for day_dir in sorted(log.iterdir()):
            if day_dir.is_dir() and day_dir.name.isdigit() and day_dir.name < raw_cutoff.strftime("%Y%m%d"):
                for seg in day_dir.glob("*.jsonl"):
                    seg.unlink()
                    removed_segments += 1
                day_dir.rmdir()
    if layout.clean.is_dir():
        for f in layout.clean.glob("*.parquet"):
            if f.stem < raw_cutoff.isoformat():
                f.unlink()
                removed_days += 1
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    current = layout.manifest()
    if current:
        con = _connect()
        try:
            for name, path in current.items():
                old = con.execute(
                    f"SELECT count(*) FROM read_parquet({_lit(path)}) WHERE bucket < DATE '{snapshot_cutoff}'"
                ).fetchone()
                if old and old[0]:
                    files[name], rows[name] = _write_snapshot(
                        con, layout, name, None, f"bucket >= DATE '{snapshot_cutoff}'"
                    )
        finally:
            con.close()
        if files:
            _publish(layout, files)
    return {"segments_deleted": removed_segments, "days_deleted": removed_days, "files": files, "rows": rows}
