"""Webhooks against a real HTTP(S) server on loopback: signed body, headers, outcomes, the SSRF
guard refusing before any connection, and pinning (a name resolved once, TLS checked against it)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from portal.notify import (
    WebhookFailed,
    WebhookRequest,
    pinned_session,
    post_webhook,
    verify,
)

SECRET = b"whsec_integration-0123456789"
T = 1_767_225_600
HOOK_HOST = "hooks.example.test"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    body: bytes = b'{"ok":true}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[Seen] = []
        self.behaviour = Behaviour()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout test) breaks the pipe: expected


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.append(
            Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        b = self.server.behaviour
        if b.delay:
            time.sleep(b.delay)
        self.send_response(b.status)
        for k, v in b.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(b.body)))
        self.end_headers()
        self.wfile.write(b.body)

    do_GET = do_POST

    def log_message(self, format, *args) -> None:
        pass


def run(server: Server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def http_server():
    server = Server()
    run(server)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(http_server):
    http_server.seen.clear()
    http_server.behaviour = Behaviour()
    return http_server


def url_of(server: Server, host: str = "127.0.0.1", path: str = "/hooks/conductor?token=abc123") -> str:
    return f"http://{host}:{server.server_address[1]}{path}"


def request(url: str, **kw) -> WebhookRequest:
    args = {
        "url": url,
        "payload": {"event": "alert.fired", "report": "Chamados", "value": 42},
        "secret": SECRET,
        "idempotency_key": "trigger:7:2026-01-01T00:00Z",
        "event_type": "alert.fired",
    }
    return WebhookRequest(**(args | kw))


def test_a_delivery_arrives_signed_with_its_headers(hook):
    hook.behaviour = Behaviour(status=202, body=b'{"received":1}')
    req = request(url_of(hook))
    result = post_webhook(req, allow_private=True, clock=lambda: T + 0.7, timeout=5)
    assert (result.status_code, result.body, result.truncated) == (202, '{"received":1}', False)
    assert result.address == "127.0.0.1" and result.origin == f"http://127.0.0.1:{hook.server_address[1]}"
    assert 0 < result.elapsed_ms < 5000
    [seen] = hook.seen
    assert (seen.method, seen.path) == ("POST", "/hooks/conductor?token=abc123")
    assert seen.body == req.body == b'{"event":"alert.fired","report":"Chamados","value":42}'
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert seen.headers["idempotency-key"] == "trigger:7:2026-01-01T00:00Z"
    assert seen.headers["x-conductor-event"] == "alert.fired"
    signature = seen.headers["x-conductor-signature"]
    assert signature.startswith(f"t={T},v1=")
    assert verify(SECRET, signature, seen.body, now=T)
    assert not verify(b"whsec_some-other-secret-value", signature, seen.body, now=T)
    assert seen.headers["host"] == f"127.0.0.1:{hook.server_address[1]}"
    assert "authorization" not in seen.headers


def test_a_retry_keeps_the_idempotency_key_and_signs_its_own_time(hook):
    req = request(url_of(hook))
    post_webhook(req, allow_private=True, clock=lambda: T)
    post_webhook(req, allow_private=True, clock=lambda: T + 60)
    first, second = hook.seen
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.headers["x-conductor-signature"] != second.headers["x-conductor-signature"]
    assert verify(SECRET, second.headers["x-conductor-signature"], second.body, now=T + 60)


def test_a_500_is_transient_and_keeps_the_answer(hook):
    hook.behaviour = Behaviour(status=500, body=b"database down\nretry later")
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True)
    err = info.value
    assert err.transient and err.code == 500 and err.field == "url"
    assert err.result is not None and err.result.status_code == 500
    assert err.result.body == "database down\nretry later"
    assert "answered 500 Internal Server Error: database down retry later (temporary" in err.message
    assert "token=abc123" not in err.message and "/hooks" not in err.message


def test_a_400_is_permanent(hook):
    hook.behaviour = Behaviour(status=400, body=b'{"error":"bad signature"}')
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True)
    assert not info.value.transient and info.value.code == 400
    assert info.value.message.endswith('answered 400 Bad Request: {"error":"bad signature"} (permanent)')


def test_a_429_is_transient_with_the_retry_after_it_asked_for(hook):
    hook.behaviour = Behaviour(status=429, body=b"", headers={"Retry-After": "120"})
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True)
    assert info.value.transient and info.value.retry_after == 120


def test_a_redirect_is_not_followed_and_is_permanent(hook):
    hook.behaviour = Behaviour(status=302, body=b"", headers={"Location": "http://169.254.169.254/latest"})
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True)
    assert not info.value.transient and info.value.code == 302
    assert "redirects are not followed" in info.value.message
    assert len(hook.seen) == 1


def test_a_timeout_is_transient(hook):
    hook.behaviour = Behaviour(delay=1.5)
    started = time.monotonic()
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True, timeout=0.3)
    assert time.monotonic() - started < 1.4
    assert info.value.transient and info.value.code is None
    assert "no answer within 0.3 s (temporary: may work later)" in info.value.message


def test_nothing_listening_is_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(f"http://127.0.0.1:{port}/x"), allow_private=True, timeout=2)
    assert info.value.transient
    assert f"POST to http://127.0.0.1:{port} (127.0.0.1:{port}) failed" in info.value.message


def test_a_large_answer_is_cut_at_2_kb(hook):
    hook.behaviour = Behaviour(body=b"x" * 100_000)
    result = post_webhook(request(url_of(hook)), allow_private=True)
    assert (len(result.body), result.truncated) == (2048, True)


def test_the_secret_never_appears_in_an_error(hook):
    hook.behaviour = Behaviour(status=400, body=b"wrong secret " + SECRET)
    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook)), allow_private=True)
    assert SECRET.decode() not in str(info.value) and "wrong secret ***" in info.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "localhost"])
def test_without_allow_private_loopback_is_refused_before_any_connection(hook, host):
    sessions = []

    def factory(target):
        sessions.append(target)
        return pinned_session(target)

    with pytest.raises(WebhookFailed) as info:
        post_webhook(request(url_of(hook, host)), session_factory=factory)
    assert not info.value.transient and info.value.field == "url"
    assert "is a loopback address" in info.value.message
    assert "webhooks may not call the portal's own network" in info.value.message
    assert "WEBHOOK_ALLOW_PRIVATE" in info.value.message
    assert sessions == [] and hook.seen == []


def test_an_unknown_host_fails_before_any_connection(hook):
    def resolver(host, port, *a, **kw):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(WebhookFailed, match=re.escape("cannot find host 'nowhere.example.test'")) as info:
        post_webhook(request("http://nowhere.example.test/x"), resolver=resolver)
    assert not info.value.transient and hook.seen == []


# --------------------------------------------------------------------------- pinning
class PinningResolver:
    """Resolves ``hooks.example.test`` to 127.0.0.1 (no real DNS knows it) and counts the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        self.calls.append(host)
        if host != HOOK_HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def test_the_request_goes_to_the_resolved_address_with_the_original_host_header(hook):
    resolver = PinningResolver()
    result = post_webhook(
        request(url_of(hook, HOOK_HOST)), allowed_hosts={HOOK_HOST}, resolver=resolver, clock=lambda: T
    )
    assert result.status_code == 200 and result.address == "127.0.0.1"
    assert resolver.calls == [HOOK_HOST]  # resolved once: what was checked is what was called
    [seen] = hook.seen
    assert seen.headers["host"] == f"{HOOK_HOST}:{hook.server_address[1]}"
    assert verify(SECRET, seen.headers["x-conductor-signature"], seen.body, now=T)


def test_allowed_hosts_does_not_cover_other_names(hook):
    resolver = PinningResolver()
    with pytest.raises(WebhookFailed, match=re.escape("resolves to 127.0.0.1, which is a loopback address")):
        post_webhook(
            request(url_of(hook, HOOK_HOST)), allowed_hosts={"other.example.test"}, resolver=resolver
        )
    assert hook.seen == []


def make_cert(folder, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = folder / f"{name}.pem", folder / f"{name}.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_pem, key_pem


@pytest.fixture(scope="module", params=[HOOK_HOST, "someone-else.example.test"])
def https_server(request, tmp_path_factory):
    """An HTTPS server on 127.0.0.1 whose certificate names ``request.param``; (server, CA file)."""
    cert_pem, key_pem = make_cert(tmp_path_factory.mktemp("tls"), request.param)
    server = Server()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_pem, key_pem)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    run(server)
    yield server, str(cert_pem), request.param
    server.shutdown()
    server.server_close()


def test_https_is_pinned_and_verified_against_the_host_name(https_server):
    server, ca_file, cert_name = https_server
    server.seen.clear()

    def trusting_our_ca(target):
        session = pinned_session(target)
        session.verify = ca_file
        return session

    req = request(f"https://{HOOK_HOST}:{server.server_address[1]}/hook")
    call = lambda: post_webhook(  # noqa: E731
        req, allowed_hosts={HOOK_HOST}, resolver=PinningResolver(), session_factory=trusting_our_ca
    )
    if cert_name == HOOK_HOST:
        result = call()
        assert (
            result.status_code == 200 and result.origin == f"https://{HOOK_HOST}:{server.server_address[1]}"
        )
        [seen] = server.seen
        assert seen.headers["host"] == f"{HOOK_HOST}:{server.server_address[1]}"
    else:
        with pytest.raises(WebhookFailed) as info:
            call()
        assert not info.value.transient
        assert f"the TLS certificate of {HOOK_HOST} is not valid" in info.value.message
        assert server.seen == []
