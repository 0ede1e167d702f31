"""The catalog: the allow-list of warehouse sources and columns a query may touch.

Queries never name a table or column that is not in the catalog, and the scope
columns declared here are how tenant/location/contract/customer row filters are
applied to every query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from portal.errors import unknown

ColumnType = Literal["int", "float", "string", "bool", "datetime", "date"]
ScopeKind = Literal["tenant", "location", "contract", "customer"]


@dataclass(frozen=True)
class Column:
    """One queryable column."""

    name: str
    type: ColumnType
    label: str = ""
    description: str = ""

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

    def to_dict(self) -> dict[str, object]:
        """JSON description for the API and the query builder UI."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "time_column": self.time_column,
            "scope": dict(self.scope),
            "columns": [
                {"name": c.name, "type": c.type, "label": c.label or c.name, "description": c.description}
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


def _cols(spec: Iterable[tuple[str, ColumnType, str]]) -> tuple[Column, ...]:
    return tuple(Column(n, t, label) for n, t, label in spec)


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
                    ("first_response_minutes", "float", "First response (min)"),
                    ("resolution_hours", "float", "Resolution (h)"),
                    ("sla_target_hours", "float", "SLA target (h)"),
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
                    ("duration_hours", "float", "Duration (h)"),
                    ("sla_target_hours", "float", "SLA target (h)"),
                    ("sla_breached", "bool", "SLA breached"),
                    ("labor_cost", "float", "Labor cost"),
                    ("parts_cost", "float", "Parts cost"),
                    ("total_cost", "float", "Total cost"),
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
                    ("amount", "float", "Amount"),
                    ("budget", "float", "Budget"),
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
                    ("first_response_seconds", "float", "First response (s)"),
                    ("handle_minutes", "float", "Handle time (min)"),
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
                    ("response_seconds", "float", "Response time (s)"),
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
                    ("mrr", "float", "MRR"),
                    ("new_mrr", "float", "New MRR"),
                    ("expansion_mrr", "float", "Expansion MRR"),
                    ("churned_mrr", "float", "Churned MRR"),
                    ("active", "bool", "Active"),
                ]
            ),
            scope=_SCOPE,
            time_column="month",
            description="Monthly recurring revenue per contract.",
        ),
    )
)
