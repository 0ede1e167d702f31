"""Table elements of the PDF renderer: formats, colour rules, warehouse totals, flow, big tables."""

from __future__ import annotations

import re
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from portal.errors import InvalidSpec
from portal.pdf.inputs import ElementData, RenderInput, RenderOptions
from portal.specs.pdf import PdfTemplateSpec, TableElement
from portal.viz.formats import Display
from reports_pdf import RenderResult, render
from reports_pdf.tables import format_cells, plan_columns, rule_colors
from tests.unit.test_pdf_render import box, page_texts, sites, squash, summaries

CREATED = datetime(2024, 4, 1, 12, 0)


def table_spec(**table: object) -> PdfTemplateSpec:
    element = {"kind": "table", "id": "t", "binding": {"report_id": 1}, "box": box(15, 30, 180, 40), **table}
    return PdfTemplateSpec.model_validate({"name": "Tabela", "pages": [{"elements": [element]}]})


def element(**table: object) -> TableElement:
    spec = table_spec(**table)
    el = spec.pages[0].elements[0]
    assert isinstance(el, TableElement)
    return el


# --------------------------------------------------------------------------- columns and cells
def test_columns_resolve_formats_alignment_labels_and_widths() -> None:
    frame = pd.DataFrame(
        {
            "region": ["Sul"],
            "when": [pd.Timestamp("2024-03-01")],
            "at": [pd.Timestamp("2024-03-01 10:30")],
            "n": [3],
            "rate": [0.5],
            "cost": [10.0],
        }
    )
    display = Display(labels={"cost": "Custo total"}, formats={"cost": "currency", "rate": "percent"})
    el = element(
        columns=[
            {"name": "region", "width": 2},
            {"name": "when"},
            {"name": "at"},
            {"name": "n"},
            {"name": "rate", "align": "center"},
            {"name": "cost", "label": None},
        ]
    )
    cols = plan_columns(el, frame, display, 140.0)
    assert [c.format for c in cols] == ["text", "date", "datetime", "integer", "percent", "currency"]
    assert [c.align for c in cols] == ["L", "L", "L", "R", "C", "R"]
    assert cols[-1].label == "Custo total"
    assert cols[0].width == pytest.approx(40.0) and cols[1].width == pytest.approx(20.0)
    assert cols[-1].x + cols[-1].width == pytest.approx(140.0)


def test_every_column_when_none_are_listed_and_errors_name_the_column() -> None:
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    assert [c.name for c in plan_columns(element(), frame, None, 100)] == ["a", "b"]
    with pytest.raises(InvalidSpec, match=r"custo.*cost"):
        plan_columns(element(columns=[{"name": "custo"}]), pd.DataFrame({"cost": [1.0]}), None, 100)
    with pytest.raises(InvalidSpec, match="subtotals_by"):
        plan_columns(element(subtotals_by="regiao"), frame, None, 100)


def test_cell_texts_follow_the_web_table_unless_decimals_are_fixed() -> None:
    values = pd.Series([1234.5, None, 0.25, float("nan")])
    assert format_cells(values, "currency", None) == ["R$ 1,234", "", "R$ 0", ""]
    assert format_cells(values, "number", 3) == ["1,234.500", "", "0.250", ""]
    assert format_cells(pd.Series([0.2034]), "percent", None) == ["20.3%"]
    assert format_cells(pd.Series([pd.Timestamp("2024-03-01 10:30")]), "date", None) == ["2024-03-01"]
    assert format_cells(pd.Series([pd.Timestamp("2024-03-01 10:30")]), "datetime", None) == [
        "2024-03-01 10:30"
    ]
    assert format_cells(pd.Series(["Subtotal Sul", 3.0], dtype=object), "integer", None) == [
        "Subtotal Sul",
        "3",
    ]


def test_colour_rules_first_match_wins_on_body_rows_only() -> None:
    el = element(
        columns=[
            {
                "name": "cost",
                "rules": [
                    {"op": ">", "than": 100, "color": "#b91c1c", "fill": "#fee2e2"},
                    {"op": ">", "than": 10, "color": "#b45309"},
                ],
            },
            {"name": "status", "rules": [{"op": "=", "than": "late", "color": "#dc2626"}]},
        ]
    )
    frame = pd.DataFrame({"cost": [500.0, 50.0, 5.0, np.nan], "status": ["late", "ok", "late", None]})
    cols = plan_columns(el, frame, None, 100)
    body = np.array([True, True, False, True])
    cost = rule_colors(cols[0], frame["cost"], format_cells(frame["cost"], "number", None), body)
    status = rule_colors(cols[1], frame["status"], format_cells(frame["status"], "text", None), body)
    assert cost == (["#b91c1c", "#b45309", None, None], ["#fee2e2", None, None, None])
    assert status is not None and status[0] == ["#dc2626", None, None, None]


# --------------------------------------------------------------------------- summaries and flow
def test_totals_and_subtotals_come_from_the_warehouse_never_summed(tmp_path: Path) -> None:
    frame = sites(30)
    sub, _ = summaries(frame)
    sub["cost"] = [111.0, 222.0, 333.0]  # deliberately not the sums of the rows
    tot = pd.DataFrame({"cost": [999.0], "tickets": [7]})
    spec = table_spec(
        subtotals_by="region", columns=[{"name": "region"}, {"name": "cost"}, {"name": "tickets"}]
    )
    data = ElementData(frame=frame, subtotals=sub, totals=tot)
    result = render(spec, RenderInput(data={"t": data}, options=RenderOptions(creation_date=CREATED)))
    text = squash(" ".join(page_texts(result.pdf, tmp_path)))
    # The template's language (pt-BR by default) writes decimal commas.
    assert "Subtotal Ceará 111,00" in text and "Subtotal Paraná 222,00" in text
    assert "Subtotal São Paulo 333,00" in text
    assert "Total 999,00 7" in text
    # Without summary frames there are no summary rows: nothing is made up.
    bare = render(spec, RenderInput(data={"t": ElementData(frame=frame)}))
    bare_text = " ".join(page_texts(bare.pdf, tmp_path))
    assert "Subtotal" not in bare_text and "Total" not in bare_text


def test_rows_flow_over_pages_with_the_header_repeated(tmp_path: Path) -> None:
    frame = sites(150)
    result = render(
        table_spec(columns=[{"name": "site", "label": "Unidade"}, {"name": "tickets", "label": "Chamados"}]),
        RenderInput(data={"t": ElementData(frame=frame)}),
    )
    texts = page_texts(result.pdf, tmp_path)
    assert result.pages == len(texts) >= 3
    seen: list[int] = []
    for text in texts:
        assert re.search(r"Unidade\s+Chamados", text)
        seen += [int(n) for n in re.findall(r"Unidade (\d{3})", text)]
    assert sorted(seen) == list(range(150))  # every row once, none lost at a page break


def test_max_rows_says_what_was_left_out(tmp_path: Path) -> None:
    result = render(table_spec(max_rows=20), RenderInput(data={"t": ElementData(frame=sites(50))}))
    assert "First 20 of 50 rows" in squash(page_texts(result.pdf, tmp_path)[-1])


def test_an_empty_result_says_so(tmp_path: Path) -> None:
    result = render(table_spec(), RenderInput(data={"t": ElementData(frame=sites(5).iloc[0:0])}))
    assert result.errors == []
    assert "No rows" in page_texts(result.pdf, tmp_path)[0]


# --------------------------------------------------------------------------- big tables
@pytest.fixture(scope="module")
def big() -> tuple[RenderResult, int, int]:
    frame = sites(10_000, seed=11)
    sub, tot = summaries(frame)
    spec = table_spec(subtotals_by="region", font_size=7)
    inputs = RenderInput(data={"t": ElementData(frame=frame, subtotals=sub, totals=tot)})
    rss_before = psutil.Process().memory_info().rss
    tracemalloc.start()
    try:
        result = render(spec, inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, psutil.Process().memory_info().rss - rss_before


def test_a_10000_row_table_renders_every_row(big: tuple[RenderResult, int, int], tmp_path: Path) -> None:
    result, _, _ = big
    assert result.errors == []
    texts = page_texts(result.pdf, tmp_path)
    assert len(texts) == result.pages > 150
    assert "Unidade 9999 — São José" in " ".join(texts)
    assert "Total" in texts[-1]


def test_a_10000_row_table_stays_in_modest_memory(big: tuple[RenderResult, int, int]) -> None:
    _, peak, rss_growth = big
    # Rows are formatted a chunk at a time: the peak is the PDF being built plus one chunk
    # (measured ~25 MB), not 10,000 rows of Python strings and cell objects.
    assert peak < 80e6, f"tracemalloc peak {peak / 1e6:.1f} MB"
    assert rss_growth < 200e6, f"RSS grew {rss_growth / 1e6:.1f} MB"
