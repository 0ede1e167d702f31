"""Dashboard page benchmark in a real browser (not part of the test command; prints tables).

    .venv/bin/python -m tests.benchmarks.bench_dashboard [--runs 5] [--dashboards NAME|ID ...]
        [--users 20] [--sessions 20] [--after 60] [--settle 25] [--no-reopen] [--cached-interactions]
        [--no-launcher-env] [--env NAME=VALUE ...] [--keep]

Builds the DEFAULT demo warehouse (``conductor demo --no-serve``, ≈1M ticket+message rows) in a
temp CONDUCTOR_HOME, starts ``conductor serve`` on it with REDIS_URL pointing at a Redis owned by
this script, signs in once as analyst@acme in the system Chromium (Playwright) and measures, in
the browser as a user sees it, each demo dashboard of acme ("Operations & SLA", "Maintenance &
Expenses", "Customer Service & CSAT"; ``--dashboards`` limits them; the widget counts come from
the database) against an EMPTY dashboard of the same user, measured in the same run:

* all tiles, cold: ``page.goto('/dashboard?id=N')`` -> every ``.cbi-widget`` tile drawn (charts
  have a canvas of non-zero size, tables rows, KPI values and text are not empty; browser_timing.
  READY_FN, polled every 25 ms), with the query cache flushed before the load. The navigation
  timing splits it into TTFB (the HTTP GET; its server time from the tornado access log) and the
  rest (JS/CSS, websocket document pull, tile queries, render);
* first tile visible: the same cold load until the first tile passed that check (recorded by the
  page-side check in ``window.__cbiFirst``), moved onto the load's wall clock;
* warm: a reload right after (same filters, cached queries);
* filter change: the page's "Time" select set to another preset ("Last 12 months" and a shorter
  window alternate) until every tile is updated: from the select action until a tile marked as
  updating (class ``cbi-updating`` or style ``--cbi-updating: 1``: data re-fetched) or a
  ``cbi-loading`` skeleton has been seen (polled every 25 ms; a MutationObserver on the tiles'
  class and style catches a mark shorter than that) — or 3 s
  passed without one: the table then says "updating marker not seen" and the figure includes
  those 3 s —, then none remains and every tile is drawn, then two animation frames passed;
* drill click ("Operations & SLA" only): a click on the top bar of "Tickets by team" (team_name ->
  agent_name) until the same contract holds and the breadcrumb is shown; "drill back" is the
  breadcrumb's Back button until it holds and the breadcrumb is gone;
* the empty dashboard: goto until its "no widgets yet" message shows (the Panel/Bokeh page alone),
  once per dashboard and run, interleaved with the others;
* server CPU time (user + system, all threads; psutil) of the server process from before each
  load or action to its end;
* concurrent users: ``--users`` new pages, each its own browser context signed in with a copy of
  the session cookie, open the measured dashboards round-robin at the same time (query cache
  flushed first; the navigations are started by script within a few ms, see browser_timing.
  concurrent_users); per page the time from its navigation's start to the page complete. The
  browser renders all of them on the same two cores as the server.

Filter changes and drill steps run with the query cache flushed just before them (a user's new
choice is rarely cached; run to run the same choices would otherwise be); ``--cached-interactions``
leaves the cache alone.

Targets (the issue's), as ratios of p50 to the empty page's p50 (absolute times vary between
machines): first tile ≤ 1.3×, all tiles cold ≤ 3×, warm ≤ 1.5×, filter change ≤ 1×, drill click
(and back) ≤ 0.7×, concurrent users p95 ≤ 4×; "met" when the p50 (p95) ratio is within it.

Memory (server RSS, psutil, children excluded), with the 12-widget "Maintenance & Expenses": at
start, idle before the test (warm-up sessions discarded and their memory released, ``--settle`` s
later), with N (``--sessions``) sessions open (N pages of one browser context, each fully rendered),
growth per session, and every second for ``--after`` (60) s after closing them: when the sessions
were discarded, when RSS came back within 10 % of idle, and RSS at the end against idle. Live
sessions are counted from the server log: page GETs (tornado access log) minus "Discarding
session" lines, for which the server runs with the loggers ``bokeh.server.contexts``/
``bokeh.server.tornado`` at DEBUG (nothing else changes). The session options the server applied
and its memory releases (gc and ``malloc_trim`` after sessions end, portal/web/server.py) come from
its log too. This runs before the timing loads, after one warm-up load only: memory freed by many
earlier sessions would be reused by the new ones and hide their cost (the slope of RSS over the
second half of the sessions is printed too). After the timing loads the same N sessions are opened
again: if RSS barely grows, the memory kept after cleanup is reused by Python's allocator rather
than leaked. Targets: < 15 MB per session, RSS within 10 % of idle 60 s after all sessions closed.

The server runs with the environment the portal's launcher (``.ci/portal``) exports, e.g.
``PYTHONMALLOC=malloc``: ``--no-launcher-env`` leaves it out, ``--env`` adds to it.

Duration on this 2-core machine at the defaults: 10-13 min (demo build ~10 s, memory part ~5 min,
~40 s per run of the three dashboards, 20 concurrent users ~2 min). A step stuck in the browser
(a renderer busy for good) is ended after 200 s by killing the renderer (browser_timing.measured).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import requests
from redis import Redis

from portal.infra.cache import QueryCache
from portal.infra.redis_server import EmbeddedRedis, free_port
from tests.benchmarks.browser_timing import (
    Demo,
    Incomplete,
    Load,
    Step,
    Timings,
    concurrent_users,
    fmt_s,
    load,
    measured,
    say,
    select_demos,
    time_dashboard,
    timing_rows,
    yes_no,
)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD, TENANT = "analyst@acme.example.com", "conductor-demo", "acme"
DEMO_NAMES = ("Operations & SLA", "Maintenance & Expenses", "Customer Service & CSAT")
MEMORY_DASHBOARD = "Maintenance & Expenses"  # 12 widgets: the memory test's page
MB = 1024 * 1024
VIEWPORT: ViewportSize = {"width": 1500, "height": 1000}
TARGETS = {"per_session_mb": 15.0, "after_ratio": 1.10, "after_s": 60.0}

# `conductor serve`, with two bokeh loggers at DEBUG so that discarded sessions are logged.
SERVER = (
    "import logging, sys\n"
    "for name in ('bokeh.server.contexts', 'bokeh.server.tornado'):\n"
    "    logging.getLogger(name).setLevel(logging.DEBUG)\n"
    "from portal.cli import main\n"
    "sys.exit(main(['serve']))\n"
)

DISCARD = re.compile(r"Discarding session '[^']+' last in use ([\d.]+) milliseconds ago")
# portal/web/server.py: the options read back from Bokeh's application, and each memory release.
SESSION_OPTIONS = re.compile(
    r"sessions: unused sessions last for (\d+) ms, checked every (\d+) ms; keep-alive every (\d+) ms"
)
RELEASE = re.compile(
    r"released the memory of (\d+) ended session\(s\): gc collected (\d+) objects in (\d+) ms, "
    r"malloc_trim (.*?) in (\d+) ms; RSS (\S+) -> (\S+) MB"
)
PAGE_GET = re.compile(r"tornado\.access: 200 GET (/|/dashboard|/reports)(\?\S*)? \(.*?\) ([\d.]+)ms")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    log_path: Path
    base: str
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> float:
        return float(self.ps.memory_info().rss / MB)

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) the server process has used so far."""
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def live_sessions(self) -> int:
        """Sessions created (page GETs) minus sessions discarded, from the server log."""
        text = self.log()
        return len(PAGE_GET.findall(text)) - text.count("Discarding session")

    def discard_ages(self, since: int = 0) -> list[float]:
        """Seconds each session discarded after log offset ``since`` had been unused (bokeh's own figure)."""
        return [float(ms) / 1000 for ms in DISCARD.findall(self.log()[since:])]

    def page_get_s(self, since: int, dashboard_id: int) -> float | None:
        """Server time of the first GET of that dashboard page after log offset ``since`` (access log)."""
        want = re.compile(rf"[?&]id={dashboard_id}(&|$)")
        for path, query, ms in PAGE_GET.findall(self.log()[since:]):
            if path == "/dashboard" and want.search(query):
                return float(ms) / 1000
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launcher_env() -> dict[str, str]:
    """``NAME=VALUE`` exports of the portal's launcher (``.ci/portal``): the server runs as the portal does."""
    text = (ROOT / ".ci" / "portal").read_text()
    return dict(re.findall(r"^export ([A-Z_][A-Z0-9_]*)=(\S+)\s*$", text, re.M))


def build_demo(env: dict[str, str]) -> tuple[float, str]:
    """``conductor demo --no-serve`` (default size); returns wall seconds and the row counts line."""
    exe = str(Path(sys.executable).with_name("conductor"))
    t0 = time.perf_counter()
    out = subprocess.run(
        [exe, "demo", "--no-serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"conductor demo failed:\n{out.stdout}\n{out.stderr}")
    m = re.search(r"done in ([\d.]+)s: (.*)", out.stdout)
    return wall, (f"load_warehouse {m.group(1)} s; {m.group(2)}" if m else "(counts not printed)")


def prepare_dashboards(home: Path) -> tuple[list[Demo], int]:
    """The demo dashboards of the analyst's tenant with their widget counts (in the demo's order),
    and the id of a new empty dashboard of the analyst."""
    os.environ["CONDUCTOR_HOME"] = str(home)  # Settings.from_env() reads it
    from sqlalchemy import select

    from portal import dashboards
    from portal.config import Settings
    from portal.identity.principal import principal_for_user_id
    from portal.infra.db import make_engine, make_sessionmaker, transaction
    from portal.models import Dashboard, Tenant, User

    engine = make_engine(Settings.from_env().metadata_url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            found = s.scalar(select(User.id).where(User.email == EMAIL))
            tenant = s.scalar(select(Tenant).where(Tenant.slug == TENANT))
            assert found is not None and tenant is not None, "demo accounts missing"
            user = principal_for_user_id(s, found)  # services act for a Principal
            rows = s.scalars(
                select(Dashboard).where(Dashboard.tenant_id == tenant.id, Dashboard.name.in_(DEMO_NAMES))
            ).all()
            by_name = {d.name: d for d in rows}
            missing = [n for n in DEMO_NAMES if n not in by_name]
            assert not missing, f"demo dashboards missing: {missing}"
            demos = [
                Demo(by_name[n].id, n, len(dashboards.list_widgets(s, user, by_name[n].id)))
                for n in DEMO_NAMES
            ]
            empty = dashboards.create_dashboard(s, user, {"name": "Bench empty dashboard"})
            return demos, empty.id
    finally:
        engine.dispose()


def start_server(env: dict[str, str], log_path: Path, base: str) -> Server:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Server(proc, log_path, base)
    deadline = time.time() + 90
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:  # refused while starting, or slow to answer the first one
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log()[-3000:]}")
        if time.time() > deadline:
            server.stop()
            raise RuntimeError(f"server did not start:\n{server.log()[-3000:]}")
        time.sleep(0.3)


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 1.0) -> float | None:
    """Seconds until ``cond()`` held (polling), or None after ``timeout``."""
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(step)


def last(xs: list[Load] | list[Step]) -> str:
    return f"{xs[-1].wall:.2f}" if xs else "-"


def server_errors(log: str) -> list[str]:
    """ERROR records of the server log, each with its traceback; a closed websocket is no error of the page."""
    records = re.findall(r"^\S+ \S+ ERROR .*(?:\n(?!\d{4}-).*)*", log, re.M)
    return [e for e in records if "WebSocketClosedError" not in e]


def open_sessions(
    context: Any, url: str, expected: int, n: int, server: Server
) -> tuple[list[Any], list[Load], list[float]]:
    """``n`` new pages of ``url``, each fully rendered and kept open; RSS after each one."""
    pages, loads, rss = [], [], []
    for _ in range(n):
        pages.append(context.new_page())
        try:
            loads.append(load(pages[-1], url, expected))
        except Incomplete:
            for page in pages:
                page.close()
            raise
        rss.append(server.rss())
    time.sleep(2)  # let the last websocket messages settle
    rss[-1] = server.rss()
    return pages, loads, rss


def slope(ys: list[float]) -> float:
    """Least-squares slope of ``ys`` against 0, 1, 2, ..."""
    n = len(ys)
    if n < 2:
        return float("nan")
    mx, my = (n - 1) / 2, statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sum((x - mx) ** 2 for x in range(n))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5, help="cold/warm/filter/drill/empty rounds per dashboard")
    p.add_argument(
        "--dashboards", nargs="+", default=[], metavar="NAME|ID", help="measure only these demo dashboards"
    )
    p.add_argument("--users", type=int, default=20, help="concurrent users opening dashboards (0: skip)")
    p.add_argument("--sessions", type=int, default=20, help="sessions held open for the memory test")
    p.add_argument(
        "--after", type=float, default=TARGETS["after_s"], help="seconds to follow RSS after closing all"
    )
    p.add_argument(
        "--settle", type=float, default=25.0, help="seconds from warm-up cleanup to the idle RSS reading"
    )
    p.add_argument(
        "--cached-interactions", action="store_true", help="do not flush the query cache before filter/drill"
    )
    p.add_argument(
        "--no-launcher-env", action="store_true", help="run the server without .ci/portal's exports"
    )
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="server environment")
    p.add_argument("--no-reopen", action="store_true", help="skip re-opening the sessions after cleanup")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (warehouse, server.log)")
    args = p.parse_args(argv)

    from playwright.sync_api import sync_playwright

    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="conductor-bench-dashboard-"))
    home = work / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL")}
    redis = EmbeddedRedis(work / "redis")
    server: Server | None = None
    res: dict[str, Any] = {}
    server_env = {} if args.no_launcher_env else launcher_env()
    server_env.update(kv.split("=", 1) for kv in args.env)
    res["server_env"] = server_env
    try:
        redis_url = redis.start()
        env.update(
            CONDUCTOR_HOME=str(home),
            CONDUCTOR_PORT=str(port),
            CONDUCTOR_LOG_LEVEL="INFO",
            REDIS_URL=redis_url,
        )
        say(f"building the default demo warehouse in {home} ...")
        res["demo_wall"], res["demo_counts"] = build_demo(env)
        say(f"demo built in {res['demo_wall']:.1f} s ({res['demo_counts']})")
        demos, empty_id = prepare_dashboards(home)
        for d in demos:
            d.url = f"{base}/dashboard?id={d.id}"
        chosen = select_demos(demos, args.dashboards)
        mem = next(d for d in demos if d.name == MEMORY_DASHBOARD)
        res["memory_dashboard"] = mem
        empty_url = f"{base}/dashboard?id={empty_id}"
        cache = QueryCache(Redis.from_url(redis_url))

        t0 = time.perf_counter()
        server = start_server({**env, **server_env}, work / "server.log", base)
        res["server_start"] = time.perf_counter() - t0
        time.sleep(1)
        res["rss_start"] = server.rss()
        say(f"server pid {server.proc.pid} up in {res['server_start']:.1f} s, RSS {res['rss_start']:.0f} MB")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(f"{base}/login?next=/")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert "/login" not in page.url, "sign-in failed"

            cache.invalidate()
            res["first"] = load(page, mem.url, mem.widgets)
            say(f"first load after server start (cold cache, cold server): {res['first'].wall:.2f} s")
            load(page, mem.url, mem.widgets, timeout=30)  # a second session of the same dashboard
            page.close()

            # -- memory: idle baseline, N sessions open, the minute after closing them ----------
            say("waiting for the warm-up sessions to be discarded ...")
            res["idle_wait"] = wait_until(lambda: server.live_sessions() == 0, 100)
            time.sleep(args.settle)  # the server releases their memory a few seconds after discarding them
            res["rss_idle"] = server.rss()
            say(f"idle RSS {res['rss_idle']:.0f} MB (live sessions {server.live_sessions()})")
            pages, res["open_loads"], rss = open_sessions(
                context, mem.url, mem.widgets, args.sessions, server
            )
            res["rss_open"], res["rss_curve"] = rss[-1], rss
            res["live_open"] = server.live_sessions()
            say(f"{args.sessions} sessions open: RSS {res['rss_open']:.0f} MB, live {res['live_open']}")
            log_mark = len(server.log())
            for pg in pages:
                pg.close()
            closed = time.monotonic()
            limit = TARGETS["after_ratio"] * res["rss_idle"]
            gone = back = None
            after: list[tuple[float, float]] = []  # (seconds since closing, RSS)
            while (now := time.monotonic() - closed) < args.after:
                time.sleep(min(1.0, args.after - now))
                now, mb = time.monotonic() - closed, server.rss()
                after.append((now, mb))
                if gone is None and server.live_sessions() == 0:
                    gone = now
                if mb > limit:
                    back = None  # "back" means: within the limit from then on
                elif back is None:
                    back = now
            res.update(sessions_gone=gone, rss_back=back, rss_after=after[-1][1], rss_after_curve=after)
            res["live_after"] = server.live_sessions()
            log_after = server.log()[log_mark:]
            res["discard_ages"] = server.discard_ages(log_mark)
            res["releases"] = RELEASE.findall(log_after)
            say(
                f"{after[-1][0]:.0f} s after closing: RSS {res['rss_after']:.0f} MB "
                f"({res['rss_after'] / res['rss_idle']:.2f} x idle), live {res['live_after']}, gone after {gone}"
            )

            # -- page timings per dashboard, the empty page interleaved ---------------------------
            page = context.new_page()
            timings = [Timings(d) for d in chosen]
            empties: list[Load] = []
            empty_t = Timings(Demo(empty_id, "empty dashboard", 0, empty_url))

            def empty() -> None:
                mark = len(server.log())
                if (x := measured(server, "empty", empty_t, lambda: load(page, empty_url, 0))) is not None:
                    x.build = server.page_get_s(mark, empty_id)
                    empties.append(x)

            for i in range(args.runs):
                for t in timings:
                    failures = sum(t.failed.values()) + sum(empty_t.failed.values())
                    time_dashboard(page, server, cache, t, empty, not args.cached_interactions)
                    if sum(t.failed.values()) + sum(empty_t.failed.values()) > failures:
                        page.close()  # it may have crashed or hang: the next round gets a new tab
                        page = context.new_page()
                    say(
                        f"run {i + 1}/{args.runs} {t.demo.name}: cold {last(t.cold)} s, warm {last(t.warm)} s, "
                        f"filter {last(t.filter)} s, drill {last(t.drill)} / back {last(t.back)} s, "
                        f"empty {last(empties)} s"
                    )
            res.update(timings=timings, empty=empties, empty_failed=empty_t.failed)
            page.close()
            res["rss_after_timing"] = server.rss()
            res["session_options"] = SESSION_OPTIONS.findall(server.log())
            res["bokeh_options"] = re.findall(
                r"(Unused sessions last for|Check for unused sessions every|Keep-alive ping configured every) "
                r"(\d+) milliseconds",
                server.log(),
            )

            # -- reuse check: the same number of sessions again ------------------------------------
            if not args.no_reopen:
                try:
                    pages, _, rss = open_sessions(context, mem.url, mem.widgets, args.sessions, server)
                except Incomplete as exc:
                    say(f"FAILED re-opening the sessions: {str(exc)[:600]}")
                else:
                    res["rss_reopen_base"], res["rss_reopen"] = res["rss_after_timing"], rss[-1]
                    say(f"re-opened {args.sessions} sessions: RSS {res['rss_reopen']:.0f} MB")
                    for pg in pages:
                        pg.close()

            # -- concurrent users -----------------------------------------------------------------
            if args.users > 0:
                cache.invalidate()
                c0 = server.cpu()
                crowd = concurrent_users(
                    browser,
                    context.storage_state(),
                    [(d.url, d.widgets) for d in chosen],
                    args.users,
                    VIEWPORT,
                )
                res["crowd"], res["crowd_cpu"] = crowd, server.cpu() - c0
                say(
                    f"{args.users} concurrent users: p50 {statistics.median(crowd.times or [math.nan]):.2f} s, "
                    f"max {max(crowd.times or [math.nan]):.2f} s, {crowd.failed} not complete"
                )
            browser.close()
        res["server_errors"] = server_errors(server.log())
    except BaseException:
        if server is not None:  # the page's side of a failure: the server's own errors, if any
            errors = server_errors(server.log())
            say("server errors (last 3):\n" + ("\n".join(e[-2000:] for e in errors[-3:]) or "none logged"))
        raise
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        if args.keep:
            say(f"kept {work} (server log: {work / 'server.log'})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    res["total"] = time.perf_counter() - t_start
    report(res, args)
    return 0


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    n = args.sessions
    empties: list[Load] = r["empty"]
    rows, base = timing_rows(
        r["timings"], empties, r["empty_failed"], r.get("crowd"), r.get("crowd_cpu", 0.0)
    )
    first = r["first"]
    rows.append(
        ("first load after server start (cold, memory dashboard)", f"{first.wall:.2f} s", "", "", "", "", "")
    )
    opened = [x.wall for x in r["open_loads"]]
    rows.append(
        (f"{n} loads while sessions accumulate (warm, memory dashboard)", *fmt_s(opened), "", "", "", "")
    )

    growth = r["rss_open"] - r["rss_idle"]
    per = growth / n
    tail = r["rss_curve"][n // 2 - 1 :]  # RSS after sessions n/2 .. n
    kept = r["rss_after"] - r["rss_idle"]
    ratio = r["rss_after"] / r["rss_idle"]
    waited = r["rss_after_curve"][-1][0]
    releases = r["releases"]
    mem = [
        ("server RSS at start", f"{r['rss_start']:.0f} MB", "", ""),
        ("RSS idle before the test (no live session)", f"{r['rss_idle']:.0f} MB", "", ""),
        (f"RSS with {n} sessions open (live: {r['live_open']})", f"{r['rss_open']:.0f} MB", "", ""),
        (
            "growth per session (RSS delta / N)",
            f"{per:.1f} MB",
            f"< {TARGETS['per_session_mb']:g} MB",
            yes_no(per < TARGETS["per_session_mb"]),
        ),
        (f"  slope over sessions {n // 2}..{n}", f"{slope(tail):.1f} MB", "", ""),
        (
            f"RSS {waited:.0f} s after closing all (live: {r['live_after']})",
            f"{r['rss_after']:.0f} MB (+{kept:.0f})",
            "",
            "",
        ),
        (
            "  ratio to idle",
            f"{ratio:.2f}",
            f"<= {TARGETS['after_ratio']:.2f} at {TARGETS['after_s']:g} s",
            yes_no(ratio <= TARGETS["after_ratio"] and waited >= TARGETS["after_s"] - 1),
        ),
        (
            "  sessions discarded after",
            f"{r['sessions_gone']:.0f} s" if r["sessions_gone"] is not None else f"> {waited:.0f} s",
            "",
            "",
        ),
        (
            "  unused for (bokeh log: min-max)",
            f"{min(ages):.0f}-{max(ages):.0f} s" if (ages := r["discard_ages"]) else "-",
            "",
            "",
        ),
        (
            "  RSS within 10 % of idle from",
            f"{r['rss_back']:.0f} s" if r["rss_back"] is not None else f"not in {waited:.0f} s",
            "",
            "",
        ),
        (
            "  longest release pause: gc / malloc_trim",
            f"{max(int(x[2]) for x in releases)} / {max(int(x[4]) for x in releases)} ms"
            if releases
            else "-",
            "",
            "",
        ),
    ]
    if "rss_reopen" in r:
        mem.append(("RSS after the timing runs (sessions closed)", f"{r['rss_reopen_base']:.0f} MB", "", ""))
        mem.append(
            (
                f"RSS after re-opening {n} sessions",
                f"{r['rss_reopen']:.0f} MB (+{r['rss_reopen'] - r['rss_reopen_base']:.0f})",
                "",
                "",
            )
        )

    demos = ", ".join(f'"{t.demo.name}"' for t in r["timings"])
    print(
        f"\nDashboard page benchmark: demo warehouse built by `conductor demo --no-serve` in "
        f"{r['demo_wall']:.1f} s ({r['demo_counts']});\n"
        f"dashboards {demos} of {TENANT}, {args.runs} runs each, ratios = p50 / p50 of the empty dashboard "
        f"({base:.2f} s);\nquery cache flushed before cold loads"
        + ("" if args.cached_interactions else ", filter changes and drill steps")
        + f"; server started in {r['server_start']:.1f} s, total benchmark time {r['total']:.0f} s\n"
    )
    if errors := r.get("server_errors"):
        heads = dict.fromkeys(e.split("\n", 1)[0][24:] for e in errors)
        print(f"NOTE: the server logged {len(errors)} error(s): " + "; ".join(list(heads)[:5]) + "\n")
    w = max(len(x[0]) for x in [*rows, *mem]) + 2
    print(
        f"{'page (browser, wall clock)':<{w}}{'p50':>9}{'max':>9}{'x empty':>9}  {'target':<9}{'met':<5}note"
    )
    for label, p50, mx, rel, tgt, met, note in rows:
        print(f"{label:<{w}}{p50:>9}{mx:>9}{rel:>9}  {tgt:<9}{met:<5}{note}".rstrip())
    kinds = ("cold", "warm", "filter", "drill", "back")
    print(f"\n{'server CPU per page view (user+system, p50 s)':<{w}}" + "".join(f"{k:>9}" for k in kinds))
    for t in r["timings"]:
        cells = [
            f"{statistics.median(c):.2f}" if (c := [x.cpu for x in getattr(t, k)]) else "-" for k in kinds
        ]
        print(f"{t.demo.name:<{w}}" + "".join(f"{c:>9}" for c in cells))
    if empties:
        print(f"{'empty dashboard':<{w}}{statistics.median([x.cpu for x in empties]):>9.2f}")
    print(f"\n{'server memory (RSS, server process only)':<{w}}{'value':>18}  {'target':<16}{'met':<4}")
    for label, value, tgt, met in mem:
        print(f"{label:<{w}}{value:>18}  {tgt:<16}{met:<4}")
    env = r["server_env"]
    print(
        "\nserver environment: "
        + (" ".join(f"{k}={v}" for k, v in env.items()) or "none added (pymalloc, glibc defaults)")
        + ("" if args.no_launcher_env else "  (exports of .ci/portal)")
    )
    points = r["rss_after_curve"]
    curve = " ".join(
        f"{t}s {next(mb for s, mb in reversed(points) if s <= t + 0.5):.0f}"
        for t in range(10, int(waited + 0.5) + 1, 10)
    )
    print(f"RSS after closing all (MB): {curve}")
    print(
        "memory releases after closing (server log; sessions ended: RSS before -> after): "
        + (", ".join(f"{e}: {b} -> {a} MB" for e, _, _, _, _, b, a in releases) or "none")
    )
    if r["session_options"]:
        life, check, keep = (int(x) / 1000 for x in r["session_options"][-1])
        print(
            f"session options applied (read back from bokeh by the server): unused sessions last {life:g} s, "
            f"checked every {check:g} s, keep-alive every {keep:g} s"
        )
    else:
        from bokeh.server.tornado import DEFAULT_CHECK_UNUSED_MS, DEFAULT_UNUSED_LIFETIME_MS

        logged = "; ".join(f"{what} {ms} ms" for what, ms in r["bokeh_options"]) or "nothing"
        print(
            "\nnote: the server did not log the session options it applied (portal/web/server.py). Bokeh "
            f"logs only values other than its defaults ({DEFAULT_UNUSED_LIFETIME_MS / 1000:g} s lifetime, "
            f"checked every {DEFAULT_CHECK_UNUSED_MS / 1000:g} s); it logged: {logged}."
        )
    if ratio > TARGETS["after_ratio"]:
        note = (
            "sessions were discarded" if r["live_after"] == 0 else f"{r['live_after']} session(s) still live"
        )
        why = (
            "the server logged no memory release after the sessions ended"
            if not releases
            else "memory was released, but pymalloc keeps an arena (1 MiB) mapped while any object in it "
            "lives: run the server with PYTHONMALLOC=malloc as .ci/portal does"
            if env.get("PYTHONMALLOC") != "malloc"
            else "memory was released; see the releases row"
        )
        print(
            f"\nnote: RSS did not return within {TARGETS['after_ratio'] - 1:.0%} of idle ({note}): {why}. "
            "Freed memory is reused,"
            + (
                f" see the re-open row: {n} new sessions grew RSS by "
                f"{r['rss_reopen'] - r['rss_reopen_base']:.0f} MB vs {growth:.0f} MB the first time."
                if "rss_reopen" in r
                else " re-run without --no-reopen to check reuse."
            )
        )
    print("\ncommand: .venv/bin/python -m tests.benchmarks.bench_dashboard " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
