"""Dashboard-level specs: global filters and the audience of customer-visible objects."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    Field,
)

from portal.specs.base import (
    _Spec,
)


class ObjectScope(_Spec):
    """Who a ``customer``-visible report or dashboard is for: ``{"customer_id": 7}``."""

    customer_id: int | None = Field(default=None, ge=1, le=2**62)

    def stored(self) -> dict[str, Any]:
        """The ``scope_json`` column value."""
        return self.model_dump(exclude_none=True)


#: One value of a global filter (a customer, location or team name).
FilterText = Annotated[str, Field(max_length=200)]


class DashboardFilters(_Spec):
    """Global filters applied to every widget whose source has the matching column."""

    time_range: str | None = Field(default=None, max_length=200, description="e.g. '{{now-30d}}..{{now}}'")
    customer: list[FilterText] = Field(default_factory=list, max_length=200)
    location: list[FilterText] = Field(default_factory=list, max_length=200)
    team: list[FilterText] = Field(default_factory=list, max_length=200)


#: Which column each global filter uses.
GLOBAL_FILTER_COLUMNS = {"customer": "customer_name", "location": "location_name", "team": "team_name"}
