"""A PDF schedule fires on the scheduler's tick, its job renders the template as the schedule's
owner and delivers it: e-mail with the PDF attached and a signed link (to the embedded outbox,
then to a real SMTP server on loopback), and an in-app notification with the download.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD
from portal.jobqueue.scheduler import tick
from portal.models import JobRecord, Notification, PdfRender
from tests.support.pdf import pdf_text

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
MAINTENANCE = "Relatório de Manutenção e Despesas"


class Recorder:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", recorder
    controller.stop()


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


def _schedule(api: Any, s: Any, recipients: list[str]) -> tuple[int, datetime]:
    rows = s.get(f"{api.base}/api/pdf/templates").json()["templates"]
    tid = next(t["id"] for t in rows if t["name"] == MAINTENANCE)
    r = s.post(
        f"{api.base}/api/pdf/templates/{tid}/schedule",
        json={"schedule_expr": "0 6 * * *", "timezone": "America/Sao_Paulo", "recipients": recipients},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["description"] and len(body["next"]) == 5
    return int(body["id"]), datetime.fromisoformat(body["next"][0])


def _fire_and_wait(api: Any, at: datetime, schedule_id: int | None = None) -> PdfRender:
    result = tick(api.ctx, now=at + timedelta(seconds=1))
    assert len(result.fired) >= 1, result
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with api.ctx.sessions() as s:
            jobs = s.scalars(select(JobRecord).where(JobRecord.id.in_(result.fired))).all()
            if all(j.status in ("done", "failed") for j in jobs):
                assert all(j.status == "done" for j in jobs), [(j.id, j.status, j.last_error) for j in jobs]
                q = select(PdfRender).where(PdfRender.job_id.in_(result.fired))
                if schedule_id is not None:
                    q = q.where(PdfRender.schedule_id == schedule_id)
                row = s.scalar(q)
                assert row is not None
                return row
        time.sleep(0.3)
    raise AssertionError("the scheduled render did not finish")


def _pdf_of(message: EmailMessage) -> bytes:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(parts) == 1, [p.get_content_type() for p in message.iter_attachments()]
    data = parts[0].get_content()
    assert isinstance(data, bytes)
    return data


def _check(api: Any, message: EmailMessage, render: PdfRender) -> None:
    assert message["Subject"] == f"PDF: {MAINTENANCE}"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    link = next(w for w in text.split() if "/api/pdf/renders/" in w)
    assert f"/api/pdf/renders/{render.id}/download?exp=" in link
    pdf = _pdf_of(message)
    assert "Relatório de Manutenção — São Paulo" in pdf_text(pdf)
    # The signed link works without signing in and gives the same file.
    path = link.split(str(api.ctx.settings.port), 1)[-1] if "://" in link else link
    got = api.session().get(f"{api.base}{path[path.index('/api/') :]}")
    assert got.status_code == 200 and got.content == pdf


def test_a_schedule_delivers_to_the_outbox_and_the_bell(api: Any) -> None:
    analyst = api.login("analyst@acme.example.com", DEV_PASSWORD)
    sid, first = _schedule(api, analyst, ["ops@acme.example.com"])
    assert first > datetime.now(UTC)
    render = _fire_and_wait(api, first)
    assert render.schedule_id == sid and render.status == "done"
    outbox = api.ctx.settings.outbox_dir
    messages = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))
    ]
    mine = [m for m in messages if m["To"] == "ops@acme.example.com"]
    assert len(mine) == 1
    _check(api, mine[0], render)  # type: ignore[arg-type]
    with api.ctx.sessions() as s:
        bell = s.scalars(
            select(Notification).where(Notification.link == f"/api/pdf/renders/{render.id}/download")
        )
        assert len(bell.all()) == 1


def test_a_schedule_delivers_through_a_real_smtp_server(api: Any, smtp: tuple[str, Recorder]) -> None:
    url, recorder = smtp
    saved = api.ctx.settings
    api.ctx.settings = saved.with_(smtp_url=url)
    try:
        analyst = api.login("analyst@acme.example.com", DEV_PASSWORD)
        sid, first = _schedule(api, analyst, ["board@acme.example.com", "cfo@acme.example.com"])
        render = _fire_and_wait(api, first + timedelta(days=1), schedule_id=sid)
    finally:
        api.ctx.settings = saved
    parsed = [BytesParser(policy=policy.default).parsebytes(raw) for raw in recorder.received]
    # (the first test's schedule fires on this tick too: its e-mail goes to ops@)
    messages = [m for m in parsed if m["To"] != "ops@acme.example.com"]
    assert sorted(m["To"] for m in messages) == ["board@acme.example.com", "cfo@acme.example.com"]
    for m in messages:
        _check(api, m, render)  # type: ignore[arg-type]


def test_bad_schedules_are_400s_naming_the_field(api: Any) -> None:
    analyst = api.login("analyst@acme.example.com", DEV_PASSWORD)
    rows = analyst.get(f"{api.base}/api/pdf/templates").json()["templates"]
    tid = next(t["id"] for t in rows if t["name"] == MAINTENANCE)
    for body, field in (
        ({"schedule_expr": "every tuesday", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "0 6 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_expr": "0 6 * * *", "timezone": "UTC", "recipients": ["not an address"]}, "recipients.0"),
        ({"schedule_expr": "0 6 * * *", "timezone": "UTC", "params": {"nope": 1}}, "params.nope"),
        ({"schedule_expr": "0 6 * * *", "timezone": "UTC", "surprise": True}, "surprise"),
    ):
        r = analyst.post(f"{api.base}/api/pdf/templates/{tid}/schedule", json=body)
        assert r.status_code in (400, 422), (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
