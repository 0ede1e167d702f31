"""REST API: Tornado handlers mounted by the server next to the Panel pages, one module per resource.

``base`` (the handler every endpoint extends: JSON in and out, bearer tokens,
errors), ``ops`` (health, metrics), ``tokens`` (API tokens, ``/api/me``),
``query`` (catalog, ad-hoc queries), ``reports``, ``dashboards`` (and widgets), ``trash``,
``frames`` (DataFrames as Arrow IPC streams when the client asks for them), ``docs``
(``/api/openapi.json`` and ``/api/docs``, generated from this table by :mod:`portal.web.openapi`).
"""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from portal.context import AppContext
from portal.web.api.alerts import (
    AlertHandler,
    AlertsHandler,
    AlertStepHandler,
    NotificationsHandler,
    NotificationsReadHandler,
    ReportTriggerHandler,
    ReportTriggersHandler,
    TicketCloseHandler,
    TicketsHandler,
    TriggerHandler,
)
from portal.web.api.base import BaseHandler, NotFoundHandler, frame_payload
from portal.web.api.dashboards import (
    DashboardDuplicateHandler,
    DashboardFavoriteHandler,
    DashboardHandler,
    DashboardLayoutHandler,
    DashboardsHandler,
    DashboardViewHandler,
    WidgetDataHandler,
    WidgetHandler,
    WidgetsHandler,
)
from portal.web.api.docs import ROUTES as DOCS_ROUTES
from portal.web.api.events_ingest import EVENTS_ROUTES
from portal.web.api.imports import ROUTES as IMPORT_ROUTES
from portal.web.api.jobs import (
    JobActivityHandler,
    JobCancelHandler,
    JobHandler,
    JobMetricsHandler,
    JobRetryHandler,
    JobsHandler,
    OffpeakHandler,
    RebalanceHandler,
    WorkersHandler,
)
from portal.web.api.ops import HealthHandler, metrics_allowed
from portal.web.api.pdf import ROUTES as PDF_ROUTES
from portal.web.api.pdf_signing import ROUTES as PDF_SIGNING_ROUTES
from portal.web.api.people import ROUTES as PEOPLE_ROUTES
from portal.web.api.query import CatalogHandler, EstimateHandler, QueryHandler
from portal.web.api.reports import (
    ExecuteHandler,
    ExecutionExportHandler,
    ExecutionsHandler,
    ReportHandler,
    ReportsHandler,
)
from portal.web.api.schedules import (
    ReportScheduleHandler,
    ScheduleHandler,
    SchedulePreviewHandler,
    SchedulesHandler,
)
from portal.web.api.share import SHARE_ROUTES
from portal.web.api.sources import SOURCES_ROUTES
from portal.web.api.tokens import MeHandler, TokenHandler, TokensHandler
from portal.web.api.trash import TrashHandler, TrashRestoreHandler
from portal.web.realtime import REALTIME_ROUTES

__all__ = ["BaseHandler", "frame_payload", "metrics_allowed", "routes"]


def routes(ctx: AppContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """URL patterns of the REST API, for ``pn.serve(extra_patterns=...)`` or a plain Tornado app."""
    table: list[tuple[str, type[RequestHandler]]] = [
        (r"/healthz", HealthHandler),
        (r"/metrics", JobMetricsHandler),  # the core's series and the job series (portal.jobqueue.metrics)
        (r"/api/tokens", TokensHandler),
        (r"/api/tokens/(\d{1,18})", TokenHandler),
        (r"/api/me", MeHandler),
        (r"/api/catalog", CatalogHandler),
        (r"/api/query", QueryHandler),
        (r"/api/query/estimate", EstimateHandler),
        (r"/api/reports", ReportsHandler),
        (r"/api/reports/(\d{1,18})", ReportHandler),
        (r"/api/reports/(\d{1,18})/execute", ExecuteHandler),
        (r"/api/reports/(\d{1,18})/executions", ExecutionsHandler),
        (r"/api/executions/(\d{1,18})/export", ExecutionExportHandler),
        (r"/api/dashboards", DashboardsHandler),
        (r"/api/dashboards/(\d{1,18})", DashboardHandler),
        (r"/api/dashboards/(\d{1,18})/duplicate", DashboardDuplicateHandler),
        (r"/api/dashboards/(\d{1,18})/favorite", DashboardFavoriteHandler),
        (r"/api/dashboards/(\d{1,18})/view", DashboardViewHandler),
        (r"/api/dashboards/(\d{1,18})/layout", DashboardLayoutHandler),
        (r"/api/widgets", WidgetsHandler),
        (r"/api/widgets/(\d{1,18})", WidgetHandler),
        (r"/api/widgets/(\d{1,18})/data", WidgetDataHandler),
        (r"/api/schedules/preview", SchedulePreviewHandler),
        (r"/api/reports/(\d{1,18})/schedule", ReportScheduleHandler),
        (r"/api/schedules", SchedulesHandler),
        (r"/api/schedules/(\d{1,18})", ScheduleHandler),
        (r"/api/jobs", JobsHandler),
        (r"/api/jobs/activity", JobActivityHandler),
        (r"/api/jobs/(\d{1,18})", JobHandler),
        (r"/api/jobs/(\d{1,18})/cancel", JobCancelHandler),
        (r"/api/jobs/(\d{1,18})/retry", JobRetryHandler),
        (r"/api/workers", WorkersHandler),
        (r"/api/workers/rebalance", RebalanceHandler),
        (r"/api/offpeak", OffpeakHandler),
        (r"/api/trash", TrashHandler),
        (r"/api/trash/(report|dashboard)/(\d{1,18})/restore", TrashRestoreHandler),
        (r"/api/reports/(\d{1,18})/trigger", ReportTriggerHandler),
        (r"/api/reports/(\d{1,18})/triggers", ReportTriggersHandler),
        (r"/api/triggers/(\d{1,18})", TriggerHandler),
        (r"/api/alerts", AlertsHandler),
        (r"/api/alerts/(\d{1,18})", AlertHandler),
        (r"/api/alerts/(\d{1,18})/(ack|close|reopen)", AlertStepHandler),
        (r"/api/alert-tickets", TicketsHandler),
        (r"/api/alert-tickets/(\d{1,18})/close", TicketCloseHandler),
        (r"/api/notifications", NotificationsHandler),
        (r"/api/notifications/read", NotificationsReadHandler),
        *PDF_ROUTES,
        *PDF_SIGNING_ROUTES,
        *PEOPLE_ROUTES,
        *SHARE_ROUTES,
        *EVENTS_ROUTES,  # /api/events (exact path), /api/event-settings, -dimensions, -builds
        *REALTIME_ROUTES,  # /api/events/{channel}, WS /realtime, /sse/dashboards/{id}
        *SOURCES_ROUTES,
        *IMPORT_ROUTES,
        *DOCS_ROUTES,  # /api/openapi.json and /api/docs, generated from this table
        (r"/api/.*", NotFoundHandler),
    ]
    return [(pattern, h, {"ctx": ctx, "route": pattern}) for pattern, h in table]
