"""Update a tile's content in place when its new content has the same shape as what is shown.

A filter change or a drill step re-renders a tile's chart from the new data. Replacing the
tile's Panel object makes the browser build new views and lay the whole page out again (every
chart on it repaints); when the new chart has the same structure as the one on screen — the
same model types in the same places, which is the rule for a filter change — copying the new
property values (data sources, factor ranges, titles, colours) into the models the browser
already holds sends only those values, and only that chart redraws.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import panel as pn
from bokeh.model import Model

from components.widget_view import ChartPane

__all__ = ["patch_in_place", "reconcile"]

# Links to callbacks and events stay with the models on screen (their Python callbacks too).
# So do the stylesheets Panel gives the chart it shows.
_KEEP = frozenset(
    {"id", "js_event_callbacks", "js_property_callbacks", "subscribed_events", "syncable", "stylesheets"}
)


def reconcile(old: Model, new: Model) -> bool:
    """Make ``old`` show what ``new`` shows by setting property values, if their graphs match.

    Both model graphs are walked together; they match when every reference points to a
    model of the same type (lists of models of the same length) and every property set on
    either is set on ``new`` (a value only the old model set could not be unset). Returns
    False, changing nothing, when they do not match; the caller then replaces the content.
    """
    updates: list[tuple[Model, str, Any]] = []
    if not _match(old, new, updates, set()):
        return False
    for model, name, value in updates:
        # Container values (a data source's columns) are copied: Bokeh refuses to share them.
        setattr(model, name, dict(value) if isinstance(value, dict) else value)
    return True


def _explicit(model: Model) -> set[str]:
    # Values the page's Bokeh theme gave the model on screen count as set for Bokeh; they are
    # not ours (the new chart gets them from the same theme) and must not block a match.
    themed = set(model.themed_values() or {})
    return set(model.properties_with_values(include_defaults=False)) - themed - _KEEP


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # arrays, frames: "ambiguous"; treat as changed and send the new value
        return False


def _models_in(value: Any) -> Iterator[Any]:
    if isinstance(value, Model):
        yield value
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _models_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _models_in(v)


def _match(old: Any, new: Any, updates: list[tuple[Model, str, Any]], seen: set[int]) -> bool:
    if type(old) is not type(new):
        return False
    if id(old) in seen:
        return True
    seen.add(id(old))
    old_set, new_set = _explicit(old), _explicit(new)
    if old_set - new_set:
        return False
    for name in sorted(new_set):
        ov, nv = getattr(old, name), getattr(new, name)
        olds, news = list(_models_in(ov)), list(_models_in(nv))
        if olds or news:
            if len(olds) != len(news) or not _same_shape(ov, nv):
                return False
            if not all(_match(o, n, updates, seen) for o, n in zip(olds, news, strict=True)):
                return False
        elif not _same(ov, nv):
            updates.append((old, name, nv))
    return True


def _same_shape(a: Any, b: Any) -> bool:
    """Containers of models: same kind, same length, same keys (models compared by _match)."""
    if isinstance(a, Model) or isinstance(b, Model):
        return isinstance(a, Model) and isinstance(b, Model)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_shape(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_shape(a[k], b[k]) for k in a)
    return not (isinstance(a, list | tuple | dict) or isinstance(b, list | tuple | dict)) or _same(a, b)


def patch_in_place(old: Any, new: Any) -> bool:
    """Show ``new``'s content in the Panel object ``old`` already on screen, if they are alike.

    Charts (:class:`ChartPane`) are reconciled model by model; HTML panes (KPI cards, text,
    messages) take the new HTML; anything else is not patched (False: replace it).
    """
    if type(old) is not type(new):
        return False
    if isinstance(old, ChartPane):
        if not (isinstance(old.object, Model) and isinstance(new.object, Model)):
            return False
        if not reconcile(old.object, new.object):
            return False
        old.tap_state.update(new.tap_state)  # clicks on the patched chart read the new data
        return True
    if isinstance(old, pn.pane.HTML) and old.css_classes == new.css_classes:
        old.object = new.object
        return True
    return False
