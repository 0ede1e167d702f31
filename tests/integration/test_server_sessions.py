"""Bokeh session lifetime and the memory release after sessions end (issue 7, item 5).

Configuration and scheduling logic only: the memory figures themselves come from
``tests/benchmarks/bench_dashboard.py``, which prints them (no timing asserts here).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import panel as pn
import pytest

from portal.config import Settings
from portal.context import AppContext, build_context
from portal.infra.redis_server import free_port
from portal.web import server as web


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    """A context for building (never starting) the server: nothing connects to Redis."""
    context = build_context(Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0"))
    yield context
    context.engine.dispose()


def test_session_options_reach_bokeh_and_are_logged(ctx, caplog):
    with caplog.at_level(logging.INFO, logger="portal.web.server"):
        servers = [web.make_server(ctx, port=free_port()) for _ in range(2)]
    try:
        # Read back from Bokeh's application: what its cleanup and keep-alive jobs use.
        for server in servers:
            assert web.session_options(server) == {
                "unused_session_lifetime_ms": web.UNUSED_SESSION_LIFETIME_MS,
                "check_unused_sessions_ms": web.CHECK_UNUSED_SESSIONS_MS,
                "keep_alive_ms": web.KEEP_ALIVE_MS,
            }
        # A closed tab's session is gone within 20 s (Bokeh's default check alone allowed 32 s).
        assert web.UNUSED_SESSION_LIFETIME_MS + web.CHECK_UNUSED_SESSIONS_MS <= 20_000
        # Bokeh logs a lifetime only when it differs from its default (15 s): the server says it.
        assert (
            "sessions: unused sessions last for 15000 ms, checked every 5000 ms; keep-alive every 37000 ms"
            in caplog.text
        )
        # One release hook per process, however many servers were built.
        assert pn.state._on_session_destroyed.count(web.RELEASER.session_destroyed) == 1
    finally:
        for server in servers:
            server._http.stop()


class Loop:
    """A stand-in event loop and clock: what the releaser scheduled, run by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, wait: float, fn: Callable[[], None]) -> None:
        self.pending.append((wait, fn))

    def waits(self) -> list[float]:
        return [w for w, _ in self.pending]

    def run_next(self, after: float) -> None:
        self.now += after
        self.pending.pop(0)[1]()


def test_releases_are_batched_never_per_session(caplog):
    loop = Loop()
    r = web.MemoryReleaser(delay=3, min_interval=20, call_later=loop.call_later, clock=lambda: loop.now)
    session: Any = object()
    for _ in range(5):
        r.session_destroyed(session)
    r.session_destroyed(None)  # Panel's cleanup outside a server: not a session that ended
    assert loop.waits() == [3] and r.releases == 0  # one release for the whole batch

    with caplog.at_level(logging.INFO, logger="portal.web.server"):
        loop.run_next(3)
    assert r.releases == 1 and "released the memory of 5 ended session(s)" in caplog.text
    assert loop.waits() == [20]  # the settling pass

    loop.now += 5
    r.session_destroyed(session)  # joins the pass already scheduled
    assert loop.waits() == [20]
    loop.run_next(15)
    assert r.releases == 2 and loop.waits() == [20]  # it had a session: another settling pass
    loop.run_next(20)
    assert r.releases == 3 and loop.waits() == []  # nothing ended since: done

    loop.now += 1
    r.session_destroyed(session)  # soon after a release: waits for the minimum interval
    assert loop.waits() == [19]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_is_bound_on_linux():
    assert web.malloc_trim() in (True, False)
    assert web.rss_mb() is not None and web.rss_mb() > 0
