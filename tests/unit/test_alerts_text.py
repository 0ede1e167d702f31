"""Pure parts of triggers and alerts: the condition in words, JSON-safe values, the e-mail's text,
and the webhook signing secrets (derived per tenant and name, never stored)."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest

from portal.alerts.delivery import Fired, email_text
from portal.alerts.evaluation import evaluation_key, json_value
from portal.alerts.secrets import PREFIX, secret_names, signing_secret, signing_secrets
from portal.alerts.triggers import condition_text, one_line
from portal.notify.webhook import sign
from portal.specs import TriggerSpec

KEY = "k" * 48


def spec(**fields: object) -> TriggerSpec:
    return TriggerSpec.model_validate({"actions": [{"type": "in_app"}], **fields})


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"op": ">", "value": 100}, "row count > 100"),
        ({"metric": "backlog", "op": ">=", "value": 3, "rows": "all"}, "backlog >= 3 in every row"),
        ({"metric": "status", "op": "IN", "value": ["open", "late"]}, "status in ['open', 'late']"),
        (
            {"op": "BETWEEN", "value": [1, 5], "for_consecutive": 3},
            "row count between 1 and 5, 3 times in a row",
        ),
        ({"op": "EXISTS"}, "rows exist"),
        ({"metric": "csat", "op": "EXISTS"}, "csat exists"),
        ({"metric": "team", "op": "==", "value": "Field"}, "team == 'Field'"),
    ],
)
def test_a_condition_reads_as_words(fields: dict[str, object], words: str) -> None:
    assert condition_text(spec(**fields)) == words


def test_one_line_folds_control_characters_and_cuts() -> None:
    assert one_line("a\r\nb\t  c") == "a b c"
    assert len(one_line("x" * 500)) == 200


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (np.int64(7), 7),
        (np.float64(2.5), 2.5),
        (float("nan"), None),
        (float("inf"), None),
        (np.bool_(True), True),
        (decimal.Decimal("1.25"), 1.25),
        (pd.Timestamp("2026-03-01 08:00"), "2026-03-01T08:00:00"),
        (dt.date(2026, 3, 1), "2026-03-01"),
        ("texto", "texto"),
        (None, None),
    ],
)
def test_values_become_plain_json(value: object, plain: object) -> None:
    assert json_value(value) == plain


def test_one_evaluation_key_per_trigger_and_execution() -> None:
    assert evaluation_key(3, 41) == "trigger:3:execution:41" != evaluation_key(3, 42)


def fired(name: str = "Backlog high", severity: str = "crit") -> Fired:
    return Fired(
        alert_id=9,
        tenant_id=1,
        name=name,
        severity=severity,
        created_at="2026-03-01T08:00:00+00:00",
        report_id=4,
        report_name="Chamados",
        trigger_id=2,
        execution_id=77,
        value=120,
        condition="row count > 100",
        reason="row count > 100 (value 120)",
    )


def test_the_email_names_severity_alert_report_value_and_where_to_act() -> None:
    subject, text = email_text(fired())
    assert subject == "[Critical] Backlog high"
    assert "Report: Chamados (#4)" in text and "Value: 120" in text and "/alerts?alert=9" in text
    # A name with line breaks still makes a one-line subject (no header injection).
    subject, _ = email_text(fired("a\r\nBcc: x@example.com", "warn"))
    assert subject == "[Warning] a Bcc: x@example.com" and "\n" not in subject


def test_signing_secrets_are_derived_per_tenant_and_name() -> None:
    one = signing_secret(KEY, 1, "ops_hook")
    assert one.startswith(PREFIX) and len(one) == len(PREFIX) + 64
    assert one == signing_secret(KEY, 1, "ops_hook")  # stable: receivers keep working
    assert one != signing_secret(KEY, 2, "ops_hook")  # tenants never share one
    assert one != signing_secret(KEY, 1, "other")
    assert one != signing_secret("j" * 48, 1, "ops_hook")  # a new portal secret changes them all
    # The whole value is the HMAC key a receiver uses.
    assert len(sign(one.encode(), 1, b"{}")) == 64


def test_a_trigger_lists_the_secrets_its_webhooks_and_tickets_use_once_each() -> None:
    t = TriggerSpec.model_validate(
        {
            "op": "EXISTS",
            "actions": [
                {"type": "webhook", "url": "https://a.example.com/x", "secret": "ops"},
                {"type": "open_ticket", "url": "https://t.example.com/x", "secret": "tickets"},
                {"type": "webhook", "url": "https://b.example.com/x", "secret": "ops"},
                {"type": "email", "recipients": ["ops@example.com"]},
            ],
        }
    )
    assert secret_names(t) == ["ops", "tickets"]
    assert set(signing_secrets(KEY, 1, t)) == {"ops", "tickets"}
    assert signing_secrets(KEY, 1, spec(op="EXISTS")) == {}
