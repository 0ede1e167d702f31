"""Defects schemathesis found (tests/integration/test_openapi.py), each a 500 before its fix.

- ``PUT /api/dashboards/{id}`` with ``{"positions": {"<text with spaces>": {...}}}``: the error
  wording took pydantic's ``[key]`` mark for a union member, then found no member to name
  (IndexError). A bad key of a dict field is now a 422 naming the key.
- ``GET /api/pdf/renders/{id}/download?exp=1&sig=<non-ASCII>``: ``hmac.compare_digest`` refuses
  str with non-ASCII characters (TypeError). Such a link is now simply not valid (404).
"""

from __future__ import annotations

import pytest

from portal.dashboards.specs import DashboardPatch
from portal.errors import InvalidSpec
from portal.pdf.renders import check_link, link_signature
from portal.specs import QuerySpec, parse_spec


@pytest.mark.parametrize("key", ["a b", "k", "[x]", "int"])
def test_a_bad_dict_key_is_named(key: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(DashboardPatch, {"positions": {key: {"x": 0, "y": 0, "w": 1, "h": 1}}})
    assert caught.value.field == f"positions.{key}"
    assert caught.value.message.startswith(f"positions.{key}: the key must be a whole number")


def test_bad_key_and_bad_value_together() -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(DashboardPatch, {"positions": {"a b": {"h": -1}, "k": {"h": -2}}})
    assert caught.value.message.startswith("positions.a b: the key must be a whole number (and ")


def test_union_values_are_still_worded_once() -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(QuerySpec, {"source": "tickets", "metrics": [{"agg": "count"}], "params": {"a": {"x": 1}}})
    assert caught.value.field == "params.a"
    assert "must be text, a whole number" in caught.value.message


def test_a_forged_non_ascii_link_signature_is_just_invalid() -> None:
    assert check_link("k" * 32, 7, "1", "óSr|") is False
    exp = "9999999999"
    good = link_signature("k" * 32, 7, int(exp))
    assert check_link("k" * 32, 7, exp, good, now=0) is True
    assert check_link("k" * 32, 7, exp, good[:-1] + "é", now=0) is False
