"""Trigger specs: a condition on a report result, and the actions taken when it holds."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from portal.specs.base import MAX_LIST_VALUES, MAX_TEXT_CHARS, Name, _Spec

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_SECRET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise ValueError(f"{value[:60]!r} is not an e-mail address like name@example.com")
    return value


def _check_url(value: str) -> str:
    # Only the shape is checked here; whether the host may be reached (loopback, private
    # networks) depends on the settings and is decided where the webhook is saved and sent.
    problem = None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if len(value) > 2000 or any(c.isspace() or ord(c) < 32 for c in value) or parts is None:
        problem = "is not a valid URL"
    elif parts.scheme not in ("http", "https"):
        problem = "must start with http:// or https://"
    elif not parts.hostname:
        problem = "needs a host name"
    elif parts.username is not None or parts.password is not None:
        problem = "must not hold a user name or password (use a secret)"
    if problem:
        raise ValueError(f"{problem}, got {value[:60]!r}")
    return value


def _check_secret_name(value: str) -> str:
    if not _SECRET_RE.match(value):
        raise ValueError("must be the name of a stored secret: letters, digits, _ . - (max 64)")
    return value


Email = Annotated[str, AfterValidator(_check_email)]
HttpUrl = Annotated[str, AfterValidator(_check_url)]
SecretName = Annotated[str, AfterValidator(_check_secret_name)]


class EmailAction(_Spec):
    """Send an e-mail to ``recipients``."""

    type: Literal["email"] = "email"
    recipients: list[Email] = Field(min_length=1, max_length=50)


class InAppAction(_Spec):
    """Raise an in-app notification (the bell) for the report's audience."""

    type: Literal["in_app"] = "in_app"


class WebhookAction(_Spec):
    """POST the alert to ``url``, signed with HMAC-SHA256 using the stored secret ``secret``."""

    type: Literal["webhook"] = "webhook"
    url: HttpUrl
    secret: SecretName


class OpenTicketAction(_Spec):
    """Open an alert ticket; optionally also POST it to an external ticket system."""

    type: Literal["open_ticket"] = "open_ticket"
    title: str | None = Field(default=None, max_length=200)
    url: HttpUrl | None = None
    secret: SecretName | None = None


class RunReportAction(_Spec):
    """Run another report (chains are checked for cycles)."""

    type: Literal["run_report"] = "run_report"
    report_id: int = Field(ge=1, le=2**62)


class HighlightWidgetAction(_Spec):
    """Show the alert state on a widget, on every dashboard that holds it."""

    type: Literal["highlight_widget"] = "highlight_widget"
    widget_id: int = Field(ge=1, le=2**62)


Action = Annotated[
    EmailAction | InAppAction | WebhookAction | OpenTicketAction | RunReportAction | HighlightWidgetAction,
    Field(discriminator="type"),
]
TriggerOp = Literal[">", ">=", "<", "<=", "==", "!=", "IN", "BETWEEN", "EXISTS"]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


class TriggerSpec(_Spec):
    """A condition on a report result and what to do when it holds.

    ``metric`` names a result column (``rows`` says whether ``any`` or ``all`` rows must match);
    without it the condition is on the row count. ``{"metric": "backlog", "op": ">", "value": 100,
    "for_consecutive": 3, "actions": [{"type": "email", "recipients": ["ops@example.com"]}]}``
    """

    version: Literal[1] = 1
    metric: Name | None = None
    op: Annotated[TriggerOp, BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)]
    value: Any = None
    rows: Literal["any", "all"] = "any"
    for_consecutive: int = Field(default=1, ge=1, le=1000)
    cooldown_minutes: int = Field(default=60, ge=0, le=60 * 24 * 30)
    severity: Literal["info", "warn", "crit"] = "warn"
    actions: list[Action] = Field(min_length=1, max_length=20)

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, v: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:
            return v
        counting = info.data.get("metric") is None
        scalar_ok = _is_number if counting else (lambda x: _is_number(x) or isinstance(x, str | bool))
        what = "a number" if counting else "a number, text or true/false"
        if op == "EXISTS":
            if v is not None:
                raise ValueError("EXISTS takes no value")
        elif op == "BETWEEN":
            if not (isinstance(v, list | tuple) and len(v) == 2 and all(map(_is_number, v))):
                raise ValueError("BETWEEN needs two numbers [low, high]")
            if v[0] > v[1]:
                raise ValueError(f"BETWEEN needs low <= high, got [{v[0]}, {v[1]}]")
            return list(v)
        elif op == "IN":
            if not isinstance(v, list | tuple) or not v:
                raise ValueError("IN needs a non-empty list of values")
            if len(v) > MAX_LIST_VALUES:
                raise ValueError(f"IN takes at most {MAX_LIST_VALUES} values, got {len(v)}")
            if not all(map(scalar_ok, v)):
                raise ValueError(f"IN needs a list of values, each {what}")
            return list(v)
        elif op in ("==", "!="):
            if not scalar_ok(v):
                raise ValueError(f"{op} needs {what}")
        elif not _is_number(v):
            raise ValueError(f"{op} needs a number")
        if isinstance(v, str) and len(v) > MAX_TEXT_CHARS:
            raise ValueError(f"takes at most {MAX_TEXT_CHARS} characters")
        return v

    @property
    def kind(self) -> Literal["metric", "row_count"]:
        """What the condition looks at."""
        return "row_count" if self.metric is None else "metric"
