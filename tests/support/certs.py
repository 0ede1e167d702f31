"""A throwaway PKI for signing tests: a root CA, signer and TSA certificates, PKCS#12 files,
and a real RFC 3161 timestamp server on loopback.

Everything is made with ``cryptography`` in memory (RSA 2048, ~0.1 s a key); nothing here is
trusted anywhere but in the test that made it. :class:`TimestampServer` answers timestamp
requests over HTTP with pyHanko's own test TSA (``DummyTimeStamper``), so the client side
(``reports_pdf.signing`` posting to a URL) is exercised for real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko_certvalidator.registry import SimpleCertificateStore


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 2048 key (PKCS#1 v1.5 is what pyHanko's test TSA can sign with)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Conductor BI tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class TestCA:
    """A self-signed root that issues end-entity certificates for signing and timestamping."""

    __test__ = False  # not a pytest test class despite the name

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    issued: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def create(cls, common_name: str = "Conductor Test Root CA") -> TestCA:
        """A new root CA valid from a day ago for ten years."""
        key = new_key()
        now = datetime.now(UTC)
        name = _name(common_name)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    @property
    def root_der(self) -> bytes:
        """The root certificate in DER (a trust root for validation)."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def root_pem(self) -> bytes:
        """The root certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        timestamping: bool = False,
    ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """An end-entity certificate and its key: a document signer, or a TSA (``timestamping``).

        A signer gets digitalSignature + nonRepudiation; a TSA gets digitalSignature and the
        critical extended key usage timeStamping that RFC 3161 requires.
        """
        key = key or new_key()
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=not timestamping,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if timestamping:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
        cert = builder.sign(self.key, hashes.SHA256())
        self.issued.append(cert)
        return cert, key

    def pkcs12(
        self,
        cert: x509.Certificate,
        key: rsa.RSAPrivateKey | None,
        password: str | None,
        *,
        with_chain: bool = True,
    ) -> bytes:
        """A PKCS#12 file holding ``key`` (or none), ``cert`` and, with ``with_chain``, this root."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(
            b"conductor test signer", key, cert, [self.cert] if with_chain else None, encryption
        )


@dataclass(frozen=True)
class SignerBundle:
    """A signer's PKCS#12 and what the tests check it against."""

    ca: TestCA
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    p12: bytes
    password: str


def signer_bundle(
    ca: TestCA,
    common_name: str = "Conductor Report Signer",
    password: str = "s3cret-pass",
    **issue: Any,
) -> SignerBundle:
    """A signer certificate issued by ``ca`` packed in a password-protected PKCS#12 with the chain."""
    cert, key = ca.issue(common_name, **issue)
    return SignerBundle(ca=ca, cert=cert, key=key, p12=ca.pkcs12(cert, key, password), password=password)


# --------------------------------------------------------------------------- timestamp server
def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return asn1_keys.PrivateKeyInfo.load(der)


class TimestampServer:
    """An RFC 3161 TSA over HTTP on 127.0.0.1, in a thread, signing with a TSA cert from ``ca``.

    ``requests`` counts the timestamp requests answered, so a test can tell the signer really
    asked. Use as a context manager or with :meth:`start`/:meth:`stop`.
    """

    def __init__(self, ca: TestCA) -> None:
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        cert, key = ca.issue("Conductor Test TSA", timestamping=True)
        self.cert = cert
        self.stamper = DummyTimeStamper(
            tsa_cert=_asn1_cert(cert),
            tsa_key=_asn1_key(key),
            certs_to_embed=SimpleCertificateStore.from_certs([_asn1_cert(ca.cert)]),  # type: ignore[no-untyped-call]
        )
        self.requests = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where timestamp requests go."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415, "expected application/timestamp-query")
                    return
                req = tsp.TimeStampReq.load(body)
                answer = server.stamper.request_tsa_response(req).dump()
                with server._lock:
                    server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        return Handler

    def start(self) -> TimestampServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@contextmanager
def timestamp_server(ca: TestCA) -> Iterator[TimestampServer]:
    """A running :class:`TimestampServer` for the ``with`` block."""
    server = TimestampServer(ca).start()
    try:
        yield server
    finally:
        server.stop()
