"""The PDF designer: pages and palette on the left, the page canvas, the element / data / theme /
document / versions panels, and the live preview of the renderer's real output.

Every edit goes through :mod:`components.pdf_designer.edits` (a new validated spec, or an
error naming the field: shown as a notification, the spec unchanged and the typed value kept),
is recorded for undo, redrawn and previewed. Saving makes a new version of the template.
"""

from __future__ import annotations

import html
import logging
import threading
from functools import partial
from typing import Any

import panel as pn
import param
from panel.io.state import set_curdoc

from components.pdf_designer import edits
from components.pdf_designer.binding import (
    BindingEditor,
    ReportChoice,
    default_data,
    inline_default,
    report_choice,
)
from components.pdf_designer.canvas import PageCanvas, boxes_list, boxes_param
from components.pdf_designer.history import History
from components.pdf_designer.pages_list import PagesList, Palette
from components.pdf_designer.preview import PreviewPane
from components.pdf_designer.properties import ModelForm, describe_model
from components.pdf_designer.theme import ThemeEditor, pairs_text, parse_pairs
from components.pdf_designer.toolbar import Toolbar
from components.pdf_designer.versions import VersionsPanel
from components.session import alert, notify, notify_error, run
from portal import reports
from portal.context import AppContext
from portal.data.catalog import Catalog
from portal.errors import PortalError
from portal.pdf import templates
from portal.specs.pdf import PdfTemplateSpec, ThemeSpec, parse_theme

log = logging.getLogger(__name__)

#: Element fields edited elsewhere (the binding panel) or not by a form at all.
ELEMENT_SKIP = (
    "kind",
    "binding",
    "children",
    "columns",
    "chart.x",
    "chart.y",
    "chart.series",
    "chart.colors",
    "chart.viz",
    "chart.height",  # the box sets a PDF chart's size
    "kpi.value",
    "subtotals_by",
    "group_by",
)
DOCUMENT_FIELDS = describe_model(
    PdfTemplateSpec,
    skip=("version", "theme", "pages", "parameters", "filters", "variables", "overrides"),
    nested=("page", "page.margins", "info"),
)


def element_fields(kind: str) -> list[Any]:
    """The properties form's fields of an element kind."""
    model = edits._element_models()[kind]
    return describe_model(model, skip=ELEMENT_SKIP, nested=("box", "chart", "kpi"))


class Designer(pn.viewable.Viewer):
    """Edits one PDF template (a new one when ``template_id`` is None)."""

    template_id = param.Integer(default=None, allow_None=True, doc="Saved template being edited")
    version = param.Integer(default=0, doc="Saved version the edits started from (0: never saved)")
    page_index = param.Integer(default=0, doc="Template page shown on the canvas")
    selected = param.String(default="", doc="Id of the selected element ('' for none)")
    dirty = param.Boolean(default=False, doc="Whether there are edits not saved yet")

    def __init__(self, ctx: AppContext, template_id: int | None = None, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        #: Id asked for in the address that the user cannot open (missing, other tenant, not visible).
        self.missing: int | None = None
        spec = edits.blank_template()
        if template_id is not None:
            loaded = run(ctx, lambda s, p: self._load(s, p, template_id))
            if loaded is None:
                self.missing = template_id
            else:
                spec, self.version = loaded
                self.template_id = template_id
        self.spec: PdfTemplateSpec = spec
        self.history: History[PdfTemplateSpec] = History(spec)
        self.scope = run(ctx, lambda s, p: p.scope)
        self.reports: list[ReportChoice] = (
            run(
                ctx,
                lambda s, p: [report_choice(r.id, r.name, r.query_json) for r in reports.list_reports(s, p)],
            )
            or []
        )
        self._assets: list[tuple[str, str, int]] = []
        self._forms: dict[str, ModelForm] = {}
        self._shown_theme: ThemeSpec | None = None

        # -- parts
        self.toolbar = Toolbar(
            on_undo=self.undo,
            on_redo=self.redo,
            on_save=self.save,
            on_render=self.render_pdf,
            file_name=self._file_name(),
        )
        self.pages = PagesList(self._page_action)
        self.palette = Palette(self.add)
        self.canvas = PageCanvas(sizing_mode="stretch_width", css_classes=["designer-canvas"])
        self.canvas.param.watch(lambda e: self._canvas_moved(e.new), "boxes")
        self.canvas.param.watch(lambda e: self._select(e.new), "selected")
        self._canvas_caption = pn.pane.HTML("", margin=(0, 10), css_classes=["canvas-caption"])
        self._element_head = pn.pane.HTML("", margin=(0, 10), css_classes=["element-head"])
        self._element_error = pn.Column(margin=0)
        self._element_form = pn.Column(margin=0, css_classes=["element-form"])
        self._delete = pn.widgets.Button(
            name="Delete element",
            button_type="danger",
            button_style="outline",
            width=130,
            css_classes=["element-delete"],
        )
        self._delete.on_click(lambda _: self.delete_selected())
        self._duplicate = pn.widgets.Button(
            name="Duplicate", button_type="light", width=100, css_classes=["element-duplicate"]
        )
        self._duplicate.on_click(lambda _: self.duplicate_selected())
        self._element_actions = pn.Row(self._duplicate, self._delete, margin=0)
        self._no_selection = pn.pane.Markdown(
            "*Click an element on the canvas to edit it, or add one from the palette.*",
            css_classes=["no-selection"],
        )
        self.binding = BindingEditor(self._catalog(), self.scope, self.reports, self._binding_changed)
        self.theme = ThemeEditor(self._theme_changed, self._save_theme, self._upload)
        self.document = ModelForm(
            DOCUMENT_FIELDS, self._document_changed, name="DocumentForm", css_class="document-form"
        )
        self._variables = pn.widgets.TextAreaInput(
            name="Variables ({{vars.name}}): name = value per line",
            width=320,
            height=90,
            css_classes=["doc-variables"],
        )
        self._variables.param.watch(lambda e: self._variables_changed(e.new), "value")
        self.versions = VersionsPanel(self._diff, self.rollback, self.clone)
        self._clone_link = pn.pane.HTML("", margin=(0, 10), css_classes=["clone-link"])
        self.preview = PreviewPane(ctx)
        self._load_lists()
        self._refresh()
        self.preview.request(self.spec)

    # -- loading ----------------------------------------------------------------------
    @staticmethod
    def _load(session: Any, principal: Any, template_id: int) -> tuple[PdfTemplateSpec, int]:
        t = templates.get_template(session, principal, template_id)
        return templates.template_spec(t), t.version

    def _load_lists(self) -> None:
        themes = run(self.ctx, lambda s, p: templates.list_themes(s, p)) or []
        self.theme.set_themes(themes)
        self._reload_assets()
        self._reload_versions()

    def _reload_assets(self) -> None:
        self._assets = (
            run(
                self.ctx,
                lambda s, p: [(a.name, a.content_type, a.size_bytes) for a in templates.list_assets(s, p)],
            )
            or []
        )
        self.theme.set_assets(self._assets)

    def _reload_versions(self) -> None:
        if self.template_id is None:
            self.versions.set_versions([])
            return
        tid = self.template_id

        def load(s: Any, p: Any) -> list[dict[str, Any]]:
            rows = templates.list_versions(s, p, tid)
            authors = templates.version_authors(s, rows)
            return [templates.version_to_dict(v, authors) for v in rows]

        self.versions.set_versions(run(self.ctx, load) or [])

    def _file_name(self) -> str:
        base = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.spec.name)[:80]
        return f"{base or 'template'}.pdf"

    # -- the one way the spec changes ------------------------------------------------------
    def _set_spec(self, new: PdfTemplateSpec, *, record: bool = True, dirty: bool = True) -> None:
        if new == self.spec:
            return
        self.spec = new
        if record:
            self.history.push(new)
        self.dirty = dirty
        self.page_index = min(self.page_index, len(new.pages) - 1)
        if self.selected and not self._exists(self.selected):
            self.selected = ""
        self.preview.request(new)  # first: the render runs while the panels are redrawn
        self._refresh()

    def _exists(self, element_id: str) -> bool:
        return any(el.id == element_id for _, el, _ in self.spec.elements())

    def _refuse(self, message: str) -> None:
        """An edit the spec does not take: said (naming the field) and nothing else changes."""
        notify_error(message)
        self._element_error.objects = [
            alert(f"Not applied: {message}", "danger", sizing_mode="stretch_width")
        ]

    def _refresh(self) -> None:
        spec = self.spec
        w, h = spec.page.dimensions()
        m = spec.page.margins
        boxes = edits.page_boxes(spec, self.page_index)
        self.canvas.param.update(
            page_w=w,
            page_h=h,
            margins={"top": m.top, "right": m.right, "bottom": m.bottom, "left": m.left},
            grid_mm=spec.page.grid_mm,
            bands=edits.bands(spec, self.page_index),
            boxes=boxes_param(boxes),
            selected=self.selected if any(b["id"] == self.selected for b in boxes) else "",
        )
        page = spec.pages[self.page_index]
        self._canvas_caption.object = (
            f'<div style="font-size:13px;color:#475569">Page {self.page_index + 1} of {len(spec.pages)} · '
            f"{page.kind} · {w:g} × {h:g} mm · grid {spec.page.grid_mm:g} mm</div>"
        )
        self.pages.refresh(spec, self.page_index)
        self._show_element()
        self.document.load(spec.model_dump(mode="json"))
        if self._variables.value != pairs_text(dict(spec.variables)):
            self._variables.value = pairs_text(dict(spec.variables))
        if spec.theme != self._shown_theme:
            self._shown_theme = spec.theme
            self.theme.load(spec.theme)
        self.toolbar.state(
            name=spec.name,
            version=self.version or None,
            dirty=self.dirty,
            can_undo=self.history.can_undo,
            can_redo=self.history.can_redo,
        )

    def _show_element(self) -> None:
        self._element_error.objects = []
        if not self.selected or not self._exists(self.selected):
            self._element_head.object = ""
            if self._element_form.objects != [self._no_selection]:
                self._element_form.objects = [self._no_selection]
            self.binding.edit(None)
            return
        el = self.spec.element(self.selected)
        data = el.model_dump(mode="json", by_alias=True)
        if el.kind not in self._forms:
            self._forms[el.kind] = ModelForm(
                element_fields(el.kind),
                self._element_changed,
                name=f"{el.kind}Form",
                css_class="element-fields",
            )
        form = self._forms[el.kind]
        form.load(data)
        self._element_head.object = (
            f'<div style="font-size:14px"><b>{html.escape(el.kind)}</b> '
            f'<code class="element-id">{html.escape(el.id)}</code></div>'
        )
        # Replaced only when another kind's form is due: a click on Delete must not land on a
        # button being redrawn.
        if not self._element_form.objects or self._element_form.objects[0] is not form:
            self._element_form.objects = [form, self._element_actions]
        in_section = any(el.id == c.id and s is not None for _, c, s in self.spec.elements())
        self.binding.edit(data, in_section=in_section)

    # -- selection and canvas -------------------------------------------------------------
    def _select(self, element_id: str) -> None:
        if element_id == self.selected:
            return
        self.selected = element_id or ""
        self._show_element()

    def _canvas_moved(self, boxes: dict[str, Any]) -> None:
        moved = edits.moved_boxes(self.spec, self.page_index, boxes_list(boxes))
        if not moved:
            return
        try:
            new = edits.move_elements(self.spec, moved)
        except PortalError as exc:
            self._refuse(exc.message)
            self.canvas.boxes = boxes_param(edits.page_boxes(self.spec, self.page_index))
            return
        self._set_spec(new)

    # -- edits ------------------------------------------------------------------------
    def _element_changed(self, changes: dict[str, Any]) -> None:
        if not self.selected:
            return
        try:
            new = edits.update_element(self.spec, self.selected, changes)
        except PortalError as exc:
            self._refuse(exc.message)
            return
        if "id" in changes:
            self.selected = str(changes["id"])
        self._set_spec(new)

    def _binding_changed(self, element: dict[str, Any]) -> None:
        if not self.selected:
            return
        try:
            new = edits.replace_element(self.spec, self.selected, element)
        except PortalError as exc:
            self._refuse(exc.message)
            self.binding.message(exc.message)
            return
        self._set_spec(new)

    def _document_changed(self, changes: dict[str, Any]) -> None:
        try:
            new = edits.update_template(self.spec, changes)
        except PortalError as exc:
            notify_error(exc.message)
            return
        self._set_spec(new)

    def _variables_changed(self, text: str) -> None:
        try:
            new = edits.update_template(self.spec, {"variables": parse_pairs(text, "variables")})
        except PortalError as exc:
            notify_error(exc.message)
            return
        self._set_spec(new)

    def _theme_changed(self, theme: dict[str, Any]) -> None:
        try:
            new = edits.update_template(
                self.spec, {"theme": dict(parse_theme(theme).model_dump(mode="json"))}
            )
        except PortalError as exc:
            notify_error(exc.message)
            return
        self._set_spec(new)

    def _catalog(self) -> Catalog:
        """The sources the designer's user may bind: the warehouse's and their tenant's own."""
        if self.scope is None:
            return self.ctx.warehouse.catalog
        return self.ctx.warehouse.catalog_for(self.scope.tenant_key)

    def add(self, kind: str) -> None:
        """Add an element of ``kind`` to the page shown, with a default box (and binding) and select it."""
        data = None
        if kind in edits.DATA_KINDS:
            data = default_data(self.reports) or inline_default(self._catalog())
        asset = self._assets[0][0] if self._assets else None
        try:
            el = edits.new_element(self.spec, kind, self.page_index, data, asset=asset)
            new = edits.add_element(self.spec, self.page_index, el)
        except PortalError as exc:
            notify_error(exc.message)
            return
        self.selected = el["id"]
        self._set_spec(new)

    def delete_selected(self) -> None:
        """Remove the selected element."""
        if not self.selected:
            return
        try:
            new = edits.remove_element(self.spec, self.selected)
        except PortalError as exc:
            notify_error(exc.message)
            return
        self.selected = ""
        self._set_spec(new)

    def duplicate_selected(self) -> None:
        """A copy of the selected element, a grid step lower and to the right."""
        if not self.selected:
            return
        el = self.spec.element(self.selected).model_dump(mode="json", by_alias=True)
        step = self.spec.page.grid_mm or 5
        el["id"] = edits.unique_id(self.spec, el["kind"])
        el["box"] = {**el["box"], "x": el["box"]["x"] + step, "y": el["box"]["y"] + step}
        page = edits.element_page(self.spec, self.selected) or 0
        try:
            new = edits.add_element(self.spec, page, el)
        except PortalError as exc:
            notify_error(exc.message)
            return
        self.selected = el["id"]
        self._set_spec(new)

    def _page_action(self, action: str, index: int, value: Any) -> None:
        spec = self.spec
        try:
            if action == "show":
                self.page_index = index
                self.selected = ""
                self._refresh()
                return
            if action in ("add_body", "add_cover"):
                new = edits.add_page(spec, "cover" if action == "add_cover" else "body", after=index)
                self.page_index = index + 1
            elif action == "remove":
                new = edits.remove_page(spec, index)
                self.page_index = max(0, min(index, len(new.pages) - 1))
            elif action in ("up", "down"):
                new = edits.move_page(spec, index, -1 if action == "up" else 1)
                self.page_index = min(max(0, index + (-1 if action == "up" else 1)), len(new.pages) - 1)
            elif action in ("kind", "name"):
                new = edits.set_page(spec, index, **{action: value})
            else:
                return
        except PortalError as exc:
            notify_error(exc.message)
            return
        self.selected = ""
        self._set_spec(new)
        if new == spec:
            self._refresh()

    def undo(self) -> None:
        """Back to the spec before the last edit."""
        prev = self.history.undo()
        if prev is not None:
            self._set_spec(prev, record=False)

    def redo(self) -> None:
        """Re-apply the last undone edit."""
        nxt = self.history.redo()
        if nxt is not None:
            self._set_spec(nxt, record=False)

    # -- saving, versions ------------------------------------------------------------------
    def save(self, comment: str = "") -> None:
        """Save the spec on screen as a new version (the first save creates the template)."""
        spec, tid, base = self.spec, self.template_id, self.version

        def do(s: Any, p: Any) -> tuple[int, int]:
            if tid is None:
                t = templates.create_template(s, p, spec, comment=comment)
            else:
                t = templates.save_template(s, p, tid, spec, comment=comment, base_version=base or None)
            return t.id, t.version

        saved = run(self.ctx, do)
        if saved is None:
            return  # the error is on screen; the edits stay
        self.template_id, self.version = saved
        self.dirty = False
        self.toolbar.comment.value = ""
        if tid is None and pn.state.location is not None:
            pn.state.location.search = f"?id={self.template_id}"
        notify(f"Saved version {self.version}")
        self._reload_versions()
        self._refresh()

    def _diff(self, old: int, new: int) -> dict[str, Any] | None:
        tid = self.template_id
        if tid is None:
            return None
        return run(self.ctx, lambda s, p: templates.diff_versions(s, p, tid, old, new).to_dict())

    def rollback(self, version: int) -> None:
        """Make ``version`` current again (a new version); undo still reaches the edits before."""
        tid = self.template_id
        if tid is None:
            return
        done = run(
            self.ctx,
            lambda s, p: (lambda t: (t.version, templates.template_spec(t)))(
                templates.rollback(s, p, tid, version)
            ),
        )
        if done is None:
            return
        self.version, spec = done
        notify(f"Rolled back to version {version} (saved as version {self.version})")
        self._set_spec(spec, dirty=False)
        self.dirty = False
        self._reload_versions()
        self._refresh()

    def clone(self) -> None:
        """Copy the saved template (its current version) under a new name and link to it."""
        tid = self.template_id
        if tid is None:
            notify_error("Save the template before cloning it")
            return
        made = run(self.ctx, lambda s, p: (lambda t: (t.id, t.name))(templates.clone_template(s, p, tid)))
        if made is None:
            return
        new_id, name = made
        self._clone_link.object = (
            f'<div style="font-size:13px">Cloned as <a class="clone-open" href="/designer?id={new_id}">'
            f"{html.escape(name)}</a></div>"
        )
        notify(f"Cloned as {name}")

    def _save_theme(self, theme: dict[str, Any]) -> None:
        saved = run(self.ctx, lambda s, p: templates.save_theme(s, p, theme).name)
        if saved is None:
            return
        notify(f"Theme {saved} saved")
        self.theme.set_themes(run(self.ctx, lambda s, p: templates.list_themes(s, p)) or [])
        self._theme_changed(theme)

    def _upload(self, name: str, data: bytes) -> None:
        saved = run(self.ctx, lambda s, p: templates.upload_asset(s, p, name, data).name)
        if saved is None:
            return
        notify(f"Image {saved} uploaded")
        self._reload_assets()

    def render_pdf(self) -> None:
        """Render the spec on screen at full quality in a thread, then offer it for download."""
        spec, doc = self.spec, pn.state.curdoc
        self.toolbar.rendering(True)

        def work() -> None:
            pdf: bytes | None = None
            errors, failure = 0, None
            try:
                with set_curdoc(doc):
                    pdf, found = self.preview.render_full(spec)
                errors = len(found)
            except PortalError as exc:
                failure = exc.message
            except Exception:
                log.exception("pdf designer: the download render failed")
                failure = "the PDF could not be rendered (the error is in the server log)"
            done = partial(self._rendered, pdf, errors, failure)
            if doc is not None and getattr(doc, "session_context", None) is not None:
                doc.add_next_tick_callback(done)
            else:
                done()

        threading.Thread(target=work, name="pdf-download", daemon=True).start()

    def _rendered(self, pdf: bytes | None, errors: int, failure: str | None) -> None:
        self.toolbar.rendering(False)
        if failure is not None or pdf is None:
            notify_error(failure or "the PDF could not be rendered")
            return
        if errors:
            notify_error(f"{errors} element(s) could not be drawn: the preview lists them")
        self.toolbar.offer(pdf, self._file_name())

    # -- layout ----------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        if self.missing is not None:
            return pn.Column(
                alert(
                    f"PDF template {self.missing} does not exist or is not visible to you."
                    if self.missing
                    else "The address does not name a PDF template (id must be a number).",
                    "warning",
                ),
                pn.pane.HTML(
                    '<a href="/pdf">Back to the templates</a> · <a href="/designer?new=1">New template</a>'
                ),
                css_classes=["designer-missing"],
            )
        left = pn.Column(self.pages, self.palette, width=232, margin=(0, 4), css_classes=["designer-left"])
        # The canvas and the preview share what the fixed side panels leave; on a narrow window
        # (1024 px) the preview goes under them rather than squeezing the canvas.
        center = pn.Column(
            self._canvas_caption,
            self.canvas,
            margin=(0, 4),
            sizing_mode="stretch_width",
            min_width=290,
            css_classes=["designer-center"],
        )
        tabs = pn.Tabs(
            (
                "Element",
                pn.Column(self._element_head, self._element_error, self._element_form, margin=0, width=350),
            ),
            ("Data", pn.Column(self.binding, width=350, margin=0)),
            ("Theme", pn.Column(self.theme, width=350, margin=0)),
            ("Setup", pn.Column(self.document, self._variables, width=350, margin=0)),
            ("Versions", pn.Column(self.versions, self._clone_link, width=350, margin=0)),
            dynamic=True,
            width=378,
            css_classes=["designer-tabs"],
        )
        right = pn.Column(tabs, width=384, margin=(0, 4), css_classes=["designer-right"])
        preview = pn.Column(
            pn.pane.HTML("<b>Preview</b>", margin=(0, 10)),
            self.preview,
            margin=(0, 4),
            sizing_mode="stretch_width",
            styles={"flex": "1 1 300px", "min-width": "280px", "max-width": "560px"},
            css_classes=["designer-preview"],
        )
        # The editor (pages, canvas, panels and, while one is edited, the inline query under them)
        # and the preview beside it; on a narrow window (1024 px) the preview goes under the editor.
        editor = pn.Column(
            pn.Row(left, center, right, sizing_mode="stretch_width", margin=0),
            self.binding.query_panel,
            sizing_mode="stretch_width",
            margin=0,
            styles={"flex": "1 1 930px", "min-width": "930px"},
            css_classes=["designer-editor"],
        )
        body = pn.FlexBox(
            editor, preview, flex_wrap="wrap", align_items="flex-start", sizing_mode="stretch_width"
        )
        return pn.Column(self.toolbar, body, sizing_mode="stretch_width", css_classes=["pdf-designer"])
