"""Dashboard page benchmark in a real browser (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_dashboard [--runs 5] [--sessions 20] [--after 60] [--no-reopen]
        [--no-launcher-env] [--env NAME=VALUE ...]

Builds the DEFAULT demo warehouse (``conductor demo --no-serve``, ≈1M ticket+message
rows) in a temp CONDUCTOR_HOME, starts ``conductor serve`` on it with REDIS_URL pointing
at a Redis owned by this script, signs in once as analyst@acme in the system Chromium
(Playwright) and measures:

1. time from ``page.goto('/dashboard?id=N')`` to every widget of the 12-widget demo
   dashboard "Maintenance & Expenses" rendered (12 ``.cbi-widget`` tiles; charts have a
   canvas of non-zero size, tables have rows, KPI values and text are not empty), with
   the query cache flushed before each COLD run and a WARM reload right after it; an
   empty dashboard of the same user gives the Panel/Bokeh page cost alone. The
   navigation timing of the browser splits each load into TTFB (the HTTP GET, during
   which the server builds the whole page: sessions run ``create_page`` synchronously)
   and the rest (JS/CSS, websocket document pull, client render).
2. RSS of the server process (psutil, children excluded): at start, idle before the
   test (warm-up sessions discarded and their memory released, ``--settle`` s later),
   with N sessions open (N pages of one browser context, each fully rendered), growth
   per session, and every second for ``--after`` (60) s after closing them: when the
   sessions were discarded, when RSS came back within 10 % of idle, and RSS at the end
   against idle. Live sessions are counted from the server log: page GETs (tornado
   access log) minus "Discarding session" lines, for which the server runs with the
   loggers ``bokeh.server.contexts``/``bokeh.server.tornado`` at DEBUG (nothing else
   changes). The session options the server applied and its memory releases (gc and
   ``malloc_trim`` after sessions end, portal/web/server.py) come from its log too.
   This runs before the timing loads, after one warm-up load only: memory freed by many
   earlier sessions would be reused by the new ones and hide their cost (the slope of RSS
   over the second half of the sessions is printed too). After the timing loads the same
   N sessions are opened again: if RSS barely grows, the memory kept after cleanup is
   reused by Python's allocator rather than leaked.

The server runs with the environment the portal's launcher (``.ci/portal``) exports,
e.g. ``PYTHONMALLOC=malloc``: ``--no-launcher-env`` leaves it out, ``--env`` adds to it.

Targets: cold < 2 s, warm < 1 s, < 15 MB per session, RSS within 10 % of idle 60 s after
all sessions closed.
"""

from __future__ import annotations

import argparse
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
from typing import Any

import psutil
import requests
from redis import Redis

from portal.infra.cache import QueryCache
from portal.infra.redis_server import EmbeddedRedis, free_port
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD, TENANT = "analyst@acme.example.com", "conductor-demo", "acme"
DASHBOARD_NAME, WIDGETS = "Maintenance & Expenses", 12
MB = 1024 * 1024
# Fallback when the demo dashboard's saved range breaks every session but the first of the server
# (DashboardBuilder._load_layout adds "Saved: ..." to the module-level TIME_PRESETS, then the
# next session finds it there but not among its own Selector options -> ValueError in create_page).
PRESET_RANGE = ("Last 12 months", "{{now-12M}}..{{now}}")
SAVED_RANGE_BUG = "does not accept 'Saved: "
TARGETS = {"cold": 2.0, "warm": 1.0, "per_session_mb": 15.0, "after_ratio": 1.10, "after_s": 60.0}

# `conductor serve`, with two bokeh loggers at DEBUG so that discarded sessions are logged.
SERVER = (
    "import logging, sys\n"
    "for name in ('bokeh.server.contexts', 'bokeh.server.tornado'):\n"
    "    logging.getLogger(name).setLevel(logging.DEBUG)\n"
    "from portal.cli import main\n"
    "sys.exit(main(['serve']))\n"
)

# Resolves to performance.now() once the page is complete, false before. Walks open shadow roots.
READY_JS = """(expected) => {
  const deep = (root, sel, out = []) => {
    if (root.shadowRoot) deep(root.shadowRoot, sel, out);
    out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) deep(el.shadowRoot, sel, out);
    return out;
  };
  const roots = (root, out = []) => {
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { out.push(el.shadowRoot); roots(el.shadowRoot, out); }
    return out;
  };
  if (expected === 0) {
    return roots(document).some((r) => r.textContent.includes('has no widgets yet')) && performance.now();
  }
  const tiles = deep(document, '.cbi-widget');
  if (tiles.length !== expected) return false;
  // Rendered text of an element, or of its shadow root without the <style>s (an HTML pane's host).
  const textOf = (el) => el.shadowRoot
    ? [...el.shadowRoot.children].filter((c) => !['STYLE', 'LINK', 'SCRIPT'].includes(c.tagName)).map(textOf).join('')
    : el.innerText || '';
  const done = (tile) => {
    const viz = [...tile.classList].find((c) => c.startsWith('cbi-widget-')).slice(11);
    const text = (sel) => deep(tile, sel).some((e) => textOf(e).trim() !== '');
    if (viz === 'kpi') return text('.kpi-value');
    if (viz === 'text') return text('.cbi-text');
    if (viz === 'table') return deep(tile, '.tabulator-row').length > 0;
    return deep(tile, 'canvas').some((c) => { const r = c.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  };
  return tiles.every(done) && performance.now();
}"""

STATE_JS = """() => {
  const deep = (root, sel, out = []) => {
    if (root.shadowRoot) deep(root.shadowRoot, sel, out);
    out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) deep(el.shadowRoot, sel, out);
    return out;
  };
  return deep(document, '.cbi-widget').map((t) => [t.className, t.textContent.slice(0, 80),
    deep(t, 'canvas').length, deep(t, '.tabulator-row').length]);
}"""

NAV_JS = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd}; }"""

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
class Load:
    wall: float  # s, from the goto/reload call to the ready check passing
    ttfb: float  # s, navigation start -> first response byte (the server builds the page meanwhile)
    ready: float  # s, navigation start -> ready (browser clock)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    log_path: Path
    base: str
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> float:
        return self.ps.memory_info().rss / MB

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def live_sessions(self) -> int:
        """Sessions created (page GETs) minus sessions discarded, from the server log."""
        text = self.log()
        return len(PAGE_GET.findall(text)) - text.count("Discarding session")

    def discard_ages(self, since: int = 0) -> list[float]:
        """Seconds each session discarded after log offset ``since`` had been unused (bokeh's own figure)."""
        return [float(ms) / 1000 for ms in DISCARD.findall(self.log()[since:])]

    def page_build_ms(self, path: str) -> list[float]:
        """Server-side durations of the GETs of ``path`` (tornado access log), in order."""
        return [float(ms) for p, q, ms in PAGE_GET.findall(self.log()) if p + q == path]

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


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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


def prepare_dashboards(home: Path) -> tuple[int, int, int, int]:
    """Ids of the analyst's 12-widget dashboard, its widget count, a new empty dashboard and a copy of
    the first whose saved time range is a preset of the page (see ``PRESET_RANGE``)."""
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
            demo = s.scalar(
                select(Dashboard).where(Dashboard.tenant_id == tenant.id, Dashboard.name == DASHBOARD_NAME)
            )
            assert demo is not None, f"demo dashboard {DASHBOARD_NAME!r} missing"
            if len(dashboards.list_widgets(s, user, demo.id)) != WIDGETS:
                # Build one with exactly 12 widgets: a copy, trimmed or topped up with its own widgets.
                demo = dashboards.duplicate_dashboard(s, user, demo.id, name=f"Bench {WIDGETS} widgets")
                widgets = dashboards.list_widgets(s, user, demo.id)
                for w in widgets[WIDGETS:]:
                    dashboards.delete_widget(s, user, w.id)
                for i in range(WIDGETS - len(widgets)):
                    dashboards.add_widget(s, user, demo.id, widgets[i % len(widgets)].config_json)
            count = len(dashboards.list_widgets(s, user, demo.id))
            empty = dashboards.create_dashboard(s, user, {"name": "Bench empty dashboard"})
            copy = dashboards.duplicate_dashboard(s, user, demo.id, name=f"{demo.name} ({PRESET_RANGE[0]})")
            dashboards.update_dashboard(s, user, copy.id, {"filters": {"time_range": PRESET_RANGE[1]}})
            return demo.id, count, empty.id, copy.id
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
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log()[-3000:]}")
        if time.time() > deadline:
            server.stop()
            raise RuntimeError(f"server did not start:\n{server.log()[-3000:]}")
        time.sleep(0.3)


def load(page: Any, url: str | None, expected: int, timeout: float = 90) -> Load:
    """Navigate (``url``) or reload (``None``) and wait until the page is complete."""
    t0 = time.perf_counter()
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    try:
        ready = page.wait_for_function(
            READY_JS, arg=expected, polling=25, timeout=timeout * 1000
        ).json_value()
    except Exception:
        state = page.evaluate(STATE_JS)
        raise RuntimeError(f"{page.url} not complete after {timeout:g} s; tiles: {state}") from None
    wall = time.perf_counter() - t0
    nav = page.evaluate(NAV_JS)
    return Load(wall, nav["ttfb"] / 1000, ready / 1000)


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 1.0) -> float | None:
    """Seconds until ``cond()`` held (polling), or None after ``timeout``."""
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(step)


def open_sessions(
    context: Any, url: str, n: int, server: Server
) -> tuple[list[Any], list[Load], list[float]]:
    """``n`` new pages of ``url``, each fully rendered and kept open; RSS after each one."""
    pages, loads, rss = [], [], []
    for _ in range(n):
        page = context.new_page()
        loads.append(load(page, url, WIDGETS))
        pages.append(page)
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


def fmt_s(xs: list[float]) -> tuple[str, str]:
    return f"{statistics.median(xs):.2f} s", f"{max(xs):.2f} s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5, help="cold/warm/empty loads each (>= 5)")
    p.add_argument("--sessions", type=int, default=20, help="sessions held open for the memory test")
    p.add_argument(
        "--after", type=float, default=TARGETS["after_s"], help="seconds to follow RSS after closing all"
    )
    p.add_argument(
        "--settle", type=float, default=25.0, help="seconds from warm-up cleanup to the idle RSS reading"
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
        dash_id, res["widgets"], empty_id, copy_id = prepare_dashboards(home)
        dash_url, empty_url = f"{base}/dashboard?id={dash_id}", f"{base}/dashboard?id={empty_id}"
        cache = QueryCache(Redis.from_url(redis_url))

        t0 = time.perf_counter()
        server = start_server({**env, **server_env}, work / "server.log", base)
        res["server_start"] = time.perf_counter() - t0
        time.sleep(1)
        res["rss_start"] = server.rss()
        say(f"server pid {server.proc.pid} up in {res['server_start']:.1f} s, RSS {res['rss_start']:.0f} MB")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            page = context.new_page()
            page.goto(f"{base}/login?next=/")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert "/login" not in page.url, "sign-in failed"

            cache.invalidate()
            res["first"] = load(page, dash_url, res["widgets"])
            say(f"first load after server start (cold cache, cold server): {res['first'].wall:.2f} s")
            try:  # a second session of the same dashboard
                load(page, dash_url, res["widgets"], timeout=20)
            except RuntimeError:
                if SAVED_RANGE_BUG not in server.log():
                    raise
                res["workaround"] = dash_id
                dash_id, dash_url = copy_id, f"{base}/dashboard?id={copy_id}"
                say(
                    f"BUG: 2nd session of the demo dashboard failed ({SAVED_RANGE_BUG}...); using id {dash_id}"
                )
                load(page, dash_url, res["widgets"])
            page.close()

            # -- memory: idle baseline, N sessions open, the minute after closing them ----------
            say("waiting for the warm-up sessions to be discarded ...")
            res["idle_wait"] = wait_until(lambda: server.live_sessions() == 0, 100)
            time.sleep(args.settle)  # the server releases their memory a few seconds after discarding them
            res["rss_idle"] = server.rss()
            say(f"idle RSS {res['rss_idle']:.0f} MB (live sessions {server.live_sessions()})")
            pages, res["open_loads"], rss = open_sessions(context, dash_url, args.sessions, server)
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

            # -- page load timings (no other session alive on the server) -------------------------
            page = context.new_page()
            cold, warm, empty = [], [], []
            for i in range(args.runs):
                cache.invalidate()
                cold.append(load(page, dash_url, res["widgets"]))
                warm.append(load(page, None, res["widgets"]))
                empty.append(load(page, empty_url, 0))
                say(
                    f"run {i + 1}/{args.runs}: cold {cold[-1].wall:.2f} s, warm {warm[-1].wall:.2f} s, "
                    f"empty {empty[-1].wall:.2f} s"
                )
            res.update(cold=cold, warm=warm, empty=empty)
            # Server-side GET durations, in request order: (cold, warm) per run, after the sessions above.
            builds = server.page_build_ms(f"/dashboard?id={dash_id}")[-2 * args.runs :]
            res["build_cold"] = [ms / 1000 for ms in builds[0::2]]
            res["build_warm"] = [ms / 1000 for ms in builds[1::2]]
            res["build_empty"] = [ms / 1000 for ms in server.page_build_ms(f"/dashboard?id={empty_id}")]
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
                pages, _, rss = open_sessions(context, dash_url, args.sessions, server)
                res["rss_reopen_base"], res["rss_reopen"] = res["rss_after_timing"], rss[-1]
                say(f"re-opened {args.sessions} sessions: RSS {res['rss_reopen']:.0f} MB")
                for pg in pages:
                    pg.close()
            browser.close()
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
    n, ok = args.sessions, lambda good: "yes" if good else "NO"
    rows: list[tuple[str, str, str, str, str]] = []

    def timing(label: str, loads: list[Load], target: float | None = None, builds: list[float] | None = None):
        walls = [x.wall for x in loads]
        p50, mx = fmt_s(walls)
        tgt = f"< {target:g} s" if target else ""
        met = ok(statistics.median(walls) < target and max(walls) < target) if target else ""
        rows.append((label, p50, mx, tgt, met))
        rows.append(
            ("   TTFB (browser: GET incl. server page build)", *fmt_s([x.ttfb for x in loads]), "", "")
        )
        if builds:
            rows.append(("   server GET time (tornado access log)", *fmt_s(builds), "", ""))
        rows.append(
            (
                "   after TTFB: JS, websocket doc pull, render",
                *fmt_s([x.wall - x.ttfb for x in loads]),
                "",
                "",
            )
        )

    timing(
        f"cold cache: goto -> {r['widgets']} widgets rendered", r["cold"], TARGETS["cold"], r["build_cold"]
    )
    timing("warm cache: reload -> rendered", r["warm"], TARGETS["warm"], r["build_warm"])
    timing("empty dashboard (Panel/Bokeh page alone)", r["empty"], None, r["build_empty"])
    first = r["first"]
    rows.append(("first load after server start (cold)", f"{first.wall:.2f} s", "", "", ""))
    rows.append(
        (f"{n} loads while sessions accumulate (warm)", *fmt_s([x.wall for x in r["open_loads"]]), "", "")
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
            ok(per < TARGETS["per_session_mb"]),
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
            ok(ratio <= TARGETS["after_ratio"] and waited >= TARGETS["after_s"] - 1),
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

    print(
        f"\nDashboard page benchmark: demo warehouse built by `conductor demo --no-serve` in "
        f"{r['demo_wall']:.1f} s ({r['demo_counts']});\n"
        f'dashboard "{DASHBOARD_NAME}" of {TENANT} ({r["widgets"]} widgets), {args.runs} runs each, '
        f"server started in {r['server_start']:.1f} s, total benchmark time {r['total']:.0f} s\n"
    )
    if "workaround" in r:
        print(
            f"NOTE: every session but the first of the demo dashboard (id {r['workaround']}, saved range "
            f"{{{{now-6M}}}}..{{{{now}}}}) fails in create_page (ValueError: time_range {SAVED_RANGE_BUG}...'),\n"
            f"a bug in DashboardBuilder._load_layout; figures below are for a copy with the preset range "
            f"'{PRESET_RANGE[0]}'.\n"
        )
    w = max(len(x[0]) for x in [*rows, *mem]) + 2
    print(f"{'page load':<{w}}{'p50':>9}{'max':>9}  {'target':<10}{'met':<4}")
    for label, p50, mx, tgt, met in rows:
        print(f"{label:<{w}}{p50:>9}{mx:>9}  {tgt:<10}{met:<4}")
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
