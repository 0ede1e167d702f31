"""A template's data in the caller's scope: each chart, table, KPI and section's rows, the
text variables, the images it names, and the per-customer/contract overrides.

Every query runs through the warehouse with the principal's row scope (a template rendered
for a customer's user shows only that customer's rows), the template's filters and the
run-time parameters. One element that cannot load carries its error: the renderer draws an
error box in its place and the rest of the PDF is whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.dashboards.data import kpi_query, result_display, summary_queries
from portal.dashboards.drill import apply_filters
from portal.data.catalog import Catalog
from portal.data.timewindows import now_minute, parse_time_range, previous_window
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.pdf.inputs import ElementData, RenderInput, RenderOptions
from portal.pdf.templates import load_assets
from portal.reports.service import get_report
from portal.specs import DashboardFilters, GroupBy, QuerySpec, TableSpec, parse_spec
from portal.specs.base import MAX_LIMIT, check_params
from portal.specs.pdf import (
    Binding,
    ChartElement,
    ImageElement,
    KpiElement,
    PdfTemplateSpec,
    SectionElement,
    TableElement,
    TemplateParam,
)

log = logging.getLogger(__name__)

#: Run-time parameters every template takes besides its own: the global filters (names, as
#: the dashboards take them), the time window, and the contract its overrides may match.
FILTER_PARAMS = ("customer", "location", "team")
BUILTIN_PARAMS = (*FILTER_PARAMS, "contract", "time_range")


@dataclass(frozen=True)
class _Planned:
    query: QuerySpec
    previous: QuerySpec | None = None
    totals: QuerySpec | None = None
    subtotals: QuerySpec | None = None


def _coerce(p: TemplateParam, value: Any) -> Any:
    field = f"params.{p.name}"
    if value is None or value == "":
        return None
    try:
        if p.type == "number":
            return float(value) if not isinstance(value, int | float) else value
        if p.type == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        raise InvalidSpec(f"{field}: expected a {p.type}, got {str(value)[:60]!r}", field=field) from None
    return str(value)


def resolve_params(spec: PdfTemplateSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run-time parameters: defaults filled, types checked, required ones present, unknown
    names refused (naming the field)."""
    given = dict(given or {})
    check_params(given)
    declared = {p.name: p for p in spec.parameters}
    for name in given:
        if name not in declared and name not in BUILTIN_PARAMS:
            choices = ", ".join([*declared, *BUILTIN_PARAMS])
            raise InvalidSpec(
                f"params.{name}: this template takes no such parameter ({choices})", field=f"params.{name}"
            )
    out: dict[str, Any] = {}
    for name, p in declared.items():
        value = _coerce(p, given.get(name, p.default))
        if value is None and p.required:
            raise InvalidSpec(f"params.{name}: required ({p.label or name})", field=f"params.{name}")
        out[name] = value
    for name in BUILTIN_PARAMS:
        if name in given and given[name] not in (None, "", []):
            value = given[name]
            if name in FILTER_PARAMS:
                value = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            out[name] = value
    return out


def effective_filters(spec: PdfTemplateSpec, params: Mapping[str, Any], now: datetime) -> DashboardFilters:
    """The template's filters with the run-time ones (customer, location, team, time_range) over them."""
    update: dict[str, Any] = {k: params[k] for k in FILTER_PARAMS if k in params}
    if "time_range" in params:
        update["time_range"] = str(params["time_range"])
    filters = spec.filters.model_copy(update=update) if update else spec.filters
    if filters.time_range:
        parse_time_range(filters.time_range, now, field="params.time_range")
    return filters


def apply_overrides(spec: PdfTemplateSpec, params: Mapping[str, Any]) -> PdfTemplateSpec:
    """The spec with the overrides matching the run-time customer/contract/location applied
    (later overrides win): variables, logo, accent, palette, header text."""
    wanted: dict[str, set[str]] = {}
    for key in ("customer", "contract", "location"):
        v = params.get(key)
        if v not in (None, "", []):
            wanted[key] = {str(x) for x in v} if isinstance(v, list | tuple) else {str(v)}
    theme, variables = spec.theme, dict(spec.variables)
    for o in spec.overrides:
        if o.value not in wanted.get(o.match, ()):
            continue
        variables.update(o.variables)
        update: dict[str, Any] = {}
        if o.accent:
            update["accent"] = o.accent
        if o.palette:
            update["palette"] = list(o.palette)
        header = theme.header
        if o.logo:
            header = header.model_copy(update={"logo": o.logo})
        if o.header_text is not None:
            header = header.model_copy(update={"text": o.header_text})
        update["header"] = header
        theme = theme.model_copy(update=update)
    if theme is spec.theme and variables == spec.variables:
        return spec
    return spec.model_copy(update={"theme": theme, "variables": variables})


def _base_query(session: Session, principal: Principal, b: Binding) -> QuerySpec:
    if b.query is not None:
        q = b.query
    else:
        assert b.report_id is not None  # the Binding validator requires one of the two
        try:
            r = get_report(session, principal, b.report_id, "view")
        except NotFound as exc:
            raise NotFound(f"report_id: {exc.message}", field="report_id") from None
        q = parse_spec(QuerySpec, r.query_json)
        if r.params_json:
            q = q.model_copy(update={"params": {**q.params, **r.params_json}})
    if b.params:
        q = q.model_copy(update={"params": {**q.params, **b.params}})
    return q


def _with_group(q: QuerySpec, column: str) -> QuerySpec:
    """``q`` keeping ``column`` in its result, so rows can be split per section group."""
    if column in q.output_names:
        return q
    if q.metrics:
        return q.model_copy(update={"group_by": [GroupBy(column=column), *q.group_by]})
    return q.model_copy(update={"columns": [column, *q.columns]})


def _grouped_by(q: QuerySpec | None, column: str | None) -> QuerySpec | None:
    """A one-row summary query (total, KPI) made one row per section group."""
    if q is None or column is None:
        return q
    return q.model_copy(update={"group_by": [GroupBy(column=column)], "limit": MAX_LIMIT})


def _plan(
    el: Any,
    base: QuerySpec,
    section_col: str | None,
    filters: DashboardFilters,
    catalog: Catalog,
    now: datetime,
) -> _Planned:
    q = apply_filters(base, filters, catalog)
    own_col = el.group_by if isinstance(el, SectionElement) else section_col
    if own_col is not None:
        q = _with_group(q, own_col)
    if isinstance(el, TableElement | SectionElement) and "limit" not in base.model_fields_set:
        want = el.max_rows if isinstance(el, TableElement) else el.max_groups * 1000
        q = q.model_copy(update={"limit": min(want, MAX_LIMIT)})
    if isinstance(el, KpiElement):
        previous = None
        if el.kpi.compare_previous and filters.time_range and catalog.source(q.source).time_column:
            prev = filters.model_copy(update={"time_range": previous_window(filters.time_range, now)})
            previous = _grouped_by(kpi_query(apply_filters(base, prev, catalog)), section_col)
        return _Planned(query=_grouped_by(kpi_query(q), section_col) or q, previous=previous)
    if isinstance(el, TableElement):
        totals, subtotals = summary_queries(q, TableSpec(subtotals_by=el.subtotals_by, totals=el.totals))
        if subtotals is not None and section_col is not None:
            subtotals = _with_group(subtotals, section_col)
        return _Planned(query=q, totals=_grouped_by(totals, section_col), subtotals=subtotals)
    return _Planned(query=q)


def _run(
    plan: _Planned,
    warehouse: Warehouse,
    scope: Scope,
    params: Mapping[str, Any],
    now: datetime,
    use_cache: bool,
) -> ElementData:
    def frame(q: QuerySpec | None) -> Any:
        if q is None:
            return None
        own = {k: v for k, v in params.items() if k in q.params}
        return warehouse.run(q, scope, params=own, now=now, use_cache=use_cache).frame

    return ElementData(
        frame=frame(plan.query),
        totals=frame(plan.totals),
        subtotals=frame(plan.subtotals),
        previous=frame(plan.previous),
        display=result_display(plan.query, warehouse.catalog_for(scope.tenant_key), now),
    )


def _element_data(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    el: Any,
    section: SectionElement | None,
    filters: DashboardFilters,
    params: Mapping[str, Any],
    now: datetime,
    use_cache: bool,
) -> ElementData | None:
    binding = getattr(el, "binding", None)
    if binding is None:
        return None  # a section child showing its section's rows
    try:
        base = _base_query(session, principal, binding)
        catalog = warehouse.catalog_for(principal.scope.tenant_key)
        plan = _plan(el, base, section.group_by if section else None, filters, catalog, now)
        return _run(plan, warehouse, principal.scope, params, now, use_cache)
    except PortalError as exc:
        return ElementData.failed(exc.message)
    except Exception as exc:
        # One broken binding must not take the document down: the box says what went wrong.
        log.exception("pdf element %s failed to load", el.id)
        return ElementData.failed(f"could not load this element's data ({type(exc).__name__})")


def variables(
    spec: PdfTemplateSpec,
    principal: Principal,
    params: Mapping[str, Any],
    filters: DashboardFilters,
    now: datetime,
) -> dict[str, Any]:
    """The text variables of a render (see ``portal.specs.pdf``), flat: ``{"customer.name": ...}``."""
    out: dict[str, Any] = {"now": now, "template.name": spec.name, "user.name": principal.label}
    for key in ("customer", "location", "team", "contract"):
        v = params.get(key)
        if v not in (None, "", []):
            out[f"{key}.name"] = ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
    if filters.time_range:
        start, end = parse_time_range(filters.time_range, now)
        out["period.start"], out["period.end"] = start, end
    out.update({f"brand.{k}": v for k, v in spec.theme.brand.items()})
    out.update({f"vars.{k}": v for k, v in spec.variables.items()})
    out.update({f"params.{k}": v for k, v in params.items()})
    return out


def asset_names(spec: PdfTemplateSpec) -> set[str]:
    """Every image a render of ``spec`` may draw (elements, header and footer logos)."""
    names = {el.asset for _, el, _ in spec.elements() if isinstance(el, ImageElement)}
    names |= {b.logo for b in (spec.theme.header, spec.theme.footer) if b.logo}
    return names


def render_input(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    spec: PdfTemplateSpec,
    params: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
    preview: bool = False,
    creation_date: datetime | None = None,
    use_cache: bool = True,
) -> RenderInput:
    """Everything ``reports_pdf.render(spec, ...)`` needs, loaded in the principal's scope.

    ``spec`` should already have its overrides applied (:func:`apply_overrides`). Bad
    parameters raise ``InvalidSpec`` naming the field; a data element that fails carries its
    error (``ElementData.error``) instead.
    """
    at = now_minute(now)
    resolved = resolve_params(spec, params)
    filters = effective_filters(spec, resolved, at)
    data: dict[str, ElementData] = {}
    for _, el, section in spec.elements():
        if isinstance(el, ChartElement | TableElement | KpiElement | SectionElement):
            got = _element_data(session, principal, warehouse, el, section, filters, resolved, at, use_cache)
            if got is not None:
                data[el.id] = got
    return RenderInput(
        data=data,
        assets=load_assets(session, principal.tenant_id, asset_names(spec)),
        variables=variables(spec, principal, resolved, filters, at),
        options=RenderOptions(creation_date=creation_date, preview=preview),
    )
