"""The OpenAPI document built from the route table (no server): valid OpenAPI 3.1, every route
in it (or excluded with a reason), path parameters declared and named, bodies from the
handlers' own models, no stale declarations; and the docs page escapes what it shows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from portal.web import openapi
from portal.web.api import routes
from portal.web.api.docs import render_html


def _table() -> list[tuple[str, Any]]:
    return [(pattern, handler) for pattern, handler, _ in routes(None)]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document(_table())


def test_the_document_is_valid_openapi_3_1_and_covers_every_route(document: dict[str, Any]) -> None:
    validate(document)  # OpenAPI 3.1 (and its JSON Schema 2020-12 dialect)
    assert document["openapi"].startswith("3.1")
    table = _table()
    excluded = {x["pattern"]: x["reason"] for x in document["x-excluded"]}
    assert {r"/api/.*", "/realtime"} <= set(excluded) and all(excluded.values())
    documented = {item["x-route"] for item in document["paths"].values()}
    missing = [p for p, _ in table if p not in documented and p not in excluded]
    assert not missing, f"routes missing from the document: {missing}"
    for pattern, handler in table:
        if pattern in excluded:
            continue
        items = [i for i in document["paths"].values() if i["x-route"] == pattern]
        defined = {m for m in openapi.METHODS if openapi.defines(handler, m)}
        for item in items:
            ops = {m for m in openapi.METHODS if m in item}
            assert ops, pattern
            assert ops <= defined
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for m, op in item.items()
        if m in openapi.METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_path_parameter_is_declared_and_names_are_readable(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        in_path = re.findall(r"{([^}]+)}", path)
        for method in openapi.METHODS:
            if method not in item:
                continue
            declared = [p["name"] for p in item[method].get("parameters", []) if p["in"] == "path"]
            assert declared == in_path, (method, path)
    paths = set(document["paths"])
    assert {
        "/api/reports/{report_id}/execute",
        "/api/pdf/templates/{template_id}/versions/{version}",
        "/api/groups/{group_id}/members/{user_id}",
        "/api/alerts/{alert_id}/ack",
        "/api/trash/dashboard/{dashboard_id}/restore",
        "/api/share/{token_id}/audit",
        "/api/openapi.json",
    } <= paths


def test_bodies_come_from_the_handlers_models(document: dict[str, Any]) -> None:
    def body(path: str, method: str) -> dict[str, Any]:
        schema: dict[str, Any] = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        return schema["schema"]

    schemas = document["components"]["schemas"]
    assert body("/api/reports", "post") == {"$ref": "#/components/schemas/ReportIn"}
    assert body("/api/share", "post") == {"$ref": "#/components/schemas/ShareRequest"}
    assert schemas["QuerySpec"]["additionalProperties"] is False
    tokens = body("/api/tokens", "post")
    assert tokens["additionalProperties"] is False and tokens["required"] == ["email", "password"]
    assert document["paths"]["/api/tokens"]["post"]["security"] == []
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    export = document["paths"]["/api/executions/{execution_id}/export"]["get"]["responses"]["200"]
    assert "text/csv" in export["content"] and "application/vnd.apache.parquet" in export["content"]
    error = schemas["Error"]
    assert set(error["properties"]) == {"error", "message", "field", "request_id"}


def test_no_stale_declarations(document: dict[str, Any]) -> None:
    """Every declaration names an operation of the table (a renamed handler is noticed)."""
    doc = document
    names = {
        op["x-handler"].rsplit(".", 1)[-1] + "." + m
        for item in doc["paths"].values()
        for m, op in item.items()
        if m in openapi.METHODS
    }
    keys = {f"{m} {p}" for p, item in doc["paths"].items() for m in item if m in openapi.METHODS}
    stale = [k for k in [*openapi.OPERATIONS, *openapi.SUMMARIES] if k not in names and k not in keys]
    assert not stale, f"declarations of no operation: {stale}"


def test_pattern_expansion() -> None:
    routes_ = openapi.expand_pattern(r"/api/(dashboards|reports)/(\d{1,18})/grants")
    assert routes_ is not None
    assert [r.path for r in routes_] == [
        "/api/dashboards/{dashboard_id}/grants",
        "/api/reports/{report_id}/grants",
    ]
    assert routes_[0].params == (("dashboard_id", {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}),)
    (channel,) = openapi.expand_pattern(r"/api/events/([^/]{1,200})") or []
    assert channel.params == (("channel", {"type": "string", "pattern": "^(?:[^/]{1,200})$"}),)
    assert openapi.expand_pattern(r"/api/.*") is None


def test_the_page_escapes_everything() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "<script>alert(1)</script>", "version": "1", "description": "a & b"},
        "paths": {
            "/x/{id}": {
                "get": {
                    "operationId": 'x"><img src=x>',
                    "summary": "<b>bold</b>",
                    "tags": ["<t>"],
                    "responses": {"200": {"description": "<ok>"}},
                }
            }
        },
        "components": {"schemas": {"<S>": {"description": "</pre><script>"}}},
    }
    page = render_html(doc)
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; b" in page
