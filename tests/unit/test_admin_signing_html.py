"""The PDF signing page's status card: escaping, the expiry warning, the not-configured note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.admin_signing_html import (
    NOT_CONFIGURED,
    chosen_file_html,
    esc,
    expiry_warning,
    field_error_html,
    parse_moment,
    status_card_html,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)>"


def info(**over: Any) -> dict[str, Any]:
    """A configuration as ``signing_config_to_dict`` gives it, plus the page's extras."""
    base: dict[str, Any] = {
        "configured": True,
        "subject": "CN=Acme Signer,O=Acme,C=BE",
        "issuer": "CN=Acme CA,O=Acme,C=BE",
        "not_after": (NOW + timedelta(days=200)).isoformat(),
        "expired": False,
        "tsa_url": "https://tsa.example.com/tsr",
        "reason": "Approved",
        "location": "Brussels",
        "enabled": True,
        "updated_by": 3,
        "updated_at": (NOW - timedelta(days=1)).isoformat(),
        "valid_from": NOW - timedelta(days=30),
        "updated_by_label": "Ada (admin@acme.example.com)",
    }
    return {**base, **over}


@pytest.mark.parametrize("missing", [None, {"configured": False}, {}])
def test_not_configured(missing: Any) -> None:
    out = status_card_html(missing, NOW)
    assert out == NOT_CONFIGURED
    assert "No signing certificate is configured" in out
    assert "signing-none" in out


def test_configured_card_lists_everything_but_the_secret() -> None:
    out = status_card_html(info(), NOW)
    for text in (
        "CN=Acme Signer,O=Acme,C=BE",
        "CN=Acme CA,O=Acme,C=BE",
        "2026-11-03 12:00 UTC",  # valid from
        "2027-06-21 12:00 UTC",  # valid until
        "https://tsa.example.com/tsr",
        "Approved",
        "Brussels",
        "on: PDF renders are signed",
        "2026-12-02 12:00 UTC by Ada (admin@acme.example.com)",
    ):
        assert text in out, text
    assert "signing-warning" not in out
    assert "password" not in out.lower()


def test_hostile_values_are_escaped_everywhere() -> None:
    fields = ("subject", "issuer", "tsa_url", "reason", "location", "updated_by_label")
    out = status_card_html(info(**dict.fromkeys(fields, HOSTILE)), NOW)
    assert "<img" not in out
    assert out.count("&lt;img src=x onerror=alert(1)&gt;") == len(fields)
    assert "<script" not in field_error_html(f"password: <script>{HOSTILE}</script>")
    assert "&lt;script&gt;" in field_error_html("reason: <script>")


def test_disabled_and_absent_optionals() -> None:
    out = status_card_html(
        info(enabled=False, tsa_url=None, reason="", location=None, valid_from=None, updated_by_label=None),
        NOW,
    )
    assert "off: PDF renders are not signed" in out
    assert out.count(">none<") == 3
    assert "Valid from" in out and "unknown" in out
    assert "2026-12-02 12:00 UTC</td>" in out  # no "by ..." when the author is unknown


@pytest.mark.parametrize(
    ("days", "level", "words"),
    [
        (200, None, None),
        (30, None, None),
        (29, "expiring", "expires in 29 days"),
        (1.5, "expiring", "expires in 1 day "),
        (0.2, "expiring", "expires in less than a day"),
        (0, "expired", "expired on 2026-12-03 12:00 UTC"),
        (-3, "expired", "expired on 2026-11-30 12:00 UTC"),
    ],
)
def test_expiry_warning(days: float, level: str | None, words: str | None) -> None:
    found = expiry_warning(NOW + timedelta(days=days), NOW)
    if level is None:
        assert found is None
        assert "signing-warning" not in status_card_html(info(not_after=NOW + timedelta(days=days)), NOW)
        return
    assert found is not None and found[0] == level and words in found[1]
    card = status_card_html(info(not_after=(NOW + timedelta(days=days)).isoformat()), NOW)
    assert f"signing-warning signing-{level}" in card and esc(words) in card


def test_expiry_warning_without_expiry() -> None:
    assert expiry_warning(None, NOW) is None


def test_parse_moment() -> None:
    assert parse_moment("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_moment("2026-01-02T03:04:05+01:00") == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert parse_moment(datetime(2026, 1, 2)) == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_moment("not a date") is None
    assert parse_moment(None) is None
    assert field_error_html("") == ""


def test_chosen_file() -> None:
    assert chosen_file_html(None, 0) == ""
    out = chosen_file_html(f"{HOSTILE}.p12", 4096)
    assert "<img" not in out and "&lt;img" in out and "4,096 bytes" in out
