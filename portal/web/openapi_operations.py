"""What the OpenAPI document (:mod:`portal.web.openapi`) says beyond what the handlers' code shows.

:data:`OPERATIONS` by ``Handler.method`` (or ``METHOD /path`` for one alternative of a route):
the request body — a pydantic model the handler validates with (:class:`Model`, emitted into
``components/schemas``) or the fields of ``self.body(allowed)`` (:func:`fields`, no other key
allowed) —, query parameters, the success statuses with their content types, and whether an
API token is needed. :data:`SUMMARIES` gives a line to handler methods without a docstring.
A handler named in neither is still documented, from its code alone.

Response schemas say only what always holds (schemathesis checks every answer against them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, create_model
from pydantic.json_schema import JsonSchemaMode

from portal.dashboards.specs import DashboardIn, DashboardPatch
from portal.data.exports import FORMATS as EXPORT_FORMATS
from portal.identity.auth import MAX_TOKEN_DAYS
from portal.jobstore.queries import MAX_LIMIT as MAX_JOBS_PAGE
from portal.pdf.schedules import FIELDS as PDF_SCHEDULE_FIELDS
from portal.reports.schedules import FORMATS as SCHEDULE_FORMATS
from portal.reports.schedules import SCHEDULE_FIELDS
from portal.reports.service import ReportIn
from portal.specs import JobClass, Position, Priority, QuerySpec, TriggerSpec, WidgetSpec
from portal.specs.jobs import OffpeakConfigSpec, QueueLimitsSpec
from portal.specs.pdf import PdfTemplateSpec, ThemeSpec
from portal.specs.share import SHARE_OBJECT_TYPES, ShareRequest

Schema = dict[str, Any]
JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class Model:
    """A pydantic model named in a declaration: a ``$ref`` into ``components/schemas``."""

    model: type[BaseModel]
    mode: JsonSchemaMode = "validation"


@dataclass(frozen=True)
class Op:
    """What an operation takes and answers beyond what its handler's code shows.

    ``body``: the JSON request body's schema (a :class:`Model` or a schema that may hold
    models), None for no body. ``query``: query parameters (name → schema; names in
    ``required_query`` must be given). ``ok``: success status → ``{media type: schema}``
    (an empty mapping: no content). ``public``: no API token needed. ``example``: a request
    body that works on the demo data (tests/integration/test_openapi.py sends each one).
    """

    body: Model | Schema | None = None
    body_required: bool = False
    example: Any = None
    query: Mapping[str, Schema] = field(default_factory=dict)
    required_query: tuple[str, ...] = ()
    ok: Mapping[int, Mapping[str, Any]] = field(default_factory=lambda: {200: {JSON: OBJECT}})
    public: bool = False
    security_note: str = ""


OBJECT: Schema = {"type": "object"}
NO_CONTENT: Mapping[int, Mapping[str, Any]] = {204: {}}
STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
TEXT_LIST: Schema = {"type": "array", "items": STRING}
INT_LIST: Schema = {"type": "array", "items": INT}
PRIORITY: Schema = {"type": "string", "enum": [p.value for p in Priority]}
FLAG: Schema = {"type": "string", "enum": ["0", "1", "true", "false"]}


def fields(*required: str, **props: Any) -> Schema:
    """The body of a handler reading ``self.body(allowed)``: exactly these keys, nothing else."""
    out: Schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def listing(key: str, **more: Schema) -> Schema:
    """An answer ``{"<key>": [...], ...}``."""
    return {"type": "object", "required": [key, *more], "properties": {key: {"type": "array"}, **more}}


def created(schema: Schema = OBJECT) -> Mapping[int, Mapping[str, Any]]:
    """A 201 JSON answer."""
    return {201: {JSON: schema}}


def _model_with(base: type[BaseModel], model_name: str, **extra: Any) -> type[BaseModel]:
    """``base`` plus a few fields the handler reads next to it (same config: unknown keys refused)."""
    model: type[BaseModel] = create_model(model_name, __base__=base, **extra)
    return model


#: ``POST /api/reports/{id}/trigger``: a TriggerSpec and the trigger's name.
TriggerIn = _model_with(TriggerSpec, "TriggerIn", name=(str | None, None))

_SCHEDULE_BODY: Schema = fields(
    schedule_expr={"type": "string", "description": "a 5-field cron expression or an RFC 5545 RRULE"},
    timezone={"type": "string", "description": "an IANA time zone, e.g. America/Sao_Paulo"},
    offpeak_only=BOOL,
    priority=PRIORITY,
    recipients={"oneOf": [TEXT_LIST, STRING]},
    format={"type": "string", "enum": list(SCHEDULE_FORMATS)},
    delivery={"type": "object"},
    is_active=BOOL,
)
assert set(_SCHEDULE_BODY["properties"]) == set(SCHEDULE_FIELDS)
_PDF_SCHEDULE_BODY: Schema = fields(
    schedule_expr=STRING,
    timezone=STRING,
    offpeak_only=BOOL,
    priority=PRIORITY,
    params=OBJECT,
    recipients={"oneOf": [TEXT_LIST, STRING]},
    in_app=BOOL,
    link=BOOL,
    is_active=BOOL,
)
assert set(_PDF_SCHEDULE_BODY["properties"]) == set(PDF_SCHEDULE_FIELDS)
_FILTER_ARGS: dict[str, Schema] = {
    "time_range": STRING,
    "customer": STRING,
    "location": STRING,
    "team": STRING,
}
_QUERY_BODY = fields("query", query=Model(QuerySpec), params=OBJECT)
_QUERY_EXAMPLE: dict[str, Any] = {
    "source": "tickets",
    "metrics": [
        {"agg": "count", "as": "tickets"},
        {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
    ],
    "group_by": ["team_name"],
    "filters": [{"column": "opened_at", "op": "between", "value": "{{now-90d}}..{{now}}"}],
    "sort": [{"by": "tickets", "desc": True}],
    "limit": 10,
}
_SCHEDULE_EXAMPLE: dict[str, Any] = {"schedule_expr": "0 8 * * 1-5", "timezone": "America/Sao_Paulo"}
_RUN_BODY: dict[str, Schema] = {
    "params": OBJECT,
    "priority": PRIORITY,
    "offpeak_only": BOOL,
    "override": BOOL,
}
_LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": 500}
_ID: Schema = {"type": "integer", "minimum": 1, "maximum": 2**62 - 1}
_VERSION: Schema = {"type": "integer", "minimum": 1, "maximum": 999_999_999}
_OFFPEAK = Model(OffpeakConfigSpec, "serialization")
_USER_FIELDS: dict[str, Schema] = {
    "name": STRING,
    "is_admin": BOOL,
    "locations": INT_LIST,
    "contracts": INT_LIST,
    "customer_id": {"type": ["integer", "null"]},
}
_DOWNLOAD_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
_BINARY: Schema = {"type": "string", "contentMediaType": "application/octet-stream"}
_HEALTH: Schema = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}, "checks": OBJECT},
}

#: Declarations by ``Handler.method`` (or ``METHOD /path`` for one of a route's alternatives).
#: A handler not named here is documented from its code alone (a permissive body and answer).
OPERATIONS: dict[str, Op] = {
    # ops
    "HealthHandler.get": Op(public=True, ok={200: {JSON: _HEALTH}, 503: {JSON: _HEALTH}}),
    "JobMetricsHandler.get": Op(
        public=True,
        security_note="For scrapers: `Authorization: Bearer <CONDUCTOR_METRICS_TOKEN>` or a client in "
        "CONDUCTOR_METRICS_NETWORKS (loopback by default); anyone else gets a 404.",
        ok={200: {"text/plain": STRING}},
    ),
    # tokens
    "TokensHandler.get": Op(ok={200: {JSON: listing("tokens")}}),
    "TokensHandler.post": Op(
        public=True,
        body=fields(
            "email",
            "password",
            email=STRING,
            password=STRING,
            name=STRING,
            days={"type": "integer", "minimum": 1, "maximum": MAX_TOKEN_DAYS},
        ),
        body_required=True,
        ok=created(
            {
                "type": "object",
                "required": ["token", "token_id", "user"],
                "properties": {"token": STRING, "token_id": INT, "user": OBJECT},
            }
        ),
    ),
    "TokenHandler.delete": Op(),
    # query
    "CatalogHandler.get": Op(ok={200: {JSON: {"type": "object", "required": ["sources"]}}}),
    "QueryHandler.post": Op(
        body=_QUERY_BODY,
        body_required=True,
        example={"query": _QUERY_EXAMPLE},
        ok={200: {JSON: {"type": "object", "required": ["columns", "rows", "row_count"]}, ARROW: _BINARY}},
    ),
    "EstimateHandler.post": Op(body=_QUERY_BODY, body_required=True, example={"query": _QUERY_EXAMPLE}),
    # reports
    "ReportsHandler.get": Op(
        query={"group": {"type": "string", "enum": ["mine", "team", "public"]}, "search": STRING},
        ok={200: {JSON: listing("reports")}},
    ),
    "ReportsHandler.post": Op(
        body=Model(ReportIn),
        body_required=True,
        example={"name": "Tickets by team", "query": _QUERY_EXAMPLE, "visibility": "private"},
        ok=created(),
    ),
    "ReportHandler.put": Op(body=Model(ReportIn), body_required=True),
    "ReportHandler.delete": Op(ok=NO_CONTENT),
    "ExecuteHandler.post": Op(
        body=fields(
            **_RUN_BODY,
            use_cache=BOOL,
            window=OBJECT,
            wait={"type": "number", "minimum": 0, "maximum": 60},
        ),
        query={"preview": {"type": "string", "enum": ["0", "1"]}},
        ok={201: {JSON: OBJECT, ARROW: _BINARY}, 202: {JSON: OBJECT}},
    ),
    "ExecutionsHandler.get": Op(ok={200: {JSON: listing("executions")}}),
    "ExecutionExportHandler.get": Op(
        query={"format": {"type": "string", "enum": list(EXPORT_FORMATS)}},
        ok={200: {_DOWNLOAD_TYPES[f]: _BINARY for f in EXPORT_FORMATS}},
    ),
    # dashboards and widgets
    "DashboardsHandler.get": Op(
        query={"group": STRING, "search": STRING}, ok={200: {JSON: listing("dashboards")}}
    ),
    "DashboardsHandler.post": Op(
        body=Model(DashboardIn),
        body_required=True,
        example={"name": "Operations", "description": "Tickets at a glance", "visibility": "group"},
        ok=created(),
    ),
    "DashboardHandler.put": Op(body=Model(DashboardPatch)),
    "DashboardHandler.delete": Op(ok=NO_CONTENT),
    "DashboardDuplicateHandler.post": Op(body=fields(name=STRING), ok=created()),
    "DashboardFavoriteHandler.post": Op(
        ok={200: {JSON: {"type": "object", "required": ["id", "favorite"], "properties": {"favorite": BOOL}}}}
    ),
    "DashboardViewHandler.get": Op(query=_FILTER_ARGS),
    "DashboardLayoutHandler.put": Op(
        body=fields(
            "positions",
            positions={"type": "object", "additionalProperties": Model(Position)},
        ),
        body_required=True,
        ok={200: {JSON: listing("widgets")}},
    ),
    "WidgetsHandler.post": Op(
        body=fields(
            "dashboard_id", "spec", dashboard_id=INT, spec=Model(WidgetSpec), position=Model(Position)
        ),
        body_required=True,
        ok=created(),
    ),
    "WidgetHandler.put": Op(
        body=fields(spec=Model(WidgetSpec), position=Model(Position)), body_required=True
    ),
    "WidgetHandler.delete": Op(ok=NO_CONTENT),
    "WidgetDataHandler.get": Op(
        query={
            **_FILTER_ARGS,
            "drill": {"type": "string", "description": "JSON: a list of [column, value] pairs"},
        }
    ),
    # schedules
    "SchedulePreviewHandler.post": Op(
        body=fields(
            "schedule_expr",
            schedule_expr=STRING,
            timezone=STRING,
            offpeak_only=BOOL,
            priority=PRIORITY,
        ),
        body_required=True,
        example=_SCHEDULE_EXAMPLE,
        ok={
            200: {
                JSON: {
                    "type": "object",
                    "required": ["description", "next"],
                    "properties": {"next": TEXT_LIST, "next_local": TEXT_LIST},
                }
            }
        },
    ),
    "ReportScheduleHandler.post": Op(
        body=_SCHEDULE_BODY,
        body_required=True,
        example={**_SCHEDULE_EXAMPLE, "recipients": ["ops@example.com"], "format": "xlsx"},
        ok=created(),
    ),
    "SchedulesHandler.get": Op(
        query={"mine": FLAG, "report_id": INT}, ok={200: {JSON: listing("schedules")}}
    ),
    "ScheduleHandler.patch": Op(body=_SCHEDULE_BODY),
    "ScheduleHandler.delete": Op(ok=NO_CONTENT),
    # jobs
    "JobsHandler.get": Op(
        query={
            "state": STRING,
            "class": {"type": "string", "enum": [c.value for c in JobClass]},
            "priority": PRIORITY,
            "tenant": STRING,
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS_PAGE},
            "before_id": _ID,
        },
        ok={200: {JSON: listing("jobs", counts=OBJECT)}},
    ),
    "RebalanceHandler.post": Op(
        body=Model(QueueLimitsSpec),
        ok={200: {JSON: {"type": "object", "required": ["tenant", "effective"]}}},
    ),
    "OffpeakHandler.get": Op(
        ok={
            200: {
                JSON: {
                    "type": "object",
                    "required": ["effective", "tenant", "global"],
                    "properties": {"effective": _OFFPEAK, "tenant": _OFFPEAK, "global": _OFFPEAK},
                }
            }
        }
    ),
    "OffpeakHandler.post": Op(
        body=Model(OffpeakConfigSpec),
        ok={
            200: {
                JSON: {
                    "type": "object",
                    "required": ["tenant", "effective"],
                    "properties": {"effective": _OFFPEAK, "tenant": _OFFPEAK},
                }
            }
        },
    ),
    # trash
    "TrashHandler.get": Op(
        query={"type": {"type": "string", "enum": ["report", "dashboard"]}},
        ok={200: {JSON: listing("items", days=INT)}},
    ),
    # triggers, alerts, tickets, notifications
    "ReportTriggerHandler.post": Op(body=Model(TriggerIn), body_required=True, ok=created()),
    "ReportTriggersHandler.get": Op(ok={200: {JSON: listing("triggers")}}),
    "TriggerHandler.patch": Op(body=fields("is_active", is_active=BOOL), body_required=True),
    "TriggerHandler.delete": Op(ok=NO_CONTENT),
    "AlertsHandler.get": Op(
        query={
            "status": {"type": "string", "enum": ["open", "acked", "closed"]},
            "severity": {"type": "string", "enum": ["info", "warn", "crit"]},
            "limit": _LIMIT,
        },
        ok={200: {JSON: listing("alerts", counts=OBJECT)}},
    ),
    "AlertStepHandler.post": Op(body=fields(note=STRING)),
    "TicketsHandler.get": Op(
        query={"status": {"type": "string", "enum": ["open", "closed"]}, "limit": _LIMIT},
        ok={200: {JSON: listing("tickets")}},
    ),
    "NotificationsHandler.get": Op(
        query={"unread": FLAG, "limit": _LIMIT},
        ok={200: {JSON: listing("notifications", unread=INT)}},
    ),
    "NotificationsReadHandler.post": Op(
        body=fields(ids=INT_LIST, all=BOOL),
        body_required=True,
        example={"all": True},
        ok={200: {JSON: {"type": "object", "required": ["marked", "unread"]}}},
    ),
    # PDF templates, renders, schedules, signing
    "PdfTemplatesHandler.get": Op(ok={200: {JSON: listing("templates")}}),
    "PdfTemplatesHandler.post": Op(
        body=fields(
            "spec",
            id=_ID,
            spec=Model(PdfTemplateSpec),
            comment=STRING,
            base_version=_VERSION,
            visibility=STRING,
        ),
        body_required=True,
        ok={200: {JSON: OBJECT}, 201: {JSON: OBJECT}},
    ),
    "PdfTemplateHandler.delete": Op(ok=NO_CONTENT),
    "PdfVersionsHandler.get": Op(ok={200: {JSON: listing("versions")}}),
    "PdfDiffHandler.get": Op(
        query={"old": {"type": "integer", "minimum": 0}, "new": {"type": "integer", "minimum": 0}},
        required_query=("old", "new"),
    ),
    "PdfRollbackHandler.post": Op(body=fields("version", version=_VERSION), body_required=True),
    "PdfCloneHandler.post": Op(body=fields(name=STRING), ok=created()),
    "PdfThemesHandler.get": Op(
        ok={
            200: {
                JSON: {
                    "type": "object",
                    "required": ["themes"],
                    "properties": {"themes": {"type": "array", "items": Model(ThemeSpec, "serialization")}},
                }
            }
        }
    ),
    "PdfThemesHandler.post": Op(body=Model(ThemeSpec), body_required=True, ok=created()),
    "PdfAssetsHandler.get": Op(ok={200: {JSON: listing("assets")}}),
    "PdfAssetsHandler.post": Op(
        body=fields(
            "name",
            "data_base64",
            name=STRING,
            data_base64={"type": "string", "contentEncoding": "base64"},
        ),
        body_required=True,
        ok=created(),
    ),
    "PdfRenderSubmitHandler.post": Op(
        body=fields(**_RUN_BODY),
        ok={
            202: {
                JSON: {
                    "type": "object",
                    "required": ["render_id", "job_id", "status"],
                    "properties": {"render_id": INT, "job_id": INT, "status": STRING},
                }
            }
        },
    ),
    "PdfRendersHandler.get": Op(query={"template_id": INT}, ok={200: {JSON: listing("renders")}}),
    "PdfRenderDownloadHandler.get": Op(
        query={"exp": STRING, "sig": STRING},
        security_note="An API token, the portal's session cookie, or a signed link (`?exp=&sig=`) "
        "from a scheduled e-mail.",
        ok={200: {"application/pdf": _BINARY}},
    ),
    "PdfScheduleHandler.get": Op(ok={200: {JSON: listing("schedules")}}),
    "PdfScheduleHandler.post": Op(body=_PDF_SCHEDULE_BODY, body_required=True, ok=created()),
    "PdfScheduleItemHandler.delete": Op(ok=NO_CONTENT),
    "PdfSigningHandler.put": Op(
        body=fields(
            p12_base64={"type": ["string", "null"], "contentEncoding": "base64"},
            password={"type": ["string", "null"]},
            tsa_url={"type": ["string", "null"]},
            reason={"type": ["string", "null"]},
            location={"type": ["string", "null"]},
            enabled=BOOL,
        ),
        body_required=True,
        ok={200: {JSON: OBJECT}, 201: {JSON: OBJECT}},
    ),
    "PdfSigningHandler.delete": Op(ok=NO_CONTENT),
    # people, groups, grants, audit
    "UsersHandler.get": Op(
        query={
            "search": STRING,
            "active": {"type": "string", "enum": ["true", "false", "1", "0"]},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        ok={200: {JSON: listing("users")}},
    ),
    "UsersHandler.post": Op(
        body=fields("email", email=STRING, password=STRING, **_USER_FIELDS),
        body_required=True,
        ok=created(),
    ),
    "UserHandler.patch": Op(body=fields(**_USER_FIELDS), body_required=True),
    "post /api/users/{user_id}/reset-password": Op(
        body=fields(password=STRING, link=BOOL),
        body_required=True,
        ok={200: {JSON: OBJECT}, 201: {JSON: OBJECT}},
    ),
    "post /api/users/{user_id}/invite": Op(ok=created()),
    "InviteAcceptHandler.post": Op(
        public=True, body=fields("token", "password", token=STRING, password=STRING), body_required=True
    ),
    "GroupsHandler.get": Op(ok={200: {JSON: listing("groups")}}),
    "GroupsHandler.post": Op(body=fields("name", name=STRING), body_required=True, ok=created()),
    "GroupHandler.patch": Op(body=fields("name", name=STRING), body_required=True),
    "GroupHandler.delete": Op(ok=NO_CONTENT),
    "AuditHandler.get": Op(
        query={
            "object_type": STRING,
            "object_id": {"type": "integer", "minimum": 1},
            "user_id": {"type": "integer", "minimum": 1},
            "action": STRING,
            "since": {"type": "string", "description": "an ISO date or time"},
            "until": {"type": "string", "description": "an ISO date or time"},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        ok={200: {JSON: listing("entries", total=INT)}},
    ),
    "ObjectGrantsHandler.get": Op(ok={200: {JSON: listing("grants")}}),
    "ObjectGrantsHandler.post": Op(
        body=fields(
            "subject_type",
            "subject_id",
            "role",
            subject_type={"type": "string", "enum": ["user", "group", "customer"]},
            subject_id=INT,
            role={"type": "string", "enum": ["viewer", "editor"]},
            expires_at={"type": ["string", "null"], "format": "date-time"},
        ),
        body_required=True,
        ok=created(),
    ),
    "GrantHandler.delete": Op(ok=NO_CONTENT),
    # share links
    "SharesHandler.get": Op(
        query={"object_type": {"type": "string", "enum": list(SHARE_OBJECT_TYPES)}, "object_id": INT},
        ok={200: {JSON: listing("shares")}},
    ),
    "SharesHandler.post": Op(
        body=Model(ShareRequest),
        body_required=True,
        ok=created(
            {
                "type": "object",
                "required": ["id", "token", "url"],
                "properties": {"id": INT, "token": STRING, "url": STRING},
            }
        ),
    ),
    "ShareAuditHandler.get": Op(ok={200: {JSON: listing("entries")}}),
    # real time
    "EventsHandler.post": Op(
        body={"oneOf": [OBJECT, {"type": "array", "items": OBJECT, "minItems": 1}]},
        body_required=True,
        ok={
            202: {
                JSON: {
                    "type": "object",
                    "required": ["published", "ids"],
                    "properties": {"published": INT, "ids": TEXT_LIST},
                }
            }
        },
    ),
    "DashboardEventsHandler.get": Op(
        query={"last_event_id": STRING, "access_token": STRING},
        security_note="A session cookie, an API token (header or `?access_token=`) or a share token.",
        ok={200: {"text/event-stream": STRING}},
    ),
    # this document
    "OpenApiHandler.get": Op(public=True),
    "ApiDocsHandler.get": Op(public=True, ok={200: {"text/html": STRING}}),
}

#: Reads, and actions without a body, answering one JSON object.
for _name in (
    "TokenHandler.get",
    "MeHandler.get",
    "ReportHandler.get",
    "DashboardHandler.get",
    "WidgetHandler.get",
    "ScheduleHandler.get",
    "JobHandler.get",
    "JobCancelHandler.post",
    "JobRetryHandler.post",
    "JobActivityHandler.get",
    "WorkersHandler.get",
    "TrashRestoreHandler.post",
    "TriggerHandler.get",
    "AlertHandler.get",
    "TicketCloseHandler.post",
    "PdfTemplateHandler.get",
    "PdfTemplateSchemaHandler.get",
    "PdfVersionHandler.get",
    "PdfRenderHandler.get",
    "PdfSigningHandler.get",
    "UserHandler.get",
    "UserActiveHandler.post",
    "GroupHandler.get",
    "GroupMemberHandler.put",
    "GroupMemberHandler.delete",
    "ShareHandler.get",
    "ShareHandler.delete",
):
    OPERATIONS.setdefault(_name, Op())

#: One-line summaries of operations whose handler method has no docstring.
SUMMARIES: dict[str, str] = {
    "HealthHandler.get": "Health of the metadata database, the warehouse and Redis",
    "TokensHandler.get": "My API tokens (state, expiry, last use)",
    "TokensHandler.post": "Sign in with e-mail and password for a new API token (shown once)",
    "TokenHandler.get": "One of my API tokens",
    "TokenHandler.delete": "Revoke one of my API tokens",
    "MeHandler.get": "Who am I: user, tenant and row scope",
    "CatalogHandler.get": "The sources and columns that may be queried",
    "QueryHandler.post": "Run a query spec ad hoc (rows as JSON, or an Arrow stream)",
    "EstimateHandler.post": "Estimate the rows a query spec scans and returns",
    "ReportsHandler.post": "Create a report",
    "ReportHandler.get": "One report",
    "ReportHandler.put": "Replace a report",
    "ReportHandler.delete": "Delete a report (to the trash)",
    "ExecutionsHandler.get": "A report's execution history",
    "ExecutionExportHandler.get": "Download an execution's result (CSV, XLSX or Parquet)",
    "DashboardsHandler.get": "Dashboards I may see (?group=mine|team|public|favorites&search=)",
    "DashboardsHandler.post": "Create a dashboard",
    "DashboardHandler.get": "One dashboard with its widgets",
    "DashboardHandler.put": "Change a dashboard (only the fields given; positions save the layout)",
    "DashboardHandler.delete": "Delete a dashboard (to the trash)",
    "DashboardDuplicateHandler.post": "Copy a dashboard and its widgets",
    "DashboardFavoriteHandler.post": "Toggle a dashboard as a favorite",
    "DashboardViewHandler.get": "A dashboard's layout and every widget's data under the global filters",
    "DashboardLayoutHandler.put": "Save every widget's position",
    "WidgetsHandler.post": "Add a widget to a dashboard",
    "WidgetHandler.get": "One widget",
    "WidgetHandler.put": "Change a widget's spec and/or position",
    "WidgetHandler.delete": "Remove a widget",
    "WidgetDataHandler.get": "A widget's data under the global filters and a drill path",
    "SchedulePreviewHandler.post": "A schedule in words and its next five fire times (nothing stored)",
    "ScheduleHandler.get": "One schedule",
    "ScheduleHandler.delete": "Delete a schedule",
    "JobActivityHandler.get": "Queue lag per pool and jobs finished per minute, last hour",
    "JobHandler.get": "One job, with its history",
    "WorkersHandler.get": "Pools, queue lengths, workers and limits",
    "OffpeakHandler.get": "Off-peak windows: effective, the tenant's own and the global ones",
    "TrashHandler.get": "What I may restore from the trash (last 30 days)",
    "TrashRestoreHandler.post": "Restore a report or dashboard from the trash",
    "ReportTriggerHandler.post": "Put a trigger (condition and actions) on a report's result",
    "ReportTriggersHandler.get": "A report's triggers",
    "TriggerHandler.get": "One trigger",
    "TriggerHandler.patch": "Enable or disable a trigger",
    "TriggerHandler.delete": "Delete a trigger",
    "AlertsHandler.get": "Alerts, with counts by status",
    "AlertHandler.get": "One alert",
    "AlertStepHandler.post": "Acknowledge, close or reopen an alert",
    "TicketsHandler.get": "Alert tickets",
    "TicketCloseHandler.post": "Close an alert ticket",
    "NotificationsHandler.get": "My notifications and the unread count",
    "NotificationsReadHandler.post": "Mark notifications read",
    "PdfTemplateHandler.get": "One PDF template with its spec",
    "PdfTemplateHandler.delete": "Delete a PDF template",
    "PdfScheduleItemHandler.delete": "Delete a PDF schedule",
    "UsersHandler.get": "(admins) People of the tenant",
    "UsersHandler.post": "(admins) Create a user",
    "UserHandler.get": "(admins) One user with their groups",
    "UserHandler.patch": "(admins) Change a user's name, role, row scope or customer",
    "UserActiveHandler.post": "(admins) Disable or enable a user",
    "GroupsHandler.get": "(admins) Groups",
    "GroupsHandler.post": "(admins) Create a group",
    "GroupHandler.get": "(admins) One group with its members",
    "GroupHandler.patch": "(admins) Rename a group",
    "GroupHandler.delete": "(admins) Delete a group",
    "GroupMemberHandler.put": "(admins) Add a user to a group",
    "GroupMemberHandler.delete": "(admins) Remove a user from a group",
    "AuditHandler.get": "(admins) The tenant's audit trail",
    "ObjectGrantsHandler.get": "Who an object is shared with",
    "ObjectGrantsHandler.post": "Share an object with a user, group or customer",
    "GrantHandler.delete": "Withdraw a grant",
    "ShareHandler.get": "One share link (without its token)",
}
