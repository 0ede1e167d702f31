"""Where a scheduled render goes: e-mail with the PDF attached and a signed download link,
and an in-app notification for the schedule's owner (each e-mail once per recipient)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.alerts.notifications import notify_users
from portal.jobqueue.delivery import Delivering, send_email
from portal.models import JobRecord, PdfRender, PdfSchedule
from portal.notify.email import Attachment, EmailMessageSpec
from portal.pdf.renders import signed_link


def deliver_render(
    ctx: Delivering,
    session: Session,
    record: JobRecord,
    schedule: PdfSchedule,
    render: PdfRender,
    *,
    title: str,
    filename: str,
    pdf: bytes,
    fire_time: Any = None,
) -> dict[str, Any]:
    """Deliver a scheduled render as its schedule says; ``{"emailed": n, "notified": n}``."""
    config = schedule.delivery_config_json or {}
    recipients = [str(r) for r in config.get("recipients") or []]
    link = ctx.settings.base_url + signed_link(ctx.settings.secret_key, render.id)
    emailed = 0
    if recipients:
        when = f" ({fire_time})" if fire_time else ""
        lines = [f"{title}{when}", "", f"{render.pages or 0} page(s) attached as PDF."]
        if config.get("link", True):
            lines += ["", f"Download (valid for 7 days): {link}"]
        lines += ["", "Sent by Conductor BI for a PDF schedule."]
        spec = EmailMessageSpec(
            sender=ctx.settings.mail_from,
            recipients=tuple(recipients),
            subject=f"PDF: {title}"[:200],
            text="\n".join(lines),
            idempotency_key=f"job:{record.id}",
            attachments=(Attachment(filename, pdf, "application/pdf"),),
            tenant_id=record.tenant_id,
        )
        emailed = send_email(ctx, record, spec)
    notified = 0
    if config.get("in_app", True) and schedule.created_by is not None and render.tenant_id is not None:
        notified = len(
            notify_users(
                session,
                render.tenant_id,
                [schedule.created_by],
                title=f"PDF ready: {title}"[:300],
                body=f"{render.pages or 0} page(s)",
                link=f"/api/pdf/renders/{render.id}/download",
            )
        )
    return {"emailed": emailed, "notified": notified}
