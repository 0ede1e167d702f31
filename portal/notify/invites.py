"""The invitation e-mail: a one-time link with which a new (or reset) user chooses a password.

Sent like every portal mail (SMTP, or the outbox folder in the embedded default, where only
the recipient and the tenant's administrators can read it). Takes primitives only: the
identity services make the link, the web edge and the admin page send it.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path

from portal.errors import DeliveryFailed, InvalidSpec
from portal.notify.email import EmailMessageSpec, deliver, mailer_from_settings

log = logging.getLogger(__name__)


def invite_message(
    *, sender: str, email: str, name: str, url: str, expires_at: datetime, tenant_id: int | None, reset: bool
) -> EmailMessageSpec:
    """The message carrying ``url`` to ``email`` (plain text: the link is the only thing to click)."""
    what = "reset your password" if reset else "choose your password and sign in"
    subject = "Reset your Conductor BI password" if reset else "You are invited to Conductor BI"
    text = (
        f"Hello {name},\n\n"
        f"Open this link to {what}:\n\n{url}\n\n"
        f"The link works once, until {expires_at:%Y-%m-%d %H:%M} UTC. If you did not expect this "
        "message, ignore it.\n\n-- Conductor BI\n"
    )
    key = "invite:" + hashlib.sha256(url.encode()).hexdigest()[:24]
    return EmailMessageSpec(
        sender=sender,
        recipients=(email,),
        subject=subject,
        text=text,
        idempotency_key=key,
        tenant_id=tenant_id,
    )


def send_invite(
    smtp_url: str,
    outbox: Path,
    *,
    sender: str,
    email: str,
    name: str,
    url: str,
    expires_at: datetime,
    tenant_id: int | None,
    reset: bool = False,
) -> bool:
    """Send the invitation; False (logged, never raised) when it could not be delivered,
    so the administrator can hand the link over another way."""
    try:
        spec = invite_message(
            sender=sender,
            email=email,
            name=name,
            url=url,
            expires_at=expires_at,
            tenant_id=tenant_id,
            reset=reset,
        )
        deliver(mailer_from_settings(smtp_url, outbox), spec)
    except (DeliveryFailed, InvalidSpec, OSError) as exc:
        log.warning("invitation to user of tenant %s not delivered: %s", tenant_id, exc)
        return False
    return True
