"""PDF templates, versions, themes, images, renders (jobs), downloads and schedules.

``POST /api/pdf/templates/{id}/render`` puts a ``pdf_render`` job on the queue and answers
``{"render_id", "job_id", "status"}`` (202); ``GET /api/pdf/renders/{id}`` follows it and
``/download`` hands the file to its requester (API token or portal session) or to whoever
holds a signed, expiring link from a scheduled e-mail.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar

from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop

from portal.errors import AuthenticationFailed, BadRequest, NotFound
from portal.identity import audit
from portal.identity.principal import Principal, principal_transaction
from portal.infra.db import transaction
from portal.models import PdfRender
from portal.pdf import renders, schedules, templates
from portal.specs.pdf import schema as template_schema
from portal.web.api.base import BaseHandler, path_id

T = TypeVar("T")
MAX_RENDER_WAIT_S = 30.0
#: Version numbers are at most 9 digits (as in ``/versions/{n}``); ids fit SQL's 64-bit integers.
MAX_VERSION = 999_999_999


def _whole(value: Any, top: int) -> TypeGuard[int]:
    """Whether ``value`` is a whole number from 1 to ``top`` (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= top


def _template_answer(session: Session, t: Any) -> dict[str, Any]:
    out = templates.template_to_dict(t, with_spec=True)
    out["versions"] = templates.count_versions(session, t.id)
    return out


class PdfTemplatesHandler(BaseHandler):
    async def get(self) -> None:
        """The caller's templates (those they may view), most recently changed first."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "templates": [
                    templates.template_to_dict(t) for t in templates.list_templates(session, principal)
                ]
            }

        self.send(await self.call(lst))

    async def post(self) -> None:
        """Create (no ``id``) or save a new version (``id``, optional ``base_version``) of a template:
        ``{"id"?, "spec", "comment"?, "base_version"?, "visibility"?}``."""
        data = self.body(("id", "spec", "comment", "base_version", "visibility"))
        if "spec" not in data:
            raise BadRequest("spec: required (the template as JSON)", field="spec")
        comment = data.get("comment") or ""
        if not isinstance(comment, str):
            raise BadRequest("comment: must be text", field="comment")
        base = data.get("base_version")
        if base is not None and not _whole(base, MAX_VERSION):
            raise BadRequest("base_version: must be a version number", field="base_version")
        visibility = data.get("visibility")
        if visibility is not None and not isinstance(visibility, str):
            raise BadRequest("visibility: must be text", field="visibility")
        tid = data.get("id")
        if tid is not None and not _whole(tid, 2**62 - 1):
            raise BadRequest("id: must be a template id (a whole number)", field="id")

        def save(session: Session, principal: Principal) -> dict[str, Any]:
            if tid is None:
                t = templates.create_template(
                    session, principal, data["spec"], comment=comment, visibility=visibility or "private"
                )
            else:
                t = templates.save_template(
                    session,
                    principal,
                    tid,
                    data["spec"],
                    comment=comment,
                    base_version=base,
                    visibility=visibility,
                )
            return _template_answer(session, t)

        self.send(await self.call(save), 201 if tid is None else 200)


class PdfTemplateHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return _template_answer(session, templates.get_template(session, principal, path_id(tid)))

        self.send(await self.call(get))

    async def delete(self, tid: str) -> None:
        await self.call(lambda s, p: templates.delete_template(s, p, path_id(tid)))
        self.set_status(204)
        self.finish()


class PdfTemplateSchemaHandler(BaseHandler):
    async def get(self) -> None:
        """The JSON schema of a template spec."""
        await self.call(lambda s, p: None)  # signed-in callers only
        self.send(template_schema())


class PdfVersionsHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        """A template's versions, newest first."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = templates.list_versions(session, principal, path_id(tid))
            authors = templates.version_authors(session, rows)
            return {"versions": [templates.version_to_dict(v, authors) for v in rows]}

        self.send(await self.call(lst))


class PdfVersionHandler(BaseHandler):
    async def get(self, tid: str, version: str) -> None:
        """One version's spec."""

        def get(session: Session, principal: Principal) -> dict[str, Any]:
            spec = templates.version_spec(session, principal, path_id(tid), path_id(version, "version"))
            return {"version": int(version), "spec": spec.model_dump(mode="json")}

        self.send(await self.call(get))


def _version_arg(handler: BaseHandler, name: str) -> int:
    raw = handler.get_query_argument(name, None)
    if raw is None or not raw.isdigit() or len(raw) > 9:
        raise BadRequest(f"{name}: give a version number (?old=1&new=2)", field=name)
    return int(raw)


class PdfDiffHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        """``?old=&new=``: elements added, removed, changed (with the changed properties), settings."""
        old, new = _version_arg(self, "old"), _version_arg(self, "new")

        def diff(session: Session, principal: Principal) -> dict[str, Any]:
            return templates.diff_versions(session, principal, path_id(tid), old, new).to_dict()

        self.send(await self.call(diff))


class PdfRollbackHandler(BaseHandler):
    async def post(self, tid: str) -> None:
        """``{"version": N}``: a new version equal to version N."""
        data = self.body(("version",))
        version = data.get("version")
        if not _whole(version, MAX_VERSION):
            raise BadRequest("version: give the version number to roll back to", field="version")

        def roll(session: Session, principal: Principal) -> dict[str, Any]:
            return _template_answer(session, templates.rollback(session, principal, path_id(tid), version))

        self.send(await self.call(roll))


class PdfCloneHandler(BaseHandler):
    async def post(self, tid: str) -> None:
        """``{"name"?}``: a copy owned by the caller."""
        data = self.body(("name",))
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest("name: must be text", field="name")

        def clone(session: Session, principal: Principal) -> dict[str, Any]:
            return _template_answer(session, templates.clone_template(session, principal, path_id(tid), name))

        self.send(await self.call(clone), 201)


class PdfThemesHandler(BaseHandler):
    async def get(self) -> None:
        """Built-in and saved themes."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {"themes": [t.model_dump(mode="json") for t in templates.list_themes(session, principal)]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        """Save a theme under its name (the tenant's; built-in names are taken)."""
        data = self.body()

        def save(session: Session, principal: Principal) -> dict[str, Any]:
            row = templates.save_theme(session, principal, data)
            return {"name": row.name, "theme": row.theme_json}

        self.send(await self.call(save), 201)


class PdfAssetsHandler(BaseHandler):
    async def get(self) -> None:
        """The tenant's images (without their bytes)."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {"assets": [templates.asset_to_dict(a) for a in templates.list_assets(session, principal)]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        """``{"name", "data_base64"}``: store an image (PNG, JPEG or SVG; sniffed; at most 2 MB)."""
        data = self.body(("name", "data_base64"))
        name, raw = data.get("name"), data.get("data_base64")
        if not isinstance(name, str):
            raise BadRequest("name: required (the image's name, e.g. logo.png)", field="name")
        if not isinstance(raw, str):
            raise BadRequest("data_base64: required (the image as base64)", field="data_base64")
        try:
            blob = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("data_base64: not valid base64", field="data_base64") from None

        def upload(session: Session, principal: Principal) -> dict[str, Any]:
            return templates.asset_to_dict(templates.upload_asset(session, principal, name, blob))

        self.send(await self.call(upload), 201)


class PdfRenderSubmitHandler(BaseHandler):
    async def post(self, tid: str) -> None:
        """``{"params", "priority", "offpeak_only", "override"}``
        → 202 ``{"render_id", "job_id", "status"}``."""
        data = self.body(("params", "priority", "offpeak_only", "override"))

        def submit(session: Session, principal: Principal) -> Any:
            render, sub = renders.submit_render(
                session,
                principal,
                path_id(tid),
                params=data.get("params"),
                priority=data.get("priority", "normal"),
                offpeak_only=data.get("offpeak_only", False),
                override=data.get("override", False),
            )
            return render.id, sub, render.status

        render_id, sub, status = await self.call(submit)
        sub.enqueue(self.ctx.redis)
        answer: dict[str, Any] = {"render_id": render_id, "job_id": sub.record.id, "status": status}
        if sub.record.status_reason:
            answer["reason"] = sub.record.status_reason
        if sub.record.not_before_at is not None:
            answer["not_before"] = sub.record.not_before_at.isoformat()
        self.send(answer, 202)


class PdfRendersHandler(BaseHandler):
    async def get(self) -> None:
        """The caller's renders (an admin: the tenant's), newest first; ``?template_id=``."""
        raw = self.get_query_argument("template_id", None)
        template_id = path_id(raw, "template_id") if raw else None

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = renders.list_renders(session, principal, template_id=template_id)
            return {"renders": [renders.render_to_dict(session, r) for r in rows]}

        self.send(await self.call(lst))


class PdfRenderHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        """A render: ``status`` (queued, deferred, running, done, failed), pages, size, time, errors."""

        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return renders.render_to_dict(session, renders.get_render(session, principal, path_id(rid)))

        self.send(await self.call(get))


class PdfRenderDownloadHandler(BaseHandler):
    """The PDF: for its requester (API token or the portal's session cookie) or a tenant admin,
    or for the holder of a signed link (``?exp=&sig=``) until it expires."""

    def _identify(self) -> Callable[[Session], Principal]:
        if self.request.headers.get("Authorization"):
            return self.bearer()
        from portal.web.webauth import cookie_identity, cookie_session_token

        plain = cookie_session_token(self, self.ctx)
        if not plain:
            raise AuthenticationFailed("sign in, send an API token, or use the link from the e-mail")
        return cookie_identity(plain)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await IOLoop.current().run_in_executor(None, fn)

    async def get(self, rid: str) -> None:
        render_id = path_id(rid)
        exp, sig = self.get_query_argument("exp", None), self.get_query_argument("sig", None)
        results = self.ctx.settings.results_dir
        if exp is not None or sig is not None:
            if not renders.check_link(self.ctx.settings.secret_key, render_id, exp, sig):
                raise NotFound(f"pdf render {render_id}: this link is not valid or has expired")

            def by_link(session: Session) -> tuple[str, bytes]:
                r = session.get(PdfRender, render_id)
                if r is None:
                    raise NotFound(f"pdf render {render_id} not found")
                return renders.read_render_file(session, r, results)

            def linked() -> tuple[str, bytes]:
                with transaction(self.ctx.sessions) as session:
                    return by_link(session)

            name, data = await self._run(linked)
        else:
            identify = self._identify()

            def owned() -> tuple[str, bytes]:
                with principal_transaction(self.ctx.sessions, identify) as (session, principal):
                    r = renders.get_render(session, principal, render_id)
                    out = renders.read_render_file(session, r, results)
                    audit.record(session, principal, "export", r, details={"format": "pdf"})
                    return out

            name, data = await self._run(owned)
        self.set_header("Content-Type", "application/pdf")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.set_header("Cache-Control", "private, no-store")
        self.finish(data)


class PdfScheduleHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        """A template's schedules the caller manages."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = schedules.list_pdf_schedules(session, principal, path_id(tid))
            return {"schedules": [schedules.pdf_schedule_to_dict(r) for r in rows]}

        self.send(await self.call(lst))

    async def post(self, tid: str) -> None:
        """``{"schedule_expr", "timezone", "offpeak_only", "priority", "params", "recipients",
        "in_app", "link", "is_active"}`` → 201 with the schedule and its next fire times."""
        data = self.body()

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            row = schedules.create_pdf_schedule(session, principal, path_id(tid), data)
            return schedules.pdf_schedule_to_dict(row)

        self.send(await self.call(create), 201)


class PdfScheduleItemHandler(BaseHandler):
    async def delete(self, sid: str) -> None:
        await self.call(lambda s, p: schedules.delete_pdf_schedule(s, p, path_id(sid)))
        self.set_status(204)
        self.finish()


ROUTES: list[tuple[str, Any]] = [
    (r"/api/pdf/templates", PdfTemplatesHandler),
    (r"/api/pdf/templates/schema", PdfTemplateSchemaHandler),
    (r"/api/pdf/templates/(\d{1,18})", PdfTemplateHandler),
    (r"/api/pdf/templates/(\d{1,18})/versions", PdfVersionsHandler),
    (r"/api/pdf/templates/(\d{1,18})/versions/(\d{1,9})", PdfVersionHandler),
    (r"/api/pdf/templates/(\d{1,18})/diff", PdfDiffHandler),
    (r"/api/pdf/templates/(\d{1,18})/rollback", PdfRollbackHandler),
    (r"/api/pdf/templates/(\d{1,18})/clone", PdfCloneHandler),
    (r"/api/pdf/templates/(\d{1,18})/render", PdfRenderSubmitHandler),
    (r"/api/pdf/templates/(\d{1,18})/schedule", PdfScheduleHandler),
    (r"/api/pdf/schedules/(\d{1,18})", PdfScheduleItemHandler),
    (r"/api/pdf/renders", PdfRendersHandler),
    (r"/api/pdf/renders/(\d{1,18})", PdfRenderHandler),
    (r"/api/pdf/renders/(\d{1,18})/download", PdfRenderDownloadHandler),
    (r"/api/pdf/themes", PdfThemesHandler),
    (r"/api/pdf/assets", PdfAssetsHandler),
]
