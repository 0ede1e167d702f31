"""The pure rules of share links: the request spec, the viewer's signed grant, IP allowlists, the
link's scope (never wider than its creator's) and the framing policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from portal.errors import InvalidSpec
from portal.identity.scope import Scope
from portal.models import ShareToken
from portal.sharing.tokens import _within, check_grant, hash_token, ip_allowed, sign_grant, token_scope
from portal.specs.share import MAX_EXPIRY, ShareRequest, origin
from portal.web.httpsecurity import add_security_headers
from portal.web.pub import frame_csp

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_request_normalises_cidrs_and_origins() -> None:
    r = ShareRequest.model_validate(
        {
            "object_type": "dashboard",
            "object_id": 3,
            "ip_allowlist": ["10.1.2.3/8", "2001:db8::1"],
            "frame_origins": ["https://Intranet.Example.com/", "http://localhost:8080"],
        }
    )
    assert r.ip_allowlist == ["10.0.0.0/8", "2001:db8::1/128"]
    assert r.frame_origins == ["https://intranet.example.com", "http://localhost:8080"]
    assert r.permissions == ["viewer"] and r.mode == "no_login"


@pytest.mark.parametrize(
    "bad",
    [
        "https://*.example.com",
        "javascript:alert(1)",
        "https://example.com/path",
        "https://user:pw@example.com",
        "https://example.com?x=1",
        "example.com",
        "https://exa mple.com",
        "https://example.com;script-src *",
    ],
)
def test_origins_are_exact(bad: str) -> None:
    with pytest.raises(ValueError):
        origin(bad)


def test_expiry_defaults_to_30_days_and_is_bounded() -> None:
    r = ShareRequest.model_validate({"object_type": "report", "object_id": 1})
    assert r.expiry(NOW) == NOW + timedelta(days=30)
    late = ShareRequest.model_validate(
        {
            "object_type": "report",
            "object_id": 1,
            "expires_at": (NOW + MAX_EXPIRY + timedelta(days=1)).isoformat(),
        }
    )
    with pytest.raises(InvalidSpec, match="expires_at"):
        late.expiry(NOW)
    with pytest.raises(ValidationError, match="time zone"):
        ShareRequest.model_validate(
            {"object_type": "report", "object_id": 1, "expires_at": "2027-01-01T00:00:00"}
        )


def test_a_grant_is_signed_and_expires() -> None:
    grant = sign_grant("secret", 7, 42, now=1000.0)
    assert check_grant("secret", grant, now=1001.0) == (7, 42)
    assert check_grant("other secret", grant, now=1001.0) is None
    assert check_grant("secret", grant, now=1000.0 + 13 * 3600) is None
    token, viewer, exp, mac = grant.split(".")
    assert check_grant("secret", f"8.{viewer}.{exp}.{mac}", now=1001.0) is None  # tampered id
    assert check_grant("secret", sign_grant("secret", 7, None, now=1000.0), now=1001.0) == (7, None)
    assert check_grant("secret", "", now=1.0) is None and check_grant("secret", "a.b.c.d", now=1.0) is None


def test_ip_allowlists() -> None:
    t = ShareToken(ip_whitelist_json=["203.0.113.0/24", "2001:db8::/32"])
    assert ip_allowed(t, "203.0.113.9") and ip_allowed(t, "2001:db8::5")
    assert not ip_allowed(t, "198.51.100.1") and not ip_allowed(t, "not an ip")
    assert ip_allowed(ShareToken(ip_whitelist_json=[]), "198.51.100.1")


def test_a_link_scope_narrows_and_is_never_wider_than_its_creators() -> None:
    creator = Scope.of("acme", locations=[1, 2, 3])
    wanted = token_scope("acme", {"location_ids": [2, 3], "customer_id": 9})
    _within(creator, wanted)
    narrowed = creator.narrow(wanted)
    assert narrowed.location_ids == frozenset({2, 3}) and narrowed.customer_ids == frozenset({9})
    with pytest.raises(InvalidSpec, match=r"scope.location_ids: \[4\]"):
        _within(creator, token_scope("acme", {"location_ids": [3, 4]}))
    # A creator without a location restriction may restrict a link to any locations.
    _within(Scope.of("acme"), token_scope("acme", {"location_ids": [99]}))


def test_tokens_are_stored_as_sha256() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_framing_follows_the_token() -> None:
    assert frame_csp([]).endswith("frame-ancestors 'none'")
    assert "frame-ancestors https://a.example https://b.example" in frame_csp(
        ["https://a.example", "https://b.example"]
    )
    framed: dict[str, str] = {"Content-Security-Policy": frame_csp(["https://a.example"])}
    add_security_headers(framed)  # type: ignore[arg-type]
    assert "X-Frame-Options" not in framed
    closed: dict[str, str] = {"Content-Security-Policy": "default-src 'none'"}
    add_security_headers(closed)  # type: ignore[arg-type]
    assert closed["X-Frame-Options"] == "DENY"  # a policy without frame-ancestors keeps the header
