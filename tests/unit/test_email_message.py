"""E-mail without a server: SMTP_URL parsing, message spec validation and MIME building."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from portal.errors import ConfigError, InvalidSpec
from portal.notify import (
    Attachment,
    EmailMessageSpec,
    OutboxMailer,
    SmtpMailer,
    build_message,
    mailer_from_settings,
    parse_smtp_url,
)

NOW = dt.datetime(2026, 3, 9, 8, 30, tzinfo=dt.UTC)


def make(**changes) -> EmailMessageSpec:
    fields = {
        "sender": "Conductor BI <bi@conductor.example>",
        "recipients": ("ana@example.com",),
        "subject": "Relatório de chamados — março",
        "text": "Olá!",
        "idempotency_key": "job:7",
    }
    return EmailMessageSpec(**{**fields, **changes})


# --------------------------------------------------------------------------- SMTP_URL
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, False, False, "", "")),
        ("smtp://mail.example.com:2525", ("mail.example.com", 2525, False, False, "", "")),
        ("smtp://mail.example.com?starttls=1", ("mail.example.com", 587, False, True, "", "")),
        (
            "smtps://u%40corp:p%3Aw%2Fd@mail.example.com",
            ("mail.example.com", 465, True, False, "u@corp", "p:w/d"),
        ),
        (
            "smtp://bi:pw@mail.example.com:587?starttls=true",
            ("mail.example.com", 587, False, True, "bi", "pw"),
        ),
        ("smtp://bi:pw@localhost:1025", ("localhost", 1025, False, False, "bi", "pw")),
        ("smtp://[::1]:1025", ("::1", 1025, False, False, "", "")),
    ],
)
def test_smtp_urls_parse(url, expected):
    c = parse_smtp_url(url)
    assert (c.host, c.port, c.implicit_tls, c.starttls, c.username, c.password) == expected
    assert c.timeout == 30.0


def test_timeout_comes_from_the_caller_or_the_url():
    assert parse_smtp_url("smtp://h.example", timeout=4).timeout == 4
    assert parse_smtp_url("smtp://h.example?timeout=2.5").timeout == 2.5


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://mail.example.com", "scheme must be smtp or smtps"),
        ("smtpx://mail.example.com", "did you mean 'smtp'"),
        ("mail.example.com:25", "scheme must be smtp or smtps"),
        ("smtp://", "has no host"),
        ("smtp://mail.example.com:99999", "port must be a number from 1 to 65535"),
        ("smtp://mail.example.com:abc", "port must be a number"),
        ("smtp://mail.example.com/inbox", "must not have a path"),
        ("smtp://mail.example.com?startls=1", "unknown parameter 'startls'; did you mean 'starttls'?"),
        ("smtp://mail.example.com?timeout=soon", "timeout must be a number of seconds"),
        ("smtp://mail.example.com?timeout=0", "timeout must be between 0 and 600"),
        ("smtps://mail.example.com?starttls=1", "smtps already uses TLS"),
        ("smtp://bi:hunter2@mail.example.com", "would travel in clear"),
    ],
)
def test_malformed_smtp_urls_name_smtp_url(url, words):
    with pytest.raises(ConfigError) as e:
        parse_smtp_url(url)
    assert e.value.field == "SMTP_URL"
    assert e.value.message.startswith("SMTP_URL: ")
    assert words in e.value.message


def test_errors_never_repeat_the_password():
    with pytest.raises(ConfigError) as e:
        parse_smtp_url("smtp://bi:hunter2@mail.example.com:70000")
    assert "hunter2" not in e.value.message and "bi:***@" in e.value.message
    assert "hunter2" not in repr(parse_smtp_url("smtps://bi:hunter2@mail.example.com"))


def test_mailer_from_settings(tmp_path: Path):
    outbox = mailer_from_settings("", tmp_path / "outbox")
    assert isinstance(outbox, OutboxMailer) and outbox.folder == tmp_path / "outbox"
    assert isinstance(mailer_from_settings("  ", tmp_path), OutboxMailer)
    smtp = mailer_from_settings("smtps://mail.example.com", tmp_path, timeout=3)
    assert isinstance(smtp, SmtpMailer) and smtp.config.timeout == 3 and smtp.config.port == 465
    with pytest.raises(ConfigError) as e:
        mailer_from_settings("smtp//mail.example.com", tmp_path)
    assert e.value.field == "SMTP_URL"


# --------------------------------------------------------------------------- the spec
@pytest.mark.parametrize(
    "bad",
    [
        "ana",
        "ana@",
        "@example.com",
        "ana@example..com",
        "ana@exa mple.com",
        "a@b.com, c@d.com",
        "ana@example.com\r\nBcc: all@example.com",
        "Ana <ana@example.com",
        "<>",
        "",
    ],
)
def test_a_bad_recipient_is_an_error_naming_recipients(bad):
    with pytest.raises(InvalidSpec) as e:
        make(recipients=("ok@example.com", bad))
    assert e.value.field == "recipients"
    assert e.value.message.startswith("recipients: ") and "is not an e-mail address" in e.value.message


def test_recipients_must_be_a_non_empty_list():
    for bad in ((), "ana@example.com"):
        with pytest.raises(InvalidSpec) as e:
            make(recipients=bad)
        assert e.value.field == "recipients"


def test_recipients_are_normalized_and_deduplicated():
    spec = make(recipients=["Ana@Example.com", "Ana Souza <ana@example.com>", "João <joao@example.com.br>"])
    assert spec.recipients == ("Ana@Example.com", "joao@example.com.br")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sender": "not an address"}, "sender"),
        ({"subject": "Olá\r\nBcc: everyone@example.com"}, "subject"),
        ({"idempotency_key": "  "}, "idempotency_key"),
        ({"attachments": (Attachment("../../etc/passwd", b"x"),)}, "attachments.0.filename"),
        (
            {"attachments": (Attachment("a.pdf", b"x", "application/pdf"), Attachment("b", b"x", "pdf"))},
            "attachments.1.mime_type",
        ),
    ],
)
def test_other_bad_fields_are_named(changes, field):
    with pytest.raises(InvalidSpec) as e:
        make(**changes)
    assert e.value.field == field and e.value.message.startswith(f"{field}: ")


# --------------------------------------------------------------------------- building
def parse(message):
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes())


def test_text_only_is_a_single_text_part_with_headers_from_the_clock():
    msg = parse(build_message(make(), "ana@example.com", clock=lambda: NOW))
    assert msg.get_content_type() == "text/plain"
    assert msg["Subject"] == "Relatório de chamados — março"
    assert msg["From"] == "Conductor BI <bi@conductor.example>"
    assert msg["To"] == "ana@example.com"
    assert msg["Date"].datetime == NOW
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content().strip() == "Olá!"


def test_html_makes_an_alternative_and_attachments_a_mixed_message():
    alt = parse(build_message(make(html="<p>Olá!</p>"), "ana@example.com", clock=lambda: NOW))
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html"]

    pdf = b"%PDF-1.7\n\x00\x01\x02\xff"
    spec = make(html="<p>Olá!</p>", attachments=(Attachment("relatório.pdf", pdf, "application/pdf"),))
    mixed = parse(build_message(spec, "ana@example.com", clock=lambda: NOW))
    assert mixed.get_content_type() == "multipart/mixed"
    body, att = mixed.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert (att.get_filename(), att.get_content_type(), att.get_content()) == (
        "relatório.pdf",
        "application/pdf",
        pdf,
    )


def test_the_message_id_depends_on_key_and_recipient_only():
    spec = make(recipients=("ana@example.com", "bruno@example.org"))
    first = build_message(spec, "ana@example.com", clock=lambda: NOW)["Message-ID"]
    later = build_message(spec, "ANA@example.com", clock=lambda: NOW + dt.timedelta(days=1))["Message-ID"]
    other_recipient = build_message(spec, "bruno@example.org", clock=lambda: NOW)["Message-ID"]
    other_job = build_message(make(idempotency_key="job:8"), "ana@example.com", clock=lambda: NOW)[
        "Message-ID"
    ]
    assert first == later
    assert len({first, other_recipient, other_job}) == 3
    assert first.startswith("<") and first.endswith("@conductor.example>")


def test_only_a_recipient_of_the_spec_can_get_a_copy():
    with pytest.raises(InvalidSpec) as e:
        build_message(make(), "mallory@example.com", clock=lambda: NOW)
    assert e.value.field == "recipients"


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="aware"):
        build_message(make(), "ana@example.com", clock=lambda: dt.datetime(2026, 3, 9, 8, 30))
