"""PAdES signatures of renders (``reports_pdf.signing``), checked with pyHanko's own validation.

A throwaway CA issues the signer and TSA certificates (``tests/support/certs.py``); PDFs are
made with fpdf2 and an embedded TTF font, plain and PDF/A-2B. A signed file must be intact,
valid and trusted against the throwaway root only, keep its PDF/A-2B claim, fail once a
signed byte changes, and carry a timestamp that validates when a TSA URL is given (a real
RFC 3161 server on 127.0.0.1). Bad PKCS#12 input is a :class:`SigningError` naming the field.
"""

from __future__ import annotations

import io
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pikepdf
import pytest
from fpdf import FPDF
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from portal.errors import BadRequest
from portal.pdf.signing_store import checked_tsa_session
from reports_pdf.signing import (
    SignatureStatus,
    SigningError,
    certificate_info,
    sign_pdf,
    validate_signature,
)
from tests.support.certs import SignerBundle, TestCA, signer_bundle, timestamp_server

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def make_pdf(*, pdfa: bool) -> bytes:
    """A one-page report with accents in an embedded TTF font (PDF/A forbids the base 14 fonts)."""
    pdf = FPDF(enforce_compliance="PDF/A-2B") if pdfa else FPDF()
    pdf.add_font("DejaVu", "", FONT)
    pdf.set_font("DejaVu", size=12)
    pdf.set_title("Rapport trimestriel")
    pdf.set_author("Conductor BI")
    pdf.add_page()
    pdf.cell(text="Rapport trimestriel — tickets résolus: 1 234 (Zürich, Liège)")
    return bytes(pdf.output())


def pdfa_status(data: bytes) -> str:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        status: str = pdf.open_metadata().pdfa_status
        return status


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create()


@pytest.fixture(scope="module")
def signer(ca: TestCA) -> SignerBundle:
    return signer_bundle(ca)


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return make_pdf(pdfa=False)


@pytest.fixture(scope="module")
def pdfa_pdf() -> bytes:
    data = make_pdf(pdfa=True)
    assert pdfa_status(data) == "2B"
    return data


@pytest.fixture(scope="module")
def signed_plain(plain_pdf: bytes, signer: SignerBundle) -> bytes:
    return sign_pdf(plain_pdf, signer.p12, signer.password, reason="Quarterly report", location="Liège")


# --------------------------------------------------------------------------- certificate_info
def test_certificate_info_reads_subject_issuer_and_validity(signer: SignerBundle) -> None:
    info = certificate_info(signer.p12, signer.password)
    assert "CN=Conductor Report Signer" in info.subject
    assert "CN=Conductor Test Root CA" in info.issuer
    assert info.not_before < datetime.now(UTC) < info.not_after
    assert info.not_after == signer.cert.not_valid_after_utc


def test_wrong_password_is_a_clear_error(signer: SignerBundle, plain_pdf: bytes) -> None:
    with pytest.raises(SigningError) as err:
        certificate_info(signer.p12, "not-the-password")
    assert err.value.field == "password"
    assert "wrong password" in str(err.value)
    with pytest.raises(SigningError, match="wrong password"):
        sign_pdf(plain_pdf, signer.p12, "not-the-password")


def test_missing_password_says_one_is_needed(signer: SignerBundle) -> None:
    with pytest.raises(SigningError, match="protected by a password") as err:
        certificate_info(signer.p12, None)
    assert err.value.field == "password"


def test_expired_certificate_is_refused(ca: TestCA, plain_pdf: bytes) -> None:
    now = datetime.now(UTC)
    old = signer_bundle(
        ca, "Expired Signer", not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )
    with pytest.raises(SigningError, match="expired on") as err:
        certificate_info(old.p12, old.password)
    assert err.value.field == "p12"
    with pytest.raises(SigningError, match="expired on"):
        sign_pdf(plain_pdf, old.p12, old.password)


def test_not_yet_valid_certificate_is_refused(ca: TestCA) -> None:
    now = datetime.now(UTC)
    early = signer_bundle(
        ca, "Future Signer", not_before=now + timedelta(days=2), not_after=now + timedelta(days=30)
    )
    with pytest.raises(SigningError, match="valid only from"):
        certificate_info(early.p12, early.password)


@pytest.mark.parametrize("data", [b"", b"hello world", b"%PDF-1.7\n...", b"\x30\x03\x02\x01\x05"])
def test_not_a_pkcs12_file(data: bytes) -> None:
    with pytest.raises(SigningError, match=r"not a PKCS#12|empty") as err:
        certificate_info(data, "whatever")
    assert err.value.field == "p12"


def test_pkcs12_without_private_key(ca: TestCA) -> None:
    cert, _key = ca.issue("Certificate Only")
    p12 = ca.pkcs12(cert, None, "pw")
    with pytest.raises(SigningError, match="no private key") as err:
        certificate_info(p12, "pw")
    assert err.value.field == "p12"


def test_unprotected_pkcs12_needs_no_password(ca: TestCA, plain_pdf: bytes) -> None:
    cert, key = ca.issue("Open Signer")
    p12 = ca.pkcs12(cert, key, None)
    assert "Open Signer" in certificate_info(p12, None).subject
    assert "Open Signer" in certificate_info(p12, "").subject
    status = validate_signature(sign_pdf(plain_pdf, p12, None), [ca.root_der])
    assert status.ok, status.problem


# --------------------------------------------------------------------------- signing and validation
def test_signed_pdf_is_intact_valid_and_trusted(
    plain_pdf: bytes, signed_plain: bytes, signer: SignerBundle, ca: TestCA
) -> None:
    # An incremental update: the rendered bytes are kept as they are.
    assert signed_plain.startswith(plain_pdf) and len(signed_plain) > len(plain_pdf)
    status = validate_signature(signed_plain, [ca.root_der])
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.ok and status.problem is None
    assert status.signed and status.signature_count == 1
    assert status.coverage == "entire_file"
    assert status.field_name == "Signature1"
    assert status.signer is not None and "CN=Conductor Report Signer" in status.signer
    assert not status.timestamped and status.timestamp_valid is None


def test_signature_is_pades_with_reason_and_location(signed_plain: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(signed_plain))
    (sig,) = reader.embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == "Quarterly report"
    assert sig.sig_object["/Location"] == "Liège"
    assert sig.md_algorithm == "sha256"


def test_trust_roots_may_be_pem(signed_plain: bytes, ca: TestCA) -> None:
    assert validate_signature(signed_plain, [ca.root_pem]).trusted


def test_untrusted_root_is_reported(signed_plain: bytes) -> None:
    stranger = TestCA.create("Some Other Root")
    status = validate_signature(signed_plain, [stranger.root_der])
    assert status.intact and status.valid
    assert not status.trusted and not status.ok
    assert status.problem is not None and "not trusted" in status.problem


def test_pdfa_2b_stays_pdfa_after_signing(pdfa_pdf: bytes, signer: SignerBundle, ca: TestCA) -> None:
    signed = sign_pdf(pdfa_pdf, signer.p12, signer.password, reason="Archive copy")
    assert pdfa_status(signed) == "2B"
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("dc:title") == "Rapport trimestriel"  # the render's XMP is kept, not replaced
    status = validate_signature(signed, [ca.root_der])
    assert status.ok, status.problem


def test_changing_a_signed_byte_breaks_the_signature(signed_plain: bytes, ca: TestCA) -> None:
    # The title in the info dictionary lies inside the signed byte range and is plain text.
    at = signed_plain.index(b"Rapport trimestriel")
    tampered = signed_plain[:at] + b"r" + signed_plain[at + 1 :]
    status = validate_signature(tampered, [ca.root_der])
    assert not status.intact
    assert not status.ok
    assert status.problem is not None and "changed after it was signed" in status.problem


def test_content_appended_after_signing_is_reported(signed_plain: bytes, ca: TestCA) -> None:
    # An incremental update that draws on the page leaves the signed bytes intact, but the
    # document a reader sees is no longer the one that was signed.
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_plain))
    extra = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 72 Td (PAID) Tj ET"))
    writer.add_stream_to_page(0, extra)  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    status = validate_signature(out.getvalue(), [ca.root_der])
    assert status.intact and status.valid and status.trusted
    assert not status.ok
    assert status.problem is not None and "modified after it was signed" in status.problem


def test_a_second_signature_keeps_the_first_valid(signed_plain: bytes, ca: TestCA) -> None:
    countersigner = signer_bundle(ca, "Second Approver")
    both = sign_pdf(signed_plain, countersigner.p12, countersigner.password, field_name="Approval2")
    last = validate_signature(both, [ca.root_der])
    assert last.ok and last.field_name == "Approval2" and last.signature_count == 2
    first = validate_signature(both, [ca.root_der], field_name="Signature1")
    assert first.ok, first.problem
    assert first.coverage == "entire_revision"
    assert first.modification == "form_filling"


def test_signing_time_is_the_one_given(plain_pdf: bytes, signer: SignerBundle, ca: TestCA) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    signed = sign_pdf(plain_pdf, signer.p12, signer.password, signing_time=when)
    assert validate_signature(signed, [ca.root_der]).signing_time == when


def test_unsigned_pdf_has_no_signature(plain_pdf: bytes, ca: TestCA) -> None:
    status = validate_signature(plain_pdf, [ca.root_der])
    assert not status.signed and not status.ok
    assert status.problem == "the PDF is not signed"


def test_not_a_pdf(signer: SignerBundle) -> None:
    with pytest.raises(SigningError) as err:
        sign_pdf(b"this is not a PDF", signer.p12, signer.password)
    assert err.value.field == "pdf"
    with pytest.raises(SigningError):
        validate_signature(b"this is not a PDF", [])


def test_bad_field_name(plain_pdf: bytes, signer: SignerBundle) -> None:
    with pytest.raises(SigningError) as err:
        sign_pdf(plain_pdf, signer.p12, signer.password, field_name="a.b")
    assert err.value.field == "field_name"


def test_status_as_json(signed_plain: bytes, ca: TestCA) -> None:
    doc = validate_signature(signed_plain, [ca.root_der]).to_dict()
    assert doc["signed"] is True and doc["ok"] is True
    assert isinstance(doc["signing_time"], str)
    assert set(SignatureStatus.__dataclass_fields__) <= set(doc)


# --------------------------------------------------------------------------- timestamps
def test_timestamp_from_a_real_tsa_validates(pdfa_pdf: bytes, signer: SignerBundle, ca: TestCA) -> None:
    with timestamp_server(ca) as tsa:
        signed = sign_pdf(pdfa_pdf, signer.p12, signer.password, tsa_url=tsa.url)
        assert tsa.requests >= 1  # the signer really asked the server over HTTP
    status = validate_signature(signed, [ca.root_der])
    assert status.timestamped
    assert status.timestamp_valid is True
    assert status.ok, status.problem
    assert status.timestamp_time is not None
    assert abs(status.timestamp_time - datetime.now(UTC)) < timedelta(minutes=2)
    assert pdfa_status(signed) == "2B"


def test_timestamp_from_an_untrusted_tsa_is_reported(
    plain_pdf: bytes, signer: SignerBundle, ca: TestCA
) -> None:
    other = TestCA.create("Foreign TSA Root")
    with timestamp_server(other) as tsa:
        signed = sign_pdf(plain_pdf, signer.p12, signer.password, tsa_url=tsa.url)
    status = validate_signature(signed, [ca.root_der])
    assert status.trusted and status.timestamped
    assert status.timestamp_valid is False
    assert not status.ok and status.problem == "the signature timestamp does not validate"


def test_unreachable_tsa_names_the_field(plain_pdf: bytes, signer: SignerBundle) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SigningError) as err:
        sign_pdf(
            plain_pdf,
            signer.p12,
            signer.password,
            tsa_url=f"http://127.0.0.1:{port}/tsa?token=abc",
            tsa_timeout=2,
        )
    assert err.value.field == "tsa_url"
    assert "token=abc" not in str(err.value)  # the query may hold a credential


def test_tsa_answering_an_error_names_the_field(plain_pdf: bytes, signer: SignerBundle) -> None:
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(SigningError, match="HTTP 500") as err:
            sign_pdf(plain_pdf, signer.p12, signer.password, tsa_url=f"http://127.0.0.1:{httpd.server_port}/")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert err.value.field == "tsa_url"


def test_timestamp_through_a_pinned_session(plain_pdf: bytes, signer: SignerBundle, ca: TestCA) -> None:
    # What the render job does: check the stored URL again and connect to the checked address.
    with timestamp_server(ca) as tsa:
        with pytest.raises(BadRequest) as err:
            checked_tsa_session(tsa.url)  # loopback: refused unless the operator allows it
        assert err.value.field == "tsa_url" and "loopback" in err.value.message
        with checked_tsa_session(tsa.url, allow_private=True) as session:
            signed = sign_pdf(plain_pdf, signer.p12, signer.password, tsa_url=tsa.url, http_session=session)
    status = validate_signature(signed, [ca.root_der])
    assert status.timestamped and status.ok, status.problem


def test_signing_works_where_an_event_loop_runs(plain_pdf: bytes, signer: SignerBundle) -> None:
    """A server or a notebook runs a loop in its thread: pyHanko's asyncio.run must not meet it."""
    import asyncio
    import concurrent.futures

    from cryptography.hazmat.primitives.serialization import Encoding

    async def inside() -> bool:
        signed = sign_pdf(plain_pdf, signer.p12, signer.password)
        return validate_signature(signed, [signer.ca.cert.public_bytes(Encoding.DER)]).ok

    # On a thread of its own: when the whole suite runs, Playwright's loop already runs in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, inside()).result()
