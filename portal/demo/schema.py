"""Shape of the demo warehouse: its size, tenants, tables, columns, nullability and keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portal.data.catalog import DEMO_CATALOG, ColumnType

# ---------------------------------------------------------------------------
# Public configuration


@dataclass(frozen=True)
class DemoSize:
    """How much demo data to generate."""

    tickets: int = 300_000
    messages_per_ticket: float = 2.4
    months: int = 18
    seed: int = 42

    def __post_init__(self) -> None:
        if self.tickets < 0:
            raise ValueError("tickets must be >= 0")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        if self.messages_per_ticket < 0:
            raise ValueError("messages_per_ticket must be >= 0")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")

    @classmethod
    def scaled(cls, factor: float) -> DemoSize:
        """The default size with ``factor`` times the tickets (1.0 = default, 0.01 = tiny)."""
        if factor <= 0:
            raise ValueError("factor must be > 0")
        return cls(tickets=max(1, round(cls.tickets * factor)))


@dataclass(frozen=True)
class DemoTenant:
    """A demo tenant: its key (``tenant_key`` in the warehouse), display name, share of volume and profile."""

    key: str
    name: str
    share: float = 0.5
    profile: str = "facilities"


TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(key="acme", name="Acme Facilities", share=0.6, profile="facilities"),
    DemoTenant(key="globex", name="Globex Telecom", share=0.4, profile="telecom"),
)

DIMENSION_COLUMNS: dict[str, tuple[tuple[str, ColumnType], ...]] = {
    "customers": (
        ("customer_id", "int"),
        ("tenant_key", "string"),
        ("name", "string"),
        ("segment", "string"),
        ("city", "string"),
        ("state", "string"),
        ("region", "string"),
    ),
    "locations": (
        ("location_id", "int"),
        ("tenant_key", "string"),
        ("customer_id", "int"),
        ("name", "string"),
        ("city", "string"),
        ("state", "string"),
        ("region", "string"),
    ),
    "teams": (("team_id", "int"), ("tenant_key", "string"), ("name", "string")),
    "agents": (("agent_id", "int"), ("tenant_key", "string"), ("team_id", "int"), ("name", "string")),
    "contracts": (
        ("contract_id", "int"),
        ("tenant_key", "string"),
        ("customer_id", "int"),
        ("name", "string"),
        ("start_date", "date"),
        ("end_date", "date"),
        ("sla_hours", "int"),
        ("monthly_value", "float"),
    ),
}
"""Columns of the dimension tables (not in the catalog; they feed filter pickers)."""

_FACT_ORDER = ("revenue", "tickets", "conversations", "messages", "maintenance_orders", "expenses")
_CATALOGUED = {s.table: tuple((c.name, c.type) for c in s.columns) for s in DEMO_CATALOG.sources}
TABLE_COLUMNS: dict[str, tuple[tuple[str, ColumnType], ...]] = {
    **DIMENSION_COLUMNS,
    **{t: _CATALOGUED[t] for t in _FACT_ORDER},
    **_CATALOGUED,
}
"""Every table the demo warehouse holds, with its columns, in the order they are generated."""

NULLABLE_COLUMNS: Mapping[str, frozenset[str]] = {
    "contracts": frozenset({"end_date"}),
    "tickets": frozenset({"first_response_at", "first_response_minutes", "closed_at", "resolution_hours"}),
    "maintenance_orders": frozenset({"completed_at", "duration_hours"}),
    "conversations": frozenset({"ended_at", "first_response_seconds", "handle_minutes", "csat_score"}),
    "messages": frozenset({"response_seconds"}),
}
"""The only columns that may hold NULL (things that have not happened yet or do not apply)."""

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "locations": ("location_id",),
    "teams": ("team_id",),
    "agents": ("agent_id",),
    "contracts": ("contract_id",),
    "revenue": ("contract_id", "month"),
    "tickets": ("ticket_id",),
    "conversations": ("conversation_id",),
    "messages": ("message_id",),
    "maintenance_orders": ("order_id",),
    "expenses": ("expense_id",),
}
