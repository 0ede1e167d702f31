"""The trash in the UI: a delete button that asks once more, an "Undo" toast, and the trash list.

Shared by the home page (dashboards) and the report library (reports). Deleting moves an
object to the trash (:mod:`portal.reports.trash`); everything here only calls the services.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import panel as pn
import param

from portal.reports import TrashItem

#: Seconds the "Undo" toast stays, and the armed "Confirm delete" button waits for its second click.
UNDO_SECONDS = 12
CONFIRM_SECONDS = 6


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``5 min ago``, ``3 h ago``, ``2 days ago`` (``never`` for None)."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    s = max(0, int((now - when).total_seconds()))
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86_400:
        return f"{s // 3600} h ago"
    days = s // 86_400
    return "yesterday" if days == 1 else f"{days} days ago"


def later(when: datetime, now: datetime | None = None) -> str:
    """``in 29 days`` / ``today`` for a time ahead."""
    now = now or datetime.now(UTC)
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    days = math.ceil((when - now).total_seconds() / 86_400)
    return "today" if days < 1 else ("tomorrow" if days == 1 else f"in {days} days")


def timeout(seconds: float, callback: Callable[[], None]) -> None:
    """Call ``callback`` once after ``seconds`` in this session (nothing outside a live session)."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.add_periodic_callback(callback, period=int(seconds * 1000), count=1)


class ConfirmDelete(pn.viewable.Viewer):
    """A "Delete" button that turns into "Confirm delete" and acts only on the second click."""

    armed = param.Boolean(default=False, doc="Whether the next click deletes")
    label = param.String(default="Delete", doc="Label of the button at rest")

    def __init__(self, on_delete: Callable[[], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_delete = on_delete
        self._button = pn.widgets.Button(
            name=self.label,
            button_type="danger",
            button_style="outline",
            css_classes=["delete-button"],
            description="Moves it to the trash (restorable for 30 days)",
            width=125,
            margin=(5, 5),
        )
        self._button.on_click(self._click)

    def _click(self, _: Any) -> None:
        if not self.armed:
            self.armed = True
            self._button.name, self._button.button_style = "Confirm delete", "solid"
            timeout(CONFIRM_SECONDS, self._disarm)
            return
        self._disarm()
        self._on_delete()

    def _disarm(self) -> None:
        self.armed = False
        self._button.name, self._button.button_style = self.label, "outline"

    def __panel__(self) -> pn.viewable.Viewable:
        return self._button


class UndoToast(pn.viewable.Viewer):
    """A toast under the toolbar: "“Name” moved to the trash. [Undo]" (hides itself after a while).

    In the page's flow rather than fixed to the window: the template's layout boxes are the
    containing block of fixed elements, which would pin it to the middle of the page.
    """

    message = param.String(default="", doc="What happened (plain text)")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._undo: Callable[[], None] | None = None
        self._shown = 0
        self._text = pn.pane.HTML(
            "", margin=(5, 10), align="center", styles={"color": "white", "font-size": "14px"}
        )
        self._button = pn.widgets.Button(
            name="Undo", button_type="light", width=80, css_classes=["undo-button"], margin=(5, 5)
        )
        self._button.on_click(self._click)
        close = pn.widgets.Button(name="✕", button_type="light", width=40, margin=(5, 8, 5, 0))
        close.on_click(lambda _: self.hide())
        self._row = pn.Row(
            self._text,
            self._button,
            close,
            visible=False,
            css_classes=["undo-toast"],
            styles={
                "background": "#1e293b",
                "border-radius": "8px",
                "box-shadow": "0 4px 16px rgba(15,23,42,.35)",
                "align-items": "center",
            },
        )

    def offer(self, message: str, undo: Callable[[], None]) -> None:
        """Show ``message`` with an "Undo" button calling ``undo``, for :data:`UNDO_SECONDS`."""
        self._undo = undo
        self._shown += 1
        shown = self._shown
        self._text.object = html.escape(message)
        self._row.visible = True
        timeout(UNDO_SECONDS, lambda: self.hide() if self._shown == shown else None)

    def hide(self) -> None:
        self._row.visible = False
        self._undo = None

    def _click(self, _: Any) -> None:
        undo, self._undo = self._undo, None
        self.hide()
        if undo is not None:
            undo()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._row


def trash_row(item: TrashItem, on_restore: Callable[[int], None]) -> pn.viewable.Viewable:
    """One trashed object: its name, who deleted it when, until when it can come back, "Restore"."""
    restore = pn.widgets.Button(
        name="Restore",
        button_type="primary",
        button_style="outline",
        width=90,
        css_classes=["restore-button"],
    )
    restore.on_click(lambda _: on_restore(item.id))
    by = f" by {html.escape(item.deleted_by_name)}" if item.deleted_by_name else ""
    owner = f" · owner {html.escape(item.owner_name)}" if item.owner_name else ""
    text = pn.pane.HTML(
        f'<div style="font-weight:600;font-size:15px;overflow-wrap:anywhere">{html.escape(item.name)}</div>'
        f'<div style="color:#475569;font-size:13px;margin-top:2px">Deleted {ago(item.deleted_at)}{by}{owner}'
        f" · restorable until {item.purge_at:%Y-%m-%d} ({later(item.purge_at)})</div>",
        sizing_mode="stretch_width",
        css_classes=["trash-item-text"],
    )
    return pn.Row(
        text,
        restore,
        sizing_mode="stretch_width",
        css_classes=["trash-item"],
        styles={
            "background": "white",
            "border-radius": "8px",
            "padding": "6px 10px",
            "margin": "4px 0",
            "box-shadow": "0 1px 3px rgba(15,23,42,.12)",
            "align-items": "center",
        },
    )


def trash_view(
    items: list[TrashItem], on_restore: Callable[[int], None], what: str, days: int
) -> list[pn.viewable.Viewable]:
    """The trash as a list of rows (or a line saying it is empty)."""
    note = pn.pane.Markdown(
        f"Deleted {what} stay here for {days} days; restore them before they are removed for good.",
        styles={"color": "#475569"},
        margin=(0, 5),
    )
    if not items:
        return [note, pn.pane.Markdown(f"*The trash has no {what}.*", css_classes=["trash-empty"])]
    return [note, *(trash_row(i, on_restore) for i in items)]
