"""Exports open correctly in pandas and in LibreOffice (real soffice, headless)."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime

import pandas as pd
import pytest

from portal.data.exports import export_frame
from portal.errors import InvalidSpec

FRAME = pd.DataFrame(
    {
        "team": ["Manutenção São Paulo", "Atendimento Ceará"],
        "tickets": [120, 45],
        "breach_rate": [0.125, 0.5],
        "day": [datetime(2026, 11, 1, 0, 0), datetime(2026, 11, 2, 13, 30)],
        "ok": [True, False],
    }
)


def test_csv_roundtrip():
    e = export_frame(FRAME, "csv")
    assert e.data.startswith(b"\xef\xbb\xbf") and e.filename("Relatório SLA") == "Relatório_SLA.csv"
    back = pd.read_csv(io.BytesIO(e.data), parse_dates=["day"])
    assert list(back.columns) == list(FRAME.columns)
    assert back["team"].tolist() == FRAME["team"].tolist()
    assert back["day"].tolist() == FRAME["day"].tolist()


def test_xlsx_typed_cells():
    e = export_frame(FRAME, "xlsx")
    back = pd.read_excel(io.BytesIO(e.data))
    assert back["tickets"].dtype.kind == "i" and back["breach_rate"].dtype.kind == "f"
    assert back["day"].dtype.kind == "M" and back["ok"].dtype == bool
    assert back["team"].tolist() == FRAME["team"].tolist()


def test_parquet_roundtrip():
    back = pd.read_parquet(io.BytesIO(export_frame(FRAME, "parquet").data))
    pd.testing.assert_frame_equal(back, FRAME, check_dtype=False)


def test_unknown_format():
    with pytest.raises(InvalidSpec) as e:
        export_frame(FRAME, "docx")
    assert e.value.field == "format"


def test_libreoffice_opens_xlsx(tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice missing: run the README test command (it installs libreoffice-calc-nogui)"
    src = tmp_path / "r.xlsx"
    src.write_bytes(export_frame(FRAME, "xlsx").data)
    subprocess.run(
        [
            soffice,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",
            "--outdir",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    back = pd.read_csv(tmp_path / "r.csv")
    assert back["team"].tolist() == FRAME["team"].tolist()
    assert back["tickets"].tolist() == [120, 45]
    assert back["breach_rate"].round(3).tolist() == [0.125, 0.5]
    assert back["day"].iloc[1].startswith("2026-11-02 13:30")


HOSTILE = pd.DataFrame(
    {
        "customer": [
            '=HYPERLINK("http://evil.example","x")',
            "+1+cmd|' /C calc'!A0",
            "@SUM(1)",
            "-2+3",
            "ok",
        ],
        "n": [1, -2, 3, 4, 5],
    }
)


def test_csv_cells_cannot_run_as_formulas():
    back = pd.read_csv(io.BytesIO(export_frame(HOSTILE, "csv").data))
    assert [v[0] for v in back["customer"][:4]] == ["'"] * 4 and back["customer"][4] == "ok"
    assert back["n"].tolist() == [1, -2, 3, 4, 5]  # numbers untouched


def test_xlsx_text_stays_text():
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export_frame(HOSTILE, "xlsx").data))
    ws = wb.active
    cells = [ws.cell(row=r, column=1) for r in range(2, 7)]
    assert all(c.data_type == "s" for c in cells)  # "s" = string; a formula would be "f"
    assert cells[0].value == HOSTILE["customer"][0] and ws.cell(row=3, column=2).value == -2
