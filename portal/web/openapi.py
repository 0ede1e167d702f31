"""The OpenAPI 3.1 document of the REST API, built from the route table at request time.

:func:`build_document` walks ``(pattern, handler)`` pairs (:func:`portal.web.api.routes`): each
regex group of a pattern becomes a path parameter (``(\\d{1,18})`` after ``/reports`` is
``{report_id}``), a group of literal alternatives (``(ack|close|reopen)``) becomes one path per
alternative, and each HTTP method the handler class defines becomes an operation, tagged with
the handler's module and summarised from the method's (or the class's) docstring. A route added
later is documented at once; :mod:`portal.web.openapi_operations` adds what the code alone does
not say (request bodies from the handlers' pydantic models or ``self.body(allowed)`` fields,
query parameters, success statuses and content types, which operations need no token).

Routes that are not REST operations are listed under ``x-excluded`` with the reason (the
``/api/.*`` catch-all, the ``/realtime`` WebSocket). This module imports nothing of
:mod:`portal.web.api`: the handlers of ``/api/openapi.json`` and ``/api/docs``
(:mod:`portal.web.api.docs`) pass the table in.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from portal.web import openapi_ingest, openapi_operations
from portal.web.openapi_operations import JSON, OBJECT, Model, Op, Schema

__all__ = ["METHODS", "OPERATIONS", "SUMMARIES", "Route", "build_document", "defines", "expand_pattern"]

#: Declarations by ``"Handler.method"`` or ``"method /path"``, from every declaring module.
OPERATIONS: dict[str, Op] = {**openapi_operations.OPERATIONS, **openapi_ingest.OPERATIONS}
SUMMARIES: dict[str, str] = {**openapi_operations.SUMMARIES, **openapi_ingest.SUMMARIES}

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/{model}"
#: The error answers every operation may give (the JSON of ``BaseHandler.write_error``).
ERROR_STATUSES = {
    400: "Malformed request: not JSON, an unknown or missing field, a bad query argument.",
    401: "No valid API token (send `Authorization: Bearer <token>`, from `POST /api/tokens`).",
    403: "Authenticated, but not allowed to do this.",
    404: "No such object, or not one the caller may know about; also any path not listed here.",
    409: "Conflicts with the current state (stale version, duplicate name, illegal state change).",
    413: "The body (or a value in it) is larger than the endpoint accepts.",
    422: "A spec is invalid (the message names the field and, where it can, the closest valid value).",
    429: "A rate limit or quota refused the request: try again later.",
}


#: Path parameter names by the path segment before them (default: singular + ``_id``).
PARAM_NAMES = {
    "versions": "version",
    "members": "user_id",
    "share": "token_id",
    "events": "channel",
    "executions": "execution_id",
    "alert-tickets": "ticket_id",
}


# --------------------------------------------------------------------------- patterns
_GROUP = re.compile(r"\(([^()]*)\)")
_LITERALS = re.compile(r"^[\w\-/]+(?:\|[\w\-/]+)*$")
_DIGITS = re.compile(r"^(?:\\d|\[0-9\])\{1,(\d+)\}$")
_REGEX_META = re.compile(r"(?<!\\)[.*+?\[\]{}^$|]")


@dataclass(frozen=True)
class Route:
    """One concrete OpenAPI path of a Tornado pattern (one per combination of alternatives)."""

    path: str
    params: tuple[tuple[str, Schema], ...]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _param_name(before: str, taken: set[str]) -> str:
    segment = before.rstrip("/").rsplit("/", 1)[-1] or "id"
    name = PARAM_NAMES.get(segment)
    if name is None:
        stem = segment[:-1] if segment.endswith("s") and not segment.endswith("ss") else segment
        name = f"{stem}_id"
    name = name.replace("-", "_")
    base, n = name, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def expand_pattern(pattern: str) -> list[Route] | None:
    """The OpenAPI paths of a Tornado URL pattern; None when it is no single path (a catch-all)."""
    parts: list[list[tuple[str, tuple[str, Schema] | None]]] = []
    pos = 0
    for match in _GROUP.finditer(pattern):
        literal = pattern[pos : match.start()]
        if _REGEX_META.search(literal):
            return None
        parts.append([(_unescape(literal), None)])
        group = match.group(1)
        if _LITERALS.match(group):
            parts.append([(alt, None) for alt in group.split("|")])
        else:
            parts.append([("", ("?", _group_schema(group)))])
        pos = match.end()
    tail = pattern[pos:]
    if _REGEX_META.search(tail):
        return None
    parts.append([(_unescape(tail), None)])
    out: list[Route] = []
    for combo in itertools.product(*parts):
        path, params, taken = "", [], set[str]()
        for text, param in combo:
            if param is None:
                path += text
                continue
            name = _param_name(path, taken)
            path += "{" + name + "}"
            params.append((name, param[1]))
        out.append(Route(path, tuple(params)))
    return out


def _group_schema(group: str) -> Schema:
    digits = _DIGITS.match(group)
    if digits:
        return {"type": "integer", "minimum": 0, "maximum": 10 ** int(digits.group(1)) - 1}
    return {"type": "string", "pattern": f"^(?:{group})$"}


# --------------------------------------------------------------------------- the document
def defines(handler: type[RequestHandler], method: str) -> bool:
    return getattr(handler, method) is not getattr(RequestHandler, method)


def _doc(obj: Any) -> str:
    raw = getattr(obj, "__doc__", None)
    return inspect.cleandoc(raw) if raw else ""


def _exclusion(pattern: str, handler: type[RequestHandler]) -> str | None:
    if issubclass(handler, WebSocketHandler):
        return "a WebSocket (GET upgrade); its message format is documented in portal.web.realtime"
    if expand_pattern(pattern) is None:
        return "a catch-all: every path not listed here answers a JSON 404"
    return None


def _error_responses() -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in sorted(ERROR_STATUSES)}


class _Models:
    """Collects the models named in declarations; resolves them into ``components/schemas``."""

    def __init__(self) -> None:
        self.wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}

    def walk(self, value: Any) -> Any:
        """``value`` with every :class:`Model` placeholder as a ``$ref`` (remembered for later)."""
        if isinstance(value, Model):
            self.wanted[(value.model, value.mode)] = None
            return {"$ref": f"#/components/schemas/{_key(value.model, value.mode)}"}
        if isinstance(value, Mapping):
            return {k: self.walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.walk(v) for v in value]
        return value

    def components(self) -> dict[str, Schema]:
        """Each wanted model's JSON schema (2020-12) and the models they use, by name."""
        if not self.wanted:
            return {}
        pairs = list(self.wanted)
        by_model, top = models_json_schema(pairs, ref_template=REF)
        schemas: dict[str, Schema] = dict(top.get("$defs", {}))
        for model, mode in pairs:
            target = by_model[(model, mode)]["$ref"].rsplit("/", 1)[-1]
            name = _key(model, mode)
            if target != name:
                # pydantic named it otherwise (``-Input``/``-Output``, or a name two models share)
                if name in schemas:
                    raise ValueError(f"two schemas are called {name}")
                schemas[name] = {"$ref": REF.format(model=target)}
        return schemas


def _key(model: type[BaseModel], mode: JsonSchemaMode) -> str:
    return model.__name__ if mode == "validation" else f"{model.__name__}-Output"


def _operation_id(method: str, path: str) -> str:
    return method + "_" + re.sub(r"[^0-9A-Za-z]+", "_", path.replace("{", "").replace("}", "")).strip("_")


def _operation(
    method: str,
    route: Route,
    handler: type[RequestHandler],
    models: _Models,
) -> dict[str, Any]:
    fn = getattr(handler, method)
    own = _doc(fn)
    doc = own or _doc(handler)
    decl = (
        OPERATIONS.get(f"{method} {route.path}")
        or OPERATIONS.get(f"{handler.__name__}.{method}")
        or _default_op(method)
    )
    first = (own or SUMMARIES.get(f"{handler.__name__}.{method}") or doc).split("\n\n", 1)[0]
    summary = first.replace("\n", " ") or f"{method.upper()} {route.path}"
    op: dict[str, Any] = {
        "operationId": _operation_id(method, route.path),
        "summary": summary[:200],
        "tags": [handler.__module__.rsplit(".", 1)[-1]],
        "x-handler": f"{handler.__module__}.{handler.__qualname__}",
    }
    description = "\n\n".join(p for p in (doc, decl.security_note) if p)
    if description:
        op["description"] = description
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in route.params
    ]
    for name, schema in decl.query.items():
        params.append(
            {
                "name": name,
                "in": "query",
                "required": name in decl.required_query,
                "schema": models.walk(schema),
            }
        )
    if params:
        op["parameters"] = params
    if decl.body is not None:
        media: dict[str, Any] = {"schema": models.walk(decl.body)}
        if decl.example is not None:
            media["example"] = decl.example
        op["requestBody"] = {"required": decl.body_required, "content": {JSON: media}}
    responses: dict[str, Any] = {}
    for status, content in decl.ok.items():
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Success")}
        if content:
            answer["content"] = {media: {"schema": models.walk(s)} for media, s in content.items()}
        responses[str(status)] = answer
    responses.update(_error_responses())
    op["responses"] = responses
    if decl.public:
        op["security"] = []
    return op


_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted: still running", 204: "Done (no content)"}


def _default_op(method: str) -> Op:
    """A handler nobody declared: whatever JSON object it may take, whatever it may answer."""
    body: Schema | None = OBJECT if method in ("post", "put", "patch") else None
    return Op(body=body, ok={200: {JSON: {}}, 201: {JSON: {}}, 202: {JSON: {}}, 204: {}})


def build_document(
    table: Sequence[tuple[str, type[RequestHandler]]], *, version: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes in ``table`` (patterns in order, first match wins)."""
    models = _Models()
    paths: dict[str, dict[str, Any]] = {}
    excluded: list[dict[str, str]] = []
    tags: dict[str, None] = {}
    for pattern, handler in table:
        reason = _exclusion(pattern, handler)
        if reason is not None:
            excluded.append({"pattern": pattern, "handler": handler.__name__, "reason": reason})
            continue
        for route in expand_pattern(pattern) or ():
            if route.path in paths:  # an earlier pattern already matches this path
                continue
            item: dict[str, Any] = {"x-route": pattern}
            for method in METHODS:
                if defines(handler, method):
                    item[method] = _operation(method, route, handler, models)
                    tags[item[method]["tags"][0]] = None
            paths[route.path] = item
    error: Schema = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "the kind of error, e.g. InvalidSpec"},
            "message": {"type": "string", "description": "`<field>: <what is wrong>`"},
            "field": {"type": "string", "description": "the request field at fault"},
            "request_id": {"type": "string", "description": "quote it to the operators"},
        },
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Conductor BI REST API",
            "version": version or _package_version(),
            "description": (
                "Every request and answer is JSON unless an operation says otherwise. Authenticate "
                "with an API token: `POST /api/tokens` with e-mail and password, then send "
                "`Authorization: Bearer <token>`. Errors are `{error, message, field, request_id}` "
                "with a 4xx status naming the field at fault."
            ),
        },
        "tags": [{"name": t} for t in sorted(tags)],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `POST /api/tokens`.",
                }
            },
            "schemas": {"Error": error, **models.components()},
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in sorted(ERROR_STATUSES.items())
            },
        },
        "security": [{"bearerAuth": []}],
        "x-excluded": excluded,
    }


def _package_version() -> str:
    try:
        return metadata.version("conductor-bi")
    except metadata.PackageNotFoundError:
        return "0"
