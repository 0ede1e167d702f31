"""Prometheus metrics of the core (exposed by the server at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

QUERY_CACHE = Counter("conductor_query_cache_total", "Query cache lookups", ["result"])
QUERY_SECONDS = Histogram(
    "conductor_query_seconds",
    "Warehouse query time (cache misses)",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HTTP_REQUESTS = Counter("conductor_http_requests_total", "REST requests", ["method", "route", "status"])
REPORT_EXECUTIONS = Counter("conductor_report_executions_total", "Report executions", ["status"])
PDF_RENDERS = Counter("conductor_pdf_renders_total", "PDF renders", ["status"])
PDF_RENDER_SECONDS = Histogram(
    "conductor_pdf_render_seconds",
    "PDF render time (data, drawing, signing)",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
PDF_PAGES = Counter("conductor_pdf_pages_total", "Pages of finished PDF renders")
