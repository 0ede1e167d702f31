"""Tables and KPI cards as data: subtotal/total rows, KPI value, variation and traffic light.

Pure functions on frames and specs, with no plotting backend, shared by the
web widgets, the REST API and (later) the PDF renderer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from portal.errors import unknown
from portal.specs import KpiSpec, QuerySpec, TableSpec
from portal.viz.formats import format_number

RowKind = Literal["row", "subtotal", "total"]


def _label(value: Any) -> str:
    # Group labels of subtotal rows: missing values read "(blank)", 3.0 reads "3".
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "(blank)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _summary_lookup(frame: pd.DataFrame | None, key: str | None) -> dict[Any, dict[str, Any]] | None:
    """Rows of a warehouse summary frame by their ``key`` value (None: the frame's only row)."""
    if frame is None:
        return None
    rows = frame.to_dict("records")
    if key is None:
        return {None: rows[0] if rows else {}}
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        v = row.get(key)
        out[None if v is None or (isinstance(v, float) and math.isnan(v)) else v] = row
    return out


def table_with_subtotals(
    df: pd.DataFrame,
    spec: TableSpec,
    numeric: list[str] | None = None,
    *,
    totals: pd.DataFrame | None = None,
    subtotals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows of a table widget, sorted, with subtotal and total rows.

    Sorts by ``spec.sort_by``; with ``subtotals_by`` the rows of each group stay
    together (groups ordered by their subtotal of ``sort_by`` when there is one, else
    by first appearance) and a ``"Subtotal <group>"`` row follows each group; with
    ``totals`` a ``"Total"`` row ends the table. A ``_row_kind`` column says
    ``"row"``/``"subtotal"``/``"total"`` per row.

    Summary values come from the warehouse when given: ``totals`` (the query without
    group-by, one row) and ``subtotals`` (the query grouped by ``subtotals_by`` only) hold
    every metric re-aggregated by its own rule, so an average, a rate or a distinct count is
    right (never a sum of the shown values); a group missing from ``subtotals`` gets empty
    cells. Without them, the summary rows hold the sums of ``numeric`` (default: numeric
    columns, except booleans and ``*_id`` keys) — right for raw rows and additive metrics
    only, so callers with aggregated results pass the additive ones (counts, sums) there.
    The label goes in the first text column.
    """
    columns = [str(c) for c in df.columns]
    for i, c in enumerate(spec.columns or []):
        if c not in df.columns:
            raise unknown("column", c, columns, field=f"table.columns[{i}]")
    for field, name in (("table.sort_by", spec.sort_by), ("table.subtotals_by", spec.subtotals_by)):
        if name is not None and name not in df.columns:
            raise unknown("column", name, columns, field=field)
    shown = list(spec.columns) if spec.columns else [c for c in columns if c != "_row_kind"]
    if numeric is None:
        numeric = [
            c
            for c in shown
            if pd.api.types.is_numeric_dtype(df[c].dtype)
            and not pd.api.types.is_bool_dtype(df[c].dtype)
            and not (c == "id" or c.endswith("_id"))
        ]
    else:
        for i, c in enumerate(numeric):
            if c not in df.columns:
                raise unknown("column", c, columns, field=f"numeric[{i}]")
        numeric = [c for c in numeric if c in shown]
    frame = df.reset_index(drop=True)
    if spec.sort_by:
        frame = frame.sort_values(
            spec.sort_by, ascending=not spec.sort_desc, kind="stable", na_position="last"
        )
    text = [c for c in shown if c not in numeric and not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    label_col = text[0] if text else shown[0]
    body = frame[shown].copy()
    for c in shown:
        # Nullable ints keep "3" (not "3.0") when summary rows leave the cell empty.
        if pd.api.types.is_integer_dtype(body[c].dtype):
            body[c] = body[c].astype("Int64")
    if label_col not in numeric:
        body[label_col] = body[label_col].astype(object)
    total_rows = _summary_lookup(totals, None)
    group_rows = _summary_lookup(subtotals, spec.subtotals_by) if spec.subtotals_by else None

    def summary(
        part: pd.DataFrame,
        label: str,
        kind: RowKind,
        extra: Mapping[str, Any],
        exact: Mapping[str, Any] | None,
    ) -> pd.DataFrame:
        row: dict[str, Any] = dict.fromkeys(shown)
        if exact is None:
            row.update({c: part[c].sum() for c in numeric})
        else:
            # The warehouse's re-aggregation: every shown column it returned, dimensions excepted.
            row.update({c: exact[c] for c in shown if c in exact and c not in text})
        row.update(extra)
        row[label_col] = label
        row["_row_kind"] = kind
        return pd.DataFrame([row])

    pieces: list[pd.DataFrame] = []
    if spec.subtotals_by:
        key = frame[spec.subtotals_by].astype(object).where(frame[spec.subtotals_by].notna(), None)
        groups = list(dict.fromkeys(key))
        if group_rows is not None and spec.sort_by and spec.sort_by not in text:
            # Groups ordered by their exact subtotal of the sort column (missing ones last).
            by = spec.sort_by

            def exact_key(g: Any) -> tuple[bool, float]:
                v: Any = (group_rows or {}).get(g, {}).get(by)
                ok = isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v))
                return (not ok, (-float(v) if spec.sort_desc else float(v)) if ok else 0.0)

            groups.sort(key=exact_key)
        elif spec.sort_by in numeric:
            sums = {
                g: frame.loc[key == g if g is not None else key.isna(), spec.sort_by].sum() for g in groups
            }
            groups.sort(key=lambda g: sums[g], reverse=spec.sort_desc)
        for g in groups:
            mask = (key == g) if g is not None else key.isna()
            part = body[mask.to_numpy()]
            pieces.append(part.assign(_row_kind="row"))
            extra = (
                {spec.subtotals_by: g}
                if spec.subtotals_by in shown and spec.subtotals_by != label_col
                else {}
            )
            exact = None if group_rows is None else group_rows.get(g, {})
            pieces.append(summary(part, f"Subtotal {_label(g)}", "subtotal", extra, exact))
    else:
        pieces.append(body.assign(_row_kind="row"))
    if spec.totals:
        pieces.append(summary(body, "Total", "total", {}, None if total_rows is None else total_rows[None]))
    pieces = [p for p in pieces if not p.empty]
    if not pieces:
        return body.assign(_row_kind=pd.Series(dtype=object))
    out = pd.concat(pieces, ignore_index=True)
    for c in shown:
        # Summary rows hold None in columns they do not fill: restore the numeric dtypes.
        if c != label_col and pd.api.types.is_numeric_dtype(body[c].dtype):
            try:
                out[c] = out[c].astype(body[c].dtype)
            except (TypeError, ValueError):
                out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out[[*shown, "_row_kind"]]


def additive_columns(query: QuerySpec | None, columns: list[str]) -> list[str] | None:
    """Columns of a result whose summary is the sum of its rows: counts and sums of an aggregated
    query (an average's is not). None when the query is not known or returns raw rows."""
    if query is None or not query.metrics:
        return None
    additive = {m.name for m in query.metrics if m.agg in ("count", "sum")}
    return [c for c in columns if c in additive]


# --------------------------------------------------------------------------- KPIs
Arrow = Literal["up", "down", "flat"]
Status = Literal["good", "warn", "bad", "none"]


@dataclass(frozen=True)
class KpiValue:
    """What a KPI card shows."""

    value: float | None
    text: str  # the value formatted per the spec ("—" without a value)
    target: float | None
    ratio: float | None  # value / target
    variation: float | None  # (current - previous) / |previous|; None when previous is 0 or missing
    variation_text: str  # e.g. "+12.5%", "" without a variation
    arrow: Arrow
    status: Status


def format_value(value: float | None, fmt: str, decimals: int = 0) -> str:
    """A KPI value as text: ``1,234``, ``12.5%`` (of a fraction), ``R$ 1,234.56``, ``3.5 h``.

    The one number format of the portal (:func:`portal.viz.formats.format_number`) with the
    card's fixed decimals.
    """
    if value is None or math.isnan(value):
        return "—"
    return format_number(value, fmt, decimals)


def _status(measure: float | None, spec: KpiSpec) -> Status:
    # With a target and no explicit good_at, meeting the target (ratio 1.0) is good.
    good_at = spec.good_at if spec.good_at is not None else (1.0 if spec.target else None)
    if measure is None or (good_at is None and spec.warn_at is None):
        return "none"

    def meets(threshold: float) -> bool:
        return measure >= threshold if spec.higher_is_better else measure <= threshold

    if good_at is not None and meets(good_at):
        return "good"
    if spec.warn_at is not None and meets(spec.warn_at):
        return "warn"
    return "bad"


def kpi_values(current: float | None, previous: float | None, spec: KpiSpec) -> KpiValue:
    """The value, target ratio, variation, arrow and traffic light of a KPI card.

    Thresholds (``good_at``/``warn_at``) apply to ``value / target`` when the spec has
    a target, else to the value; with ``higher_is_better=False`` lower is better
    (``good`` when at or below ``good_at``). ``percent`` values are fractions (0.25 -> 25%).
    """
    if current is not None and math.isnan(current):
        current = None
    if previous is not None and math.isnan(previous):
        previous = None
    target = spec.target
    ratio = current / target if current is not None and target else None
    variation = None
    arrow: Arrow = "flat"
    if spec.compare_previous and current is not None and previous is not None:
        if previous != 0:
            variation = (current - previous) / abs(previous)
        if not math.isclose(current, previous, rel_tol=1e-9, abs_tol=1e-12):
            arrow = "up" if current > previous else "down"
    measure = ratio if target is not None else current
    return KpiValue(
        value=current,
        text=format_value(current, spec.format, spec.decimals),
        target=target,
        ratio=ratio,
        variation=variation,
        variation_text="" if variation is None else f"{variation * 100:+.1f}%",
        arrow=arrow,
        status=_status(measure, spec),
    )


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float) and v == v:  # NaN is no value
        return float(v)
    return None


def kpi_summary(kpi: KpiSpec, value: Any, previous: Any) -> dict[str, Any]:
    """What a KPI card shows: value, previous, absolute and relative change, target, status.

    The status and variation come from :func:`portal.viz.cards.kpi_values`, the same
    function the web card uses, so the API and the UI always agree.
    """
    v, p = _number(value), _number(previous)
    shown = kpi_values(v, p, kpi)
    return {
        "value": v,
        "previous": p,
        "delta": v - p if v is not None and p is not None else None,
        "change": shown.variation if p else None,
        "target": kpi.target,
        "status": shown.status,
    }
