"""Charts in PDFs: the dashboards' ChartSpec through plotly + Kaleido (system Chromium), embedded as PNG.

Kept to a handful of Kaleido exports: the first one starts Chromium (seconds); later renders
of the same charts come from the image cache.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import cast

import pandas as pd
import pikepdf
import pytest

from portal.pdf.inputs import ElementData, RenderInput, RenderOptions
from portal.specs.pdf import PdfTemplateSpec
from reports_pdf import RenderResult, render
from reports_pdf import charts as chart_module
from reports_pdf.charts import CACHE, px
from tests.unit.test_pdf_render import box, page_texts, pdffonts, squash

CREATED = datetime(2024, 4, 1, 12, 0)
MONTHS = pd.date_range("2024-01-01", periods=6, freq="MS")


def chart_spec() -> PdfTemplateSpec:
    return PdfTemplateSpec.model_validate(
        {
            "name": "Gráficos",
            "pdfa": True,
            "pages": [
                {
                    "elements": [
                        {
                            "kind": "title",
                            "id": "t",
                            "text": "Gráficos de São Paulo",
                            "box": box(15, 30, 180, 10),
                        },
                        {
                            "kind": "chart",
                            "id": "line",
                            "binding": {"report_id": 1},
                            "chart": {
                                "viz": "line",
                                "x": "month",
                                "y": ["tickets"],
                                "series": "region",
                                "title": "Chamados — {{customer.name}}",
                            },
                            "box": box(15, 45, 180, 80),
                        },
                        {
                            "kind": "chart",
                            "id": "pie",
                            "binding": {"report_id": 1},
                            "chart": {"viz": "pie", "x": "region", "y": ["tickets"], "title": "Por região"},
                            "box": box(15, 130, 88, 70),
                        },
                        {
                            "kind": "chart",
                            "id": "unknown",
                            "binding": {"report_id": 1},
                            "chart": {"viz": "column", "x": "regiao", "y": ["tickets"]},
                            "box": box(107, 130, 88, 70),
                        },
                        {
                            "kind": "text",
                            "id": "below",
                            "text": "Texto abaixo dos gráficos",
                            "box": box(15, 205, 180, 10),
                        },
                    ]
                }
            ],
        }
    )


def chart_input(**options: object) -> RenderInput:
    frame = pd.DataFrame(
        {
            "month": MONTHS.repeat(3),
            "region": ["São Paulo", "Paraná", "Ceará"] * len(MONTHS),
            "tickets": [10.0 + i * 3 for i in range(3 * len(MONTHS))],
        }
    )
    data = {k: ElementData(frame=frame) for k in ("line", "pie", "unknown")}
    return RenderInput(
        data=data,
        variables={"customer.name": "Acme"},
        options=RenderOptions(creation_date=CREATED, **options),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def charted() -> RenderResult:
    CACHE.clear()
    return render(chart_spec(), chart_input())


def page_images(pdf: bytes) -> list[tuple[int, int]]:
    doc = pikepdf.open(io.BytesIO(pdf))
    images = doc.pages[0].get_images()
    return sorted((int(img.Width), int(img.Height)) for img in images.values())


def test_charts_are_embedded_as_2x_png_and_the_bad_one_is_an_error_box(
    charted: RenderResult, tmp_path: Path
) -> None:
    assert [(e.element_id, e.page) for e in charted.errors] == [("unknown", 1)]
    assert "regiao" in charted.errors[0].message
    assert page_images(charted.pdf) == sorted([(px(180) * 2, px(80) * 2), (px(88) * 2, px(70) * 2)])
    text = squash(page_texts(charted.pdf, tmp_path)[0])
    assert "Gráficos de São Paulo" in text and "Texto abaixo dos gráficos" in text
    assert "chart 'unknown' could not be drawn" in text


def test_chart_pdf_is_pdfa_with_embedded_fonts_only(charted: RenderResult, tmp_path: Path) -> None:
    doc = pikepdf.open(io.BytesIO(charted.pdf))
    assert doc.open_metadata().pdfa_status == "2B"
    rows = pdffonts(charted.pdf, tmp_path)
    assert rows and all(row[-5] == "yes" for row in rows), rows


def test_chart_pixels_show_the_data(charted: RenderResult) -> None:
    doc = pikepdf.open(io.BytesIO(charted.pdf))
    biggest = max(doc.pages[0].get_images().values(), key=lambda img: int(img.Width))
    image = pikepdf.PdfImage(cast(pikepdf.Stream, biggest)).as_pil_image().convert("RGB")
    colours = {image.getpixel((x, y)) for x in range(0, image.width, 7) for y in range(0, image.height, 7)}
    # White paper plus the theme palette's series colours, not a blank image.
    assert len(colours) > 20
    assert (255, 255, 255) in colours


def test_unchanged_charts_come_from_the_cache(charted: RenderResult, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_kaleido(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Kaleido called for a chart that did not change")

    monkeypatch.setattr(chart_module, "kaleido_image", no_kaleido)
    hits = CACHE.hits
    again = render(chart_spec(), chart_input())
    assert again.pdf == charted.pdf
    assert CACHE.hits == hits + 2


def test_a_kaleido_failure_is_an_error_box_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("Kaleido could not start Chromium: install chromium or set BROWSER_PATH")

    monkeypatch.setattr(chart_module, "kaleido_image", broken)
    result = render(chart_spec(), chart_input(preview=True))  # preview: other image size, no cache hit
    assert sorted(e.element_id for e in result.errors) == ["line", "pie", "unknown"]
    assert all("Chromium" in e.message for e in result.errors if e.element_id != "unknown")
    text = squash(page_texts(result.pdf, tmp_path)[0])
    assert "chart 'line' could not be drawn" in text and "Texto abaixo dos gráficos" in text


def test_preview_renders_charts_at_1x() -> None:
    result = render(chart_spec(), chart_input(preview=True))
    assert page_images(result.pdf) == sorted([(px(180), px(80)), (px(88), px(70))])


def test_charts_use_the_document_languages_separators() -> None:
    from portal.specs import ChartSpec
    from portal.specs.pdf import ThemeSpec

    spec = ChartSpec(viz="column", x="region", y=["cost"])
    frame = pd.DataFrame({"region": ["Norte", "Sul"], "cost": [1234.5, 99.25]})
    pt = chart_module.chart_figure(spec, frame, None, ThemeSpec(), (400, 300), ",.")
    en = chart_module.chart_figure(spec, frame, None, ThemeSpec(), (400, 300))
    assert pt["layout"]["separators"] == ",." and en["layout"]["separators"] == ".,"
    # Another language is another image: never served from the other's cache entry.
    keys = {
        chart_module.chart_key(spec, frame, None, (400, 300), 2.0, ThemeSpec(), seps) for seps in (".,", ",.")
    }
    assert len(keys) == 2 and None not in keys
