"""What changed between two versions of a template: elements added, removed and changed
(with each changed property, old and new), and the template-level settings that changed.

Pure: two specs in, a :class:`TemplateDiff` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portal.specs.pdf import PdfTemplateSpec

#: Template-level fields compared as settings (``pages`` are compared element by element).
SETTINGS = (
    "name",
    "description",
    "page",
    "theme",
    "parameters",
    "filters",
    "variables",
    "overrides",
    "info",
    "pdfa",
)


@dataclass(frozen=True)
class ElementChange:
    """One element present in both versions whose properties differ (dotted paths)."""

    id: str
    kind: str
    props: dict[str, tuple[Any, Any]]


@dataclass(frozen=True)
class TemplateDiff:
    """The difference from an older version to a newer one."""

    old_version: int
    new_version: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    settings: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether the two versions are the same."""
        return not (self.added or self.removed or self.changed or self.settings)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"added": [...], "removed": [...], "changed": [{"id", "kind", "props":
        {"box.x": {"old", "new"}}}], "settings": {"theme.accent": {"old", "new"}}}``."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "added": self.added,
            "removed": self.removed,
            "changed": [
                {
                    "id": c.id,
                    "kind": c.kind,
                    "props": {k: {"old": o, "new": n} for k, (o, n) in c.props.items()},
                }
                for c in self.changed
            ],
            "settings": {k: {"old": o, "new": n} for k, (o, n) in self.settings.items()},
        }


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"box.x": 10, "chart.y": [...]}``: dicts flattened to dotted paths; lists kept whole."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _changes(old: Any, new: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    a, b = _flat(old, prefix), _flat(new, prefix)
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _elements(spec: PdfTemplateSpec) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for page_no, el, section in spec.elements():
        data = el.model_dump(mode="json", exclude={"children"} if el.kind == "section" else None)
        data["page"] = page_no + 1
        if section is not None:
            data["section"] = section.id
        out[el.id] = data
    return out


def diff_specs(
    old: PdfTemplateSpec, new: PdfTemplateSpec, *, old_version: int = 0, new_version: int = 0
) -> TemplateDiff:
    """The changes from ``old`` to ``new`` (elements matched by id, in the new order)."""
    a, b = _elements(old), _elements(new)
    changed = []
    for el_id, data in b.items():
        if el_id in a:
            props = _changes(a[el_id], data)
            if props:
                changed.append(ElementChange(id=el_id, kind=str(data["kind"]), props=props))
    settings: dict[str, tuple[Any, Any]] = {}
    old_json, new_json = old.model_dump(mode="json"), new.model_dump(mode="json")
    for name in SETTINGS:
        settings.update(_changes(old_json[name], new_json[name], name))
    old_pages = [(p["kind"], p["name"]) for p in old_json["pages"]]
    new_pages = [(p["kind"], p["name"]) for p in new_json["pages"]]
    if old_pages != new_pages:
        settings["pages"] = (old_pages, new_pages)
    return TemplateDiff(
        old_version=old_version,
        new_version=new_version,
        added=[i for i in b if i not in a],
        removed=[i for i in a if i not in b],
        changed=changed,
        settings=settings,
    )
