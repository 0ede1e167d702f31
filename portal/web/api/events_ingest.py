"""Analytics events over REST: ``POST /api/events`` (ingest a batch), ``GET|PUT /api/event-settings``
(PII rules, retention), ``GET|PUT /api/event-dimensions/{kind}`` (members with validity periods)
and ``POST /api/event-builds`` (snapshot, retention or backfill as a job).

``/api/events/{channel}`` (real-time publishing, :mod:`portal.web.realtime`) is another route:
this one is the exact path ``/api/events``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop

from portal.errors import BadRequest, InvalidSpec, PayloadTooLarge
from portal.events import dimensions
from portal.events.builds import submit_build
from portal.events.pii import PiiPolicy
from portal.events.schema import Rejected
from portal.events.service import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    ingest,
    may_ingest,
    require_admin,
    settings_dict,
    settings_row,
    tenant_policy,
    update_settings,
)
from portal.identity.principal import Principal
from portal.web.api.base import BaseHandler

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/jsonlines", "application/ndjson")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_many(n: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"body: at most {MAX_BATCH_EVENTS:,} events a request (got {n:,})", field="body")


def parse_batch(body: bytes, content_type: str) -> list[Any]:
    """The posted events: a JSON array (or one object), or JSON lines. A JSON-lines line that
    does not parse becomes a :class:`Rejected` for that event only; a bad array is a 400."""
    if len(body) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(
            f"body: at most {MAX_BATCH_BYTES // (1024 * 1024)} MB a request (got {len(body):,} bytes)",
            field="body",
        )
    if not body.strip():
        raise BadRequest("body: send a JSON array of events or JSON lines", field="body")
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        if len(lines) > MAX_BATCH_EVENTS:
            raise _too_many(len(lines))
        items: list[Any] = []
        for i, line in enumerate(lines):
            try:
                items.append(json.loads(line, parse_constant=_no_constant))
            except (ValueError, RecursionError):
                items.append(Rejected("event", f"line {i + 1} is not valid JSON"))
        return items
    try:
        # Not parse_json: its walk over every value costs more than the rest of the ingest; each
        # event is validated field by field instead and serialised strictly (no NaN, no lone
        # surrogate) before it is stored, so a bad value rejects its event only.
        data = json.loads(body, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BadRequest("body: must be UTF-8 text", field="body") from None
    except RecursionError:
        raise BadRequest("body: nested too deep", field="body") from None
    except ValueError as exc:
        raise BadRequest(f"body: invalid JSON ({str(exc)[:200]})", field="body") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise BadRequest("body: a JSON array of event objects (or JSON lines)", field="body")
    if not data:
        raise BadRequest("body: the array is empty", field="body")
    if len(data) > MAX_BATCH_EVENTS:
        raise _too_many(len(data))
    return data


class EventIngestHandler(BaseHandler):
    """``POST /api/events``."""

    async def post(self) -> None:
        """Ingest a batch of analytics events (idempotent by event id)."""
        if len(self.request.body) > MAX_BATCH_BYTES:  # refused before anything is read
            raise PayloadTooLarge(
                f"body: at most {MAX_BATCH_BYTES // (1024 * 1024)} MB a request", field="body"
            )
        settings = self.ctx.settings
        content_type = self.request.headers.get("Content-Type", "")

        def identify(session: Session, principal: Principal) -> tuple[int, PiiPolicy]:
            may_ingest(principal)
            return principal.tenant_id, tenant_policy(session, settings.secret_key, principal.tenant_id)

        # The transaction only authenticates (it writes the token's last use): parsing, the raw
        # log's fsync and Redis run after it, so concurrent batches never queue on a DB lock.
        tenant_id, policy = await self.call(identify)

        def work() -> dict[str, Any]:
            # On a worker thread: a 5 MB body never blocks the event loop.
            items = parse_batch(self.request.body, content_type)
            result = ingest(
                home=settings.home, redis=self.ctx.redis, tenant_id=tenant_id, policy=policy, items=items
            )
            return result.to_dict()

        answer = await IOLoop.current().run_in_executor(None, work)
        self.send(*batch_status(answer))


def batch_status(answer: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The answer and its status: 200 all taken, 207 some rejected, 422 none taken (an error
    naming the first rejected event's field, with the per-event list)."""
    rejected = answer["rejected"]
    if not rejected:
        return answer, 200
    if answer["accepted"] or answer["duplicates"]:
        return answer, 207
    first = rejected[0]
    where = f"events[{first['index']}]" + (f".{first['field']}" if first.get("field") else "")
    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
    message = f"{where}: {first['reason']}{more}; no event of the batch was accepted"
    return {**InvalidSpec(message, field=where).to_dict(), **answer}, 422


class EventSettingsHandler(BaseHandler):
    """``GET|PUT /api/event-settings``."""

    async def get(self) -> None:
        """(admins) The tenant's events settings: PII rules, retention, the last snapshot build."""

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            require_admin(principal, "see the events settings")
            return settings_dict(settings_row(session, principal.tenant_id))

        self.send(await self.call(work))

    async def put(self) -> None:
        """(admins) Change PII rules and retention."""
        body = self.body(("pii", "raw_retention_days", "snapshot_retention_days"))

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            require_admin(principal, "change the events settings")
            return settings_dict(update_settings(session, principal.tenant_id, body))

        self.send(await self.call(work))


class EventDimensionsHandler(BaseHandler):
    """``GET|PUT /api/event-dimensions/{kind}``."""

    async def get(self, kind: str) -> None:
        """The members of a dimension and their versions."""

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            may_ingest(principal)
            dimensions.check_member(kind, {"key": "x"}, now=datetime.now(UTC))
            found = dimensions.members(session, principal.tenant_id, kind)
            return {
                "members": [
                    {"key": key, "attrs": v.attrs, "valid_from": v.valid_from, "valid_to": v.valid_to}
                    for key, versions in found.items()
                    for v in versions
                ]
            }

        self.send(await self.call(work))

    async def put(self, kind: str) -> None:
        """(admins) A member's attributes from ``valid_from`` on (a new version)."""
        body = self.body(("key", "attrs", "valid_from"))

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            require_admin(principal, "change dimension members")
            key, attrs, valid_from = dimensions.check_member(kind, body, now=datetime.now(UTC))
            row = dimensions.upsert_member(session, principal.tenant_id, kind, key, attrs, valid_from)
            return dimensions.member_dict(row)

        self.send(await self.call(work))


class EventBuildsHandler(BaseHandler):
    """``POST /api/event-builds``."""

    async def post(self) -> None:
        """(admins) Build the events snapshots, apply retention or backfill a date range, as a job."""
        body = self.body(("action", "from", "to"))

        def work(session: Session, principal: Principal) -> Any:
            require_admin(principal, "build event snapshots")
            return submit_build(session, principal, body)

        sub = await self.call(work)
        sub.enqueue(self.ctx.redis)
        self.send({"job_id": sub.record.id, "state": sub.record.status}, 202)


EVENTS_ROUTES = [
    (r"/api/events", EventIngestHandler),
    (r"/api/event-settings", EventSettingsHandler),
    (r"/api/event-dimensions/([a-z_]{1,32})", EventDimensionsHandler),
    (r"/api/event-builds", EventBuildsHandler),
]
