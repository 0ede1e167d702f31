"""Parsing JSON from untrusted clients: bounded size and depth, real UTF-8 text, finite numbers.

Every JSON the server reads from a request (bodies, ``?drill=``) goes through
:func:`parse_json`, so hostile input is a 400 naming the field, never a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

from portal.errors import BadRequest, PayloadTooLarge

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | str, field: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Decode ``raw`` or raise :class:`BadRequest` (status 400, or 413 when too large) naming ``field``."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"{field}: too large ({len(raw):,} bytes; at most {max_bytes:,})", field=field)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise BadRequest(f"{field}: must be UTF-8 text", field=field) from None
    except RecursionError:
        raise BadRequest(f"{field}: nested more than {MAX_JSON_DEPTH} levels deep", field=field) from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers of more than 4,300 digits
        raise BadRequest(f"{field}: invalid JSON ({str(exc)[:200]})", field=field) from None
    check_value(data, field)
    return data


def check_value(data: Any, field: str) -> None:
    """Reject nesting deeper than :data:`MAX_JSON_DEPTH`, lone surrogates and non-finite numbers."""
    stack: list[tuple[Any, int, str]] = [(data, 1, field)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"{path}: numbers must be finite", field=path)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"{field}: nested more than {MAX_JSON_DEPTH} levels deep", field=field)
            if isinstance(value, dict):
                for k, v in value.items():
                    _check_text(k, path)
                    stack.append((v, depth + 1, f"{path}.{k}"[:200]))
            else:
                stack.extend((v, depth + 1, f"{path}.{i}"[:200]) for i, v in enumerate(value))


def _check_text(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # json.loads turns "\ud800" into a lone surrogate, which no database driver can encode.
        raise BadRequest(
            f"{path}: text holds an invalid character (a lone UTF-16 surrogate)", field=path
        ) from None
