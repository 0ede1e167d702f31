"""HTML of the PDF signing page (``/admin/signing``): pure functions, every value escaped.

The status card shows what is configured (subject, issuer, validity, timestamp server, reason,
location, whether renders are signed, the last change) and never anything about the password
or the certificate's bytes: the dictionary it gets is ``signing_config_to_dict``'s.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

#: How many days before the end of its validity the certificate is flagged.
EXPIRY_WARNING_DAYS = 30

NOT_CONFIGURED = (
    '<div class="signing-status-card signing-none" style="background:#f1f5f9;color:#334155;padding:14px 18px;'
    'border-radius:8px;font-size:15px"><b>No signing certificate is configured.</b> PDF renders of this '
    "tenant are not signed. Upload a PKCS#12 file (.p12/.pfx) holding the certificate and its private key "
    "below to sign them (PAdES).</div>"
)


def esc(value: Any) -> str:
    """``value`` as HTML text ('' for None)."""
    return html.escape("" if value is None else str(value), quote=True)


def parse_moment(value: Any) -> datetime | None:
    """A datetime from a datetime or an ISO 8601 text (naive ones are UTC); None when absent or unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment is not None else "unknown"


def expiry_warning(not_after: datetime | None, now: datetime) -> tuple[str, str] | None:
    """(css level, text) when the certificate has expired or expires within 30 days, else None."""
    if not_after is None:
        return None
    if not_after <= now:
        return (
            "expired",
            f"This certificate expired on {_when(not_after)}: renders cannot be signed. Upload a current one.",
        )
    left = not_after - now
    if left.days < EXPIRY_WARNING_DAYS:
        days = left.days
        span = "less than a day" if days == 0 else f"{days} day{'' if days == 1 else 's'}"
        return (
            "expiring",
            f"This certificate expires in {span} ({_when(not_after)}). Upload its successor soon.",
        )
    return None


def _row(key: str, label: str, value_html: str) -> str:
    return (
        f'<tr class="signing-{key}"><th style="text-align:left;padding:4px 14px 4px 0;color:#475569;'
        f'font-weight:600;white-space:nowrap;vertical-align:top">{esc(label)}</th>'
        f'<td style="padding:4px 0;word-break:break-word">{value_html}</td></tr>'
    )


def status_card_html(info: dict[str, Any] | None, now: datetime) -> str:
    """The card showing the tenant's signing configuration, or the not-configured note.

    ``info`` is ``signing_config_to_dict``'s answer (``None`` or ``{"configured": False}`` when
    there is none) plus, optionally, ``valid_from`` (read from the certificate) and
    ``updated_by_label`` (who made the last change). Every value is escaped.
    """
    if not info or not info.get("configured"):
        return NOT_CONFIGURED
    not_after = parse_moment(info.get("not_after"))
    valid_from = parse_moment(info.get("valid_from"))
    updated_at = parse_moment(info.get("updated_at"))
    warning = expiry_warning(not_after, now)
    banner = ""
    if warning is not None:
        level, text = warning
        colours = (
            "background:#fee2e2;color:#991b1b" if level == "expired" else "background:#fef3c7;color:#92400e"
        )
        banner = (
            f'<div class="signing-warning signing-{level}" role="alert" style="{colours};padding:8px 12px;'
            f'border-radius:6px;margin-bottom:10px;font-weight:600">{esc(text)}</div>'
        )
    enabled = bool(info.get("enabled"))
    state = (
        '<span style="color:#15803d;font-weight:600">on: PDF renders are signed</span>'
        if enabled
        else '<span style="color:#b45309;font-weight:600">off: PDF renders are not signed</span>'
    )
    none = '<span style="color:#94a3b8">none</span>'
    tsa = esc(info.get("tsa_url")) if info.get("tsa_url") else none
    who = info.get("updated_by_label")
    change = esc(_when(updated_at)) + (f" by {esc(who)}" if who else "")
    rows = [
        _row("subject", "Subject", esc(info.get("subject"))),
        _row("issuer", "Issuer", esc(info.get("issuer"))),
        _row("valid-from", "Valid from", esc(_when(valid_from))),
        _row("valid-until", "Valid until", esc(_when(not_after))),
        _row("tsa", "Timestamp server", tsa),
        _row("reason", "Reason", esc(info.get("reason")) if info.get("reason") else none),
        _row("location", "Location", esc(info.get("location")) if info.get("location") else none),
        _row("enabled", "Signing", state),
        _row("changed", "Last change", change),
    ]
    return (
        '<div class="signing-status-card signing-configured" style="border:1px solid #e2e8f0;border-radius:8px;'
        f'padding:14px 18px;font-size:14px">{banner}<table style="border-collapse:collapse;width:100%">'
        f"{''.join(rows)}</table></div>"
    )


def field_error_html(message: str) -> str:
    """The inline error shown under a form field (``message`` names the field)."""
    if not message:
        return ""
    return (
        f'<div class="field-error" role="alert" style="color:#b91c1c;font-size:13px;margin:-4px 0 4px 10px">'
        f"{esc(message)}</div>"
    )


def chosen_file_html(filename: str | None, size: int) -> str:
    """The line under the file chooser: which file will be uploaded on Save ('' when none)."""
    if filename is None:
        return ""
    return (
        f'<div class="chosen-file" style="font-size:13px;color:#0f172a;margin:0 10px">Chosen: <b>{esc(filename)}</b> '
        f"({size:,} bytes), uploaded when you press Save.</div>"
    )
