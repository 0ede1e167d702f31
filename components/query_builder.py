"""Visual query builder: source, metrics, group by, filters, sort and limit → a validated QuerySpec."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from components.session import escape_md, notify
from portal.data.catalog import Catalog
from portal.data.query import compile_query
from portal.errors import PortalError
from portal.identity.scope import Scope
from portal.specs import QuerySpec, parse_spec

AGGS = ["count", "count_distinct", "sum", "avg", "min", "max", "median", "percentile"]
BUCKETS = [
    "",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "hour_of_day",
    "day_of_week",
    "month_of_year",
]
OPS = ["=", "!=", ">", ">=", "<", "<=", "in", "not_in", "between", "like", "is_null", "is_not_null"]


def parse_filter_value(op: str, text: str) -> Any:
    """What a user types in a filter box → the spec value (lists split on commas)."""
    text = text.strip()
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("in", "not_in") and not text.startswith("{{"):
        return [v.strip() for v in text.split(",") if v.strip()]
    if op == "between" and ".." not in text and "," in text:
        return [v.strip() for v in text.split(",", 1)]
    return text


def filter_text(op: str, value: Any) -> str:
    """Inverse of :func:`parse_filter_value` for loading a spec into the builder."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


class QueryBuilder(pn.viewable.Viewer):
    """Edits a QuerySpec; ``spec`` holds the last valid one, ``error`` what is wrong now."""

    source = param.Selector(default=None, objects=[], doc="Catalogued source to query")
    spec = param.Dict(
        default=None, allow_None=True, doc="The current valid QuerySpec as JSON (None if invalid)"
    )
    error = param.String(default="", doc="Why the current input is not a valid query")
    # No bounds here: the widget would clamp 0 or 100001 silently; the spec refuses them, naming limit.
    limit = param.Integer(default=1000, allow_None=True, doc="Maximum rows (1 to 100000)")

    def __init__(
        self, catalog: Catalog, scope: Scope, *, initial: dict[str, Any] | None = None, **params: Any
    ) -> None:
        self.catalog = catalog
        self.scope = scope
        super().__init__(**params)
        self.param.source.objects = catalog.names
        self._metrics = pn.Column(sizing_mode="stretch_width")
        self._groups = pn.Column(sizing_mode="stretch_width")
        self._filters = pn.Column(sizing_mode="stretch_width")
        self._sort = pn.widgets.Select(name="Sort by", options=[""], width=160)
        self._desc = pn.widgets.Checkbox(name="descending", value=True, width=100)
        self._message = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self._sort.param.watch(lambda *_: self._rebuild(), "value")
        self._desc.param.watch(lambda *_: self._rebuild(), "value")
        self.param.watch(lambda *_: self._rebuild(), "limit")
        self.param.watch(self._source_changed, "source")
        self.load(initial or {"source": catalog.names[0], "metrics": [{"agg": "count", "as": "count"}]})

    # -- loading -----------------------------------------------------------
    def load(self, spec: dict[str, Any]) -> None:
        """Show an existing spec in the builder."""
        qs = parse_spec(QuerySpec, spec)
        self._loading = True
        self.source = qs.source
        self._metrics.objects = [self._metric_row(m.agg, m.column, m.alias or "", m.p) for m in qs.metrics]
        self._groups.objects = [self._group_row(g.column, g.bucket or "", g.alias or "") for g in qs.group_by]
        self._filters.objects = [
            self._filter_row(f.column, f.op, filter_text(f.op, f.value)) for f in qs.filters
        ]
        self.limit = qs.limit
        self._loading = False
        self._rebuild()
        if qs.sort:
            self._sort.value = qs.sort[0].by if qs.sort[0].by in self._sort.options else ""
            self._desc.value = qs.sort[0].desc

    def _columns(self) -> list[str]:
        return self.catalog.source(self.source).column_names if self.source else []

    def _source_changed(self, *_: Any) -> None:
        """Keep what still applies to the new source (its columns exist there); say what was dropped."""
        if getattr(self, "_loading", False):
            return
        spec, cols = self.current(), set(self._columns())
        kept_m = [m for m in spec["metrics"] if m.get("column") is None or m["column"] in cols]
        kept_g = [g for g in spec["group_by"] if g["column"] in cols]
        kept_f = [f for f in spec["filters"] if f["column"] in cols]
        dropped = [
            *(f"metric {m.get('as') or m['column']}" for m in spec["metrics"] if m not in kept_m),
            *(f"group by {g['column']}" for g in spec["group_by"] if g not in kept_g),
            *(f"filter on {f['column']}" for f in spec["filters"] if f not in kept_f),
        ]
        self._loading = True
        self._metrics.objects = [
            self._metric_row(m["agg"], m.get("column"), m.get("as", ""), m.get("p")) for m in kept_m
        ] or [self._metric_row("count", None, "count", None)]
        self._groups.objects = [
            self._group_row(g["column"], g.get("bucket", ""), g.get("as", "")) for g in kept_g
        ]
        self._filters.objects = [
            self._filter_row(f["column"], f["op"], filter_text(f["op"], f["value"])) for f in kept_f
        ]
        self._loading = False
        self._rebuild()
        if dropped:
            notify(f"{self.source} has no column for: {', '.join(dropped)} (removed); the rest was kept")

    # -- rows ----------------------------------------------------------------
    def _remove(self, column: pn.Column, row: pn.Row) -> None:
        column.objects = [r for r in column.objects if r is not row]
        self._rebuild()

    def _watch(self, *widgets: Any) -> None:
        for w in widgets:
            w.param.watch(lambda *_: self._rebuild(), "value")

    def _metric_row(self, agg: str, column: str | None, alias: str, p: float | None) -> pn.Row:
        a = pn.widgets.Select(options=AGGS, value=agg, width=130)
        c = pn.widgets.Select(options=["", *self._columns()], value=column or "", width=170)
        name = pn.widgets.TextInput(value=alias, placeholder="as (name)", width=120)
        pct = pn.widgets.FloatInput(
            value=p or 0.9, start=0.01, end=0.99, step=0.05, width=70, visible=agg == "percentile"
        )
        a.param.watch(lambda e: setattr(pct, "visible", e.new == "percentile"), "value")
        rm = pn.widgets.Button(name="✕", width=34, button_type="light")
        row = pn.Row(a, c, pct, name, rm, css_classes=["qb-metric"])
        rm.on_click(lambda _: self._remove(self._metrics, row))
        self._watch(a, c, name, pct)
        return row

    def _group_row(self, column: str, bucket: str, alias: str) -> pn.Row:
        c = pn.widgets.Select(options=self._columns(), value=column or self._columns()[0], width=170)
        b = pn.widgets.Select(options=BUCKETS, value=bucket, width=120)
        name = pn.widgets.TextInput(value=alias, placeholder="as (name)", width=120)
        rm = pn.widgets.Button(name="✕", width=34, button_type="light")
        row = pn.Row(c, b, name, rm, css_classes=["qb-group"])
        rm.on_click(lambda _: self._remove(self._groups, row))
        self._watch(c, b, name)
        return row

    def _filter_row(self, column: str, op: str, value: str) -> pn.Row:
        c = pn.widgets.Select(options=self._columns(), value=column or self._columns()[0], width=170)
        o = pn.widgets.Select(options=OPS, value=op, width=100)
        v = pn.widgets.TextInput(value=value, placeholder="value, a,b or {{now-30d}}..{{now}}", width=230)
        rm = pn.widgets.Button(name="✕", width=34, button_type="light")
        row = pn.Row(c, o, v, rm, css_classes=["qb-filter"])
        rm.on_click(lambda _: self._remove(self._filters, row))
        self._watch(c, o, v)
        return row

    def _add(self, kind: str) -> None:
        cols = self._columns()
        if kind == "metric":
            self._metrics.append(self._metric_row("count", None, "", None))
        elif kind == "group":
            self._groups.append(self._group_row(cols[0], "", ""))
        else:
            self._filters.append(self._filter_row(cols[0], "=", ""))
        self._rebuild()

    # -- spec ----------------------------------------------------------------
    def current(self) -> dict[str, Any]:
        """The spec as typed so far (may be invalid)."""
        metrics = []
        for row in self._metrics.objects:
            a, c, pct, name, _ = row.objects
            m: dict[str, Any] = {"agg": a.value}
            if c.value:
                m["column"] = c.value
            if name.value.strip():
                m["as"] = name.value.strip()
            if a.value == "percentile":
                m["p"] = pct.value
            metrics.append(m)
        groups = []
        for row in self._groups.objects:
            c, b, name, _ = row.objects
            g: dict[str, Any] = {"column": c.value}
            if b.value:
                g["bucket"] = b.value
            if name.value.strip():
                g["as"] = name.value.strip()
            groups.append(g)
        filters = []
        for row in self._filters.objects:
            c, o, v, _ = row.objects
            filters.append({"column": c.value, "op": o.value, "value": parse_filter_value(o.value, v.value)})
        spec: dict[str, Any] = {
            "source": self.source,
            "metrics": metrics,
            "group_by": groups,
            "filters": filters,
            "limit": self.limit,
        }
        if self._sort.value:
            spec["sort"] = [{"by": self._sort.value, "desc": bool(self._desc.value)}]
        return spec

    def _rebuild(self) -> None:
        if getattr(self, "_loading", False):
            return
        spec = self.current()
        try:
            qs = parse_spec(QuerySpec, spec)
            names = qs.output_names
            if self._sort.options != ["", *names]:
                keep = self._sort.value if self._sort.value in names else ""
                self._sort.options = ["", *names]
                self._sort.value = keep
                spec = self.current()
            compile_query(spec, self.catalog, self.scope)
        except PortalError as exc:
            self.error = exc.message
            self.spec = None
            self._message.object, self._message.visible = escape_md(exc.message), True
            return
        self.error = ""
        self._message.visible = False
        self.spec = spec

    def __panel__(self) -> pn.viewable.Viewable:
        def add_button(label: str, kind: str) -> pn.widgets.Button:
            b = pn.widgets.Button(name=label, button_type="light", width=120)
            b.on_click(lambda _: self._add(kind))
            return b

        return pn.Column(
            pn.widgets.Select.from_param(self.param.source, name="Source", width=240),
            pn.pane.Markdown("**Metrics**", margin=(0, 5)),
            self._metrics,
            add_button("+ metric", "metric"),
            pn.pane.Markdown("**Group by**", margin=(0, 5)),
            self._groups,
            add_button("+ group by", "group"),
            pn.pane.Markdown("**Filters**", margin=(0, 5)),
            self._filters,
            add_button("+ filter", "filter"),
            pn.Row(
                self._sort,
                self._desc,
                pn.widgets.IntInput.from_param(
                    self.param.limit, name="Limit", width=110, css_classes=["qb-limit"]
                ),
            ),
            self._message,
            sizing_mode="stretch_width",
            css_classes=["query-builder"],
        )
