"""PDF templates and renders through the REST API, on SQLite and PostgreSQL, with the demo's
two templates: create and save versions, diff, roll back, clone; render on the job queue (the
API server's worker threads) and download; the caller's row scope in the PDF; a broken binding,
a missing image and a chart on an unknown column render the rest with error boxes; bad input
is a 4xx naming the field; renders are their requester's; signed links expire.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD
from portal.infra.db import transaction
from portal.models import Tenant
from portal.pdf import renders
from tests.support.pdf import broken_spec, download, pdf_pages, pdf_text, render, template_id
from tests.support.shared import new_user

MAINTENANCE = "Relatório de Manutenção e Despesas"
SLA = "Relatório mensal de SLA"


# Renders are the slow part: the render paths run on SQLite here; test_pdf_templates_api.py runs
# the templates API (and one render) on both backends.
pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def analyst(api: Any) -> Any:
    return api.login("analyst@acme.example.com", DEV_PASSWORD)


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
