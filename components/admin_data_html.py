"""HTML of the data sources page (``/admin/data``): pure functions, every value escaped."""

from __future__ import annotations

import html
from typing import Any

TABLE_CSS = (
    "<style>.admin-data-table td,.admin-data-table th{padding:4px 8px;border-bottom:1px solid #e2e8f0;"
    "text-align:left}</style>"
)


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(css: str, head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="{css}-empty" style="color:#64748b">{esc(empty)}</p>'
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f'<table class="admin-data-table {css}" style="width:100%;border-collapse:collapse;font-size:14px">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>{TABLE_CSS}"
    )


def sources_html(sources: list[dict[str, Any]]) -> str:
    """The data sources with their status (everything escaped)."""
    rows = []
    for s in sources:
        last = s.get("last_event") or {}
        status = (
            "never used" if not last else ("ok" if last.get("ok") else f"failed: {last.get('message', '')}")
        )
        rows.append(
            f'<tr class="source-row" data-source-id="{int(s["id"])}"><td>{esc(s["name"])}</td><td>{esc(s["kind"])}</td>'
            f"<td>{esc(status)}</td><td>{esc(', '.join(s.get('catalog_sources', [])))}</td></tr>"
        )
    return _table("sources", ["Name", "Kind", "Status", "Catalog sources"], rows, "No data source yet.")


def syncs_html(syncs: list[dict[str, Any]]) -> str:
    """A source's sync history (newest first)."""
    rows = [
        f'<tr class="sync-row"><td>{esc(str(s["started_at"])[:19])}</td><td>{esc(s["status"])}</td>'
        f"<td>{int(s['rows_read'])}</td><td>{int(s['rows_inserted'])}</td><td>{int(s['rows_updated'])}</td>"
        f"<td>{int(s['rows_rejected'])}</td><td>{esc(s.get('error') or '')}</td></tr>"
        for s in syncs
    ]
    head = ["Started", "Status", "Read", "Inserted", "Updated", "Rejected", "Error"]
    return _table("syncs", head, rows, "No sync yet.")


def catalog_html(sources: list[dict[str, Any]]) -> str:
    """The tenant's catalog sources with rows, version and quality status."""
    rows = []
    for s in sources:
        q = s["quality"]["status"]
        color = {"ok": "#15803d", "failing": "#b91c1c"}.get(q, "#64748b")
        rows.append(
            f'<tr class="catalog-row" data-name="{esc(s["name"])}"><td>{esc(s["name"])}</td><td>{esc(s["label"])}</td>'
            f"<td>{esc(s['origin'])}</td><td>{esc(s.get('row_count') if s.get('row_count') is not None else '')}</td>"
            f"<td>{int(s['data_version'])}</td><td>{esc(str(s.get('refreshed_at') or '')[:19])}</td>"
            f'<td style="color:{color}">{esc(q)}</td></tr>'
        )
    head = ["Name", "Label", "Origin", "Rows", "Version", "Refreshed", "Quality"]
    return _table("catalog", head, rows, "No source in the catalog yet.")
