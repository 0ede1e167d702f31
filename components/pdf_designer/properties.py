"""The properties panel: a form generated from a pydantic model's fields.

:func:`describe_model` reads the fields (numbers, whole numbers, text, booleans, ``Literal``
choices, ``#rrggbb`` colours, nested models such as ``box`` as ``box.x`` … ``box.h``);
:class:`ModelForm` is a ``param.Parameterized`` built from them with one widget each
(a ColorPicker for colours, a "set" checkbox beside it when the colour may be left to the
theme). An edit calls ``on_change({path: value})`` with the value coerced
(:func:`coerce`); the caller applies it to the spec (validated) and, when the spec refuses
it, says why naming the field while the typed value stays in its widget.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import panel as pn
import param
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from components.session import notify_error
from portal.errors import InvalidSpec

FieldKind = Literal["number", "integer", "string", "text", "bool", "select", "color"]
_COLOR_PATTERN = "^#[0-9A-Fa-f]{6}$"
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
#: Text fields longer than this get a multi-line box.
LONG_TEXT = 500


@dataclass(frozen=True)
class FieldDesc:
    """One editable field: its dotted ``path`` in the model's JSON and how to edit it."""

    path: str
    label: str
    kind: FieldKind
    optional: bool = False
    default: Any = None
    lower: float | None = None
    upper: float | None = None
    options: tuple[Any, ...] = ()
    doc: str = ""

    @property
    def name(self) -> str:
        """The param name of the field (``box.x`` → ``f_box__x``; never a Parameterized's own ``name``)."""
        return "f_" + self.path.replace(".", "__")


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """``(base type, optional, metadata)`` of an annotation: ``Optional[...]`` and ``Annotated[...]`` removed."""
    optional = False
    meta: list[Any] = []
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) != 1:
            return annotation, optional, meta
        annotation = args[0]
        origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        for e in extra:
            meta.extend(e.metadata if isinstance(e, FieldInfo) else [e])
        annotation = base
    return annotation, optional, meta


def _bounds(meta: Iterable[Any]) -> tuple[float | None, float | None, int | None, str | None]:
    lower = upper = None
    max_len: int | None = None
    pattern: str | None = None
    for m in meta:
        for attr in ("ge", "gt"):
            if getattr(m, attr, None) is not None:
                lower = float(getattr(m, attr))
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                upper = float(getattr(m, attr))
        if getattr(m, "max_length", None) is not None:
            max_len = int(m.max_length)
        if getattr(m, "pattern", None) is not None:
            pattern = str(m.pattern)
    return lower, upper, max_len, pattern


def _label(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    text = last.replace("_mm", " (mm)").replace("_", " ")
    return text[:1].upper() + text[1:]


def describe_model(
    model: type[BaseModel],
    *,
    prefix: str = "",
    skip: Iterable[str] = (),
    nested: Iterable[str] = (),
) -> list[FieldDesc]:
    """The editable fields of ``model`` in declaration order.

    ``skip`` lists dotted paths left out; ``nested`` the fields holding a model whose own
    fields are listed in its place (``box`` → ``box.x``, ``box.y``…). Lists, dicts and unions
    of models are left to dedicated editors.
    """
    skipped, deeper = set(skip), set(nested)
    out: list[FieldDesc] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in skipped:
            continue
        base, optional, meta = _unwrap(info.annotation)
        meta = [*info.metadata, *meta]
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        lower, upper, max_len, pattern = _bounds(meta)
        doc = info.description or ""
        if isinstance(base, type) and issubclass(base, BaseModel):
            if path in deeper:
                out.extend(describe_model(base, prefix=f"{path}.", skip=skipped, nested=deeper))
            continue
        common: dict[str, Any] = {"path": path, "label": _label(path), "optional": optional, "doc": doc}
        if get_origin(base) is Literal:
            choices = get_args(base)
            if len(choices) > 1:
                out.append(FieldDesc(kind="select", default=default, options=choices, **common))
        elif base is bool:
            out.append(FieldDesc(kind="bool", default=bool(default), **common))
        elif base is int:
            out.append(FieldDesc(kind="integer", default=default, lower=lower, upper=upper, **common))
        elif base is float:
            out.append(FieldDesc(kind="number", default=default, lower=lower, upper=upper, **common))
        elif base is str:
            if pattern == _COLOR_PATTERN:
                kind: FieldKind = "color"
            elif (max_len or 0) > LONG_TEXT:
                kind = "text"
            else:
                kind = "string"
            out.append(FieldDesc(kind=kind, default=default, **common))
    return out


def coerce(desc: FieldDesc, raw: Any) -> Any:
    """A widget's value as the spec takes it; :class:`InvalidSpec` naming the field when it is none."""
    empty = raw is None or (isinstance(raw, str) and not raw.strip())
    if desc.kind in ("number", "integer"):
        if empty:
            if desc.optional:
                return None
            raise InvalidSpec(f"{desc.path}: give a number", field=desc.path)
        try:
            number = float(str(raw).strip().replace(",", ".")) if isinstance(raw, str) else float(raw)
        except (TypeError, ValueError):
            raise InvalidSpec(f"{desc.path}: {str(raw)[:40]!r} is not a number", field=desc.path) from None
        if not math.isfinite(number):
            raise InvalidSpec(f"{desc.path}: give a finite number", field=desc.path)
        if desc.kind == "integer":
            if number != int(number):
                raise InvalidSpec(f"{desc.path}: must be a whole number (got {number:g})", field=desc.path)
            return int(number)
        return number
    if desc.kind == "bool":
        return bool(raw)
    if desc.kind == "color":
        if empty and desc.optional:
            return None
        text = str(raw or "").strip()
        if not _COLOR_RE.match(text):
            raise InvalidSpec(f"{desc.path}: {text[:20]!r} is not a colour (#rrggbb)", field=desc.path)
        return text.lower()
    if desc.kind == "select":
        if raw not in desc.options:
            choices = ", ".join(str(o) for o in desc.options)
            raise InvalidSpec(f"{desc.path}: {str(raw)[:40]!r} is not one of {choices}", field=desc.path)
        return raw
    text = "" if raw is None else str(raw)
    return None if desc.optional and not text.strip() else text


def get_path(data: dict[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of ``data`` (None when absent)."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


# --------------------------------------------------------------------------- the form
def _param_for(desc: FieldDesc) -> param.Parameter[Any]:
    doc = desc.doc or desc.label
    if desc.kind == "bool":
        return param.Boolean(default=bool(desc.default), doc=doc)
    if desc.kind == "select":
        return param.Selector(default=desc.default, objects=list(desc.options), allow_None=True, doc=doc)
    if desc.kind == "integer":
        return param.Integer(default=None, allow_None=True, doc=doc)
    if desc.kind == "number":
        return param.Number(default=None, allow_None=True, doc=doc)
    if desc.kind == "color":
        return param.Color(default="#000000", doc=doc)
    return param.String(default="", doc=doc)


def form_class(name: str, fields: list[FieldDesc]) -> type[param.Parameterized]:
    """A Parameterized class with one parameter per field (colours that may be unset get a
    ``<name>__set`` Boolean beside them)."""
    params: dict[str, param.Parameter[Any]] = {}
    for f in fields:
        params[f.name] = _param_for(f)
        if f.kind == "color" and f.optional:
            params[f"{f.name}__set"] = param.Boolean(
                default=False, doc=f"Use a colour of its own for {f.label}"
            )
    return param.parameterized_class(re.sub(r"\W", "_", name) or "Form", params)


class ModelForm(pn.viewable.Viewer):
    """A form over ``fields``; ``load(data)`` shows values, an edit calls ``on_change({path: value})``."""

    def __init__(
        self,
        fields: list[FieldDesc],
        on_change: Callable[[dict[str, Any]], None],
        *,
        name: str = "Form",
        width: int = 320,
        css_class: str = "",
    ) -> None:
        super().__init__()
        self.fields = fields
        self._by_name = {f.name: f for f in fields}
        self.on_change = on_change
        self.values: param.Parameterized = form_class(name, fields)()
        self._loading = False
        self._width = width
        self._css = css_class
        self._widgets: dict[str, Any] = {}
        self._layout = self._build()
        self.values.param.watch(
            self._changed, list(self._by_name) + [f"{n}__set" for n in self._optional_colors()]
        )

    def _optional_colors(self) -> list[str]:
        return [f.name for f in self.fields if f.kind == "color" and f.optional]

    def _widget(self, f: FieldDesc, width: int) -> Any:
        p = self.values.param[f.name]
        css = [f"prop-{f.path.replace('.', '-')}"]
        if f.kind == "bool":
            return pn.widgets.Checkbox.from_param(p, name=f.label, width=width, css_classes=css)
        if f.kind == "select":
            return pn.widgets.Select.from_param(p, name=f.label, width=width, css_classes=css)
        if f.kind in ("number", "integer"):
            cls = pn.widgets.IntInput if f.kind == "integer" else pn.widgets.FloatInput
            hint = ""
            if f.lower is not None or f.upper is not None:
                hint = (
                    f"{'' if f.lower is None else f'{f.lower:g}'}…{'' if f.upper is None else f'{f.upper:g}'}"
                )
            return cls.from_param(
                p,
                name=f.label,
                width=width,
                css_classes=css,
                placeholder="default" if f.optional else hint,
            )
        if f.kind == "color":
            picker = pn.widgets.ColorPicker.from_param(
                p, name=f.label, width=width - 70 if f.optional else width
            )
            if not f.optional:
                picker.css_classes = css
                return picker
            toggle = pn.widgets.Checkbox.from_param(
                self.values.param[f"{f.name}__set"], name="own", width=60, align="end"
            )
            return pn.Row(picker, toggle, css_classes=css, margin=0)
        if f.kind == "text":
            return pn.widgets.TextAreaInput.from_param(
                p, name=f.label, width=width, height=90, css_classes=css, max_length=20_000
            )
        return pn.widgets.TextInput.from_param(p, name=f.label, width=width, css_classes=css)

    def _build(self) -> pn.Column:
        rows: list[Any] = []
        box = [f for f in self.fields if f.path.startswith("box.")]
        if box:
            small = max(60, (self._width - 20) // len(box))
            rows.append(pn.Row(*[self._widget(f, small) for f in box], margin=0, css_classes=["prop-box"]))
        for f in self.fields:
            if not f.path.startswith("box."):
                rows.append(self._widget(f, self._width))
        return pn.Column(*rows, css_classes=[self._css] if self._css else [], margin=0)

    def load(self, data: dict[str, Any]) -> None:
        """Show ``data`` (the model's JSON) without calling ``on_change``."""
        update: dict[str, Any] = {}
        for f in self.fields:
            value = get_path(data, f.path)
            if f.kind == "color":
                if f.optional:
                    update[f"{f.name}__set"] = value is not None
                if value is not None:
                    update[f.name] = value
            elif f.kind == "string" or f.kind == "text":
                update[f.name] = "" if value is None else str(value)
            elif f.kind == "select" and value not in f.options:
                continue
            else:
                update[f.name] = value
        self._loading = True
        try:
            self.values.param.update(**update)
        finally:
            self._loading = False

    def _changed(self, *events: param.parameterized.Event) -> None:
        if self._loading:
            return
        changes: dict[str, Any] = {}
        try:
            for e in events:
                name = e.name.removesuffix("__set")
                f = self._by_name[name]
                raw = getattr(self.values, name)
                if f.kind == "color" and f.optional and not getattr(self.values, f"{name}__set"):
                    raw = None
                changes[f.path] = coerce(f, raw)
        except InvalidSpec as exc:
            notify_error(exc.message)
            return
        if changes:
            self.on_change(changes)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
