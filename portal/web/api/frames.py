"""DataFrames over HTTP as Arrow IPC streams, for clients that ask for them in ``Accept``.

JSON rows stay the default answer of every endpoint. A client that sends
``Accept: application/vnd.apache.arrow.stream`` (the analyst client does) gets
the frame itself instead: typed columns (timestamps, integers, floats, text,
NULLs) with no JSON round trip, in the same codec as the query cache. The
scalars that travel next to the rows in JSON (row count, cache hit, execution
id...) become ``X-Conductor-*`` response headers. Errors are JSON either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from portal.infra.cache import frame_to_bytes
from portal.web.api.base import BaseHandler

#: The IANA media type of the Arrow IPC streaming format.
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Prefix of the response headers that carry a frame's metadata in Arrow answers.
META_HEADER = "X-Conductor-"


def _q(params: str) -> float:
    for p in params.split(";"):
        name, _, value = p.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_arrow(accept: str) -> bool:
    """Whether an ``Accept`` header prefers an Arrow stream to JSON.

    Only an explicit ``application/vnd.apache.arrow.stream`` (with ``q`` > 0)
    counts, and it must not rank below an explicit ``application/json``:
    wildcards (``*/*``, browsers, curl) keep getting JSON.
    """
    arrow = json = 0.0
    for part in accept.split(","):
        media, _, params = part.partition(";")
        media = media.strip().lower()
        if media == ARROW_STREAM:
            arrow = max(arrow, _q(params))
        elif media == "application/json":
            json = max(json, _q(params))
    return arrow > 0 and arrow >= json


@dataclass(frozen=True)
class ArrowAnswer:
    """A frame encoded as an Arrow IPC stream, with the scalars that go with it."""

    data: bytes
    meta: Mapping[str, str | int | float | bool | None]


def arrow_answer(frame: pd.DataFrame, **meta: str | int | float | bool | None) -> ArrowAnswer:
    """Encode ``frame`` (call it on the worker thread: encoding a large frame takes a while)."""
    return ArrowAnswer(frame_to_bytes(frame), meta)


def _header_value(value: str | int | float | bool | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def send_answer(handler: BaseHandler, answer: ArrowAnswer | Any, status: int = 200) -> None:
    """Write an :class:`ArrowAnswer` as an Arrow stream, anything else as JSON."""
    # Caches and proxies must not hand an Arrow answer to a JSON client (or the reverse).
    handler.set_header("Vary", "Accept")
    if not isinstance(answer, ArrowAnswer):
        handler.send(answer, status)
        return
    for name, value in answer.meta.items():
        handler.set_header(META_HEADER + name.replace("_", "-").title(), _header_value(value))
    handler.set_status(status)
    handler.set_header("Content-Type", ARROW_STREAM)
    handler.finish(answer.data)
