"""Run the REST API in a background thread on a loopback port, for tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import requests
from tornado.httpserver import HTTPServer
from tornado.web import Application

from portal.infra.redis_server import free_port
from portal.web.api import routes


class ApiServer:
    """The API routes of an AppContext served by Tornado in a thread."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HTTPServer | None = None

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = Application(routes(self.ctx))
        self._server = HTTPServer(app)
        self._server.listen(self.port, "127.0.0.1")
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> ApiServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.stop)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def login(self, email: str, password: str) -> requests.Session:
        """A session carrying a fresh API token of that user."""
        r = self.session().post(
            f"{self.base}/api/tokens", json={"email": email, "password": password, "name": "test"}
        )
        assert r.status_code == 201, r.text
        return self.session(r.json()["token"])

    def session(self, token: str | None = None) -> requests.Session:
        s = requests.Session()
        if token:
            s.headers["Authorization"] = f"Bearer {token}"
        return s
