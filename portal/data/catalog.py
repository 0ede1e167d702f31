"""The catalog: the allow-list of warehouse sources and columns a query may touch.

Queries never name a table or column that is not in the catalog, and the scope
columns declared here are how tenant/location/contract/customer row filters are
applied to every query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from portal.errors import unknown

if TYPE_CHECKING:
    from portal.specs import Metric, QuerySpec

ColumnType = Literal["int", "float", "string", "bool", "datetime", "date"]
ScopeKind = Literal["tenant", "location", "contract", "customer"]
#: How a value reads (see ``portal.viz.formats``): ``""`` means "by the column type".
ColumnFormat = Literal[
    "", "integer", "number", "percent", "currency", "duration_h", "duration_min", "duration_s", "text", "time"
]
#: Units kept by every aggregate of a column (a sum or average of hours is hours).
_UNIT_FORMATS = frozenset({"currency", "duration_h", "duration_min", "duration_s", "percent"})
_BUCKET_WORDS = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "quarter",
    "year": "year",
    "hour_of_day": "hour of day",
    "day_of_week": "weekday",
    "month_of_year": "month of year",
}
_AGG_WORDS = {
    "count": "Count",
    "count_distinct": "Distinct",
    "sum": "Total",
    "avg": "Avg",
    "min": "Min",
    "max": "Max",
    "median": "Median",
}


@dataclass(frozen=True)
class Column:
    """One queryable column: its type, display label and (optionally) how its values read."""

    name: str
    type: ColumnType
    label: str = ""
    description: str = ""
    format: ColumnFormat = ""

    #: The known values of a low-cardinality text column (empty: not listed). A filter asking
    #: for another value is refused naming the closest known one instead of matching no rows.
    values: tuple[str, ...] = ()

    @property
    def value_format(self) -> str:
        """The column's format: the catalog's, else by type (ids and text as text, flags as integers)."""
        if self.format:
            return self.format
        if self.type in ("datetime", "date"):
            return "time"
        if self.type == "string" or self.name == "id" or self.name.endswith("_id"):
            return "text"
        return "integer" if self.type in ("int", "bool") else "number"

    @property
    def is_time(self) -> bool:
        """Whether time buckets apply."""
        return self.type in ("datetime", "date")

    @property
    def is_numeric(self) -> bool:
        """Whether sum/avg/percentiles apply."""
        return self.type in ("int", "float", "bool")


@dataclass(frozen=True)
class Source:
    """A catalogued table or view of the warehouse."""

    name: str
    table: str
    label: str
    columns: tuple[Column, ...]
    scope: Mapping[ScopeKind, str] = field(default_factory=dict)
    time_column: str | None = None
    description: str = ""
    #: The one tenant that owns the source (a source it added: ``portal.data.tenant_sources``).
    #: Queries of any other tenant are refused; no tenant column is needed then.
    tenant_key: str | None = None
    #: Parquet file(s) holding the data instead of :attr:`table` (DuckDB warehouse only). Set by
    #: the loader, never by a user: it is written into the statement as a quoted literal.
    parquet: str = ""
    #: ``""``: the warehouse; ``"ds:7"``: the connected database of data source 7.
    engine_key: str = ""
    #: Bumped by each load of a tenant's source: part of the cache identity of its results.
    version: int = 0

    def column(self, name: str, *, field: str) -> Column:
        """The column called ``name``; :class:`InvalidSpec` naming ``field`` if there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise unknown("column", name, (c.name for c in self.columns), field=field)

    @property
    def column_names(self) -> list[str]:
        """All column names, in declaration order."""
        return [c.name for c in self.columns]

    def describe(self, spec: QuerySpec) -> dict[str, ResultColumn]:
        """Display label, format and time bucket of each result column of ``spec``, in result order.

        Labels: an aliased column reads as its humanised alias (``breach_rate`` -> "Breach rate"),
        a plain group-by as the catalog label ("Team"), a bucketed one as "Opened at (week)",
        an unaliased metric as "Avg Resolution (h)". Formats follow the aggregate: counts are
        integers, the average of a 0/1 flag is a percent, sums and averages keep the column's
        unit (currency, durations), an average of whole numbers is a number.
        """
        out: dict[str, ResultColumn] = {}
        for g in spec.group_by:
            col = self.find_column(g.column)
            base = col.label if col is not None and col.label else humanise(g.column)
            label = humanise(g.alias) if g.alias and g.alias != g.column else base
            if g.bucket and not g.alias:
                label = f"{base} ({_BUCKET_WORDS.get(g.bucket, g.bucket)})"
            if g.bucket in ("hour_of_day", "day_of_week", "month_of_year"):
                fmt = "integer"
            elif g.bucket:
                fmt = "time"
            else:
                fmt = col.value_format if col is not None else "text"
            out[g.name] = ResultColumn(g.name, label, fmt, g.bucket, None, g.column)
        for m in spec.metrics:
            col = self.find_column(m.column) if m.column else None
            out[m.name] = ResultColumn(
                m.name, _metric_label(m, col), _metric_format(m, col), None, m.agg, m.column
            )
        for c in spec.columns:
            col = self.find_column(c)
            label = col.label if col is not None and col.label else humanise(c)
            out[c] = ResultColumn(c, label, col.value_format if col is not None else "text", None, None, c)
        return out

    def find_column(self, name: str | None) -> Column | None:
        """The column called ``name``, or None (no error: for describing results)."""
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, object]:
        """JSON description for the API and the query builder UI."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "time_column": self.time_column,
            "scope": dict(self.scope),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "label": c.label or c.name,
                    "description": c.description,
                    **({"values": list(c.values)} if c.values else {}),
                }
                for c in self.columns
            ],
        }


@dataclass(frozen=True)
class Catalog:
    """A set of sources, looked up by name."""

    sources: tuple[Source, ...]

    def source(self, name: str, *, field: str = "source") -> Source:
        """The source called ``name``; :class:`InvalidSpec` naming ``field`` if there is none."""
        for s in self.sources:
            if s.name == name:
                return s
        raise unknown("source", name, (s.name for s in self.sources), field=field)

    @property
    def names(self) -> list[str]:
        """All source names."""
        return [s.name for s in self.sources]

    def to_dict(self) -> list[dict[str, object]]:
        """JSON description of every source."""
        return [s.to_dict() for s in self.sources]


@dataclass(frozen=True)
class ResultColumn:
    """A column of a query result as a reader sees it (:meth:`Source.describe`)."""

    name: str
    label: str
    format: str  # see ``ColumnFormat``
    bucket: str | None = None  # the time bucket of a grouped time column
    agg: str | None = None  # the aggregate of a metric
    column: str | None = None  # the catalog column it reads


_ACRONYMS = {"csat", "sla", "mrr", "kpi", "nps", "id", "api", "sku"}
_UNIT_WORDS = {"h": "(h)", "hours": "(h)", "min": "(min)", "minutes": "(min)", "s": "(s)", "seconds": "(s)"}


def humanise(name: str) -> str:
    """A result column name as a header: ``avg_resolution_h`` -> ``Avg resolution (h)``.

    The same rule as ``portal.viz.formats.humanise`` (``data`` and ``viz`` do not import each other).
    """
    words = [w for w in re.split(r"[_\s]+", name.strip()) if w]
    out = []
    for i, w in enumerate(words):
        low = w.lower()
        if i == len(words) - 1 and i > 0 and low in _UNIT_WORDS:
            out.append(_UNIT_WORDS[low])
        elif low in _ACRONYMS:
            out.append(low.upper())
        elif low == "avg":
            out.append("Avg")
        elif low == "pct":
            out.append("%")
        else:
            out.append(w)
    text = " ".join(out) or name
    return text[:1].upper() + text[1:]


def _metric_label(m: Metric, col: Column | None) -> str:
    agg, alias, column, p = m.agg, m.alias, m.column, m.p
    if alias:
        return humanise(alias)
    if agg == "count" and not column:
        return "Count"
    what = col.label if col is not None and col.label else humanise(str(column))
    if agg == "percentile":
        return f"P{round((p or 0) * 100):d} {what}"
    if agg == "avg" and col is not None and col.type == "bool":
        return f"{what} (rate)"
    return f"{_AGG_WORDS.get(agg, agg)} {what}"


def _metric_format(m: Metric, col: Column | None) -> str:
    agg = m.agg
    if agg in ("count", "count_distinct"):
        return "integer"
    if col is None:
        return "number"
    if col.type == "bool":
        # The average of a 0/1 flag is a rate; its sum counts the true rows.
        return "percent" if agg in ("avg", "median", "percentile") else "integer"
    if col.format in _UNIT_FORMATS:
        return col.format
    if col.type == "int" and agg in ("sum", "min", "max"):
        return "integer"
    return "number"


def _cols(
    spec: Iterable[tuple[str, ColumnType, str] | tuple[str, ColumnType, str, ColumnFormat]],
) -> tuple[Column, ...]:
    return tuple(Column(c[0], c[1], c[2], format=c[3] if len(c) > 3 else "") for c in spec)


# Dimension columns shared by the facts, denormalised into each fact table so a
# dashboard query scans one table (star schema flattened at load time).
_CUSTOMER: list[tuple[str, ColumnType, str]] = [
    ("tenant_key", "string", "Tenant"),
    ("customer_id", "int", "Customer id"),
    ("customer_name", "string", "Customer"),
    ("customer_segment", "string", "Segment"),
    ("location_id", "int", "Location id"),
    ("location_name", "string", "Location"),
    ("city", "string", "City"),
    ("state", "string", "State"),
    ("region", "string", "Region"),
    ("contract_id", "int", "Contract id"),
    ("contract_name", "string", "Contract"),
]
_TEAM: list[tuple[str, ColumnType, str]] = [
    ("team_id", "int", "Team id"),
    ("team_name", "string", "Team"),
    ("agent_id", "int", "Agent id"),
    ("agent_name", "string", "Agent"),
]
_SCOPE: dict[ScopeKind, str] = {
    "tenant": "tenant_key",
    "location": "location_id",
    "contract": "contract_id",
    "customer": "customer_id",
}

DEMO_CATALOG = Catalog(
    sources=(
        Source(
            "tickets",
            "tickets",
            "Tickets",
            _cols(
                [
                    ("ticket_id", "int", "Ticket"),
                    *_CUSTOMER,
                    *_TEAM,
                    ("category", "string", "Category"),
                    ("priority", "string", "Priority"),
                    ("channel", "string", "Channel"),
                    ("status", "string", "Status"),
                    ("opened_at", "datetime", "Opened at"),
                    ("first_response_at", "datetime", "First response at"),
                    ("closed_at", "datetime", "Closed at"),
                    ("first_response_minutes", "float", "First response (min)", "duration_min"),
                    ("resolution_hours", "float", "Resolution (h)", "duration_h"),
                    ("sla_target_hours", "float", "SLA target (h)", "duration_h"),
                    ("sla_breached", "bool", "SLA breached"),
                    ("reopened", "bool", "Reopened"),
                ]
            ),
            scope=_SCOPE,
            time_column="opened_at",
            description="Service tickets with SLA targets and outcomes.",
        ),
        Source(
            "maintenance_orders",
            "maintenance_orders",
            "Maintenance orders",
            _cols(
                [
                    ("order_id", "int", "Order"),
                    *_CUSTOMER,
                    *_TEAM,
                    ("asset_type", "string", "Asset type"),
                    ("kind", "string", "Kind"),
                    ("priority", "string", "Priority"),
                    ("status", "string", "Status"),
                    ("opened_at", "datetime", "Opened at"),
                    ("completed_at", "datetime", "Completed at"),
                    ("duration_hours", "float", "Duration (h)", "duration_h"),
                    ("sla_target_hours", "float", "SLA target (h)", "duration_h"),
                    ("sla_breached", "bool", "SLA breached"),
                    ("labor_cost", "float", "Labor cost", "currency"),
                    ("parts_cost", "float", "Parts cost", "currency"),
                    ("total_cost", "float", "Total cost", "currency"),
                ]
            ),
            scope=_SCOPE,
            time_column="opened_at",
            description="Preventive and corrective maintenance work orders.",
        ),
        Source(
            "expenses",
            "expenses",
            "Expenses",
            _cols(
                [
                    ("expense_id", "int", "Expense"),
                    *_CUSTOMER,
                    ("team_id", "int", "Team id"),
                    ("team_name", "string", "Team"),
                    ("category", "string", "Category"),
                    ("vendor", "string", "Vendor"),
                    ("cost_center", "string", "Cost center"),
                    ("incurred_at", "datetime", "Incurred at"),
                    ("amount", "float", "Amount", "currency"),
                    ("budget", "float", "Budget", "currency"),
                ]
            ),
            scope=_SCOPE,
            time_column="incurred_at",
            description="Operating expenses by category, vendor and cost center.",
        ),
        Source(
            "conversations",
            "conversations",
            "Conversations",
            _cols(
                [
                    ("conversation_id", "int", "Conversation"),
                    *_CUSTOMER,
                    *_TEAM,
                    ("channel", "string", "Channel"),
                    ("tag", "string", "Tag"),
                    ("started_at", "datetime", "Started at"),
                    ("ended_at", "datetime", "Ended at"),
                    ("message_count", "int", "Messages"),
                    ("first_response_seconds", "float", "First response (s)", "duration_s"),
                    ("handle_minutes", "float", "Handle time (min)", "duration_min"),
                    ("csat_score", "int", "CSAT (1-5)"),
                    ("resolved", "bool", "Resolved"),
                ]
            ),
            scope=_SCOPE,
            time_column="started_at",
            description="Customer-service conversations per channel with CSAT.",
        ),
        Source(
            "messages",
            "messages",
            "Messages",
            _cols(
                [
                    ("message_id", "int", "Message"),
                    ("conversation_id", "int", "Conversation"),
                    *_CUSTOMER,
                    *_TEAM,
                    ("channel", "string", "Channel"),
                    ("direction", "string", "Direction"),
                    ("sent_at", "datetime", "Sent at"),
                    ("response_seconds", "float", "Response time (s)", "duration_s"),
                    ("length_chars", "int", "Length (chars)"),
                ]
            ),
            scope=_SCOPE,
            time_column="sent_at",
            description="Individual messages of conversations (inbound and outbound).",
        ),
        Source(
            "revenue",
            "revenue",
            "Revenue (MRR)",
            _cols(
                [
                    *_CUSTOMER,
                    ("month", "date", "Month"),
                    ("plan", "string", "Plan"),
                    ("mrr", "float", "MRR", "currency"),
                    ("new_mrr", "float", "New MRR", "currency"),
                    ("expansion_mrr", "float", "Expansion MRR", "currency"),
                    ("churned_mrr", "float", "Churned MRR", "currency"),
                    ("active", "bool", "Active"),
                ]
            ),
            scope=_SCOPE,
            time_column="month",
            description="Monthly recurring revenue per contract.",
        ),
    )
)


# --------------------------------------------------------------------------- known values
def with_values(catalog: Catalog, values: Mapping[tuple[str, str], Iterable[str]]) -> Catalog:
    """``catalog`` with the known values of some columns, keyed by (source, column)."""
    from dataclasses import replace

    def column(s: Source, c: Column) -> Column:
        known = values.get((s.name, c.name))
        return replace(c, values=tuple(known)) if known is not None else c

    return Catalog(tuple(replace(s, columns=tuple(column(s, c) for c in s.columns)) for s in catalog.sources))


_PRIORITY = ("low", "normal", "high", "urgent")
_CHANNEL = ("email", "phone", "chat", "whatsapp", "portal")
#: The demo warehouse's low-cardinality columns (the demo generator's vocabulary; a test keeps them equal).
DEMO_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("tickets", "priority"): _PRIORITY,
    ("tickets", "channel"): _CHANNEL,
    ("tickets", "status"): ("open", "in_progress", "closed"),
    ("maintenance_orders", "priority"): _PRIORITY,
    ("maintenance_orders", "kind"): ("preventive", "corrective"),
    ("maintenance_orders", "status"): ("open", "in_progress", "completed", "cancelled"),
    ("conversations", "channel"): _CHANNEL,
    ("messages", "channel"): _CHANNEL,
    ("messages", "direction"): ("inbound", "outbound"),
}
DEMO_CATALOG = with_values(DEMO_CATALOG, DEMO_VALUES)
