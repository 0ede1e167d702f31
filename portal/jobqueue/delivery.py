"""A job's e-mails: one copy per recipient per job, recorded the moment it is sent.

Each sent copy is recorded in its own short transaction (``deliveries``, keyed by job and
recipient) before the next one goes out, so a job that dies halfway — a worker killed, the
database gone before the work committed — and runs again sends only to the recipients not
yet served: one e-mail each, however many attempts the job takes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Settings
from portal.data.exports import export_frame
from portal.errors import DeliveryFailed
from portal.infra.db import transaction
from portal.jobqueue import breakers
from portal.jobstore import delivery_key, record_delivery, served_recipients
from portal.models import JobRecord
from portal.notify.email import Attachment, DeliveryResult, EmailMessageSpec, deliver, mailer_from_settings

log = logging.getLogger(__name__)

SMTP_RESOURCE = "destination:smtp"


class Delivering(Protocol):
    """What delivery needs of the application context (``portal.context.AppContext`` has it)."""

    settings: Settings
    redis: Redis
    sessions: sessionmaker[Session]


def send_email(ctx: Delivering, record: JobRecord, spec: EmailMessageSpec) -> int:
    """Send ``spec`` for job ``record`` to the recipients it has not reached yet; how many now.

    A failing server raises :class:`~portal.errors.DeliveryFailed` after the copies already
    sent were recorded (the job's retry sends the rest); the SMTP breaker counts the outcome.
    """
    with ctx.sessions() as session:
        served = served_recipients(session, record.id, "email")

    def on_sent(result: DeliveryResult) -> None:
        with transaction(ctx.sessions) as s:
            key = delivery_key(record.id, "email", result.recipient)
            record_delivery(
                s, record.id, "email", result.recipient, key, "sent", message_id=result.message_id
            )

    mailer = mailer_from_settings(ctx.settings.smtp_url, ctx.settings.outbox_dir)
    try:
        sent = deliver(mailer, spec, skip=served, on_sent=on_sent)
    except DeliveryFailed:
        breakers.record(ctx.redis, SMTP_RESOURCE, ok=False)
        raise
    if sent and ctx.settings.smtp_url:
        breakers.record(ctx.redis, SMTP_RESOURCE, ok=True)
    return len(sent)


def email_result(
    ctx: Delivering,
    record: JobRecord,
    recipients: Sequence[str],
    *,
    title: str,
    frame: pd.DataFrame,
    fmt: str = "csv",
    fire_time: Any = None,
) -> int:
    """E-mail a report result as an attachment (``csv`` or ``xlsx``) to ``recipients``."""
    export = export_frame(frame, fmt if fmt in ("csv", "xlsx") else "csv")
    when = f" ({fire_time})" if fire_time else ""
    text = (
        f"{title}{when}\n\n{len(frame):,} row(s) attached as {export.extension.upper()}.\n\n"
        "Sent by Conductor BI for a report schedule."
    )
    spec = EmailMessageSpec(
        sender=ctx.settings.mail_from,
        recipients=tuple(recipients),
        subject=f"Report: {title}"[:200],
        text=text,
        idempotency_key=f"job:{record.id}",
        attachments=(
            Attachment(export.filename(title), export.data, export.content_type.split(";")[0].strip()),
        ),
        tenant_id=record.tenant_id,
    )
    return send_email(ctx, record, spec)
