"""Spec basics: size limits, text checks, the frozen base model, parsing with errors naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
)

from portal.errors import InvalidSpec

#: Names users give to result columns: letters, digits and underscores only,
#: so they are safe as labels on every warehouse dialect.
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_LIMIT = 100_000

# Size limits of a QuerySpec (and of the run-time params given with it). They keep
# a single request from building a statement the warehouse needs minutes to plan;
# the statement timeout (Settings.query_timeout_seconds) stops the rest.
MAX_FILTERS = 50  #: filters per query
MAX_METRICS = 50  #: metrics per query
MAX_GROUP_BY = 10  #: group-by dimensions per query
MAX_COLUMNS = 50  #: raw columns per query
MAX_SORT = 10  #: sort entries per query
MAX_LIST_VALUES = 1000  #: values in one ``in`` / ``not_in`` list (and in any list value)
MAX_FILTER_VALUES = 5000  #: values across all filters of one query
MAX_TEXT_CHARS = 1000  #: characters in any text of a query: values, params, names
MAX_PARAMS = 100  #: entries in ``params`` (the spec's and the run-time ones, each)
MAX_PARAM_LIST = 1000  #: items in one list param

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- text checks
def _texts(value: Any) -> Iterator[tuple[str, str, bool]]:
    """``(path, text, is_key)`` for every string in ``value``, in order, walking lists, tuples and dicts."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            yield path, v, False
        elif isinstance(v, list | tuple):
            stack.extend((_join(path, i), x) for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, Mapping):
            yield from ((path, k, True) for k in v if isinstance(k, str))
            stack.extend((_join(path, k), x) for k, x in reversed(list(v.items())))


def _join(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


def _text_problem(value: Any, max_chars: int | None = None) -> tuple[str, str] | None:
    """``(path, reason)`` of the first string in ``value`` not valid UTF-8 or over ``max_chars`` long."""
    for path, text, is_key in _texts(value):
        m = _SURROGATE_RE.search(text)
        if m:
            what = f"the key {_SURROGATE_RE.sub('?', text)[:60]!r} is" if is_key else "text is"
            where = f"surrogate U+{ord(m.group()):04X} at character {m.start()}"
            return path, f"{what} not valid UTF-8 ({where})"
        if max_chars is not None and len(text) > max_chars:
            what = "a key" if is_key else "text"
            return path, f"{what} takes at most {max_chars} characters, got {len(text)}"
    return None


def _params_problem(params: Mapping[str, Any]) -> tuple[str, str] | None:
    if len(params) > MAX_PARAMS:
        return "", f"at most {MAX_PARAMS} params, got {len(params)}"
    for k, v in params.items():
        if isinstance(v, list | tuple) and len(v) > MAX_PARAM_LIST:
            return str(k), f"a list param takes at most {MAX_PARAM_LIST} items, got {len(v)}"
    return _text_problem(params, MAX_TEXT_CHARS)


def check_params(params: Mapping[str, Any], field: str = "params") -> None:
    """Raise :class:`InvalidSpec` naming ``field`` if run-time ``params`` break the limits of a
    spec's own params: at most MAX_PARAMS entries, MAX_PARAM_LIST items per list,
    MAX_TEXT_CHARS characters per text, valid UTF-8 everywhere."""
    _raise_at(field, _params_problem(params))


def _raise_at(field: str, problem: tuple[str, str] | None) -> None:
    if problem is not None:
        where = _join(field, problem[0]) if problem[0] else field
        raise InvalidSpec(f"{where}: {problem[1]}", field=where)


def _value_error(problem: tuple[str, str] | None) -> None:
    # Inside validators: pydantic turns the ValueError into an error at the field's loc.
    if problem is not None:
        raise ValueError(f"at {problem[0]}: {problem[1]}" if problem[0] else problem[1])


def _name_ok(value: str) -> str:
    _value_error(_text_problem(value, MAX_TEXT_CHARS))
    return value


#: A column or source name: valid UTF-8 text of at most MAX_TEXT_CHARS characters
#: (the catalog decides whether it exists).
Name = Annotated[str, AfterValidator(_name_ok)]

Agg = Literal["count", "count_distinct", "sum", "avg", "min", "max", "percentile", "median"]
Bucket = Literal[
    "hour", "day", "week", "month", "quarter", "year", "hour_of_day", "day_of_week", "month_of_year"
]
Op = Literal["=", "!=", ">", ">=", "<", "<=", "in", "not_in", "between", "like", "is_null", "is_not_null"]
Scalar = str | int | float | bool | date | datetime | None


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_alias(value: str | None) -> str | None:
    if value is not None and not ALIAS_RE.match(value):
        raise ValueError("must start with a letter or _ and hold only letters, digits and _ (max 63)")
    return value


def filter_value_count(value: Any) -> int:
    """How many values a filter value holds (a list counts its items), for :data:`MAX_FILTER_VALUES`."""
    if value is None:
        return 0
    return len(value) if isinstance(value, list | tuple) else 1


T = TypeVar("T", bound=BaseModel)


def parse_spec(model: type[T], data: Any) -> T:
    """Validate ``data`` as ``model``; raise :class:`InvalidSpec` naming the first bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc, model.__name__) from None


def invalid_from_validation(exc: ValidationError, what: str) -> InvalidSpec:
    """Turn a pydantic error into an ``InvalidSpec`` whose message names the field path."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or what
    msg = first.get("msg", "invalid value")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return InvalidSpec(f"{loc}: {msg}{more}", field=loc)
