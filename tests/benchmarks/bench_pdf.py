"""PDF renderer benchmark (not part of the test command; prints tables).

    .venv/bin/python -m tests.benchmarks.bench_pdf [--rows 5000] [--charts 20] [--repeat 3]
        [--big-pages 500] [--skip-memory] [--with-fpdf-table] [--what-if-no-tab-reload]

(1) A report of a cover, a table of contents, ``--charts`` charts two per page (distinct data,
    so no chart comes from the image cache) and a ``--rows``-row table with subtotals by
    region (warehouse summaries), rendered with Kaleido already running (a render worker keeps
    one Chromium per process; its cold start is printed apart). Per chart: the marginal cost in
    the report (the report minus the same report without charts, over the charts: the
    renderer overlaps Kaleido with the rest), and a steady export alone, split into the figure
    (``portal.viz.charts.render``: HoloViews -> plotly) and the Kaleido PNG. Targets: total
    < 8 s, chart <= 0.15 s.
(2) Our table writer (``reports_pdf.tables.draw_table``: formats, colour rules, subtotal rows,
    header repeated) against bare fpdf2 writing the same ``--rows`` cells, pre-formatted and
    without colours, in the same process: a ``cell()`` loop, a ``text()`` loop, and with
    ``--with-fpdf-table`` fpdf2's ``table()`` (~25 s). CPU time, best of ``--repeat``.
    Target: ours <= 1.3x bare fpdf2.
(3) Memory of a ``--big-pages``-page render (a long table plus the charts, from the cache):
    RSS growth (psutil, a fresh render after a warm-up) and the tracemalloc peak (a second
    render, slower under tracing).
(4) Headless Chromium ``page.pdf`` of the Maintenance dashboard: :func:`chromium_pdf_rows`.

``--what-if-no-tab-reload`` repeats the chart timing with kaleido's per-render tab reload
skipped (monkeypatched in this process only): kaleido 1.5.1 reloads plotly.js in its tab after
every image, which is most of each export; this shows what a backend without it would give.

The machine's load average is printed: other processes on the two cores skew every figure.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
from fpdf import FPDF

from portal.pdf.inputs import ElementData, RenderInput, RenderOptions
from portal.specs.pdf import PdfTemplateSpec, TableElement
from portal.viz.plotly_backend import kaleido_image
from reports_pdf import render
from reports_pdf.charts import CACHE, chart_figure, px
from reports_pdf.document import ReportDocument
from reports_pdf.fonts import font_path
from reports_pdf.layout import Slot
from reports_pdf.tables import draw_table, format_cells, plan_columns

CREATED = datetime(2024, 4, 1, 12, 0)
REGIONS = [f"Região {c}" for c in "ABCDEFGHIJKLMNOPQRST"]
VIZ = ["line", "column", "bar", "area", "pie", "donut"]


# --------------------------------------------------------------------------- the report
def rows_frame(n: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``n`` site rows, their subtotals by region and the grand total (as the warehouse returns them)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "region": rng.choice(REGIONS, n),
            "site": [f"Unidade {i:05d} — São José" for i in range(n)],
            "opened": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "cost": rng.uniform(10, 5000, n).round(2),
            "tickets": rng.integers(1, 80, n),
            "sla": rng.uniform(0.5, 1, n),
        }
    )
    frame = frame.sort_values(["region", "site"]).reset_index(drop=True)
    sub = frame.groupby("region", as_index=False).agg(
        cost=("cost", "sum"), tickets=("tickets", "sum"), sla=("sla", "mean")
    )
    tot = pd.DataFrame(
        {"cost": [frame.cost.sum()], "tickets": [frame.tickets.sum()], "sla": [frame.sla.mean()]}
    )
    return frame, sub, tot


def table_element(font_size: float) -> dict[str, Any]:
    return {
        "kind": "table",
        "id": "tab",
        "binding": {"report_id": 1},
        "subtotals_by": "region",
        "font_size": font_size,
        "columns": [
            {"name": "region", "width": 2},
            {"name": "site", "width": 3},
            {"name": "opened", "format": "date"},
            {"name": "cost", "format": "currency", "rules": [{"op": ">", "than": 4000, "color": "#b91c1c"}]},
            {"name": "tickets"},
            {"name": "sla", "format": "percent"},
        ],
        "box": {"x": 15, "y": 45, "w": 180, "h": 200},
    }


def chart_frames(n_charts: int, seed: int = 2) -> dict[str, tuple[dict[str, Any], pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_charts):
        viz = VIZ[i % len(VIZ)]
        if viz in ("line", "area"):
            frame = pd.DataFrame(
                {
                    "month": pd.date_range("2024-01-01", periods=12, freq="MS").repeat(3),
                    "region": REGIONS[:3] * 12,
                    "tickets": rng.uniform(10, 100, 36).round() + i,
                }
            )
            chart = {"viz": viz, "x": "month", "y": ["tickets"], "series": "region", "title": f"Chamados {i}"}
        else:
            frame = pd.DataFrame({"region": REGIONS[:6], "tickets": rng.uniform(10, 100, 6).round() + i})
            chart = {"viz": viz, "x": "region", "y": ["tickets"], "title": f"Chamados por região {i}"}
        out[f"c{i}"] = (chart, frame)
    return out


def report(rows: int, n_charts: int, font_size: float = 6) -> tuple[PdfTemplateSpec, RenderInput]:
    """The benchmark report and its data."""
    frame, sub, tot = rows_frame(rows)
    charts = chart_frames(n_charts)
    pages: list[dict[str, Any]] = [
        {
            "kind": "cover",
            "elements": [
                {
                    "kind": "title",
                    "id": "cover",
                    "text": "Relatório de Manutenção — São Paulo",
                    "in_toc": False,
                    "box": {"x": 20, "y": 100, "w": 170, "h": 20},
                }
            ],
        },
        {"elements": [{"kind": "toc", "id": "toc", "box": {"x": 15, "y": 30, "w": 180, "h": 100}}]},
    ]
    ids = list(charts)
    for p in range(0, len(ids), 2):
        elements: list[dict[str, Any]] = [
            {
                "kind": "title",
                "id": f"t{p}",
                "text": f"Indicadores {p // 2 + 1}",
                "box": {"x": 15, "y": 30, "w": 180, "h": 10},
            }
        ]
        for j, cid in enumerate(ids[p : p + 2]):
            elements.append(
                {
                    "kind": "chart",
                    "id": cid,
                    "binding": {"report_id": 1},
                    "chart": charts[cid][0],
                    "box": {"x": 15, "y": 45 + j * 115, "w": 180, "h": 105},
                }
            )
        pages.append({"elements": elements})
    pages.append(
        {
            "elements": [
                {
                    "kind": "title",
                    "id": "tt",
                    "text": "Detalhe por unidade",
                    "box": {"x": 15, "y": 30, "w": 180, "h": 10},
                },
                table_element(font_size),
            ]
        }
    )
    spec = PdfTemplateSpec.model_validate(
        {"name": "Benchmark", "theme": {"brand": {"company": "Acme Facilities"}}, "pages": pages}
    )
    data = {cid: ElementData(frame=f) for cid, (_, f) in charts.items()}
    data["tab"] = ElementData(frame=frame, subtotals=sub, totals=tot)
    return spec, RenderInput(data=data, options=RenderOptions(creation_date=CREATED))


# --------------------------------------------------------------------------- (1) report and charts
def warm_kaleido() -> float:
    """Start Chromium (and import HoloViews' plotly backend): what a render worker did once already."""
    t = time.perf_counter()
    spec, _ = report(10, 1)
    chart, frame = chart_frames(1)["c0"]
    chart_figure(spec.element("c0").chart, frame, None, spec.theme, (100, 100))
    kaleido_image(
        {"data": [{"type": "bar", "x": [1], "y": [1]}], "layout": {}},
        {"format": "png", "width": 100, "height": 100},
    )
    return time.perf_counter() - t


def steady_charts(n_charts: int) -> tuple[float, float, list[bytes]]:
    """Mean seconds per chart: figure building, Kaleido export (and the images)."""
    spec, _ = report(10, n_charts)
    theme = spec.theme
    size = (px(180), px(105))
    fig_s, png_s, images = [], [], []
    for cid, (chart, frame) in chart_frames(n_charts).items():
        element = spec.element(cid)
        t0 = time.perf_counter()
        fig = chart_figure(element.chart, frame, None, theme, size)
        t1 = time.perf_counter()
        images.append(kaleido_image(fig, {"format": "png", "width": size[0], "height": size[1], "scale": 2}))
        t2 = time.perf_counter()
        fig_s.append(t1 - t0)
        png_s.append(t2 - t1)
        del chart
    return statistics.mean(fig_s), statistics.mean(png_s), images


def no_tab_reload() -> Callable[[], None]:
    """Skip kaleido's reload of its tab after each image (this process only); returns the undo."""
    import kaleido

    original = kaleido.Kaleido._return_kaleido_tab

    async def put_back(self: Any, tab: Any) -> None:
        await self.tabs_ready.put(tab)

    kaleido.Kaleido._return_kaleido_tab = put_back

    def undo() -> None:
        kaleido.Kaleido._return_kaleido_tab = original

    return undo


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def report_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cold = warm_kaleido()
    out.append({"measure": "Kaleido cold start (once per worker)", "value": f"{cold:.2f} s", "target": "-"})
    spec, inputs = report(args.rows, args.charts)
    totals = []
    pages = 0
    for _ in range(args.repeat):
        CACHE.clear()
        t = time.perf_counter()
        result = render(spec, inputs)
        totals.append(time.perf_counter() - t)
        pages = result.pages
        assert not result.errors, result.errors
    best = min(totals)
    out.append(
        {
            "measure": f"report: {pages} pages, {args.charts} charts, {args.rows:,}-row grouped table (best of {args.repeat})",
            "value": f"{best:.2f} s (median {statistics.median(totals):.2f})",
            "target": "< 8 s " + ("met" if best < 8 else "NOT met"),
        }
    )
    CACHE.clear()
    t = time.perf_counter()
    render(spec, inputs)
    render_cold = time.perf_counter() - t
    t = time.perf_counter()
    render(spec, inputs)
    cached = time.perf_counter() - t
    out.append(
        {
            "measure": "same report, charts from the image cache (designer preview)",
            "value": f"{cached:.2f} s (vs {render_cold:.2f} s uncached)",
            "target": "-",
        }
    )
    no_charts_spec, no_charts_inputs = report(args.rows, 0)
    plain = min(timed(lambda: render(no_charts_spec, no_charts_inputs)) for _ in range(args.repeat))
    marginal = (best - plain) / max(args.charts, 1)
    out.append(
        {
            "measure": "same report without its charts; marginal cost per chart in the report",
            "value": f"{plain:.2f} s; {marginal:.3f} s per chart",
            "target": "<= 0.15 s " + ("met" if marginal <= 0.15 else "NOT met"),
        }
    )
    fig, png, images = steady_charts(args.charts)
    per = fig + png
    out.append(
        {
            "measure": "steady chart: figure (portal.viz render, HoloViews)",
            "value": f"{fig:.3f} s",
            "target": "-",
        }
    )
    out.append(
        {
            "measure": "steady chart: Kaleido PNG 2x (plotly_backend.kaleido_image)",
            "value": f"{png:.3f} s",
            "target": "-",
        }
    )
    out.append(
        {
            "measure": "steady chart: total",
            "value": f"{per:.3f} s",
            "target": "<= 0.15 s " + ("met" if per <= 0.15 else "NOT met"),
        }
    )
    if args.what_if_no_tab_reload:
        undo = no_tab_reload()
        try:
            warm_kaleido()
            fig2, png2, images2 = steady_charts(args.charts)
            same = sum(a == b for a, b in zip(images, images2, strict=True))
            out.append(
                {
                    "measure": "what-if: Kaleido without the per-image tab reload",
                    "value": f"PNG {png2:.3f} s, total {fig2 + png2:.3f} s ({same}/{len(images)} images identical)",
                    "target": "<= 0.15 s " + ("met" if fig2 + png2 <= 0.15 else "NOT met"),
                }
            )
            what_if = []
            for _ in range(args.repeat):
                CACHE.clear()
                what_if.append(timed(lambda: render(spec, inputs)))
            out.append(
                {
                    "measure": "what-if: the report without the tab reload; marginal cost per chart",
                    "value": f"{min(what_if):.2f} s; {(min(what_if) - plain) / max(args.charts, 1):.3f} s per chart",
                    "target": "< 8 s; <= 0.15 s",
                }
            )
        finally:
            undo()
    return out


# --------------------------------------------------------------------------- (2) table writer
def table_inputs(rows: int) -> tuple[PdfTemplateSpec, TableElement, ElementData]:
    spec, inputs = report(rows, 0)
    el = spec.element("tab")
    assert isinstance(el, TableElement)
    return spec, el, inputs.data["tab"]


def ours(spec: PdfTemplateSpec, el: TableElement, data: ElementData) -> float:
    doc = ReportDocument(spec, spec.theme, pdfa=False, creation_date=CREATED.astimezone(), max_pages=100_000)
    doc.new_page("body")
    doc.font(el.font_size or 6, "")
    doc.font(el.font_size or 6, "B")
    t = time.process_time()
    draw_table(doc, el, data, spec.theme, x=15, width=180, start=Slot(1, 45), top=29, bottom=268)
    return time.process_time() - t


def bare(el: TableElement, data: ElementData, mode: str) -> float:
    """Bare fpdf2 writing the same cells (pre-formatted strings, no colours, no summaries)."""
    assert data.frame is not None
    cols = plan_columns(el, data.frame, None, 180)
    cells = list(zip(*[format_cells(data.frame[c.name], c.format, c.decimals) for c in cols], strict=True))
    size = el.font_size or 6
    rh = size / 72 * 25.4 * 1.75
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("dv", "", str(font_path("DejaVu Sans")))
    pdf.add_font("dv", "B", str(font_path("DejaVu Sans", "B")))
    pdf.add_page()
    pdf.set_font("dv", "", size)
    labels = [c.label for c in cols]
    widths = [c.width for c in cols]
    t = time.process_time()
    if mode == "table()":
        with pdf.table(col_widths=widths, line_height=rh, first_row_as_headings=True) as table:
            for row in [labels, *cells]:
                r = table.row()
                for s in row:
                    r.cell(s)
        return time.process_time() - t
    y = 45.0

    def line(texts: list[str] | tuple[str, ...]) -> None:
        x = 15.0
        for w, s in zip(widths, texts, strict=True):
            if mode == "cell()":
                pdf.set_xy(x, y)
                pdf.cell(w, rh, s)
            else:
                pdf.text(x + 1.2, y + rh * 0.65, s)
            x += w

    pdf.set_font("dv", "B", size)
    line(labels)
    pdf.set_font("dv", "", size)
    y += rh
    for row in cells:
        if y + rh > 268:
            pdf.add_page()
            y = 29.0
            pdf.set_font("dv", "B", size)
            line(labels)
            pdf.set_font("dv", "", size)
            y += rh
        line(row)
        y += rh
    return time.process_time() - t


def table_rows_bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    spec, el, data = table_inputs(args.rows)
    modes = ["cell()", "text()"] + (["table()"] if args.with_fpdf_table else [])
    times: dict[str, list[float]] = {"ours": [], **{m: [] for m in modes}}
    for _ in range(args.repeat):
        times["ours"].append(ours(spec, el, data))
        for m in modes:
            if m == "table()" and times[m]:
                continue
            times[m].append(bare(el, data, m))
    best = {k: min(v) for k, v in times.items()}
    out = [
        {
            "measure": f"table writer, {args.rows:,} rows (ours: formats, rules, subtotals)",
            "value": f"{best['ours']:.3f} s CPU",
            "target": "-",
        }
    ]
    for m in modes:
        ratio = best["ours"] / best[m]
        out.append(
            {
                "measure": f"bare fpdf2 {m} loop, same cells",
                "value": f"{best[m]:.3f} s CPU (ours/bare {ratio:.2f}x)",
                "target": "<= 1.3x " + ("met" if ratio <= 1.3 else "NOT met"),
            }
        )
    return out


# --------------------------------------------------------------------------- (3) memory
class PeakRss:
    """The highest RSS of this process while the block runs (sampled every 5 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = psutil.Process().memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def memory_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows_per_page = 47  # 8 pt rows on an A4 body page, subtotal rows included
    rows = max(1000, (args.big_pages - 12) * rows_per_page + 50)
    spec, inputs = report(rows, args.charts, font_size=8)
    small_spec, small_inputs = report(200, args.charts, font_size=8)
    render(small_spec, small_inputs)  # warm-up: imports, fonts, the charts into the image cache
    gc.collect()
    before = psutil.Process().memory_info().rss
    t = time.perf_counter()
    with PeakRss() as rss:
        result = render(spec, inputs)
    took = time.perf_counter() - t
    del result
    gc.collect()
    tracemalloc.start()
    try:
        result = render(spec, inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    frame_mb = (
        sum(int(d.frame.memory_usage(deep=True).sum()) for d in inputs.data.values() if d.frame is not None)
        / 1e6
    )
    return [
        {
            "measure": f"{result.pages}-page render ({rows:,} rows + {args.charts} cached charts)",
            "value": f"{took:.2f} s, PDF {len(result.pdf) / 1e6:.1f} MB",
            "target": "-",
        },
        {
            "measure": "  peak RSS during the render, above the RSS before it",
            "value": f"{(rss.peak - before) / 1e6:.1f} MB (RSS before {before / 1e6:.0f} MB)",
            "target": "modest",
        },
        {
            "measure": "  tracemalloc peak during the render",
            "value": f"{peak / 1e6:.1f} MB (input frames {frame_mb:.1f} MB)",
            "target": "modest",
        },
    ]


# --------------------------------------------------------------------------- (4) Chromium page.pdf
def chromium_pdf_rows() -> list[dict[str, Any]]:
    """Headless Chromium ``page.pdf`` of the demo "Maintenance & Expenses" dashboard (the way web BI
    tools make PDFs) against our render of the demo "Relatório de Manutenção e Despesas" template
    (the same facts: KPIs, cost and expense charts, tables) on the same demo data.

    Builds the default demo in a temp home (``conductor demo --no-serve``), starts the portal as
    ``.ci/portal`` does, signs in with Playwright and the system Chromium, waits until every tile
    is drawn, then times ``page.pdf(format="A4")``; ours is timed in this process (data in the
    analyst's scope + the renderer, Kaleido warm).
    """
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from portal.infra.redis_server import EmbeddedRedis, free_port
    from tests.benchmarks import bench_dashboard as bd
    from tests.benchmarks.browser_timing import load as load_page
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    work = Path(tempfile.mkdtemp(prefix="conductor-bench-pdf-"))
    home, port = work / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL")}
    redis = EmbeddedRedis(work / "redis")
    server = None
    rows: list[dict[str, Any]] = []
    try:
        env.update(CONDUCTOR_HOME=str(home), CONDUCTOR_PORT=str(port), REDIS_URL=redis.start())
        bd.build_demo(env)
        demos, _ = bd.prepare_dashboards(home)
        maint = next(d for d in demos if d.name == "Maintenance & Expenses")
        server = bd.start_server({**env, **bd.launcher_env()}, work / "server.log", base)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport=bd.VIEWPORT).new_page()
            page.goto(f"{base}/login?next=/")
            page.fill("input[name=email]", bd.EMAIL)
            page.fill("input[name=password]", bd.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            loaded = load_page(page, f"{base}/dashboard?id={maint.id}", maint.widgets)
            times, size = [], 0
            for _ in range(3):
                t0 = time.perf_counter()
                size = len(page.pdf(format="A4", print_background=True))
                times.append(time.perf_counter() - t0)
            browser.close()
        rows.append(
            {
                "measure": "Chromium page.pdf, Maintenance dashboard (best of 3; page load before it)",
                "value": f"{min(times):.2f} s (+ {loaded.wall:.2f} s load), {size / 1e6:.2f} MB",
                "target": "-",
            }
        )
        from portal.config import Settings
        from portal.context import build_context
        from portal.identity.principal import principal_for_user_id
        from portal.models import PdfTemplate, User
        from portal.pdf.bindings import apply_overrides, render_input
        from portal.pdf.templates import template_spec

        os.environ["CONDUCTOR_HOME"] = str(home)
        ctx = build_context(Settings.from_env().with_(redis_url=env["REDIS_URL"]))
        try:
            with ctx.sessions() as s:
                uid = s.scalar(select(User.id).where(User.email == bd.EMAIL))
                assert uid is not None
                principal = principal_for_user_id(s, uid)
                t = s.scalar(
                    select(PdfTemplate).where(
                        PdfTemplate.tenant_id == principal.tenant_id,
                        PdfTemplate.name == "Relatório de Manutenção e Despesas",
                    )
                )
                assert t is not None
                spec = apply_overrides(template_spec(t), {})
                ours = []
                for i in range(3):
                    CACHE.clear()
                    t0 = time.perf_counter()
                    inputs = render_input(s, principal, ctx.warehouse, spec, use_cache=i > 0)
                    result = render(spec, inputs)
                    ours.append(time.perf_counter() - t0)
        finally:
            ctx.close()
        rows.append(
            {
                "measure": "ours: Maintenance template, data + render (best of 3, charts not cached)",
                "value": f"{min(ours):.2f} s, {len(result.pdf) / 1e6:.2f} MB, {result.pages} pages, text searchable",
                "target": "-",
            }
        )
    except Exception as exc:  # a benchmark row says why it is missing rather than hiding the table
        rows.append(
            {"measure": "Chromium page.pdf comparison", "value": f"failed: {exc!r}"[:200], "target": "-"}
        )
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--charts", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--big-pages", type=int, default=500)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--with-fpdf-table", action="store_true")
    p.add_argument("--what-if-no-tab-reload", action="store_true")
    p.add_argument("--skip-chromium", action="store_true", help="skip the headless-Chromium page.pdf rows")
    args = p.parse_args(argv)
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs", flush=True
    )
    rows = report_rows(args)
    rows += table_rows_bench(args)
    if not args.skip_memory:
        rows += memory_rows(args)
    if not args.skip_chromium:
        rows += chromium_pdf_rows()
    table = pd.DataFrame(rows)
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        print(table.to_string(index=False))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
