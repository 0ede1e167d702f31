"""The designer's edits as pure functions on an immutable :class:`PdfTemplateSpec`.

Every function returns a new, validated spec (or raises :class:`portal.errors.PortalError`
naming the field): the canvas, palette, pages list and properties panel only call these, so
what the designer shows is always a spec the renderer and the service accept.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from portal.errors import InvalidSpec
from portal.specs.base import parse_spec
from portal.specs.pdf import (
    ELEMENT_KINDS,
    PdfTemplateSpec,
    SectionElement,
    parse_template,
)
from reports_pdf.context import page_areas

#: The pydantic class of each element kind (for validating one element alone).
ELEMENT_MODELS: dict[str, type[BaseModel]] = {}


def _element_models() -> dict[str, type[BaseModel]]:
    if not ELEMENT_MODELS:
        from portal.specs import pdf

        for cls in (
            pdf.TitleElement,
            pdf.TextElement,
            pdf.ImageElement,
            pdf.ChartElement,
            pdf.TableElement,
            pdf.KpiElement,
            pdf.SectionElement,
            pdf.TocElement,
            pdf.PageBreakElement,
            pdf.LineElement,
            pdf.RectElement,
        ):
            ELEMENT_MODELS[cls.model_fields["kind"].default] = cls
    return ELEMENT_MODELS


DATA_KINDS = ("chart", "table", "kpi", "section")
#: Shortest side of a box the canvas lets the mouse make (mm) when snapping is off.
MIN_SIDE_MM = 1.0
#: A box lower than this is flat (a line): resizing keeps it flat.
FLAT_MM = 0.5


# --------------------------------------------------------------------------- geometry
def snap(value: float, grid: float) -> float:
    """``value`` on the nearest multiple of ``grid`` (``grid`` 0: unchanged, to 0.1 mm)."""
    if grid <= 0:
        return round(value, 1)
    return round(round(value / grid) * grid, 3)


def snap_box(box: dict[str, float], grid: float, page_w: float, page_h: float) -> dict[str, float]:
    """A box dragged or resized by the mouse: on the grid, at least one cell big, on the paper."""
    side = grid if grid > 0 else MIN_SIDE_MM
    w = max(side, snap(float(box["w"]), grid))
    h_raw = float(box["h"])
    # A line's box is flat (h≈0): keep it flat rather than growing it to a grid cell.
    h = h_raw if h_raw < FLAT_MM else max(side, snap(h_raw, grid))
    w, h = min(w, page_w), min(h, page_h)
    x = min(max(0.0, snap(float(box["x"]), grid)), max(0.0, page_w - w))
    y = min(max(0.0, snap(float(box["y"]), grid)), max(0.0, page_h - h))
    return {"x": x, "y": y, "w": w, "h": h}


def page_size(spec: PdfTemplateSpec) -> tuple[float, float]:
    """Paper width and height in mm (orientation applied)."""
    return spec.page.dimensions()


# --------------------------------------------------------------------------- canvas boxes
def element_label(el: Any) -> str:
    """What the canvas writes in an element's box: its text for titles and text, else a hint."""
    kind = el.kind
    if kind in ("title", "text"):
        return str(el.text)
    if kind == "image":
        return f"image {el.asset}"
    if kind == "chart":
        return f"{el.chart.viz} chart of {', '.join(el.chart.y)} by {el.chart.x}"
    if kind == "kpi":
        return f"KPI {el.kpi.label or el.kpi.value}"
    if kind == "section":
        return f"section per {el.group_by}: {el.title}"
    if kind == "toc":
        return str(el.title)
    if kind == "table":
        return "table of " + (", ".join(c.name for c in el.columns) if el.columns else "every column")
    return ""


def page_boxes(spec: PdfTemplateSpec, page_index: int) -> list[dict[str, Any]]:
    """The canvas's boxes of one template page: ``{id, kind, label, x, y, w, h}`` in mm.

    A section's children are listed after it with their boxes made absolute and ``parent``
    set (the canvas draws them inside the band and does not let them be dragged).
    """
    out: list[dict[str, Any]] = []
    for el in spec.pages[page_index].elements:
        b = el.box
        out.append(
            {"id": el.id, "kind": el.kind, "label": element_label(el), "x": b.x, "y": b.y, "w": b.w, "h": b.h}
        )
        if isinstance(el, SectionElement):
            for c in el.children:
                cb = c.box
                out.append(
                    {
                        "id": c.id,
                        "kind": c.kind,
                        "label": element_label(c),
                        "x": b.x + cb.x,
                        "y": b.y + cb.y,
                        "w": cb.w,
                        "h": cb.h,
                        "parent": el.id,
                    }
                )
    return out


def moved_boxes(
    spec: PdfTemplateSpec, page_index: int, boxes: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Which top-level elements of the page the canvas moved or resized: ``{id: box}`` (snapped)."""
    grid = spec.page.grid_mm
    pw, ph = page_size(spec)
    current = {el.id: el.box for el in spec.pages[page_index].elements}
    out: dict[str, dict[str, float]] = {}
    for b in boxes:
        if not isinstance(b, dict) or b.get("parent") or b.get("id") not in current:
            continue
        try:
            raw = {k: float(b[k]) for k in ("x", "y", "w", "h")}
        except (KeyError, TypeError, ValueError):
            continue
        if not all(math.isfinite(v) for v in raw.values()):
            continue
        old = current[str(b["id"])]
        if all(abs(raw[k] - getattr(old, k)) < 1e-6 for k in raw):
            continue
        out[str(b["id"])] = snap_box(raw, grid, pw, ph)
    return out


# --------------------------------------------------------------------------- spec edits
def _data(spec: PdfTemplateSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=False)


def _find(data: dict[str, Any], element_id: str) -> tuple[list[Any], int]:
    """The list holding element ``element_id`` in the dumped spec, and its index there."""
    for page in data["pages"]:
        for i, el in enumerate(page["elements"]):
            if el["id"] == element_id:
                return page["elements"], i
            for j, child in enumerate(el.get("children") or []):
                if child["id"] == element_id:
                    return el["children"], j
    raise InvalidSpec(f"element {element_id!r} is not in the template", field="element")


def validate_element(data: dict[str, Any]) -> BaseModel:
    """One element alone; :class:`InvalidSpec` naming ``<id> · <field>`` when it is not valid."""
    kind = data.get("kind")
    models = _element_models()
    if kind not in models:
        raise InvalidSpec(f"kind: {kind!r} is not one of {', '.join(ELEMENT_KINDS)}", field="kind")
    try:
        return parse_spec(models[str(kind)], data)
    except InvalidSpec as exc:
        label = data.get("id") or kind
        raise InvalidSpec(
            f"{label} · {exc.message}", field=getattr(exc, "field", None) or "element"
        ) from None


def replace_element(spec: PdfTemplateSpec, element_id: str, new: dict[str, Any]) -> PdfTemplateSpec:
    """The spec with element ``element_id`` replaced by ``new`` (validated alone, then in the template)."""
    validate_element(new)
    data = _data(spec)
    holder, i = _find(data, element_id)
    holder[i] = new
    return parse_template(data)


def update_element(spec: PdfTemplateSpec, element_id: str, changes: dict[str, Any]) -> PdfTemplateSpec:
    """The spec with ``changes`` (dotted paths such as ``box.x``) applied to element ``element_id``."""
    el = spec.element(element_id).model_dump(mode="json", by_alias=True)
    return replace_element(spec, element_id, set_paths(el, changes))


def set_paths(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with each dotted path of ``changes`` set (``{"box.x": 10}``)."""
    out: dict[str, Any] = _deep_copy(data)
    for path, value in changes.items():
        node = out
        parts = path.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = value
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def move_elements(spec: PdfTemplateSpec, boxes: dict[str, dict[str, float]]) -> PdfTemplateSpec:
    """The spec with the boxes of several elements replaced (one canvas drag)."""
    data = _data(spec)
    for element_id, box in boxes.items():
        holder, i = _find(data, element_id)
        holder[i] = {**holder[i], "box": dict(box)}
    return parse_template(data)


def remove_element(spec: PdfTemplateSpec, element_id: str) -> PdfTemplateSpec:
    """The spec without element ``element_id``."""
    data = _data(spec)
    holder, i = _find(data, element_id)
    del holder[i]
    return parse_template(data)


def element_page(spec: PdfTemplateSpec, element_id: str) -> int | None:
    """The template page holding element ``element_id`` (a section child: its section's)."""
    for i, el, _ in spec.elements():
        if el.id == element_id:
            return i
    return None


def unique_id(spec: PdfTemplateSpec, prefix: str) -> str:
    """``prefix`` followed by the first number no element uses yet (``title1``, ``title2``...)."""
    used = {el.id for _, el, _ in spec.elements()}
    base = re.sub(r"[^A-Za-z0-9_-]", "", prefix.replace(" ", "_"))[:30] or "el"
    if not base[0].isalpha():
        base = "e" + base
    n = 1
    while f"{base}{n}" in used:
        n += 1
    return f"{base}{n}"


# --------------------------------------------------------------------------- new elements
@dataclass(frozen=True)
class DataDefault:
    """What a new data element is bound to: a binding and the columns of its result."""

    binding: dict[str, Any]
    dimensions: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Every result column, dimensions first."""
        return [*self.dimensions, *self.metrics]


def content_area(spec: PdfTemplateSpec, page_index: int) -> tuple[float, float]:
    """``(top, bottom)`` in mm of what elements of a template page may use: inside the margins
    and, on a body page, clear of the header and footer bands (the renderer's own rule)."""
    area = page_areas(spec, spec.theme)[spec.pages[page_index].kind]
    return area.top, area.bottom


def bands(spec: PdfTemplateSpec, page_index: int) -> dict[str, dict[str, float]]:
    """The header and footer bands a body page reserves: ``{"header": {"y", "h"}, "footer": ...}``."""
    m = spec.page.margins
    _, ph = page_size(spec)
    top, bottom = content_area(spec, page_index)
    out: dict[str, dict[str, float]] = {}
    if top > m.top:
        out["header"] = {"y": m.top, "h": top - m.top}
    if bottom < ph - m.bottom:
        out["footer"] = {"y": bottom, "h": ph - m.bottom - bottom}
    return out


def free_y(spec: PdfTemplateSpec, page_index: int, height: float) -> float:
    """Where a new element of ``height`` goes: below the lowest one, else at the top of the content
    area (the header band left clear)."""
    top, bottom_limit = content_area(spec, page_index)
    grid = spec.page.grid_mm
    elements = spec.pages[page_index].elements
    lowest = max((el.box.y + el.box.h for el in elements), default=top)
    y = max(top, snap(lowest + (grid or 5), grid)) if elements else top
    if y + height > bottom_limit:
        y = top
    return snap_up(y, grid)


def snap_up(value: float, grid: float) -> float:
    """``value`` on the grid, never above it (a box snapped up would reach into the header)."""
    snapped = snap(value, grid)
    return snapped if snapped >= value - 1e-9 or grid <= 0 else round(snapped + grid, 3)


def new_element(
    spec: PdfTemplateSpec,
    kind: str,
    page_index: int,
    data: DataDefault | None = None,
    *,
    asset: str | None = None,
) -> dict[str, Any]:
    """A new element of ``kind`` with a sensible box (content width, below the others) and, for a
    data kind, bound to ``data`` with its fields picked from the result's columns."""
    if kind not in ELEMENT_KINDS:
        raise InvalidSpec(f"kind: {kind!r} is not one of {', '.join(ELEMENT_KINDS)}", field="kind")
    pw, _ = page_size(spec)
    m = spec.page.margins
    width = pw - m.left - m.right
    heights = {
        "title": 15.0,
        "text": 30.0,
        "image": 30.0,
        "chart": 80.0,
        "table": 60.0,
        "kpi": 30.0,
        "section": 80.0,
        "toc": 60.0,
        "page_break": 5.0,
        "line": 0.001,
        "rect": 30.0,
    }
    widths = {"image": 50.0, "kpi": 60.0, "rect": 60.0}
    h = heights[kind]
    y = free_y(spec, page_index, h)
    el: dict[str, Any] = {
        "kind": kind,
        "id": unique_id(spec, kind),
        "box": {"x": m.left, "y": y, "w": min(width, widths.get(kind, width)), "h": h},
    }
    if kind == "title":
        el["text"] = "Title"
    elif kind == "text":
        el["text"] = "Text"
    elif kind == "image":
        el["asset"] = asset or "logo"
    elif kind in DATA_KINDS:
        if data is None:
            raise InvalidSpec(
                f"{kind}: pick a saved report or build a query first (no saved report to bind it to)",
                field="binding",
            )
        el["binding"] = data.binding
        cols = data.columns
        dims = data.dimensions or cols[:1]
        mets = [c for c in data.metrics if c not in dims[:1]] or [c for c in cols if c not in dims[:1]]
        if kind == "chart":
            x = dims[0] if dims else (cols[0] if cols else "x")
            el["chart"] = {"viz": "column", "x": x, "y": [mets[0] if mets else "value"]}
        elif kind == "kpi":
            value = mets[0] if mets else (cols[-1] if cols else "value")
            el["kpi"] = {"value": value, "label": value.replace("_", " ").capitalize()}
        elif kind == "section":
            el["group_by"] = dims[0] if dims else (cols[0] if cols else "group")
            el["page_break_before"] = False
    return el


def add_element(spec: PdfTemplateSpec, page_index: int, element: dict[str, Any]) -> PdfTemplateSpec:
    """The spec with ``element`` added at the end of template page ``page_index``."""
    validate_element(element)
    data = _data(spec)
    data["pages"][page_index]["elements"].append(element)
    return parse_template(data)


# --------------------------------------------------------------------------- pages
def add_page(spec: PdfTemplateSpec, kind: str = "body", after: int | None = None) -> PdfTemplateSpec:
    """The spec with a new empty page (``cover`` or ``body``) after page ``after`` (default: last)."""
    data = _data(spec)
    at = len(data["pages"]) if after is None else after + 1
    n = len(data["pages"]) + 1
    data["pages"].insert(
        at, {"kind": kind, "name": "Cover" if kind == "cover" else f"Page {n}", "elements": []}
    )
    return parse_template(data)


def remove_page(spec: PdfTemplateSpec, index: int) -> PdfTemplateSpec:
    """The spec without page ``index`` (the last page cannot go: a template has at least one)."""
    if len(spec.pages) <= 1:
        raise InvalidSpec("pages: a template keeps at least one page", field="pages")
    data = _data(spec)
    del data["pages"][index]
    return parse_template(data)


def move_page(spec: PdfTemplateSpec, index: int, delta: int) -> PdfTemplateSpec:
    """The spec with page ``index`` moved ``delta`` places (clamped to the ends)."""
    data = _data(spec)
    pages = data["pages"]
    to = min(max(0, index + delta), len(pages) - 1)
    pages.insert(to, pages.pop(index))
    return parse_template(data)


def set_page(spec: PdfTemplateSpec, index: int, **changes: Any) -> PdfTemplateSpec:
    """The spec with page ``index``'s ``kind`` or ``name`` changed."""
    data = _data(spec)
    data["pages"][index] = {**data["pages"][index], **changes}
    return parse_template(data)


def update_template(spec: PdfTemplateSpec, changes: dict[str, Any]) -> PdfTemplateSpec:
    """The spec with template fields changed by dotted path (``{"page.grid_mm": 2}``, ``{"theme": {...}}``)."""
    return parse_template(set_paths(_data(spec), changes))


def blank_template(name: str = "New template") -> PdfTemplateSpec:
    """A new template: one A4 body page with a title (below the default header band)."""
    return parse_template(
        {
            "name": name,
            "pages": [
                {
                    "kind": "body",
                    "name": "Page 1",
                    "elements": [
                        {
                            "kind": "title",
                            "id": "title1",
                            "text": name,
                            "box": {"x": 15, "y": 30, "w": 180, "h": 15},
                        }
                    ],
                }
            ],
        }
    )
