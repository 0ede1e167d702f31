"""A shared PDF template: rendered (as a job, like any render) for the link's scope, then served.

The render runs as the link's creator with the link's scope on top (the job narrows the
creator's principal the same way), so the PDF holds only rows the link's viewers may see.
One render per link and scope is kept for :data:`FRESH_S`; a viewer arriving meanwhile gets it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from portal.errors import NotFound
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.models import PdfRender, PdfTemplate, ShareToken
from portal.pdf.renders import read_render_file, submit_render

#: A shared template's render is served again for this long, then rendered anew.
FRESH_S = 3600
#: After a failed render, viewers see the failure for this long before a new attempt.
FAILED_HOLD_S = 300


class _Settings(Protocol):
    @property
    def results_dir(self) -> Path: ...


class PdfContext(Protocol):
    """What serving a shared template needs (the web process's ``AppContext`` has it)."""

    sessions: sessionmaker[Session]
    redis: Redis
    settings: Any


@dataclass(frozen=True)
class PdfState:
    """The PDF (``file``: name and bytes) or what its viewer waits for."""

    file: tuple[str, bytes] | None = None
    status: str = "queued"
    error: str | None = None

    def waiting_html(self, refresh_url: str) -> str:
        """A page that says what is happening and reloads itself until the PDF is there."""
        if self.status == "failed":
            body = (
                '<h1 style="font-size:1.3rem">The PDF could not be produced</h1>'
                f"<p>{html.escape(self.error or 'The render failed.')}</p>"
                "<p>Try again in a few minutes, or ask the person who shared it.</p>"
            )
            refresh = ""
        else:
            body = (
                '<h1 style="font-size:1.3rem">Preparing the PDF…</h1>'
                f"<p>Status: {html.escape(self.status)}. This page opens it as soon as it is ready.</p>"
                '<progress style="width:100%"></progress>'
            )
            refresh = f'<meta http-equiv="refresh" content="3;url={html.escape(refresh_url, quote=True)}">'
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shared PDF</title>"
            f'{refresh}</head><body style="font-family:system-ui,sans-serif;margin:4rem auto;'
            f'max-width:36rem;color:#1e293b">{body}</body></html>'
        )


def _age_s(at: datetime | None) -> float:
    if at is None:
        return float("inf")
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()


def template_pdf(ctx: PdfContext, principal: Principal, token_id: int) -> PdfState:
    """The shared template's PDF for ``principal`` (a link's viewer): a fresh render's file, or
    the state of the render now on the queue (started here when there is none)."""
    share = principal.share
    if share is None or share.object_type != "pdf_template":
        raise NotFound("link not found")
    key = f"cbi:share:pdf:{token_id}:{principal.scope.key}"
    raw = ctx.redis.get(key)
    with transaction(ctx.sessions) as session:
        template = session.get(PdfTemplate, share.object_id)
        token = session.get(ShareToken, token_id)
        if template is None or not template.is_active or token is None or token.created_by is None:
            raise NotFound("link not found")
        render = session.get(PdfRender, int(raw)) if raw else None
        if (
            render is not None
            and render.template_id == template.id
            and render.template_version == template.version
        ):
            if render.status == "done" and _age_s(render.finished_at) < FRESH_S:
                return PdfState(
                    file=read_render_file(session, render, ctx.settings.results_dir), status="done"
                )
            if render.status in ("queued", "deferred", "running"):
                return PdfState(status=render.status)
            if (
                render.status == "failed"
                and _age_s(render.finished_at or render.requested_at) < FAILED_HOLD_S
            ):
                errors: list[Any] = render.errors_json or []
                first = errors[0] if errors else None
                message = first.get("message") if isinstance(first, dict) else (str(first) if first else None)
                return PdfState(status="failed", error=message)
        creator = principal_for_user_id(session, token.created_by, kind="job")
        new, submission = submit_render(session, creator, template.id, narrow=principal.scope)
        render_id = new.id
    submission.enqueue(ctx.redis)
    ctx.redis.set(key, str(render_id), ex=FRESH_S * 2)
    return PdfState(status="queued")
