"""The theme editor: palette, fonts and sizes, colours, header and footer (text, logo, page
numbers), brand variables; apply a built-in or saved theme, save the current one under a
name; upload images (logos) as assets.

Edits are handed to ``on_change(theme JSON)``; the designer validates them with the template.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import panel as pn

from components.pdf_designer.edits import set_paths
from components.pdf_designer.properties import ModelForm, describe_model
from components.session import notify_error
from portal.errors import InvalidSpec
from portal.specs.pdf import ThemeSpec

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def parse_palette(text: str) -> list[str]:
    """``"#2563eb, #f59e0b"`` → the colours; :class:`InvalidSpec` naming ``palette`` for a bad one."""
    colours = [c.strip() for c in re.split(r"[\s,;]+", text or "") if c.strip()]
    if not colours:
        raise InvalidSpec("palette: give at least one colour (#rrggbb)", field="palette")
    for i, c in enumerate(colours):
        if not _HEX.match(c):
            raise InvalidSpec(f"palette.{i}: {c[:20]!r} is not a colour (#rrggbb)", field=f"palette.{i}")
    return [c.lower() for c in colours]


def parse_pairs(text: str, field: str = "brand") -> dict[str, str]:
    """``name = value`` lines → variables (brand or template); :class:`InvalidSpec` naming ``field`` and the line."""
    out: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _VAR.match(key):
            raise InvalidSpec(
                f"{field} line {n}: write name = value (the name: letters, digits and _), got {line.strip()[:40]!r}",
                field=field,
            )
        out[key] = value.strip()
    return out


def pairs_text(pairs: dict[str, str]) -> str:
    """Inverse of :func:`parse_pairs`."""
    return "\n".join(f"{k} = {v}" for k, v in pairs.items())


THEME_FIELDS = describe_model(
    ThemeSpec,
    skip=("palette", "brand", "header.logo", "footer.logo"),
    nested=("header", "footer"),
)


class ThemeEditor(pn.viewable.Viewer):
    """Edits the template's theme; lists built-in and saved themes and the tenant's images."""

    def __init__(
        self,
        on_change: Callable[[dict[str, Any]], None],
        on_save: Callable[[dict[str, Any]], None],
        on_upload: Callable[[str, bytes], None],
    ) -> None:
        super().__init__()
        self.on_change, self.on_save, self.on_upload = on_change, on_save, on_upload
        self.theme: dict[str, Any] = ThemeSpec().model_dump(mode="json")
        self.themes: dict[str, ThemeSpec] = {}
        self._loading = False
        self.form = ModelForm(
            [f for f in THEME_FIELDS if f.path != "name"],
            self._form_changed,
            name="ThemeForm",
            css_class="theme-form",
        )
        self._choice = pn.widgets.Select(name="Theme", options=[], width=200, css_classes=["theme-choice"])
        self._apply = pn.widgets.Button(name="Apply", button_type="light", width=80, align="end")
        self._apply.on_click(lambda _: self._apply_theme())
        self._name = pn.widgets.TextInput(
            name="Save as", placeholder="theme name", width=200, css_classes=["theme-name"]
        )
        self._save = pn.widgets.Button(name="Save theme", button_type="light", width=100, align="end")
        self._save.on_click(lambda _: self._save_theme())
        self._palette = pn.widgets.TextInput(
            name="Palette (#rrggbb, comma-separated)", width=320, css_classes=["theme-palette"]
        )
        self._swatches = pn.pane.HTML("", margin=(0, 10))
        self._brand = pn.widgets.TextAreaInput(
            name="Brand variables ({{brand.name}}): name = value per line",
            width=320,
            height=80,
            css_classes=["theme-brand"],
        )
        self._header_logo = pn.widgets.Select(name="Header logo", options=[""], width=155)
        self._footer_logo = pn.widgets.Select(name="Footer logo", options=[""], width=155)
        self._palette.param.watch(lambda *_: self._lists_changed(), "value")
        self._brand.param.watch(lambda *_: self._lists_changed(), "value")
        self._header_logo.param.watch(lambda *_: self._lists_changed(), "value")
        self._footer_logo.param.watch(lambda *_: self._lists_changed(), "value")
        self._upload = pn.widgets.FileInput(
            accept=".png,.jpg,.jpeg,.svg", width=220, css_classes=["asset-upload"]
        )
        self._asset_name = pn.widgets.TextInput(
            name="Image name", placeholder="logo.png", width=150, css_classes=["asset-name"]
        )
        self._upload_btn = pn.widgets.Button(name="Upload", button_type="light", width=80, align="end")
        self._upload_btn.on_click(lambda _: self._do_upload())
        self._upload.param.watch(self._file_picked, "filename")
        self._assets = pn.pane.HTML("", css_classes=["asset-list"], margin=(0, 10))

    # -- showing ------------------------------------------------------------------
    def set_themes(self, themes: list[ThemeSpec]) -> None:
        """The themes offered by Apply (built-in first, then the tenant's saved ones)."""
        self.themes = {t.name: t for t in themes}
        self._choice.options = list(self.themes)

    def set_assets(self, assets: list[tuple[str, str, int]]) -> None:
        """The tenant's images ``(name, content type, bytes)``: listed and offered as logos."""
        names = [a[0] for a in assets]
        for sel in (self._header_logo, self._footer_logo):
            current = sel.value
            sel.options = ["", *names, *([current] if current and current not in names else [])]
        rows = "".join(
            f"<li><code>{html.escape(n)}</code> <span style='color:#64748b'>{html.escape(t)}, {s / 1024:.0f} KB</span></li>"
            for n, t, s in assets
        )
        self._assets.object = (
            f"<ul style='margin:0;padding-left:18px;font-size:13px'>{rows}</ul>"
            if rows
            else "<span style='color:#64748b;font-size:13px'>No images yet.</span>"
        )

    def load(self, theme: ThemeSpec) -> None:
        """Show ``theme`` without calling ``on_change``."""
        self.theme = theme.model_dump(mode="json")
        self._loading = True
        try:
            self.form.load(self.theme)
            self._palette.value = ", ".join(theme.palette)
            self._brand.value = pairs_text(dict(theme.brand))
            for sel, band in ((self._header_logo, theme.header), (self._footer_logo, theme.footer)):
                if band.logo and band.logo not in sel.options:
                    sel.options = [*sel.options, band.logo]
                sel.value = band.logo or ""
            if theme.name in self.themes:
                self._choice.value = theme.name
            self._name.value = theme.name
            self._draw_swatches(list(theme.palette))
        finally:
            self._loading = False

    def _draw_swatches(self, colours: list[str]) -> None:
        self._swatches.object = "".join(
            f"<span title='{c}' style='display:inline-block;width:18px;height:18px;border-radius:3px;"
            f"margin-right:3px;background:{c};border:1px solid #cbd5e1'></span>"
            for c in colours
            if _HEX.match(c)
        )

    # -- edits --------------------------------------------------------------------
    def _form_changed(self, changes: dict[str, Any]) -> None:
        self.on_change(set_paths(self.theme, changes))

    def _lists_changed(self) -> None:
        if self._loading:
            return
        try:
            palette = parse_palette(self._palette.value or "")
            brand = parse_pairs(self._brand.value or "")
        except InvalidSpec as exc:
            notify_error(exc.message)
            return
        self._draw_swatches(palette)
        theme = {
            **self.theme,
            "palette": palette,
            "brand": brand,
            "header": {**self.theme["header"], "logo": self._header_logo.value or None},
            "footer": {**self.theme["footer"], "logo": self._footer_logo.value or None},
        }
        self.on_change(theme)

    def _apply_theme(self) -> None:
        chosen = self.themes.get(str(self._choice.value))
        if chosen is not None:
            self.on_change(chosen.model_dump(mode="json"))

    def _save_theme(self) -> None:
        name = (self._name.value or "").strip()
        if not name:
            notify_error("name: give the theme a name to save it under")
            return
        self.on_save({**self.theme, "name": name})

    def _file_picked(self, event: Any) -> None:
        if event.new and not self._asset_name.value:
            self._asset_name.value = re.sub(r"[^A-Za-z0-9_.-]", "_", str(event.new))[:120]

    def _do_upload(self) -> None:
        if not self._upload.value:
            notify_error("file: choose an image (PNG, JPEG or SVG) first")
            return
        name = (self._asset_name.value or self._upload.filename or "").strip()
        self.on_upload(name, bytes(self._upload.value))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self._choice, self._apply, margin=0),
            self.form,
            self._palette,
            self._swatches,
            pn.Row(self._header_logo, self._footer_logo, margin=0),
            self._brand,
            pn.Row(self._name, self._save, margin=0),
            pn.pane.Markdown("**Images (logos)**", margin=(10, 10, 0, 10)),
            self._assets,
            pn.Row(self._upload, margin=0),
            pn.Row(self._asset_name, self._upload_btn, margin=0),
            margin=0,
            css_classes=["theme-editor"],
        )
