"""The PDF designer (``/designer``): canvas, properties, bindings, theme, pages, versions, live preview."""
