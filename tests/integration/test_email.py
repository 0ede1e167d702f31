"""E-mail through a real SMTP server on loopback (aiosmtpd), over plain, STARTTLS and implicit TLS,
and through the outbox folder the embedded default uses."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import portal.notify.email as email_mod
from portal.errors import BadRequest, DeliveryFailed, NotFound
from portal.notify import (
    Attachment,
    EmailMessageSpec,
    OutboxMailer,
    SmtpMailer,
    build_message,
    deliver,
    list_outbox,
    mailer_from_settings,
    read_outbox,
)

UTC = dt.UTC
MARCH = dt.datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n\x00\xff\xfe binary \r\n tail\n%%EOF\n"
SUBJECT = "Relatório semanal: chamados atribuídos — ação necessária"


def spec(
    *recipients: str, key: str = "job:42", html: str | None = "<p>Olá, <b>João</b></p>"
) -> EmailMessageSpec:
    return EmailMessageSpec(
        sender="Conductor BI <bi@conductor.example>",
        recipients=recipients or ("ana@example.com",),
        subject=SUBJECT,
        text="Olá,\nsegue o relatório em anexo.\n",
        html=html,
        attachments=(Attachment("relatório-março.pdf", PDF, "application/pdf"),),
        idempotency_key=key,
    )


# --------------------------------------------------------------------------- the SMTP server
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class Recorder:
    """aiosmtpd handler: keeps what it receives; ``nobody@`` gets a 550, ``busy@`` a 451."""

    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "nobody":
            return "550 5.1.1 <nobody@example.com>: mailbox unavailable"
        if local == "busy":
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", recorder
    controller.stop()


@pytest.fixture
def smtp(server):
    url, recorder = server
    recorder.received.clear()
    return SmtpMailer(url, timeout=5), recorder


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem, key_pem = folder / "cert.pem", folder / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_pem, key_pem)
    client_ctx = ssl.create_default_context(cafile=str(cert_pem))
    return server_ctx, client_ctx


def check_password(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"bi", b"s3cr:t@")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


# --------------------------------------------------------------------------- SMTP
def test_a_message_arrives_with_subject_parts_and_attachment_intact(smtp):
    mailer, recorder = smtp
    result = mailer.send(build_message(spec(), "ana@example.com", clock=lambda: MARCH), "ana@example.com")

    assert len(recorder.received) == 1
    got = recorder.received[0]
    assert got.mail_from == "bi@conductor.example"
    assert got.rcpt_tos == ["ana@example.com"]
    assert got.data.isascii()  # 7-bit clean: no server needs 8BITMIME/SMTPUTF8 for accents
    msg = got.message()
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "ana@example.com"
    assert msg["Message-ID"] == result.message_id
    assert msg["Date"].datetime == MARCH
    # Line ends may be CRLF or LF depending on the transfer encoding; the words must be exact.
    assert (
        msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Olá,\nsegue o relatório em anexo.\n"
    )
    assert msg.get_body(("html",)).get_content().strip() == "<p>Olá, <b>João</b></p>"
    [att] = msg.iter_attachments()
    assert att.get_filename() == "relatório-março.pdf"
    assert att.get_content_type() == "application/pdf"
    assert att.get_content() == PDF
    assert (result.transport, result.recipient, result.location) == (
        "smtp",
        "ana@example.com",
        mailer.config.host + f":{mailer.config.port}",
    )


def test_several_recipients_get_one_copy_each_with_their_own_message_id(smtp):
    mailer, recorder = smtp
    recorded = []
    results = deliver(
        mailer, spec("ana@example.com", "bruno@example.org", "carla@example.net"), on_sent=recorded.append
    )

    assert [r.rcpt_tos for r in recorder.received] == [
        ["ana@example.com"],
        ["bruno@example.org"],
        ["carla@example.net"],
    ]
    assert [r.message()["To"] for r in recorder.received] == [
        "ana@example.com",
        "bruno@example.org",
        "carla@example.net",
    ]
    assert recorded == results
    assert len({r.message_id for r in results}) == 3
    assert [r.message()["Message-ID"] for r in recorder.received] == [r.message_id for r in results]


def test_a_resend_of_the_same_job_and_recipient_has_the_same_message_id(smtp):
    mailer, recorder = smtp
    first = deliver(mailer, spec("ana@example.com"), clock=lambda: MARCH)
    again = deliver(mailer, spec("ana@example.com"), clock=lambda: MARCH + dt.timedelta(hours=1))
    other_job = deliver(mailer, spec("ana@example.com", key="job:43"), clock=lambda: MARCH)
    assert first[0].message_id == again[0].message_id != other_job[0].message_id
    assert recorder.received[0].message()["Message-ID"] == recorder.received[1].message()["Message-ID"]


def test_recipients_already_sent_are_skipped(smtp):
    mailer, recorder = smtp
    deliver(mailer, spec("ana@example.com", "bruno@example.org"), skip={"ana@example.com"})
    assert [r.rcpt_tos for r in recorder.received] == [["bruno@example.org"]]


def test_a_550_is_a_permanent_error_naming_the_recipient(smtp):
    mailer, recorder = smtp
    with pytest.raises(DeliveryFailed) as e:
        mailer.send(build_message(spec("nobody@example.com"), "nobody@example.com"), "nobody@example.com")
    assert e.value.transient is False
    assert e.value.code == 550
    assert e.value.field == "recipients"
    assert e.value.message.startswith("recipients: mail to nobody@example.com failed at 127.0.0.1:")
    assert "550 5.1.1" in e.value.message and "permanent" in e.value.message
    assert recorder.received == []


def test_a_451_is_a_transient_error(smtp):
    mailer, _ = smtp
    with pytest.raises(DeliveryFailed) as e:
        mailer.send(build_message(spec("busy@example.com"), "busy@example.com"), "busy@example.com")
    assert (e.value.transient, e.value.code, e.value.field) == (True, 451, "recipients")
    assert "try again later" in e.value.message


def test_a_failure_midway_is_raised_after_recording_who_already_got_it(smtp):
    mailer, recorder = smtp
    recorded = []
    with pytest.raises(DeliveryFailed) as e:
        deliver(
            mailer,
            spec("ana@example.com", "nobody@example.com", "carla@example.net"),
            on_sent=recorded.append,
        )
    assert not e.value.transient
    assert [r.recipient for r in recorded] == ["ana@example.com"]
    assert [r.rcpt_tos for r in recorder.received] == [["ana@example.com"]]


def test_no_server_listening_is_transient():
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(DeliveryFailed) as e:
        mailer.send(build_message(spec(), "ana@example.com"), "ana@example.com")
    assert e.value.transient is True and e.value.code is None
    assert e.value.field == "SMTP_URL"


def test_starttls_with_login(tls):
    server_ctx, client_ctx = tls
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=check_password,
        auth_required=True,
    )
    controller.start()
    try:
        base = f"127.0.0.1:{controller.port}?starttls=1"
        message = build_message(spec(), "ana@example.com")
        SmtpMailer(f"smtp://bi:s3cr%3At%40@{base}", ssl_context=client_ctx).send(message, "ana@example.com")
        assert [r.rcpt_tos for r in recorder.received] == [["ana@example.com"]]

        with pytest.raises(DeliveryFailed) as e:
            SmtpMailer(f"smtp://bi:wrong@{base}", ssl_context=client_ctx).send(message, "ana@example.com")
        assert (e.value.transient, e.value.code, e.value.field) == (False, 535, "SMTP_URL")
        assert "wrong" not in e.value.message
    finally:
        controller.stop()


def test_implicit_tls_and_an_untrusted_certificate(tls):
    server_ctx, client_ctx = tls
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), ssl_context=server_ctx)
    controller.start()
    try:
        url = f"smtps://127.0.0.1:{controller.port}"
        message = build_message(spec(), "ana@example.com")
        SmtpMailer(url, ssl_context=client_ctx, timeout=5).send(message, "ana@example.com")
        assert [r.message()["Subject"] for r in recorder.received] == [SUBJECT]

        with pytest.raises(DeliveryFailed) as e:  # the default context does not trust a self-signed cert
            SmtpMailer(url, timeout=5).send(message, "ana@example.com")
        assert e.value.transient is False
        assert "certificate" in e.value.message.lower()
    finally:
        controller.stop()


def test_settings_pick_smtp_or_the_outbox(server, tmp_path):
    url, _ = server
    assert isinstance(mailer_from_settings(url, tmp_path), SmtpMailer)
    outbox = mailer_from_settings("", tmp_path / "outbox")
    assert isinstance(outbox, OutboxMailer) and outbox.folder == tmp_path / "outbox"


# --------------------------------------------------------------------------- outbox
def read(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())  # type: ignore[return-value]


def test_the_outbox_writes_one_parseable_eml_per_recipient(tmp_path):
    folder = tmp_path / "outbox"
    results = deliver(OutboxMailer(folder), spec("ana@example.com", "bruno@example.org"), clock=lambda: MARCH)

    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(r.location for r in results)
    assert all(f.startswith("20260309T083000Z-") and f.endswith(".eml") for f in files)
    for result in results:
        msg = read(folder / result.location)
        assert msg["X-Original-To"] == result.recipient == msg["To"]
        assert msg["Subject"] == SUBJECT
        assert msg["Message-ID"] == result.message_id
        assert next(msg.iter_attachments()).get_content() == PDF
        assert msg.get_body(("html",)) is not None


def test_the_same_job_and_recipient_twice_leaves_one_file(tmp_path):
    mailer = OutboxMailer(tmp_path)
    first = deliver(mailer, spec("ana@example.com"), clock=lambda: MARCH)
    later = MARCH + dt.timedelta(minutes=7)  # the job ran again, a few minutes later
    again = deliver(mailer, spec("ana@example.com", "bruno@example.org"), clock=lambda: later)

    assert [p.name for p in tmp_path.iterdir() if "20260309T083000Z" in p.name] == [first[0].location]
    assert again[0].duplicate and again[0].location == first[0].location
    assert not again[1].duplicate
    assert len(list(tmp_path.iterdir())) == 2


def test_two_writers_racing_on_one_copy_converge_on_one_file(tmp_path, monkeypatch):
    mailer = OutboxMailer(tmp_path)
    message = build_message(spec(), "ana@example.com", clock=lambda: MARCH)
    rival = build_message(spec(), "ana@example.com", clock=lambda: MARCH - dt.timedelta(seconds=1))
    real_replace = os.replace

    def replace_after_a_rival_finished(src, dst):
        # Another worker passed the "already there?" check at the same time and finished first.
        monkeypatch.setattr(email_mod.os, "replace", real_replace)
        OutboxMailer(tmp_path).send(rival, "ana@example.com")
        real_replace(src, dst)

    monkeypatch.setattr(email_mod.os, "replace", replace_after_a_rival_finished)
    result = mailer.send(message, "ana@example.com")

    files = [p.name for p in tmp_path.iterdir()]
    assert len(files) == 1, files
    assert files[0].startswith("20260309T082959Z-")
    assert result.location == files[0] and result.duplicate


def test_an_unwritable_outbox_is_a_transient_error_and_leaves_no_temp_file(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryFailed) as e:
        OutboxMailer(blocker).send(build_message(spec(), "ana@example.com"), "ana@example.com")
    assert e.value.transient and e.value.field == "outbox"
    assert [p.name for p in tmp_path.iterdir()] == ["outbox"]


def test_list_outbox_newest_first_with_its_details(tmp_path):
    mailer = OutboxMailer(tmp_path)
    older = deliver(mailer, spec("ana@example.com", key="job:1"), clock=lambda: MARCH)
    newer = deliver(
        mailer, spec("bruno@example.org", key="job:2", html=None), clock=lambda: MARCH + dt.timedelta(days=1)
    )
    (tmp_path / "notes.txt").write_text("not mail")
    (tmp_path / ".20260309T083000Z-0123.eml.1.tmp").write_text("half written")

    entries = list_outbox(tmp_path)
    assert [e.name for e in entries] == [newer[0].location, older[0].location]
    top = entries[0]
    assert top.date == MARCH + dt.timedelta(days=1)
    assert top.sender == "Conductor BI <bi@conductor.example>"
    assert top.recipients == ("bruno@example.org",)
    assert top.subject == SUBJECT
    assert top.attachments == ("relatório-março.pdf",)
    assert top.size == (tmp_path / top.name).stat().st_size
    assert [e.name for e in list_outbox(tmp_path, limit=1)] == [newer[0].location]
    assert list_outbox(tmp_path / "missing") == []


def test_read_outbox_returns_the_file_and_refuses_anything_else(tmp_path):
    folder = tmp_path / "outbox"
    [result] = deliver(OutboxMailer(folder), spec(), clock=lambda: MARCH)
    assert read_outbox(folder, result.location) == (folder / result.location).read_bytes()

    secret = tmp_path / "secret.eml"
    secret.write_text("Subject: not yours\n")
    for bad in (
        "../secret.eml",
        str(secret),
        "/etc/passwd",
        "..",
        "",
        f"sub/{result.location}",
        f"../outbox/{result.location}",
        result.location + "/",
        "notes.txt",
    ):
        with pytest.raises(BadRequest) as e:
            read_outbox(folder, bad)
        assert e.value.field == "name"

    missing = "20990101T000000Z-" + "0" * 32 + ".eml"
    with pytest.raises(NotFound):
        read_outbox(folder, missing)
    (folder / missing).symlink_to(secret)  # a link planted in the folder does not lead outside
    with pytest.raises(NotFound):
        read_outbox(folder, missing)


def test_concurrent_sends_of_one_copy_leave_one_file(tmp_path):
    messages = [
        build_message(spec(), "ana@example.com", clock=lambda i=i: MARCH + dt.timedelta(seconds=i))
        for i in range(8)
    ]
    start = threading.Barrier(len(messages))

    def send(message):
        start.wait()
        OutboxMailer(tmp_path).send(message, "ana@example.com")

    threads = [threading.Thread(target=send, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".eml"]) == 1
