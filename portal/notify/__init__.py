"""Notifications sent out of the portal: e-mail now (SMTP or an outbox folder), more channels later.

Depends only on :mod:`portal.errors`: jobs, triggers and pages pass the settings' URL and folder in.
"""

from __future__ import annotations

from portal.notify.email import (
    Attachment,
    Clock,
    DeliveryResult,
    EmailMessageSpec,
    Mailer,
    OutboxEntry,
    OutboxMailer,
    SmtpConfig,
    SmtpMailer,
    build_message,
    deliver,
    list_outbox,
    mailer_from_settings,
    message_id,
    parse_address,
    parse_smtp_url,
    read_outbox,
)

__all__ = [
    "Attachment",
    "Clock",
    "DeliveryResult",
    "EmailMessageSpec",
    "Mailer",
    "OutboxEntry",
    "OutboxMailer",
    "SmtpConfig",
    "SmtpMailer",
    "build_message",
    "deliver",
    "list_outbox",
    "mailer_from_settings",
    "message_id",
    "parse_address",
    "parse_smtp_url",
    "read_outbox",
]
