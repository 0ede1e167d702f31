"""OpenAPI declarations of the bring-your-own-data endpoints: analytics events
(:mod:`portal.web.api.events_ingest`), file imports (:mod:`portal.web.api.imports`) and data /
catalog sources (:mod:`portal.web.api.sources`). :mod:`portal.web.openapi` merges them with
:mod:`portal.web.openapi_operations`'s."""

from __future__ import annotations

from portal.ingest.connected import ExposeRequest
from portal.ingest.quality import ChecksIn
from portal.ingest.schema import ImportOptions
from portal.web.openapi_operations import (
    BOOL,
    FLAG,
    INT,
    JSON,
    NUMBER,
    OBJECT,
    STRING,
    TEXT_LIST,
    Model,
    Op,
    Schema,
    created,
    fields,
    listing,
)

OPERATIONS: dict[str, Op] = {}
SUMMARIES: dict[str, str] = {}

# --------------------------------------------------------------------------- analytics events
_EVENT: Schema = {
    "type": "object",
    "description": "event_id (≤ 100 chars), type, occurred_at (ISO 8601 with offset), schema_version, "
    "dimensions (org_unit, channel, agent, tags, ticket_id, customer), measures (numbers), properties",
}
_INGESTED: Schema = {
    "type": "object",
    "required": ["accepted", "duplicates", "rejected"],
    "properties": {
        "accepted": INT,
        "duplicates": INT,
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "field", "reason"],
                "properties": {
                    "index": INT,
                    "event_id": {"type": ["string", "null"]},
                    "field": STRING,
                    "reason": STRING,
                },
            },
        },
    },
}
_EVENT_SETTINGS_FIELDS = fields(
    pii={"type": "object", "properties": {"fields": OBJECT, "defaults": BOOL}},
    raw_retention_days=INT,
    snapshot_retention_days=INT,
)
OPERATIONS.update(
    {
        "EventIngestHandler.post": Op(
            body={"oneOf": [_EVENT, {"type": "array", "items": _EVENT, "minItems": 1, "maxItems": 10_000}]},
            body_required=True,
            example=[
                {
                    "event_id": "doc-example-1",
                    "type": "ticket_opened",
                    "occurred_at": "2026-12-01T09:30:00-03:00",
                    "schema_version": 2,
                    "dimensions": {"channel": "email", "agent": "ana", "tags": ["billing"]},
                    "measures": {"first_response_sec": 42},
                }
            ],
            security_note="JSON array or JSON lines (Content-Type: application/x-ndjson); at most 10,000 "
            "events and 5 MB a request. 207 when some events were rejected.",
            ok={200: {JSON: _INGESTED}, 207: {JSON: _INGESTED}},
        ),
        "EventSettingsHandler.get": Op(),
        "EventSettingsHandler.put": Op(body=_EVENT_SETTINGS_FIELDS, example={"raw_retention_days": 400}),
        "EventDimensionsHandler.get": Op(ok={200: {JSON: listing("members")}}),
        "EventDimensionsHandler.put": Op(
            body=fields("key", key=STRING, attrs=OBJECT, valid_from=STRING),
            body_required=True,
        ),
        "EventBuildsHandler.post": Op(
            body=fields(
                action={"type": "string", "enum": ["snapshot", "retention", "backfill"]},
                to=STRING,
                **{"from": STRING},
            ),
            example={"action": "snapshot"},
            ok={
                202: {
                    JSON: {"type": "object", "required": ["job_id", "state"], "properties": {"job_id": INT}}
                }
            },
        ),
    }
)

# ------------------------------------------------------------ file imports (portal.web.api.imports)

_IMPORT: Schema = {
    "type": "object",
    "required": ["id", "status", "source_name", "rows_read", "rows_loaded", "rows_rejected", "bytes_done"],
    "properties": {
        "id": INT,
        "job_id": {"type": ["integer", "null"]},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "canceled"]},
        "source_name": STRING,
        "rows_read": INT,
        "rows_loaded": INT,
        "rows_rejected": INT,
        "bytes_done": INT,
        "size_bytes": INT,
        "rate_rows_s": NUMBER,
        "eta_s": {"type": ["number", "null"]},
        "error": {"type": ["string", "null"]},
    },
}
OPERATIONS.update(
    {
        "ImportUploadHandler.put": Op(
            query={"filename": STRING},
            required_query=("filename",),
            ok={
                200: {
                    JSON: {
                        "type": "object",
                        "required": ["upload_id", "size", "preview"],
                        "properties": {
                            "upload_id": STRING,
                            "size": INT,
                            "filename": STRING,
                            "preview": OBJECT,
                        },
                    }
                }
            },
            security_note="The request body is the raw file (CSV or XLSX), streamed to disk; the size limit "
            "(default 2 GB) answers 413. Only analysts and admins of the tenant may upload.",
        ),
        "ImportsHandler.get": Op(ok={200: {JSON: listing("imports")}}),
        "ImportsHandler.post": Op(
            body=fields("upload_id", upload_id=STRING, options=Model(ImportOptions)),
            body_required=True,
            ok={202: {JSON: _IMPORT}},
        ),
        "ImportHandler.get": Op(ok={200: {JSON: _IMPORT}}),
        "ImportBadRowsHandler.get": Op(ok={200: {"text/csv": STRING}}),
        "ImportCancelHandler.post": Op(ok={200: {JSON: _IMPORT}}),
    }
)
SUMMARIES.update(
    {
        "ImportUploadHandler.put": "Upload a CSV/XLSX file for import; answers its id and a preview",
        "ImportsHandler.get": "My file imports (an admin: the tenant's)",
        "ImportsHandler.post": "Import an uploaded file into a source (a job): 202",
        "ImportHandler.get": "One import: status, progress (rows, MB, rate, ETA) and outcome",
        "ImportBadRowsHandler.get": "Download an import's bad-row report (CSV)",
        "ImportCancelHandler.post": "Cancel an import on its way (the source stays as it was)",
    }
)

# ------------------------------------------------------------------- data sources (portal.web.api.sources)

_DATA_SOURCE: Schema = {
    "type": "object",
    "required": ["id", "name", "kind", "config", "credentials_set"],
    "properties": {
        "id": INT,
        "name": STRING,
        "kind": {"type": "string", "enum": ["sql", "csv", "xlsx", "rest"]},
        "config": OBJECT,
        "credentials_set": BOOL,
        "catalog_sources": TEXT_LIST,
    },
}
_CATALOG_SOURCE: Schema = {
    "type": "object",
    "required": ["name", "label", "origin", "columns", "data_version", "quality"],
    "properties": {
        "name": STRING,
        "label": STRING,
        "origin": {"type": "string", "enum": ["import", "sql", "rest", "events"]},
        "columns": {"type": "array"},
        "data_version": INT,
        "row_count": {"type": ["integer", "null"]},
        "quality": OBJECT,
        "used_by": {
            "type": "array",
            "description": "Reports, dashboards and PDF templates whose queries read it",
            "items": {
                "type": "object",
                "required": ["type", "id", "name", "source", "trashed"],
                "properties": {
                    "type": {"type": "string", "enum": ["report", "dashboard", "pdf_template"]},
                    "id": INT,
                    "name": STRING,
                    "source": STRING,
                    "trashed": BOOL,
                },
            },
        },
    },
}
_SOURCE_BODY = fields(
    "name",
    "kind",
    name={"type": "string", "minLength": 1, "maxLength": 200},
    kind={"type": "string", "enum": ["sql", "rest"]},
    config={
        "type": "object",
        "description": "sql: {url} (a SQLAlchemy URL of a database server, no password in it), materialize, "
        "schedule; rest: url, pagination, records_path, fields, target, key_columns, watermark_column, "
        "watermark_param, scope, schedule",
    },
    credentials={
        "type": "object",
        "additionalProperties": STRING,
        "description": "sql: username, password; rest: auth_value (the auth header's value). Never returned.",
    },
)
OPERATIONS.update(
    {
        "SourcesHandler.get": Op(ok={200: {JSON: listing("sources")}}),
        "SourcesHandler.post": Op(
            body=_SOURCE_BODY,
            body_required=True,
            ok=created(_DATA_SOURCE),
            security_note="Admins only. A rest source's URL goes through the SSRF guard of the webhooks.",
        ),
        "SourceHandler.get": Op(ok={200: {JSON: _DATA_SOURCE}}),
        "SourceHandler.patch": Op(
            body=fields(
                name={"type": "string", "minLength": 1, "maxLength": 200},
                config=OBJECT,
                credentials={"type": "object", "additionalProperties": STRING},
            ),
            ok={200: {JSON: _DATA_SOURCE}},
        ),
        "SourceHandler.delete": Op(query={"force": FLAG}, ok={200: {JSON: OBJECT}}),
        "SourceTestHandler.post": Op(
            ok={200: {JSON: {"type": "object", "required": ["ok", "message"], "properties": {"ok": BOOL}}}}
        ),
        "SourceTablesHandler.get": Op(query={"refresh": FLAG}, ok={200: {JSON: listing("tables")}}),
        "SourceExposeHandler.post": Op(
            body=Model(ExposeRequest), body_required=True, ok=created(listing("sources"))
        ),
        "SourceSyncHandler.post": Op(
            body=fields(),
            ok={202: {JSON: {"type": "object", "required": ["job_id"], "properties": {"job_id": INT}}}},
        ),
        "SourceSyncsHandler.get": Op(ok={200: {JSON: listing("syncs")}}),
        "CatalogSourcesHandler.get": Op(ok={200: {JSON: listing("sources")}}),
        "CatalogSourceHandler.get": Op(ok={200: {JSON: _CATALOG_SOURCE}}),
        "CatalogSourceHandler.delete": Op(query={"force": FLAG}, ok={200: {JSON: OBJECT}}),
        "CatalogChecksHandler.put": Op(
            body=Model(ChecksIn), body_required=True, ok={200: {JSON: listing("checks")}}
        ),
        "CatalogChecksRunHandler.post": Op(body=fields(), ok={200: {JSON: listing("results")}}),
    }
)
SUMMARIES.update(
    {
        "SourcesHandler.get": "The tenant's data sources (databases, REST sources); never credentials",
        "SourcesHandler.post": "Register a connected database (sql) or a REST/JSON source (admins)",
        "SourceHandler.get": "One data source",
        "SourceHandler.patch": "Change a data source's name, configuration or credentials",
        "SourceHandler.delete": "Delete a data source and the catalog sources it feeds (409 while in use)",
        "SourceTestHandler.post": "Test the connection of a connected database",
        "SourceTablesHandler.get": "The tables and views of a connected database (cached 1 h; refresh=1)",
        "SourceExposeHandler.post": "Expose tables of a connected database as catalog sources",
        "SourceSyncHandler.post": "Sync a REST source into the warehouse (a job): 202",
        "SourceSyncsHandler.get": "A data source's sync history (rows read, inserted, updated, rejected)",
        "CatalogSourcesHandler.get": "The tenant's catalog sources with row counts, data version and quality",
        "CatalogSourceHandler.get": "One catalog source with its checks and their latest results",
        "CatalogSourceHandler.delete": "Remove a source from the tenant's catalog (409 while in use)",
        "CatalogChecksHandler.put": "Replace a catalog source's data-quality checks",
        "CatalogChecksRunHandler.post": "Run a catalog source's data-quality checks now",
    }
)
