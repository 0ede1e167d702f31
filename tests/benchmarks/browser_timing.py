"""What ``bench_dashboard`` measures in the browser: page loads, filter changes, drill clicks and
concurrent users of the dashboard page, timed by polling the page's own state (Playwright, sync API);
one round of a dashboard (:func:`time_dashboard`) and the page table (:func:`timing_rows`).

The page-side contract these checks rely on (components/dashboard_builder.py):

* every tile is a ``.cbi-widget`` element with a ``cbi-widget-<viz>`` class;
* a tile loading for the first time shows a skeleton with the class ``cbi-loading``;
* while a tile's data is fetched again after a filter change or a drill step, the tile carries
  the class ``cbi-updating`` or the style property ``--cbi-updating: 1`` (what the page sets now:
  a class change makes Panel lay the page out again; ``0`` when done);
* a drill step shows ``.breadcrumb`` and a ``.drill-back`` button.

Everything is found through open shadow roots (Panel/Bokeh render into them).
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import psutil

# Every element matching `sel` under `root`, through open shadow roots.
DEEP_JS = """(root, sel, out = []) => {
    if (root.shadowRoot) deep(root.shadowRoot, sel, out);
    out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) deep(el.shadowRoot, sel, out);
    return out;
  }"""

# The page is complete: `expected` tiles each drawn (charts have a canvas of non-zero size, tables
# rows, KPI values and text are not empty), or, for expected == 0, the empty dashboard's message.
# Returns performance.now() then, false before. The first time any tile is drawn it stores
# performance.now() in window.__cbiFirst (first tile visible).
READY_FN = (
    """(expected) => {
  const deep = """
    + DEEP_JS
    + """;
  const roots = (root, out = []) => {
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { out.push(el.shadowRoot); roots(el.shadowRoot, out); }
    return out;
  };
  if (expected === 0) {
    return roots(document).some((r) => r.textContent.includes('has no widgets yet')) && performance.now();
  }
  const tiles = deep(document, '.cbi-widget');
  // Rendered text of an element, or of its shadow root without the <style>s (an HTML pane's host).
  const textOf = (el) => el.shadowRoot
    ? [...el.shadowRoot.children].filter((c) => !['STYLE', 'LINK', 'SCRIPT'].includes(c.tagName)).map(textOf).join('')
    : el.innerText || '';
  const done = (tile) => {
    const viz = ([...tile.classList].find((c) => c.startsWith('cbi-widget-')) || 'cbi-widget-').slice(11);
    const text = (sel) => deep(tile, sel).some((e) => textOf(e).trim() !== '');
    if (viz === 'kpi') return text('.kpi-value');
    if (viz === 'text') return text('.cbi-text');
    if (viz === 'table') return deep(tile, '.tabulator-row').length > 0;
    return deep(tile, 'canvas').some((c) => { const r = c.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  };
  const drawn = tiles.map(done);
  if (window.__cbiFirst === undefined && drawn.some(Boolean)) window.__cbiFirst = performance.now();
  if (tiles.length !== expected) return false;
  return drawn.every(Boolean) && performance.now();
}"""
)

# After a filter change or a drill click (window.__cbiWait armed by ARM_JS just before the action):
# (a) a tile marked updating (class or --cbi-updating: 1) or a .cbi-loading skeleton has been seen,
#     or `grace` ms passed without one;
# (b) no such tile remains, the page is complete (READY_FN) and, when `breadcrumb` is not null,
#     the drill breadcrumb is shown (true) or gone (false); (c) two animation frames passed since
#     (b) held (the pixels are on screen). Returns {end, seen, seenAt} (performance.now() values).
SETTLED_JS = (
    """(arg) => {
  const ready = """
    + READY_FN
    + """;
  const deep = """
    + DEEP_JS
    + """;
  const st = window.__cbiWait;
  if (!st) return false;
  const now = performance.now();
  const reset = () => { st.raf = undefined; return false; };
  const updating = (t) => t.classList.contains('cbi-updating') || t.style.getPropertyValue('--cbi-updating').trim() === '1';
  if (deep(document, '.cbi-loading').length > 0 || deep(document, '.cbi-widget').some(updating)) {
    if (!st.seen) { st.seen = true; st.seenAt = now; }
    return reset();
  }
  if (!st.seen && now - st.t0 < arg.grace) return false;
  if (arg.breadcrumb !== null) {
    const shown = deep(document, '.breadcrumb').some((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
    if (shown !== arg.breadcrumb) return reset();
  }
  if (!ready(arg.expected)) return reset();
  if (st.raf === undefined) {
    const token = st.token = (st.token || 0) + 1;
    st.raf = 0;
    requestAnimationFrame(() => requestAnimationFrame(() => { if (st.token === token) st.raf = performance.now(); }));
    return false;
  }
  if (!st.raf) return false;
  st.observer.disconnect();
  return {end: st.raf, seen: st.seen, seenAt: st.seenAt === undefined ? null : st.seenAt, t0: st.t0};
}"""
)

# Arms SETTLED_JS before an action. Besides its polling, a MutationObserver on every tile's class
# and style attributes catches an updating mark that comes and goes between two polls.
ARM_JS = (
    """() => {
  const deep = """
    + DEEP_JS
    + """;
  if (window.__cbiWait && window.__cbiWait.observer) window.__cbiWait.observer.disconnect();
  const st = window.__cbiWait = {t0: performance.now(), seen: false};
  const marked = (t, old) => t.classList.contains('cbi-updating') || /\\bcbi-updating\\b/.test(old)
    || t.style.getPropertyValue('--cbi-updating').trim() === '1' || /--cbi-updating:\\s*1\\b/.test(old);
  st.observer = new MutationObserver((records) => {
    for (const r of records) {
      if (!st.seen && marked(r.target, r.oldValue || '')) {
        st.seen = true;
        st.seenAt = performance.now();
      }
    }
  });
  for (const t of deep(document, '.cbi-widget')) {
    st.observer.observe(t, {attributes: true, attributeFilter: ['class', 'style'], attributeOldValue: true});
  }
}"""
)

STATE_JS = (
    """() => {
  const deep = """
    + DEEP_JS
    + """;
  return deep(document, '.cbi-widget').map((t) => [t.className, t.textContent.slice(0, 80),
    deep(t, 'canvas').length, deep(t, '.tabulator-row').length]);
}"""
)

NAV_JS = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, first: window.__cbiFirst ?? null}; }"""

# Runs in every document of a concurrent user's context: polls READY_FN every 500 ms and stores
# the epoch milliseconds at which the dashboard page was complete in window.__cbiReadyAt. One check
# costs ~5 ms on a complete page: 20 pages polling every 100 ms would take about one of the two
# cores (a test at 100 ms: browser CPU 122 s, server 31 s, in 82 s), every 500 ms a fifth of one.
CONCURRENT_INIT_JS = (
    """(() => {
  if (location.pathname !== '/dashboard') return;
  const ready = """
    + READY_FN
    + """;
  const timer = setInterval(() => {
    const at = ready(__EXPECTED__);
    if (at) { window.__cbiReadyAt = performance.timeOrigin + at; clearInterval(timer); }
  }, 500);
})();"""
)

# Milliseconds one READY_FN check takes (mean of 20) on the current page: the measuring's own cost.
POLL_COST_JS = (
    """(expected) => {
  const ready = """
    + READY_FN
    + """;
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) ready(expected);
  return (performance.now() - t0) / 20;
}"""
)


def browser_cpu() -> float:
    """CPU seconds (user + system) of this script's Chromium processes so far (exited ones not counted)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name().lower():
                t = proc.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


# The bokeh plot drawn inside a page box: its frame geometry (page pixels) and the factors of its
# categorical y range (bottom to top), so that a given bar can be clicked (as tests/ui does).
PLOT_GEOMETRY_JS = """(box) => {
  if (!window.Bokeh || !Bokeh.index || !Bokeh.index.roots) return null;
  const seen = new Set(), plots = [];
  const walk = (v) => {
    if (!v || seen.has(v)) return;
    seen.add(v);
    if (v.frame && v.canvas_view) plots.push(v);
    try { for (const c of v.children()) walk(c); } catch (e) {}
  };
  for (const root of Bokeh.index.roots) walk(root);
  const inside = (v) => {
    const r = v.canvas_view.el.getBoundingClientRect();
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    return r.width > 0 && cx > box.x && cx < box.x + box.width && cy > box.y && cy < box.y + box.height;
  };
  const v = plots.find(inside);
  if (!v) return null;
  const r = v.canvas_view.el.getBoundingClientRect(), f = v.frame;
  const factors = v.model.y_range.factors || [];
  return {
    left: r.left + f.bbox.left, right: r.left + f.bbox.right,
    factors: factors.map(String),
    ys: factors.map((k) => r.top + f.y_scale.compute(f.y_range.synthetic(k))),
  };
}"""

OPTIONS_JS = (
    "(s) => ({labels: [...s.options].map((o) => o.label), current: s.options[s.selectedIndex]?.label})"
)

#: Without a .cbi-updating / .cbi-loading tile in this time after the action, the page is taken
#: as settled from the moment the other conditions hold (the figure then includes this wait).
GRACE_MS = 3000
#: The drill-down chart of the demo dashboard "Operations & SLA" (team_name -> agent_name).
DRILL_TITLE = "Tickets by team (click a team for its agents)"

#: Ratio targets: p50 of the measure / p50 of the empty dashboard page, same run.
RATIOS = {"first": 1.3, "cold": 3.0, "warm": 1.5, "filter": 1.0, "drill": 0.7, "back": 0.7, "crowd_p95": 4.0}
DRILL_DASHBOARD = "Operations & SLA"  # the one demo dashboard with a drill-down


@dataclass
class Load:
    wall: float  # s, from the goto/reload call to the ready check passing
    ttfb: float  # s, navigation start -> first response byte (the server builds the page meanwhile)
    ready: float  # s, navigation start -> ready (browser clock)
    first: float | None  # s, navigation start -> first tile drawn (browser clock)
    cpu: float = 0.0  # s of server CPU (user + system) from before the load to ready
    build: float | None = None  # s, the server's GET time of the page (tornado access log)

    @property
    def first_wall(self) -> float | None:
        """First tile drawn on the wall clock of ``wall``: ready minus the browser's first-to-ready span."""
        return None if self.first is None else self.wall - (self.ready - self.first)


@dataclass
class Step:
    """A filter change, drill click or drill back: from the action to every tile updated and drawn."""

    wall: float  # s, from the action's call to the page settled (two frames after)
    browser: float  # s, the same on the browser clock (armed just before the action)
    seen: bool  # a .cbi-updating / .cbi-loading tile was seen after the action
    cpu: float = 0.0


@dataclass
class Demo:
    id: int
    name: str
    widgets: int
    url: str = ""


@dataclass
class Timings:
    """What one dashboard gave over the runs (Load/Step lists per kind) and what went wrong."""

    demo: Demo
    cold: list[Load] = field(default_factory=list)
    warm: list[Load] = field(default_factory=list)
    filter: list[Step] = field(default_factory=list)
    drill: list[Step] = field(default_factory=list)
    back: list[Step] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # Time presets chosen by the filter changes
    failed: dict[str, int] = field(default_factory=dict)


class Incomplete(RuntimeError):
    """The page did not reach the awaited state in time."""


def load(page: Any, url: str | None, expected: int, timeout: float = 90) -> Load:
    """Navigate (``url``) or reload (``None``) and wait until the page is complete."""
    t0 = time.perf_counter()
    if url is None:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    try:
        ready = page.wait_for_function(
            READY_FN, arg=expected, polling=25, timeout=timeout * 1000
        ).json_value()
    except Exception:
        state = page.evaluate(STATE_JS)
        raise Incomplete(f"{page.url} not complete after {timeout:g} s; tiles: {state}") from None
    wall = time.perf_counter() - t0
    nav = page.evaluate(NAV_JS)
    first = nav["first"] / 1000 if nav["first"] is not None else None
    return Load(wall, nav["ttfb"] / 1000, ready / 1000, first)


def settle(
    page: Any, action: Callable[[], None], expected: int, breadcrumb: bool | None = None, timeout: float = 90
) -> Step:
    """Run ``action`` (a click, a select) and wait for the updating contract to complete (SETTLED_JS)."""
    page.evaluate(ARM_JS)
    t0 = time.perf_counter()
    action()
    arg = {"expected": expected, "grace": GRACE_MS, "breadcrumb": breadcrumb}
    try:
        out = page.wait_for_function(SETTLED_JS, arg=arg, polling=25, timeout=timeout * 1000).json_value()
    except Exception:
        state = page.evaluate(STATE_JS)
        raise Incomplete(f"{page.url} not settled after {timeout:g} s; tiles: {state}") from None
    return Step(time.perf_counter() - t0, (out["end"] - out["t0"]) / 1000, bool(out["seen"]))


# -- the global "Time" filter ------------------------------------------------------------------------
def time_select(page: Any) -> Any:
    """The page's "Time" filter: a Bokeh Select rendered as a native <select> (first under .global-filters)."""
    return page.locator(".global-filters select").first


def next_time_label(page: Any) -> str:
    """Another preset of the Time filter than the current one: "Last 12 months" and a shorter window
    alternate (a 6-month one if offered, else "Last 90 days"); never "All time" (a different cost)."""
    opts = time_select(page).evaluate(OPTIONS_JS)
    labels, current = opts["labels"], opts["current"]
    six = next((x for x in labels if re.search(r"6 ?months|6M", x, re.I)), None)
    pair = [x for x in ("Last 12 months", six, "Last 90 days", "Last 30 days") if x in labels]
    choice = next((x for x in pair if x != current), None)
    if choice is None:
        choice = next(x for x in labels if x not in (current, "All time"))
    return choice


def change_time(page: Any, expected: int, timeout: float = 90) -> tuple[str, Step]:
    """Select another Time preset; the step lasts until every tile is updated and drawn."""
    label = next_time_label(page)
    return label, settle(page, lambda: time_select(page).select_option(label=label), expected, None, timeout)


# -- drill-down ---------------------------------------------------------------------------------
def tile(page: Any, title: str) -> Any:
    """The dashboard tile (``.cbi-widget``) whose title is exactly ``title``."""
    return page.locator(".cbi-widget").filter(
        has=page.locator(".widget-title", has_text=re.compile(rf"^{re.escape(title)}$"))
    )


def plot_geometry(page: Any, locator: Any) -> dict[str, Any] | None:
    box = locator.bounding_box()
    return None if box is None else page.evaluate(PLOT_GEOMETRY_JS, box)


def top_bar(page: Any, title: str = DRILL_TITLE, timeout: float = 15) -> tuple[str, float, float]:
    """(factor, x, y) of the top bar of the titled horizontal bar chart, in page pixels."""
    tile(page, title).scroll_into_view_if_needed(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        geo = plot_geometry(page, tile(page, title))
        if geo and geo["factors"]:
            return geo["factors"][-1], geo["left"] + 12, geo["ys"][-1]
        if time.monotonic() > deadline:
            raise Incomplete(f"no bokeh bar chart found in the tile {title!r}")
        page.wait_for_timeout(200)


def drill(page: Any, expected: int, timeout: float = 90) -> tuple[str, Step]:
    """Click the top bar of the drill-down chart: until the tiles updated and the breadcrumb shown."""
    factor, x, y = top_bar(page)
    return factor, settle(page, lambda: page.mouse.click(x, y), expected, True, timeout)


def drill_back(page: Any, expected: int, timeout: float = 90) -> Step:
    """The breadcrumb's Back button: until the tiles updated and the breadcrumb gone."""
    button = page.locator(".drill-back button")
    button.wait_for(state="visible", timeout=timeout * 1000)
    return settle(page, button.click, expected, False, timeout)


# -- concurrent users -----------------------------------------------------------------------------
@dataclass
class Crowd:
    times: list[float]  # s per page, from its navigation's start to complete (the ones that completed)
    urls: list[str]
    failed: int  # pages not complete within the timeout
    spread: float  # s between the first and the last navigation's start
    wall: float  # s, from the first start to the last page complete
    browser_cpu: float = math.nan  # s of CPU the browser's processes used meanwhile
    poll_ms: float = math.nan  # ms one ready check takes on a complete page (its own cost)


def concurrent_users(
    browser: Any,
    storage_state: Any,
    targets: list[tuple[str, int]],
    n: int,
    viewport: Any,
    timeout: float = 240,
) -> Crowd:
    """``n`` signed-in users (each its own browser context) open ``targets`` (url, widgets) round-robin
    at the same time; per page the time from its navigation's start to the page complete.

    The navigations are started by script (``location.assign``) rather than ``page.goto``: the sync
    API's goto returns only once the response head arrived, which would start the pages one after
    another, each behind the server's page build. Completion is polled in each page (CONCURRENT_INIT_JS)
    and read on the browser's epoch clock, so this script's polling does not add to the figures.
    """
    contexts, pages, urls = [], [], []
    try:
        for i in range(n):
            url, expected = targets[i % len(targets)]
            ctx = browser.new_context(storage_state=storage_state, viewport=viewport)
            ctx.add_init_script(script=CONCURRENT_INIT_JS.replace("__EXPECTED__", str(expected)))
            contexts.append(ctx)
            pages.append(ctx.new_page())
            urls.append(url)
        started: list[float] = []
        cpu0 = browser_cpu()
        for page, url in zip(pages, urls, strict=True):
            started.append(time.time() * 1000)
            page.evaluate("(u) => { setTimeout(() => location.assign(u), 0); }", url)
        done: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while len(done) < n and time.monotonic() < deadline:
            time.sleep(0.5)
            for i, page in enumerate(pages):
                if i in done:
                    continue
                try:
                    at = page.evaluate("() => window.__cbiReadyAt ?? null")
                except Exception:  # the page is between documents
                    continue
                if at is not None:
                    done[i] = (at - started[i]) / 1000
        cpu = browser_cpu() - cpu0
        times = [done[i] for i in sorted(done)]
        last = max((started[i] + done[i] * 1000 for i in done), default=started[0])
        poll = math.nan
        if done:
            i = min(done)
            poll = pages[i].evaluate(POLL_COST_JS, targets[i % len(targets)][1])
        spread = (started[-1] - started[0]) / 1000
        return Crowd(times, urls, n - len(done), spread, (last - started[0]) / 1000, cpu, poll)
    finally:
        for ctx in contexts:
            ctx.close()


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- one round of a dashboard -------------------------------------------------------------------
class ServerProbe(Protocol):
    """What a round needs of the benchmark's server: its CPU time and its log."""

    def cpu(self) -> float: ...
    def log(self) -> str: ...
    def page_get_s(self, since: int, dashboard_id: int) -> float | None: ...


T = TypeVar("T", Load, Step)


def select_demos(demos: list[Demo], wanted: list[str]) -> list[Demo]:
    """``--dashboards``: names (case-insensitive, a unique prefix is enough) or ids."""
    if not wanted:
        return demos
    out: list[Demo] = []
    for w in wanted:
        hits = [d for d in demos if str(d.id) == w or d.name.lower().startswith(w.lower())]
        if len(hits) != 1:
            raise SystemExit(f"--dashboards {w!r}: matches {[d.name for d in hits] or 'nothing'}")
        if hits[0] not in out:
            out.append(hits[0])
    return out


def measured(server: ServerProbe, kind: str, t: Timings, fn: Callable[[], T]) -> T | None:
    """Run one load or action, with the server's CPU time around it; a page that does not get there
    is counted as failed for ``kind`` (the run goes on) rather than ending the benchmark."""
    from playwright.sync_api import Error as PlaywrightError

    c0 = server.cpu()
    watchdog = threading.Timer(WATCHDOG_S, kill_renderers)
    watchdog.start()
    try:
        out = fn()
    except (Incomplete, PlaywrightError) as exc:
        t.failed[kind] = t.failed.get(kind, 0) + 1
        say(f"FAILED {t.demo.name} {kind}: {str(exc)[:600]}")
        return None
    finally:
        watchdog.cancel()
    out.cpu = server.cpu() - c0
    return out


#: A step still running after this long is stuck in the browser (seen once: a renderer at 100 % CPU
#: after ~100 loads in one tab; page.goto then waited forever, its own timeout notwithstanding).
WATCHDOG_S = 200.0


def kill_renderers() -> None:
    """Kill this script's Chromium renderer processes: the stuck step fails ("Page crashed") and the
    benchmark goes on with a new page."""
    for proc in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in proc.cmdline():
                say(f"step stuck for {WATCHDOG_S:g} s: killing the Chromium renderer pid {proc.pid}")
                proc.kill()
        except psutil.Error:
            continue


def time_dashboard(
    page: Any, server: ServerProbe, cache: Any, t: Timings, empty: Any, flush_interactions: bool
) -> None:
    """One run of one dashboard: cold, warm, a filter change, drill and back (if it has one)."""
    d = t.demo
    cache.invalidate()
    for kind, url in (("cold", d.url), ("warm", None)):
        mark = len(server.log())
        x = measured(server, kind, t, partial(load, page, url, d.widgets))
        if x is None:  # the page is not there: nothing to interact with in this run
            empty()
            return
        x.build = server.page_get_s(mark, d.id)
        getattr(t, kind).append(x)
    if flush_interactions:
        cache.invalidate()
    label = ""

    def change() -> Step:
        nonlocal label
        label, step = change_time(page, d.widgets)
        return step

    if (s := measured(server, "filter", t, change)) is not None:
        t.filter.append(s)
        t.labels.append(label)
    if d.name == DRILL_DASHBOARD:
        if flush_interactions:
            cache.invalidate()
        if (s := measured(server, "drill", t, lambda: drill(page, d.widgets)[1])) is not None:
            t.drill.append(s)
            if flush_interactions:
                cache.invalidate()
            if (s := measured(server, "back", t, lambda: drill_back(page, d.widgets))) is not None:
                t.back.append(s)
    empty()


def yes_no(good: bool) -> str:
    return "yes" if good else "NO"


def fmt_s(xs: list[float]) -> tuple[str, str]:
    return f"{statistics.median(xs):.2f} s", f"{max(xs):.2f} s"


def p95(xs: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


# -- the table ------------------------------------------------------------------------------------
def timing_rows(
    timings: list[Timings],
    empties: list[Load],
    empty_failed: dict[str, int],
    crowd: Crowd | None,
    crowd_cpu: float,
) -> tuple[list[tuple[str, ...]], float]:
    """The page table's rows (label, p50, max, x empty, target, met, note) and the empty page's p50."""
    base = statistics.median([x.wall for x in empties]) if empties else math.nan
    rows: list[tuple[str, ...]] = []  # label, p50, max, x empty, target, met, note

    def row(
        label: str,
        xs: list[float],
        key: str | None = None,
        note: str = "",
        met: str | None = None,
        rel: bool = True,
    ) -> None:
        tgt = f"<= {RATIOS[key]:g}x" if key else ""
        if not xs:
            rows.append((label, "-", "-", "", tgt, "NO" if key else "", note))
            return
        ratio = statistics.median(xs) / base
        if met is None:
            met = yes_no(ratio <= RATIOS[key]) if key else ""
        rows.append((label, *fmt_s(xs), f"{ratio:.2f}x" if rel else "", tgt, met, note))

    def parts(loads: list[Load]) -> None:
        row("    TTFB (browser: GET incl. server page build)", [x.ttfb for x in loads], rel=False)
        if builds := [x.build for x in loads if x.build is not None]:
            row("    server GET time (tornado access log)", builds, rel=False)
        row(
            "    after TTFB: JS, websocket doc pull, tiles, render",
            [x.wall - x.ttfb for x in loads],
            rel=False,
        )

    def failed(t: dict[str, int], kind: str) -> str:
        return f"{t[kind]} failed" if t.get(kind) else ""

    def steps(label: str, xs: list[Step], key: str, fails: str, extra: str = "") -> None:
        seen = sum(x.seen for x in xs)
        if xs and not seen:
            note, met = f"updating marker not seen (includes the {GRACE_MS / 1000:g} s wait)", "?"
        else:
            note, met = (f"marker seen {seen}/{len(xs)}" if xs else ""), None
        row(label, [x.wall for x in xs], key, "; ".join(x for x in (note, extra, fails) if x), met)

    row(
        "empty dashboard: goto -> 'no widgets' shown",
        [x.wall for x in empties],
        None,
        failed(empty_failed, "empty"),
    )
    parts(empties)
    for t in timings:
        d = t.demo
        rows.append((f"{d.name} ({d.widgets} widgets, id {d.id})", "", "", "", "", "", ""))
        firsts = [f for x in t.cold if (f := x.first_wall) is not None]
        row("  first tile visible (cold cache)", firsts, "first")
        row("  all tiles drawn, cold cache", [x.wall for x in t.cold], "cold", failed(t.failed, "cold"))
        parts(t.cold)
        row("  first tile visible (warm)", [f for x in t.warm if (f := x.first_wall) is not None])
        row("  warm: reload, same filters", [x.wall for x in t.warm], "warm", failed(t.failed, "warm"))
        parts(t.warm)
        labels = " / ".join(dict.fromkeys(t.labels))
        steps(
            "  filter change (Time) -> all tiles updated",
            t.filter,
            "filter",
            failed(t.failed, "filter"),
            labels,
        )
        if d.name == DRILL_DASHBOARD:
            steps("  drill click -> updated, breadcrumb shown", t.drill, "drill", failed(t.failed, "drill"))
            steps("  drill back -> updated, breadcrumb gone", t.back, "back", failed(t.failed, "back"))
    if crowd is not None:
        times = crowd.times
        label = f"{len(crowd.urls)} concurrent users ({len(timings)} dashboards round-robin)"
        rows.append(
            (label, "", "", "", "", "", f"starts spread {crowd.spread:.2f} s, all done {crowd.wall:.1f} s")
        )
        row(
            "  per page: navigation -> complete (p50, max)",
            times,
            None,
            f"{crowd.failed} not complete" if crowd.failed else "",
        )
        if times:
            ratio = p95(times) / base
            met = yes_no(ratio <= RATIOS["crowd_p95"] and not crowd.failed)
            rows.append(
                ("  p95", f"{p95(times):.2f} s", "", f"{ratio:.2f}x", f"<= {RATIOS['crowd_p95']:g}x", met, "")
            )
        rows.append(("  server CPU during the test", f"{crowd_cpu:.1f} s", "", "", "", "", ""))
        rows.append(("  browser CPU during the test", f"{crowd.browser_cpu:.1f} s", "", "", "", "", ""))
        note = "(polled every 500 ms per page; 25 ms for single loads)"
        rows.append(("  one ready check on a complete page", f"{crowd.poll_ms:.1f} ms", "", "", "", "", note))
    return rows, base
