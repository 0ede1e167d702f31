"""Web entry point: one Panel/Bokeh server hosting the pages and the REST API."""

from __future__ import annotations

import logging
import signal
from functools import partial
from typing import Any

from portal.api import routes
from portal.config import Settings
from portal.context import AppContext, build_context

log = logging.getLogger(__name__)


def make_server(ctx: AppContext, *, port: int | None = None, start: bool = False) -> Any:
    """A Panel server with the pages and the API routes (not started unless ``start``)."""
    import panel as pn

    from pages import home

    port = ctx.settings.port if port is None else port
    origins = [f"{ctx.settings.host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    return pn.serve(
        partial(home.create_page, ctx),
        port=port,
        address=ctx.settings.host,
        websocket_origin=origins,
        show=False,
        start=start,
        title="Conductor BI",
        extra_patterns=routes(ctx),
    )


def serve(settings: Settings) -> None:
    """Serve until interrupted; the embedded Redis (if any) is stopped on exit."""
    ctx = build_context(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(
        f"Conductor BI on http://{settings.host}:{settings.port}/  (API: /api, health: /healthz)", flush=True
    )
    try:
        make_server(ctx, start=True)
    except KeyboardInterrupt:
        pass
    finally:
        ctx.close()
