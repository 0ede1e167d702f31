"""PDF templates through the REST API on SQLite and PostgreSQL: the demo templates per tenant,
versions (save, stale save, diff, roll back, clone), bad templates and bad render requests as
4xx naming the field, and a render recorded with its template version and job.
"""

from __future__ import annotations

from typing import Any

import pytest

from portal.demo.accounts import DEV_PASSWORD
from portal.models import PdfRender, PdfTemplate
from tests.support.pdf import broken_spec, render, template_id

MAINTENANCE = "Relatório de Manutenção e Despesas"
SLA = "Relatório mensal de SLA"


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def analyst(api: Any) -> Any:
    return api.login("analyst@acme.example.com", DEV_PASSWORD)


def test_the_demo_templates_are_listed_per_tenant(api: Any, analyst: Any) -> None:
    names = {t["name"] for t in analyst.get(f"{api.base}/api/pdf/templates").json()["templates"]}
    assert {SLA, MAINTENANCE} <= names
    other = api.login("analyst@globex.example.com", DEV_PASSWORD)
    tid = template_id(analyst, api, SLA)
    r = other.get(f"{api.base}/api/pdf/templates/{tid}")
    assert r.status_code == 404 and "not found" in r.json()["message"]


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


def test_templates_and_renders_rows_are_recorded(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, MAINTENANCE)
    doc = render(analyst, api, tid)
    with api.ctx.sessions() as s:
        row = s.get(PdfRender, doc["render_id"])
        t = s.get(PdfTemplate, tid)
        assert row is not None and t is not None
        assert row.template_version == t.version and row.status == "done" and row.file_sha256
        assert row.job_id == doc["job_id"] and row.pages == doc["pages"]
