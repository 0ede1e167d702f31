"""The page canvas: one template page drawn at its paper size, scaled to the available width.

Margins (dashed) and the snap grid are drawn behind the elements; each element is a labelled box
(kind and id, and for titles and text the text itself, always as text: ``textContent``, never
HTML). A click selects a box, dragging moves it, the corner handle resizes it; both snap to
``grid_mm`` while the mouse moves. When the mouse is released the new boxes are written to
``boxes`` and Python sees the change (``selected`` likewise on a click).

The JavaScript is small, dependency-free and served inline (the machine is offline). It is a
``ReactiveHTML`` component rather than a ``JSComponent``: the portal's Content-Security-Policy
allows no ``connect-src blob:``, which the ES-module loader of ``JSComponent`` needs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import param
from panel.reactive import ReactiveHTML

_CSS = """
.pdc-root { width: 100%; user-select: none; -webkit-user-select: none; padding: 4px 0; box-sizing: border-box; }
.pdc-paper { position: relative; margin: 0 auto; background-color: #fff;
  box-shadow: 0 1px 4px rgba(15, 23, 42, .25); outline: 1px solid #cbd5e1; overflow: hidden; }
.pdc-margin { position: absolute; border: 1px dashed #93c5fd; pointer-events: none; box-sizing: border-box; }
.pdc-band { position: absolute; box-sizing: border-box; pointer-events: none; font: 9px system-ui, sans-serif;
  color: #94a3b8; padding: 1px 4px; text-align: right;
  background: repeating-linear-gradient(45deg, rgba(148, 163, 184, .12) 0 6px, rgba(148, 163, 184, .22) 6px 12px); }
.pdc-box { position: absolute; box-sizing: border-box; border: 1px solid #64748b; background: rgba(241, 245, 249, .82);
  cursor: move; overflow: hidden; font: 11px/1.25 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #0f172a;
  touch-action: none; }
.pdc-box:hover { border-color: #2563eb; }
.pdc-box.pdc-selected { border: 2px solid #2563eb; background: rgba(219, 234, 254, .9); z-index: 5; }
.pdc-box.pdc-child { border-style: dotted; background: rgba(255, 255, 255, .6); cursor: pointer; }
.pdc-box.pdc-flat { height: 10px !important; margin-top: -5px; border: 0; overflow: visible;
  background: linear-gradient(#334155, #334155) center / 100% 2px no-repeat; }
.pdc-box.pdc-flat.pdc-selected { background: linear-gradient(#2563eb, #2563eb) center / 100% 3px no-repeat; }
.pdc-flat > .pdc-tag, .pdc-flat > .pdc-label { display: none; }
.pdc-tag { position: absolute; top: 0; right: 0; max-width: 70%; font-size: 9px; line-height: 12px; color: #475569;
  background: rgba(226, 232, 240, .85); padding: 0 3px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; pointer-events: none; border-bottom-left-radius: 3px; }
.pdc-selected > .pdc-tag { background: #2563eb; color: #fff; }
.pdc-label { display: block; padding: 1px 3px; white-space: pre-wrap; word-break: break-word; pointer-events: none; }
.pdc-kind-line > .pdc-label, .pdc-kind-rect > .pdc-label, .pdc-kind-page_break > .pdc-label { display: none; }
.pdc-kind-title > .pdc-label { font-weight: 700; font-size: 13px; }
.pdc-handle { position: absolute; right: 0; bottom: 0; width: 10px; height: 10px; background: #2563eb;
  cursor: nwse-resize; opacity: 0; }
.pdc-box:hover > .pdc-handle, .pdc-selected > .pdc-handle { opacity: .85; }
.pdc-flat > .pdc-handle { bottom: auto; top: 0; }
.pdc-empty { position: absolute; left: 0; right: 0; top: 45%; text-align: center; color: #94a3b8;
  font: 13px system-ui, sans-serif; pointer-events: none; }
"""


_RENDER = r"""
state.drag = null;
state.scale = 1;
const plain = (o) => (o instanceof Map ? Object.fromEntries(o) : (o || {}));
// {id: box} in the page's order (ids start with a letter: insertion order is kept).
state.boxes = () => {
  const all = data.boxes instanceof Map ? Array.from(data.boxes.entries()) : Object.entries(data.boxes || {});
  return all.map(([id, b]) => ({...plain(b), id}));
};
state.snap = (v) => {
  const g = data.grid_mm;
  return g > 0 ? Math.round(v / g) * g : Math.round(v * 10) / 10;
};
state.px = (mm) => `${mm * state.scale}px`;
state.place = (node, b) => {
  node.style.left = state.px(b.x);
  node.style.top = state.px(b.y);
  node.style.width = state.px(b.w);
  node.style.height = state.px(b.h);
};
state.current = (d, e) => {
  const dx = (e.clientX - d.x0) / state.scale, dy = (e.clientY - d.y0) / state.scale;
  const b = d.box, W = data.page_w, H = data.page_h;
  if (d.mode === "move") {
    const x = Math.min(Math.max(0, state.snap(b.x + dx)), Math.max(0, W - b.w));
    const y = Math.min(Math.max(0, state.snap(b.y + dy)), Math.max(0, H - b.h));
    return {x, y, w: b.w, h: b.h};
  }
  const min = data.grid_mm > 0 ? data.grid_mm : 1;
  const w = Math.min(Math.max(min, state.snap(b.w + dx)), W - b.x);
  const h = b.h < 0.5 ? b.h : Math.min(Math.max(min, state.snap(b.h + dy)), H - b.y);
  return {x: b.x, y: b.y, w, h};
};
state.start = (e, b, node) => {
  e.stopPropagation();
  e.preventDefault();
  const mode = e.target.classList.contains("pdc-handle") ? "resize" : "move";
  // Set before selecting: the change handlers redraw only when no drag is under way.
  state.drag = b.parent ? null : {id: b.id, mode, x0: e.clientX, y0: e.clientY,
                                  box: {x: b.x, y: b.y, w: b.w, h: b.h}, node, moved: false};
  if (data.selected !== b.id) {
    paper.querySelectorAll(".pdc-selected").forEach((n) => n.classList.remove("pdc-selected"));
    node.classList.add("pdc-selected");
    data.selected = b.id;
  }
};
state.onMove = (e) => {
  const d = state.drag;
  if (!d) return;
  if (!d.moved && Math.abs(e.clientX - d.x0) + Math.abs(e.clientY - d.y0) < 3) return;
  d.moved = true;
  state.place(d.node, state.current(d, e));
};
state.onUp = (e) => {
  const d = state.drag;
  if (!d) return;
  state.drag = null;
  if (!d.moved) return;
  const nb = state.current(d, e);
  const out = {};
  for (const b of state.boxes()) {
    const {id, ...rest} = b;
    out[id] = id === d.id ? {...rest, ...nb} : rest;
  }
  data.boxes = out;
};
window.addEventListener("pointermove", state.onMove);
window.addEventListener("pointerup", state.onUp);
paper.addEventListener("pointercancel", () => { state.drag = null; self.draw(); });
paper.addEventListener("pointerdown", (e) => {
  if (e.target === paper && data.selected) data.selected = "";
});
state.observer = new ResizeObserver(() => { if (!state.drag) self.draw(); });
state.observer.observe(root);
self.draw();
"""

_DRAW = r"""
const avail = Math.max(root.clientWidth || 0, 200);
state.scale = Math.max(0.4, (avail - 8) / data.page_w);
const px = state.px;
paper.style.width = px(data.page_w);
paper.style.height = px(data.page_h);
const g = data.grid_mm * state.scale;
if (g >= 5) {
  const line = "rgba(148,163,184,.28)";
  paper.style.backgroundImage =
    `linear-gradient(to right, ${line} 1px, transparent 1px), linear-gradient(to bottom, ${line} 1px, transparent 1px)`;
  paper.style.backgroundSize = `${g}px ${g}px`;
} else {
  paper.style.backgroundImage = "none";
}
paper.replaceChildren();
const m = data.margins instanceof Map ? Object.fromEntries(data.margins) : (data.margins || {});
const margin = document.createElement("div");
margin.className = "pdc-margin";
state.place(margin, {x: m.left || 0, y: m.top || 0,
                     w: data.page_w - (m.left || 0) - (m.right || 0),
                     h: data.page_h - (m.top || 0) - (m.bottom || 0)});
paper.appendChild(margin);
const bands = data.bands instanceof Map ? Object.fromEntries(data.bands) : (data.bands || {});
for (const name of ["header", "footer"]) {
  if (!bands[name]) continue;
  const b = bands[name] instanceof Map ? Object.fromEntries(bands[name]) : bands[name];
  const band = document.createElement("div");
  band.className = `pdc-band pdc-band-${name}`;
  state.place(band, {x: m.left || 0, y: b.y, w: data.page_w - (m.left || 0) - (m.right || 0), h: b.h});
  band.textContent = name;
  paper.appendChild(band);
}
const boxes = state.boxes();
if (!boxes.length) {
  const empty = document.createElement("div");
  empty.className = "pdc-empty";
  empty.textContent = "Empty page: add elements from the palette";
  paper.appendChild(empty);
}
for (const b of boxes) {
  const node = document.createElement("div");
  node.className = `pdc-box pdc-kind-${b.kind}`;
  if (b.parent) node.classList.add("pdc-child");
  if (b.h * state.scale < 4) node.classList.add("pdc-flat");
  if (b.id === data.selected) node.classList.add("pdc-selected");
  node.dataset.id = b.id;
  node.dataset.kind = b.kind;
  node.title = `${b.kind} ${b.id}`;
  state.place(node, b);
  const tag = document.createElement("span");
  tag.className = "pdc-tag";
  tag.textContent = `${b.kind} · ${b.id}`;
  node.appendChild(tag);
  if (b.label) {
    const label = document.createElement("span");
    label.className = "pdc-label";
    label.textContent = b.label;
    node.appendChild(label);
  }
  if (!b.parent) {
    const handle = document.createElement("div");
    handle.className = "pdc-handle";
    node.appendChild(handle);
  }
  node.addEventListener("pointerdown", (e) => state.start(e, b, node));
  paper.appendChild(node);
}
"""

_REDRAW = "if (!state.drag) self.draw();"


class PageCanvas(ReactiveHTML):
    """One template page with its elements as boxes the mouse moves, resizes and selects."""

    page_w = param.Number(default=210.0, bounds=(1, None), doc="Paper width in mm")
    page_h = param.Number(default=297.0, bounds=(1, None), doc="Paper height in mm")
    margins = param.Dict(
        default={"top": 15, "right": 15, "bottom": 15, "left": 15}, doc="Page margins in mm (drawn dashed)"
    )
    grid_mm = param.Number(default=5.0, bounds=(0, None), doc="Snap grid in mm (0: no snapping)")
    boxes = param.Dict(
        default={},
        doc="The page's elements in drawing order: {id: {kind, label, x, y, w, h[, parent]}} in mm; the "
        "canvas writes moved and resized boxes back here when the mouse is released",
    )
    selected = param.String(default="", doc="Id of the selected element ('' for none)")
    bands = param.Dict(
        default={},
        doc="Header and footer bands the renderer reserves: {'header': {y, h}, 'footer': {y, h}} in mm",
    )

    _template = '<div id="root" class="pdc-root"><div id="paper" class="pdc-paper"></div></div>'
    _scripts: ClassVar[dict[str, Any]] = {
        "render": _RENDER,
        "draw": _DRAW,
        "after_layout": _REDRAW,
        "boxes": _REDRAW,
        "selected": _REDRAW,
        "page_w": _REDRAW,
        "page_h": _REDRAW,
        "margins": _REDRAW,
        "grid_mm": _REDRAW,
        "bands": _REDRAW,
        "remove": """
        state.observer && state.observer.disconnect();
        window.removeEventListener("pointermove", state.onMove);
        window.removeEventListener("pointerup", state.onUp);
        """,
    }

    def __init__(self, **params: Any) -> None:
        params.setdefault("stylesheets", [_CSS])
        super().__init__(**params)


def boxes_param(boxes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``[{id, ...}]`` (:func:`components.pdf_designer.edits.page_boxes`) → the canvas's ``boxes``.

    A dict rather than a list: Panel's ReactiveHTML mistakes an empty list for a list of
    Parameterized objects and fails to send it (an empty page).
    """
    return {str(b["id"]): {k: v for k, v in b.items() if k != "id"} for b in boxes}


def boxes_list(boxes: Any) -> list[dict[str, Any]]:
    """The canvas's ``boxes`` back as ``[{id, ...}]`` (junk from the browser dropped)."""
    if not isinstance(boxes, dict):
        return []
    return [{**b, "id": k} for k, b in boxes.items() if isinstance(b, dict)]
