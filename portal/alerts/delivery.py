"""Sending what a fired trigger says: e-mail, webhooks, tickets sent to an external system.

Each message is recorded in ``deliveries`` right after it went out (its own short
transaction), under a key per job, channel and recipient: a retried job skips what already
went out, so a receiver gets each message once even when the job runs three times. Failures are
recorded too; a permanent one (an unknown mailbox, a 404) is not tried again, a transient one
(SMTP 4xx, a 503, a timeout, an open circuit breaker) makes the job retry with backoff.

Circuit breakers per destination (``destination:smtp``, ``destination:webhook:<host>``): a
destination that failed repeatedly is left alone for a while — its deliveries fail as transient
without a connection attempt, and the job's retry tries again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from portal.alerts.secrets import signing_secret
from portal.config import Settings
from portal.data.warehouse import Warehouse
from portal.errors import DeliveryFailed, PortalError
from portal.infra.db import transaction
from portal.jobqueue import breakers
from portal.jobstore import delivery_key, record_delivery
from portal.models import AlertTicket, Delivery
from portal.notify.email import EmailMessageSpec, build_message, mailer_from_settings
from portal.notify.webhook import WebhookFailed, WebhookRequest, WebhookResult, post_webhook
from portal.specs.triggers import EmailAction, OpenTicketAction, WebhookAction

log = logging.getLogger(__name__)

#: Marks a recorded failure that a retry cannot cure: the retry leaves that delivery alone.
PERMANENT = "permanent: "
SMTP_BREAKER = "destination:smtp"
SEVERITY_WORDS = {"info": "Info", "warn": "Warning", "crit": "Critical"}


@dataclass(frozen=True)
class Runtime:
    """What an evaluation needs of the process running it (a worker builds it from its context)."""

    sessions: sessionmaker[Session]
    settings: Settings
    warehouse: Warehouse
    redis: Redis


@dataclass(frozen=True)
class Fired:
    """An alert as its messages describe it; built from the stored alert, so every retry says the same."""

    alert_id: int
    tenant_id: int
    name: str
    severity: str
    created_at: str
    report_id: int
    report_name: str
    trigger_id: int
    execution_id: int
    value: Any
    condition: str
    reason: str
    #: Tickets the alert opened: action index -> ticket id.
    tickets: dict[int, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The alert part of every webhook body."""
        return {
            "id": self.alert_id,
            "name": self.name,
            "severity": self.severity,
            "status": "open",
            "created_at": self.created_at,
            "report": {"id": self.report_id, "name": self.report_name},
            "trigger_id": self.trigger_id,
            "execution_id": self.execution_id,
            "value": self.value,
            "condition": self.condition,
            "reason": self.reason,
            "link": f"/alerts?alert={self.alert_id}",
        }


@dataclass
class Outcome:
    """What the deliveries of one run did."""

    sent: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    transient: bool = False

    def fail(self, message: str, *, transient: bool) -> None:
        """Count a failure (``transient``: a retry may cure it)."""
        self.failures.append(message)
        self.transient = self.transient or transient


Previous = dict[str, tuple[str, str | None]]


def previous_deliveries(sessions: sessionmaker[Session], job_id: int) -> Previous:
    """``{key: (status, error)}`` of the job's recorded deliveries (the earlier attempts')."""
    with sessions() as s:
        rows = s.execute(
            select(Delivery.idempotency_key, Delivery.status, Delivery.error).where(Delivery.job_id == job_id)
        )
        return {k: (st, err) for k, st, err in rows}


def _settled(previous: Previous, key: str) -> bool:
    """Sent already, or failed in a way a retry cannot cure."""
    status, error = previous.get(key, ("", None))
    return status == "sent" or (status == "failed" and (error or "").startswith(PERMANENT))


def _record(
    rt: Runtime,
    job_id: int,
    channel: str,
    recipient: str,
    key: str,
    *,
    error: PortalError | None = None,
    message_id: str | None = None,
) -> None:
    status = "sent" if error is None else "failed"
    text = None
    if error is not None:
        transient = isinstance(error, DeliveryFailed) and error.transient
        text = error.message if transient else PERMANENT + error.message
    with transaction(rt.sessions) as s:
        record_delivery(s, job_id, channel, recipient[:320], key, status, message_id=message_id, error=text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


# --------------------------------------------------------------------------- e-mail
def email_text(fired: Fired) -> tuple[str, str]:
    """(subject, plain text) of the alert's e-mail."""
    word = SEVERITY_WORDS.get(fired.severity, fired.severity)
    subject = " ".join(f"[{word}] {fired.name}".split())[:200]
    text = "\n".join(
        [
            fired.name,
            "",
            f"Report: {fired.report_name} (#{fired.report_id})",
            f"Condition: {fired.condition}",
            f"Value: {fired.value}",
            f"What happened: {fired.reason}",
            f"Raised: {fired.created_at}",
            "",
            f"See and acknowledge it in Conductor BI, alerts center: /alerts?alert={fired.alert_id}",
        ]
    )
    return subject, text


def send_email(
    rt: Runtime, job_id: int, fired: Fired, action: EmailAction, previous: Previous, out: Outcome
) -> None:
    """One copy per recipient not served yet; each recorded as it goes."""
    subject, text = email_text(fired)
    spec = EmailMessageSpec(
        sender=rt.settings.mail_from,
        recipients=tuple(action.recipients),
        subject=subject,
        text=text,
        idempotency_key=f"alert:{fired.alert_id}",  # the same Message-ID on every retry
    )
    mailer = mailer_from_settings(rt.settings.smtp_url, rt.settings.outbox_dir)
    breaker = SMTP_BREAKER if rt.settings.smtp_url.strip() else None
    for recipient in spec.recipients:
        key = delivery_key(job_id, "email", recipient)
        if _settled(previous, key):
            out.skipped += 1
            continue
        if breaker is not None and not breakers.allow(rt.redis, breaker):
            out.fail(
                f"e-mail to {recipient}: the mail server failed repeatedly; trying later", transient=True
            )
            continue
        try:
            result = mailer.send(build_message(spec, recipient), recipient)
        except DeliveryFailed as exc:
            _record(rt, job_id, "email", recipient, key, error=exc)
            if breaker is not None and exc.transient:
                breakers.record(rt.redis, breaker, False)
            out.fail(exc.message, transient=exc.transient)
            continue
        _record(rt, job_id, "email", recipient, key, message_id=result.message_id)
        previous[key] = ("sent", None)
        if breaker is not None:
            breakers.record(rt.redis, breaker, True)
        out.sent += 1


# --------------------------------------------------------------------------- webhooks
def post_signed(
    rt: Runtime,
    job_id: int,
    fired: Fired,
    *,
    slot: str,
    url: str,
    secret: str,
    event: str,
    body: dict[str, Any],
    previous: Previous,
    out: Outcome,
    on_sent: Callable[[WebhookResult], None] | None = None,
    on_failed: Callable[[WebhookFailed], None] | None = None,
) -> None:
    """POST ``body`` once (signed with the tenant's secret ``secret``) unless an earlier attempt did.

    ``slot`` tells the trigger's actions apart (``actions.2``): two actions to one URL are two
    deliveries.
    """
    key = delivery_key(job_id, "webhook", f"{slot}|{event}|{url}")
    origin = _origin(url)
    if _settled(previous, key):
        out.skipped += 1
        return
    host = (urlsplit(url).hostname or "").lower()
    breaker = f"destination:webhook:{host}"
    if not breakers.allow(rt.redis, breaker):
        out.fail(f"{slot}.url: {origin} failed repeatedly; trying later", transient=True)
        return
    req = WebhookRequest(
        url=url,
        payload=body,
        secret=signing_secret(rt.settings.secret_key, fired.tenant_id, secret).encode(),
        idempotency_key=f"alert-{fired.alert_id}-{slot}-{event}",
        event_type=event,
    )
    try:
        result = post_webhook(
            req,
            allow_private=rt.settings.webhook_allow_private,
            allowed_hosts=rt.settings.webhook_allowed_hosts,
        )
    except WebhookFailed as exc:
        _record(rt, job_id, "webhook", origin, key, error=exc)
        if exc.transient:
            breakers.record(rt.redis, breaker, False)
        out.fail(f"{slot}.{exc.message}", transient=exc.transient)
        if on_failed is not None:
            on_failed(exc)
        return
    _record(rt, job_id, "webhook", origin, key, message_id=f"HTTP {result.status_code}")
    previous[key] = ("sent", None)
    breakers.record(rt.redis, breaker, True)
    out.sent += 1
    if on_sent is not None:
        on_sent(result)


def _external_ref(result: WebhookResult) -> str | None:
    """The ticket id the external system answered (``id``, ``key`` or ``ref`` of a JSON object)."""
    try:
        doc = json.loads(result.body) if result.body and not result.truncated else None
    except ValueError:
        return None
    if isinstance(doc, dict):
        for name in ("id", "key", "ref"):
            value = doc.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()[:200]
    return None


def _mark_ticket(rt: Runtime, ticket_id: int, status: str, ref: str | None = None) -> None:
    values: dict[str, Any] = {"external_status": status}
    if ref is not None:
        values["external_ref"] = ref
    with transaction(rt.sessions) as s:
        s.execute(update(AlertTicket).where(AlertTicket.id == ticket_id).values(**values))


def send_ticket(
    rt: Runtime,
    job_id: int,
    fired: Fired,
    index: int,
    action: OpenTicketAction,
    previous: Previous,
    out: Outcome,
) -> None:
    """Send the ticket the alert opened to the external system, if the action names one."""
    ticket_id = fired.tickets.get(index)
    if action.url is None or action.secret is None or ticket_id is None:
        return
    body = {
        "event": "ticket.opened",
        "ticket": {"id": ticket_id, "title": action.title or fired.name, "body": fired.reason},
        "alert": fired.summary(),
    }

    def sent(result: WebhookResult) -> None:
        _mark_ticket(rt, ticket_id, "sent", _external_ref(result))

    def failed(exc: WebhookFailed) -> None:
        _mark_ticket(rt, ticket_id, "retrying" if exc.transient else "failed")

    post_signed(
        rt,
        job_id,
        fired,
        slot=f"actions.{index}",
        url=action.url,
        secret=action.secret,
        event="ticket.opened",
        body=body,
        previous=previous,
        out=out,
        on_sent=sent,
        on_failed=failed,
    )


def deliver(rt: Runtime, job_id: int, fired: Fired, actions: Sequence[Any]) -> Outcome:
    """Send every e-mail, webhook and external ticket of ``actions`` not sent by an earlier attempt.

    In-app notifications, tickets and report runs are rows written with the alert itself; only
    what leaves the portal is sent here.
    """
    previous = previous_deliveries(rt.sessions, job_id)
    out = Outcome()
    for i, action in enumerate(actions):
        if isinstance(action, EmailAction):
            send_email(rt, job_id, fired, action, previous, out)
        elif isinstance(action, WebhookAction):
            body = {"event": "alert.fired", "alert": fired.summary()}
            post_signed(
                rt,
                job_id,
                fired,
                slot=f"actions.{i}",
                url=action.url,
                secret=action.secret,
                event="alert.fired",
                body=body,
                previous=previous,
                out=out,
            )
        elif isinstance(action, OpenTicketAction):
            send_ticket(rt, job_id, fired, i, action, previous, out)
    if out.failures:
        log.warning("alert %s: %d delivery failure(s): %s", fired.alert_id, len(out.failures), out.failures)
    return out
