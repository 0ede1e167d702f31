"""PII rules applied to an event BEFORE anything is stored (the raw log included).

A tenant's rules name fields and what to do with them: ``mask`` (keep the last 4 characters),
``hash`` (HMAC-SHA256 under a per-tenant key derived from the portal's secret key: the same
value always gives the same token inside one tenant, so distinct counts still work, but a
dictionary of e-mails hashed with plain SHA-256 cannot reverse it) or ``drop``. Without rules of
its own a tenant gets :data:`DEFAULT_RULES` (e-mails hashed, phones and CPF-like ids masked).
Rules apply to ``properties`` (nested objects included) and to the ``customer`` dimension.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.errors import InvalidSpec
from portal.events.schema import Event

ACTIONS = ("mask", "hash", "drop")
#: Field-name patterns and their action when a tenant has not configured its own.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    (r"e[-_]?mail", "hash"),
    (r"phone|telefone|mobile|celular|whatsapp_number", "mask"),
    (r"^(cpf|cnpj|ssn|rg|tax_id|document)$", "mask"),
)
_DEFAULT_COMPILED = tuple((re.compile(p), a) for p, a in DEFAULT_RULES)
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
MAX_RULES = 100


@dataclass(frozen=True)
class PiiPolicy:
    """What to do with each field name (exact names, case-insensitive; then default patterns)."""

    key: bytes
    fields: Mapping[str, str]
    use_defaults: bool = True

    def action_for(self, name: str) -> str | None:
        """The action for a field called ``name`` (None: keep it as it is)."""
        low = name.lower()
        if low in self.fields:
            return self.fields[low]
        return _default_action(low) if self.use_defaults else None


@functools.lru_cache(maxsize=4096)
def _default_action(low: str) -> str | None:
    # Field names repeat across events: the patterns run once per name.
    for pattern, action in _DEFAULT_COMPILED:
        if pattern.search(low):
            return action
    return None


def tenant_key(secret_key: str, tenant_id: int) -> bytes:
    """The tenant's HMAC key: derived from the portal secret, different for every tenant."""
    return hmac.new(secret_key.encode(), f"events-pii:{tenant_id}".encode(), hashlib.sha256).digest()


def parse_rules(data: Any) -> tuple[dict[str, str], bool]:
    """``{"fields": {"email": "hash"}, "defaults": true}`` checked; InvalidSpec names the field."""
    if not isinstance(data, dict):
        raise InvalidSpec('pii: an object like {"fields": {"email": "hash"}}', field="pii")
    fields = data.get("fields", {})
    if not isinstance(fields, dict) or len(fields) > MAX_RULES:
        raise InvalidSpec(f"pii.fields: an object of at most {MAX_RULES} field names", field="pii.fields")
    out: dict[str, str] = {}
    for name, action in fields.items():
        if not isinstance(name, str) or not _FIELD_RE.match(name):
            raise InvalidSpec(f"pii.fields: {str(name)[:60]!r} is not a field name", field="pii.fields")
        if action not in ACTIONS:
            raise InvalidSpec(f"pii.fields.{name}: one of {', '.join(ACTIONS)}", field=f"pii.fields.{name}")
        out[name.lower()] = str(action)
    defaults = data.get("defaults", True)
    if not isinstance(defaults, bool):
        raise InvalidSpec("pii.defaults: true or false", field="pii.defaults")
    return out, defaults


def policy(secret_key: str, tenant_id: int, rules: Mapping[str, Any] | None) -> PiiPolicy:
    """The tenant's policy from its stored rules (``event_settings.pii_json``)."""
    fields, defaults = parse_rules(rules or {})
    return PiiPolicy(tenant_key(secret_key, tenant_id), fields, defaults)


def mask(value: Any) -> str:
    """All but the last 4 characters replaced by ``*`` (values of 4 characters or less: all)."""
    text = str(value)
    keep = 4 if len(text) > 4 else 0
    return "*" * (len(text) - keep) + text[len(text) - keep :]


def hash_value(key: bytes, value: Any) -> str:
    """A stable pseudonym: ``h:`` and the first 32 hex digits of HMAC-SHA256 of the normalised value."""
    text = str(value).strip().lower()
    return "h:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _apply(pol: PiiPolicy, action: str, value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        # A structured value under a sensitive name: nothing of it can be kept safely.
        return None if action == "drop" or value is None else hash_value(pol.key, repr(value))
    return mask(value) if action == "mask" else hash_value(pol.key, value)


def scrub(pol: PiiPolicy, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every configured field masked, hashed or dropped, nested objects included."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        action = pol.action_for(key)
        if action == "drop":
            continue
        if action is not None:
            out[key] = _apply(pol, action, value)
        elif isinstance(value, dict):
            out[key] = scrub(pol, value)
        elif isinstance(value, list):
            out[key] = [scrub(pol, v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def protect(pol: PiiPolicy, event: Event) -> Event:
    """The event as it may be stored: properties scrubbed; the ``customer`` dimension too when a
    rule names it (it is a key other events join on, so hashing keeps it countable)."""
    dims = event.dimensions
    action = pol.action_for("customer") if "customer" in dims else None
    if action is not None:
        dims = dict(dims)
        if action == "drop":
            dims.pop("customer")
        else:
            dims["customer"] = _apply(pol, action, dims["customer"])
    props = scrub(pol, event.properties) if event.properties else event.properties
    return Event(event.event_id, event.type, event.occurred_at, dims, event.measures, props)
