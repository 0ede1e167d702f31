"""REST API: Tornado handlers mounted by the server next to the Panel pages.

Handlers are thin: parse, authenticate, call a service inside one
transaction on a worker thread, serialise. Every error is JSON with a 4xx
status naming the bad field; nothing reaches the client as a traceback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler

from portal import dashboards, reports
from portal.context import AppContext
from portal.data.exports import export_frame
from portal.errors import AuthenticationFailed, BadRequest, InvalidSpec, NotFound, PortalError
from portal.identity import audit, auth
from portal.infra import ratelimit
from portal.infra.db import transaction
from portal.infra.metrics import HTTP_REQUESTS
from portal.models import ApiToken, User
from portal.specs import invalid_from_validation
from portal.web.jsonsafe import parse_json

log = logging.getLogger(__name__)
T = TypeVar("T")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, set | frozenset):
        return sorted(o)
    return str(o)


def frame_payload(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and rows of a frame as JSON-safe values (ISO dates, null for NaN)."""
    doc: dict[str, Any] = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return {"columns": doc["columns"], "rows": doc["data"]}


class BaseHandler(RequestHandler):
    """JSON in, JSON out, errors as JSON, services on a thread."""

    ctx: AppContext
    route: str = "?"

    def initialize(self, ctx: AppContext, route: str = "?") -> None:
        self.ctx = ctx
        self.route = route
        self.request_id = self.request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def on_finish(self) -> None:
        HTTP_REQUESTS.labels(self.request.method or "?", self.route, str(self.get_status())).inc()

    # -- input -----------------------------------------------------------
    def body(self, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The JSON object body; 400 naming the problem otherwise.

        With ``allowed``, any other key is a 400 naming it: a misspelt field is
        reported, never silently dropped.
        """
        if not self.request.body:
            return {}
        data = parse_json(self.request.body, "body")
        if not isinstance(data, dict):
            raise BadRequest("body: must be a JSON object", field="body")
        if allowed is not None:
            for key in data:
                if key not in allowed:
                    expected = ", ".join(allowed) if allowed else "no body"
                    raise BadRequest(f"{key}: unknown field (expected {expected})", field=key)
        return data

    def client_ip(self) -> str:
        """The peer address (the server sets xheaders only behind a trusted proxy)."""
        return str(self.request.remote_ip or "?")

    def current_api_user(self, session: Session) -> User:
        """The user of the bearer token, or 401."""
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise AuthenticationFailed(
                "send an API token as 'Authorization: Bearer <token>' (POST /api/tokens)"
            )
        return auth.user_for_token(session, header[7:].strip())

    # -- execution ---------------------------------------------------------
    async def call(self, fn: Callable[[Session, User], T], *, authenticated: bool = True) -> T:
        """Run ``fn(session, user)`` in one transaction on a worker thread."""

        def work() -> T:
            with transaction(self.ctx.sessions) as session:
                user = self.current_api_user(session) if authenticated else None
                return fn(session, user)  # type: ignore[arg-type]

        return await IOLoop.current().run_in_executor(None, work)

    def send(self, payload: Any, status: int = 200) -> None:
        """Write a JSON response."""
        self.set_status(status)
        self.finish(json.dumps(payload, default=_json_default))

    # -- errors ------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PortalError):
            body = exc.to_dict()
        elif isinstance(exc, HTTPError):
            body = {"error": "HTTPError", "message": exc.log_message or self._reason}
        else:
            body = {"error": "InternalError", "message": f"unexpected error; request id {self.request_id}"}
        body["request_id"] = self.request_id
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, default=_json_default))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PortalError | HTTPError):
            log.info("%s %s -> %s: %s", self.request.method, self.request.path, self.get_status(), value)
        else:
            log.error("request %s failed", self.request_id, exc_info=(typ, value, tb))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ValidationError):
            e = invalid_from_validation(e, "body")
        if isinstance(e, PortalError):
            if self._finished:
                return
            self.log_exception(type(e), e, e.__traceback__)
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


def _id(value: str, name: str = "id") -> int:
    try:
        n = int(value)
    except ValueError:
        raise InvalidSpec(f"{name}: must be an integer", field=name) from None
    if not 0 < n < 2**62:
        raise InvalidSpec(f"{name}: out of range", field=name)
    return n


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


# --------------------------------------------------------------------------- handlers
class HealthHandler(BaseHandler):
    async def get(self) -> None:
        def check() -> dict[str, str]:
            out: dict[str, str] = {}
            for name, probe in (
                ("metadata", lambda: _ping(self.ctx.engine)),
                ("warehouse", lambda: _ping(self.ctx.warehouse.engine)),
                ("redis", self.ctx.redis.ping),
            ):
                try:
                    probe()
                    out[name] = "ok"
                except Exception as exc:
                    out[name] = f"error: {type(exc).__name__}"
            return out

        checks = await IOLoop.current().run_in_executor(None, check)
        ok = all(v == "ok" for v in checks.values())
        self.send({"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503)


def metrics_allowed(settings: Any, client_ip: str, authorization: str) -> bool:
    """``/metrics`` is for scrapers: a matching bearer token, or a client in an allowed network."""
    if settings.metrics_token and hmac.compare_digest(authorization, f"Bearer {settings.metrics_token}"):
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for net in settings.metrics_networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            log.warning("CONDUCTOR_METRICS_NETWORKS: %r is not a network", net)
    return False


class MetricsHandler(BaseHandler):
    def get(self) -> None:
        auth_header = self.request.headers.get("Authorization", "")
        if not metrics_allowed(self.ctx.settings, self.client_ip(), auth_header):
            raise NotFound("no such endpoint: GET /metrics")
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


def _token(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
        "state": auth.token_state(t),
    }


class TokensHandler(BaseHandler):
    async def get(self) -> None:
        self.body(())

        def lst(session: Session, user: User) -> dict[str, Any]:
            return {"tokens": [_token(t) for t in auth.list_api_tokens(session, user)]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body(("email", "password", "name", "days"))
        email, password = data.get("email"), data.get("password")
        if not isinstance(email, str) or not email:
            raise BadRequest("email: required", field="email")
        if not isinstance(password, str) or not password:
            raise BadRequest("password: required", field="password")
        name = data.get("name") or "api"
        if not isinstance(name, str):
            raise BadRequest("name: must be text", field="name")
        days = data.get("days", self.ctx.settings.api_token_days)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= auth.MAX_TOKEN_DAYS:
            raise BadRequest(f"days: an integer from 1 to {auth.MAX_TOKEN_DAYS}", field="days")
        # One budget for the API and the sign-in form: per address, and a backoff per account.
        ratelimit.check_login(
            self.ctx.redis, self.client_ip(), email, per_minute=self.ctx.settings.login_per_minute
        )

        def issue(session: Session, _: User) -> dict[str, Any]:
            user = auth.authenticate(session, email, password)
            tok, plain = auth.issue_api_token(session, user, name, days=days)
            return {"token": plain, "token_id": tok.id, "expires_at": tok.expires_at, "user": _user(user)}

        try:
            out = await self.call(issue, authenticated=False)
        except AuthenticationFailed:
            ratelimit.login_failed(self.ctx.redis, email)
            raise
        ratelimit.login_succeeded(self.ctx.redis, email)
        self.send(out, 201)


class TokenHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        self.send(await self.call(lambda s, u: _token(auth.get_api_token(s, u, _id(tid)))))

    async def delete(self, tid: str) -> None:
        self.send(await self.call(lambda s, u: _token(auth.revoke_api_token(s, u, _id(tid)))))


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "tenant_id": u.tenant_id, "is_admin": u.is_admin}


class MeHandler(BaseHandler):
    async def get(self) -> None:
        def me(session: Session, user: User) -> dict[str, Any]:
            scope = auth.user_scope(session, user)
            return {
                **_user(user),
                "tenant": scope.tenant_key,
                "scope": {k: sorted(v) for k, v in scope.restrictions().items()},
            }

        self.send(await self.call(me))


class CatalogHandler(BaseHandler):
    async def get(self) -> None:
        await self.call(lambda s, u: None)  # authentication only
        self.send({"sources": self.ctx.warehouse.catalog.to_dict()})


class QueryHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body(("query", "params"))
        if "query" not in data:
            raise BadRequest("query: required (a QuerySpec object)", field="query")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("params: must be an object", field="params")

        def run(session: Session, user: User) -> dict[str, Any]:
            scope = auth.user_scope(session, user)
            res = self.ctx.warehouse.run(data["query"], scope, params=params)
            return {
                **frame_payload(res.frame),
                "row_count": res.row_count,
                "cached": res.cached,
                "runtime_ms": round(res.runtime_ms, 2),
            }

        self.send(await self.call(run))


class EstimateHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body(("query", "params"))
        if "query" not in data:
            raise BadRequest("query: required (a QuerySpec object)", field="query")

        def est(session: Session, user: User) -> dict[str, Any]:
            e = self.ctx.warehouse.estimate(
                data["query"], auth.user_scope(session, user), params=data.get("params") or {}
            )
            return {
                "scanned_rows": e.scanned_rows,
                "result_rows": e.result_rows,
                "cost": e.cost,
                "method": e.method,
            }

        self.send(await self.call(est))


class ReportsHandler(BaseHandler):
    async def get(self) -> None:
        search = self.get_query_argument("search", None)

        def lst(session: Session, user: User) -> dict[str, Any]:
            return {
                "reports": [
                    reports.report_to_dict(r) for r in reports.list_reports(session, user, search=search)
                ]
            }

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body()

        def create(session: Session, user: User) -> dict[str, Any]:
            return reports.report_to_dict(reports.create_report(session, user, data, self.ctx.warehouse))

        self.send(await self.call(create), 201)


class ReportHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        def get(session: Session, user: User) -> dict[str, Any]:
            r = reports.get_report(session, user, _id(rid))
            return reports.report_to_dict(r)

        self.send(await self.call(get))

    async def put(self, rid: str) -> None:
        data = self.body()

        def put(session: Session, user: User) -> dict[str, Any]:
            return reports.report_to_dict(
                reports.update_report(session, user, _id(rid), data, self.ctx.warehouse)
            )

        self.send(await self.call(put))

    async def delete(self, rid: str) -> None:
        await self.call(lambda s, u: reports.delete_report(s, u, _id(rid)))
        self.set_status(204)
        self.finish()


class ExecuteHandler(BaseHandler):
    async def post(self, rid: str) -> None:
        data = self.body(("params", "use_cache"))
        params = data.get("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest("params: must be an object", field="params")
        use_cache = data.get("use_cache", True)
        if not isinstance(use_cache, bool):
            raise BadRequest("use_cache: must be true or false", field="use_cache")

        def run(session: Session, user: User) -> dict[str, Any]:
            ex = reports.execute_report(
                session,
                user,
                _id(rid),
                self.ctx.warehouse,
                self.ctx.settings.results_dir,
                params=params,
                use_cache=use_cache,
            )
            out = reports.execution_to_dict(ex, user)
            if ex.status == "done" and self.get_query_argument("preview", "1") != "0":
                _, _, frame = reports.load_execution_result(
                    session, user, ex.id, self.ctx.settings.results_dir
                )
                out["preview"] = frame_payload(frame.head(100))
            return out

        self.send(await self.call(run), 201)


class ExecutionsHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        def lst(session: Session, user: User) -> dict[str, Any]:
            rows = reports.list_executions(session, user, _id(rid))
            return {"executions": [reports.execution_to_dict(e, user) for e in rows]}

        self.send(await self.call(lst))


class ExecutionExportHandler(BaseHandler):
    async def get(self, eid: str) -> None:
        fmt = self.get_query_argument("format", "csv")

        def export(session: Session, user: User) -> tuple[bytes, str, str]:
            ex, r, frame = reports.load_execution_result(
                session, user, _id(eid), self.ctx.settings.results_dir, "export", warehouse=self.ctx.warehouse
            )
            out = export_frame(frame, fmt)
            audit.record(session, user, "export", r, details={"execution_id": ex.id, "format": fmt})
            return out.data, out.content_type, out.filename(f"{r.name}-{ex.id}")

        data, ctype, fname = await self.call(export)
        self.set_header("Content-Type", ctype)
        self.set_header("Content-Disposition", f'attachment; filename="{fname}"')
        self.finish(data)


# --------------------------------------------------------------------------- dashboards and widgets
FILTER_ARGS = ("time_range", "customer", "location", "team")


def _query_args(handler: RequestHandler, allowed: tuple[str, ...] = FILTER_ARGS) -> dict[str, list[str]]:
    """Query-string arguments as text; a misspelt argument is a 400, never silently ignored."""
    try:
        args = {k: [v.decode("utf-8") for v in vs] for k, vs in handler.request.query_arguments.items()}
    except UnicodeDecodeError:
        raise BadRequest("query string: must be UTF-8", field="query") from None
    for key in args:
        if key not in allowed:
            raise BadRequest(f"{key}: unknown argument (expected {', '.join(allowed)})", field=key)
    return args


def _drill_arg(handler: RequestHandler) -> list[Any] | None:
    raw = handler.get_query_argument("drill", None)
    if raw is None or raw == "":
        return None
    path = parse_json(raw, "drill", max_bytes=10_000)
    if not isinstance(path, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in path
    ):
        raise BadRequest("drill: must be a list of [column, value] pairs", field="drill")
    return path


def _body_id(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise BadRequest(f"{name}: required, a positive integer", field=name)
    return value


class DashboardsHandler(BaseHandler):
    async def get(self) -> None:
        group = self.get_query_argument("group", None) or None
        search = self.get_query_argument("search", None)

        def lst(session: Session, user: User) -> dict[str, Any]:
            rows = dashboards.list_dashboards(session, user, group=group, search=search)
            favs = dashboards.favorite_ids(session, user)
            return {"dashboards": [dashboards.dashboard_to_dict(d, favorite=d.id in favs) for d in rows]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body()

        def create(session: Session, user: User) -> dict[str, Any]:
            d = dashboards.create_dashboard(session, user, data, catalog=self.ctx.warehouse.catalog)
            return dashboards.dashboard_to_dict(d, [], favorite=False)

        self.send(await self.call(create), 201)


def _full(session: Session, user: User, dashboard_id: int) -> dict[str, Any]:
    d = dashboards.get_dashboard(session, user, dashboard_id)
    return dashboards.dashboard_to_dict(
        d,
        dashboards.list_widgets(session, user, d.id),
        favorite=dashboards.is_favorite(session, user, d.id),
    )


class DashboardHandler(BaseHandler):
    async def get(self, did: str) -> None:
        self.send(await self.call(lambda s, u: _full(s, u, _id(did))))

    async def put(self, did: str) -> None:
        data = self.body()

        def put(session: Session, user: User) -> dict[str, Any]:
            d = dashboards.update_dashboard(session, user, _id(did), data, catalog=self.ctx.warehouse.catalog)
            return _full(session, user, d.id)

        self.send(await self.call(put))

    async def delete(self, did: str) -> None:
        await self.call(lambda s, u: dashboards.delete_dashboard(s, u, _id(did)))
        self.set_status(204)
        self.finish()


class DashboardDuplicateHandler(BaseHandler):
    async def post(self, did: str) -> None:
        data = self.body(("name",))
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest("name: must be text", field="name")

        def dup(session: Session, user: User) -> dict[str, Any]:
            d = dashboards.duplicate_dashboard(session, user, _id(did), name=name)
            return _full(session, user, d.id)

        self.send(await self.call(dup), 201)


class DashboardFavoriteHandler(BaseHandler):
    async def post(self, did: str) -> None:
        self.body(())

        def toggle(session: Session, user: User) -> dict[str, Any]:
            return {"id": _id(did), "favorite": dashboards.toggle_favorite(session, user, _id(did))}

        self.send(await self.call(toggle))


class DashboardViewHandler(BaseHandler):
    async def get(self, did: str) -> None:
        args = _query_args(self)

        def view(session: Session, user: User) -> dict[str, Any]:
            filters = dashboards.filters_from_args(args)
            return dashboards.view_dashboard(session, user, self.ctx.warehouse, _id(did), filters=filters)

        self.send(await self.call(view))


class DashboardLayoutHandler(BaseHandler):
    async def put(self, did: str) -> None:
        positions = self.body(("positions",)).get("positions")
        if not isinstance(positions, dict):
            raise BadRequest("positions: required, an object {widget_id: {x, y, w, h}}", field="positions")

        def save(session: Session, user: User) -> dict[str, Any]:
            widgets = dashboards.save_layout(session, user, _id(did), positions)
            return {"widgets": [dashboards.widget_to_dict(w) for w in widgets]}

        self.send(await self.call(save))


class WidgetsHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body()
        for key in data:
            if key not in ("dashboard_id", "spec", "position"):
                raise BadRequest(f"{key}: unknown field (give dashboard_id, spec, position)", field=key)
        dashboard_id = _body_id(data, "dashboard_id")
        if not isinstance(data.get("spec"), dict):
            raise BadRequest("spec: required, a widget spec object", field="spec")
        position = data.get("position")
        if position is not None and not isinstance(position, dict):
            raise BadRequest("position: must be an object {x, y, w, h}", field="position")

        def add(session: Session, user: User) -> dict[str, Any]:
            w = dashboards.add_widget(
                session, user, dashboard_id, data["spec"], position, catalog=self.ctx.warehouse.catalog
            )
            return dashboards.widget_to_dict(w)

        self.send(await self.call(add), 201)


class WidgetHandler(BaseHandler):
    async def get(self, wid: str) -> None:
        def get(session: Session, user: User) -> dict[str, Any]:
            w, _ = dashboards.get_widget(session, user, _id(wid))
            return dashboards.widget_to_dict(w)

        self.send(await self.call(get))

    async def put(self, wid: str) -> None:
        data = self.body()
        for key in data:
            if key not in ("spec", "position"):
                raise BadRequest(f"{key}: unknown field (give spec and/or position)", field=key)
        spec, position = data.get("spec"), data.get("position")
        if spec is None and position is None:
            raise BadRequest("spec: give spec and/or position", field="spec")
        for name, value in (("spec", spec), ("position", position)):
            if value is not None and not isinstance(value, dict):
                raise BadRequest(f"{name}: must be an object", field=name)

        def put(session: Session, user: User) -> dict[str, Any]:
            w = dashboards.update_widget(
                session, user, _id(wid), spec=spec, position=position, catalog=self.ctx.warehouse.catalog
            )
            return dashboards.widget_to_dict(w)

        self.send(await self.call(put))

    async def delete(self, wid: str) -> None:
        await self.call(lambda s, u: dashboards.delete_widget(s, u, _id(wid)))
        self.set_status(204)
        self.finish()


class WidgetDataHandler(BaseHandler):
    async def get(self, wid: str) -> None:
        args = _query_args(self, (*FILTER_ARGS, "drill"))
        drill_path = _drill_arg(self)

        def data(session: Session, user: User) -> dict[str, Any]:
            filters = dashboards.filters_from_args(args)
            return dashboards.widget_data(
                session, user, self.ctx.warehouse, None, _id(wid), filters=filters, drill_path=drill_path
            )

        self.send(await self.call(data))


class NotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise HTTPError(404, "no such endpoint: %s %s", self.request.method, self.request.path)


def routes(ctx: AppContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """URL patterns of the REST API, for ``pn.serve(extra_patterns=...)`` or a plain Tornado app."""
    table: list[tuple[str, type[RequestHandler]]] = [
        (r"/healthz", HealthHandler),
        (r"/metrics", MetricsHandler),
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
        (r"/api/.*", NotFoundHandler),
    ]
    return [(pattern, h, {"ctx": ctx, "route": pattern}) for pattern, h in table]
