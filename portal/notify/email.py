"""E-mail: a validated message spec, MIME building, and two mailers (SMTP and an outbox folder).

Every recipient gets its own copy (``To`` holds only that address) with a ``Message-ID`` derived
from ``(idempotency_key, recipient)``: a job that runs twice builds the same copy twice, the
outbox keeps one file for it, and the caller records delivery per recipient.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from portal.errors import BadRequest, ConfigError, DeliveryFailed, InvalidSpec, NotFound, closest

Clock = Callable[[], datetime]

# ASCII addr-spec only: SMTPUTF8 is not universally supported, and a strict pattern keeps CR/LF,
# commas and angle brackets (header injection, hidden extra recipients) out of the envelope.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*")
_NAMED = re.compile(r"(?P<name>[^<>\"\r\n,;]*?)\s*<(?P<addr>[^<>\s]+)>")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_OUTBOX_NAME = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{32}\.eml")
#: Names the tenant a message was sent for (the outbox page filters on it).
TENANT_HEADER = "X-Conductor-Tenant"


def parse_address(value: str, *, field: str) -> tuple[str, str]:
    """``(display name, addr-spec)`` of ``a@b.com`` or ``Name <a@b.com>``; InvalidSpec naming ``field``."""
    text = value.strip()
    named = _NAMED.fullmatch(text)
    name, addr = (named["name"].strip(), named["addr"]) if named else ("", text)
    if not _ADDR.fullmatch(addr) or len(addr) > 254:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise InvalidSpec(f"{field}: {shown!r} is not an e-mail address (like name@example.com)", field=field)
    return name, addr


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message."""

    filename: str
    content: bytes = field(repr=False)
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class EmailMessageSpec:
    """What to send, to whom, once per ``idempotency_key`` (e.g. ``"job:<id>"``) and recipient.

    Recipients are normalized to their addr-spec and deduplicated (case-insensitively): one
    address, one copy.
    """

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    idempotency_key: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    #: The tenant the message is sent for: written as ``X-Conductor-Tenant``, so the shared
    #: outbox shows each tenant its own mail only.
    tenant_id: int | None = None

    def __post_init__(self) -> None:
        parse_address(self.sender, field="sender")
        if self.tenant_id is not None and (
            isinstance(self.tenant_id, bool) or not isinstance(self.tenant_id, int)
        ):
            raise InvalidSpec("tenant_id: must be a tenant id (a whole number)", field="tenant_id")
        if isinstance(self.recipients, str) or not self.recipients:
            raise InvalidSpec("recipients: give a list of at least one e-mail address", field="recipients")
        unique: dict[str, str] = {}
        for raw in self.recipients:
            addr = parse_address(str(raw), field="recipients")[1]
            unique.setdefault(addr.lower(), addr)
        # Frozen dataclass: normalizing in __post_init__ needs object.__setattr__.
        object.__setattr__(self, "recipients", tuple(unique.values()))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        if "\r" in self.subject or "\n" in self.subject:
            raise InvalidSpec("subject: must be a single line", field="subject")
        if not self.idempotency_key.strip():
            raise InvalidSpec("idempotency_key: must not be empty", field="idempotency_key")
        for i, att in enumerate(self.attachments):
            name = att.filename
            where = f"attachments.{i}"
            if not name or name in {".", ".."} or any(c in name for c in "/\\\r\n\0"):
                raise InvalidSpec(f"{where}.filename: must be a plain file name", field=f"{where}.filename")
            if not _MIME.fullmatch(att.mime_type.lower()):
                msg = f"{where}.mime_type: {att.mime_type!r} is not a type/subtype (like application/pdf)"
                raise InvalidSpec(msg, field=f"{where}.mime_type")


def message_id(idempotency_key: str, recipient: str, domain: str) -> str:
    """The ``Message-ID`` of the copy for ``recipient``: the same for every re-send of the pair."""
    digest = hashlib.sha256(f"conductor-mail\0{idempotency_key}\0{recipient.lower()}".encode()).hexdigest()
    return f"<{digest[:40]}@{domain}>"


def build_message(spec: EmailMessageSpec, recipient: str, *, clock: Clock | None = None) -> EmailMessage:
    """The MIME copy of ``spec`` for ``recipient`` (one of ``spec.recipients``), dated by ``clock``.

    text only → text/plain; text + HTML → multipart/alternative; attachments → multipart/mixed
    around them. Headers are UTF-8 encoded as needed (accents in subjects and names).
    """
    addr = parse_address(recipient, field="recipients")[1]
    if addr.lower() not in {r.lower() for r in spec.recipients}:
        raise InvalidSpec(f"recipients: {addr} is not a recipient of this message", field="recipients")
    now = (clock or _utcnow)()
    if now.tzinfo is None:
        raise ValueError("the clock must return an aware datetime")
    # 7bit: bodies go out base64/quoted-printable, so no server needs 8BITMIME or SMTPUTF8.
    msg = EmailMessage(policy=policy.default.clone(cte_type="7bit"))
    msg["From"] = spec.sender.strip()
    msg["To"] = addr
    msg["Subject"] = spec.subject
    msg["Date"] = format_datetime(now)
    domain = parse_address(spec.sender, field="sender")[1].split("@")[1]
    msg["Message-ID"] = message_id(spec.idempotency_key, addr, domain)
    # RFC 3834: tells vacation responders not to answer automated reports.
    msg["Auto-Submitted"] = "auto-generated"
    if spec.tenant_id is not None:
        msg[TENANT_HEADER] = str(spec.tenant_id)
    msg.set_content(spec.text)
    if spec.html is not None:
        msg.add_alternative(spec.html, subtype="html")
    for att in spec.attachments:
        maintype, subtype = att.mime_type.lower().split("/", 1)
        msg.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- mailers
@dataclass(frozen=True)
class DeliveryResult:
    """One copy handed over: to an SMTP server, or written to the outbox (``location`` = file name)."""

    recipient: str
    message_id: str
    transport: Literal["smtp", "outbox"]
    location: str
    #: The outbox already held this (message, recipient): nothing new was written.
    duplicate: bool = False


class Mailer(Protocol):
    """Delivers one copy of a message to one recipient, or raises :class:`DeliveryFailed`."""

    def send(self, message: EmailMessage, recipient: str) -> DeliveryResult:
        """Deliver ``message`` to ``recipient`` (the envelope recipient)."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    """A parsed ``SMTP_URL``."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0


_SMTP_PARAMS = ("starttls", "timeout")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def parse_smtp_url(url: str, *, timeout: float = 30.0) -> SmtpConfig:
    """Parse ``smtp://[user:pass@]host[:port][?starttls=1&timeout=s]`` or ``smtps://...``.

    Default ports: 25 (smtp), 587 (smtp with STARTTLS, the submission port), 465 (smtps).
    A password over plain smtp to a remote host is refused: it would cross the network in clear.
    Errors name ``SMTP_URL`` and never repeat the password.
    """
    parts = urlsplit(url.strip())
    shown = url if parts.password is None else url.replace(f":{parts.password}@", ":***@", 1)

    def bad(problem: str) -> ConfigError:
        return ConfigError(
            f"SMTP_URL: {problem} (got {shown!r}; like smtp://user:pass@host:587?starttls=1)",
            field="SMTP_URL",
        )

    if parts.scheme not in {"smtp", "smtps"}:
        hint = closest(parts.scheme, ["smtp", "smtps"])
        raise bad(f"scheme must be smtp or smtps{f'; did you mean {hint!r}?' if hint else ''}")
    if not parts.hostname:
        raise bad("has no host")
    if parts.path not in {"", "/"} or parts.fragment:
        raise bad("must not have a path")
    try:
        port = parts.port
    except ValueError:
        raise bad("port must be a number from 1 to 65535") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    for key in query:
        if key not in _SMTP_PARAMS:
            hint = closest(key, _SMTP_PARAMS)
            raise bad(f"unknown parameter {key!r}{f'; did you mean {hint!r}?' if hint else ''}")
    starttls = query.get("starttls", ["0"])[-1].lower() in {"1", "true", "yes", "on"}
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            raise bad("timeout must be a number of seconds") from None
    if not 0 < timeout <= 600:
        raise bad("timeout must be between 0 and 600 seconds")
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        raise bad("smtps already uses TLS; drop starttls=1 or use smtp://")
    password = unquote(parts.password or "")
    if password and not (implicit or starttls) and parts.hostname not in _LOOPBACK:
        raise bad("a password over plain smtp:// would travel in clear; use smtps:// or ?starttls=1")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit else 587 if starttls else 25),
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username or ""),
        password=password,
        timeout=timeout,
    )


class SmtpMailer:
    """Sends through an SMTP server; one connection per copy (no stale connection between jobs)."""

    def __init__(self, url: str, *, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = parse_smtp_url(url, timeout=timeout)
        # A private CA can be trusted by passing its context; the default verifies like a browser.
        self._context = ssl_context or ssl.create_default_context()

    def send(self, message: EmailMessage, recipient: str) -> DeliveryResult:
        """Deliver one copy; :class:`DeliveryFailed` (``transient`` for 4xx and network errors) otherwise."""
        c = self.config
        addr = parse_address(recipient, field="recipients")[1]
        sender = parseaddr(str(message["From"] or ""))[1]
        try:
            smtp: smtplib.SMTP
            if c.implicit_tls:
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._context)
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            with smtp:
                if c.starttls:
                    smtp.starttls(context=self._context)
                if c.username:
                    smtp.login(c.username, c.password)
                smtp.send_message(message, from_addr=sender, to_addrs=[addr])
        except (smtplib.SMTPException, OSError) as exc:
            raise _failure(exc, addr, f"{c.host}:{c.port}") from exc
        return DeliveryResult(addr, str(message["Message-ID"]), "smtp", f"{c.host}:{c.port}")


def _failure(exc: BaseException, recipient: str, where: str) -> DeliveryFailed:
    """Word an SMTP/network failure; 4xx and network trouble are transient, 5xx permanent."""
    code: int | None = None
    text: bytes | str = str(exc) or type(exc).__name__
    fld = "SMTP_URL"
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        fld = "recipients"
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
        fld = {smtplib.SMTPSenderRefused: "sender", smtplib.SMTPDataError: "message"}.get(type(exc), fld)
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if code is not None and code < 100:
        code = None  # smtplib uses -1 for "no reply code"
    if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
        transient = False  # a configuration problem: retrying will not fix it
    else:
        transient = code is None or 400 <= code < 500
    kind = "temporary: may work later" if transient else "permanent"
    shown = f"{code} {detail}" if code else detail
    return DeliveryFailed(
        f"{fld}: mail to {recipient} failed at {where}: {shown} ({kind})",
        field=fld,
        transient=transient,
        code=code,
    )


class OutboxMailer:
    """Writes each copy as ``<UTC date>-<hash of Message-ID and recipient>.eml`` in a folder.

    Idempotent: a copy whose hash is already there is not written again. Each file appears whole
    (temp file, fsync, ``os.replace``); two writers racing on one copy converge on one file.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage, recipient: str) -> DeliveryResult:
        """Write the copy unless it is already there; :class:`DeliveryFailed` if the disk refuses."""
        addr = parse_address(recipient, field="recipients")[1]
        mid = str(message["Message-ID"] or "").strip()
        if not mid:
            raise ValueError("the outbox needs a Message-ID to recognize re-sends (use build_message)")
        digest = hashlib.sha256(f"{mid}\0{addr.lower()}".encode()).hexdigest()[:32]
        pattern = f"*-{digest}.eml"
        existing = sorted(self.folder.glob(pattern))
        if existing:
            return DeliveryResult(addr, mid, "outbox", existing[0].name, duplicate=True)
        name = f"{_message_date(message):%Y%m%dT%H%M%SZ}-{digest}.eml"
        # X-Original-To records the envelope recipient, as a receiving MTA would.
        data = f"X-Original-To: {addr}\r\n".encode() + message.as_bytes(policy=policy.SMTP)
        tmp = self.folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the folder itself may be what is broken
                tmp.unlink(missing_ok=True)
            raise DeliveryFailed(
                f"outbox: cannot write {name} in {self.folder}: {exc.strerror or exc}",
                field="outbox",
                transient=True,
            ) from exc
        # Converge after a race: every writer keeps the smallest name and removes the others.
        survivors = sorted(self.folder.glob(pattern))
        for extra in survivors[1:]:
            extra.unlink(missing_ok=True)
        kept = survivors[0].name if survivors else name
        return DeliveryResult(addr, mid, "outbox", kept, duplicate=kept != name)


def _message_date(message: Message) -> datetime:
    try:
        when = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def mailer_from_settings(smtp_url: str, outbox: Path, *, timeout: float = 30.0) -> Mailer:
    """The SMTP mailer for ``smtp_url``; the outbox folder when it is empty (embedded default)."""
    if not smtp_url.strip():
        return OutboxMailer(outbox)
    return SmtpMailer(smtp_url, timeout=timeout)


def deliver(
    mailer: Mailer,
    spec: EmailMessageSpec,
    *,
    clock: Clock | None = None,
    skip: Container[str] = (),
    on_sent: Callable[[DeliveryResult], None] | None = None,
) -> list[DeliveryResult]:
    """Send one copy per recipient, in order; recipients in ``skip`` (already sent) are left out.

    ``on_sent`` runs after each copy so the caller can record it before the next one: a failure
    (raised, never swallowed) then leaves an exact record of who already got the message.
    """
    results: list[DeliveryResult] = []
    for recipient in spec.recipients:
        if recipient in skip or recipient.lower() in skip:
            continue
        result = mailer.send(build_message(spec, recipient, clock=clock), recipient)
        if on_sent is not None:
            on_sent(result)
        results.append(result)
    return results


# --------------------------------------------------------------------------- outbox reading
@dataclass(frozen=True)
class OutboxEntry:
    """One ``.eml`` file of the outbox, as the Outbox page lists it."""

    name: str
    date: datetime | None
    sender: str
    recipients: tuple[str, ...]
    subject: str
    attachments: tuple[str, ...]
    size: int
    #: From ``X-Conductor-Tenant``; None for a message without it (shown to no tenant).
    tenant_id: int | None = None


def list_outbox(folder: Path, *, limit: int | None = None) -> list[OutboxEntry]:
    """The outbox files, newest first (names start with the UTC date); [] if there is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if _OUTBOX_NAME.fullmatch(p.name)), reverse=True)
    entries: list[OutboxEntry] = []
    for name in names[:limit]:
        path = folder / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue  # removed while listing (a racing writer converging)
        entries.append(outbox_entry(name, raw))
    return entries


def outbox_entry(name: str, raw: bytes) -> OutboxEntry:
    """The listing entry of the outbox file ``name`` holding ``raw``."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    to = msg.get_all("X-Original-To") or msg.get_all("To") or []
    tenant = str(msg[TENANT_HEADER] or "").strip()
    return OutboxEntry(
        name=name,
        date=_message_date(msg) if msg["Date"] else None,
        sender=str(msg["From"] or ""),
        recipients=tuple(addr for _, addr in getaddresses([str(v) for v in to])),
        subject=str(msg["Subject"] or ""),
        attachments=tuple(
            str(p.get_filename() or "") for p in msg.walk() if p.get_content_disposition() == "attachment"
        ),
        size=len(raw),
        tenant_id=int(tenant) if tenant.isdigit() else None,
    )


def read_outbox(folder: Path, name: str) -> bytes:
    """The raw ``.eml`` named ``name``; a plain outbox file name only (no paths, no other files)."""
    if not isinstance(name, str) or not _OUTBOX_NAME.fullmatch(name):
        raise BadRequest(f"name: {name!r} is not an outbox file name", field="name")
    path = Path(folder) / name
    # The pattern already excludes separators; refuse symlinks so nothing outside can be read.
    if path.is_symlink() or not path.is_file():
        raise NotFound(f"name: no outbox message {name!r}", field="name")
    return path.read_bytes()
