"""Template text variables (reports_pdf.variables): pure expansion, filters, unknown names."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from portal.pdf.inputs import RenderInput
from portal.specs.pdf import PdfTemplateSpec
from portal.viz.formats import number_symbols
from reports_pdf.variables import document_variables, expand, format_variable, lookup

VARS = {
    "customer.name": "São Paulo Logística",
    "period.start": date(2024, 3, 1),
    "period.end": "2024-03-31",
    "now": datetime(2024, 4, 2, 14, 5, 9),
    "params.region": "Nordeste",
    "vars.note": "Confidencial",
    "amount": 1234567.891,
    "rate": 0.2034,
    "count": 1234.0,
    "empty": None,
    "user": {"name": "Ana Conceição"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cliente: {{customer.name}}", "Cliente: São Paulo Logística"),
        ("{{ customer.name | upper }}", "SÃO PAULO LOGÍSTICA"),
        ("{{customer.name|lower}}", "são paulo logística"),
        ("De {{period.start|date}} a {{period.end|date}}", "De 2024-03-01 a 2024-03-31"),
        ("Gerado em {{now|datetime}}", "Gerado em 2024-04-02 14:05"),
        ("{{now|date}}", "2024-04-02"),
        ("{{now}}", "2024-04-02 14:05"),
        ("{{amount|number}}", "1,234,568"),
        ("{{amount|currency}}", "R$ 1,234,568"),
        ("{{rate|percent}}", "20.3%"),
        ("{{count|integer}}", "1,234"),
        ("{{count}}", "1234"),
        ("{{params.region}} / {{vars.note}}", "Nordeste / Confidencial"),
        ("[{{empty}}]", "[]"),
        ("{{user.name}}", "Ana Conceição"),
    ],
)
def test_expand_values_and_filters(text: str, expected: str) -> None:
    assert expand(text, VARS) == expected


def test_unknown_names_stay_as_the_literal_placeholder() -> None:
    text = "Olá {{customer.nome}} e {{ missing | date }} de {{customer.name}}"
    assert expand(text, VARS) == "Olá {{customer.nome}} e {{ missing | date }} de São Paulo Logística"


def test_a_filter_that_cannot_read_the_value_shows_it_unchanged() -> None:
    assert expand("{{customer.name|date}} {{customer.name|number}}", VARS) == (
        "São Paulo Logística São Paulo Logística"
    )


def test_text_without_placeholders_is_returned_as_is() -> None:
    text = "Sem variáveis { nem chaves } aqui"
    assert expand(text, VARS) is text


def test_lookup_prefers_the_flat_key_then_walks_mappings() -> None:
    assert lookup({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert lookup({"a": {"b": {"c": 3}}}, "a.b.c") == 3
    assert expand("{{a.x}}", {"a": {"b": 1}}) == "{{a.x}}"


def test_format_variable_without_filter() -> None:
    assert format_variable(date(2024, 1, 5)) == "2024-01-05"
    assert format_variable(2.5) == "2.5"
    assert format_variable(True) == "True"


def test_document_variables_defaults_and_caller_values_win() -> None:
    spec = PdfTemplateSpec.model_validate(
        {
            "name": "Relatório",
            "theme": {"brand": {"company": "Acme"}},
            "variables": {"note": "Nota padrão"},
            "parameters": [{"name": "region", "default": "Sul"}],
        }
    )
    now = datetime(2024, 1, 1, 8, 0)
    out = document_variables(spec, RenderInput(variables={"vars.note": "Outra"}), now)
    assert out["template.name"] == "Relatório"
    assert out["brand.company"] == "Acme"
    assert out["params.region"] == "Sul"
    assert out["vars.note"] == "Outra"
    assert expand("{{now|datetime}}", out) == "2024-01-01 08:00"


def test_number_filters_write_the_document_languages_separators() -> None:
    pt = number_symbols("pt-BR")
    assert pt == (",", ".")
    assert format_variable(1234567.891, "currency", pt) == "R$ 1.234.568"
    assert format_variable(0.1234, "percent", pt) == "12,3%"
    assert expand("{{n|number}} e {{d|date}}", {"n": 1234.5, "d": "2024-03-01"}, pt) == "1.234 e 2024-03-01"
    # Text is never touched, only the numbers a filter wrote.
    assert expand("{{name}}: {{n|integer}}", {"name": "A.B, C", "n": 1234}, pt) == "A.B, C: 1.234"
    assert number_symbols("en-US") == (".", ",") and number_symbols("zz") == (".", ",")
