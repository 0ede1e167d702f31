"""Web entry point: one Panel/Bokeh server hosting the pages and the REST API behind one sign-in."""

from __future__ import annotations

import hashlib
import logging
import re
import signal
import uuid
from collections.abc import Callable
from typing import Any

from panel.io.server import ComponentResourceHandler
from tornado.web import HTTPError

from portal.config import Settings
from portal.context import AppContext, build_context
from portal.errors import AuthenticationFailed
from portal.web import httpsecurity
from portal.web.api import routes
from portal.web.webauth import COOKIE, PortalAuthProvider

log = logging.getLogger(__name__)

#: Largest HTTP request body the server reads (JSON bodies are limited further by the API).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Panel's component resource route imports the module named in the URL; only these may be named.
COMPONENT_MODULES = re.compile(r"^(panel|bokeh|holoviews|components|pages)(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def cookie_secret(settings: Settings) -> str:
    """The session-cookie signing key, derived from the settings secret."""
    return hashlib.sha256(f"cookie-v1:{settings.secret_key}".encode()).hexdigest()


def session_secret(settings: Settings) -> str:
    """The key that signs Bokeh session ids and tokens, derived from the settings secret."""
    return hashlib.sha256(f"bokeh-sessions-v1:{settings.secret_key}".encode()).hexdigest()


class SafeComponentResourceHandler(ComponentResourceHandler):
    """Panel's ``/components/<module>/<class>/<attr>/<file>`` route without its 500s and arbitrary imports.

    The stock handler imports whatever module the URL names (``..`` crashes it with a
    TypeError); here the module must be one of ours or Panel's, and anything unexpected is a 404.
    """

    def parse_url_path(self, path: str) -> str:
        module = path.split("/", 1)[0]
        if ".." in path or "\\" in path or not COMPONENT_MODULES.match(module):
            raise HTTPError(404, "no such component resource")
        try:
            return str(super().parse_url_path(path))
        except HTTPError:
            raise
        except Exception:
            log.info("component resource %r refused", path, exc_info=True)
            raise HTTPError(404, "no such component resource") from None


def error_view(message: str) -> Any:
    """What a page shows instead of a traceback (which only the server log gets)."""
    import panel as pn

    return pn.Column(
        pn.pane.Alert(message, alert_type="danger"),
        pn.pane.HTML('<a href="/">Back to the dashboards</a>'),
        sizing_mode="stretch_width",
    )


def pages(ctx: AppContext) -> dict[str, Callable[[], Any]]:
    """URL → page factory; each factory runs once per browser session.

    Real functions, not ``functools.partial``: Panel serves anything that is not a
    function as an object, and would render the partial's repr (settings included).
    A page that fails shows a reference number; the traceback goes to the log only.
    """
    from pages import dashboard, home, report_builder

    def factory(module: Any) -> Callable[[], Any]:
        def create() -> Any:
            try:
                return module.create_page(ctx)
            except AuthenticationFailed:
                return error_view("Your session has ended. Reload the page to sign in again.")
            except Exception:
                ref = uuid.uuid4().hex[:12]
                log.exception("page %s failed (reference %s)", module.__name__, ref)
                return error_view(f"This page could not be shown (reference {ref}). The error was logged.")

        create.__name__ = f"{module.__name__}.create_page"
        return create

    return {"/": factory(home), "/dashboard": factory(dashboard), "/reports": factory(report_builder)}


def _callback_error(exc: BaseException) -> None:
    """Panel's handler for exceptions in callbacks: log them, tell the user without details."""
    import panel as pn

    ref = uuid.uuid4().hex[:12]
    log.error("callback failed (reference %s)", ref, exc_info=(type(exc), exc, exc.__traceback__))
    if pn.state.notifications is not None:
        pn.state.notifications.error(f"Something went wrong (reference {ref}).", duration=0)


def make_server(ctx: AppContext, *, port: int | None = None, start: bool = False) -> Any:
    """A Panel server with the pages, the API routes and the sign-in (not started unless ``start``)."""
    import panel as pn

    pn.extension("gridstack", "tabulator", notifications=True)
    pn.config.exception_handler = _callback_error
    port = ctx.settings.port if port is None else port
    origins = [f"{ctx.settings.host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    server = pn.serve(
        pages(ctx),
        port=port,
        address=ctx.settings.host,
        websocket_origin=origins,
        show=False,
        start=False,
        title="Conductor BI",
        extra_patterns=[*routes(ctx), (r"/components/(.*)", SafeComponentResourceHandler, {})],
        auth_provider=PortalAuthProvider(ctx),
        cookie_secret=cookie_secret(ctx.settings),
        # Signed session ids and tokens: a websocket cannot bring a token the server did not issue.
        sign_sessions=True,
        secret_key=session_secret(ctx.settings),
        # The session token is embedded in every page, readable by its scripts: no cookie and
        # no credential header goes into it (the auth provider hands the user over server-side).
        include_cookies=[],
        exclude_headers=["Cookie", "Authorization", "Proxy-Authorization"],
        http_server_kwargs={"xheaders": ctx.settings.trusted_proxy, "max_body_size": MAX_BODY_BYTES},
        # Sessions of closed tabs are cleaned up quickly, so memory is given back.
        unused_session_lifetime_milliseconds=15_000,
        check_unused_sessions_milliseconds=5_000,
    )
    # Bokeh builds the Tornado application itself; it has no public handle for output transforms.
    httpsecurity.install(server._tornado)
    if start:
        server.start()
        server.io_loop.start()
    return server


def serve(settings: Settings) -> None:
    """Serve until interrupted; running queries are interrupted and the embedded Redis stopped on exit."""
    ctx = build_context(settings)

    def stop(*_: Any) -> None:
        # Without this, a long warehouse query on a worker thread keeps the process alive after SIGTERM.
        log.info("shutting down: interrupted %s running queries", ctx.warehouse.interrupt_all())
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"Conductor BI on http://{settings.host}:{settings.port}/  (API: /api, health: /healthz)", flush=True
    )
    try:
        make_server(ctx, start=True)
    except KeyboardInterrupt:
        pass
    finally:
        ctx.close()


__all__ = ["COOKIE", "cookie_secret", "make_server", "pages", "serve"]
