"""``GET /api/openapi.json`` (the OpenAPI 3.1 document) and ``GET /api/docs`` (it, as a page).

Both are public and built from the live route table (:func:`portal.web.api.routes`), once per
process and table. The page is plain HTML rendered here from the document, every value
escaped, with one inline style sheet allowed by its hash and no script at all: it works
offline and its Content-Security-Policy allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import lru_cache
from typing import Any

from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from portal.web import openapi
from portal.web.api.base import BaseHandler

Table = tuple[tuple[str, type[RequestHandler]], ...]

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#1d2330}
h1{margin-bottom:0}h2{border-bottom:2px solid #d8dde6;margin-top:2.5rem;text-transform:capitalize}
h3{font-size:1rem;margin:0;font-weight:600}
section{border:1px solid #d8dde6;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.2rem;font:700 .8rem monospace;padding:.1rem .4rem;border-radius:4px;
color:#fff;background:#5a6478;text-align:center;margin-right:.5rem}
.get{background:#2f6fb3}.post{background:#2e8b57}.put{background:#b8860b}.patch{background:#8a5cb8}
.delete{background:#b83a3a}
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}
pre{background:#f4f6f9;padding:.6rem;overflow:auto;max-height:28rem;white-space:pre-wrap}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #d8dde6;padding:.2rem .5rem;text-align:left;vertical-align:top}
.muted{color:#5a6478}details>summary{cursor:pointer}
"""
#: The page's policy: its own inline style (by hash), nothing else; never framed.
CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode() + "'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def _table(handler: BaseHandler) -> Table:
    from portal.web.api import routes  # the package imports this module: look the table up late

    return tuple((pattern, h) for pattern, h, _ in routes(handler.ctx))


@lru_cache(maxsize=4)
def document_json(table: Table) -> bytes:
    """The document of ``table`` as JSON bytes (built once per table in a process)."""
    return json.dumps(openapi.build_document(table), ensure_ascii=False).encode()


@lru_cache(maxsize=4)
def document_html(table: Table) -> bytes:
    """The page of ``table``'s document."""
    return render_html(json.loads(document_json(table))).encode()


class OpenApiHandler(BaseHandler):
    async def get(self) -> None:
        """This document: OpenAPI 3.1, JSON Schema 2020-12 schemas."""
        self.set_header("Cache-Control", "no-cache")
        # Built once per process (~0.1 s of pydantic schema generation): off the event loop.
        self.finish(await IOLoop.current().run_in_executor(None, document_json, _table(self)))


class ApiDocsHandler(BaseHandler):
    async def get(self) -> None:
        """The API reference as an HTML page (rendered from ``/api/openapi.json``)."""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Cache-Control", "no-cache")
        self.finish(await IOLoop.current().run_in_executor(None, document_html, _table(self)))


# --------------------------------------------------------------------------- the page
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json(value: Any) -> str:
    return f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def _operation_html(method: str, path: str, op: dict[str, Any]) -> str:
    out = [
        f'<section id="{_e(op["operationId"])}">',
        f'<h3><span class="m {_e(method)}">{_e(method.upper())}</span><code>{_e(path)}</code></h3>',
        f"<div>{_e(op.get('summary', ''))}</div>",
        "<details><summary class='muted'>details</summary>",
    ]
    if op.get("description"):
        out.append(f"<p>{_e(op['description'])}</p>".replace("\n", "<br>"))
    if op.get("security") == []:
        out.append("<p class='muted'>No API token needed.</p>")
    params = op.get("parameters") or []
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>")
        for p in params:
            out.append(
                f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
                f"<td>{'yes' if p.get('required') else 'no'}</td>"
                f"<td><code>{_e(json.dumps(p.get('schema', {}), ensure_ascii=False))}</code></td></tr>"
            )
        out.append("</table>")
    body = op.get("requestBody")
    if body:
        required = "required" if body.get("required") else "optional"
        for media, content in body.get("content", {}).items():
            out.append(f"<p>Request body ({_e(required)}, <code>{_e(media)}</code>):</p>")
            out.append(_json(content.get("schema", {})))
            if "example" in content:
                out.append("<p>Example:</p>" + _json(content["example"]))
    out.append("<table><tr><th>status</th><th>answer</th></tr>")
    errors: list[str] = []
    for status, answer in op.get("responses", {}).items():
        if "$ref" in answer:  # the shared error answers: one row for all of them
            errors.append(status)
            continue
        media = ", ".join(answer.get("content", {})) or "no content"
        text = f"{_e(answer.get('description', ''))} <span class='muted'>{_e(media)}</span>"
        for content in answer.get("content", {}).values():
            schema = content.get("schema")
            if (
                schema
                and schema.get("type") == "object"
                and (schema.get("properties") or schema.get("required"))
            ):
                text += f"<code> {_e(json.dumps(schema, ensure_ascii=False))}</code>"
        out.append(f"<tr><td>{_e(status)}</td><td>{text}</td></tr>")
    if errors:
        shown = ", ".join(_e(code) for code in errors)
        out.append(
            f"<tr><td>{shown}</td><td>an error: <code>{{error, message, field, request_id}}</code> "
            "<a href='#schema-Error'>(Error)</a></td></tr>"
        )
    out.append("</table></details></section>")
    return "\n".join(out)


def render_html(doc: dict[str, Any]) -> str:
    """A readable, self-contained reference page of an OpenAPI document (every value escaped)."""
    info = doc.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in openapi.METHODS:
            op = item.get(method)
            if op:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation_html(method, path, op))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(info.get('title', 'API'))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(info.get('title', 'API'))}</h1>",
        f"<p class='muted'>version {_e(info.get('version', ''))} · OpenAPI {_e(doc.get('openapi', ''))} · "
        "<a href='/api/openapi.json'>openapi.json</a></p>",
        f"<p>{_e(info.get('description', ''))}</p>",
        "<p>" + " · ".join(f"<a href='#tag-{_e(t)}'>{_e(t)}</a>" for t in sorted(by_tag)) + "</p>",
    ]
    for tag in sorted(by_tag):
        parts.append(f"<h2 id='tag-{_e(tag)}'>{_e(tag)}</h2>")
        parts.extend(by_tag[tag])
    parts.append("<h2 id='schemas'>Schemas</h2>")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        summary = f"<summary><code>{_e(name)}</code></summary>"
        parts.append(f"<details id='schema-{_e(name)}'>{summary}{_json(schema)}</details>")
    excluded = doc.get("x-excluded") or []
    if excluded:
        parts.append("<h2>Not described here</h2><ul>")
        parts.extend(f"<li><code>{_e(x['pattern'])}</code>: {_e(x['reason'])}</li>" for x in excluded)
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


#: ``(pattern, handler)`` pairs for the table in :func:`portal.web.api.routes` (before the catch-all).
ROUTES: list[tuple[str, type[RequestHandler]]] = [
    (r"/api/openapi\.json", OpenApiHandler),
    (r"/api/docs", ApiDocsHandler),
]
