"""PDF templates and renders through the REST API, on SQLite and PostgreSQL, with the demo's
two templates: create and save versions, diff, roll back, clone; render on the job queue (the
API server's worker threads) and download; the caller's row scope in the PDF; a broken binding,
a missing image and a chart on an unknown column render the rest with error boxes; bad input
is a 4xx naming the field; renders are their requester's; signed links expire.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD
from portal.infra.db import transaction
from portal.models import PdfRender, PdfTemplate, Tenant
from portal.pdf import renders
from tests.support.pdf import pdf_pages, pdf_text
from tests.support.shared import new_user

MAINTENANCE = "Relatório de Manutenção e Despesas"
SLA = "Relatório mensal de SLA"


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def analyst(api: Any) -> Any:
    return api.login("analyst@acme.example.com", DEV_PASSWORD)


def template_id(s: Any, api: Any, name: str) -> int:
    rows = s.get(f"{api.base}/api/pdf/templates").json()["templates"]
    return int(next(t["id"] for t in rows if t["name"] == name))


def render(s: Any, api: Any, tid: int, timeout: float = 90, **body: Any) -> dict[str, Any]:
    r = s.post(f"{api.base}/api/pdf/templates/{tid}/render", json=body)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert set(answer) >= {"render_id", "job_id", "status"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = s.get(f"{api.base}/api/pdf/renders/{answer['render_id']}").json()
        if doc["status"] in ("done", "failed"):
            return dict(doc)
        time.sleep(0.2)
    raise AssertionError(f"render {answer['render_id']} did not finish: {doc}")


def download(s: Any, api: Any, render_id: int) -> bytes:
    r = s.get(f"{api.base}/api/pdf/renders/{render_id}/download")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    return bytes(r.content)


def test_the_demo_templates_are_listed_per_tenant(api: Any, analyst: Any) -> None:
    names = {t["name"] for t in analyst.get(f"{api.base}/api/pdf/templates").json()["templates"]}
    assert {SLA, MAINTENANCE} <= names
    other = api.login("analyst@globex.example.com", DEV_PASSWORD)
    tid = template_id(analyst, api, SLA)
    r = other.get(f"{api.base}/api/pdf/templates/{tid}")
    assert r.status_code == 404 and "not found" in r.json()["message"]


def test_maintenance_report_renders_with_accents_and_searchable_text(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, MAINTENANCE)
    doc = render(analyst, api, tid, params={"city": "São Paulo"})
    assert doc["status"] == "done", doc
    assert doc["pages"] >= 2 and doc["size_bytes"] > 10_000 and doc["runtime_ms"] > 0
    pdf = download(analyst, api, doc["render_id"])
    text = pdf_text(pdf)
    assert "Relatório de Manutenção — São Paulo" in text
    assert "Ordens de serviço" in text and "Página 1 de" in text
    assert doc["errors"] == [], doc["errors"]


def test_sla_report_has_a_section_per_customer_and_the_toc_points_at_them(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, SLA)
    doc = render(analyst, api, tid)
    assert doc["status"] == "done" and doc["errors"] == [], doc
    pdf = download(analyst, api, doc["render_id"])
    pages = pdf_pages(pdf)
    assert len(pages) == doc["pages"]
    # The TOC lists each customer's section with the page it really starts on (its own page).
    toc = next(p for p in pages if "Sumário" in p)
    entries = []
    for line in toc.splitlines():
        parts = line.rstrip().rsplit(None, 1)
        if len(parts) == 2 and parts[1].isdigit() and line.startswith("   "):
            entries.append((parts[0].strip(), int(parts[1])))
    assert len(entries) >= 5, toc
    for name, page_no in entries:
        body = [ln.strip() for ln in pages[page_no - 1].splitlines() if ln.strip()]
        assert name in body[1], (name, page_no, body[:3])  # after the running header
        assert "Chamados" in pages[page_no - 1] and "Local" in pages[page_no - 1]
    # No page is left with only its header and footer.
    for i, page in enumerate(pages[1:], start=2):
        lines = [ln for ln in page.splitlines() if ln.strip()]
        assert len(lines) > 2, f"page {i} is blank: {lines}"


def test_a_scoped_user_sees_only_their_rows_in_the_pdf(api: Any, analyst: Any) -> None:
    from portal.identity.scope import Scope

    spec = {
        "source": "tickets",
        "metrics": [{"agg": "count", "as": "n"}],
        "group_by": ["location_id", "location_name"],
        "filters": [{"column": "opened_at", "op": "between", "value": "{{now-90d}}..{{now}}"}],
        "sort": [{"by": "n", "desc": True}],
    }
    frame = api.ctx.warehouse.run(spec, Scope.of("acme"), use_cache=False).frame
    assert len(frame) >= 3
    mine_id, mine = int(frame.iloc[0]["location_id"]), str(frame.iloc[0]["location_name"])
    email = new_user(api.ctx, "acme", DEV_PASSWORD, locations=[mine_id])
    scoped = api.login(email, DEV_PASSWORD)
    tid = template_id(scoped, api, SLA)
    doc = render(scoped, api, tid)
    assert doc["status"] == "done", doc
    text = pdf_text(download(scoped, api, doc["render_id"]))
    assert mine in text
    others = [str(n) for n in frame["location_name"].iloc[1:] if mine not in str(n) and str(n) not in mine]
    leaked = [name for name in others if name in text]
    assert not leaked, f"another location's rows in a scoped user's PDF: {leaked[:3]}"


def broken_spec() -> dict[str, Any]:
    ok_query = {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}], "group_by": ["priority"]}
    return {
        "name": "Broken bits",
        "pages": [
            {
                "elements": [
                    {
                        "kind": "title",
                        "id": "t",
                        "box": {"x": 15, "y": 20, "w": 180, "h": 12},
                        "text": "Still here",
                    },
                    {
                        "kind": "table",
                        "id": "gone_report",
                        "box": {"x": 15, "y": 40, "w": 180, "h": 30},
                        "binding": {"report_id": 999999},
                    },
                    {
                        "kind": "image",
                        "id": "no_logo",
                        "box": {"x": 15, "y": 80, "w": 30, "h": 30},
                        "asset": "nope.png",
                    },
                    {
                        "kind": "chart",
                        "id": "bad_column",
                        "box": {"x": 15, "y": 120, "w": 180, "h": 60},
                        "binding": {"query": ok_query},
                        "chart": {"viz": "bar", "x": "no_such_column", "y": ["tickets"]},
                    },
                    {
                        "kind": "table",
                        "id": "fine",
                        "box": {"x": 15, "y": 190, "w": 180, "h": 60},
                        "binding": {"query": ok_query},
                    },
                ]
            }
        ],
    }


def test_broken_elements_get_error_boxes_and_the_rest_renders(api: Any, analyst: Any) -> None:
    r = analyst.post(f"{api.base}/api/pdf/templates", json={"spec": broken_spec()})
    assert r.status_code == 201, r.text
    doc = render(analyst, api, r.json()["id"])
    assert doc["status"] == "done", doc
    failed = {e["element_id"] for e in doc["errors"]}
    assert failed == {"gone_report", "no_logo", "bad_column"}, doc["errors"]
    text = pdf_text(download(analyst, api, doc["render_id"]))
    assert "Still here" in text and "tickets" in text.lower()
    assert "report_id" in text and "nope.png" in text and "no_such_column" in text


def test_versions_diff_rollback_clone_and_stale_saves(api: Any, analyst: Any) -> None:
    spec = broken_spec() | {"name": "Versioned"}
    created = analyst.post(f"{api.base}/api/pdf/templates", json={"spec": spec, "comment": "v1"}).json()
    tid, base = created["id"], created["version"]
    spec2 = {
        **spec,
        "pages": [
            {
                "elements": [
                    dict(spec["pages"][0]["elements"][0], text="Changed"),
                    *spec["pages"][0]["elements"][1:3],
                ]
            }
        ],
    }
    r = analyst.post(f"{api.base}/api/pdf/templates", json={"id": tid, "spec": spec2, "base_version": base})
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = analyst.post(
        f"{api.base}/api/pdf/templates", json={"id": tid, "spec": spec, "base_version": base}
    )
    assert stale.status_code == 409 and stale.json()["field"] == "base_version"
    diff = analyst.get(f"{api.base}/api/pdf/templates/{tid}/diff?old=1&new=2").json()
    assert diff["removed"] == ["bad_column", "fine"] and diff["added"] == []
    assert diff["changed"] == [
        {"id": "t", "kind": "title", "props": {"text": {"old": "Still here", "new": "Changed"}}}
    ]
    versions = analyst.get(f"{api.base}/api/pdf/templates/{tid}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    back = analyst.post(f"{api.base}/api/pdf/templates/{tid}/rollback", json={"version": 1}).json()
    assert back["version"] == 3 and back["spec"]["pages"][0]["elements"][0]["text"] == "Still here"
    clone = analyst.post(f"{api.base}/api/pdf/templates/{tid}/clone", json={}).json()
    assert clone["name"] == "Versioned (copy)" and clone["version"] == 1 and clone["id"] != tid


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "spec": {
                    "name": "x",
                    "pages": [{"elements": [{"kind": "title", "id": "t", "text": "a", "box": {"w": -1}}]}],
                }
            },
            "box",
        ),
        ({"spec": {"name": "x", "page": {"size": "custom"}}}, "page"),
        (
            {
                "spec": {
                    "name": "x",
                    "pages": [
                        {
                            "elements": [
                                {"kind": "chart", "id": "c", "chart": {"viz": "bar", "x": "a", "y": ["b"]}}
                            ]
                        }
                    ],
                }
            },
            "pdf_template",
        ),
        ({"spec": {"name": "x", "pages": [{"elements": [{"kind": "wat", "id": "c"}]}]}}, "kind"),
        ({"spec": {"name": "x"}, "surprise": 1}, "surprise"),
        ({"nospec": 1}, "nospec"),
    ],
)
def test_bad_templates_are_4xx_naming_the_field(
    api: Any, analyst: Any, body: dict[str, Any], field: str
) -> None:
    r = analyst.post(f"{api.base}/api/pdf/templates", json=body)
    assert r.status_code in (400, 422), r.text
    assert field in (r.json().get("field") or "") + r.json()["message"], r.json()


def test_bad_render_requests_are_refused_before_any_job(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, MAINTENANCE)
    for body, field in (
        ({"params": {"cidade": "x"}}, "params.cidade"),
        ({"priority": "urgent!"}, "priority"),
        ({"offpeak_only": "yes"}, "offpeak_only"),
        ({"override": True}, "override"),
        ({"params": []}, "params"),
    ):
        r = analyst.post(f"{api.base}/api/pdf/templates/{tid}/render", json=body)
        assert r.status_code in (400, 403, 422), (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
    assert analyst.post(f"{api.base}/api/pdf/templates/999999/render", json={}).status_code == 404


def test_renders_are_their_requesters_and_signed_links_expire(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, MAINTENANCE)
    doc = render(analyst, api, tid)
    rid = doc["render_id"]
    viewer = api.login("viewer@acme.example.com", DEV_PASSWORD)
    assert viewer.get(f"{api.base}/api/pdf/renders/{rid}").status_code == 404
    assert viewer.get(f"{api.base}/api/pdf/renders/{rid}/download").status_code == 404
    assert api.session().get(f"{api.base}/api/pdf/renders/{rid}/download").status_code == 401
    admin = api.login("admin@acme.example.com", DEV_PASSWORD)
    assert admin.get(f"{api.base}/api/pdf/renders/{rid}/download").status_code == 200
    secret = api.ctx.settings.secret_key
    link = renders.signed_link(secret, rid)
    assert api.session().get(f"{api.base}{link}").content[:5] == b"%PDF-"
    assert api.session().get(f"{api.base}{link[:-1]}{'0' if link[-1] != '0' else '1'}").status_code == 404
    expired = renders.signed_link(secret, rid, ttl_s=-10)
    assert api.session().get(f"{api.base}{expired}").status_code == 404
    other_render = renders.signed_link(secret, rid + 1000)
    assert api.session().get(f"{api.base}{other_render}").status_code == 404


def test_offpeak_only_renders_outside_the_window_are_deferred(api: Any, analyst: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from portal.jobstore.settings import save_offpeak
    from portal.specs.jobs import OffpeakConfigSpec

    now = datetime.now(UTC)
    start = (now + timedelta(hours=3)).strftime("%H:%M")
    end = (now + timedelta(hours=4)).strftime("%H:%M")
    with transaction(api.ctx.sessions) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert tenant is not None
        save_offpeak(
            s,
            tenant.id,
            OffpeakConfigSpec.model_validate({"windows": [{"start": start, "end": end, "timezone": "UTC"}]}),
        )
    try:
        tid = template_id(analyst, api, MAINTENANCE)
        r = analyst.post(f"{api.base}/api/pdf/templates/{tid}/render", json={"offpeak_only": True})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "deferred" and body["reason"] and body["not_before"]
        assert analyst.get(f"{api.base}/api/pdf/renders/{body['render_id']}").json()["status"] == "deferred"
    finally:
        with transaction(api.ctx.sessions) as s:
            tenant = s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            assert tenant is not None
            save_offpeak(s, tenant.id, OffpeakConfigSpec())


def test_templates_and_renders_rows_are_recorded(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, MAINTENANCE)
    doc = render(analyst, api, tid)
    with api.ctx.sessions() as s:
        row = s.get(PdfRender, doc["render_id"])
        t = s.get(PdfTemplate, tid)
        assert row is not None and t is not None
        assert row.template_version == t.version and row.status == "done" and row.file_sha256
        assert row.job_id == doc["job_id"] and row.pages == doc["pages"]
