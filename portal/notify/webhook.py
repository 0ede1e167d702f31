"""Webhooks: a signed JSON POST to a checked, pinned address; one attempt per call.

Signature (Stripe's scheme): ``X-Conductor-Signature: t=<unix seconds>,v1=<hex>`` where the hex
is HMAC-SHA256 of ``f"{t}.".encode() + body`` under the webhook's secret. Receivers check it with
:func:`verify` (constant-time, with a tolerance on ``t`` against replays); several ``v1=`` values
may be present during a secret rotation. ``Idempotency-Key`` stays the same on every attempt of
one delivery, ``t`` is the time of the attempt.

Retrying is the caller's job (an RQ job): :func:`post_webhook` makes one attempt and raises
:class:`WebhookFailed` (a :class:`DeliveryFailed`) with ``transient`` set by :func:`is_transient`;
:func:`retry_delay` gives the wait before the next attempt. Redirects are not followed (a 3xx is
a permanent failure: fix the URL). Messages and logs show the URL's origin only (paths and
queries often carry tokens) and never the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from portal.errors import DeliveryFailed, InvalidSpec
from portal.notify.netguard import HostNotFound, ResolvedTarget, Resolver, check_url, pinned_session

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Conductor-Signature"
EVENT_HEADER = "X-Conductor-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "Conductor-BI-Webhook/1"
#: How much of a response body is kept (for the job record and messages).
BODY_PREVIEW = 2048
MIN_SECRET = 16

_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII: safe in a header
_EVENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


# --------------------------------------------------------------------------- signing
def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the webhook secret must be non-empty bytes")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("the timestamp must be an int (unix seconds)")
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Conductor-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(
    secret: bytes, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` and its ``t`` is within ``tolerance``
    seconds of ``now`` (default: the clock). Malformed headers are simply not valid."""
    stamp: int | None = None
    candidates: list[str] = []
    for item in str(header).split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if stamp is not None or not value.isdigit() or len(value) > 12:
                return False
            stamp = int(value)
        elif key == "v1":
            candidates.append(value.strip().lower())
    if stamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        return False
    expected = sign(secret, stamp, body)
    # Compare with every candidate (no early exit on the first mismatch).
    matches = [hmac.compare_digest(expected.encode(), c.encode("ascii", "replace")) for c in candidates]
    return any(matches)


# --------------------------------------------------------------------------- retry policy
def retry_delay(
    attempt: int, *, base: float = 2, cap: float = 300, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): exponential backoff
    with "equal jitter" — uniform in [step/2, step] where step = min(cap, base * 2**(attempt-1)) —
    never below a server's ``Retry-After`` (itself capped at ``cap``)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    step = min(cap, base * 2.0 ** min(attempt - 1, 60))
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return delay


def is_transient(outcome: int | BaseException) -> bool:
    """Whether retrying later may work: 5xx, 408, 425, 429, timeouts, network trouble, DNS that did
    not answer. Other 4xx, 3xx, TLS certificate errors and refused URLs are permanent."""
    if isinstance(outcome, bool):
        raise TypeError("give an HTTP status code or an exception")
    if isinstance(outcome, int):
        return outcome in {408, 425, 429} or 500 <= outcome <= 599
    if isinstance(outcome, DeliveryFailed):
        return outcome.transient
    if isinstance(outcome, HostNotFound):
        return outcome.transient
    if _cert_error(outcome) is not None:
        return False
    network = requests.exceptions.Timeout | requests.exceptions.ConnectionError
    if isinstance(outcome, requests.RequestException):  # an OSError too: decide before that test
        return isinstance(outcome, network | requests.exceptions.ChunkedEncodingError)
    return isinstance(outcome, urllib3.exceptions.HTTPError | OSError)


def _cert_error(exc: BaseException) -> BaseException | None:
    """The certificate-verification error behind ``exc``, if that is what it is."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError | HostnameMismatch):
            return cur
        todo.extend([cur.__cause__, cur.__context__])
        todo.extend(a for a in cur.args if isinstance(a, BaseException))
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return None


# --------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class WebhookRequest:
    """One webhook delivery: where, what (JSON), signed with which secret, under which key.

    ``body`` is the JSON encoding of ``payload`` (UTF-8, compact), fixed at construction so every
    attempt sends the same bytes.
    """

    url: str
    payload: Any
    secret: bytes = field(repr=False)
    idempotency_key: str
    event_type: str
    body: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise InvalidSpec("url: give an http:// or https:// URL", field="url")
        secret = self.secret.encode() if isinstance(self.secret, str) else self.secret
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET:
            raise InvalidSpec(
                f"secret: must be at least {MIN_SECRET} bytes (like secrets.token_hex(32))", field="secret"
            )
        object.__setattr__(self, "secret", secret)
        if not isinstance(self.idempotency_key, str) or not _KEY.fullmatch(self.idempotency_key):
            raise InvalidSpec(
                "idempotency_key: must be 1 to 255 visible ASCII characters, no spaces",
                field="idempotency_key",
            )
        if not isinstance(self.event_type, str) or not _EVENT.fullmatch(self.event_type):
            raise InvalidSpec(
                f"event_type: {str(self.event_type)[:60]!r} is not an event name (like alert.fired)",
                field="event_type",
            )
        try:
            body = json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidSpec(f"payload: cannot be sent as JSON ({exc})", field="payload") from None
        object.__setattr__(self, "body", body.encode("utf-8"))

    def headers(self, timestamp: int) -> dict[str, str]:
        """The headers of an attempt made at ``timestamp`` (unix seconds)."""
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            EVENT_HEADER: self.event_type,
            IDEMPOTENCY_HEADER: self.idempotency_key,
            SIGNATURE_HEADER: signature_header(self.secret, timestamp, self.body),
        }


@dataclass(frozen=True)
class WebhookResult:
    """What the receiver answered to one attempt."""

    status_code: int
    elapsed_ms: float
    #: The first :data:`BODY_PREVIEW` bytes of the answer, decoded as UTF-8 (bad bytes replaced).
    body: str
    truncated: bool
    origin: str  # scheme://host[:port], safe to show
    address: str  # the IP the request went to


class WebhookFailed(DeliveryFailed):
    """A webhook attempt failed; ``result`` holds the answer if there was one, ``retry_after`` the
    seconds the receiver asked to wait (``Retry-After`` on 429/503)."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        code: int | None = None,
        result: WebhookResult | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, field="url", transient=transient, code=code)
        self.result = result
        self.retry_after = retry_after


SessionFactory = Callable[[ResolvedTarget], requests.Session]


def post_webhook(
    req: WebhookRequest,
    *,
    allow_private: bool = False,
    allowed_hosts: Collection[str] = (),
    timeout: float = 10,
    clock: Callable[[], float] = time.time,
    session_factory: SessionFactory = pinned_session,
    resolver: Resolver = socket.getaddrinfo,
) -> WebhookResult:
    """POST ``req`` once; the answer on 2xx, :class:`WebhookFailed` otherwise.

    The URL is checked (:func:`~portal.notify.netguard.check_url`) right before the attempt and
    the request goes to the checked address: a refused URL fails before any connection. ``clock``
    gives the signature's unix time; ``timeout`` bounds the connection and each read.
    """
    try:
        target = check_url(
            req.url, allow_private=allow_private, allowed_hosts=allowed_hosts, resolver=resolver
        )
    except InvalidSpec as exc:
        transient = isinstance(exc, HostNotFound) and exc.transient
        raise WebhookFailed(_redact(exc.message, req.secret), transient=transient) from None
    timestamp = int(clock())
    started = time.monotonic()
    try:
        with session_factory(target) as session:
            response = session.post(
                target.url,
                data=req.body,
                headers=req.headers(timestamp),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            with response:
                preview, truncated = _read_preview(response)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        failure = _network_failure(exc, target, timeout, req.secret)
        log.warning("webhook %s to %s failed: %s", req.event_type, target.origin, failure.message)
        raise failure from None
    elapsed = (time.monotonic() - started) * 1000
    code = response.status_code
    result = WebhookResult(code, round(elapsed, 1), preview, truncated, target.origin, target.address)
    log.info("webhook %s to %s answered %d in %.0f ms", req.event_type, target.origin, code, elapsed)
    if 200 <= code < 300:
        return result
    transient = is_transient(code)
    reason = response.reason or ""
    if 300 <= code < 400:
        detail = "redirects are not followed; use the final URL"
    else:
        snippet = " ".join(preview.split())
        detail = snippet[:200] + ("..." if len(snippet) > 200 else "")
    kind = "temporary: may work later" if transient else "permanent"
    message = f"url: POST to {target.origin} answered {code} {reason}".rstrip()
    message += f": {detail}" if detail else ""
    raise WebhookFailed(
        _redact(f"{message} ({kind})", req.secret),
        transient=transient,
        code=code,
        result=result,
        retry_after=_retry_after(response.headers.get("Retry-After"), clock()),
    )


def _read_preview(response: requests.Response) -> tuple[str, bool]:
    """The first BODY_PREVIEW bytes of a streamed answer; a body cut short is kept as far as read."""
    data = b""
    # The status line and headers arrived: that is the delivery's outcome, whatever the body does.
    with contextlib.suppress(urllib3.exceptions.HTTPError, requests.RequestException, OSError):
        data = response.raw.read(BODY_PREVIEW + 1, decode_content=True) or b""
    truncated = len(data) > BODY_PREVIEW
    return data[:BODY_PREVIEW].decode("utf-8", "replace"), truncated


def _retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _network_failure(
    exc: BaseException, target: ResolvedTarget, timeout: float, secret: bytes
) -> WebhookFailed:
    where = f"{target.origin} ({_bracketed(target.address)}:{target.port})"
    cert = _cert_error(exc)
    if cert is not None:
        why = getattr(cert, "verify_message", "") or str(cert)
        detail = f"the TLS certificate of {target.host} is not valid: {why}"
    elif isinstance(exc, requests.exceptions.Timeout):
        detail = f"no answer within {timeout:g} s"
    elif isinstance(exc, requests.exceptions.InvalidURL):
        detail = str(exc)
    else:
        detail = _os_reason(exc) or type(exc).__name__
    transient = is_transient(exc)
    kind = "temporary: may work later" if transient else "permanent"
    return WebhookFailed(
        _redact(f"url: POST to {where} failed: {detail} ({kind})", secret), transient=transient
    )


def _os_reason(exc: BaseException) -> str | None:
    """The innermost OS error's text ("Connection refused"), without URLs or paths."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    found: str | None = None
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            found = cur.strerror
        nested = getattr(cur, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in cur.args if isinstance(a, BaseException)), None)
        cur = nested or cur.__cause__ or cur.__context__
    return found


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _redact(text: str, secret: bytes) -> str:
    """``text`` with the secret (as text, hex or bytes repr) replaced by ``***``."""
    forms = {secret.hex(), repr(secret)[2:-1]}
    with contextlib.suppress(UnicodeDecodeError):
        forms.add(secret.decode("utf-8"))
    for form in sorted((f for f in forms if len(f) >= 8), key=len, reverse=True):
        text = text.replace(form, "***")
    return text
