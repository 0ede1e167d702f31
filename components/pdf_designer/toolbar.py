"""The designer's toolbar: Undo, Redo, Save with a comment, Render PDF (download), the template's
name and version, and whether there are unsaved edits."""

from __future__ import annotations

import html
import io
from collections.abc import Callable

import panel as pn


class Toolbar(pn.viewable.Viewer):
    """Buttons calling the designer; ``state(...)`` enables them and shows name, version, dirty."""

    def __init__(
        self,
        *,
        on_undo: Callable[[], None],
        on_redo: Callable[[], None],
        on_save: Callable[[str], None],
        on_render: Callable[[], None],
        file_name: str = "template.pdf",
    ) -> None:
        super().__init__()
        self.undo = pn.widgets.Button(
            name="↶ Undo", button_type="light", width=76, css_classes=["designer-undo"]
        )
        self.redo = pn.widgets.Button(
            name="↷ Redo", button_type="light", width=76, css_classes=["designer-redo"]
        )
        self.comment = pn.widgets.TextInput(
            placeholder="What changed (optional)", width=190, css_classes=["designer-comment"]
        )
        self.save = pn.widgets.Button(
            name="Save", button_type="primary", width=80, css_classes=["designer-save"]
        )
        self.render = pn.widgets.Button(
            name="Render PDF", button_type="light", width=110, css_classes=["designer-render"]
        )
        #: Offered once a render finished (the render runs off the event loop: it may take seconds).
        self.download = pn.widgets.FileDownload(
            filename=file_name,
            label="Download PDF",
            button_type="success",
            width=130,
            visible=False,
            css_classes=["designer-download"],
        )
        # Takes what the buttons leave; a long name is cut with an ellipsis (its full text as tooltip).
        self.title = pn.pane.HTML(
            "",
            css_classes=["designer-title"],
            margin=(5, 10),
            styles={"flex": "1 1 120px", "min-width": "120px", "overflow": "hidden"},
        )
        self.undo.on_click(lambda _: on_undo())
        self.redo.on_click(lambda _: on_redo())
        self.save.on_click(lambda _: on_save(self.comment.value or ""))
        self.render.on_click(lambda _: on_render())

    def rendering(self, busy: bool) -> None:
        """Say a render is under way (the button waits) or over."""
        self.render.disabled = busy
        self.render.name = "Rendering…" if busy else "Render PDF"
        if busy:
            self.download.visible = False

    def offer(self, pdf: bytes, file_name: str) -> None:
        """Offer the rendered PDF for download."""
        self.download.filename = file_name
        self.download.file = io.BytesIO(pdf)
        self.download.visible = True

    def state(self, *, name: str, version: int | None, dirty: bool, can_undo: bool, can_redo: bool) -> None:
        """Show the template's name and version and enable what applies."""
        self.undo.disabled = not can_undo
        self.redo.disabled = not can_redo
        ver = f"v{version}" if version else "not saved yet"
        mark = ' · <span class="designer-dirty" style="color:#b45309">unsaved</span>' if dirty else ""
        self.title.object = (
            f'<div style="font-size:15px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis" '
            f'title="{html.escape(name)}"><b class="designer-name">{html.escape(name)}</b> '
            f'<span class="designer-version" style="color:#64748b">{ver}</span>{mark}</div>'
        )

    def __panel__(self) -> pn.viewable.Viewable:
        # Wraps on a narrow window instead of pushing Render PDF out of sight.
        return pn.FlexBox(
            pn.pane.HTML('<a href="/pdf" style="font-size:13px">← Templates</a>', margin=(10, 10), width=90),
            self.title,
            self.undo,
            self.redo,
            self.comment,
            self.save,
            self.render,
            self.download,
            flex_wrap="wrap",
            align_items="center",
            sizing_mode="stretch_width",
            margin=0,
            css_classes=["designer-toolbar"],
        )
