"""The PDF renderer end to end (reports_pdf.render): text, pages, contents, bands, fonts,
metadata, PDF/A, determinism, error boxes, page sizes, themes, the visual reference.

Specs and frames are built here (no database). The expensive renders are module-scoped;
charts (Kaleido + Chromium) live in test_pdf_charts.py.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pikepdf
import pytest
from PIL import Image, ImageChops, ImageStat

from portal.pdf.inputs import Asset, ElementData, RenderInput, RenderOptions
from portal.specs.pdf import DARK_THEME, PdfTemplateSpec
from reports_pdf import PageLimitExceeded, RenderResult, rasterize, render

CREATED = datetime(2024, 4, 1, 12, 0)
REFERENCE = Path(__file__).parent / "data" / "pdf_reference_page1.png"
REGIONS = ["São Paulo", "Paraná", "Ceará"]


# --------------------------------------------------------------------------- helpers
def page_texts(pdf: bytes, tmp: Path) -> list[str]:
    """pdftotext of every page (layout mode), in order."""
    path = tmp / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdffonts(pdf: bytes, tmp: Path) -> list[list[str]]:
    """Rows of ``pdffonts`` (name, type, encoding, emb, sub, uni, ...)."""
    path = tmp / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def sites(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "region": rng.choice(REGIONS, n),
            "site": [f"Unidade {i:03d} — São José" for i in range(n)],
            "opened": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
            "cost": rng.uniform(10, 2000, n).round(2),
            "tickets": rng.integers(1, 60, n),
        }
    )
    return frame.sort_values(["region", "site"]).reset_index(drop=True)


def summaries(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the warehouse would return for subtotals by region and the grand total."""
    sub = frame.groupby("region", as_index=False).agg(cost=("cost", "sum"), tickets=("tickets", "sum"))
    tot = pd.DataFrame({"cost": [frame["cost"].sum()], "tickets": [frame["tickets"].sum()]})
    return sub, tot


def box(x: float, y: float, w: float, h: float) -> dict[str, float]:
    return {"x": x, "y": y, "w": w, "h": h}


def report_spec(**extra: Any) -> PdfTemplateSpec:
    table_columns = [
        {"name": "region", "label": "Região", "width": 2},
        {"name": "site", "label": "Unidade", "width": 3},
        {"name": "opened", "label": "Abertura", "format": "date"},
        {
            "name": "cost",
            "label": "Custo",
            "format": "currency",
            "rules": [{"op": ">", "than": 1500, "color": "#b91c1c", "fill": "#fee2e2"}],
        },
        {"name": "tickets", "label": "Chamados"},
    ]
    data = {
        "name": "Relatório de Manutenção",
        "info": {"author": "Equipe de BI", "subject": "Manutenção mensal", "keywords": "manutenção, sla"},
        "theme": {
            "brand": {"company": "Acme Facilities"},
            "header": {"text": "{{brand.company}} — {{customer.name}}"},
            "footer": {"page_numbers": True, "align": "right"},
        },
        "pages": [
            {
                "kind": "cover",
                "elements": [
                    {
                        "kind": "title",
                        "id": "cover_title",
                        "text": "Relatório de Manutenção — {{customer.name}}",
                        "in_toc": False,
                        "box": box(20, 90, 170, 20),
                    },
                    {
                        "kind": "text",
                        "id": "cover_period",
                        "text": "Período de {{period.start|date}} a {{period.end|date}}",
                        "box": box(20, 115, 170, 10),
                    },
                ],
            },
            {"elements": [{"kind": "toc", "id": "toc", "box": box(15, 30, 180, 60)}]},
            {
                "elements": [
                    {"kind": "title", "id": "summary", "text": "Resumo geral", "box": box(15, 30, 180, 10)},
                    {
                        "kind": "kpi",
                        "id": "kpi_cost",
                        "binding": {"report_id": 1},
                        "kpi": {"value": "cost", "label": "Custo total", "format": "currency"},
                        "box": box(15, 45, 60, 28),
                    },
                    {
                        "kind": "table",
                        "id": "sites",
                        "binding": {"report_id": 1},
                        "subtotals_by": "region",
                        "columns": table_columns,
                        "box": box(15, 80, 180, 40),
                    },
                    {
                        "kind": "text",
                        "id": "after_table",
                        "text": "Texto depois da tabela: ação e atenção.",
                        "box": box(15, 125, 180, 10),
                    },
                    {
                        "kind": "image",
                        "id": "logo_missing",
                        "asset": "logo-novo.png",
                        "box": box(15, 140, 40, 20),
                    },
                    {
                        "kind": "table",
                        "id": "broken_binding",
                        "binding": {"report_id": 2},
                        "box": box(15, 165, 180, 20),
                    },
                    {
                        "kind": "table",
                        "id": "unknown_column",
                        "binding": {"report_id": 1},
                        "columns": [{"name": "custo"}],
                        "box": box(15, 190, 180, 20),
                    },
                    {"kind": "text", "id": "closing", "text": "Fim do resumo.", "box": box(15, 215, 180, 10)},
                ]
            },
            {
                "elements": [
                    {
                        "kind": "section",
                        "id": "by_region",
                        "binding": {"report_id": 1},
                        "group_by": "region",
                        "title": "Região {{group.value}}",
                        "box": box(15, 30, 180, 60),
                        "children": [
                            {
                                "kind": "text",
                                "id": "region_intro",
                                "text": "Unidades de {{group.value}}",
                                "box": box(0, 0, 180, 8),
                            },
                            {
                                "kind": "kpi",
                                "id": "region_kpi",
                                "binding": {"report_id": 3},
                                "kpi": {"value": "tickets", "label": "Chamados", "format": "integer"},
                                "box": box(0, 10, 60, 25),
                            },
                            {
                                "kind": "table",
                                "id": "region_sites",
                                "columns": [{"name": "site"}, {"name": "tickets"}],
                                "box": box(0, 40, 180, 20),
                            },
                        ],
                    }
                ]
            },
        ],
    }
    data.update(extra)
    return PdfTemplateSpec.model_validate(data)


def report_input(**options: Any) -> RenderInput:
    frame = sites(90)
    sub, tot = summaries(frame)
    per_region = frame.groupby("region", as_index=False).agg(tickets=("tickets", "sum"))
    data = {
        "kpi_cost": ElementData(frame=tot, previous=tot * 1.2),
        "sites": ElementData(frame=frame, subtotals=sub, totals=tot),
        "broken_binding": ElementData.failed("the warehouse did not answer in 30 s (report 2)"),
        "unknown_column": ElementData(frame=frame),
        "by_region": ElementData(frame=frame),
        "region_kpi": ElementData(frame=per_region),
    }
    return RenderInput(
        data=data,
        variables={
            "customer.name": "São Paulo",
            "period.start": datetime(2024, 3, 1),
            "period.end": "2024-03-31",
        },
        options=RenderOptions(creation_date=CREATED, **options),
    )


@pytest.fixture(scope="module")
def report() -> RenderResult:
    return render(report_spec(), report_input())


@pytest.fixture(scope="module")
def texts(report: RenderResult, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return page_texts(report.pdf, tmp_path_factory.mktemp("texts"))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------- text, pages, contents
def test_accented_text_and_variables(texts: list[str]) -> None:
    assert "Relatório de Manutenção — São Paulo" in texts[0]
    assert "Período de 2024-03-01 a 2024-03-31" in squash(texts[0])
    assert "Texto depois da tabela: ação e atenção." in "".join(texts)


def test_page_count_matches_the_pages_drawn(report: RenderResult, texts: list[str]) -> None:
    assert report.pages == len(texts) == len(pikepdf.open(io.BytesIO(report.pdf)).pages)


def test_one_page_per_group_with_page_break_before(report: RenderResult, texts: list[str]) -> None:
    titles = {f"Região {r}" for r in REGIONS}
    toc_page = next(i for i, t in enumerate(texts) if "Sumário" in t)
    pages_of = {t: [i + 1 for i, text in enumerate(texts) if t in text and i != toc_page] for t in titles}
    assert all(len(p) == 1 for p in pages_of.values()), pages_of
    starts = sorted(p[0] for p in pages_of.values())
    # Groups sorted by value, each on its own page, the last one ends the document.
    assert [t for t, _ in sorted(pages_of.items(), key=lambda kv: kv[1])] == [
        "Região Ceará",
        "Região Paraná",
        "Região São Paulo",
    ]
    # Ceará's table runs onto a second page; every group still starts its own page.
    assert starts == [6, 8, 9]
    assert starts[-1] == report.pages
    assert "Unidades de" not in texts[6]
    # Children see their group's rows only.
    ceara = texts[starts[0] - 1]
    assert "Unidades de Ceará" in ceara
    assert "Paraná" not in ceara.replace("Região Paraná", "")


def section_spec(page_break_before: bool) -> PdfTemplateSpec:
    return PdfTemplateSpec.model_validate(
        {
            "name": "Seções",
            "pages": [
                {
                    "elements": [
                        {
                            "kind": "section",
                            "id": "sec",
                            "binding": {"report_id": 1},
                            "group_by": "region",
                            "sort_desc": True,
                            "page_break_before": page_break_before,
                            "box": box(15, 30, 180, 40),
                            "children": [
                                {
                                    "kind": "text",
                                    "id": "intro",
                                    "text": "Grupo {{group.value}}",
                                    "box": box(0, 0, 180, 8),
                                },
                                {
                                    "kind": "table",
                                    "id": "rows",
                                    "columns": [{"name": "site"}],
                                    "box": box(0, 10, 180, 20),
                                },
                            ],
                        }
                    ]
                }
            ],
        }
    )


@pytest.mark.parametrize(("page_break_before", "pages"), [(True, 3), (False, 1)])
def test_section_bands_one_page_per_group(page_break_before: bool, pages: int, tmp_path: Path) -> None:
    frame = sites(12)
    result = render(section_spec(page_break_before), RenderInput(data={"sec": ElementData(frame=frame)}))
    assert result.errors == []
    assert result.pages == pages
    texts = page_texts(result.pdf, tmp_path)
    order = ["São Paulo", "Paraná", "Ceará"]  # sort_desc
    assert [e.title for e in result.toc] == order
    if page_break_before:
        for text, region in zip(texts, order, strict=True):
            assert f"Grupo {region}" in text
            shown = set(re.findall(r"Unidade (\d{3})", text))
            assert shown == {site.split()[1] for site in frame.loc[frame["region"] == region, "site"]}
    else:
        flat = squash(texts[0])
        assert flat.index("Grupo São Paulo") < flat.index("Grupo Paraná") < flat.index("Grupo Ceará")


def test_toc_shows_the_real_pages_of_the_headings(report: RenderResult, texts: list[str]) -> None:
    toc_page = next(i for i, t in enumerate(texts) if "Sumário" in t)
    listed = {}
    for line in texts[toc_page].splitlines():
        m = re.match(r"\s*(\S.*?)\s{2,}(\d+)\s*$", line)
        if m:
            listed[m.group(1).strip()] = int(m.group(2))
    assert listed == {"Resumo geral": 3, **{e.title: e.page for e in report.toc if e.level == 1}}
    assert len(listed) == 4
    for title, page in listed.items():
        assert title in texts[page - 1], (title, page)
        assert all(title not in t for i, t in enumerate(texts) if i not in (page - 1, toc_page))
    assert [(e.title, e.level) for e in report.toc] == [
        ("Resumo geral", 0),
        ("Região Ceará", 1),
        ("Região Paraná", 1),
        ("Região São Paulo", 1),
    ]


def test_toc_lines_link_to_their_pages(report: RenderResult) -> None:
    pdf = pikepdf.open(io.BytesIO(report.pdf))
    page_index: dict[Any, int] = {p.objgen: i + 1 for i, p in enumerate(pdf.pages)}
    links = [a for a in pdf.pages[1].obj.get("/Annots", []) if a.get("/Subtype") == "/Link"]
    targets = [page_index[a["/Dest"][0].objgen] for a in links]
    assert targets == [e.page for e in report.toc]
    assert [item.title for item in pdf.open_outline().root] == ["Resumo geral"]


def test_header_and_page_numbers_on_every_non_cover_page(report: RenderResult, texts: list[str]) -> None:
    assert "Acme Facilities" not in texts[0]
    assert "Página" not in texts[0]
    for number, text in enumerate(texts[1:], start=2):
        assert "Acme Facilities — São Paulo" in text, number
        assert f"Página {number} de {report.pages}" in text, number


def test_the_grouped_table_flows_with_its_header_and_summaries(texts: list[str]) -> None:
    start = next(i for i, t in enumerate(texts) if "Resumo geral" in t and "Sumário" not in t)
    end = next(i for i, t in enumerate(texts) if "Texto depois da tabela" in t)
    table_pages = texts[start : end + 1]
    assert len(table_pages) >= 2
    assert all("Região" in t and "Custo" in t and "Chamados" in t for t in table_pages)
    body = squash(" ".join(texts[start : start + len(table_pages)]))
    assert all(f"Subtotal {r}" in body for r in REGIONS)
    frame = sites(90)
    # The template's language is pt-BR: thousands are separated by "." (R$ 1.234.567).
    total = f"R$ {frame['cost'].sum():,.0f}".replace(",", ".")
    tickets = f"{frame['tickets'].sum():,}".replace(",", ".")
    assert re.search(rf"Total {re.escape(total)} {re.escape(tickets)}", body)
    # Moved down by the table's growth, after it, never over it.
    last = table_pages[-1]
    assert last.index("Total") < last.index("Texto depois da tabela")


# --------------------------------------------------------------------------- errors
def test_bad_elements_become_error_boxes_and_the_rest_renders(report: RenderResult, texts: list[str]) -> None:
    by_id = {e.element_id: e for e in report.errors}
    assert set(by_id) == {"logo_missing", "broken_binding", "unknown_column"}
    assert "logo-novo.png" in by_id["logo_missing"].message
    assert "did not answer" in by_id["broken_binding"].message
    assert "custo" in by_id["unknown_column"].message and "cost" in by_id["unknown_column"].message
    page = texts[by_id["broken_binding"].page - 1]
    flat = squash(page)
    assert "table 'broken_binding' could not be drawn" in flat
    assert "image 'logo_missing' could not be drawn" in squash(texts[by_id["logo_missing"].page - 1])
    assert "Fim do resumo." in flat
    assert "Texto depois da tabela" in flat


def test_max_pages_stops_a_runaway_with_a_clear_error() -> None:
    with pytest.raises(PageLimitExceeded, match="max_pages"):
        render(report_spec(), report_input(max_pages=3))


# --------------------------------------------------------------------------- fonts, metadata, PDF/A
def test_every_font_is_embedded(report: RenderResult, tmp_path: Path) -> None:
    rows = pdffonts(report.pdf, tmp_path)
    assert rows
    assert all(row[-5] == "yes" for row in rows), rows
    assert all("DejaVu" in row[0] for row in rows)


def test_metadata_from_the_spec(report: RenderResult) -> None:
    pdf = pikepdf.open(io.BytesIO(report.pdf))
    info = pdf.docinfo
    assert str(info["/Title"]) == "Relatório de Manutenção"
    assert str(info["/Author"]) == "Equipe de BI"
    assert str(info["/Subject"]) == "Manutenção mensal"
    assert str(pdf.Root.Lang) == "pt-BR"


def test_pdfa_2b() -> None:
    result = render(
        report_spec(info={"title": "Manutenção março", "author": "Equipe"}), report_input(pdfa=True)
    )
    pdf = pikepdf.open(io.BytesIO(result.pdf))
    meta = pdf.open_metadata()
    assert meta.pdfa_status == "2B"
    assert "/OutputIntents" in pdf.Root
    assert meta["dc:title"] == "Manutenção março"
    assert meta["dc:creator"] == ["Equipe"]
    assert meta["xmp:ModifyDate"].startswith("2024-04-01T12:00:00")


def test_same_inputs_and_creation_date_give_identical_bytes(report: RenderResult) -> None:
    again = render(report_spec(), report_input())
    assert again.pdf == report.pdf
    later = render(
        report_spec(), replace(report_input(), options=RenderOptions(creation_date=datetime(2024, 5, 1)))
    )
    assert later.pdf != report.pdf


def test_pdfa_output_is_deterministic_too() -> None:
    a = render(report_spec(), report_input(pdfa=True))
    b = render(report_spec(), report_input(pdfa=True))
    assert a.pdf == b.pdf


# --------------------------------------------------------------------------- page setup and themes
def one_page(page: dict[str, Any] | None = None, theme: Any = None, **extra: Any) -> PdfTemplateSpec:
    data: dict[str, Any] = {
        "name": "Uma página",
        "pages": [
            {
                "elements": [
                    {"kind": "title", "id": "t", "text": "Olá, São Paulo", "box": box(20, 40, 150, 12)}
                ]
            }
        ],
        **extra,
    }
    if page is not None:
        data["page"] = page
    if theme is not None:
        data["theme"] = theme
    return PdfTemplateSpec.model_validate(data)


@pytest.mark.parametrize(
    ("page", "size_mm"),
    [
        ({"size": "A4"}, (210.0, 297.0)),
        ({"size": "Letter", "orientation": "landscape"}, (279.4, 215.9)),
        ({"size": "custom", "width_mm": 100, "height_mm": 150, "orientation": "landscape"}, (150.0, 100.0)),
        (
            {"size": "custom", "width_mm": 120, "height_mm": 180, "margins": {"top": 5, "bottom": 5}},
            (120.0, 180.0),
        ),
    ],
)
def test_page_size_and_orientation(page: dict[str, Any], size_mm: tuple[float, float]) -> None:
    result = render(one_page(page), RenderInput(options=RenderOptions(creation_date=CREATED)))
    pdf = pikepdf.open(io.BytesIO(result.pdf))
    box_pt = [float(v) for v in pdf.pages[0].MediaBox]
    assert box_pt[2] == pytest.approx(size_mm[0] * 72 / 25.4, abs=0.05)
    assert box_pt[3] == pytest.approx(size_mm[1] * 72 / 25.4, abs=0.05)


def test_dark_theme_paints_every_page(tmp_path: Path) -> None:
    spec = report_spec(theme={**DARK_THEME.model_dump(), "brand": {"company": "Acme Facilities"}})
    result = render(spec, report_input())
    assert {e.element_id for e in result.errors} == {"logo_missing", "broken_binding", "unknown_column"}
    pages = rasterize(result.pdf, width_px=200)
    assert len(pages) == result.pages
    for png in pages:
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.getpixel((2, 2)) == (15, 23, 42)  # DARK_THEME.background #0f172a
    # Light text on the dark page: the cover title is drawn in the theme's text colour.
    cover = Image.open(io.BytesIO(rasterize(result.pdf, [0], width_px=600)[0])).convert("L")
    low, high = cast(tuple[int, int], cover.getextrema())
    assert high > 200 > low
    assert "São Paulo" in page_texts(result.pdf, tmp_path)[0]


def test_fonts_of_the_theme_are_used(tmp_path: Path) -> None:
    for family, name in (("DejaVu Serif", "DejaVuSerif"), ("Open Sans", "OpenSans")):
        result = render(
            one_page(theme={"font": family}), RenderInput(options=RenderOptions(creation_date=CREATED))
        )
        rows = pdffonts(result.pdf, tmp_path)
        assert rows and all(name in row[0] and row[-5] == "yes" for row in rows), rows


# --------------------------------------------------------------------------- images and shapes
def png_bytes(color: str, size: tuple[int, int] = (120, 60), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


SVG_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60" viewBox="0 0 200 60">'
    '<rect width="200" height="60" fill="#1e3a8a"/>'
    '<text x="10" y="40" font-size="24" fill="white">Acme São</text>'
    '<text x="130" y="40" style="font-family: \'Open Sans\', Arial; font-weight: bold" fill="#fde047">BI</text>'
    "</svg>"
).encode()


def visual_spec() -> PdfTemplateSpec:
    """Page 1 of the visual reference: one of each static element, no chart (no Chromium)."""
    return PdfTemplateSpec.model_validate(
        {
            "name": "Referência visual",
            "theme": {
                "brand": {"company": "Acme Facilities"},
                "header": {"text": "{{brand.company}}", "logo": "logo.svg"},
                "footer": {"page_numbers": True, "text": "Confidencial", "align": "left"},
            },
            "pages": [
                {
                    "elements": [
                        {
                            "kind": "title",
                            "id": "t",
                            "text": "Relatório de Manutenção — São Paulo",
                            "box": box(15, 32, 180, 12),
                        },
                        {
                            "kind": "text",
                            "id": "p",
                            "align": "justify",
                            "text": "Este relatório resume a manutenção das unidades no período, com custos, "
                            "chamados e o cumprimento do SLA. Valores em reais; variações contra o mês anterior.",
                            "box": box(15, 47, 180, 15),
                        },
                        {
                            "kind": "kpi",
                            "id": "k1",
                            "binding": {"report_id": 1},
                            "kpi": {
                                "value": "cost",
                                "label": "Custo",
                                "format": "currency",
                                "higher_is_better": False,
                            },
                            "box": box(15, 66, 55, 28),
                        },
                        {
                            "kind": "kpi",
                            "id": "k2",
                            "binding": {"report_id": 1},
                            "kpi": {
                                "value": "sla",
                                "label": "SLA",
                                "format": "percent",
                                "decimals": 1,
                                "target": 0.95,
                            },
                            "box": box(77, 66, 55, 28),
                        },
                        {"kind": "image", "id": "img", "asset": "logo.svg", "box": box(140, 66, 55, 28)},
                        {
                            "kind": "rect",
                            "id": "r",
                            "fill": "#dbeafe",
                            "stroke": "#2563eb",
                            "radius_mm": 3,
                            "box": box(15, 100, 180, 12),
                        },
                        {
                            "kind": "text",
                            "id": "rt",
                            "text": "Destaques do mês",
                            "bold": True,
                            "align": "center",
                            "box": box(15, 103, 180, 8),
                        },
                        {
                            "kind": "line",
                            "id": "l",
                            "color": "#f59e0b",
                            "width_mm": 0.8,
                            "box": box(15, 116, 180, 0.001),
                        },
                        {
                            "kind": "table",
                            "id": "tab",
                            "binding": {"report_id": 1},
                            "subtotals_by": "region",
                            "columns": [
                                {"name": "region", "label": "Região", "width": 2},
                                {"name": "site", "label": "Unidade", "width": 3},
                                {
                                    "name": "cost",
                                    "label": "Custo",
                                    "format": "currency",
                                    "rules": [{"op": ">", "than": 1500, "color": "#b91c1c"}],
                                },
                                {"name": "tickets", "label": "Chamados"},
                            ],
                            "box": box(15, 122, 180, 100),
                        },
                    ]
                }
            ],
        }
    )


def visual_input() -> RenderInput:
    frame = sites(24, seed=3)
    sub, tot = summaries(frame)
    kpi = pd.DataFrame({"cost": [48210.5], "sla": [0.912]})
    return RenderInput(
        data={
            "k1": ElementData(frame=kpi, previous=pd.DataFrame({"cost": [51000.0], "sla": [0.9]})),
            "k2": ElementData(frame=kpi, previous=pd.DataFrame({"cost": [51000.0], "sla": [0.93]})),
            "tab": ElementData(frame=frame, subtotals=sub, totals=tot),
        },
        assets={"logo.svg": Asset("logo.svg", "image/svg+xml", SVG_LOGO)},
        options=RenderOptions(creation_date=CREATED),
    )


def reference_page() -> Image.Image:
    result = render(visual_spec(), visual_input())
    assert result.errors == []
    return Image.open(io.BytesIO(rasterize(result.pdf, [0], width_px=800)[0])).convert("RGB")


def write_reference(path: Path = REFERENCE) -> Path:
    """Regenerate the stored reference (then look at it before committing it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    reference_page().save(path)
    return path


def test_page_one_matches_the_reference_image() -> None:
    if os.environ.get("PDF_REFERENCE_UPDATE") == "1":
        write_reference()
    page = reference_page()
    stored = Image.open(REFERENCE).convert("RGB")
    assert page.size == stored.size
    diff = ImageChops.difference(page, stored)
    assert max(ImageStat.Stat(diff).mean) < 1.0
    # Antialiasing may drift a little between pdfium builds; a missing or moved element (even
    # one line of small bold text: ~0.09 % of the page) changes many pixels a lot.
    changed = np.asarray(diff).max(axis=2) > 40
    assert changed.mean() < 0.0005, f"{changed.mean():.3%} of the pixels differ"


def test_images_png_jpeg_svg_and_fonts_inside_svg(tmp_path: Path) -> None:
    spec = PdfTemplateSpec.model_validate(
        {
            "name": "Imagens",
            "pdfa": True,
            "pages": [
                {
                    "elements": [
                        {"kind": "image", "id": "svg", "asset": "logo.svg", "box": box(15, 30, 80, 30)},
                        {"kind": "image", "id": "png", "asset": "logo.png", "box": box(100, 30, 80, 30)},
                        {
                            "kind": "image",
                            "id": "jpg",
                            "asset": "logo.jpg",
                            "fit": "stretch",
                            "box": box(15, 70, 80, 30),
                        },
                        {"kind": "image", "id": "bad", "asset": "bad.png", "box": box(100, 70, 80, 30)},
                        {
                            "kind": "text",
                            "id": "after",
                            "text": "Depois das imagens",
                            "box": box(15, 110, 80, 10),
                        },
                    ]
                }
            ],
        }
    )
    assets = {
        "logo.svg": Asset("logo.svg", "image/svg+xml", SVG_LOGO),
        "logo.png": Asset("logo.png", "image/png", png_bytes("#f59e0b")),
        "logo.jpg": Asset("logo.jpg", "image/jpeg", png_bytes("#10b981", fmt="JPEG")),
        "bad.png": Asset("bad.png", "image/png", b"not an image"),
    }
    result = render(spec, RenderInput(assets=assets, options=RenderOptions(creation_date=CREATED)))
    assert [e.element_id for e in result.errors] == ["bad"]
    assert "0x" not in result.errors[0].message  # no object addresses: output stays deterministic
    rows = pdffonts(result.pdf, tmp_path)
    assert rows and all(row[-5] == "yes" and "DejaVu" in row[0] for row in rows), rows
    text = squash(page_texts(result.pdf, tmp_path)[0])
    assert "Acme São" in text and "Depois das imagens" in text
    image = Image.open(io.BytesIO(rasterize(result.pdf, [0], width_px=210)[0])).convert("RGB")
    assert image.getpixel((140, 45)) == pytest.approx((245, 158, 11), abs=3)  # the PNG, contained in its box


def test_a_section_on_an_unknown_column_is_an_error_box(tmp_path: Path) -> None:
    spec = section_spec(True).model_copy(deep=True)
    data = spec.model_dump()
    data["pages"][0]["elements"][0]["group_by"] = "regiao"
    data["pages"][0]["elements"].append(
        {"kind": "text", "id": "after", "text": "Depois da seção", "box": box(15, 120, 100, 10)}
    )
    result = render(
        PdfTemplateSpec.model_validate(data), RenderInput(data={"sec": ElementData(frame=sites(6))})
    )
    assert [(e.element_id, e.page) for e in result.errors] == [("sec", 1)]
    assert "regiao" in result.errors[0].message and "region" in result.errors[0].message
    text = squash(page_texts(result.pdf, tmp_path)[0])
    assert "section 'sec' could not be drawn" in text and "Depois da seção" in text
