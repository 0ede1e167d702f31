"""People (users, groups, memberships, invitations), per-object grants and the audit trail.

Admin endpoints (bearer token of a tenant administrator; 403 for anyone else, 404 for ids of
other tenants):

- ``GET/POST /api/users``, ``GET/PATCH /api/users/{id}``, ``POST /api/users/{id}/disable``,
  ``/enable``, ``/reset-password`` (``{"password"}``, or ``{"link": true}`` for a new link),
  ``/invite`` (a one-time link, e-mailed and returned);
- ``GET/POST /api/groups``, ``GET/PATCH/DELETE /api/groups/{id}``,
  ``PUT/DELETE /api/groups/{id}/members/{user_id}``;
- ``GET /api/audit`` (filters ``object_type``, ``object_id``, ``user_id``, ``action``,
  ``since``, ``until``; paging ``limit``/``offset``).

Grants (the caller needs ``share`` on the object): ``GET/POST
/api/{dashboards|reports|pdf/templates}/{id}/grants``, ``DELETE /api/grants/{id}``.

Without authentication, rate limited per address like sign-in: ``POST /api/invites/accept``
(``{"token", "password"}``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop

from portal.errors import BadRequest
from portal.identity import grants, people
from portal.identity.principal import Principal
from portal.infra import ratelimit
from portal.notify.invites import send_invite
from portal.web.api.base import BaseHandler, path_id

USER_FIELDS = ("email", "name", "is_admin", "locations", "contracts", "customer_id", "password")
PATCH_FIELDS = ("name", "is_admin", "locations", "contracts", "customer_id")
AUDIT_ARGS = ("object_type", "object_id", "user_id", "action", "since", "until", "limit", "offset")
USER_ARGS = ("search", "active", "limit", "offset")


def _args(handler: BaseHandler, allowed: tuple[str, ...]) -> dict[str, str]:
    """Single-valued query arguments; unknown or repeated ones are a 400 naming them."""
    out: dict[str, str] = {}
    for key, values in handler.request.query_arguments.items():
        if key not in allowed:
            raise BadRequest(f"{key}: unknown argument (expected {', '.join(allowed)})", field=key)
        if len(values) != 1:
            raise BadRequest(f"{key}: give it once", field=key)
        try:
            out[key] = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{key}: must be UTF-8 text", field=key) from None
        if any(ord(c) < 32 for c in out[key]) or len(out[key]) > 200:
            raise BadRequest(f"{key}: at most 200 characters, no control characters", field=key)
    return out


def _int(args: dict[str, str], name: str, default: int | None, *, lo: int = 0, hi: int = 2**62) -> int | None:
    raw = args.get(name, "")
    if raw == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be a whole number, got {raw[:20]!r}", field=name) from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name}: must be between {lo} and {hi}", field=name)
    return n


def _when(args: dict[str, str], name: str, *, end_of_day: bool = False) -> datetime | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime.combine(d, time.max if end_of_day else time.min, tzinfo=UTC)
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name}: use an ISO date or time like 2026-12-01 or 2026-12-01T08:00Z", field=name
        ) from None
    if not 1900 <= dt.year <= 9000:
        raise BadRequest(f"{name}: a year between 1900 and 9000", field=name)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _bool(args: dict[str, str], name: str) -> bool | None:
    raw = args.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name}: must be true or false", field=name)


# --------------------------------------------------------------------------- users
class UsersHandler(BaseHandler):
    async def get(self) -> None:
        self.body(())
        args = _args(self, USER_ARGS)
        active = _bool(args, "active")
        limit = _int(args, "limit", 200, lo=1, hi=people.MAX_PAGE) or 200
        offset = _int(args, "offset", 0) or 0

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = people.list_users(
                session, principal, search=args.get("search"), active=active, limit=limit, offset=offset
            )
            return {"users": [people.user_to_dict(u) for u in rows]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body(USER_FIELDS)

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            return people.user_to_dict(people.create_user(session, principal, data))

        self.send(await self.call(create), 201)


class UserHandler(BaseHandler):
    async def get(self, uid: str) -> None:
        user_id = path_id(uid, "user_id")

        def get(session: Session, principal: Principal) -> dict[str, Any]:
            u = people.get_user(session, principal, user_id)
            groups = [people.group_to_dict(g) for g in people.user_groups(session, principal, user_id)]
            return {**people.user_to_dict(u), "groups": groups}

        self.send(await self.call(get))

    async def patch(self, uid: str) -> None:
        user_id = path_id(uid, "user_id")
        data = self.body(PATCH_FIELDS)
        self.send(await self.call(lambda s, p: people.user_to_dict(people.update_user(s, p, user_id, data))))


class UserActiveHandler(BaseHandler):
    async def post(self, uid: str, what: str) -> None:
        user_id = path_id(uid, "user_id")
        self.body(())
        active = what == "enable"
        self.send(await self.call(lambda s, p: people.user_to_dict(people.set_active(s, p, user_id, active))))


class UserInviteHandler(BaseHandler):
    """``/invite`` and ``/reset-password``: a new link (e-mailed and returned), or a set password."""

    async def post(self, uid: str, what: str) -> None:
        user_id = path_id(uid, "user_id")
        reset = what == "reset-password"
        data = self.body(("password", "link") if reset else ())
        password = data.get("password")
        link = data.get("link", False)
        if not isinstance(link, bool):
            raise BadRequest("link: must be true or false", field="link")
        if reset and password is None and not link:
            raise BadRequest(
                'password: give the new password, or "link": true to send a reset link', field="password"
            )
        if password is not None and (not isinstance(password, str) or link):
            raise BadRequest("password: must be text (and not given with link)", field="password")
        if reset and isinstance(password, str):
            pw = password

            def set_pw(session: Session, principal: Principal) -> dict[str, Any]:
                return {"user": people.user_to_dict(people.reset_password(session, principal, user_id, pw))}

            self.send(await self.call(set_pw))
            return
        settings = self.ctx.settings

        def make(session: Session, principal: Principal) -> tuple[dict[str, Any], people.Invite]:
            inv = people.invite(session, principal, user_id, base_url=settings.base_url, reset=reset)
            return people.user_to_dict(inv.user), inv

        user, inv = await self.call(make)

        def mail() -> bool:
            return send_invite(
                settings.smtp_url,
                settings.outbox_dir,
                sender=settings.mail_from,
                email=user["email"],
                name=user["name"],
                url=inv.url,
                expires_at=inv.expires_at,
                tenant_id=inv.user.tenant_id,
                reset=reset,
            )

        emailed = await IOLoop.current().run_in_executor(None, mail)
        self.send(
            {"user": user, "invite_url": inv.url, "expires_at": inv.expires_at, "emailed": emailed},
            201,
        )


class InviteAcceptHandler(BaseHandler):
    """The invited user sets a password with the link's token (no authentication; rate limited)."""

    async def post(self) -> None:
        data = self.body(("token", "password"))
        token, password = data.get("token"), data.get("password")
        if not isinstance(token, str) or not token:
            raise BadRequest("token: required (the token of the invitation link)", field="token")
        if not isinstance(password, str) or not password:
            raise BadRequest("password: required", field="password")
        ratelimit.hit(
            self.ctx.redis,
            f"invite:{self.client_ip()}",
            limit=self.ctx.settings.login_per_minute,
            window_seconds=60,
        )

        def accept(session: Session, _: Principal) -> dict[str, Any]:
            u = people.accept_invite(session, token, password)
            return {"id": u.id, "email": u.email, "name": u.name}

        self.send(await self.call(accept, authenticated=False))


# --------------------------------------------------------------------------- groups
class GroupsHandler(BaseHandler):
    async def get(self) -> None:
        self.body(())
        _args(self, ())

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "groups": [
                    people.group_to_dict(g, count=n) for g, n in people.list_groups(session, principal)
                ]
            }

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body(("name",))
        name = data.get("name")
        if not isinstance(name, str):
            raise BadRequest("name: required, the group's name", field="name")
        self.send(
            await self.call(lambda s, p: people.group_to_dict(people.create_group(s, p, name), [])), 201
        )


class GroupHandler(BaseHandler):
    async def get(self, gid: str) -> None:
        group_id = path_id(gid, "group_id")

        def get(session: Session, principal: Principal) -> dict[str, Any]:
            g = people.get_group(session, principal, group_id)
            return people.group_to_dict(g, people.group_members(session, principal, group_id))

        self.send(await self.call(get))

    async def patch(self, gid: str) -> None:
        group_id = path_id(gid, "group_id")
        data = self.body(("name",))
        name = data.get("name")
        if not isinstance(name, str):
            raise BadRequest("name: required, the group's new name", field="name")

        def rename(session: Session, principal: Principal) -> dict[str, Any]:
            g = people.rename_group(session, principal, group_id, name)
            return people.group_to_dict(g, people.group_members(session, principal, group_id))

        self.send(await self.call(rename))

    async def delete(self, gid: str) -> None:
        group_id = path_id(gid, "group_id")
        await self.call(lambda s, p: people.delete_group(s, p, group_id))
        self.set_status(204)
        self.finish()


class GroupMemberHandler(BaseHandler):
    async def put(self, gid: str, uid: str) -> None:
        await self._set(gid, uid, True)

    async def delete(self, gid: str, uid: str) -> None:
        await self._set(gid, uid, False)

    async def _set(self, gid: str, uid: str, member: bool) -> None:
        group_id, user_id = path_id(gid, "group_id"), path_id(uid, "user_id")
        self.body(())

        def change(session: Session, principal: Principal) -> dict[str, Any]:
            fn = people.add_member if member else people.remove_member
            g = fn(session, principal, group_id, user_id)
            return people.group_to_dict(g, people.group_members(session, principal, group_id))

        self.send(await self.call(change))


# --------------------------------------------------------------------------- audit
class AuditHandler(BaseHandler):
    async def get(self) -> None:
        self.body(())
        args = _args(self, AUDIT_ARGS)
        object_id = _int(args, "object_id", None, lo=1)
        user_id = _int(args, "user_id", None, lo=1)
        limit = _int(args, "limit", 100, lo=1, hi=people.MAX_PAGE) or 100
        offset = _int(args, "offset", 0) or 0
        since, until = _when(args, "since"), _when(args, "until", end_of_day=True)

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows, total = people.audit_entries(
                session,
                principal,
                object_type=args.get("object_type") or None,
                object_id=object_id,
                user_id=user_id,
                action=args.get("action") or None,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
            labels = people.user_labels(session, principal.tenant_id, [a.user_id for a in rows])
            return {
                "entries": [people.audit_to_dict(a, labels) for a in rows],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

        self.send(await self.call(lst))


# --------------------------------------------------------------------------- grants
_KINDS = {"dashboards": "dashboard", "reports": "report", "pdf/templates": "pdf_template"}


class ObjectGrantsHandler(BaseHandler):
    async def get(self, kind: str, oid: str) -> None:
        object_type, object_id = _KINDS[kind], path_id(oid, "object_id")
        self.body(())

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "grants": [
                    g.to_dict() for g in grants.list_grants(session, principal, object_type, object_id)
                ]
            }

        self.send(await self.call(lst))

    async def post(self, kind: str, oid: str) -> None:
        object_type, object_id = _KINDS[kind], path_id(oid, "object_id")
        data = self.body(("subject_type", "subject_id", "role", "expires_at"))
        self.send(
            await self.call(lambda s, p: grants.add_grant(s, p, object_type, object_id, data).to_dict()), 201
        )


class GrantHandler(BaseHandler):
    async def delete(self, gid: str) -> None:
        grant_id = path_id(gid, "grant_id")
        self.body(())
        await self.call(lambda s, p: grants.remove_grant(s, p, grant_id))
        self.set_status(204)
        self.finish()


ROUTES: list[tuple[str, Any]] = [
    (r"/api/users", UsersHandler),
    (r"/api/users/(\d{1,18})", UserHandler),
    (r"/api/users/(\d{1,18})/(disable|enable)", UserActiveHandler),
    (r"/api/users/(\d{1,18})/(invite|reset-password)", UserInviteHandler),
    (r"/api/invites/accept", InviteAcceptHandler),
    (r"/api/groups", GroupsHandler),
    (r"/api/groups/(\d{1,18})", GroupHandler),
    (r"/api/groups/(\d{1,18})/members/(\d{1,18})", GroupMemberHandler),
    (r"/api/audit", AuditHandler),
    (r"/api/(dashboards|reports|pdf/templates)/(\d{1,18})/grants", ObjectGrantsHandler),
    (r"/api/grants/(\d{1,18})", GrantHandler),
]
