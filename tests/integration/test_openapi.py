"""The OpenAPI document (``/api/openapi.json``) and its page (``/api/docs``), then schemathesis
against a live API server over every documented operation: no 5xx, no answer that violates
the document (schema, status code, content type).

The module has its own database and server (SQLite only: the point is the HTTP contract, and
the services are tested on both backends elsewhere), so what the fuzzer creates, changes or
deletes there harms no other test.

schemathesis runs through its Python API, one hypothesis test per operation and generation
mode (``APIOperation.as_strategy``): its pytest integration (``schemathesis.pytest.from_fixture``
with ``parametrize``) fails on pytest 9 (``'Function' object has no attribute '_nodeid'``, with
schemathesis 4.32.5). ``CONDUCTOR_FUZZ_EXAMPLES=50`` makes a deeper run by hand.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import re
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.demo.accounts import DEV_PASSWORD
from portal.web import openapi
from portal.web.api import routes
from portal.web.api.docs import CSP, STYLE

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

ADMIN = "admin@acme.example.com"
#: Operations the fuzzer leaves alone, and why.
NOT_FUZZED = {
    # An event stream never ends: a request for a dashboard the caller may see would hang.
    ("GET", "/sse/dashboards/{dashboard_id}"),
    # Revoking the run's own API token would turn every later request into a 401.
    ("DELETE", "/api/tokens/{token_id}"),
}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def document(api: Any) -> dict[str, Any]:
    r = requests.get(f"{api.base}/api/openapi.json", timeout=30)  # no token: the document is public
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc: dict[str, Any] = r.json()
    return doc


# --------------------------------------------------------------------------- the document
def test_the_served_document_is_the_route_tables(document: dict[str, Any]) -> None:
    """``/api/openapi.json`` is public and describes the live table (tests/unit/test_openapi.py
    checks the document itself)."""
    validate(document)
    table = [(pattern, handler) for pattern, handler, _ in routes(None)]  # type: ignore[arg-type]
    assert document == json.loads(json.dumps(openapi.build_document(table)))


def test_the_docs_page_is_self_contained_and_locked_down(api: Any, document: dict[str, Any]) -> None:
    r = requests.get(f"{api.base}/api/docs", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert csp == CSP and "unsafe" not in csp and "script-src" not in csp
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp and "frame-ancestors 'none'" in csp
    page = r.text
    assert "<script" not in page and "http://" not in page.replace("http://json-schema.org", "")
    for path in document["paths"]:
        assert f"<code>{path}</code>" in page, path
    # Everything from the document is escaped (docstrings and schemas hold <, > and quotes).
    assert "&lt;token&gt;" in page


# --------------------------------------------------------------------------- schemathesis
#: Examples per operation and generation mode (valid data, then invalid data): ~120 operations
#: x 2 modes x 4 examples stay well under three minutes on two cores.
EXAMPLES = int(os.environ.get("CONDUCTOR_FUZZ_EXAMPLES", "4"))  # more for a deeper run by hand


def _schema(api: Any, document: dict[str, Any], token: str) -> Any:
    doc = copy.deepcopy(document)
    # The run waits at most a second for a report (the contract allows 60: a deferred run would).
    execute = doc["paths"]["/api/reports/{report_id}/execute"]["post"]["requestBody"]["content"]
    execute["application/json"]["schema"]["properties"]["wait"]["maximum"] = 1
    config = schemathesis.Config.from_dict(
        {"base-url": api.base, "headers": {"Authorization": f"Bearer {token}"}, "request-timeout": 30}
    )
    return schemathesis.openapi.from_dict(doc, config=config)


def _known_ids(api: Any, token: str) -> dict[str, int]:
    """Ids of demo objects by path parameter name: the fuzzer also reaches past the 404s."""
    http = api.session(token)

    def first(path: str, key: str) -> dict[str, Any] | None:
        rows = http.get(f"{api.base}{path}", timeout=30).json().get(key) or []
        return rows[0] if rows else None

    ids: dict[str, int] = {"version": 1}
    for name, path, key in (
        ("report_id", "/api/reports", "reports"),
        ("template_id", "/api/pdf/templates", "templates"),
        ("group_id", "/api/groups", "groups"),
        ("schedule_id", "/api/schedules", "schedules"),
        ("alert_id", "/api/alerts", "alerts"),
        ("ticket_id", "/api/alert-tickets", "tickets"),
    ):
        row = first(path, key)
        if row is not None:
            ids[name] = row["id"]
    for row in http.get(f"{api.base}/api/dashboards", timeout=30).json()["dashboards"]:
        board = http.get(f"{api.base}/api/dashboards/{row['id']}", timeout=30).json()
        if board["widgets"]:  # a demo dashboard (another test may have made an empty one)
            ids["dashboard_id"], ids["widget_id"] = board["id"], board["widgets"][0]["id"]
            break
    users = http.get(f"{api.base}/api/users", timeout=30).json()["users"]
    ids["user_id"] = next(u["id"] for u in users if u["email"].startswith("viewer@"))
    run = http.post(f"{api.base}/api/reports/{ids['report_id']}/execute", json={"wait": 30}, timeout=60)
    assert run.status_code == 201, run.text
    ids["execution_id"], ids["job_id"] = run.json()["id"], run.json()["job_id"]
    return ids


def _fuzz(operation: Any, mode: GenerationMode, pinned: dict[str, int] | None = None) -> None:
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests every run: CI never fails on luck
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing request is reported as is
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid: no negative case exists
        run()


def test_findings_of_the_fuzzer_stay_fixed(api: Any) -> None:
    """Requests schemathesis turned into 500s: now 4xx naming the field."""
    http = api.login(ADMIN, DEV_PASSWORD)
    r = http.get(f"{api.base}/api/jobs", params={"before_id": str(2**70), "class": "trigger_evaluate"})
    assert r.status_code == 400 and r.json()["field"] == "before_id", r.text  # was: SQLite OverflowError
    board = http.get(f"{api.base}/api/dashboards").json()["dashboards"][0]["id"]
    r = http.put(
        f"{api.base}/api/dashboards/{board}", json={"positions": {"a b": {"x": 0, "y": 0, "w": 1, "h": 1}}}
    )
    assert r.status_code == 422 and r.json()["field"] == "positions.a b", r.text  # was: IndexError
    template = http.get(f"{api.base}/api/pdf/templates").json()["templates"][0]["id"]
    r = http.post(f"{api.base}/api/pdf/templates/{template}/rollback", json={"version": 10**25})
    assert r.status_code == 400 and r.json()["field"] == "version", r.text  # was: SQLite OverflowError
    r = http.post(f"{api.base}/api/pdf/templates", json={"id": 10**25, "spec": {}})
    assert r.status_code == 400 and r.json()["field"] == "id", r.text
    r = requests.get(f"{api.base}/api/pdf/renders/1/download", params={"exp": "1", "sig": "óSr|"}, timeout=30)
    assert r.status_code == 404, r.text  # was: TypeError in hmac.compare_digest


@pytest.fixture
def admin_token(api: Any) -> str:
    """A tenant admin's API token: the admin-only operations are reached too."""
    token: str = api.token(ADMIN, DEV_PASSWORD)
    return token


@pytest.fixture
def known_ids(api: Any, admin_token: str) -> dict[str, int]:
    return _known_ids(api, admin_token)


def test_the_documented_examples_work(
    api: Any, document: dict[str, Any], admin_token: str, known_ids: dict[str, int]
) -> None:
    """Each request body example of the document, sent as is (demo ids in the path), succeeds."""
    http = api.session(admin_token)
    tried = []
    for path, item in document["paths"].items():
        for method in openapi.METHODS:
            media = item.get(method, {}).get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" not in media:
                continue
            r = http.request(
                method.upper(), f"{api.base}{path.format(**known_ids)}", json=media["example"], timeout=60
            )
            success = [int(code) for code in item[method]["responses"] if code.startswith("2")]
            assert r.status_code in success, (method, path, r.status_code, r.text[:500])
            tried.append(f"{method} {path}")
    assert len(tried) >= 7, tried


def test_every_operation_keeps_its_contract(
    api: Any, document: dict[str, Any], admin_token: str, known_ids: dict[str, int]
) -> None:
    """schemathesis over every documented operation (but :data:`NOT_FUZZED`): valid and invalid
    requests, first on existing demo objects (DELETE excepted, so the objects stay), then on
    generated ids; no 5xx, and every answer matches the document (schema, status, content type)."""
    known = known_ids
    schema = _schema(api, document, admin_token)
    failures: list[str] = []
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        method = operation.method.upper()
        if (method, operation.path) in NOT_FUZZED:
            continue
        seen += 1
        names = re.findall(r"{([^}]+)}", operation.path)
        runs: list[tuple[GenerationMode, dict[str, int] | None]] = []
        if names and method != "DELETE" and all(n in known for n in names):
            pinned = {n: known[n] for n in names}
            runs += [(GenerationMode.POSITIVE, pinned), (GenerationMode.NEGATIVE, pinned)]
        runs += [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        for mode, pinned_ids in runs:
            try:
                _fuzz(operation, mode, pinned_ids)
            except (Exception, BaseExceptionGroup) as exc:  # failed checks: collect all, fail once
                where = (
                    f"{method} {operation.path} ({mode.value}{', ' + str(pinned_ids) if pinned_ids else ''})"
                )
                failures.append(f"{where}: {exc}"[:3000])
    assert seen == sum(1 for item in document["paths"].values() for m in item if m in openapi.METHODS) - len(
        NOT_FUZZED
    )
    assert not failures, "\n\n".join(failures)
