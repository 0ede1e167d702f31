"""The events pipeline's pure rules: validation, upcasters, PII, buckets, SCD lookups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from portal.errors import InvalidSpec
from portal.events import pii
from portal.events.builds import parse_action
from portal.events.dimensions import Version, check_member, version_at
from portal.events.schema import LATEST, Rejected, validate
from portal.events.snapshots import bucket_start, days_of_weeks, weeks_of

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "type": "ticket_opened",
        "occurred_at": "2026-12-01T09:30:00-03:00",
        "schema_version": 2,
        "dimensions": {"channel": "email", "agent": "ana", "tags": ["b", "a", "a"]},
        "measures": {"first_response_sec": 42},
        "properties": {"subject": "hi"},
    }
    base.update(over)
    return base


def rejected(raw: Any) -> Rejected:
    with pytest.raises(Rejected) as info:
        validate(raw, now=NOW)
    return info.value


def test_valid_event_is_normalised_to_utc() -> None:
    ev = validate(event(), now=NOW)
    assert ev.occurred_at == datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    assert ev.dimensions["tags"] == ["a", "b"]
    assert ev.measures == {"first_response_sec": 42.0}
    rec = ev.record("2026-12-03T12:00:00.000000Z")
    assert (
        rec["occurred_at"] == "2026-12-01T12:30:00.000000Z"
        and rec["schema_version"] == LATEST["ticket_opened"]
    )


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"schema_version": 3}, "schema_version"),
        ({"schema_version": 0}, "schema_version"),
        ({"schema_version": "2"}, "schema_version"),
        ({"schema_version": True}, "schema_version"),
        ({"type": "nope"}, "type"),
        ({"event_id": "x" * 101}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": 5}, "event_id"),
        ({"occurred_at": "2026-12-01T09:30:00"}, "occurred_at"),  # no offset
        ({"occurred_at": "2026-13-01T09:30:00Z"}, "occurred_at"),
        ({"occurred_at": "2036-12-01T09:30:00Z"}, "occurred_at"),  # far future
        ({"occurred_at": "1999-12-01T09:30:00Z"}, "occurred_at"),
        ({"measures": {"x": "1"}}, "measures.x"),
        ({"measures": {"X y": 1}}, "measures.X y"),
        ({"dimensions": {"color": "red"}}, "dimensions.color"),
        ({"dimensions": {"tags": "a,b"}}, "dimensions.tags"),
        ({"extra": 1}, "extra"),
        ({"channel": "email"}, "channel"),  # v2 keeps dimensions under "dimensions"
    ],
)
def test_bad_events_name_the_field(over: dict[str, Any], field: str) -> None:
    assert rejected(event(**over)).field == field


def test_unknown_future_version_names_schema_version() -> None:
    err = rejected(event(schema_version=9))
    assert err.field == "schema_version" and "unknown" in err.reason and "latest is 2" in err.reason


def test_not_an_object() -> None:
    assert rejected([1]).field == "event"


def test_v1_upcast_moves_dimensions_and_converts_ms() -> None:
    raw = {
        "event_id": "old",
        "type": "message_sent",
        "occurred_at": "2026-12-01T10:00:00Z",
        "schema_version": 1,
        "channel": "chat",
        "agent": "bo",
        "tags": "vip, billing,",
        "measures": {"duration_ms": 1500},
    }
    ev = validate(raw, now=NOW)
    assert ev.dimensions == {"channel": "chat", "agent": "bo", "tags": ["billing", "vip"]}
    assert ev.measures == {"duration_sec": 1.5}


def test_csat_v1_score_becomes_1_to_5() -> None:
    raw = {
        "event_id": "c",
        "type": "csat_given",
        "occurred_at": "2026-12-01T10:00:00Z",
        "schema_version": 1,
        "measures": {"score": 9},
    }
    assert validate(raw, now=NOW).measures == {"csat": 4.0}
    raw["measures"] = {"score": 0}
    assert validate(raw, now=NOW).measures == {"csat": 1.0}


# --------------------------------------------------------------------------- PII
def test_default_pii_rules_hash_emails_and_mask_phones() -> None:
    pol = pii.policy("s" * 40, 1, None)
    ev = validate(
        event(
            properties={
                "email": "Ana@Example.com",
                "phone": "+55 11 99999-8888",
                "contact": {"e_mail": "b@x.io", "cpf": "123.456.789-09"},
                "n": 1,
            }
        ),
        now=NOW,
    )
    out = pii.protect(pol, ev).properties
    assert out["email"].startswith("h:") and "example" not in out["email"].lower()
    assert out["phone"].endswith("8888") and out["phone"].startswith("*")
    assert out["contact"]["cpf"] == "**********9-09"
    assert out["contact"]["e_mail"].startswith("h:") and out["n"] == 1


def test_hash_is_keyed_per_tenant_and_not_plain_sha() -> None:
    import hashlib

    a, b = pii.policy("s" * 40, 1, None), pii.policy("s" * 40, 2, None)
    ha, hb = pii.hash_value(a.key, "ana@example.com"), pii.hash_value(b.key, "ana@example.com")
    assert ha != hb
    assert ha == pii.hash_value(a.key, " ANA@example.com ")  # normalised: still one distinct value
    assert ha[2:] not in hashlib.sha256(b"ana@example.com").hexdigest()


def test_configured_rules_drop_and_mask_and_customer() -> None:
    pol = pii.policy("s" * 40, 1, {"fields": {"Notes": "drop", "customer": "hash", "email": "mask"}})
    ev = validate(
        event(properties={"notes": "secret", "email": "ana@example.com"}, dimensions={"customer": "c-1"}),
        now=NOW,
    )
    out = pii.protect(pol, ev)
    assert "notes" not in out.properties
    assert out.properties["email"] == "*" * 11 + ".com"
    assert out.dimensions["customer"].startswith("h:")


def test_mask_short_values_entirely() -> None:
    assert pii.mask("1234") == "****" and pii.mask("12345") == "*2345"


@pytest.mark.parametrize(
    "rules",
    [[], {"fields": {"email": "encrypt"}}, {"fields": {"bad name!": "drop"}}, {"defaults": "yes"}],
)
def test_bad_pii_rules_are_refused(rules: Any) -> None:
    with pytest.raises(InvalidSpec):
        pii.parse_rules(rules)


def test_defaults_can_be_turned_off() -> None:
    pol = pii.policy("s" * 40, 1, {"fields": {}, "defaults": False})
    assert pol.action_for("email") is None


# --------------------------------------------------------------------------- buckets
def test_buckets() -> None:
    t = datetime(2026, 12, 3, 17, 45, 12)  # a Thursday
    assert bucket_start(t, "hour") == datetime(2026, 12, 3, 17)
    assert bucket_start(t, "day") == datetime(2026, 12, 3)
    assert bucket_start(t, "week") == datetime(2026, 11, 30)
    assert weeks_of([date(2026, 12, 3), date(2026, 12, 6), date(2026, 12, 7)]) == [
        date(2026, 11, 30),
        date(2026, 12, 7),
    ]
    assert len(days_of_weeks([date(2026, 11, 30)])) == 7
    with pytest.raises(ValueError):
        bucket_start(t, "month")


# --------------------------------------------------------------------------- SCD
def test_version_at_picks_the_version_valid_then() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(days=30)
    versions = [Version(t0, t1, {"org_unit": "support"}), Version(t1, None, {"org_unit": "sales"})]
    assert version_at(versions, t0 - timedelta(seconds=1)) is None
    assert version_at(versions, t0)
    assert version_at(versions, t1 - timedelta(microseconds=1)).attrs["org_unit"] == "support"  # type: ignore[union-attr]
    assert version_at(versions, t1).attrs["org_unit"] == "sales"  # type: ignore[union-attr]


def test_check_member() -> None:
    key, attrs, since = check_member(
        "agent",
        {"key": "ana", "attrs": {"org_unit": "s"}, "valid_from": "2026-01-01T00:00:00-03:00"},
        now=NOW,
    )
    assert (key, attrs, since) == ("ana", {"org_unit": "s"}, datetime(2026, 1, 1, 3, tzinfo=UTC))
    for kind, body, field in [
        ("planet", {"key": "a"}, "kind"),
        ("agent", {"key": ""}, "key"),
        ("agent", {"key": "a", "valid_from": "2026-01-01T00:00:00"}, "valid_from"),
        ("agent", {"key": "a", "attrs": {"org_unit": 5}}, "attrs.org_unit"),
        ("agent", {"key": "a", "attrs": []}, "attrs"),
    ]:
        with pytest.raises(InvalidSpec) as info:
            check_member(kind, body, now=NOW)
        assert info.value.field == field


def test_parse_action() -> None:
    assert parse_action({"action": "snapshot"}) == ("snapshot", None, None)
    assert parse_action({"action": "backfill", "from": "2026-12-01", "to": "2026-12-02"})[1] == date(
        2026, 12, 1
    )
    for body, field in [
        ({"action": "x"}, "action"),
        ({"action": "backfill", "from": "2026-12-02", "to": "2026-12-01"}, "to"),
        ({"action": "backfill", "from": "nope", "to": "2026-12-01"}, "from"),
        ({"action": "snapshot", "from": "2026-12-01"}, "from"),
    ]:
        with pytest.raises(InvalidSpec) as info:
            parse_action(body)
        assert info.value.field == field
