"""The template's versions: who saved each and why, what each changed (elements added, removed,
changed with their properties, template settings), roll back to one, clone the template."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

log = logging.getLogger(__name__)

COLUMNS = ["Version", "Saved", "By", "Comment"]


def _value(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "…"


def diff_html(diff: dict[str, Any]) -> str:
    """A version diff (``TemplateDiff.to_dict()``) as HTML; every id and value escaped."""
    e = html.escape
    old, new = diff.get("old_version"), diff.get("new_version")
    parts = [f'<div class="version-diff" style="font-size:13px"><b>Version {e(str(old))} → {e(str(new))}</b>']
    if not (diff.get("added") or diff.get("removed") or diff.get("changed") or diff.get("settings")):
        parts.append("<div>No changes.</div>")
    if diff.get("added"):
        items = ", ".join(f"<code>{e(str(i))}</code>" for i in diff["added"])
        parts.append(f'<div class="diff-added" style="color:#15803d">Added: {items}</div>')
    if diff.get("removed"):
        items = ", ".join(f"<code>{e(str(i))}</code>" for i in diff["removed"])
        parts.append(f'<div class="diff-removed" style="color:#b91c1c">Removed: {items}</div>')
    for c in diff.get("changed") or []:
        props = "".join(
            f"<li><code>{e(str(k))}</code>: {e(_value(v.get('old')))} → {e(_value(v.get('new')))}</li>"
            for k, v in (c.get("props") or {}).items()
        )
        parts.append(
            f'<div class="diff-changed" style="color:#1d4ed8">Changed {e(str(c.get("kind", "")))} '
            f'<code>{e(str(c.get("id", "")))}</code><ul style="margin:0 0 0 16px;padding:0">{props}</ul></div>'
        )
    if diff.get("settings"):
        props = "".join(
            f"<li><code>{e(str(k))}</code>: {e(_value(v.get('old')))} → {e(_value(v.get('new')))}</li>"
            for k, v in diff["settings"].items()
        )
        parts.append(
            f'<div class="diff-settings">Template settings<ul style="margin:0 0 0 16px;padding:0">{props}</ul></div>'
        )
    parts.append("</div>")
    return "".join(parts)


class _Table(pn.widgets.Tabulator):
    """A Tabulator dropping clicks on rows of a listing replaced meanwhile."""

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("versions: dropped a click on a row of a replaced listing")


class VersionsPanel(pn.viewable.Viewer):
    """The versions table; selecting one shows what it changed, with Roll back and Clone."""

    def __init__(
        self,
        on_diff: Callable[[int, int], dict[str, Any] | None],
        on_rollback: Callable[[int], None],
        on_clone: Callable[[], None],
    ) -> None:
        super().__init__()
        self.on_diff, self.on_rollback, self.on_clone = on_diff, on_rollback, on_clone
        self.versions: list[int] = []
        self.selected: int | None = None
        self._count = pn.pane.HTML("", css_classes=["version-count"], margin=(0, 10))
        self._table = _Table(
            pd.DataFrame(columns=COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            layout="fit_columns",
            widths={"Version": 62, "Saved": 128, "By": 70},
            height=220,
            sortable=False,
            sizing_mode="stretch_width",
            css_classes=["version-list"],
        )
        self._table.param.watch(self._picked, "selection")
        self._diff = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["version-diff-box"])
        self._rollback = pn.widgets.Button(
            name="Roll back to this version",
            button_type="warning",
            disabled=True,
            css_classes=["version-rollback"],
        )
        self._rollback.on_click(lambda _: self._roll_back())
        self._clone = pn.widgets.Button(
            name="Clone template", button_type="light", css_classes=["template-clone"]
        )
        self._clone.on_click(lambda _: self.on_clone())
        self._empty = pn.pane.Markdown("*Save the template to start its history.*", visible=False)

    def set_versions(self, versions: list[dict[str, Any]]) -> None:
        """List ``versions`` (newest first: version, created_at, author, comment)."""
        self.versions = [int(v["version"]) for v in versions]
        rows = [
            {
                "Version": v["version"],
                "Saved": (str(v.get("created_at") or "")[:16]).replace("T", " "),
                "By": v.get("author") or "",
                "Comment": v.get("comment") or "",
            }
            for v in versions
        ]
        self._table.value = pd.DataFrame(rows, columns=COLUMNS)
        self._count.object = (
            f'<span style="font-size:13px;color:#475569" data-count="{len(versions)}">'
            f"{len(versions)} version{'s' if len(versions) != 1 else ''}</span>"
        )
        self._empty.visible = not versions
        self.selected = None
        self._rollback.disabled = True
        self._rollback.name = "Roll back to this version"
        self._diff.object = ""

    def _roll_back(self) -> None:
        if self.selected is not None:
            self.on_rollback(self.selected)

    def _picked(self, event: Any) -> None:
        if not event.new or event.new[0] >= len(self.versions):
            return
        version = self.versions[event.new[0]]
        self.selected = version
        current = self.versions[0] if self.versions else version
        self._rollback.disabled = version == current
        self._rollback.name = f"Roll back to version {version}"
        previous = next((v for v in self.versions if v < version), None)
        if previous is None:
            self._diff.object = f'<div style="font-size:13px">Version {version} is the first one.</div>'
            return
        diff = self.on_diff(previous, version)
        self._diff.object = diff_html(diff) if diff is not None else ""

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._count,
            self._empty,
            self._table,
            self._diff,
            pn.Row(self._rollback, self._clone, margin=0),
            sizing_mode="stretch_width",
            margin=0,
            css_classes=["versions-panel"],
        )
