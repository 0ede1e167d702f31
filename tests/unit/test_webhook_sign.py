"""Webhook signatures (sign/verify), the request's validation and headers, and the retry policy."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import ssl

import pytest
import requests
import urllib3

from portal.errors import DeliveryFailed, InvalidSpec
from portal.notify import (
    HostNotFound,
    WebhookRequest,
    is_transient,
    retry_delay,
    sign,
    signature_header,
    verify,
)
from portal.notify.webhook import _redact

SECRET = b"whsec_0123456789abcdef"
BODY = b'{"event":"alert.fired","value":42}'
T = 1_767_225_600


def test_sign_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(SECRET, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == expected
    assert len(expected) == 64
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_a_signature_verifies_within_the_tolerance():
    header = signature_header(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T)
    assert verify(SECRET, header, BODY, now=T + 300)
    assert verify(SECRET, header, BODY, now=T - 300)  # a receiver clock slightly behind
    assert not verify(SECRET, header, BODY, now=T + 301)
    assert not verify(SECRET, header, BODY, now=T - 301)
    assert verify(SECRET, header, BODY, now=T + 3600, tolerance=3600)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed
        lambda h, b: (h, b.replace(b"42", b"43")),
        lambda h, b: (h.replace(f"t={T}", f"t={T + 1}"), b),  # timestamp changed
        lambda h, b: (h[:-1] + ("0" if h[-1] != "0" else "1"), b),  # signature changed
        lambda h, b: (h.split(",")[1], b),  # no timestamp
        lambda h, b: (h.split(",")[0], b),  # no signature
        lambda h, b: ("", b),
        lambda h, b: ("garbage", b),
        lambda h, b: (f"t=abc,{h.split(',')[1]}", b),
        lambda h, b: (f"{h},t={T}", b),  # two timestamps
        lambda h, b: (h.replace("v1=", "v0="), b),  # unknown scheme only
    ],
)
def test_tampering_fails_verification(tamper):
    header, body = tamper(signature_header(SECRET, T, BODY), BODY)
    assert not verify(SECRET, header, body, now=T)


def test_another_secret_does_not_verify_and_a_rotation_header_does():
    header = signature_header(SECRET, T, BODY)
    other = b"whsec_another-secret-value"
    assert not verify(other, header, BODY, now=T)
    rotating = f"{header},v1={sign(other, T, BODY)}"
    assert verify(SECRET, rotating, BODY, now=T) and verify(other, rotating, BODY, now=T)


def test_sign_rejects_an_empty_secret_and_a_non_int_timestamp():
    with pytest.raises(ValueError):
        sign(b"", T, BODY)
    with pytest.raises(TypeError):
        sign(SECRET, "1767225600", BODY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sign(SECRET, True, BODY)


# --------------------------------------------------------------------------- the request
def request(**kw) -> WebhookRequest:
    args = {
        "url": "https://hooks.example.com/conductor",
        "payload": {"event": "alert.fired", "report": "Tickets", "value": 42, "name": "São Paulo"},
        "secret": SECRET,
        "idempotency_key": "trigger:7:fire:2026-01-01T00:00Z",
        "event_type": "alert.fired",
    }
    return WebhookRequest(**(args | kw))


def test_the_body_is_compact_utf8_json_and_the_headers_are_signed():
    req = request()
    assert json.loads(req.body) == req.payload
    assert "São Paulo".encode() in req.body and b": " not in req.body
    headers = req.headers(T)
    assert headers["Idempotency-Key"] == "trigger:7:fire:2026-01-01T00:00Z"
    assert headers["X-Conductor-Event"] == "alert.fired"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert verify(SECRET, headers["X-Conductor-Signature"], req.body, now=T)
    assert SECRET.decode() not in repr(req)


def test_a_str_secret_is_encoded():
    assert request(secret=SECRET.decode()).secret == SECRET


@pytest.mark.parametrize(
    ("kw", "fld"),
    [
        ({"secret": b""}, "secret"),
        ({"secret": b"short"}, "secret"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"idempotency_key": "a\r\nX-Evil: 1"}, "idempotency_key"),
        ({"event_type": "alert fired"}, "event_type"),
        ({"event_type": ""}, "event_type"),
        ({"payload": {"v": float("nan")}}, "payload"),
        ({"payload": {"when": object()}}, "payload"),
        ({"url": ""}, "url"),
    ],
)
def test_bad_requests_are_errors_naming_the_field(kw, fld):
    with pytest.raises(InvalidSpec) as info:
        request(**kw)
    assert info.value.field == fld
    assert info.value.message.startswith(f"{fld}: ")


def test_redaction_removes_the_secret_in_every_form():
    text = f"x {SECRET.decode()} y {SECRET.hex()} z"
    assert _redact(text, SECRET) == "x *** y *** z"


# --------------------------------------------------------------------------- retry policy
def test_retry_delay_grows_exponentially_with_jitter_inside_the_step():
    rng = random.Random(7)
    for attempt in range(1, 12):
        step = min(300, 2 * 2 ** (attempt - 1))
        for _ in range(50):
            d = retry_delay(attempt, rng=rng)
            assert step / 2 <= d <= step
    delays = {retry_delay(3, rng=rng) for _ in range(20)}
    assert len(delays) > 1  # jittered, not a fixed value


def test_retry_delay_is_capped_and_survives_huge_attempts():
    rng = random.Random(1)
    assert 150 <= retry_delay(10_000, rng=rng) <= 300
    assert 5 <= retry_delay(8, base=1, cap=10, rng=rng) <= 10


def test_retry_delay_is_reproducible_with_a_seeded_rng():
    a = [retry_delay(i, rng=random.Random(42)) for i in range(1, 6)]
    b = [retry_delay(i, rng=random.Random(42)) for i in range(1, 6)]
    assert a == b


def test_retry_delay_honours_retry_after_up_to_the_cap():
    rng = random.Random(3)
    assert retry_delay(1, rng=rng, retry_after=120) == 120
    assert retry_delay(1, rng=rng, retry_after=10_000) == 300


def test_retry_delay_rejects_attempt_zero():
    with pytest.raises(ValueError):
        retry_delay(0, rng=random.Random())


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        *[(500, True), (502, True), (503, True), (599, True), (429, True), (408, True)],
        *[(400, False), (401, False), (403, False), (404, False), (410, False), (422, False)],
        *[(301, False), (302, False)],
    ],
)
def test_status_codes(status, transient):
    assert is_transient(status) is transient


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (requests.exceptions.ConnectTimeout(), True),
        (requests.exceptions.ReadTimeout(), True),
        (requests.exceptions.ConnectionError(), True),
        (requests.exceptions.ChunkedEncodingError(), True),
        (urllib3.exceptions.ProtocolError("reset"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (requests.exceptions.InvalidURL(), False),
        (requests.exceptions.SSLError(ssl.SSLCertVerificationError("bad cert")), False),
        (DeliveryFailed("x", transient=True), True),
        (DeliveryFailed("x", transient=False), False),
        (HostNotFound("url: x", transient=True), True),
        (HostNotFound("url: x", transient=False), False),
        (ValueError("bug"), False),
    ],
)
def test_exceptions(exc, transient):
    assert is_transient(exc) is transient
