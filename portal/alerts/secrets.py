"""Signing secrets of trigger webhooks, named per tenant and derived from the portal's secret.

A webhook action names its secret (``"secret": "ops_hook"``). The value is derived, not stored:
HMAC of ``(tenant, name)`` under a key derived from ``CONDUCTOR_SECRET_KEY``. The same name in
the same tenant always signs with the same value (several triggers can share a receiver), two
tenants never share one, and nothing secret sits in the database. The value is shown to whoever
saves a trigger using it (``POST /api/reports/{id}/trigger`` answers it), so they can configure
the receiver; changing ``CONDUCTOR_SECRET_KEY`` changes every value, like the session cookies.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.infra.crypto import sign
from portal.specs.triggers import OpenTicketAction, TriggerSpec, WebhookAction

#: Prefix of the shown value (a receiver can tell what kind of secret it holds).
PREFIX = "whsec_"


def signing_secret(secret_key: str, tenant_id: int, name: str) -> str:
    """The signing secret called ``name`` in tenant ``tenant_id``: ``whsec_`` + 64 hex digits.

    Receivers use the whole string (prefix included, UTF-8) as the HMAC key of
    :func:`portal.notify.webhook.verify`.
    """
    return PREFIX + sign(secret_key, f"trigger-webhook-secret:v1:{tenant_id}:{name}")


def secret_names(spec: TriggerSpec) -> list[str]:
    """The secret names the trigger's webhook and ticket actions use, in order, once each."""
    names: Iterable[str | None] = (
        a.secret for a in spec.actions if isinstance(a, WebhookAction | OpenTicketAction)
    )
    return list(dict.fromkeys(n for n in names if n))


def signing_secrets(secret_key: str, tenant_id: int, spec: TriggerSpec) -> dict[str, str]:
    """``{name: value}`` of every secret the trigger uses (what its author configures receivers with)."""
    return {n: signing_secret(secret_key, tenant_id, n) for n in secret_names(spec)}
