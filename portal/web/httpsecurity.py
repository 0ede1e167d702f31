"""Security headers on every HTTP response of the server (pages, API, static files, sign-in).

Handlers that know better set their own (the API and the sign-in page send a
stricter Content-Security-Policy); the transform only fills in what is missing.
"""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

#: Bokeh/Panel pages embed their document and boot scripts inline, so scripts need
#: 'unsafe-inline' (and 'unsafe-eval' for Bokeh's compiled expressions); everything
#: else is locked to this origin, and no other site may frame the portal.
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": PAGE_CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def add_security_headers(headers: HTTPHeaders, *, https: bool = False) -> None:
    """Fill in the security headers a response does not set itself."""
    csp = headers.get("Content-Security-Policy", "")
    framable = "frame-ancestors" in csp and "frame-ancestors 'none'" not in csp
    for name, value in SECURITY_HEADERS.items():
        # A share viewer framed by the origins on its token: X-Frame-Options cannot name them.
        if name not in headers and not (name == "X-Frame-Options" and framable):
            headers[name] = value
    if https and "Strict-Transport-Security" not in headers:
        headers["Strict-Transport-Security"] = "max-age=31536000"


class SecurityHeaders(OutputTransform):
    """A Tornado output transform: runs on the first chunk of every response of the application."""

    def __init__(self, request: HTTPServerRequest) -> None:
        super().__init__(request)
        self._https = request.protocol == "https"

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        add_security_headers(headers, https=self._https)
        return status_code, headers, chunk


def install(app: Any) -> None:
    """Add the transform to a Tornado application (Bokeh's ``BokehTornado`` is one)."""
    if SecurityHeaders not in app.transforms:
        app.transforms.append(SecurityHeaders)
