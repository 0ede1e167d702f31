"""Text variables of templates: ``{{customer.name}}``, ``{{period.start|date}}``, ``{{now|datetime}}``.

Pure functions. :func:`expand` replaces each ``{{ name }}`` / ``{{ name | filter }}`` (the
syntax of :data:`portal.specs.pdf.VARIABLE_RE`) by its value; a name the mapping does not hold
stays as the literal placeholder, so a missing variable is visible in the PDF instead of
silently vanishing. Numbers use the portal's one number format
(:func:`portal.viz.formats.format_number`) and dates read ISO (``2024-03-01``,
``2024-03-01 14:30``), like the rest of the portal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from portal.specs.pdf import VARIABLE_RE
from portal.viz.formats import EN_SYMBOLS, format_number, localize

if TYPE_CHECKING:
    from portal.pdf.inputs import RenderInput
    from portal.specs.pdf import PdfTemplateSpec

__all__ = ["document_variables", "expand", "format_variable", "lookup"]

_MISSING = object()
_NUMBER_FILTERS = {"number": "number", "integer": "integer", "percent": "percent", "currency": "currency"}


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """The value of ``name``: the flat key (``"customer.name"``), else a walk through nested
    mappings (``{"customer": {"name": ...}}``); :data:`_MISSING` when neither holds it."""
    if name in variables:
        return variables[name]
    node: Any = variables
    for part in name.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date_text(value: datetime | date, with_time: bool) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if with_time else value.strftime("%Y-%m-%d")
    return value.isoformat()


def format_variable(value: Any, filter_name: str | None = None, symbols: tuple[str, str] = EN_SYMBOLS) -> str:
    """``value`` as text, through ``filter_name`` (one of ``portal.specs.pdf.VARIABLE_FILTERS``);
    the number filters write the document language's separators (``symbols``).

    A value the filter cannot read (``"abc"|date``) is shown as it is; ``None`` is empty.
    """
    if value is None:
        return ""
    if filter_name in ("date", "datetime"):
        when = _as_datetime(value)
        return str(value) if when is None else _date_text(when, filter_name == "datetime")
    if filter_name in _NUMBER_FILTERS:
        number = _as_number(value)
        if number is None:
            return str(value)
        return localize(format_number(number, _NUMBER_FILTERS[filter_name]), symbols)
    if filter_name == "upper":
        return format_variable(value).upper()
    if filter_name == "lower":
        return format_variable(value).lower()
    if isinstance(value, datetime | date):
        return _date_text(value, isinstance(value, datetime))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def expand(text: str, variables: Mapping[str, Any], symbols: tuple[str, str] = EN_SYMBOLS) -> str:
    """``text`` with every ``{{name}}`` / ``{{name|filter}}`` replaced by its value.

    Unknown names stay as the literal placeholder; unknown filters (the spec rejects them)
    show the value unfiltered.
    """
    if "{{" not in text:
        return text

    def one(m: Any) -> str:
        value = lookup(variables, m.group(1))
        if value is _MISSING:
            return str(m.group(0))
        return format_variable(value, m.group(2), symbols)

    return VARIABLE_RE.sub(one, text)


def document_variables(spec: PdfTemplateSpec, inputs: RenderInput, now: datetime) -> dict[str, Any]:
    """The variables of one render: the caller's ``inputs.variables`` over the template's own
    defaults (``template.name``, ``brand.*`` from the theme, ``vars.*``, ``params.*`` defaults, ``now``)."""
    out: dict[str, Any] = {"template.name": spec.name, "now": now}
    out.update({f"brand.{k}": v for k, v in spec.theme.brand.items()})
    out.update({f"vars.{k}": v for k, v in spec.variables.items()})
    out.update({f"params.{p.name}": p.default for p in spec.parameters if p.default is not None})
    out.update(inputs.variables)
    return out
