"""The template's pages (add a cover or body page, remove, reorder, rename, pick the one the canvas
shows) and the palette that adds an element of each kind to the page shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn

from portal.specs.pdf import ELEMENT_KINDS, PdfTemplateSpec

#: Palette button labels (the kinds of ``portal.specs.pdf.ELEMENT_KINDS``).
KIND_LABELS = {
    "title": "Title",
    "text": "Text",
    "image": "Image",
    "chart": "Chart",
    "table": "Table",
    "kpi": "KPI",
    "section": "Section",
    "toc": "Contents",
    "page_break": "Page break",
    "line": "Line",
    "rect": "Rectangle",
}


def page_caption(spec: PdfTemplateSpec, index: int) -> str:
    """``1 · Cover (cover, 3)``: the page's number, name, kind and element count (plain text)."""
    p = spec.pages[index]
    name = p.name or f"Page {index + 1}"
    return f"{index + 1} · {name} ({p.kind}, {len(p.elements)})"


class PagesList(pn.viewable.Viewer):
    """The template pages as buttons (the shown one highlighted) with their actions."""

    def __init__(self, on_action: Callable[[str, int, Any], None]) -> None:
        super().__init__()
        #: ``on_action(action, page index, value)``: show, add_body, add_cover, remove, up, down, kind, name.
        self.on_action = on_action
        self._list = pn.Column(margin=0, css_classes=["pages-list"])
        self._name = pn.widgets.TextInput(name="Page name", width=130, css_classes=["page-name"])
        self._kind = pn.widgets.Select(
            name="Kind", options=["body", "cover"], width=80, css_classes=["page-kind"]
        )
        self._index = 0
        self._shown: tuple[list[str], int] | None = None
        self._loading = False
        self._name.param.watch(lambda e: self._edit("name", e.new), "value")
        self._kind.param.watch(lambda e: self._edit("kind", e.new), "value")

        def button(label: str, action: str, css: str, width: int = 54) -> pn.widgets.Button:
            b = pn.widgets.Button(
                name=label, button_type="light", width=width, css_classes=[css], margin=(2, 2)
            )
            b.on_click(lambda _: self.on_action(action, self._index, None))
            return b

        self._actions = pn.Row(
            button("+ Body", "add_body", "page-add-body", 64),
            button("+ Cover", "add_cover", "page-add-cover", 70),
            margin=0,
        )
        self._moves = pn.Row(
            button("↑", "up", "page-up", 36),
            button("↓", "down", "page-down", 36),
            button("Remove", "remove", "page-remove", 74),
            margin=0,
        )

    def _edit(self, action: str, value: Any) -> None:
        if not self._loading:
            self.on_action(action, self._index, value)

    def refresh(self, spec: PdfTemplateSpec, index: int) -> None:
        """List the pages of ``spec`` with page ``index`` highlighted."""
        self._index = index
        captions = [page_caption(spec, i) for i in range(len(spec.pages))]
        if (captions, index) != self._shown:
            self._shown = (captions, index)
            self._list.objects = self._buttons(captions, index)
        self._loading = True
        try:
            self._name.value = spec.pages[index].name
            self._kind.value = spec.pages[index].kind
        finally:
            self._loading = False

    def _buttons(self, captions: list[str], index: int) -> list[pn.widgets.Button]:
        buttons = []
        for i, caption in enumerate(captions):
            b = pn.widgets.Button(
                name=caption,
                button_type="primary" if i == index else "light",
                width=210,
                margin=(2, 2),
                css_classes=["page-item", "page-current" if i == index else "page-other"],
            )
            b.on_click(lambda _, i=i: self.on_action("show", i, None))
            buttons.append(b)
        return buttons

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.HTML("<b>Pages</b>", margin=(0, 10)),
            self._list,
            self._actions,
            pn.Row(self._name, self._kind, margin=0),
            self._moves,
            margin=0,
            width=230,
        )


class Palette(pn.viewable.Viewer):
    """A button per element kind; a click adds one to the page shown (``on_add(kind)``)."""

    def __init__(self, on_add: Callable[[str], None]) -> None:
        super().__init__()
        self.on_add = on_add
        self._buttons = []
        for kind in ELEMENT_KINDS:
            b = pn.widgets.Button(
                name=KIND_LABELS.get(kind, kind),
                button_type="light",
                width=101,
                margin=(2, 2),
                css_classes=["palette-add", f"palette-{kind}"],
            )
            b.on_click(lambda _, k=kind: self.on_add(k))
            self._buttons.append(b)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.HTML("<b>Add element</b>", margin=(8, 10, 0, 10)),
            pn.GridBox(*self._buttons, ncols=2, width=220, margin=0),
            margin=0,
            width=230,
        )
