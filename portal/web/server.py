"""Web entry point: one Panel/Bokeh server hosting the pages and the REST API behind one sign-in."""

from __future__ import annotations

import ctypes
import functools
import gc
import hashlib
import logging
import math
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from panel.io.server import ComponentResourceHandler
from tornado.ioloop import IOLoop
from tornado.web import HTTPError

from portal.config import Settings
from portal.context import AppContext, build_context
from portal.demo.simulator import start_simulator
from portal.errors import AuthenticationFailed
from portal.jobqueue.children import JobProcesses, child_env, start_job_processes
from portal.jobqueue.reconcile import reconcile
from portal.viz.elements import load_hv
from portal.web import fonts, httpsecurity, invite, page_files, pub, scripts
from portal.web.api import routes
from portal.web.webauth import COOKIE, PortalAuthProvider

log = logging.getLogger(__name__)

#: Largest HTTP request body the server reads (JSON bodies are limited further by the API).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Panel's component resource route imports the module named in the URL; only these may be named.
COMPONENT_MODULES = re.compile(r"^(panel|bokeh|holoviews|components|pages)(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# Bokeh session lifetime. A session lives on after its tab closes until the periodic check finds
# it unused for the lifetime: 15-20 s here (Bokeh's default check, every 17 s, made it up to 32 s).
# The lifetime equals Bokeh's default, so Bokeh logs nothing about it: make_server logs the values
# it reads back from Bokeh's application instead (see session_options).
#: A session is discarded once it has had no connection for this long.
UNUSED_SESSION_LIFETIME_MS = 15_000
#: How often Bokeh looks for unused sessions.
CHECK_UNUSED_SESSIONS_MS = 5_000
#: Websocket ping interval: keeps idle pages connected through proxies that drop silent
#: connections after 60 s (Bokeh's default, stated so that it is one of the logged values).
KEEP_ALIVE_MS = 37_000


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
    from pages import (
        admin_audit,
        admin_data,
        admin_signing,
        admin_users,
        alerts,
        dashboard,
        data_import,
        designer,
        home,
        jobs,
        outbox,
        pdf_templates,
        pub_view,
        report_builder,
        report_library,
        schedules,
    )

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

    return {
        "/": factory(home),
        "/dashboard": factory(dashboard),
        "/reports": factory(report_builder),
        "/reports/library": factory(report_library),
        "/alerts": factory(alerts),
        "/data": factory(data_import),
        "/jobs": factory(jobs),
        "/schedules": factory(schedules),
        "/outbox": factory(outbox),
        "/pdf": factory(pdf_templates),
        "/designer": factory(designer),
        "/admin/users": factory(admin_users),
        "/admin/audit": factory(admin_audit),
        "/admin/data": factory(admin_data),
        "/admin/signing": factory(admin_signing),
        # Shared views: served at /pub/{type}/{token} by portal.web.pub (this path alone shows nothing).
        pub.VIEW_APP: factory(pub_view),
    }


def _callback_error(exc: BaseException) -> None:
    """Panel's handler for exceptions in callbacks: log them, tell the user without details."""
    import panel as pn

    ref = uuid.uuid4().hex[:12]
    log.error("callback failed (reference %s)", ref, exc_info=(type(exc), exc, exc.__traceback__))
    if pn.state.notifications is not None:
        pn.state.notifications.error(f"Something went wrong (reference {ref}).", duration=0)


# --------------------------------------------------------------------------- memory of ended sessions
def rss_mb() -> float | None:
    """Resident memory of this process in MiB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (not Linux, or a C library without it, e.g. musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # dlopen(NULL): the C library this interpreter already runs on, whatever its file name.
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def malloc_trim() -> bool | None:
    """Return the C heap's free pages to the OS; None where unavailable, else whether any were."""
    fn = _malloc_trim()
    return None if fn is None else bool(fn(0))


class MemoryReleaser:
    """Gives the memory of discarded sessions back to the operating system, in batches.

    Measured with ``tests/benchmarks/bench_dashboard.py``: 20 closed dashboard sessions left
    RSS 95 MB above idle though nothing of them was alive any more (opening 20 again grew
    RSS by 12 MB only). Part of it is garbage: Bokeh collects when it destroys a document,
    before Panel's cleanup breaks the session's last reference cycles, which then wait for
    the next full collection; the rest is free memory the allocators keep mapped. A full
    collection then ``malloc_trim(0)`` returns it (all of it under ``PYTHONMALLOC=malloc``;
    pymalloc keeps arenas that any surviving object pins). The collection blocks the event
    loop (up to ~1.5 s after 20 sessions, the work a later automatic collection would
    otherwise do in the middle of a page build), so it runs once sessions stop ending:
    ``delay`` after the first of a batch (Bokeh discards expired sessions together, every
    ``CHECK_UNUSED_SESSIONS_MS``), then at most once per ``min_interval`` seconds however
    many sessions end; never per session or per request. A trim-only pass follows each
    batch ``min_interval`` later.
    """

    def __init__(
        self,
        *,
        delay: float = 3.0,
        min_interval: float = 20.0,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delay = delay
        self.min_interval = min_interval
        #: Schedules on the event loop of the calling thread (the server's) unless given (tests).
        self._call_later = call_later or (lambda wait, fn: IOLoop.current().call_later(wait, fn))
        self._clock = clock
        self.releases = 0
        self._ended = 0
        self._scheduled = False
        self._last = -math.inf

    def session_destroyed(self, session_context: Any) -> None:
        """``pn.state.on_session_destroyed`` hook (on the server's event loop): schedule a release."""
        if session_context is None:
            return  # Panel cleaning up a document outside a server (e.g. a warm-up run)
        self._ended += 1
        self._schedule(self.delay)

    def _schedule(self, delay: float) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        self._call_later(max(delay, self._last + self.min_interval - self._clock()), self.release)

    def release(self) -> None:
        """Collect garbage and trim the C heap now; logs what it gave back."""
        self._scheduled = False
        self._last = self._clock()
        ended, self._ended = self._ended, 0
        if ended:
            # Part of a batch's memory is freed only after its hooks ran (its connections and
            # pending writes winding down): one more pass once that has settled.
            self._schedule(self.min_interval)
        before, t0 = rss_mb(), time.perf_counter()
        # The settling pass only trims: what a batch frees late is freed by reference counting.
        collected = gc.collect() if ended else 0
        t1 = time.perf_counter()
        trimmed = malloc_trim()
        t2 = time.perf_counter()
        after = rss_mb()
        self.releases += 1
        log.info(
            "released the memory of %d ended session(s): gc collected %d objects in %.0f ms, "
            "malloc_trim %s in %.0f ms; RSS %s -> %s MB",
            ended,
            collected,
            (t1 - t0) * 1000,
            {None: "unavailable", True: "returned memory", False: "had nothing to return"}[trimmed],
            (t2 - t1) * 1000,
            f"{before:.0f}" if before is not None else "?",
            f"{after:.0f}" if after is not None else "?",
        )


#: One per process: the heap is the process's, whichever server's sessions ended.
RELEASER = MemoryReleaser()


def session_options(server: Any) -> dict[str, int]:
    """The session lifetime options as Bokeh's application holds them (milliseconds).

    Read back rather than echoed from the arguments: these are what Bokeh's periodic
    cleanup and keep-alive jobs use.
    """
    app = server._tornado  # Bokeh has no public accessor for them
    return {
        "unused_session_lifetime_ms": app._unused_session_lifetime_milliseconds,
        "check_unused_sessions_ms": app._check_unused_sessions_milliseconds,
        "keep_alive_ms": app._keep_alive_milliseconds,
    }


def make_server(ctx: AppContext, *, port: int | None = None, start: bool = False) -> Any:
    """A Panel server with the pages, the API routes and the sign-in (not started unless ``start``)."""
    import panel as pn

    pn.extension("gridstack", "tabulator", notifications=True)
    # Dashboard tiles draw charts on worker threads: HoloViews and its plotting backends are
    # imported here, once, rather than by whichever thread draws the first chart (an import on a
    # worker thread while the event loop imports too can wait on the other's import lock).
    load_hv()
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
        extra_patterns=[
            *pub.pub_routes(ctx),
            *routes(ctx),
            *invite.routes(ctx),
            *page_files.routes(ctx),
            *fonts.routes(),
            *scripts.routes(),
            (r"/components/(.*)", SafeComponentResourceHandler, {}),
        ],
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
        # Sessions of closed tabs are discarded within 20 s, and their memory given back (RELEASER).
        unused_session_lifetime_milliseconds=UNUSED_SESSION_LIFETIME_MS,
        check_unused_sessions_milliseconds=CHECK_UNUSED_SESSIONS_MS,
        keep_alive_milliseconds=KEEP_ALIVE_MS,
    )
    # Bokeh builds the Tornado application itself; it has no public handle for output transforms.
    httpsecurity.install(server._tornado)
    opts = session_options(server)
    log.info(
        "sessions: unused sessions last for %d ms, checked every %d ms; keep-alive every %d ms",
        opts["unused_session_lifetime_ms"],
        opts["check_unused_sessions_ms"],
        opts["keep_alive_ms"],
    )
    if not os.environ.get("PYTHONMALLOC", "").startswith("malloc"):
        log.info(
            "memory: Python's own allocator keeps arenas mapped while any object in them lives, so only "
            "part of the memory of ended sessions goes back to the OS; PYTHONMALLOC=malloc (as .ci/portal "
            "sets it) lets malloc_trim return it"
        )
    # Registered once per process (a test may build several servers): Panel keeps the hooks
    # registered outside a session in a process-wide list and adds them to every new session.
    if RELEASER.session_destroyed not in pn.state._on_session_destroyed:
        pn.state.on_session_destroyed(RELEASER.session_destroyed)
    if start:
        # Everything built so far (modules, catalog, engines) lives as long as the process: a full
        # collection need not walk it. Without this, every full collection (the releaser's, and
        # the automatic ones while pages are built) scanned the whole startup heap.
        gc.collect()
        gc.freeze()
        server.start()
        server.io_loop.start()
    return server


def serve(settings: Settings, *, job_processes: bool = True) -> None:
    """Serve until interrupted; running queries are interrupted and the embedded Redis stopped on exit.

    With ``job_processes`` a worker per pool and the scheduler run as child processes on the
    portal's Redis (:mod:`portal.jobqueue.children`), stopped before it.
    """
    ctx = build_context(settings)
    try:
        # Before anything runs: what job_queue holds as on its way is on the queue again (a
        # deferred job survives a restart of the portal and of the machine).
        reconcile(ctx.sessions, ctx.redis)
    except Exception:
        log.exception("start-up reconciliation of the job queue failed; the scheduler retries it")
    # The demo's live operations (portal.demo.simulator) where there is demo data; CONDUCTOR_SIMULATOR=0: off
    simulator = start_simulator(settings.simulator, ctx.sessions, ctx.redis)
    children: JobProcesses | None = None
    if job_processes:
        env = child_env(
            os.environ,
            redis_url=ctx.redis_url,
            database_url=settings.database_url,
            warehouse_url=settings.warehouse_url,
        )
        children = start_job_processes(env)

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
        if simulator is not None:
            simulator.stop()
        if children is not None:
            children.stop()  # before the Redis they use goes away
        ctx.close()


__all__ = ["COOKIE", "RELEASER", "cookie_secret", "make_server", "pages", "serve", "session_options"]
