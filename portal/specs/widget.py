"""Chart, table, KPI and widget specs (one ChartSpec for the web and for PDFs) and grid positions."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from portal.specs.base import _Spec, invalid_from_validation
from portal.specs.query import QuerySpec

#: How a KPI value reads (the number formats of ``portal.viz.formats``).
KpiFormat = Literal["number", "integer", "percent", "currency", "duration_h", "duration_min", "duration_s"]

# --------------------------------------------------------------------------- charts and widgets
Viz = Literal["bar", "column", "line", "area", "pie", "donut", "treemap", "heatmap"]
VIZ_TYPES: tuple[str, ...] = ("bar", "column", "line", "area", "pie", "donut", "treemap", "heatmap")


class ChartSpec(_Spec):
    """One chart of a query result, rendered on the web (bokeh) and in PDFs (plotly).

    ``x``: category/time column; ``y``: value column(s); ``series``: column that
    splits values into stacked or grouped series. Pie/donut/treemap use ``x`` as
    labels and ``y[0]`` as size (treemap: ``series`` as the parent level).
    Heatmap: ``x`` columns × ``series`` rows, coloured by ``y[0]``.
    """

    viz: Viz
    x: str
    y: list[str] = Field(min_length=1, max_length=8)
    series: str | None = None
    stacked: bool = False
    title: str = Field(default="", max_length=200)
    x_label: str | None = Field(default=None, max_length=100)
    y_label: str | None = Field(default=None, max_length=100)
    colors: list[str] | None = Field(default=None, max_length=20)
    height: int = Field(default=320, ge=120, le=2000)

    @field_validator("colors")
    @classmethod
    def _hex(cls, v: list[str] | None) -> list[str] | None:
        for c in v or []:
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", c):
                raise ValueError(f"color {c!r} must be #rrggbb")
        return v

    @model_validator(mode="after")
    def _shape(self) -> ChartSpec:
        if self.viz == "heatmap" and not self.series:
            raise ValueError("heatmap needs series (the row dimension)")
        if self.series is not None and self.series == self.x:
            raise ValueError(f"series must differ from x (both are {self.x!r})")
        if self.x in self.y or (self.series is not None and self.series in self.y):
            raise ValueError("y columns must differ from x and series")
        if self.viz in ("pie", "donut", "heatmap", "treemap") and len(self.y) != 1:
            raise ValueError(f"{self.viz} takes exactly one y column")
        return self

    @property
    def columns(self) -> list[str]:
        """Result columns the chart reads."""
        return [self.x, *self.y, *([self.series] if self.series else [])]


class TableSpec(_Spec):
    """A table widget: sort, pagination, subtotals by group and a grand total."""

    columns: list[str] | None = None
    subtotals_by: str | None = None
    totals: bool = True
    page_size: int = Field(default=15, ge=5, le=500)
    sort_by: str | None = None
    sort_desc: bool = False


class KpiSpec(_Spec):
    """A KPI card: value, target, variation against the previous period, traffic light."""

    value: str = Field(description="metric column of the query result")
    label: str = ""
    target: float | None = None
    compare_previous: bool = True
    higher_is_better: bool = True
    # Traffic light by ratio value/target (or by the value itself without a target).
    good_at: float | None = None
    warn_at: float | None = None
    format: KpiFormat = "number"
    decimals: int = Field(default=0, ge=0, le=6)


class DrillSpec(_Spec):
    """Drill-down: a hierarchy to walk (``["team_name", "agent_name"]``) or a dashboard filter to set."""

    hierarchy: list[str] = Field(default_factory=list, max_length=6)
    filter: Literal["customer", "location", "team"] | None = None


WidgetType = Literal["chart", "table", "kpi", "text"]

#: A real-time channel name (one definition: the bus, the REST edge and widget specs use it).
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_.:-]{0,99}$"
#: Chart types a real-time block can drive in place, and the mode each takes: a line grows at its
#: end (``append``); a column or bar chart keeps one bar per category, the latest value winning.
REALTIME_VIZ: dict[str, str] = {"line": "append", "column": "replace", "bar": "replace"}


class RealtimeSpec(_Spec):
    """A widget fed by a real-time channel (``portal.realtime``): messages update the tile in place.

    ``append``: each message adds rows (a line chart's points), the last ``keep`` stay;
    ``replace``: each message replaces the value (a KPI) or its category's bar. ``fields`` maps
    the widget's result columns to the message's field names where they differ
    (``{"open_tickets": "open"}``); a column not named there is read from the field of its own name.
    The tile starts from the channel's recent history, or from the widget's query when there is none.
    """

    channel: str = Field(pattern=CHANNEL_PATTERN, max_length=100)
    mode: Literal["append", "replace"] = "replace"
    fields: dict[Annotated[str, Field(max_length=63)], Annotated[str, Field(max_length=100)]] = Field(
        default_factory=dict, max_length=20
    )
    keep: int = Field(default=120, ge=1, le=2000)


class WidgetSpec(_Spec):
    """``config_json`` of a widget.

    Non-text widgets take exactly one data source: an inline ``query``, a
    dashboard query by ``query_name`` (one query, many views) or a saved ``report_id``.
    """

    type: WidgetType
    # Validated even when left out: every widget but a text one needs a title.
    title: str = Field(default="", max_length=200, validate_default=True)
    query: QuerySpec | None = None
    query_name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    report_id: int | None = Field(default=None, ge=1)
    chart: ChartSpec | None = None
    table: TableSpec | None = None
    kpi: KpiSpec | None = None
    text: str | None = Field(default=None, max_length=20_000)
    drilldown: DrillSpec | None = None
    refresh_interval_sec: int | None = Field(default=None, ge=5, le=86_400)
    #: Optional (absent from every widget stored before it existed).
    realtime: RealtimeSpec | None = None

    @field_validator("title")
    @classmethod
    def _titled(cls, v: str, info: ValidationInfo) -> str:
        # Widgets saved before the rule still load (``parse_stored_widget``); new ones need a title.
        stored = bool(info.context and info.context.get("stored"))
        if not stored and info.data.get("type", "text") != "text" and not v.strip():
            raise ValueError("give the widget a title (only text widgets may go without one)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WidgetSpec:
        sources = [x for x in (self.query, self.query_name, self.report_id) if x is not None]
        if self.type == "text":
            if self.text is None:
                raise ValueError("text widgets need text (Markdown)")
            if sources:
                raise ValueError("text widgets take no query")
            return self
        if len(sources) != 1:
            raise ValueError("give exactly one of query, query_name or report_id")
        if self.type == "chart" and self.chart is None:
            raise ValueError("chart widgets need chart")
        if self.type == "kpi" and self.kpi is None:
            raise ValueError("kpi widgets need kpi")
        if self.realtime is not None:
            self._check_realtime(self.realtime)
        return self

    def _check_realtime(self, rt: RealtimeSpec) -> None:
        # Only what the page can update in place without drawing the chart again is accepted.
        if self.type == "kpi":
            return
        chart = self.chart
        if self.type != "chart" or chart is None or chart.viz not in REALTIME_VIZ:
            kinds = ", ".join(f"{v} charts" for v in REALTIME_VIZ)
            raise ValueError(f"realtime: only KPI cards and {kinds} update in real time")
        if rt.mode != REALTIME_VIZ[chart.viz]:
            raise ValueError(
                f"realtime.mode: a real-time {chart.viz} chart takes mode {REALTIME_VIZ[chart.viz]!r}"
            )
        if chart.series is not None:
            raise ValueError("realtime: a real-time chart takes y columns, not a series column")
        if chart.viz != "line" and len(chart.y) != 1:
            raise ValueError(f"realtime: a real-time {chart.viz} chart takes exactly one y column")

    @property
    def viz(self) -> str:
        """The ``widgets.viz`` column value."""
        if self.type == "chart" and self.chart is not None:
            return self.chart.viz
        return self.type


class Position(_Spec):
    """Grid position in a 12-column layout."""

    x: int = Field(default=0, ge=0, le=11)
    y: int = Field(default=0, ge=0, le=1000)
    w: int = Field(default=4, ge=1, le=12)
    h: int = Field(default=3, ge=1, le=40)

    @model_validator(mode="after")
    def _fits(self) -> Position:
        if self.x + self.w > 12:
            raise ValueError(f"x + w must be at most 12 (got {self.x} + {self.w})")
        return self


def parse_stored_widget(data: Any) -> WidgetSpec:
    """A widget spec as saved in the database: the rules for new input that came later (a title)
    do not stop an older widget from being shown; anything else invalid raises ``InvalidSpec``."""
    if isinstance(data, WidgetSpec):
        return data
    try:
        return WidgetSpec.model_validate(data, context={"stored": True})
    except ValidationError as exc:
        raise invalid_from_validation(exc, WidgetSpec.__name__) from None
