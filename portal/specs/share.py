"""Share tokens: what a link shares, with whom, for how long and from where (``POST /api/share``)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from portal.specs.base import _Spec

ShareObjectType = Literal["dashboard", "widget", "snapshot", "report", "pdf_template", "pdf_render"]
SHARE_OBJECT_TYPES: tuple[str, ...] = (
    "dashboard",
    "widget",
    "snapshot",
    "report",
    "pdf_template",
    "pdf_render",
)
SharePermission = Literal["viewer", "drilldown", "export"]
ShareMode = Literal["no_login", "with_login"]

#: A link lives at most this long (a "forever" link is a year: the creator renews it on purpose).
MAX_EXPIRY = timedelta(days=366)
#: A link without an expiry given lasts this long.
DEFAULT_EXPIRY = timedelta(days=30)
MAX_ALLOWLIST = 50
MAX_ORIGINS = 20


class ShareScope(_Spec):
    """The rows a viewer sees: always within the creator's own scope (never wider).

    ``tenant`` may be given for clarity and must be the creator's tenant; ``groups`` only
    applies to ``with_login`` links (the signed-in viewer must belong to one of them).
    """

    tenant: str | None = Field(default=None, max_length=100)
    customer_id: int | None = Field(default=None, ge=1, le=2**62)
    location_ids: list[int] | None = Field(default=None, max_length=1000)
    contract_ids: list[int] | None = Field(default=None, max_length=1000)
    groups: list[int] | None = Field(default=None, max_length=100)


class ShareRequest(_Spec):
    """The body of ``POST /api/share``."""

    object_type: ShareObjectType
    object_id: int = Field(ge=1, le=2**62)
    mode: ShareMode = "no_login"
    scope: ShareScope = Field(default_factory=ShareScope)
    permissions: list[SharePermission] = Field(
        default_factory=lambda: list[SharePermission](["viewer"]), min_length=1, max_length=3
    )
    expires_at: datetime | None = None
    max_uses: int | None = Field(default=None, ge=1, le=10_000_000)
    ip_allowlist: list[str] = Field(default_factory=list, max_length=MAX_ALLOWLIST)
    frame_origins: list[str] = Field(default_factory=list, max_length=MAX_ORIGINS)
    label: str | None = Field(default=None, max_length=200)

    @field_validator("ip_allowlist")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        out = []
        for i, v in enumerate(values):
            try:
                out.append(str(ipaddress.ip_network(v.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"item {i}: {v[:60]!r} is not an IP address or CIDR (e.g. 203.0.113.0/24)"
                ) from None
        return out

    @field_validator("frame_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [origin(v, i) for i, v in enumerate(values)]

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2027-01-31T23:59:00Z)")
        return value

    def expiry(self, now: datetime) -> datetime:
        """When the link stops working; a past or too distant time is refused naming ``expires_at``."""
        from portal.errors import InvalidSpec

        at = (self.expires_at or now + DEFAULT_EXPIRY).astimezone(UTC)
        if at <= now:
            raise InvalidSpec("expires_at: must be in the future", field="expires_at")
        if at > now + MAX_EXPIRY:
            raise InvalidSpec(
                f"expires_at: at most {MAX_EXPIRY.days} days ahead (renew the link later)", field="expires_at"
            )
        return at


def origin(value: str, index: int = 0) -> str:
    """``https://intranet.example.com[:port]`` as a CSP source; anything with a path, a wildcard
    or another scheme is refused (``frame-ancestors`` takes exact origins here)."""
    raw = value.strip()
    parts = urlsplit(raw)
    ok = (
        parts.scheme in ("http", "https")
        and parts.hostname
        and not parts.username
        and not parts.password
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and all(c.isalnum() or c in ".-:[]" for c in parts.netloc)
    )
    if not ok:
        raise ValueError(f"item {index}: {raw[:80]!r} is not an origin like https://intranet.example.com")
    return f"{parts.scheme}://{parts.netloc.lower()}"
