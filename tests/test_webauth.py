"""Browser sign-in: login form, signed session cookie, rate limit, no open redirects."""

from __future__ import annotations

import asyncio
import threading

import pytest
import requests
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from portal.redis_server import free_port
from portal.server import cookie_secret
from portal.webauth import PortalAuthProvider, safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard?id=3", "/dashboard?id=3"),
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
        ("relative/path", "/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


@pytest.fixture
def web(ctx, demo):
    provider = PortalAuthProvider(ctx)

    class Whoami(RequestHandler):
        def get(self):
            self.write({"user": provider.get_user(self)})

    app = Application(
        [
            (provider.login_url, provider.login_handler),
            (provider.logout_url, provider.logout_handler),
            (r"/whoami", Whoami),
        ],
        cookie_secret=cookie_secret(ctx.settings),
    )
    port = free_port()
    ready = threading.Event()
    holder = {}

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = HTTPServer(app)
        server.listen(port, "127.0.0.1")
        holder.update(loop=loop, server=server)
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    holder["loop"].call_soon_threadsafe(holder["server"].stop)
    holder["loop"].call_soon_threadsafe(holder["loop"].stop)
    t.join(10)


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_login_flow(web, demo):
    s = requests.Session()
    form = s.get(f"{web}/login?next=/dashboard?id=2")
    assert form.status_code == 200 and 'name="password"' in form.text
    assert (
        form.headers["X-Frame-Options"] == "DENY"
        and "default-src 'none'" in form.headers["Content-Security-Policy"]
    )
    bad = s.post(
        f"{web}/login",
        data={"email": "analyst@acme.example.com", "password": "nope", "next": "/"},
        allow_redirects=False,
    )
    assert bad.status_code == 401 and "invalid e-mail or password" in bad.text and "user" not in s.cookies
    assert s.get(f"{web}/whoami").json() == {"user": None}
    ok = s.post(
        f"{web}/login",
        data={
            "email": "analyst@acme.example.com",
            "password": "conductor-demo",
            "next": "https://evil.example/",
        },
        allow_redirects=False,
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert (
        "httponly" in ok.headers["Set-Cookie"].lower() and "samesite=lax" in ok.headers["Set-Cookie"].lower()
    )
    assert s.get(f"{web}/whoami").json() == {"user": str(demo[("acme", "analyst")].id)}
    s.get(f"{web}/logout", allow_redirects=False)
    assert s.get(f"{web}/whoami").json() == {"user": None}


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_forged_cookie_and_rate_limit(web, demo):
    s = requests.Session()
    s.cookies.set("user", str(demo[("acme", "admin")].id))  # unsigned: must not authenticate
    assert s.get(f"{web}/whoami").json() == {"user": None}
    codes = [
        requests.post(f"{web}/login", data={"email": "x@y.com", "password": "wrong-password"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
