"""Notifications sent out of the portal: e-mail (SMTP or an outbox folder) and signed webhooks.

Depends only on :mod:`portal.errors` (and ``requests`` for webhooks): jobs, triggers and pages pass
the settings' URL, folder and network policy in. :mod:`portal.notify.netguard` is the SSRF guard
for every outgoing HTTP call (webhooks, REST/JSON sources).
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
from portal.notify.netguard import (
    HostNotFound,
    PinnedAdapter,
    ResolvedTarget,
    address_problem,
    check_url,
    pinned_session,
)
from portal.notify.webhook import (
    WebhookFailed,
    WebhookRequest,
    WebhookResult,
    is_transient,
    post_webhook,
    retry_delay,
    sign,
    signature_header,
    verify,
)

__all__ = [
    "Attachment",
    "Clock",
    "DeliveryResult",
    "EmailMessageSpec",
    "HostNotFound",
    "Mailer",
    "OutboxEntry",
    "OutboxMailer",
    "PinnedAdapter",
    "ResolvedTarget",
    "SmtpConfig",
    "SmtpMailer",
    "WebhookFailed",
    "WebhookRequest",
    "WebhookResult",
    "address_problem",
    "build_message",
    "check_url",
    "deliver",
    "is_transient",
    "list_outbox",
    "mailer_from_settings",
    "message_id",
    "parse_address",
    "parse_smtp_url",
    "pinned_session",
    "post_webhook",
    "read_outbox",
    "retry_delay",
    "sign",
    "signature_header",
    "verify",
]
