"""REST/JSON sources: the configuration an admin gives, the page plan, record extraction and
typing, and the fetch itself through the SSRF guard.

The auth header's VALUE is a credential (``credentials["auth_value"]``, encrypted at rest,
never returned); the configuration only names the header. Every request goes to an address
:func:`portal.notify.netguard.check_url` accepted (pinned: DNS rebinding cannot move it), with
timeouts, no redirects and a maximum response size.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import requests
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as jsonpath_parse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portal.errors import BadRequest, InvalidSpec
from portal.notify.netguard import check_url, pinned_session

ColumnTypeName = Literal["int", "float", "string", "bool", "datetime", "date"]
_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_PARAM_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,64}$")
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "cookie"})
MAX_REJECT_EXAMPLES = 10


def compile_path(path: str, *, field: str) -> JSONPath:
    """A parsed JSONPath; :class:`InvalidSpec` naming ``field`` when it does not parse."""
    try:
        return jsonpath_parse(path)
    except (JsonPathParserError, Exception) as exc:  # jsonpath-ng raises bare Exceptions too
        raise InvalidSpec(f"{field}: {path!r} is not a JSONPath ({exc})", field=field) from None


class Pagination(BaseModel):
    """How the API pages: ``none``, ``page`` (page number + size), ``offset`` (offset + limit) or
    ``cursor`` (the next cursor read from each answer by a JSONPath)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["none", "page", "offset", "cursor"] = "none"
    page_param: str = "page"
    size_param: str = "per_page"
    first_page: int = Field(default=1, ge=0, le=1)
    offset_param: str = "offset"
    limit_param: str = "limit"
    size: int = Field(default=100, ge=1, le=10_000)
    cursor_path: str = "$.next_cursor"
    cursor_param: str = "cursor"

    @field_validator("page_param", "size_param", "offset_param", "limit_param", "cursor_param")
    @classmethod
    def _param(cls, v: str) -> str:
        if not _PARAM_RE.match(v):
            raise ValueError("a query parameter name: letters, digits, _ . - [ ]")
        return v


class FieldMap(BaseModel):
    """One column: read at ``path`` (a JSONPath inside a record) as ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=63)
    type: ColumnTypeName = "string"
    label: str | None = Field(default=None, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _COLUMN_RE.match(v):
            raise ValueError("a column name: a letter or _, then letters, digits or _")
        return v


class RestConfig(BaseModel):
    """``config`` of a ``rest`` data source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2048)
    method: Literal["GET"] = "GET"
    #: Plain headers (not secret: shown back). The secret one is ``auth_header`` with its value
    #: in the credentials.
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    auth_header: str = "Authorization"
    pagination: Pagination = Field(default_factory=Pagination)
    records_path: str = Field(default="$", max_length=300)
    fields: list[FieldMap] = Field(min_length=1, max_length=500)
    #: The catalog source the rows land in.
    target: str = Field(min_length=1, max_length=63)
    label: str = Field(default="", max_length=200)
    key_columns: list[str] = Field(default_factory=list, max_length=10)
    watermark_column: str | None = None
    #: Query parameter carrying the last watermark (omit: the API sends all, we keep the newer).
    watermark_param: str | None = None
    scope: dict[Literal["location", "customer", "contract"], str] = Field(default_factory=dict)
    time_column: str | None = None
    max_pages: int = Field(default=100, ge=1, le=10_000)
    timeout_seconds: float = Field(default=30.0, ge=1, le=120)
    max_bytes: int = Field(default=20_000_000, ge=1_000, le=200_000_000)
    #: Cron expression of scheduled syncs (UTC); None: on demand only.
    schedule: str | None = Field(default=None, max_length=100)

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not _HEADER_RE.match(k) or k.lower() in _FORBIDDEN_HEADERS:
                raise ValueError(f"{k!r} is not a header the source may set")
            if any(c in val for c in "\r\n") or len(val) > 1000:
                raise ValueError(f"{k!r}: a header value is one line of at most 1000 characters")
        return v

    @field_validator("auth_header")
    @classmethod
    def _auth_header(cls, v: str) -> str:
        if not _HEADER_RE.match(v) or v.lower() in _FORBIDDEN_HEADERS:
            raise ValueError(f"{v!r} is not a header name")
        return v

    @field_validator("watermark_param")
    @classmethod
    def _wm_param(cls, v: str | None) -> str | None:
        if v is not None and not _PARAM_RE.match(v):
            raise ValueError("a query parameter name: letters, digits, _ . - [ ]")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        from croniter import croniter

        if v is not None and not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression (like '0 * * * *')")
        return v

    @model_validator(mode="after")
    def _columns(self) -> RestConfig:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("fields: a column name appears twice")
        for what, col in (("watermark_column", self.watermark_column), ("time_column", self.time_column)):
            if col is not None and col not in names:
                raise ValueError(f"{what}: {col!r} is not one of the fields' names")
        for k in self.key_columns:
            if k not in names:
                raise ValueError(f"key_columns: {k!r} is not one of the fields' names")
        for col in self.scope.values():
            if col not in names:
                raise ValueError(f"scope: {col!r} is not one of the fields' names")
        if self.auth_header.lower() in {h.lower() for h in self.headers}:
            raise ValueError("headers: the auth header's value goes in credentials.auth_value")
        return self


def parse_rest_config(data: Mapping[str, Any]) -> RestConfig:
    """The checked configuration (JSONPaths compiled once to reject bad ones early)."""
    from portal.specs import parse_spec

    try:
        cfg = parse_spec(RestConfig, dict(data))
    except InvalidSpec as exc:
        # Name the field as the API's body has it: ``config.<field>``.
        f = exc.field if exc.field and exc.field != "rest_config" else ""
        where = f"config.{f}" if f else "config"
        text = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
        raise InvalidSpec(f"{where}: {text}", field=where) from None
    compile_path(cfg.records_path, field="config.records_path")
    if cfg.pagination.kind == "cursor":
        compile_path(cfg.pagination.cursor_path, field="config.pagination.cursor_path")
    for i, fm in enumerate(cfg.fields):
        compile_path(fm.path, field=f"config.fields[{i}].path")
    return cfg


# --------------------------------------------------------------------------- pure: paging, records, types
def page_params(p: Pagination, page_index: int, cursor: str | None) -> dict[str, str]:
    """Query parameters of the ``page_index``-th request (0-based)."""
    if p.kind == "page":
        return {p.page_param: str(p.first_page + page_index), p.size_param: str(p.size)}
    if p.kind == "offset":
        return {p.offset_param: str(page_index * p.size), p.limit_param: str(p.size)}
    if p.kind == "cursor" and cursor:
        return {p.cursor_param: cursor}
    return {}


def next_cursor(p: Pagination, body: Any) -> str | None:
    """The cursor of the next page in an answer (cursor paging), None at the end."""
    found = [m.value for m in compile_path(p.cursor_path, field="config.pagination.cursor_path").find(body)]
    value = found[0] if found else None
    if value in (None, "", False):
        return None
    return str(value)


def has_more(p: Pagination, got: int, cursor: str | None) -> bool:
    """Whether to ask for another page after one that held ``got`` records."""
    if p.kind == "none" or got == 0:
        return False
    if p.kind == "cursor":
        return cursor is not None
    return got >= p.size  # a short page is the last one


def extract_records(body: Any, records_path: str) -> list[Any]:
    """The records of one answer: the JSONPath's match (a list is flattened)."""
    matches = [m.value for m in compile_path(records_path, field="config.records_path").find(body)]
    if len(matches) == 1 and isinstance(matches[0], list):
        return list(matches[0])
    return matches


def coerce(value: Any, typ: str) -> Any:
    """``value`` as a catalog ``typ`` (None stays None); ValueError saying why when it is not one."""
    if value is None:
        return None
    if typ == "string":
        if isinstance(value, dict | list):
            raise ValueError("an object or list, not text")
        return str(value)
    if typ == "int":
        if isinstance(value, bool):
            raise ValueError("true/false, not a whole number")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            return int(value)
        if isinstance(value, int):
            return value
        return int(str(value).strip())
    if typ == "float":
        if isinstance(value, bool):
            raise ValueError("true/false, not a number")
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(f"{value!r} is not a finite number")
        return out
    if typ == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "y", "t"):
            return True
        if text in ("false", "0", "no", "n", "f"):
            return False
        raise ValueError(f"{value!r} is not true or false")
    if typ == "datetime":
        if isinstance(value, bool | dict | list):
            raise ValueError(f"{value!r} is not a date and time")
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip())
        # Stored as naive UTC (the warehouse's convention).
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if typ == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value).strip()[:10])
    raise ValueError(f"unknown type {typ!r}")


@dataclass
class Typed:
    """Records mapped to rows: the good ones and a count (and a few examples) of the rejected."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, column: str, reason: str) -> None:
        """Count one rejected record; keep the first few as examples."""
        self.rejected += 1
        if len(self.examples) < MAX_REJECT_EXAMPLES:
            self.examples.append({"row": row, "column": column, "reason": reason[:200]})


def map_records(
    records: Sequence[Any], fields: Sequence[FieldMap], key_columns: Sequence[str] = (), *, first_row: int = 1
) -> Typed:
    """Each record through the field mapping; a record whose value does not fit its type, or
    without a key, is rejected (counted, with an example), the others kept."""
    paths = [(f, compile_path(f.path, field="config.fields")) for f in fields]
    out = Typed()
    for n, rec in enumerate(records, start=first_row):
        row: dict[str, Any] = {}
        for f, path in paths:
            found = [m.value for m in path.find(rec)] if isinstance(rec, dict | list) else []
            try:
                row[f.name] = coerce(found[0] if found else None, f.type)
            except (ValueError, TypeError, OverflowError) as exc:
                out.reject(n, f.name, f"{f.type}: {exc}")
                break
        else:
            missing = [k for k in key_columns if row.get(k) is None]
            if missing:
                out.reject(n, missing[0], "key column is empty")
            else:
                out.rows.append(row)
    return out


# --------------------------------------------------------------------------- the fetch
def fetch_pages(
    cfg: RestConfig,
    auth_value: str | None,
    *,
    since: str | None = None,
    allow_private: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> Iterator[list[Any]]:
    """The records of each page, in order, at most ``cfg.max_pages`` pages.

    Refuses a private/loopback/metadata address (unless allowed), redirects, answers larger than
    ``cfg.max_bytes`` and non-JSON answers with a :class:`BadRequest` naming what went wrong.
    """
    target = check_url(
        cfg.url,
        allow_private=allow_private,
        allowed_hosts=allowed_hosts,
        field="config.url",
        purpose="REST sources",
        setting="WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWED_HOSTS",
    )
    headers = {**cfg.headers, "Accept": "application/json"}
    if auth_value:
        headers[cfg.auth_header] = auth_value
    cursor: str | None = None
    with pinned_session(target) as http:
        for index in range(cfg.max_pages):
            params = page_params(cfg.pagination, index, cursor)
            if since is not None and cfg.watermark_param:
                params[cfg.watermark_param] = since
            body = _get_json(http, target.url, params, headers, cfg, target.origin)
            records = extract_records(body, cfg.records_path)
            yield records
            cursor = next_cursor(cfg.pagination, body) if cfg.pagination.kind == "cursor" else None
            if not has_more(cfg.pagination, len(records), cursor):
                return


def _get_json(
    http: requests.Session,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    cfg: RestConfig,
    origin: str,
) -> Any:
    try:
        resp = http.get(
            url,
            params=dict(params),
            headers=dict(headers),
            timeout=cfg.timeout_seconds,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        raise BadRequest(
            f"config.url: {origin} did not answer ({type(exc).__name__})", field="config.url"
        ) from None
    with resp:
        if 300 <= resp.status_code < 400:
            raise BadRequest(
                f"config.url: {origin} answered a redirect; give the final URL", field="config.url"
            )
        if resp.status_code >= 400:
            raise BadRequest(f"config.url: {origin} answered HTTP {resp.status_code}", field="config.url")
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > cfg.max_bytes:
                raise BadRequest(
                    f"config.max_bytes: an answer of {origin} is larger than {cfg.max_bytes} bytes",
                    field="config.max_bytes",
                )
            chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"config.url: {origin} did not answer JSON", field="config.url") from None
