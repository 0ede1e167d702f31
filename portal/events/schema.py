"""Event contracts: the versions of each event type, their upcasters and per-event validation.

Pure functions only (no I/O), so every rule is unit-tested without servers.

An event as posted (latest version, 2)::

    {"event_id": "t-1-open", "type": "ticket_opened", "occurred_at": "2026-12-01T09:30:00-03:00",
     "schema_version": 2,
     "dimensions": {"org_unit": "support", "channel": "whatsapp", "agent": "ana",
                    "tags": ["billing"], "ticket_id": "T-1", "customer": "c-9"},
     "measures": {"first_response_sec": 42},
     "properties": {"subject": "..."}}

Version 1 (still accepted, upcast on the way in) had its dimensions at the top level, ``tags``
as one comma-separated string, durations in milliseconds (``*_ms``) and, for ``csat_given``, a
0-10 score. The stored event is always the latest version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Event types and their latest schema version.
LATEST: dict[str, int] = {
    "ticket_opened": 2,
    "ticket_closed": 2,
    "ticket_assigned": 2,
    "message_sent": 2,
    "csat_given": 2,
    "sla_breached": 2,
    "automation_run": 2,
}
DIMENSIONS = ("org_unit", "channel", "agent", "tags", "ticket_id", "customer")
TOP_LEVEL = ("event_id", "type", "occurred_at", "schema_version", "dimensions", "measures", "properties")
_ALLOWED_KEYS = frozenset(TOP_LEVEL) | frozenset(DIMENSIONS)
MAX_EVENT_ID = 100
MAX_DIMENSION_CHARS = 200
MAX_TAGS = 20
MAX_MEASURES = 50
MAX_PROPERTIES_BYTES = 8192
#: Events further in the future than this are refused (a clock or time-zone bug upstream).
FUTURE_SLACK = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_MEASURE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# ISO 8601 with a date, a time and an offset (Z or ±hh:mm); fromisoformat does the rest.
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$")


class Rejected(Exception):
    """One event refused: ``field`` names what is wrong, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """A valid event at the latest version, its time in UTC."""

    event_id: str
    type: str
    occurred_at: datetime
    dimensions: dict[str, Any]
    measures: dict[str, float]
    properties: dict[str, Any]

    def record(self, received_at: str) -> dict[str, Any]:
        """The flat JSON object written to the raw log (one line per event)."""
        d = self.dimensions
        return {
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": stamp(self.occurred_at),
            "received_at": received_at,
            "schema_version": LATEST[self.type],
            "org_unit": d.get("org_unit"),
            "channel": d.get("channel"),
            "agent": d.get("agent"),
            "tags": d.get("tags") or [],
            "ticket_id": d.get("ticket_id"),
            "customer": d.get("customer"),
            "measures": self.measures,
            "properties": self.properties,
        }


def stamp(when: datetime) -> str:
    """``2026-12-01T12:30:00.000000Z`` for a UTC time (the raw log's format, read by the build)."""
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# --------------------------------------------------------------------------- upcasters
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2_envelope(raw: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2 for every type: top-level dimensions move under ``dimensions``, ``tags`` becomes
    a list, ``*_ms`` measures become ``*_sec``."""
    out: dict[str, Any] = {k: raw[k] for k in ("event_id", "type", "occurred_at", "properties") if k in raw}
    dims: dict[str, Any] = (
        dict(raw.get("dimensions") or {}) if isinstance(raw.get("dimensions"), dict) else {}
    )
    for key in DIMENSIONS:
        if key in raw:
            dims[key] = raw[key]
    if isinstance(dims.get("tags"), str):
        dims["tags"] = [t.strip() for t in dims["tags"].split(",") if t.strip()]
    if dims:
        out["dimensions"] = dims
    measures: dict[str, Any] = {}
    src = raw.get("measures")
    if isinstance(src, dict):
        for k, v in src.items():
            if isinstance(k, str) and k.endswith("_ms") and _is_number(v):
                measures[k[:-3] + "_sec"] = float(v) / 1000.0
            else:
                measures[k] = v
    elif src is not None:
        measures = src  # validated (and refused) later, naming the field
    if measures or src is not None:
        out["measures"] = measures
    out["schema_version"] = 2
    return out


def _csat_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """csat_given v1 -> v2: the envelope, and the 0-10 ``score`` becomes a 1-5 ``csat``."""
    out = _v1_to_v2_envelope(raw)
    m = out.get("measures")
    if isinstance(m, dict) and "score" in m and _is_number(m["score"]):
        m["csat"] = float(min(5, max(1, round(float(m.pop("score")) / 2))))
    return out


#: (type, from version) -> the function that makes the next version.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    **{(t, 1): _v1_to_v2_envelope for t in LATEST},
    ("csat_given", 1): _csat_v1_to_v2,
}


def upcast(raw: dict[str, Any], event_type: str, version: int) -> dict[str, Any]:
    """``raw`` brought from ``version`` to the type's latest version through every upcaster."""
    latest = LATEST[event_type]
    while version < latest:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise Rejected("schema_version", f"version {version} of {event_type!r} can no longer be read")
        raw = step(raw)
        version += 1
    return raw


# --------------------------------------------------------------------------- validation
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_time(value: Any, *, now: datetime, field: str = "occurred_at") -> datetime:
    """An ISO 8601 timestamp with an offset, in UTC; refused without an offset or out of range."""
    if not isinstance(value, str) or not _ISO_RE.match(value.strip()):
        raise Rejected(field, "an ISO 8601 date-time with an offset, e.g. 2026-12-01T09:30:00-03:00")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(field, f"{value[:40]!r} is not a valid date-time") from None
    when = when.astimezone(UTC)
    if when < EARLIEST:
        raise Rejected(field, "before 2000-01-01")
    if when > now + FUTURE_SLACK:
        raise Rejected(field, "more than a day in the future")
    return when


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected(field, "a non-empty string")
    if len(value) > limit:
        raise Rejected(field, f"at most {limit} characters")
    if _CONTROL_RE.search(value):
        raise Rejected(field, "control characters are not allowed")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise Rejected(field, "not valid Unicode (a lone surrogate)") from None
    return value


def _dimensions(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("dimensions", 'an object, e.g. {"channel": "email"}')
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key not in DIMENSIONS:
            raise Rejected(f"dimensions.{key}"[:120], f"unknown dimension (expected {', '.join(DIMENSIONS)})")
        if v is None:
            continue
        if key == "tags":
            if not isinstance(v, list) or len(v) > MAX_TAGS:
                raise Rejected("dimensions.tags", f"a list of at most {MAX_TAGS} strings")
            tags = sorted({_text(t, "dimensions.tags", MAX_DIMENSION_CHARS) for t in v})
            out["tags"] = tags
        else:
            if isinstance(v, int) and not isinstance(v, bool):
                v = str(v)
            out[key] = _text(v, f"dimensions.{key}", MAX_DIMENSION_CHARS)
    return out


def _measures(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("measures", 'an object of numbers, e.g. {"duration_sec": 95}')
    if len(value) > MAX_MEASURES:
        raise Rejected("measures", f"at most {MAX_MEASURES} measures")
    out: dict[str, float] = {}
    for key, v in value.items():
        if not isinstance(key, str) or not _MEASURE_RE.match(key):
            raise Rejected(f"measures.{key}"[:120], "a measure name is lower-case letters, digits and _")
        if not _is_number(v):
            raise Rejected(f"measures.{key}", "a finite number")
        out[key] = float(v)
    return out


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("properties", "an object")
    # The size is checked on the serialised record (portal.events.service): one encoding, not two.
    return value


def validate(raw: Any, *, now: datetime) -> Event:
    """One posted event checked and upcast to the latest version; :class:`Rejected` names the field."""
    if not isinstance(raw, dict):
        raise Rejected("event", "each event is a JSON object")
    # v1 events carry their dimensions at the top level; those keys are checked after upcasting.
    unknown = raw.keys() - _ALLOWED_KEYS
    if unknown:
        key = sorted(str(k) for k in unknown)[0]
        raise Rejected(key[:100], f"unknown field (expected {', '.join(TOP_LEVEL)})")
    event_id = _text(raw.get("event_id"), "event_id", MAX_EVENT_ID)
    event_type = raw.get("type")
    if not isinstance(event_type, str) or event_type not in LATEST:
        raise Rejected("type", f"one of {', '.join(sorted(LATEST))}")
    version = raw.get("schema_version")
    latest = LATEST[event_type]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Rejected("schema_version", "a positive integer")
    if version > latest:
        raise Rejected(
            "schema_version", f"version {version} of {event_type!r} is unknown (latest is {latest})"
        )
    if version == latest:
        for key in DIMENSIONS:
            if key in raw:
                raise Rejected(key, f'in version {latest} dimensions go under "dimensions"')
    data = raw if version == latest else upcast(dict(raw), event_type, version)
    return Event(
        event_id=event_id,
        type=event_type,
        occurred_at=parse_time(data.get("occurred_at"), now=now),
        dimensions=_dimensions(data.get("dimensions")),
        measures=_measures(data.get("measures")),
        properties=_properties(data.get("properties")),
    )


def describe_types() -> Mapping[str, int]:
    """Event types and their latest version (for the API docs and the demo generator)."""
    return dict(LATEST)
