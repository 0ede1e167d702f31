"""Pure parts of the PDF service: the version diff, overrides, run-time parameters, the
section grouping added to bindings, signed download links and uploaded-image sniffing."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest

from portal.errors import InvalidSpec, PayloadTooLarge
from portal.pdf.bindings import _grouped_by, _with_group, apply_overrides, resolve_params
from portal.pdf.diff import diff_specs
from portal.pdf.renders import check_link, signed_link
from portal.pdf.templates import _sniff, upload_asset
from portal.specs import QuerySpec
from portal.specs.pdf import parse_template


def spec(**over: Any) -> Any:
    base: dict[str, Any] = {
        "name": "T",
        "pages": [
            {
                "elements": [
                    {
                        "kind": "title",
                        "id": "t",
                        "text": "Hello",
                        "box": {"x": 10, "y": 10, "w": 100, "h": 10},
                    },
                    {"kind": "rect", "id": "r", "fill": "#ff0000"},
                ]
            }
        ],
        "parameters": [
            {"name": "city", "default": "São Paulo"},
            {"name": "since", "type": "date"},
            {"name": "top", "type": "number", "required": True, "default": 5},
        ],
        "overrides": [
            {
                "match": "customer",
                "value": "Acme",
                "accent": "#00ff00",
                "variables": {"note": "VIP"},
                "logo": "acme.png",
            },
            {"match": "contract", "value": "C-9", "header_text": "Contrato {{contract.name}}"},
        ],
    }
    base.update(over)
    return parse_template(base)


def test_diff_lists_added_removed_and_changed_properties() -> None:
    old = spec()
    data = old.model_dump(mode="json")
    data["pages"][0]["elements"][0]["text"] = "Olá"
    data["pages"][0]["elements"][0]["box"]["x"] = 20
    data["pages"][0]["elements"][1] = {"kind": "line", "id": "l"}
    data["theme"]["accent"] = "#000000"
    new = parse_template(data)
    d = diff_specs(old, new, old_version=1, new_version=2)
    assert d.added == ["l"] and d.removed == ["r"]
    assert [(c.id, c.props) for c in d.changed] == [("t", {"box.x": (10, 20), "text": ("Hello", "Olá")})]
    assert d.settings == {"theme.accent": ("#2563eb", "#000000")}
    assert diff_specs(old, old).empty and not d.empty
    assert d.to_dict()["changed"][0]["props"]["text"] == {"old": "Hello", "new": "Olá"}


def test_overrides_apply_only_to_their_customer_or_contract() -> None:
    s = spec()
    assert apply_overrides(s, {}) is s
    acme = apply_overrides(s, {"customer": ["Acme"]})
    assert acme.theme.accent == "#00ff00" and acme.theme.header.logo == "acme.png"
    assert acme.variables == {"note": "VIP"}
    both = apply_overrides(s, {"customer": "Acme", "contract": "C-9"})
    assert both.theme.header.text == "Contrato {{contract.name}}" and both.theme.header.logo == "acme.png"
    assert apply_overrides(s, {"customer": "Other"}).theme.accent == s.theme.accent


def test_params_fill_defaults_coerce_and_name_the_bad_field() -> None:
    s = spec()
    got = resolve_params(s, {"since": "2026-11-01", "customer": "Acme"})
    assert got == {"city": "São Paulo", "since": date(2026, 11, 1), "top": 5, "customer": ["Acme"]}
    with pytest.raises(InvalidSpec) as e:
        resolve_params(s, {"cidade": "x"})
    assert e.value.field == "params.cidade"
    with pytest.raises(InvalidSpec) as e:
        resolve_params(s, {"since": "yesterday-ish"})
    assert e.value.field == "params.since"
    with pytest.raises(InvalidSpec) as e:
        resolve_params(s, {"top": ""})
    assert e.value.field == "params.top"


def test_section_column_is_added_to_bindings_and_summaries() -> None:
    agg = QuerySpec.model_validate(
        {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["priority"]}
    )
    grouped = _with_group(agg, "customer_name")
    assert [g.name for g in grouped.group_by] == ["customer_name", "priority"]
    assert _with_group(grouped, "customer_name") is grouped
    raw = QuerySpec.model_validate({"source": "tickets", "columns": ["ticket_id"]})
    assert _with_group(raw, "customer_name").columns == ["customer_name", "ticket_id"]
    total = agg.model_copy(update={"group_by": [], "limit": 1})
    per_group = _grouped_by(total, "customer_name")
    assert (
        per_group is not None
        and [g.name for g in per_group.group_by] == ["customer_name"]
        and per_group.limit > 1
    )
    assert _grouped_by(total, None) is total


def test_signed_links_check_render_expiry_and_signature() -> None:
    link = signed_link("k" * 40, 7, ttl_s=60, now=1000)
    exp = link.split("exp=")[1].split("&")[0]
    sig = link.split("sig=")[1]
    assert check_link("k" * 40, 7, exp, sig, now=1000)
    assert not check_link("k" * 40, 8, exp, sig, now=1000)
    assert not check_link("x" * 40, 7, exp, sig, now=1000)
    assert not check_link("k" * 40, 7, exp, sig, now=2000)
    assert not check_link("k" * 40, 7, "1e9", sig, now=1000)
    assert not check_link("k" * 40, 7, None, None)


def _png(w: int = 4, h: int = 4) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (w, h), (255, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def test_uploaded_images_are_sniffed_not_trusted() -> None:
    assert _sniff(_png()) == "image/png"
    assert (
        _sniff(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
        )
        == "image/svg+xml"
    )
    for bad, why in (
        (b"GIF89a....", "PNG, JPEG or SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage", "damaged"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "script"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "onload"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><image x:href="http://evil/x.png"/></svg>',
            "href",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
            "valid SVG",
        ),
    ):
        with pytest.raises(InvalidSpec) as e:
            _sniff(bad)
        assert why in e.value.message and e.value.field == "file", (bad[:20], e.value.message)


def test_uploads_are_size_limited_before_anything_is_stored() -> None:
    from portal.identity.principal import Principal
    from portal.identity.scope import Scope

    who = Principal(kind="user", tenant_id=1, scope=Scope.of("acme"), user_id=1)
    with pytest.raises(PayloadTooLarge):
        upload_asset(None, who, "big.png", b"\x89PNG" + b"0" * (3 * 1024 * 1024))  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec) as e:
        upload_asset(None, who, "../etc/passwd", _png())  # type: ignore[arg-type]
    assert e.value.field == "name"
