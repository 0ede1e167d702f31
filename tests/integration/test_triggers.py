"""Triggers end to end, on SQLite and PostgreSQL, with a real SMTP server (aiosmtpd) and a real HTTP
receiver on loopback: a condition fires once per streak (for N consecutive evaluations, cooldown,
re-arm on a flapping value), e-mail and a signed webhook arrive exactly once even when the job is
retried, tickets, notifications, report runs and widget highlights follow the alert, and the
alerts center keeps who acted. Bad input is a 4xx naming the field.

One database per backend for the module; each test makes its own report (and its own triggers),
and Redis is emptied before each test.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

import jobs.runtime
import jobs.triggers
from portal import alerts, dashboards, reports
from portal.context import build_context
from portal.errors import BadRequest, Conflict, NotFound, PermissionDenied
from portal.infra.db import transaction
from portal.jobqueue.workers import make_worker
from portal.models import Alert, AlertTicket, Delivery, JobRecord, Notification, ReportTrigger, Widget
from portal.notify.webhook import verify
from tests.conftest import seed_demo_accounts
from tests.support.principals import as_principal
from tests.support.shared import sign_in_once

SINCE_ALL = "2000-01-01"  # every ticket: rows
SINCE_NONE = "2100-01-01"  # no ticket: no rows
QUERY = {
    "source": "tickets",
    "metrics": [{"agg": "count", "as": "tickets"}],
    "group_by": ["priority"],
    "filters": [{"column": "opened_at", "op": ">=", "value": "{{params.since}}"}],
    "params": {"since": SINCE_ALL},
}


# --------------------------------------------------------------------------- receivers on loopback
@dataclass
class Mail:
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class MailBox:
    received: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Mail(list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Hook(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HookHandler)
        self.posts: list[Post] = []
        #: Statuses to answer, in order; 200 once they are used up.
        self.script: list[int] = []
        self.answer: bytes = b'{"ok":true}'

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = self.server.script.pop(0) if self.server.script else 200
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.posts.append(Post(self.path, headers, body, status))
        answer = self.server.answer if status == 200 else b'{"error":"busy"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[str, MailBox]]:
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", box
    controller.stop()


@pytest.fixture(scope="module")
def hook_server() -> Iterator[Hook]:
    server = Hook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- context
@pytest.fixture(scope="module")
def tctx(module_settings: Any, smtp_server: tuple[str, MailBox]) -> Iterator[Any]:
    """A context whose mail goes to the loopback SMTP server and whose webhooks may call loopback."""
    settings = module_settings.with_(smtp_url=smtp_server[0], webhook_allow_private=True)
    context = build_context(settings)
    context.redis.flushdb()
    yield context
    context.close()


@pytest.fixture(scope="module")
def users(tctx: Any) -> dict[tuple[str, str], Any]:
    return seed_demo_accounts(tctx)


@pytest.fixture
def ctx(
    tctx: Any, users: Any, redis_client: Any, smtp_server: tuple[str, MailBox], hook_server: Hook
) -> Iterator[Any]:
    """The module's context installed for the task functions; receivers emptied."""
    smtp_server[1].received.clear()
    hook_server.posts.clear()
    hook_server.script = []
    jobs.runtime.use_context(tctx)
    yield tctx
    jobs.runtime.use_context(None)


@pytest.fixture
def analyst(users: Any) -> Any:
    return users[("acme", "analyst")]


# --------------------------------------------------------------------------- helpers
def make_report(ctx: Any, user: Any, name: str = "Tickets since") -> int:
    with transaction(ctx.sessions) as s:
        r = reports.create_report(
            s, as_principal(s, user), {"name": name, "query": QUERY, "visibility": "public"}, ctx.warehouse
        )
        return int(r.id)


def save_trigger(ctx: Any, user: Any, report_id: int, settings: Any = None, **spec: Any) -> int:
    with transaction(ctx.sessions) as s:
        t = alerts.create_trigger(s, as_principal(s, user), report_id, spec, settings or ctx.settings)
        return int(t.id)


def execute(ctx: Any, user: Any, report_id: int, since: str) -> tuple[int, list[int]]:
    """Run the report now and submit its evaluations, as jobs/reports.py does after an execution."""
    with transaction(ctx.sessions) as s:
        p = as_principal(s, user)
        ex = reports.execute_report(
            s, p, report_id, ctx.warehouse, ctx.settings.results_dir, params={"since": since}
        )
        assert ex.status == "done"
        subs = alerts.submit_evaluations(s, p, report_id, ex.id)
    return int(ex.id), [sub.record.id for sub in subs]


def evaluate_now(ctx: Any, user: Any, report_id: int, since: str) -> list[dict[str, Any]]:
    """Execute, then run each evaluation job in this process; their summaries."""
    _, job_ids = execute(ctx, user, report_id, since)
    out = []
    for job_id in job_ids:
        summary = jobs.triggers.evaluate(job_id)
        assert summary is not None, record(ctx, job_id).last_error
        out.append(summary)
    return out


def record(ctx: Any, job_id: int) -> JobRecord:
    with ctx.sessions() as s:
        rec = s.get(JobRecord, job_id)
        assert rec is not None
        return rec


def alerts_of(ctx: Any, trigger_id: int) -> list[Alert]:
    with ctx.sessions() as s:
        return list(s.scalars(select(Alert).where(Alert.trigger_id == trigger_id).order_by(Alert.id)))


def run_worker(ctx: Any) -> None:
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        make_worker("realtime", ctx.redis).work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


IN_APP = [{"type": "in_app"}]


# --------------------------------------------------------------------------- conditions over time
def test_a_flapping_value_notifies_once_per_streak_with_for_consecutive_cooldown_and_rearm(
    ctx: Any, analyst: Any
) -> None:
    rid = make_report(ctx, analyst)
    streak = save_trigger(
        ctx,
        analyst,
        rid,
        op=">",
        value=0,
        for_consecutive=2,
        cooldown_minutes=0,
        actions=IN_APP,
        name="Streak",
    )
    cooled = save_trigger(
        ctx, analyst, rid, op=">", value=0, cooldown_minutes=60, actions=IN_APP, name="Cooled"
    )

    def step(since: str) -> dict[int, dict[str, Any]]:
        return {s["trigger_id"]: s for s in evaluate_now(ctx, analyst, rid, since)}

    first = step(SINCE_ALL)  # streak 1 of 2: no fire; "Cooled" fires at once
    assert (first[streak]["matched"], first[streak]["fired"], first[streak]["notified"]) == (
        True,
        False,
        False,
    )
    assert first[cooled]["notified"] is True
    second = step(SINCE_ALL)  # streak 2 of 2: fires and notifies
    assert second[streak]["notified"] is True and second[cooled]["notified"] is False
    third = step(SINCE_ALL)  # still holds: fired, but disarmed until the value drops
    assert third[streak]["fired"] is True and third[streak]["notified"] is False
    fourth = step(SINCE_NONE)  # drops: re-armed
    assert fourth[streak]["matched"] is False
    fifth = step(SINCE_ALL)  # back: streak 1 of 2 again
    assert fifth[streak]["fired"] is False
    sixth = step(SINCE_ALL)  # streak complete, armed, no cooldown: notifies again
    assert sixth[streak]["notified"] is True
    # "Cooled" re-armed too, but its 60-minute cooldown holds it back.
    assert sixth[cooled]["fired"] is True and sixth[cooled]["notified"] is False

    assert len(alerts_of(ctx, streak)) == 2
    assert len(alerts_of(ctx, cooled)) == 1
    with ctx.sessions() as s:
        t = s.get(ReportTrigger, streak)
        assert t is not None
        assert t.state_json["history"][-6:] == [True, True, True, False, True, True]
        assert t.state_json["armed"] is False
        # In-app: the author (also the report's owner) and the tenant's admins, once per alert.
        first_alert = alerts_of(ctx, streak)[0]
        notified = set(s.scalars(select(Notification.user_id).where(Notification.alert_id == first_alert.id)))
    admin = ctx_user(ctx, "admin")
    assert notified == {analyst.id, admin.id}


def ctx_user(ctx: Any, role: str, tenant: str = "acme") -> Any:
    from portal.models import User

    with ctx.sessions() as s:
        u = s.scalar(select(User).where(User.email == f"{role}@{tenant}.example.com"))
        assert u is not None
        return u


def test_an_old_execution_arriving_late_and_a_second_evaluation_of_one_execution_do_nothing(
    ctx: Any, analyst: Any
) -> None:
    rid = make_report(ctx, analyst)
    tid = save_trigger(ctx, analyst, rid, op=">", value=0, cooldown_minutes=0, actions=IN_APP)
    old_ex, old_jobs = execute(ctx, analyst, rid, SINCE_ALL)
    new_ex, new_jobs = execute(ctx, analyst, rid, SINCE_ALL)
    assert jobs.triggers.evaluate(new_jobs[0])["notified"] is True  # type: ignore[index]
    late = jobs.triggers.evaluate(old_jobs[0])
    assert late is not None and "later execution" in late["skipped"]
    # The same execution submitted again: the first job decided it; no second alert.
    with transaction(ctx.sessions) as s:
        again = alerts.submit_evaluations(s, as_principal(s, analyst), rid, new_ex)
    repeat = jobs.triggers.evaluate(again[0].record.id)
    assert repeat is not None and "was evaluated by job" in repeat["skipped"]
    assert len(alerts_of(ctx, tid)) == 1


# --------------------------------------------------------------------------- e-mail and webhook, exactly once
def test_email_and_a_signed_webhook_arrive_exactly_once_even_when_the_job_is_retried(
    ctx: Any, analyst: Any, smtp_server: tuple[str, MailBox], hook_server: Hook
) -> None:
    box = smtp_server[1]
    rid = make_report(ctx, analyst, "Backlog watch")
    url = f"{hook_server.url}/hooks/conductor?token=abc"
    body = {
        "name": "Backlog above zero",
        "op": ">",
        "value": 0,
        "severity": "crit",
        "actions": [
            {"type": "email", "recipients": ["ops@example.com", "Oncall@Example.com"]},
            {"type": "webhook", "url": url, "secret": "ops_hook"},
            {"type": "open_ticket", "title": "Backlog: look at it"},
            {"type": "in_app"},
        ],
    }
    tid = save_trigger(ctx, analyst, rid, **body)
    hook_server.script = [503]  # the first attempt fails (transient): the job is retried
    _, job_ids = execute(ctx, analyst, rid, SINCE_ALL)
    with ctx.sessions() as s:
        job = s.get(JobRecord, job_ids[0])
        assert job is not None
    from portal.jobqueue import enqueue_job

    enqueue_job(ctx.redis, job, retry_intervals=[0, 0, 0, 0])
    run_worker(ctx)

    rec = record(ctx, job_ids[0])
    assert rec.status == "done", rec.last_error
    assert rec.attempts == 2
    assert rec.result_json is not None and rec.result_json["resumed"] is True

    # E-mail: one copy per recipient, sent by the first attempt only.
    assert sorted(m.rcpt_tos[0].lower() for m in box.received) == ["oncall@example.com", "ops@example.com"]
    msg = box.received[0].message()
    assert "[Critical] Backlog above zero" in str(msg["Subject"])
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Backlog watch" in text and "row count > 0" in text

    # Webhook: refused once (503), delivered once; both attempts the same signed body and key.
    assert [p.status for p in hook_server.posts] == [503, 200]
    first, ok = hook_server.posts
    assert ok.path == "/hooks/conductor?token=abc"
    assert first.body == ok.body and first.headers["idempotency-key"] == ok.headers["idempotency-key"]
    secret = alerts.signing_secret(ctx.settings.secret_key, analyst.tenant_id, "ops_hook").encode()
    assert verify(secret, ok.headers["x-conductor-signature"], ok.body)
    assert not verify(b"another-secret-0123456789", ok.headers["x-conductor-signature"], ok.body)
    doc = json.loads(ok.body)
    assert doc["event"] == "alert.fired"
    assert doc["alert"]["name"] == "Backlog above zero" and doc["alert"]["severity"] == "crit"
    assert doc["alert"]["report"] == {"id": rid, "name": "Backlog watch"}

    [alert] = alerts_of(ctx, tid)
    with ctx.sessions() as s:
        sent = s.execute(
            select(Delivery.channel, func.count())
            .where(Delivery.job_id == job_ids[0], Delivery.status == "sent")
            .group_by(Delivery.channel)
        ).all()
        tickets = list(s.scalars(select(AlertTicket).where(AlertTicket.alert_id == alert.id)))
    assert dict(sent) == {"email": 2, "webhook": 1, "in_app": 2}
    assert [t.title for t in tickets] == ["Backlog: look at it"]

    # The job delivered again (RQ at-least-once): it is finished, nothing runs, nothing is sent.
    assert jobs.triggers.evaluate(job_ids[0]) is None
    assert len(box.received) == 2 and len(hook_server.posts) == 2


def test_a_ticket_goes_to_the_external_system_once_with_its_reference(
    ctx: Any, analyst: Any, hook_server: Hook
) -> None:
    rid = make_report(ctx, analyst)
    hook_server.answer = b'{"id": "OPS-42"}'
    try:
        tid = save_trigger(
            ctx,
            analyst,
            rid,
            op="EXISTS",
            actions=[{"type": "open_ticket", "url": f"{hook_server.url}/tickets", "secret": "tickets"}],
        )
        [summary] = evaluate_now(ctx, analyst, rid, SINCE_ALL)
    finally:
        hook_server.answer = b'{"ok":true}'
    assert summary["sent"] == 1
    [post] = hook_server.posts
    doc = json.loads(post.body)
    assert doc["event"] == "ticket.opened" and post.headers["x-conductor-event"] == "ticket.opened"
    [alert] = alerts_of(ctx, tid)
    with ctx.sessions() as s:
        [ticket] = s.scalars(select(AlertTicket).where(AlertTicket.alert_id == alert.id))
    assert (ticket.external_status, ticket.external_ref) == ("sent", "OPS-42")
    assert doc["ticket"]["id"] == ticket.id


def test_a_permanent_webhook_failure_ends_the_job_failed_without_retries_and_keeps_the_alert(
    ctx: Any, analyst: Any, hook_server: Hook
) -> None:
    rid = make_report(ctx, analyst)
    tid = save_trigger(
        ctx,
        analyst,
        rid,
        op=">",
        value=0,
        actions=[{"type": "webhook", "url": f"{hook_server.url}/x", "secret": "s1"}],
    )
    hook_server.script = [404]
    _, [job_id] = execute(ctx, analyst, rid, SINCE_ALL)
    with pytest.raises(jobs.runtime.JobFailed):
        jobs.triggers.evaluate(job_id)
    rec = record(ctx, job_id)
    assert rec.status == "failed" and rec.last_error is not None and "404" in rec.last_error
    assert "actions.0.url" in rec.last_error and "token" not in rec.last_error
    assert len(alerts_of(ctx, tid)) == 1  # the alert stays, with its failed delivery recorded


# --------------------------------------------------------------------------- save-time checks
def test_a_webhook_to_loopback_is_refused_at_save_time_unless_the_settings_allow_it(
    ctx: Any, analyst: Any, hook_server: Hook
) -> None:
    rid = make_report(ctx, analyst)
    strict = ctx.settings.with_(webhook_allow_private=False)
    action = {"type": "webhook", "url": f"{hook_server.url}/hook", "secret": "s1"}
    with pytest.raises(BadRequest) as err:
        save_trigger(ctx, analyst, rid, strict, op="EXISTS", actions=[IN_APP[0], action])
    assert err.value.field == "actions.1.url"
    assert "loopback" in err.value.message and "WEBHOOK_ALLOW_PRIVATE" in err.value.message
    # Allowed by name, or all private addresses allowed: saved.
    by_name = strict.with_(webhook_allowed_hosts=("127.0.0.1",))
    assert save_trigger(ctx, analyst, rid, by_name, op="EXISTS", actions=[action])
    assert save_trigger(ctx, analyst, rid, op="EXISTS", actions=[action])


def test_run_report_loops_are_refused_and_a_chain_runs_the_next_report_as_the_author(
    ctx: Any, analyst: Any
) -> None:
    a, b = make_report(ctx, analyst, "A"), make_report(ctx, analyst, "B")
    tid = save_trigger(ctx, analyst, a, op=">", value=0, actions=[{"type": "run_report", "report_id": b}])
    with pytest.raises(Conflict) as err:
        save_trigger(ctx, analyst, b, op=">", value=0, actions=[{"type": "run_report", "report_id": a}])
    assert err.value.field == "actions" and f"report {b} → report {a} → report {b}" in err.value.message
    with pytest.raises(Conflict):
        save_trigger(ctx, analyst, a, op="EXISTS", actions=[{"type": "run_report", "report_id": a}])
    # Disabling the first trigger breaks the chain: B -> A may be saved; enabling A -> B again is refused.
    with transaction(ctx.sessions) as s:
        alerts.set_trigger_active(s, as_principal(s, analyst), tid, False)
    save_trigger(ctx, analyst, b, op=">", value=0, actions=[{"type": "run_report", "report_id": a}])
    with pytest.raises(Conflict), transaction(ctx.sessions) as s:
        alerts.set_trigger_active(s, as_principal(s, analyst), tid, True)

    c = make_report(ctx, analyst, "C")
    save_trigger(ctx, analyst, c, op=">", value=0, actions=[{"type": "run_report", "report_id": a}])
    [summary] = evaluate_now(ctx, analyst, c, SINCE_ALL)
    [job_id] = summary["jobs"]
    run = record(ctx, job_id)
    assert (run.job_class, run.owner_id, run.payload_json["report_id"]) == ("report_execute", analyst.id, a)


def test_a_highlighted_widget_shows_its_alert_on_its_dashboard_until_closed(ctx: Any, analyst: Any) -> None:
    rid = make_report(ctx, analyst)
    with ctx.sessions() as s:
        widget = s.scalar(
            select(Widget)
            .join(Widget.dashboard)
            .where(Widget.dashboard.has(owner_id=analyst.id))
            .order_by(Widget.id)
        )
        assert widget is not None
        did, wid = widget.dashboard_id, widget.id
    save_trigger(
        ctx,
        analyst,
        rid,
        op="EXISTS",
        severity="crit",
        name="Highlighted",
        actions=[{"type": "highlight_widget", "widget_id": wid}],
    )

    def planned() -> dict[int, Any]:
        with transaction(ctx.sessions) as s:
            viewer = as_principal(s, ctx_user(ctx, "viewer"))
            plan = dashboards.plan_dashboard(s, viewer, ctx.warehouse.catalog, did, record_view=False)
            return plan.alerts

    assert wid not in planned()
    evaluate_now(ctx, analyst, rid, SINCE_ALL)
    shown = planned()[wid]
    assert (shown.name, shown.severity, shown.status) == ("Highlighted", "crit", "open")
    with transaction(ctx.sessions) as s:
        alerts.act_on_alert(s, as_principal(s, analyst), shown.alert_id, "close")
    assert wid not in planned()


# --------------------------------------------------------------------------- REST
@pytest.fixture(scope="module")
def rest(module_api: Any) -> Any:
    return module_api


@pytest.fixture(scope="module")
def acme(rest: Any) -> requests.Session:
    return sign_in_once(rest, "analyst@acme.example.com", "conductor-demo")


@pytest.fixture(scope="module")
def globex(rest: Any) -> requests.Session:
    return sign_in_once(rest, "analyst@globex.example.com", "conductor-demo")


def _report_via_api(rest: Any, s: requests.Session) -> int:
    r = s.post(f"{rest.base}/api/reports", json={"name": "Via API", "query": QUERY})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_api_bad_input_is_a_4xx_naming_the_field(rest: Any, acme: requests.Session, ctx: Any) -> None:
    base = rest.base
    rid = _report_via_api(rest, acme)

    def post(report: int, body: dict[str, Any]) -> requests.Response:
        return acme.post(f"{base}/api/reports/{report}/trigger", json=body)

    cases = [
        (987654321, {"op": "EXISTS", "actions": IN_APP}, 404, None),
        (rid, {"op": "BETWEEN", "value": 5, "actions": IN_APP}, 422, "value"),
        (rid, {"op": "~", "value": 5, "actions": IN_APP}, 422, "op"),
        (rid, {"op": "EXISTS", "actions": []}, 422, "actions"),
        (rid, {"op": "EXISTS", "actions": IN_APP, "treshold": 3}, 400, "treshold"),
        (rid, {"op": "EXISTS", "actions": IN_APP, "name": "x" * 201}, 400, "name"),
        (rid, {"op": "EXISTS", "actions": IN_APP, "name": 7}, 400, "name"),
        (rid, {"metric": "tikets", "op": ">", "value": 1, "actions": IN_APP}, 422, "metric"),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "run_report", "report_id": 987654321}]},
            404,
            "actions.0.report_id",
        ),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "highlight_widget", "widget_id": 987654321}]},
            404,
            "actions.0.widget_id",
        ),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s1"}]},
            400,
            "actions.0.url",
        ),
        (
            rid,
            {
                "op": "EXISTS",
                "actions": [{"type": "webhook", "url": "http://169.254.169.254/", "secret": "s1"}],
            },
            400,
            "actions.0.url",
        ),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "webhook", "url": "http://10.0.0.7/", "secret": "s1"}]},
            400,
            "actions.0.url",
        ),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "open_ticket", "url": "https://93.184.215.14/t"}]},
            400,
            "actions.0.secret",
        ),
        (
            rid,
            {"op": "EXISTS", "actions": [{"type": "email", "recipients": ["not an address"]}]},
            422,
            "actions.0.email.recipients.0",
        ),
    ]
    for report, body, status, fld in cases:
        r = post(report, body)
        assert r.status_code == status, (body, r.status_code, r.text)
        if fld is not None:
            assert r.json().get("field", "").startswith(fld.split(".email")[0]), (body, r.text)
    assert acme.post(f"{base}/api/reports/{rid}/trigger", data=b"{not json").status_code == 400

    saved = post(rid, {"name": "Many tickets", "metric": "tickets", "op": ">", "value": 1, "actions": IN_APP})
    assert saved.status_code == 201, saved.text
    doc = saved.json()
    assert doc["name"] == "Many tickets" and doc["rule"]["metric"] == "tickets" and doc["is_active"] is True
    listed = acme.get(f"{base}/api/reports/{rid}/triggers").json()["triggers"]
    assert doc["id"] in [t["id"] for t in listed]
    assert (
        acme.patch(f"{base}/api/triggers/{doc['id']}", json={"is_active": False}).json()["is_active"] is False
    )
    assert acme.patch(f"{base}/api/triggers/{doc['id']}", json={"is_active": "no"}).status_code == 400
    assert acme.delete(f"{base}/api/triggers/{doc['id']}").status_code == 204
    assert acme.get(f"{base}/api/triggers/{doc['id']}").status_code == 404


def test_api_answers_the_signing_secret_when_a_webhook_names_one(rest: Any, acme: requests.Session) -> None:
    rid = _report_via_api(rest, acme)
    r = acme.post(
        f"{rest.base}/api/reports/{rid}/trigger",
        json={
            "op": "EXISTS",
            "actions": [{"type": "webhook", "url": "https://93.184.215.14/hook", "secret": "ops_hook"}],
        },
    )
    assert r.status_code == 201, r.text
    secret = r.json()["signing_secrets"]["ops_hook"]
    assert secret.startswith("whsec_") and len(secret) == 70
    # The same name in the same tenant: the same secret (one receiver for several triggers).
    again = acme.post(
        f"{rest.base}/api/reports/{rid}/trigger",
        json={
            "op": "EXISTS",
            "actions": [{"type": "webhook", "url": "https://93.184.215.14/other", "secret": "ops_hook"}],
        },
    )
    assert again.json()["signing_secrets"] == {"ops_hook": secret}


def test_alerts_ack_close_reopen_keep_who_acted_and_other_tenants_get_404(
    ctx: Any, analyst: Any, rest: Any, acme: requests.Session, globex: requests.Session
) -> None:
    base = rest.base
    rid = make_report(ctx, analyst, "Acked <b>report</b>")
    tid = save_trigger(ctx, analyst, rid, op=">", value=0, severity="warn", actions=IN_APP, name="Ack me")
    evaluate_now(ctx, analyst, rid, SINCE_ALL)
    [alert] = alerts_of(ctx, tid)
    aid = alert.id

    listed = acme.get(f"{base}/api/alerts", params={"status": "open", "severity": "warn"}).json()
    assert aid in [a["id"] for a in listed["alerts"]] and listed["counts"]["open"] >= 1
    assert acme.get(f"{base}/api/alerts", params={"status": "shut"}).json()["field"] == "status"
    assert acme.get(f"{base}/api/alerts", params={"severity": "high"}).status_code == 422

    unread = acme.get(f"{base}/api/notifications").json()["unread"]
    ack = acme.post(f"{base}/api/alerts/{aid}/ack", json={"note": "looking <now>"})
    assert ack.status_code == 200, ack.text
    doc = ack.json()
    assert doc["status"] == "acked" and doc["report_name"] == "Acked <b>report</b>"
    opened, acked = doc["history"]
    assert opened["action"] == "opened" and opened["by"] is None
    assert (acked["action"], acked["by"], acked["note"]) == ("acked", analyst.id, "looking <now>")
    assert "analyst@acme.example.com" in acked["by_name"]
    # Acknowledging read the analyst's notification about it.
    assert acme.get(f"{base}/api/notifications").json()["unread"] == unread - 1

    again = acme.post(f"{base}/api/alerts/{aid}/ack", json={})
    assert again.status_code == 409 and again.json()["field"] == "status"
    assert acme.post(f"{base}/api/alerts/{aid}/ack", json={"note": 5}).json()["field"] == "note"
    assert acme.post(f"{base}/api/alerts/{aid}/ack", json={"nota": "x"}).json()["field"] == "nota"

    # Another tenant: not found, whatever the verb.
    assert globex.get(f"{base}/api/alerts/{aid}").status_code == 404
    assert globex.post(f"{base}/api/alerts/{aid}/close", json={}).status_code == 404
    assert aid not in [a["id"] for a in globex.get(f"{base}/api/alerts").json()["alerts"]]

    closed = acme.post(f"{base}/api/alerts/{aid}/close", json={"note": "fixed"}).json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    reopened = acme.post(f"{base}/api/alerts/{aid}/reopen", json={}).json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert [h["action"] for h in reopened["history"]] == ["opened", "acked", "closed", "open"]
    assert acme.get(f"{base}/api/alerts/{aid}").json()["status"] == "open"


def test_notifications_and_tickets_over_the_api(
    ctx: Any, analyst: Any, rest: Any, acme: requests.Session, globex: requests.Session
) -> None:
    base = rest.base
    rid = make_report(ctx, analyst)
    save_trigger(ctx, analyst, rid, op="EXISTS", actions=[*IN_APP, {"type": "open_ticket"}], name="Bell")
    evaluate_now(ctx, analyst, rid, SINCE_ALL)

    mine = acme.get(f"{base}/api/notifications", params={"unread": "1"}).json()
    bell = [n for n in mine["notifications"] if n["title"] == "Bell"]
    assert bell and bell[0]["read_at"] is None and bell[0]["link"].startswith("/alerts?alert=")
    before = mine["unread"]
    assert before >= 1
    r = acme.post(f"{base}/api/notifications/read", json={"ids": [bell[0]["id"]]})
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread": before - 1}
    # Someone else's notification id changes nothing; bad bodies name their field.
    assert globex.post(f"{base}/api/notifications/read", json={"ids": [bell[0]["id"]]}).json()["marked"] == 0
    assert acme.post(f"{base}/api/notifications/read", json={}).json()["field"] == "ids"
    assert acme.post(f"{base}/api/notifications/read", json={"ids": ["x"]}).json()["field"] == "ids"
    assert acme.post(f"{base}/api/notifications/read", json={"all": "yes"}).json()["field"] == "all"
    assert acme.post(f"{base}/api/notifications/read", json={"all": True}).json()["unread"] == 0
    assert acme.get(f"{base}/api/notifications", params={"unread": "maybe"}).status_code == 422

    tickets = acme.get(f"{base}/api/alert-tickets", params={"status": "open"}).json()["tickets"]
    ticket = next(t for t in tickets if t["title"] == "Bell")
    assert globex.post(f"{base}/api/alert-tickets/{ticket['id']}/close", json={}).status_code == 404
    closed = acme.post(f"{base}/api/alert-tickets/{ticket['id']}/close", json={})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert acme.post(f"{base}/api/alert-tickets/{ticket['id']}/close", json={}).status_code == 409
    assert acme.get(f"{base}/api/alert-tickets", params={"status": "done"}).json()["field"] == "status"


def test_a_viewer_cannot_put_a_trigger_on_someone_elses_report(ctx: Any, analyst: Any) -> None:
    rid = make_report(ctx, analyst)
    viewer = ctx_user(ctx, "viewer")
    with pytest.raises(PermissionDenied):  # a public report: visible, not editable
        save_trigger(ctx, viewer, rid, op="EXISTS", actions=IN_APP)
    other = ctx_user(ctx, "analyst", "globex")
    with pytest.raises(NotFound):
        save_trigger(ctx, other, rid, op="EXISTS", actions=IN_APP)
