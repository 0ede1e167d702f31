"""The pure PDF renderer: ``(template spec, data frames, assets) -> PDF bytes`` with fpdf2.

No database, no Redis, no Panel: the caller (``portal.pdf`` / the report jobs) runs the
bindings in the user's scope and hands the frames over in a
:class:`portal.pdf.inputs.RenderInput`.

    from reports_pdf import render
    result = render(spec, RenderInput(data={"t1": ElementData(frame=df)}))
    result.pdf, result.pages, result.errors, result.toc
"""

from __future__ import annotations

from reports_pdf.rasterize import rasterize
from reports_pdf.render import render
from reports_pdf.result import ElementError, PageLimitExceeded, RenderResult, TocEntry
from reports_pdf.variables import expand

__all__ = ["ElementError", "PageLimitExceeded", "RenderResult", "TocEntry", "expand", "rasterize", "render"]
