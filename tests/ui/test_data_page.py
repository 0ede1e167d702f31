"""The data page in a real browser, as a new user would use it: upload a messy CSV (Latin-1,
semicolons, decimal commas, day-first dates, one bad row), watch the progress bar, download the
bad-row report, put the new table on a dashboard and see its rows there; an XLSX file too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect

ANALYST = "analyst@acme.example.com"

CITIES = ["São Paulo", "Curitiba", "Belém", "Porto Alegre", "Goiânia"]
GOOD = [f"{CITIES[i % 5]};{1 + i}.{i:03d},{i % 100:02d};{1 + i % 28:02d}/11/2026;ok" for i in range(30)]
MESSY = (
    "Região;Valor (R$);Data;Observação\n"
    + "\n".join(GOOD[:10])
    + '\nCuritiba;99,90;25/11/2026;"com ; ponto e\nvírgula"\n'
    + "Belém;não sei;26/11/2026;linha ruim\n"
    + 'Porto Alegre;10,00;30/11/2026;=HYPERLINK("x")\n'
    + "\n".join(GOOD[10:])
    + "\n"
).encode("latin-1")
LOADED = 32  # 30 good rows, the quoted multi-line one and the formula-looking one (kept as text)


def upload(page: Page, path: Path) -> None:
    page.locator("input[type=file]").set_input_files(str(path))
    status = page.locator(".upload-text")
    expect(status).to_contain_text("Upload", timeout=60_000)
    expect(status).not_to_contain_text("Uploading", timeout=60_000)
    assert "failed" not in status.inner_text(), status.inner_text()
    expect(page.locator(".detected")).to_contain_text("Detected:", timeout=60_000)


def import_and_wait(page: Page, table: str) -> None:
    name = page.get_by_label("Table name")
    name.fill(table)
    name.press("Enter")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".import-outcome")).to_contain_text("loaded into", timeout=120_000)


def test_a_messy_csv_is_imported_with_a_bad_row_report_and_charted(
    page: Page, portal_url: str, signed_in: Any, shot: Any, tmp_path: Path
) -> None:
    signed_in(page, ANALYST)
    page.goto(f"{portal_url}/data")
    expect(page.get_by_text("Import a file")).to_be_visible(timeout=30_000)
    csv_path = tmp_path / "vendas região.csv"
    csv_path.write_bytes(MESSY)
    upload(page, csv_path)
    shot(page, "preview")
    # The delimiter and the decimal comma were detected.
    expect(page.locator(".detected")).to_contain_text("delimiter ';'")
    expect(page.locator(".detected")).to_contain_text("decimal separator ','")
    import_and_wait(page, "vendas_ui")
    outcome = page.locator(".import-outcome")
    expect(outcome).to_contain_text(f"{LOADED} loaded")
    expect(outcome).to_contain_text("1 rejected")
    assert "100" in (page.locator(".bk-Progress, progress").first.get_attribute("value") or "100")
    shot(page, "done")

    with page.expect_download() as dl:
        page.locator("a.bad-rows").click()
    report = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "valor" in report.lower() and "não sei" in report, report

    page.get_by_role("button", name="Put it on a new dashboard").click()
    link = page.locator("a.new-dashboard")
    expect(link).to_be_visible(timeout=30_000)
    link.click()
    cells = page.locator(".tabulator-cell")
    expect(cells.filter(has_text="São Paulo").first).to_be_visible(timeout=60_000)
    expect(cells.filter(has_text="Porto Alegre").first).to_be_visible()
    expect(page.get_by_text(str(LOADED), exact=True).first).to_be_visible()  # the KPI: rows loaded
    shot(page, "dashboard")


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Custos"
    ws.append(["Centro", "Custo", "Quando"])
    for i in range(1, 51):
        ws.append([f"Centro {i % 5}", i * 10.5, f"2026-11-{1 + i % 28:02d}"])
    buf = io.BytesIO()
    wb.save(buf)
    path = tmp_path / "custos.xlsx"
    path.write_bytes(buf.getvalue())
    return path


def test_an_xlsx_sheet_is_imported(
    page: Page, portal_url: str, signed_in: Any, workbook: Path, shot: Any
) -> None:
    signed_in(page, ANALYST)
    page.set_viewport_size({"width": 1024, "height": 900})  # a small laptop
    page.goto(f"{portal_url}/data")
    upload(page, workbook)
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_visible()
    shot(page, "xlsx-preview-1024")
    import_and_wait(page, "custos_ui")
    expect(page.locator(".import-outcome")).to_contain_text("50 loaded")
    expect(page.locator(".import-outcome")).to_contain_text("0 rejected")
