"""Dashboards and widgets: CRUD, layout, favorites, and their data under the global filters."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from tornado.web import RequestHandler

from portal import dashboards
from portal.errors import BadRequest
from portal.identity.principal import Principal
from portal.web.api.base import BaseHandler, path_id
from portal.web.jsonsafe import parse_json

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

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = dashboards.list_dashboards(session, principal, group=group, search=search)
            favs = dashboards.favorite_ids(session, principal)
            return {"dashboards": [dashboards.dashboard_to_dict(d, favorite=d.id in favs) for d in rows]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body()

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            catalog = self.catalog(principal, session)
            d = dashboards.create_dashboard(session, principal, data, catalog=catalog)
            return dashboards.dashboard_to_dict(d, [], favorite=False)

        self.send(await self.call(create), 201)


def _full(session: Session, principal: Principal, dashboard_id: int) -> dict[str, Any]:
    d = dashboards.get_dashboard(session, principal, dashboard_id)
    return dashboards.dashboard_to_dict(
        d,
        dashboards.list_widgets(session, principal, d.id),
        favorite=dashboards.is_favorite(session, principal, d.id),
    )


class DashboardHandler(BaseHandler):
    async def get(self, did: str) -> None:
        self.send(await self.call(lambda s, u: _full(s, u, path_id(did))))

    async def put(self, did: str) -> None:
        data = self.body()

        def put(session: Session, principal: Principal) -> dict[str, Any]:
            d = dashboards.update_dashboard(
                session,
                principal,
                path_id(did),
                data,
                catalog=self.catalog(principal, session),
            )
            return _full(session, principal, d.id)

        self.send(await self.call(put))

    async def delete(self, did: str) -> None:
        await self.call(lambda s, u: dashboards.delete_dashboard(s, u, path_id(did)))
        self.set_status(204)
        self.finish()


class DashboardDuplicateHandler(BaseHandler):
    async def post(self, did: str) -> None:
        data = self.body(("name",))
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest("name: must be text", field="name")

        def dup(session: Session, principal: Principal) -> dict[str, Any]:
            d = dashboards.duplicate_dashboard(session, principal, path_id(did), name=name)
            return _full(session, principal, d.id)

        self.send(await self.call(dup), 201)


class DashboardFavoriteHandler(BaseHandler):
    async def post(self, did: str) -> None:
        self.body(())

        def toggle(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "id": path_id(did),
                "favorite": dashboards.toggle_favorite(session, principal, path_id(did)),
            }

        self.send(await self.call(toggle))


class DashboardViewHandler(BaseHandler):
    async def get(self, did: str) -> None:
        args = _query_args(self)

        def view(session: Session, principal: Principal) -> dict[str, Any]:
            filters = dashboards.filters_from_args(args)
            view = dashboards.load_dashboard(
                session, principal, self.ctx.warehouse, path_id(did), filters=filters
            )
            return dashboards.view_payload(view)

        self.send(await self.call(view))


class DashboardLayoutHandler(BaseHandler):
    async def put(self, did: str) -> None:
        positions = self.body(("positions",)).get("positions")
        if not isinstance(positions, dict):
            raise BadRequest("positions: required, an object {widget_id: {x, y, w, h}}", field="positions")

        def save(session: Session, principal: Principal) -> dict[str, Any]:
            widgets = dashboards.save_layout(session, principal, path_id(did), positions)
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

        def add(session: Session, principal: Principal) -> dict[str, Any]:
            w = dashboards.add_widget(
                session,
                principal,
                dashboard_id,
                data["spec"],
                position,
                catalog=self.catalog(principal, session),
            )
            return dashboards.widget_to_dict(w)

        self.send(await self.call(add), 201)


class WidgetHandler(BaseHandler):
    async def get(self, wid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            w, _ = dashboards.get_widget(session, principal, path_id(wid))
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

        def put(session: Session, principal: Principal) -> dict[str, Any]:
            w = dashboards.update_widget(
                session,
                principal,
                path_id(wid),
                spec=spec,
                position=position,
                catalog=self.catalog(principal, session),
            )
            return dashboards.widget_to_dict(w)

        self.send(await self.call(put))

    async def delete(self, wid: str) -> None:
        await self.call(lambda s, p: dashboards.delete_widget(s, p, path_id(wid)))
        self.set_status(204)
        self.finish()


class WidgetDataHandler(BaseHandler):
    async def get(self, wid: str) -> None:
        args = _query_args(self, (*FILTER_ARGS, "drill"))
        drill_path = _drill_arg(self)

        def data(session: Session, principal: Principal) -> dict[str, Any]:
            filters = dashboards.filters_from_args(args)
            result = dashboards.widget_result(
                session,
                principal,
                self.ctx.warehouse,
                None,
                path_id(wid),
                filters=filters,
                drill_path=drill_path,
            )
            return dashboards.widget_payload(result)

        self.send(await self.call(data))
