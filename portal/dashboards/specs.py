"""Dashboard input models, their JSON views and error-field helpers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from portal.errors import InvalidSpec, PortalError
from portal.models import Dashboard, Widget
from portal.specs import ALIAS_RE, DashboardFilters, ObjectScope, Position, QuerySpec, WidgetSpec, parse_spec
from portal.specs.base import model_label

Visibility = Literal["private", "group", "customer", "public"]


ListGroup = Literal["mine", "team", "public", "favorites"]


LIST_GROUPS: tuple[str, ...] = ("mine", "team", "public", "favorites")


#: ``Favorite.object_type`` of dashboards (the table name, like permissions use).
FAVORITE_TYPE = "dashboards"


MAX_WIDGETS = 100


MAX_QUERIES = 50


#: Size (w, h) a widget gets when added without a position.
DEFAULT_SIZE: dict[str, tuple[int, int]] = {"kpi": (3, 2), "chart": (6, 4), "table": (12, 6), "text": (12, 2)}


M = TypeVar("M", bound=BaseModel)


def _check_query_names(v: dict[str, QuerySpec] | None) -> dict[str, QuerySpec] | None:
    for name in v or {}:
        if not ALIAS_RE.match(name):
            raise ValueError(f"query name {name!r} must hold only letters, digits and _ (max 63)")
    return v


class DashboardIn(BaseModel):
    """What a client sends to create a dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    visibility: Visibility = "private"
    filters: DashboardFilters = Field(default_factory=DashboardFilters)
    queries: dict[str, QuerySpec] = Field(default_factory=dict, max_length=MAX_QUERIES)
    realtime_enabled: bool = False
    scope: ObjectScope = Field(
        default_factory=ObjectScope, description="e.g. {'customer_id': 7} for customer visibility"
    )

    _names = field_validator("queries")(_check_query_names)


class DashboardPatch(BaseModel):
    """A partial update of a dashboard: only the fields given change.

    ``positions`` (widget id → position) saves the layout in the same call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = None
    filters: DashboardFilters | None = None
    queries: dict[str, QuerySpec] | None = Field(default=None, max_length=MAX_QUERIES)
    realtime_enabled: bool | None = None
    scope: ObjectScope | None = None
    positions: dict[int, Position] | None = None

    _names = field_validator("queries")(_check_query_names)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def named_queries(d: Dashboard) -> dict[str, Any]:
    q = (d.layout_json or {}).get("queries") or {}
    return dict(q) if isinstance(q, dict) else {}


def widget_to_dict(w: Widget, *, spec: WidgetSpec | None = None) -> dict[str, Any]:
    """JSON view of a widget; ``spec`` replaces the stored one (e.g. the drilled view)."""
    return {
        "id": w.id,
        "dashboard_id": w.dashboard_id,
        "type": w.type,
        "viz": spec.viz if spec is not None else w.viz,
        "title": spec.title if spec is not None else w.title,
        "spec": dump_widget(spec) if spec is not None else w.config_json,
        "position": w.position,
        "refresh_interval_sec": w.refresh_interval_sec,
        "realtime_channel": w.realtime_channel,
    }


def dashboard_to_dict(
    d: Dashboard, widgets: Sequence[Widget] | None = None, *, favorite: bool | None = None
) -> dict[str, Any]:
    """JSON view of a dashboard, with its widgets when given."""
    out: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "visibility": d.visibility,
        "owner_id": d.owner_id,
        "filters": d.filters_json or {},
        "queries": named_queries(d),
        "realtime_enabled": d.realtime_enabled,
        "scope": d.scope_json or {},
        "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at),
    }
    if widgets is not None:
        out["widgets"] = [widget_to_dict(w) for w in widgets]
    if favorite is not None:
        out["favorite"] = favorite
    return out


def dump_query(q: QuerySpec) -> dict[str, Any]:
    return q.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def dump_widget(ws: WidgetSpec) -> dict[str, Any]:
    return ws.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def dump_filters(f: DashboardFilters) -> dict[str, Any]:
    return f.model_dump(mode="json", exclude_defaults=True)


def within(prefix: str, exc: PortalError) -> PortalError:
    """The same error with its field nested under ``prefix`` (``spec`` + ``chart.x`` → ``spec.chart.x``)."""
    inner = exc.field
    field = f"{prefix}.{inner}" if inner else prefix
    msg = exc.message
    if inner and msg.startswith(f"{inner}:"):
        msg = f"{field}:{msg[len(inner) + 1 :]}"
    elif not msg.startswith(f"{field}:"):
        msg = f"{field}: {msg}"
    return type(exc)(msg, field=field)


def parse_at(model: type[M], data: Any, prefix: str | None = None) -> M:
    """``parse_spec`` whose error field is nested under ``prefix`` (a whole-model error names ``prefix``)."""
    try:
        return parse_spec(model, data)
    except InvalidSpec as exc:
        if prefix is None:
            raise
        if exc.field in (model.__name__, model_label(model.__name__)):
            rest = exc.message.split(":", 1)[1].strip() if ":" in exc.message else exc.message
            raise InvalidSpec(f"{prefix}: {rest}", field=prefix) from None
        raise within(prefix, exc) from None
