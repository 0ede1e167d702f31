"""Triggers, alerts, alert tickets and notifications over REST.

- ``POST /api/reports/{id}/trigger``: save a trigger (a TriggerSpec plus an optional ``name``);
  answers the trigger and, when its webhooks name secrets, ``signing_secrets`` ``{name: value}``
  to configure the receivers with. ``GET /api/reports/{id}/triggers`` lists them;
  ``PATCH /api/triggers/{id}`` (``{"is_active": false}``) disables one, ``DELETE`` removes it.
- ``GET /api/alerts?status=open|acked|closed&severity=info|warn|crit``, ``GET /api/alerts/{id}``,
  ``POST /api/alerts/{id}/ack|close|reopen`` (optional ``note``).
- ``GET /api/alert-tickets?status=open|closed``, ``POST /api/alert-tickets/{id}/close``.
- ``GET /api/notifications?unread=1`` (mine, with the unread count),
  ``POST /api/notifications/read`` (``{"ids": [...]}`` or ``{"all": true}``).

Bad input is a 4xx naming the field, never a 500.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal import alerts
from portal.errors import BadRequest, InvalidSpec
from portal.identity.principal import Principal
from portal.specs import TriggerSpec, parse_spec
from portal.web.api.base import BaseHandler, path_id

#: What ``POST /api/reports/{id}/trigger`` accepts: the spec's fields and the trigger's name.
TRIGGER_FIELDS = ("name", *TriggerSpec.model_fields)


def _limit(handler: BaseHandler, default: int = 200) -> int:
    raw = handler.get_query_argument("limit", None)
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise InvalidSpec("limit: must be a whole number from 1 to 500", field="limit") from None
    if not 1 <= n <= 500:
        raise InvalidSpec(f"limit: must be from 1 to 500, got {n}", field="limit")
    return n


class ReportTriggerHandler(BaseHandler):
    async def post(self, rid: str) -> None:
        data = self.body(TRIGGER_FIELDS)
        settings = self.ctx.settings

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            t = alerts.create_trigger(session, principal, path_id(rid), data, settings)
            out = alerts.trigger_to_dict(t)
            spec = parse_spec(TriggerSpec, t.rule_json)
            secrets = alerts.signing_secrets(settings.secret_key, principal.tenant_id, spec)
            if secrets:
                out["signing_secrets"] = secrets
            return out

        self.send(await self.call(create), 201)


class ReportTriggersHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = alerts.list_triggers(session, principal, path_id(rid))
            return {"triggers": [alerts.trigger_to_dict(t) for t in rows]}

        self.send(await self.call(lst))


class TriggerHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return alerts.trigger_to_dict(alerts.get_trigger(session, principal, path_id(tid)))

        self.send(await self.call(get))

    async def patch(self, tid: str) -> None:
        data = self.body(("is_active",))
        if "is_active" not in data:
            raise BadRequest("is_active: required (true or false)", field="is_active")

        def patch(session: Session, principal: Principal) -> dict[str, Any]:
            t = alerts.set_trigger_active(session, principal, path_id(tid), data["is_active"])
            return alerts.trigger_to_dict(t)

        self.send(await self.call(patch))

    async def delete(self, tid: str) -> None:
        await self.call(lambda s, p: alerts.delete_trigger(s, p, path_id(tid)))
        self.set_status(204)
        self.finish()


class AlertsHandler(BaseHandler):
    async def get(self) -> None:
        status = self.get_query_argument("status", None)
        severity = self.get_query_argument("severity", None)
        limit = _limit(self)

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = alerts.list_alerts(session, principal, status=status, severity=severity, limit=limit)
            return {
                "alerts": [alerts.alert_to_dict(e) for e in rows],
                "counts": alerts.alert_counts(session, principal),
            }

        self.send(await self.call(lst))


class AlertHandler(BaseHandler):
    async def get(self, aid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return alerts.alert_to_dict(alerts.get_alert(session, principal, path_id(aid)))

        self.send(await self.call(get))


class AlertStepHandler(BaseHandler):
    async def post(self, aid: str, step: str) -> None:
        data = self.body(("note",))

        def act(session: Session, principal: Principal) -> dict[str, Any]:
            entry = alerts.act_on_alert(session, principal, path_id(aid), step, data.get("note"))
            return alerts.alert_to_dict(entry)

        self.send(await self.call(act))


class TicketsHandler(BaseHandler):
    async def get(self) -> None:
        status = self.get_query_argument("status", None)
        limit = _limit(self)

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = alerts.list_tickets(session, principal, status=status, limit=limit)
            return {"tickets": [alerts.ticket_to_dict(t) for t in rows]}

        self.send(await self.call(lst))


class TicketCloseHandler(BaseHandler):
    async def post(self, tid: str) -> None:
        self.body(())

        def close(session: Session, principal: Principal) -> dict[str, Any]:
            return alerts.ticket_to_dict(alerts.close_ticket(session, principal, path_id(tid)))

        self.send(await self.call(close))


class NotificationsHandler(BaseHandler):
    async def get(self) -> None:
        unread = self.get_query_argument("unread", "0")
        if unread not in ("0", "1", "true", "false"):
            raise InvalidSpec("unread: must be 1 or 0", field="unread")
        only_unread = unread in ("1", "true")
        limit = _limit(self, 50)

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = alerts.list_notifications(session, principal, unread_only=only_unread, limit=limit)
            uid = principal.require_user("have notifications")
            return {
                "notifications": [alerts.notification_to_dict(n) for n in rows],
                "unread": alerts.unread_count(session, uid),
            }

        self.send(await self.call(lst))


class NotificationsReadHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body(("ids", "all"))
        everything = data.get("all", False)
        if not isinstance(everything, bool):
            raise BadRequest("all: must be true or false", field="all")
        ids = data.get("ids")
        if everything == (ids is not None):
            raise BadRequest("ids: give the ids to mark read, or all: true", field="ids")
        if ids is not None and not isinstance(ids, list):
            raise BadRequest("ids: must be a list of notification ids", field="ids")

        def read(session: Session, principal: Principal) -> dict[str, Any]:
            changed = alerts.mark_read(session, principal, None if everything else ids)
            uid = principal.require_user("have notifications")
            return {"marked": changed, "unread": alerts.unread_count(session, uid)}

        self.send(await self.call(read))
