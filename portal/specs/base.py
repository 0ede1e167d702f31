"""Spec basics: size limits, text checks, the frozen base model, parsing with errors naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
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


#: Union members pydantic appends to an error's location (``params.x.str``): not a field the user wrote.
_UNION_TAG_RE = re.compile(r"^(str|int|float|bool|date|datetime|none|list\[.*|dict\[.*|.*\[.*\].*)$")
_KIND_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "date": "a date",
    "datetime": "a date and time",
    "none": "null",
    "list": "a list",
    "dict": "an object",
}
_TYPE_WORDS = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "datetime_type": "must be a date and time (ISO 8601, e.g. 2026-01-31T12:00)",
    "datetime_parsing": "must be a date and time (ISO 8601, e.g. 2026-01-31T12:00)",
    "datetime_from_date_parsing": "must be a date and time (ISO 8601, e.g. 2026-01-31T12:00)",
}


def model_label(what: str) -> str:
    """A model name as users call it: ``QuerySpec`` → ``query``, ``DashboardPatch`` → ``dashboard``."""
    core = re.sub(r"(Spec|In|Patch)$", "", what) or what
    return re.sub(r"(?<!^)(?=[A-Z])", "_", core).lower()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _what_is_wrong(err: Mapping[str, Any]) -> str:
    """One pydantic error as a short user-facing phrase (no "Value error," or "Input should be")."""
    kind = str(err.get("type", ""))
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    got = err.get("input")
    if kind in ("value_error", "assertion_error"):
        msg = str(err.get("msg", ""))
        return re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if kind == "literal_error" or kind == "enum":
        from portal.errors import closest

        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = closest(str(got), choices) if isinstance(got, str) else None
        out = f"{_shown(got)} is not one of {', '.join(choices)}"
        return out + (f"; did you mean {hint!r}?" if hint else "")
    bounds = {
        "greater_than_equal": ("ge", "must be at least"),
        "greater_than": ("gt", "must be more than"),
        "less_than_equal": ("le", "must be at most"),
        "less_than": ("lt", "must be less than"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return f"{words} {ctx.get(key)} (got {_shown(got)})"
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return "must not be empty" if n <= 1 else f"needs at least {n} characters"
    if kind == "string_too_long":
        return f"takes at most {ctx.get('max_length')} characters, got {len(str(got))}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')} items, got {ctx.get('actual_length')}"
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    msg = str(err.get("msg", "invalid value"))
    return re.sub(r"^Input should be", "must be", msg)


def _field_path(loc: Sequence[Any]) -> tuple[str, list[str]]:
    """The location as the user wrote it, and the union members pydantic tried there."""
    parts: list[str] = []
    tags: list[str] = []
    for i, p in enumerate(loc):
        if p == "[key]":  # pydantic's mark of an error in a dict's key (said in the message)
            continue
        is_key = i + 1 < len(loc) and loc[i + 1] == "[key]"  # the caller's key, even "int" or "a[0]"
        if isinstance(p, str) and not is_key and _UNION_TAG_RE.match(p):
            tags.append(p.split("[", 1)[0])
            continue
        parts.append(str(p))
    return ".".join(parts), tags


def user_message(exc: ValidationError, what: str) -> tuple[str, str]:
    """``(field, message)`` of a pydantic error in the one wording users see: ``<field>: <what is wrong>``.

    ``what`` names the whole input (a model name like ``QuerySpec`` or ``body``) for errors
    about it as a whole. REST answers and UI messages both come from here.
    """
    errors = exc.errors()
    first = errors[0]
    loc = first.get("loc", ())
    path, tags = _field_path(loc)
    field = path or model_label(what)
    # A union (params values): say what was accepted, once, instead of one error per member.
    same = [e for e in errors if _field_path(e.get("loc", ()))[0] == path] if tags else []
    words = list(
        dict.fromkeys(_KIND_WORDS.get(t[-1], t[-1]) for e in same if (t := _field_path(e.get("loc", ()))[1]))
    )
    if words:
        text = "must be " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0])
        rest = len(errors) - len(same)
    else:
        text = _what_is_wrong(first)
        rest = len(errors) - 1
    if loc and loc[-1] == "[key]":
        text = f"the key {text}"
    more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest > 0 else ""
    return field, f"{field}: {text}{more}"


def invalid_from_validation(exc: ValidationError, what: str) -> InvalidSpec:
    """Turn a pydantic error into an ``InvalidSpec`` whose message names the field path in user words."""
    field, message = user_message(exc, what)
    return InvalidSpec(message, field=field)
