"""PAdES signatures of rendered PDFs with a PKCS#12 certificate, and their validation (pyHanko).

Pure: bytes in, bytes out. The caller (the render job) fetches the tenant's decrypted PKCS#12
from the core (``portal.pdf.signing_store.signing_material``) and hands it here; nothing in
this module reads a database or Redis.

- :func:`sign_pdf` appends a PAdES baseline signature (``/ETSI.CAdES.detached``, SHA-256,
  B-B, or B-T with an RFC 3161 timestamp) as an *incremental update*: the bytes of the
  rendered file are kept as they are, so a PDF/A-2B render keeps its XMP claims and stays
  PDF/A (PDF/A-2 allows signatures added this way).
- :func:`certificate_info` reads and checks a PKCS#12 (password, private key, validity),
  raising :class:`SigningError` with a message an administrator can act on.
- :func:`validate_signature` tells whether a signed PDF is intact, cryptographically valid
  and trusted against given roots, and whether its timestamp is.

pyHanko runs its own event loop (``asyncio.run``) inside these functions; called where an
event loop already runs in the thread (a server, a notebook), they do the work on a helper
thread instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import requests
from asn1crypto import keys as asn1_keys
from asn1crypto import pem, tsp
from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = [
    "MAX_TSA_RESPONSE_BYTES",
    "TSA_TIMEOUT_S",
    "CertificateInfo",
    "SignatureStatus",
    "SigningError",
    "certificate_info",
    "sign_pdf",
    "validate_signature",
]

#: Seconds to wait for the timestamp server (a render job must not hang on a dead TSA).
TSA_TIMEOUT_S = 10.0
#: A timestamp token is a few KB; anything far larger is not a TSA answer.
MAX_TSA_RESPONSE_BYTES = 256 * 1024

# pyHanko names terminal fields; a dot would make it a child of another field.
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUPPORTED_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                   ed448.Ed448PrivateKey, dsa.DSAPrivateKey)  # fmt: skip


class SigningError(ValueError):
    """A PDF could not be signed, or a PKCS#12 is unusable; ``field`` names the bad input
    (``p12``, ``password``, ``tsa_url``, ``pdf``, ``field_name``) and the message says what to do."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CertificateInfo:
    """What an administrator is shown of a signing certificate (RFC 4514 names, UTC times)."""

    subject: str
    issuer: str
    not_after: datetime
    not_before: datetime


@dataclass(frozen=True)
class SignatureStatus:
    """The verdict on a PDF's (last) signature.

    ``intact``: the signed bytes hash to what was signed; ``valid``: the signature over that
    hash verifies with the signer's key; ``trusted``: the signer's certificate chains to one
    of the given roots and was valid when signed. ``coverage`` is ``"entire_file"`` (nothing
    appended since), ``"entire_revision"`` (later incremental updates, judged by
    ``modification``) or ``"incomplete"``. ``problem`` says in words what is wrong, if anything.
    """

    intact: bool
    valid: bool
    trusted: bool
    signer: str | None
    timestamped: bool
    timestamp_valid: bool | None = None
    timestamp_time: datetime | None = None
    signing_time: datetime | None = None
    field_name: str | None = None
    coverage: str | None = None
    modification: str | None = None
    signature_count: int = 0
    ok: bool = False
    problem: str | None = None

    @property
    def signed(self) -> bool:
        """Whether the PDF holds any signature at all."""
        return self.signature_count > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (ISO times) for the REST edge."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("timestamp_time", "signing_time"):
            if out[k] is not None:
                out[k] = out[k].isoformat()
        out["signed"] = self.signed
        return out


# --------------------------------------------------------------------------- PKCS#12
def _looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` parses as a PKCS#12 PFX structure (before any password is needed).

    ``cryptography`` says "invalid password or PKCS12 data" for both a wrong password and a
    file that is not PKCS#12 at all; telling them apart needs the outer structure.
    """
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native in {
            "data",
            "signed_data",
        }
    except (ValueError, TypeError, KeyError):
        return False


@dataclass(frozen=True)
class _Loaded:
    key: Any
    cert: x509.Certificate
    chain: list[x509.Certificate]


def _load(p12: bytes, password: str | None) -> _Loaded:
    if not isinstance(p12, bytes | bytearray) or not p12:
        raise SigningError("p12: the PKCS#12 file is empty", field="p12")
    data = bytes(p12)
    if not _looks_like_pkcs12(data):
        raise SigningError(
            "p12: not a PKCS#12 file (.p12/.pfx); export the certificate together with its "
            "private key as PKCS#12",
            field="p12",
        )
    # A file "without password" may be encrypted with the empty password, or not at all.
    attempts: list[bytes | None] = [password.encode()] if password else [None, b""]
    for passphrase in attempts:
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(data, passphrase)
        except ValueError:
            continue
        except Exception as exc:  # unsupported algorithms surface as assorted error types
            raise SigningError(f"p12: cannot read this PKCS#12 file ({exc})", field="p12") from None
        break
    else:
        if password:
            raise SigningError("password: wrong password for this PKCS#12 file", field="password")
        raise SigningError(
            "password: this PKCS#12 file is protected by a password; give it", field="password"
        )
    if key is None:
        raise SigningError(
            "p12: the PKCS#12 file holds no private key; export the certificate together with its "
            "private key",
            field="p12",
        )
    if cert is None:
        raise SigningError("p12: the PKCS#12 file holds no certificate", field="p12")
    if not isinstance(key, _SUPPORTED_KEYS):
        raise SigningError(
            f"p12: {type(key).__name__} keys cannot sign PDFs (use RSA, ECDSA or EdDSA)", field="p12"
        )
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise SigningError("p12: the private key does not belong to the certificate", field="p12")
    return _Loaded(key=key, cert=cert, chain=list(chain))


def _signer(loaded: _Loaded) -> signers.SimpleSigner:
    """A pyHanko signer from what :func:`_load` read (decrypting the PKCS#12 again would cost
    another key derivation), with the chain registered so it is embedded in the signature."""
    key_der = loaded.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    registry = SimpleCertificateStore.from_certs([_asn1_cert(c) for c in loaded.chain])  # type: ignore[no-untyped-call]
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(loaded.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=registry,
    )


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _public_der(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at > not_after:
        raise SigningError(
            f"p12: the certificate expired on {not_after:%Y-%m-%d %H:%M} UTC; use a current one",
            field="p12",
        )
    if at < not_before:
        raise SigningError(
            f"p12: the certificate is valid only from {not_before:%Y-%m-%d %H:%M} UTC", field="p12"
        )


def _info(cert: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        not_before=cert.not_valid_before_utc,
    )


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def certificate_info(p12: bytes, password: str | None, *, at: datetime | None = None) -> CertificateInfo:
    """Subject, issuer and validity of the signing certificate in ``p12``.

    Raises :class:`SigningError` naming ``p12`` or ``password`` when the file is not PKCS#12,
    the password is wrong or missing, there is no private key (or it does not match the
    certificate), or the certificate is not valid at ``at`` (default: now).
    """
    loaded = _load(p12, password)
    _check_validity(loaded.cert, _aware(at))
    return _info(loaded.cert)


# --------------------------------------------------------------------------- signing
class _HttpTimeStamper(TimeStamper):
    """RFC 3161 over HTTP through a given ``requests`` session.

    pyHanko's own HTTP client posts with the module-level ``requests.post``; taking a session
    lets the caller pass one pinned to an address it checked (``portal.notify.netguard``), so
    a DNS answer changed after the check cannot aim the request at the internal network.
    Redirects are not followed for the same reason.
    """

    def __init__(self, url: str, session: requests.Session, timeout: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
        self.url = url
        self.session = session
        self.timeout = timeout

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        def post() -> tsp.TimeStampResp:
            try:
                with self.session.post(
                    self.url,
                    data=req.dump(),
                    headers=set_tsp_headers({}),
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                ) as resp:
                    if resp.status_code != 200:
                        raise TimestampRequestError(f"the timestamp server answered HTTP {resp.status_code}")
                    if resp.headers.get("Content-Type", "").split(";")[0].strip() != (
                        "application/timestamp-reply"
                    ):
                        raise TimestampRequestError("the timestamp server did not answer a timestamp reply")
                    body = resp.raw.read(MAX_TSA_RESPONSE_BYTES + 1, decode_content=True)
            except requests.RequestException as exc:
                raise TimestampRequestError(
                    f"cannot reach the timestamp server ({type(exc).__name__})"
                ) from exc
            if len(body) > MAX_TSA_RESPONSE_BYTES:
                raise TimestampRequestError("the timestamp server's answer is too large")
            try:
                return tsp.TimeStampResp.load(body, strict=True)
            except ValueError as exc:
                raise TimestampRequestError("the timestamp server's answer is not a timestamp reply") from exc

        return await asyncio.to_thread(post)


class _PdfSignerAt(signers.PdfSigner):
    """A :class:`PdfSigner` whose signing time (``/M``) is fixed by the caller.

    PAdES leaves the signing time out of the CMS (the timestamp, if any, is the trusted time);
    a fixed one makes renders reproducible in tests and matches the job's own clock.
    """

    def __init__(self, *args: Any, system_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._system_time = system_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._system_time
        return session


def _off_loop(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, on a helper thread when this thread runs an event loop (pyHanko's
    ``asyncio.run`` refuses to start inside one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pyhanko") as pool:
        return pool.submit(fn, *args, **kwargs).result()


def sign_pdf(pdf: bytes, p12: bytes, password: str | None, **options: Any) -> bytes:
    """See :func:`_sign_pdf` (the options are its keywords)."""
    return bytes(_off_loop(_sign_pdf, pdf, p12, password, **options))


def validate_signature(pdf: bytes, trust_roots: list[bytes], **options: Any) -> SignatureStatus:
    """See :func:`_validate_signature` (the options are its keywords)."""
    status: SignatureStatus = _off_loop(_validate_signature, pdf, trust_roots, **options)
    return status


def _sign_pdf(
    pdf: bytes,
    p12: bytes,
    password: str | None,
    *,
    reason: str | None = None,
    location: str | None = None,
    tsa_url: str | None = None,
    field_name: str = "Signature1",
    signing_time: datetime | None = None,
    http_session: requests.Session | None = None,
    tsa_timeout: float = TSA_TIMEOUT_S,
) -> bytes:
    """``pdf`` with a PAdES baseline signature appended as an incremental update.

    B-B without ``tsa_url``; B-T with it (a signature timestamp from that RFC 3161 server).
    The signature is invisible (no stamp on the page) and certifies nothing: later
    incremental updates (another signature, validation data) remain possible. The chain
    certificates found in ``p12`` are embedded so a validator only needs the root.

    ``http_session`` carries the timestamp request (give one pinned to a checked address,
    ``portal.notify.netguard.pinned_session``); a plain session is used otherwise.
    Raises :class:`SigningError` naming ``p12``, ``password``, ``tsa_url``, ``pdf`` or
    ``field_name``; an expired certificate (at ``signing_time``, default now) is refused.
    """
    if not _FIELD_NAME.fullmatch(field_name):
        raise SigningError(
            "field_name: letters, digits, '-' and '_' only (1 to 64 characters)", field="field_name"
        )
    when = _aware(signing_time)
    loaded = _load(p12, password)
    _check_validity(loaded.cert, when)
    signer = _signer(loaded)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
    )
    own_session = http_session is None and tsa_url is not None
    session = http_session or requests.Session()
    timestamper = _HttpTimeStamper(tsa_url, session, tsa_timeout) if tsa_url else None
    try:
        try:
            writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        except (PdfError, ValueError, TypeError) as exc:
            raise SigningError(f"pdf: not a readable PDF ({exc})", field="pdf") from None
        if writer.prev.encrypted:
            raise SigningError("pdf: encrypted PDFs are not signed", field="pdf")
        pdf_signer = _PdfSignerAt(meta, signer=signer, timestamper=timestamper, system_time=when)
        try:
            out = pdf_signer.sign_pdf(writer)
        except TimestampRequestError as exc:
            raise SigningError(
                f"tsa_url: no timestamp from {_origin(tsa_url)}: {exc}", field="tsa_url"
            ) from None
        except PyHankoSigningError as exc:
            if isinstance(exc.__cause__, TimestampRequestError):
                raise SigningError(
                    f"tsa_url: no timestamp from {_origin(tsa_url)}: {exc.__cause__}", field="tsa_url"
                ) from None
            raise SigningError(f"pdf: cannot sign this PDF ({exc})", field="pdf") from None
        except PdfError as exc:
            raise SigningError(f"pdf: cannot sign this PDF ({exc})", field="pdf") from None
    finally:
        if own_session:
            session.close()
    data: bytes = out.getvalue()
    return data


def _origin(url: str | None) -> str:
    """``scheme://host[:port]`` of ``url``: messages never show the path or query (they may hold tokens)."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}" if parts.netloc else "the timestamp server"


# --------------------------------------------------------------------------- validation
def _validate_signature(
    pdf: bytes, trust_roots: list[bytes], *, field_name: str | None = None, at: datetime | None = None
) -> SignatureStatus:
    """The status of the last signature of ``pdf`` (or the one in ``field_name``).

    ``trust_roots`` are DER or PEM certificates; nothing is fetched from the network (no
    CRL/OCSP: revocation is checked in soft-fail mode). ``at`` is the validation time
    (default now). A PDF without signatures gives ``signature_count=0`` and a ``problem``;
    a file too damaged to read gives ``intact=False``. Raises :class:`SigningError` (``pdf``)
    only when the bytes are not a PDF at all.
    """
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, TypeError, KeyError) as exc:
        raise SigningError(f"pdf: not a readable PDF ({exc})", field="pdf") from None
    count = len(embedded)
    if not embedded:
        return SignatureStatus(
            intact=False, valid=False, trusted=False, signer=None, timestamped=False,
            signature_count=0, problem="the PDF is not signed",
        )  # fmt: skip
    if field_name is None:
        sig = embedded[-1]
    else:
        found = [s for s in embedded if s.field_name == field_name]
        if not found:
            names = ", ".join(str(s.field_name) for s in embedded)
            raise SigningError(
                f"field_name: no signature field {field_name!r} (signed fields: {names})", field="field_name"
            )
        sig = found[0]
    vc = ValidationContext(
        trust_roots=[_root(r) for r in trust_roots],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=at,
    )
    signer_name: str | None = None
    try:
        signer_name = x509.load_der_x509_certificate(sig.signer_cert.dump()).subject.rfc4514_string()
        st = validate_pdf_signature(sig, signer_validation_context=vc)
    except Exception as exc:  # pyHanko raises assorted error types on damaged signatures
        return SignatureStatus(
            intact=False, valid=False, trusted=False, signer=signer_name, timestamped=False,
            field_name=sig.field_name, signature_count=count,
            problem=f"the signature cannot be checked ({type(exc).__name__}: {str(exc)[:200]})",
        )  # fmt: skip
    ts = st.timestamp_validity
    ts_ok = None if ts is None else bool(ts.intact and ts.valid and ts.trusted)
    coverage = st.coverage
    modification = st.modification_level
    # Later signatures, form data and validation data may follow a signature (what pyHanko's
    # diff analysis calls form filling); new content or annotations may not.
    covered = coverage == SignatureCoverageLevel.ENTIRE_FILE or (
        coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and modification is not None
        and modification <= ModificationLevel.FORM_FILLING
        and st.docmdp_ok is not False
    )
    problem = _problem(st.intact, st.valid, st.trusted, covered, ts_ok, st.trust_problem_indic)
    return SignatureStatus(
        intact=bool(st.intact),
        valid=bool(st.valid),
        trusted=bool(st.trusted),
        signer=signer_name,
        timestamped=ts is not None,
        timestamp_valid=ts_ok,
        timestamp_time=ts.timestamp if ts is not None else None,
        signing_time=st.signer_reported_dt,
        field_name=sig.field_name,
        coverage=coverage.name.lower() if coverage is not None else None,
        modification=modification.name.lower() if modification is not None else None,
        signature_count=count,
        ok=problem is None and bool(st.bottom_line),
        problem=problem,
    )


def _root(cert: bytes) -> asn1_x509.Certificate:
    """A trust root from DER or PEM bytes (pyHanko wants parsed certificates)."""
    try:
        der = pem.unarmor(cert)[2] if pem.detect(cert) else cert
        root = asn1_x509.Certificate.load(der, strict=True)
        root.native  # noqa: B018 - parse it all now: a bad root is a caller error, not an untrusted signature
    except (ValueError, TypeError) as exc:
        raise SigningError(f"trust_roots: not an X.509 certificate ({exc})", field="trust_roots") from None
    return root


def _problem(
    intact: bool, valid: bool, trusted: bool, covered: bool, ts_ok: bool | None, indic: Any
) -> str | None:
    if not intact:
        return "the document was changed after it was signed (the signed bytes do not match)"
    if not valid:
        return "the signature does not verify with the signer's certificate"
    if not trusted:
        why = f" ({indic.name.lower()})" if indic is not None else ""
        return f"the signer's certificate is not trusted{why}"
    if not covered:
        return "the document was modified after it was signed (beyond adding signatures or form data)"
    if ts_ok is False:
        return "the signature timestamp does not validate"
    return None
