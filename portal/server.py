"""Web entry point: one Panel/Bokeh server hosting the pages and the REST API behind one sign-in."""

from __future__ import annotations

import hashlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from portal.api import routes
from portal.config import Settings
from portal.context import AppContext, build_context
from portal.webauth import PortalAuthProvider

log = logging.getLogger(__name__)


def cookie_secret(settings: Settings) -> str:
    """The session-cookie signing key, derived from the settings secret."""
    return hashlib.sha256(f"cookie-v1:{settings.secret_key}".encode()).hexdigest()


def pages(ctx: AppContext) -> dict[str, Callable[[], Any]]:
    """URL → page factory; each factory runs once per browser session.

    Real functions, not ``functools.partial``: Panel serves anything that is not a
    function as an object, and would render the partial's repr (settings included).
    """
    from pages import dashboard, home, report_builder

    def factory(module: Any) -> Callable[[], Any]:
        def create() -> Any:
            return module.create_page(ctx)

        create.__name__ = f"{module.__name__}.create_page"
        return create

    return {"/": factory(home), "/dashboard": factory(dashboard), "/reports": factory(report_builder)}


def make_server(ctx: AppContext, *, port: int | None = None, start: bool = False) -> Any:
    """A Panel server with the pages, the API routes and the sign-in (not started unless ``start``)."""
    import panel as pn

    pn.extension("gridstack", "tabulator", notifications=True)
    port = ctx.settings.port if port is None else port
    origins = [f"{ctx.settings.host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    return pn.serve(
        pages(ctx),
        port=port,
        address=ctx.settings.host,
        websocket_origin=origins,
        show=False,
        start=start,
        title="Conductor BI",
        extra_patterns=routes(ctx),
        auth_provider=PortalAuthProvider(ctx),
        cookie_secret=cookie_secret(ctx.settings),
        # Sessions of closed tabs are cleaned up quickly, so memory is given back.
        unused_session_lifetime_milliseconds=15_000,
        check_unused_sessions_milliseconds=5_000,
    )


def serve(settings: Settings) -> None:
    """Serve until interrupted; the embedded Redis (if any) is stopped on exit."""
    ctx = build_context(settings)

    def stop(*_: Any) -> None:
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
