"""Snapshot shares: a dashboard's results frozen when the link is made, and read back unchanged.

What is frozen is what the link's viewer would have seen at that moment (the link's scope
applied), so a snapshot never holds rows its viewers may not see.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pandas as pd

from portal.dashboards.data import DashboardView, KpiResult, WidgetResult
from portal.errors import PayloadTooLarge
from portal.models import Widget
from portal.specs.widget import parse_stored_widget
from portal.viz.cards import kpi_values
from portal.viz.formats import Display

#: A snapshot is stored in the token row: a dashboard whose frozen results are larger is refused.
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
SNAPSHOT_VERSION = 1


def _frame(frame: pd.DataFrame | None) -> str | None:
    # orient="table" keeps the dtypes (dates stay dates, integers stay integers).
    return None if frame is None else frame.to_json(orient="table", index=False, date_format="iso")


def _unframe(doc: str | None) -> pd.DataFrame | None:
    return None if doc is None else pd.read_json(io.StringIO(doc), orient="table")


def freeze(view: DashboardView) -> dict[str, Any]:
    """The JSON document of a loaded dashboard: each widget's spec, position and results."""
    widgets: list[dict[str, Any]] = []
    for r in view.widgets:
        shown = r.spec or r.stored
        start, end = r.display.window if r.display is not None else (None, None)
        widgets.append(
            {
                "id": r.widget.id,
                "position": dict(r.widget.position or {}),
                "spec": None
                if shown is None
                else shown.model_dump(mode="json", by_alias=True, exclude_none=True),
                "frame": _frame(r.frame),
                "totals": _frame(r.totals),
                "subtotals": _frame(r.subtotals),
                "kpi": None if r.kpi is None else {"value": r.kpi.value, "previous": r.kpi.previous},
                "html": r.html,
                "error": r.error,
                "display": None
                if r.display is None
                else {
                    "labels": dict(r.display.labels),
                    "formats": dict(r.display.formats),
                    "buckets": dict(r.display.buckets),
                    "window": [start.isoformat() if start else None, end.isoformat() if end else None],
                },
            }
        )
    doc = {
        "version": SNAPSHOT_VERSION,
        "dashboard": {"id": view.dashboard.id, "name": view.dashboard.name},
        "as_of": view.as_of.isoformat(),
        "filters": view.filters.model_dump(mode="json"),
        "widgets": widgets,
    }
    size = len(json.dumps(doc))
    if size > MAX_SNAPSHOT_BYTES:
        raise PayloadTooLarge(
            f"object_id: this dashboard's results are {size / 1e6:.1f} MB; a snapshot holds at most "
            f"{MAX_SNAPSHOT_BYTES / 1e6:.0f} MB (share it live, or narrow the link's scope)",
            field="object_id",
        )
    return doc


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def thaw(doc: dict[str, Any]) -> list[WidgetResult]:
    """The frozen widgets as results the dashboard renderers draw (detached ``Widget`` rows)."""
    out: list[WidgetResult] = []
    for w in doc.get("widgets", []):
        row = Widget(id=w["id"], position=w.get("position") or {}, config_json=w.get("spec") or {})
        spec = parse_stored_widget(w["spec"]) if w.get("spec") else None
        kpi = None
        if w.get("kpi") is not None and spec is not None and spec.kpi is not None:
            value, previous = w["kpi"]["value"], w["kpi"]["previous"]
            kpi = KpiResult(value=value, previous=previous, shown=kpi_values(value, previous, spec.kpi))
        d = w.get("display")
        display = (
            None
            if d is None
            else Display(
                labels=d.get("labels", {}),
                formats=d.get("formats", {}),
                buckets=d.get("buckets", {}),
                window=(_moment(d["window"][0]), _moment(d["window"][1])),
            )
        )
        frame = _unframe(w.get("frame"))
        out.append(
            WidgetResult(
                widget=row,
                spec=spec,
                stored=spec,
                frame=frame,
                row_count=0 if frame is None else len(frame),
                kpi=kpi,
                html=w.get("html"),
                error=w.get("error"),
                totals=_unframe(w.get("totals")),
                subtotals=_unframe(w.get("subtotals")),
                display=display,
            )
        )
    return out
