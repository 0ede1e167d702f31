"""Error types of the core. Messages name the bad input and, where useful, the closest valid value.

Every message users see reads ``<field>: <what is wrong>``, the same in REST answers and in
the UI: pydantic errors are worded by :func:`portal.specs.base.user_message`, the rest here.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable


class PortalError(Exception):
    """Base of every error the portal reports to a user."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """JSON body for the REST API."""
        out: dict[str, object] = {"error": type(self).__name__, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ConfigError(PortalError):
    """The process configuration is unusable."""

    status = 500


class InvalidSpec(PortalError):
    """A JSON spec (query, chart, layout...) is invalid."""

    status = 422


class BadRequest(PortalError):
    """The request itself is malformed (not JSON, wrong shape, missing field)."""

    status = 400


class PayloadTooLarge(BadRequest):
    """The request body is larger than the endpoint accepts."""

    status = 413


class NotFound(PortalError):
    """The object does not exist, or the caller may not know it exists."""

    status = 404


class PermissionDenied(PortalError):
    """The caller is authenticated but may not do this."""

    status = 403


class AuthenticationFailed(PortalError):
    """No valid credentials were presented."""

    status = 401


class QuotaExceeded(PortalError):
    """A tenant quota or a query-size throttle refused the work."""

    status = 429


class QueryTimeout(PortalError):
    """A warehouse query ran longer than the statement timeout and was stopped.

    422, not 408: the request arrived fine, and repeating it unchanged will time out
    again (browsers and proxies may retry a 408 by themselves); the caller must narrow it.
    """

    status = 422


class QueryInterrupted(PortalError):
    """A warehouse query was stopped from outside (the server is shutting down): try again."""

    status = 503


class Conflict(PortalError):
    """The request conflicts with the current state (duplicate name, stale version...)."""

    status = 409


class DeliveryFailed(PortalError):
    """A message (e-mail, webhook) was not delivered.

    ``transient`` tells a job whether retrying later may work (SMTP 4xx, network down) or
    not (SMTP 5xx: unknown mailbox, refused sender, bad credentials).
    """

    status = 502

    def __init__(
        self, message: str, *, field: str | None = None, transient: bool, code: int | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.transient = transient
        self.code = code


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid choice that looks most like ``name``, if any is close enough.

    A choice differing only in case or accents wins ("High" → "high"), then the nearest spelling.
    """
    options = [str(c) for c in choices]
    folded = _fold(str(name))
    for c in options:
        if _fold(c) == folded:
            return c
    matches = difflib.get_close_matches(str(name), options, n=1, cutoff=0.5)
    if not matches:
        by_folded = {_fold(c): c for c in options}
        matches = [by_folded[m] for m in difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.5)]
    return matches[0] if matches else None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def not_among(kind: str, value: object, choices: Iterable[str], *, field: str) -> InvalidSpec:
    """An ``InvalidSpec`` for a value outside a known set, naming the closest valid one.

    ``filters[0].value: 'High' is not a known priority (known: low, normal, high, urgent); did you
    mean 'high'?`` — said instead of silently matching no rows.
    """
    options = list(dict.fromkeys(str(c) for c in choices))
    hint = closest(str(value), options)
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    msg = f"{field}: {shown} is not a known {kind} (known: {', '.join(options[:20])})"
    msg += f"; did you mean {hint!r}?" if hint else ""
    return InvalidSpec(msg, field=field)


def unknown(kind: str, name: str, choices: Iterable[str], *, field: str) -> InvalidSpec:
    """An ``InvalidSpec`` for an unknown name, suggesting the closest valid one."""
    options = sorted(set(choices))
    hint = closest(name, options)
    msg = f"{field}: unknown {kind} {name!r}"
    msg += f"; did you mean {hint!r}?" if hint else f"; valid: {', '.join(options[:20])}"
    return InvalidSpec(msg, field=field)
