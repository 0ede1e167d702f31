"""PDF renders as jobs: submit (off-peak aware), status, the stored file, signed download links.

``POST /api/pdf/templates/{id}/render`` and the portal's Render buttons call
:func:`submit_render` in the caller's transaction and enqueue after commit; a worker runs
``jobs.pdf.render`` as the caller (``pdf_render`` class). ``pdf_renders`` records every render:
the template version, parameters, row scope, status, pages, size, time and errors. A render's
file is handed to its requester and the tenant's admins only: it holds the requester's rows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, NotFound, PermissionDenied
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.jobqueue.enqueue import Submission, submit
from portal.jobstore.settings import effective_offpeak
from portal.models import JobRecord, PdfRender, PdfTemplate, utcnow
from portal.pdf.bindings import resolve_params
from portal.pdf.templates import get_template, template_spec
from portal.queue.offpeak import plan_start
from portal.reports.runs import parse_priority
from portal.specs.jobs import JobClass, Priority

#: Render states as the API names them (the job's ``waiting``/``retrying`` read as ``queued``).
STATUSES = ("queued", "deferred", "running", "done", "failed", "canceled")
LINK_TTL_S = 7 * 24 * 3600  #: how long an e-mailed download link stays valid
RENDER_FUNC = "jobs.pdf.render"


def render_path(results_dir: Path, render: PdfRender) -> Path:
    """Where a render's PDF is kept."""
    return results_dir / "pdf" / f"render-{render.id}.pdf"


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{field}: must be true or false", field=field)
    return value


def submit_render(
    session: Session,
    principal: Principal,
    template_id: int,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Any = Priority.NORMAL,
    offpeak_only: Any = False,
    override: Any = False,
    schedule_id: int | None = None,
    now: datetime | None = None,
    narrow: Scope | None = None,
) -> tuple[PdfRender, Submission]:
    """Validate a render of the template's current version for ``principal``, record it and
    mirror its job (commit, then ``submission.enqueue(redis)``).

    Bad parameters are refused now (400 naming the field); ``offpeak_only`` renders outside
    an off-peak window are created ``deferred`` with the next allowed start; ``override`` (an
    administrator's) skips the window. ``narrow`` restricts the rows further than the
    principal's scope (a share link's scope): the job applies it too.
    """
    if params is not None and not isinstance(params, Mapping):
        raise BadRequest("params: must be an object", field="params")
    offpeak = _bool(offpeak_only, "offpeak_only")
    if _bool(override, "override") and not principal.is_admin:
        raise PermissionDenied(
            "override: only an administrator can render outside the off-peak window", field="override"
        )
    prio = parse_priority(priority)
    t = get_template(session, principal, template_id, "run")
    spec = template_spec(t)
    resolved = resolve_params(spec, params)  # a bad parameter: 400 now, not a failed job later
    not_before, reason = None, None
    when = now or utcnow()
    if offpeak and not override:
        config = effective_offpeak(session, principal.tenant_id)
        days = tuple(d for cal in config.maintenance for d in cal.days)
        plan = plan_start(when, config.windows, days, None)
        if plan.at is not None and plan.at > when:
            not_before, reason = plan.at, plan.reason
    render = PdfRender(
        template_id=t.id,
        template_version=t.version,
        tenant_id=t.tenant_id,
        params_json={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in resolved.items()},
        requested_by=principal.user_id,
        requested_at=when,
        status="deferred" if not_before is not None else "queued",
        priority=prio.value,
        offpeak_only=offpeak,
        schedule_id=schedule_id,
        scope_json={"key": (principal.scope.narrow(narrow) if narrow is not None else principal.scope).key},
    )
    session.add(render)
    session.flush()
    payload: dict[str, Any] = {"render_id": render.id, "template_id": t.id, "schedule_id": schedule_id}
    if narrow is not None:
        payload["narrow"] = {k: sorted(v) for k, v in narrow.restrictions().items()}
    sub = submit(
        session,
        principal,
        JobClass.PDF_RENDER,
        payload,
        priority=prio,
        not_before=not_before,
        reason=reason,
        admission={"offpeak_only": offpeak, "override": bool(override), "resources": []},
        func=RENDER_FUNC,
        # Someone waits for an on-demand render (a failure shows at once); scheduled ones retry.
        max_attempts=3 if schedule_id is not None else 1,
    )
    render.job_id = sub.record.id
    session.flush()
    return render, sub


def narrowed(principal: Principal, payload: Mapping[str, Any] | None) -> Principal:
    """The job's principal with the render's extra restriction (``payload["narrow"]``) applied."""
    extra = (payload or {}).get("narrow")
    if not extra:
        return principal
    scope = Scope.of(
        principal.scope.tenant_key,
        locations=extra.get("location"),
        contracts=extra.get("contract"),
        customers=extra.get("customer"),
    )
    return replace(principal, scope=principal.scope.narrow(scope))


def get_render(session: Session, principal: Principal, render_id: int) -> PdfRender:
    """A render its requester or a tenant admin may see; NotFound for anyone else (no probing)."""
    r = session.get(PdfRender, render_id) if 0 < render_id < 2**62 else None
    if r is None or r.tenant_id != principal.tenant_id:
        raise NotFound(f"pdf render {render_id} not found")
    if not principal.is_admin and (principal.user_id is None or r.requested_by != principal.user_id):
        raise NotFound(f"pdf render {render_id} not found")
    return r


def list_renders(
    session: Session, principal: Principal, *, template_id: int | None = None, limit: int = 50
) -> list[PdfRender]:
    """The renders the principal may see (their own; an admin: the tenant's), newest first."""
    q = select(PdfRender).where(PdfRender.tenant_id == principal.tenant_id)
    if not principal.is_admin:
        q = q.where(PdfRender.requested_by == principal.user_id)
    if template_id is not None:
        q = q.where(PdfRender.template_id == template_id)
    return list(session.scalars(q.order_by(PdfRender.id.desc()).limit(max(1, min(limit, 500)))))


def status_of(render: PdfRender, job: JobRecord | None) -> str:
    """The render's status: its own once it ran, else what its job is doing."""
    if render.status in ("running", "done", "failed", "canceled"):
        return render.status
    if job is None:
        return render.status
    if job.status in ("deferred",):
        return "deferred"
    if job.status in ("failed", "canceled"):
        return str(job.status)
    return "queued"


def render_to_dict(session: Session, render: PdfRender) -> dict[str, Any]:
    """JSON form of a render: status, pages, size, time, errors, its job and template."""
    job = session.get(JobRecord, render.job_id) if render.job_id else None
    status = status_of(render, job)
    out: dict[str, Any] = {
        "render_id": render.id,
        "template_id": render.template_id,
        "template_version": render.template_version,
        "job_id": render.job_id,
        "status": status,
        "params": render.params_json,
        "priority": render.priority,
        "offpeak_only": render.offpeak_only,
        "requested_at": render.requested_at.isoformat() if render.requested_at else None,
        "started_at": render.started_at.isoformat() if render.started_at else None,
        "finished_at": render.finished_at.isoformat() if render.finished_at else None,
        "pages": render.pages,
        "size_bytes": render.size_bytes,
        "runtime_ms": render.runtime_ms,
        "signed": render.signed,
        "errors": render.errors_json or [],
    }
    if job is not None and status in ("queued", "deferred"):
        out["reason"] = job.status_reason
        if job.not_before_at is not None:
            out["not_before"] = job.not_before_at.isoformat()
    if status == "failed" and not out["errors"] and job is not None and job.last_error:
        out["errors"] = [{"element_id": None, "message": job.last_error}]
    if status == "done":
        out["download"] = f"/api/pdf/renders/{render.id}/download"
    return out


def file_name(template: PdfTemplate | None, render: PdfRender) -> str:
    """A safe download name: ``<template name>-<render id>.pdf``."""
    base = "".join(c if c.isalnum() or c in "-_ " else "_" for c in (template.name if template else "report"))
    return f"{base.strip().replace(' ', '_')[:80] or 'report'}-{render.id}.pdf"


def read_render_file(session: Session, render: PdfRender, results_dir: Path) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a finished render; NotFound while it is not done, or if the
    stored file is gone or altered (its SHA-256 is checked)."""
    if render.status != "done" or not render.file_ref:
        raise NotFound(f"pdf render {render.id} has no file (status {render.status})")
    path = results_dir / render.file_ref
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFound(f"pdf render {render.id}: the file is no longer kept") from None
    if render.file_sha256 and hashlib.sha256(data).hexdigest() != render.file_sha256:
        raise NotFound(f"pdf render {render.id}: the stored file does not match its checksum")
    return file_name(session.get(PdfTemplate, render.template_id), render), data


def store_render_file(results_dir: Path, render: PdfRender, data: bytes) -> str:
    """Write the PDF atomically (temp file, then rename); returns ``file_ref`` relative to ``results_dir``."""
    path = render_path(results_dir, render)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return str(path.relative_to(results_dir))


# --------------------------------------------------------------------------- signed links
def _link_key(secret_key: str) -> bytes:
    return hashlib.sha256(f"pdf-render-links-v1:{secret_key}".encode()).digest()


def link_signature(secret_key: str, render_id: int, expires: int) -> str:
    """HMAC-SHA256 of a render's download link and its expiry (Unix seconds)."""
    return hmac.new(_link_key(secret_key), f"{render_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_link(secret_key: str, render_id: int, *, ttl_s: int = LINK_TTL_S, now: float | None = None) -> str:
    """A download path that works without signing in until it expires (for e-mails)."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    sig = link_signature(secret_key, render_id, expires)
    return f"/api/pdf/renders/{render_id}/download?exp={expires}&sig={sig}"


def check_link(
    secret_key: str, render_id: int, exp: str | None, sig: str | None, *, now: float | None = None
) -> bool:
    """Whether ``exp``/``sig`` are a valid, unexpired signature of this render's link."""
    if not exp or not sig or not exp.isdigit() or len(exp) > 12:
        return False
    expected = link_signature(secret_key, render_id, int(exp))
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged ?sig= would be a 500).
    fresh = int(exp) >= (now if now is not None else time.time())
    return hmac.compare_digest(expected.encode(), sig.encode()) and fresh
