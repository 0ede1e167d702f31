"""``conductor`` command line: serve, migrate, demo data, users and tokens."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from portal.config import Settings
from portal.errors import PortalError


class Progress:
    """A one-line progress bar on stderr for long CLI operations."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.last = ""

    def __call__(self, table: str, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        line = (
            f"\r  {table:<20} [{bar:<30}] {done:>11,}/{total:,} rows  {time.perf_counter() - self.t0:6.1f}s"
        )
        if line != self.last:
            print(line, end="" if frac < 1 else "\n", file=self.stream, flush=True)
            self.last = line


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from portal.infra.migrate import downgrade, upgrade

    settings.home.mkdir(parents=True, exist_ok=True)
    if args.downgrade:
        downgrade(settings.metadata_url, args.downgrade)
    else:
        upgrade(settings.metadata_url, args.revision)
    print(f"metadata database at {args.downgrade or args.revision}: {_safe_url(settings.metadata_url)}")
    return 0


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from portal.demo.schema import DemoSize
    from portal.demo.warehouse import load_warehouse

    size = DemoSize.scaled(args.scale)
    if args.tickets:
        size = DemoSize(tickets=args.tickets, months=size.months, seed=args.seed)
    elif args.seed != size.seed:
        size = DemoSize(tickets=size.tickets, months=size.months, seed=args.seed)
    print(
        f"writing demo warehouse ({size.tickets:,} tickets) to {_safe_url(settings.warehouse)}",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    counts = load_warehouse(settings.warehouse, size, progress=Progress())
    print(f"done in {time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    if settings.redis_url:  # a running portal must not serve results of the old data
        from redis import Redis

        from portal.infra.cache import QueryCache

        QueryCache(Redis.from_url(settings.redis_url)).invalidate()
    return 0


def cmd_rollups(settings: Settings, args: argparse.Namespace) -> int:
    """Build the warehouse's pre-aggregations now (on DuckDB: while no portal has the file open)."""
    from portal.context import build_context
    from portal.data.rollup_store import refresh

    ctx = build_context(settings)
    try:
        t0 = time.perf_counter()
        built = refresh(ctx.warehouse, args.names or None)
        for b in built:
            print(f"  {b.name:<26} {b.rows:>12,} rows from {b.base_rows:>12,} in {b.seconds:.1f}s")
        print(f"built {len(built)} rollup(s) in {time.perf_counter() - t0:.1f}s")
    finally:
        ctx.close()
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from portal.demo.accounts import seed_demo
    from portal.infra.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.metadata_url)
    with transaction(make_sessionmaker(engine)) as session:
        accounts = seed_demo(session, dev_mode=settings.dev_mode)
    engine.dispose()
    _print_accounts(accounts)
    return 0


def _print_accounts(accounts: Sequence[object]) -> None:
    if not accounts:
        print("demo accounts already exist (password in dev mode: conductor-demo)")
        return
    print("demo accounts:")
    for a in accounts:
        print(f"  {a.tenant:<8} {a.role:<8} {a.email:<32} password: {a.password}")  # type: ignore[attr-defined]


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from portal.infra.migrate import check_up_to_date
    from portal.web.server import serve

    check_up_to_date(settings.metadata_url)
    serve(settings, job_processes=not args.no_workers)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Everything a first-time user needs: migrate, demo warehouse (once), demo accounts, serve."""
    from portal.infra.migrate import upgrade

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.metadata_url)
    wh = settings.home / "warehouse.duckdb"
    if not settings.warehouse_url and (args.reload or not wh.exists()):
        cmd_demo_data(settings, args)
        args.names = []
        cmd_rollups(settings, args)  # the dashboards' queries answer from them at once
    cmd_seed(settings, args)
    _seed_demo_events(settings)
    if args.no_serve:
        return 0
    return cmd_serve(settings, args)


def _seed_demo_events(settings: Settings) -> None:
    """A week of support-desk analytics events for the demo tenant, with snapshots (once)."""
    from portal.context import build_context
    from portal.demo.events import seed_demo_events

    ctx = build_context(settings)
    try:
        out = seed_demo_events(
            sessions=ctx.sessions,
            home=ctx.settings.home,
            redis=ctx.redis,
            warehouse=ctx.warehouse,
            secret_key=ctx.settings.secret_key,
        )
    finally:
        ctx.close()
    if "events" in out:
        print(f"demo analytics events: {out['events']:,} for {out['tenant']} (snapshots built)")


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """RQ workers on one pool's queues (critical > high > normal > low), with RQ's scheduler."""
    from portal.infra.redis_server import ensure_redis
    from portal.jobqueue.workers import run_workers

    if args.n < 1:
        print(f"error: -n: the number of worker processes must be at least 1 (got {args.n})", file=sys.stderr)
        return 2
    settings.home.mkdir(parents=True, exist_ok=True)
    url, embedded = ensure_redis(settings)
    if embedded is not None:
        # The task functions build their context from the environment: point them (and the
        # forked workers of -n) at this server, not at a second embedded one.
        os.environ["REDIS_URL"] = url
        logging.getLogger(__name__).warning(
            "REDIS_URL is empty: using a private embedded Redis at %s; only jobs enqueued there run", url
        )
    try:
        return run_workers(url, args.pool, count=args.n, burst=args.burst)
    finally:
        if embedded is not None:
            embedded.stop()


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    """Fire due schedules every few seconds (any number of schedulers fire each fire once)."""
    if args.interval <= 0:
        print(f"error: --interval: must be more than 0 seconds (got {args.interval:g})", file=sys.stderr)
        return 2
    import signal
    import threading

    from portal.context import build_context
    from portal.jobqueue.scheduler import run_scheduler, tick

    ctx = build_context(settings)
    if ctx.embedded_redis is not None:
        logging.getLogger(__name__).warning(
            "REDIS_URL is empty: fired jobs go to a private embedded Redis that no worker shares"
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.once:
            result = tick(ctx)
            print(f"fired {len(result.fired)} schedule(s), skipped {len(result.skipped)}")
        else:
            from portal.events.builds import fire_daily_builds
            from portal.ingest.sync_jobs import fire_due_syncs

            run_scheduler(ctx, interval=args.interval, stop=stop, also=[fire_due_syncs, fire_daily_builds])
    finally:
        ctx.close()
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from portal.identity import auth
    from portal.infra.db import make_engine, make_sessionmaker, transaction
    from portal.models import Tenant

    password = os.environ.get("CONDUCTOR_PASSWORD") or getpass.getpass("password: ")
    engine = make_engine(settings.metadata_url)
    with transaction(make_sessionmaker(engine)) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == args.tenant))
        if tenant is None:
            tenant = auth.create_tenant(session, args.tenant, args.tenant_name or args.tenant)
        user = auth.create_user(
            session, tenant, args.email, args.name or args.email, password, is_admin=args.admin
        )
        print(f"created user {user.email} (id {user.id}) in tenant {tenant.slug}")
    return 0


def cmd_create_token(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from portal.errors import NotFound
    from portal.identity import auth
    from portal.infra.db import make_engine, make_sessionmaker, transaction
    from portal.models import User

    engine = make_engine(settings.metadata_url)
    with transaction(make_sessionmaker(engine)) as session:
        user = session.scalar(select(User).where(User.email == args.email.strip().lower()))
        if user is None:
            raise NotFound(f"email: no user {args.email!r}", field="email")
        _, plain = auth.issue_api_token(session, user, args.name, days=args.days)
    print(plain)
    return 0


def cmd_list_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from portal.identity import auth

    with _cli_session(settings) as session:
        user = _user_by_email(session, args.email)
        for t in auth.list_api_tokens(session, user):
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
            print(
                f"{t.id}\t{t.prefix}…\t{t.name}\t{auth.token_state(t)}\texpires {expires}\tlast used {used}"
            )
    return 0


def cmd_revoke_token(settings: Settings, args: argparse.Namespace) -> int:
    from portal.identity import auth

    with _cli_session(settings) as session:
        user = _user_by_email(session, args.email)
        ids = [t.id for t in auth.list_api_tokens(session, user) if auth.token_state(t) == "active"]
        targets = ids if args.all else [args.id]
        for tid in targets:
            auth.revoke_api_token(session, user, tid)
    print(f"revoked {len(targets)} token(s) of {args.email}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from portal.context import build_context
    from portal.ingest.runner import local_import
    from portal.ingest.schema import ImportOptions
    from portal.specs import parse_spec

    raw: dict[str, Any] = {"table": args.table, "mode": args.mode, "all_or_nothing": args.all_or_nothing}
    for key in ("delimiter", "encoding", "sheet"):
        if getattr(args, key) is not None:
            raw[key] = "\t" if key == "delimiter" and args.delimiter in ("\\t", "tab") else getattr(args, key)
    if args.key:
        raw["key_columns"] = args.key
    options = parse_spec(ImportOptions, raw)
    ctx = build_context(settings)
    t0 = time.perf_counter()

    def bar(p: dict[str, Any]) -> None:
        done, total, rows = p["bytes_done"], max(1, p["size_bytes"]), p["rows_read"]
        secs = max(1e-6, time.perf_counter() - t0)
        eta = f"{p['eta_s']:.0f}s" if p.get("eta_s") is not None else "?"
        fill = "#" * int(30 * min(1.0, done / total))
        print(
            f"\r  [{fill:<30}] {rows:>12,} rows  {done / 1e6:8.1f}/{total / 1e6:.1f} MB  "
            f"{rows / secs:>10,.0f} rows/s  ETA {eta:>6}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        run_id, out = local_import(
            ctx, Path(args.file), options, user_email=args.user, tenant=args.tenant, hook=bar
        )
    finally:
        ctx.close()
    print(file=sys.stderr)
    print(f"import {run_id}: {out.status} in {out.seconds:.1f}s")
    print(f"rows read: {out.rows_read}")
    print(f"rows loaded: {out.rows_loaded}")
    print(f"rows rejected: {out.rows_rejected}")
    print(f"bad-row report: {out.report if out.report is not None else 'none'}")
    if out.error:
        print(f"error: {out.error}", file=sys.stderr)
    return 0 if out.status == "done" else 1


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    """``conductor events snapshot|retention|backfill --tenant SLUG [--from D --to D]``, or
    ``conductor events daily`` (snapshot and retention of every tenant with events)."""
    import json

    from portal.context import build_context
    from portal.events.builds import parse_action, run_action, run_daily, tenant_by_slug
    from portal.infra.db import transaction

    ctx = build_context(settings)
    if args.action == "daily":  # every tenant with events: snapshot, then retention
        try:
            done = run_daily(
                sessions=ctx.sessions, home=ctx.settings.home, redis=ctx.redis, warehouse=ctx.warehouse
            )
        finally:
            ctx.close()
        print(json.dumps(done, indent=2, default=str))
        return 1 if any("error" in d for d in done) else 0
    if not args.tenant:
        ctx.close()
        print("error: --tenant: give the tenant's slug", file=sys.stderr)
        return 2
    body = {"action": args.action, "from": getattr(args, "from"), "to": args.to}
    try:
        action, first, last = parse_action({k: v for k, v in body.items() if v is not None})
        with transaction(ctx.sessions) as session:
            tenant_id = tenant_by_slug(session, args.tenant).id
        out = run_action(
            sessions=ctx.sessions,
            home=ctx.settings.home,
            redis=ctx.redis,
            warehouse=ctx.warehouse,
            tenant_id=tenant_id,
            action=action,
            first=first,
            last=last,
        )
    finally:
        ctx.close()
    print(json.dumps(out, indent=2, default=str))
    return 0


@contextlib.contextmanager
def _cli_session(settings: Settings) -> Iterator[Any]:
    from portal.infra.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(settings.metadata_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _user_by_email(session: Any, email: str) -> Any:
    from sqlalchemy import select

    from portal.errors import NotFound
    from portal.models import User

    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"email: no user {email!r}", field="email")
    return user


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="conductor", description="Conductor BI portal")
    p.add_argument("--home", type=Path, help="data directory for embedded defaults (CONDUCTOR_HOME)")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("migrate", help="upgrade (or downgrade) the metadata database")
    m.add_argument("--revision", default="head")
    m.add_argument("--downgrade", metavar="REVISION")
    m.set_defaults(fn=cmd_migrate)

    def size_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--scale", type=float, default=1.0, help="1.0 ≈ 1M ticket+message rows")
        sp.add_argument("--tickets", type=int, default=0, help="exact ticket count (overrides --scale)")
        sp.add_argument("--seed", type=int, default=42)

    d = sub.add_parser("demo-data", help="write the deterministic demo warehouse")
    size_args(d)
    d.set_defaults(fn=cmd_demo_data)

    ro = sub.add_parser("rollups", help="build the warehouse's pre-aggregations (rollup tables) now")
    ro.add_argument("names", nargs="*", help="rollups to build (default: all)")
    ro.set_defaults(fn=cmd_rollups)

    s = sub.add_parser("seed-demo", help="create demo tenants, users and reports")
    s.set_defaults(fn=cmd_seed)

    no_workers = "do not start a worker per pool and the scheduler as child processes"
    sv = sub.add_parser("serve", help="run the portal (web pages + REST API)")
    sv.add_argument("--no-workers", action="store_true", help=no_workers)
    sv.set_defaults(fn=cmd_serve)

    dm = sub.add_parser("demo", help="migrate, load demo data and accounts, then serve")
    size_args(dm)
    dm.add_argument("--reload", action="store_true", help="rebuild the demo warehouse")
    dm.add_argument("--no-serve", action="store_true", help="prepare everything but do not serve")
    dm.add_argument("--no-workers", action="store_true", help=no_workers)
    dm.set_defaults(fn=cmd_demo)

    wk = sub.add_parser("worker", help="run RQ workers for a pool (realtime or batch)")
    wk.add_argument("--pool", required=True, choices=["realtime", "batch"])
    wk.add_argument("-n", type=int, default=1, help="number of worker processes (default 1)")
    wk.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    wk.set_defaults(fn=cmd_worker)

    sc = sub.add_parser("scheduler", help="fire due report schedules (every 10 s)")
    sc.add_argument("--interval", type=float, default=10.0, help="seconds between ticks")
    sc.add_argument("--once", action="store_true", help="one tick, then exit")
    sc.set_defaults(fn=cmd_scheduler)

    cu = sub.add_parser("create-user", help="add a user (password from CONDUCTOR_PASSWORD or a prompt)")
    cu.add_argument("--tenant", required=True)
    cu.add_argument("--tenant-name")
    cu.add_argument("--email", required=True)
    cu.add_argument("--name")
    cu.add_argument("--admin", action="store_true")
    cu.set_defaults(fn=cmd_create_user)

    ct = sub.add_parser("create-token", help="issue an API token for a user (printed once)")
    ct.add_argument("--email", required=True)
    ct.add_argument("--name", default="cli")
    ct.add_argument("--days", type=int, default=30, help="lifetime in days (1-365, default 30)")
    ct.set_defaults(fn=cmd_create_token)

    lt = sub.add_parser("list-tokens", help="a user's API tokens: state, expiry, last use")
    lt.add_argument("--email", required=True)
    lt.set_defaults(fn=cmd_list_tokens)

    rt = sub.add_parser("revoke-token", help="revoke an API token at once")
    rt.add_argument("--email", required=True)
    which = rt.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="the token id (see list-tokens)")
    which.add_argument("--all", action="store_true", help="every active token of the user")
    rt.set_defaults(fn=cmd_revoke_token)

    im = sub.add_parser("import", help="import a CSV/XLSX file into a source (in-process)")
    im.add_argument("file")
    im.add_argument("--table", required=True, help="the source name (lower-case letters, digits, _)")
    im.add_argument("--user", required=True, help="e-mail of the importing user (an analyst or admin)")
    im.add_argument("--tenant", help="the tenant's slug (checked against the user's)")
    im.add_argument("--mode", choices=("create", "append", "replace", "upsert"), default="create")
    im.add_argument("--key", action="append", metavar="COLUMN", help="a key column (repeatable)")
    im.add_argument("--delimiter", help="override the detected delimiter: , ; tab |")
    im.add_argument("--encoding", help="override the detected encoding (e.g. cp1252)")
    im.add_argument("--sheet", help="the XLSX sheet (default: the first)")
    im.add_argument("--all-or-nothing", action="store_true", help="load nothing if any row is rejected")
    im.set_defaults(fn=cmd_import)

    ev = sub.add_parser("events", help="analytics events: build snapshots, apply retention, backfill")
    ev.add_argument("action", choices=("snapshot", "retention", "backfill", "daily"))
    ev.add_argument("--tenant", help="the tenant's slug (daily: every tenant with events)")
    ev.add_argument("--from", dest="from", help="backfill: first day (YYYY-MM-DD)")
    ev.add_argument("--to", help="backfill: last day (YYYY-MM-DD)")
    ev.set_defaults(fn=cmd_events)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``conductor`` console script."""
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ["CONDUCTOR_HOME"] = str(args.home)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(settings, args))
    except PortalError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
