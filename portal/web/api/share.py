"""Share links: ``POST /api/share`` makes one (the token is in this answer only), ``GET /api/share``
lists the caller's, ``DELETE /api/share/{id}`` revokes at once, ``GET /api/share/{id}/audit`` is
its access log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.errors import InvalidSpec
from portal.identity.principal import Principal
from portal.sharing import tokens
from portal.specs import parse_spec
from portal.specs.share import SHARE_OBJECT_TYPES, ShareRequest
from portal.web.api.base import BaseHandler, path_id

FIELDS = tuple(ShareRequest.model_fields)


class SharesHandler(BaseHandler):
    async def get(self) -> None:
        """The caller's links (an admin: the tenant's), optionally of one object."""
        kind = self.get_query_argument("object_type", None)
        if kind is not None and kind not in SHARE_OBJECT_TYPES:
            raise InvalidSpec(f"object_type: one of {', '.join(SHARE_OBJECT_TYPES)}", field="object_type")
        raw_id = self.get_query_argument("object_id", None)
        oid = path_id(raw_id, "object_id") if raw_id is not None else None

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            found = tokens.list_shares(session, principal, object_type=kind, object_id=oid)
            return {"shares": [tokens.share_to_dict(t) for t in found]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        """A new link: ``{"id", "token", "url", ...}``; the token is never shown again."""
        request = parse_spec(ShareRequest, self.body(FIELDS))
        base = self.ctx.settings.base_url

        def make(session: Session, principal: Principal) -> dict[str, Any]:
            token, plain = tokens.create_share(session, principal, request, warehouse=self.ctx.warehouse)
            path = tokens.public_path(token, plain)
            return {**tokens.share_to_dict(token), "token": plain, "url": f"{base}{path}", "path": path}

        self.send(await self.call(make), 201)


class ShareHandler(BaseHandler):
    async def get(self, token_id: str) -> None:
        tid = path_id(token_id, "tokenId")
        self.send(await self.call(lambda s, p: tokens.share_to_dict(tokens.get_share(s, p, tid))))

    async def delete(self, token_id: str) -> None:
        """Revoke: the link stops working at once, open viewers included."""
        tid = path_id(token_id, "tokenId")
        self.send(await self.call(lambda s, p: tokens.share_to_dict(tokens.revoke_share(s, p, tid))))


class ShareAuditHandler(BaseHandler):
    async def get(self, token_id: str) -> None:
        """Who used the link, when, from where, and whether it was let in."""
        tid = path_id(token_id, "tokenId")

        def log(session: Session, principal: Principal) -> dict[str, Any]:
            entries = tokens.access_log(session, principal, tid)
            return {"id": tid, "entries": [tokens.access_to_dict(a) for a in entries]}

        self.send(await self.call(log))


SHARE_ROUTES = [
    (r"/api/share", SharesHandler),
    (r"/api/share/(\d{1,18})", ShareHandler),
    (r"/api/share/(\d{1,18})/audit", ShareAuditHandler),
]
