"""PDF render task: thin, by id, acting as the job's owner (``pdf_render`` jobs).

The payload holds ``render_id`` (an on-demand render, its ``pdf_renders`` row made when it
was submitted) or, for a schedule's fire, ``schedule_id``, ``template_id``, ``fire_time`` and
``params`` (the row is made here). The data is loaded in the owner's row scope, drawn by the
pure renderer, signed when the tenant configured a certificate, stored, then delivered.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy.orm import Session

import reports_pdf
from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.errors import BadRequest, NotFound, PermissionDenied, PortalError
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.infra.metrics import PDF_PAGES, PDF_RENDER_SECONDS, PDF_RENDERS
from portal.jobqueue.lifecycle import Failure
from portal.jobstore import record_progress
from portal.models import JobRecord, PdfRender, PdfSchedule, PdfTemplate, utcnow
from portal.pdf.bindings import apply_overrides, render_input
from portal.pdf.delivery import deliver_render
from portal.pdf.renders import file_name, narrowed, store_render_file
from portal.pdf.signing_store import checked_tsa_session, signing_material
from portal.pdf.templates import version_spec
from reports_pdf.signing import SigningError, sign_pdf


def _render_row(session: Session, principal: Principal, record: JobRecord) -> PdfRender:
    payload = record.payload_json or {}
    render_id = payload.get("render_id")
    if isinstance(render_id, int):
        render = session.get(PdfRender, render_id)
        if render is None or render.tenant_id != principal.tenant_id:
            raise NotFound(f"render_id: pdf render {render_id} not found", field="render_id")
        return render
    template_id, schedule_id = payload.get("template_id"), payload.get("schedule_id")
    if not isinstance(template_id, int) or not isinstance(schedule_id, int):
        raise BadRequest("render_id: the job's payload names no render", field="render_id")
    t = session.get(PdfTemplate, template_id)
    if t is None or not t.is_active or t.tenant_id != principal.tenant_id:
        raise NotFound(f"template_id: pdf template {template_id} not found", field="template_id")
    render = PdfRender(
        template_id=t.id,
        template_version=t.version,
        tenant_id=t.tenant_id,
        params_json=dict(payload.get("params") or {}),
        requested_by=principal.user_id,
        requested_at=utcnow(),
        status="queued",
        priority=record.priority,
        offpeak_only=bool((record.admission_json or {}).get("offpeak_only")),
        schedule_id=schedule_id,
        scope_json={"key": principal.scope.key},
        job_id=record.id,
    )
    session.add(render)
    session.flush()
    return render


def _fail(render: PdfRender, message: str) -> None:
    render.status, render.finished_at = "failed", utcnow()
    render.errors_json = [{"element_id": None, "message": message}]
    PDF_RENDERS.labels("failed").inc()


def _sign(ctx: AppContext, session: Session, principal: Principal, pdf: bytes) -> bytes | None:
    """The PDF signed with the tenant's certificate (None: no certificate configured)."""
    material = signing_material(session, principal.tenant_id, ctx.settings.secret_key)
    if material is None:
        return None
    settings = ctx.settings
    # The TSA's address is checked again now (its DNS may point elsewhere since it was saved).
    tsa = (
        checked_tsa_session(
            material.tsa_url,
            allow_private=settings.webhook_allow_private,
            allowed_hosts=settings.webhook_allowed_hosts,
        )
        if material.tsa_url
        else None
    )
    return sign_pdf(
        pdf,
        material.p12,
        material.password,
        reason=material.reason,
        location=material.location,
        tsa_url=material.tsa_url,
        http_session=tsa,
    )


def _produce(ctx: AppContext, record: JobRecord) -> tuple[int, Failure | None]:
    """Render, sign and store, committed on its own before anything is delivered.

    An attempt after a crash that finds the done render of the attempt before (its id is kept
    in the job's progress) delivers that one instead of rendering again; SQLite also needs the
    render's writes committed before the delivery records each sent e-mail.
    """
    with transaction(ctx.sessions) as session:
        assert record.owner_id is not None
        principal = narrowed(principal_for_user_id(session, record.owner_id, kind="job"), record.payload_json)
        prior = (record.result_json or {}).get("render_id")
        if isinstance(prior, int):
            done = session.get(PdfRender, prior)
            if done is not None and done.status == "done":
                return done.id, None
        render = _render_row(session, principal, record)
        record_progress(session, record.id, {"render_id": render.id})
        render.status, render.started_at = "running", utcnow()
        started = time.perf_counter()
        try:
            spec = version_spec(session, principal, render.template_id, render.template_version or 1)
            spec = apply_overrides(spec, render.params_json or {})
            inputs = render_input(
                session, principal, ctx.warehouse, spec, render.params_json, creation_date=render.requested_at
            )
            result = reports_pdf.render(spec, inputs)
            signed = _sign(ctx, session, principal, result.pdf)
        except (PortalError, SigningError) as exc:
            # The template, its parameters or the certificate no longer hold: say why, once. A TSA
            # that is down may come back (retried); the rest is the caller's to fix.
            message = exc.message if isinstance(exc, PortalError) else f"signing: {exc}"
            _fail(render, message)
            transient = isinstance(exc, SigningError) and getattr(exc, "field", None) == "tsa_url"
            return render.id, Failure(error=message, result={"render_id": render.id}, permanent=not transient)
        pdf = signed if signed is not None else result.pdf
        render.signed = signed is not None
        render.file_ref = store_render_file(ctx.settings.results_dir, render, pdf)
        render.file_sha256 = hashlib.sha256(pdf).hexdigest()
        render.size_bytes, render.pages = len(pdf), result.pages
        render.errors_json = [
            {"element_id": e.element_id, "message": e.message, "page": e.page} for e in result.errors
        ]
        render.runtime_ms = round((time.perf_counter() - started) * 1000, 1)
        render.status, render.finished_at = "done", utcnow()
        PDF_RENDERS.labels("done").inc()
        PDF_RENDER_SECONDS.observe(render.runtime_ms / 1000)
        PDF_PAGES.inc(result.pages)
        return render.id, None


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any] | Failure:
    if record.owner_id is None:
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    render_id, failure = _produce(ctx, record)
    if failure is not None:
        return failure
    render = session.get(PdfRender, render_id)
    assert render is not None
    summary: dict[str, Any] = {
        "render_id": render.id,
        "pages": render.pages,
        "size_bytes": render.size_bytes,
        "runtime_ms": render.runtime_ms,
        "element_errors": len(render.errors_json or []),
    }
    schedule = session.get(PdfSchedule, render.schedule_id) if render.schedule_id else None
    if schedule is not None:
        template = session.get(PdfTemplate, render.template_id)
        title = template.name if template is not None else "PDF"
        pdf = (ctx.settings.results_dir / (render.file_ref or "")).read_bytes()
        summary.update(
            deliver_render(
                ctx,
                session,
                record,
                schedule,
                render,
                title=title,
                filename=file_name(template, render),
                pdf=pdf,
                fire_time=(record.payload_json or {}).get("fire_time"),
            )
        )
    return summary


def render(job_id: int) -> dict[str, Any] | None:
    """Render the PDF of job ``job_id`` and record it; None if already finished."""
    return run_tracked(job_id, _run)
