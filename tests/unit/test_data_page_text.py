"""What the data page writes while an import runs (pure helpers of components.data_import)."""

from __future__ import annotations

from components.data_import_text import percent, progress_line, suggested_name


def test_progress_line_reads_rows_megabytes_rate_and_time_left() -> None:
    info = {"status": "running", "rows_read": 1_234_567, "bytes_done": 12_500_000, "size_bytes": 40_000_000,
            "rate_rows_s": 80_123.4, "eta_s": 3.4}  # fmt: skip
    assert progress_line(info) == "1,234,567 rows read · 12.5 MB of 40.0 MB · 80,123 rows/s · about 3 s left"
    done = {**info, "status": "done", "eta_s": 0.0}
    assert progress_line(done).endswith("80,123 rows/s")  # no "time left" once finished
    assert progress_line({"status": "queued", "rows_read": 0}) == "0 rows read"


def test_percent_follows_the_bytes_and_is_full_once_finished() -> None:
    assert percent({"status": "running", "bytes_done": 25, "size_bytes": 100}) == 25
    assert (
        percent({"status": "running", "bytes_done": 100, "size_bytes": 100}) == 99
    )  # not done until it says so
    assert percent({"status": "queued", "bytes_done": 0, "size_bytes": 0}) == 0
    for end in ("done", "failed", "canceled"):
        assert percent({"status": end, "bytes_done": 1, "size_bytes": 100}) == 100


def test_a_table_name_is_suggested_from_the_file_name() -> None:
    assert suggested_name("Vendas Região 2026 (1).csv") == "vendas_regiao_2026_1"
    assert suggested_name("2026-custos.xlsx") == "c_2026_custos"
    assert suggested_name("noext") == "noext"


def test_sizes_read_in_the_unit_that_fits() -> None:
    from components.data_import_text import size_text

    assert [size_text(n) for n in (820, 12_500, 3_400_000)] == ["820 B", "12.5 KB", "3.4 MB"]
