"""Detection of what a CSV looks like: encodings, delimiters, headers, types, dates, decimal commas."""

from __future__ import annotations

import codecs

import pytest

from portal.errors import InvalidSpec
from portal.ingest.schema import ImportOptions
from portal.ingest.sniff import (
    column_names,
    detect_delimiter,
    detect_encoding,
    infer_type,
    sniff_bytes,
)


def test_encodings_by_bom_then_utf8_then_detection() -> None:
    assert detect_encoding(codecs.BOM_UTF8 + b"a,b\n") == ("utf-8", 3)
    assert detect_encoding(codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le")) == ("utf-16", 2)
    assert detect_encoding("nome,preço\nJoão,1\n".encode()) == ("utf-8", 0)
    text = "nome;cidade;observação\n" + "José;São Paulo;ação é única\n" * 40
    enc, bom = detect_encoding(text.encode("cp1252"))
    assert bom == 0 and "ação".encode("cp1252").decode(enc) == "ação"
    # The user's choice wins; a BOM is still never read as data.
    assert detect_encoding(b"a,b\n", "latin-1") == ("iso8859-1", 0)
    assert detect_encoding(codecs.BOM_UTF8 + b"a\n", "cp1252") == ("cp1252", 3)


def test_a_character_cut_by_the_head_boundary_is_still_utf8() -> None:
    data = ("é" * 10).encode()[:-1]  # the last character cut in half
    assert detect_encoding(data)[0] == "utf-8"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1,5;2;3\n4;5,5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('a,b\n"x;y;z",1\n"p;q",2\n', ","),
    ],
)
def test_delimiters(text: str, expected: str) -> None:
    assert detect_delimiter(text) == expected


def test_types() -> None:
    assert infer_type(["1", "-2", ""]).type == "int"
    assert infer_type(["007", "12"]).type == "string"  # a code with leading zeros stays text
    assert infer_type(["1.5", "2", "1e3"]).type == "float"
    comma = infer_type(["1.234,56", "12,5", "3"])
    assert comma.type == "float" and comma.decimal_comma
    assert infer_type(["true", "False", "t"]).type == "bool"
    assert infer_type(["2024-01-31", "2024-02-01"]).type == "date"
    assert infer_type(["2024-01-31 10:00:00", "2024-02-01T11:30"]).type == "datetime"
    assert infer_type(["hello", "1"]).type == "string"
    assert infer_type([]).type == "string"


def test_slash_dates_resolve_day_and_month_by_values_over_12() -> None:
    dmy = infer_type(["31/12/2024", "01/02/2024"])
    assert (dmy.type, dmy.date_format, dmy.ambiguous) == ("date", "%d/%m/%Y", False)
    mdy = infer_type(["12/31/2024", "02/01/2024"])
    assert (mdy.type, mdy.date_format, mdy.ambiguous) == ("date", "%m/%d/%Y", False)
    unsure = infer_type(["01/02/2024", "03/04/2024"])
    assert (unsure.date_format, unsure.ambiguous) == ("%d/%m/%Y", True)
    assert infer_type(["13/01/2024", "01/13/2024"]).type == "string"  # no single format fits
    dt = infer_type(["31/12/2024 10:11", "01/02/2024 00:00"])
    assert (dt.type, dt.date_format) == ("datetime", "%d/%m/%Y %H:%M")


def test_column_names_are_identifiers_and_unique() -> None:
    assert column_names(["Preço Médio", "preço médio", "", "1st", "a-b"]) == [
        "preco_medio",
        "preco_medio_2",
        "col_3",
        "c_1st",
        "a_b",
    ]


def test_sniff_a_whole_head() -> None:
    head = 'Código;Descrição;Valor;Data\n1;Café;1.234,56;31/12/2024\n2;"Chá\nverde";12,50;01/02/2024\n'
    s = sniff_bytes(head.encode("cp1252"))
    assert s.delimiter == ";" and s.header and s.decimal == ","
    assert [(c.name, c.type) for c in s.columns] == [
        ("codigo", "int"),
        ("descricao", "string"),
        ("valor", "float"),
        ("data", "date"),
    ]
    assert s.columns[1].label == "Descrição" and s.preview[1][1] == "Chá\nverde"
    assert s.to_dict()["columns"][2]["decimal_comma"] is True


def test_header_detection_and_override() -> None:
    assert not sniff_bytes(b"1,2\n3,4\n").header
    assert sniff_bytes(b"a,b\n3,4\n").header
    assert not sniff_bytes(b"a,b\n3,4\n", ImportOptions(table="x", header=False)).header


def test_user_overrides_win() -> None:
    opts = ImportOptions(
        table="x",
        delimiter=";",
        columns=[{"name": "a", "type": "string", "label": "The A"}, {"name": "b", "type": "float"}],
    )
    s = sniff_bytes(b"a;b\n1;2,5\n2;3,5\n", opts)
    assert [(c.name, c.type, c.label) for c in s.columns] == [("a", "string", "The A"), ("b", "float", "b")]
    assert s.columns[1].decimal_comma


def test_refusals_name_the_problem() -> None:
    with pytest.raises(InvalidSpec, match="empty"):
        sniff_bytes(b"")
    with pytest.raises(InvalidSpec, match="10000 columns"):
        sniff_bytes((",".join(f"c{i}" for i in range(10_000)) + "\n").encode())
    with pytest.raises(InvalidSpec, match="no rows"):
        sniff_bytes(b"\n\n")
    with pytest.raises(InvalidSpec, match="longer than 1 MB"):
        sniff_bytes(b"x" * 1000, truncated=True)


def test_options_refuse_bad_values_naming_the_field() -> None:
    from portal.specs import parse_spec

    for bad, field in (
        ({"table": "Bad Name"}, "table"),
        ({"table": "t", "delimiter": "x"}, "delimiter"),
        ({"table": "t", "encoding": "no-such"}, "encoding"),
        ({"table": "t", "mode": "upsert"}, "key_columns"),
        ({"table": "t", "colour": 1}, "colour"),
        ({"table": "tickets"}, "table"),  # a built-in source's name
    ):
        with pytest.raises(InvalidSpec) as exc:
            parse_spec(ImportOptions, bad)
        assert field in exc.value.message, (bad, exc.value.message)


def test_import_summary_rate_and_eta() -> None:
    from datetime import UTC, datetime, timedelta

    from portal.ingest.imports import import_to_dict, summary
    from portal.models.ingest import ImportRun

    start = datetime(2026, 1, 1, tzinfo=UTC)
    run = ImportRun(
        id=7,
        job_id=9,
        status="running",
        source_name="s",
        filename="f.csv",
        size_bytes=1000,
        bytes_done=250,
        rows_read=5000,
        rows_loaded=0,
        rows_rejected=0,
        started_at=start,
        options_json={},
        report_path="",
    )
    got = summary(run, now=start + timedelta(seconds=10))
    assert (got["rate_rows_s"], got["eta_s"], got["seconds"]) == (500.0, 30.0, 10.0)
    run.status, run.finished_at, run.bytes_done = "done", start + timedelta(seconds=20), 1000
    body = import_to_dict(run)
    assert body["eta_s"] == 0 and body["rate_rows_s"] == 250.0 and body["report_url"] is None
    assert {"id", "job_id", "status", "source_name", "rows_read", "rows_loaded", "rows_rejected"} <= set(body)


def test_a_few_odd_values_keep_a_column_typed_and_become_bad_rows() -> None:
    from portal.ingest.sniff import infer_type

    prices = [f"{i}.{i:03d},50" for i in range(1, 20)] + ["não sei"]
    guess = infer_type(prices)
    assert guess.type == "float" and guess.decimal_comma
    dates = [f"{d:02d}/11/2026" for d in range(1, 25)] + ["ontem"]
    assert infer_type(dates).date_format == "%d/%m/%Y"
    # Too many odd values, or too few values to tell: text.
    assert infer_type(["1", "2", "x", "y"] * 5).type == "string"
    assert infer_type(["1", "2", "x"]).type == "string"
