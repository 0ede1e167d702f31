"""File transfers of the portal's own pages, signed in by the session cookie (not an API token).

``PUT /data/upload`` is :class:`ImportUploadHandler` for the data page's file chooser
(``components.file_upload``): the body streams to disk exactly as on the REST route. A cookie
alone would let another site make a signed-in browser upload, so the request must also carry
the page's form token (``X-Upload-Token``: an HMAC of the browser session, the sign-out form's
token), which only the portal's own pages know; a cross-site request cannot set that header
without a CORS preflight the portal never grants.
``GET /data/imports/{id}/bad-rows`` downloads an import's bad-row report (reading only).
"""

from __future__ import annotations

import hmac

from portal.context import AppContext
from portal.errors import AuthenticationFailed, PermissionDenied
from portal.identity.principal import Identify
from portal.web.api.imports import ImportBadRowsHandler, ImportUploadHandler
from portal.web.webauth import cookie_identity, cookie_session_token, logout_token

UPLOAD_TOKEN_HEADER = "X-Upload-Token"  # noqa: S105 - a header name


def _session_token(handler: ImportUploadHandler | ImportBadRowsHandler) -> str:
    plain = cookie_session_token(handler, handler.ctx)
    if not plain:
        raise AuthenticationFailed("sign in to the portal first")
    return plain


class PageUploadHandler(ImportUploadHandler):
    def bearer(self) -> Identify:
        plain = _session_token(self)
        sent = self.request.headers.get(UPLOAD_TOKEN_HEADER, "")
        if not sent or not hmac.compare_digest(sent, logout_token(self.ctx.settings.secret_key, plain)):
            raise PermissionDenied("upload: this page's form token is missing or stale; reload the page")
        return cookie_identity(plain)


class PageBadRowsHandler(ImportBadRowsHandler):
    def bearer(self) -> Identify:
        return cookie_identity(_session_token(self))


def routes(ctx: AppContext) -> list[tuple[str, type, dict[str, object]]]:
    """The page file routes, for the server's ``extra_patterns``."""
    return [
        (r"/data/upload", PageUploadHandler, {"ctx": ctx, "route": "/data/upload"}),
        (
            r"/data/imports/(\d{1,18})/bad-rows",
            PageBadRowsHandler,
            {"ctx": ctx, "route": "/data/imports/{id}"},
        ),
    ]
