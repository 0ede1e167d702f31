"""API tokens (issue with e-mail and password, list, inspect, revoke) and ``/api/me``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.errors import AuthenticationFailed, BadRequest
from portal.identity import auth
from portal.identity.principal import Principal
from portal.infra import ratelimit
from portal.models import ApiToken, User
from portal.web.api.base import BaseHandler, path_id


def _token(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
        "state": auth.token_state(t),
    }


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "tenant_id": u.tenant_id, "is_admin": u.is_admin}


class TokensHandler(BaseHandler):
    async def get(self) -> None:
        self.body(())

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {"tokens": [_token(t) for t in auth.list_api_tokens(session, principal)]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body(("email", "password", "name", "days"))
        email, password = data.get("email"), data.get("password")
        if not isinstance(email, str) or not email:
            raise BadRequest("email: required", field="email")
        if not isinstance(password, str) or not password:
            raise BadRequest("password: required", field="password")
        name = data.get("name") or "api"
        if not isinstance(name, str):
            raise BadRequest("name: must be text", field="name")
        days = data.get("days", self.ctx.settings.api_token_days)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= auth.MAX_TOKEN_DAYS:
            raise BadRequest(f"days: an integer from 1 to {auth.MAX_TOKEN_DAYS}", field="days")
        # One budget for the API and the sign-in form: per address, and a backoff per account.
        ratelimit.check_login(
            self.ctx.redis, self.client_ip(), email, per_minute=self.ctx.settings.login_per_minute
        )

        def issue(session: Session, _: Principal) -> dict[str, Any]:
            user = auth.authenticate(session, email, password)
            tok, plain = auth.issue_api_token(session, user, name, days=days)
            return {"token": plain, "token_id": tok.id, "expires_at": tok.expires_at, "user": _user(user)}

        try:
            out = await self.call(issue, authenticated=False)
        except AuthenticationFailed:
            ratelimit.login_failed(self.ctx.redis, email)
            raise
        ratelimit.login_succeeded(self.ctx.redis, email)
        self.send(out, 201)


class TokenHandler(BaseHandler):
    async def get(self, tid: str) -> None:
        self.send(await self.call(lambda s, u: _token(auth.get_api_token(s, u, path_id(tid)))))

    async def delete(self, tid: str) -> None:
        self.send(await self.call(lambda s, u: _token(auth.revoke_api_token(s, u, path_id(tid)))))


class MeHandler(BaseHandler):
    async def get(self) -> None:
        def me(session: Session, principal: Principal) -> dict[str, Any]:
            user = session.get(User, principal.require_user("have an account"))
            assert user is not None  # the principal was loaded from it in this transaction
            scope = principal.scope
            return {
                **_user(user),
                "tenant": scope.tenant_key,
                "scope": {k: sorted(v) for k, v in scope.restrictions().items()},
            }

        self.send(await self.call(me))
