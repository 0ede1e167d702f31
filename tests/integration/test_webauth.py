"""Browser sign-in: CSRF-protected form, server-side revocable sessions, guard, no open redirects."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
import requests
from sqlalchemy import select
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler, create_signed_value

from portal.config import PUBLISHED_SECRETS
from portal.errors import QuotaExceeded
from portal.identity import auth
from portal.infra import ratelimit
from portal.infra.db import transaction
from portal.infra.redis_server import free_port
from portal.models import User, WebSession
from portal.web.server import cookie_secret
from portal.web.webauth import COOKIE, PortalAuthProvider, safe_next

PASSWORD = "conductor-demo"
ANALYST = "analyst@acme.example.com"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard?id=3", "/dashboard?id=3"),
        ("/", "/"),
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),  # browsers read /\ as //
        ("/%5Cevil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%252F/evil.example", "/"),  # decoded twice by a proxy
        ("/\t/evil.example", "/"),  # browsers drop tabs
        ("/\n/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
        ("relative/path", "/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def serve_app(app: Application, *, xheaders: bool = False):
    port = free_port()
    ready = threading.Event()
    holder = {}

    def run():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = HTTPServer(app, xheaders=xheaders)
        server.listen(port, "127.0.0.1")
        holder.update(loop=loop, server=server)
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    ready.wait(10)

    def stop():
        holder["loop"].call_soon_threadsafe(holder["server"].stop)
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        t.join(10)

    return f"http://127.0.0.1:{port}", stop


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
    base, stop = serve_app(app, xheaders=True)
    yield base
    stop()


def xsrf_of(html: str) -> str:
    return re.search(r'name="_xsrf" value="([^"]+)"', html).group(1)


def form_login(s: requests.Session, web: str, email: str = ANALYST, password: str = PASSWORD, **extra):
    page = s.get(f"{web}/login")
    data = {"email": email, "password": password, "next": "/", "_xsrf": xsrf_of(page.text), **extra}
    return s.post(f"{web}/login", data=data, allow_redirects=False)


def whoami(s: requests.Session, web: str):
    return s.get(f"{web}/whoami").json()["user"]


sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@sqlite_only
def test_login_flow(web, demo):
    s = requests.Session()
    form = s.get(f"{web}/login?next=/dashboard?id=2")
    assert form.status_code == 200 and 'name="password"' in form.text
    xsrf_cookie = form.headers["Set-Cookie"].lower()
    assert "_xsrf=" in xsrf_cookie and "httponly" in xsrf_cookie and "samesite=strict" in xsrf_cookie
    assert form.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in form.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]
    bad = form_login(s, web, password="nope")
    assert bad.status_code == 401 and "invalid e-mail or password" in bad.text and COOKIE not in s.cookies
    assert whoami(s, web) is None
    ok = form_login(s, web, next="https://evil.example/")
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    cookie = ok.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http on loopback, no setting
    assert whoami(s, web) == str(demo[("acme", "analyst")].id)


@sqlite_only
def test_open_redirect_after_sign_in(web, demo):
    s = requests.Session()
    r = form_login(s, web, next="/\\evil.example")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = form_login(s, web, next="/reports?id=3")
    assert r.headers["Location"] == "/reports?id=3"


@sqlite_only
def test_login_csrf(web, demo):
    """A form posted from another site (no _xsrf cookie/field pair) signs nobody in."""
    s = requests.Session()
    r = s.post(
        f"{web}/login", data={"email": ANALYST, "password": PASSWORD, "next": "/"}, allow_redirects=False
    )
    assert r.status_code == 403 and "expired" in r.text and COOKIE not in s.cookies
    # A field that does not match the cookie is refused too.
    s.get(f"{web}/login")
    r = s.post(
        f"{web}/login",
        data={"email": ANALYST, "password": PASSWORD, "_xsrf": "2|00|00|00"},
        allow_redirects=False,
    )
    assert r.status_code == 403 and COOKIE not in s.cookies


@sqlite_only
def test_sign_out_ends_the_session_server_side(web, demo, ctx):
    s = requests.Session()
    assert form_login(s, web).status_code == 302
    stolen = s.cookies[COOKIE]
    # GET never signs out (a link or an <img> from another site cannot); it shows a form.
    page = s.get(f"{web}/logout", allow_redirects=False)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert whoami(s, web) is not None
    # A POST without this session's token is refused.
    forged = s.post(f"{web}/logout", data={"csrf": "x"}, allow_redirects=False)
    assert forged.status_code == 403 and whoami(s, web) is not None
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    out = s.post(f"{web}/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    # The same cookie, replayed after sign-out, no longer works.
    replay = requests.Session()
    replay.cookies.set(COOKIE, stolen)
    assert whoami(replay, web) is None
    with ctx.sessions() as db:
        assert db.scalar(
            select(WebSession.revoked_at).where(WebSession.user_id == demo[("acme", "analyst")].id)
        )


@sqlite_only
def test_password_change_and_disable_end_sessions(web, demo, ctx):
    s1, s2 = requests.Session(), requests.Session()
    assert form_login(s1, web).status_code == 302 and form_login(s2, web).status_code == 302
    with transaction(ctx.sessions) as db:
        auth.set_password(db, db.get(User, demo[("acme", "analyst")].id), "a-new-long-password")
    assert whoami(s1, web) is None and whoami(s2, web) is None
    s3 = requests.Session()
    assert form_login(s3, web, password="a-new-long-password").status_code == 302
    assert whoami(s3, web) is not None
    with transaction(ctx.sessions) as db:
        auth.set_active(db, db.get(User, demo[("acme", "analyst")].id), False)
    assert whoami(s3, web) is None


@sqlite_only
def test_forged_cookies_do_not_authenticate(web, demo, ctx):
    admin = demo[("acme", "admin")]
    s = requests.Session()
    s.cookies.set(COOKIE, str(admin.id))  # unsigned
    assert whoami(s, web) is None
    # Signed with a secret published in the source of earlier versions: refused by the signature.
    for published in PUBLISHED_SECRETS:
        import hashlib

        old = hashlib.sha256(f"cookie-v1:{published}".encode()).hexdigest()
        for value in (str(admin.id), "cbs_guess"):
            s.cookies.set(COOKIE, create_signed_value(old, COOKIE, value).decode())
            assert whoami(s, web) is None
            s.cookies.set("user", create_signed_value(old, "user", value).decode())
            assert whoami(s, web) is None
    # Correctly signed, but not a session the server issued: refused by the session table.
    s.cookies.set(COOKIE, create_signed_value(cookie_secret(ctx.settings), COOKIE, str(admin.id)).decode())
    assert whoami(s, web) is None


@sqlite_only
def test_secure_cookie_behind_trusted_proxy(web, demo):
    s = requests.Session()
    page = s.get(f"{web}/login")
    r = s.post(
        f"{web}/login",
        data={"email": ANALYST, "password": PASSWORD, "_xsrf": xsrf_of(page.text)},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert r.status_code == 302 and "secure" in r.headers["Set-Cookie"].lower()


@sqlite_only
def test_secure_cookie_setting(ctx, demo):
    secure = ctx.settings.with_(secure_cookies=True)
    ctx2 = type(ctx)(secure, ctx.engine, ctx.sessions, ctx.redis, ctx.warehouse)
    provider = PortalAuthProvider(ctx2)
    app = Application([(provider.login_url, provider.login_handler)], cookie_secret=cookie_secret(secure))
    base, stop = serve_app(app)
    try:
        page = requests.get(f"{base}/login")
        assert "secure" in page.headers["Set-Cookie"].lower()  # the CSRF cookie too
        # A client only sends Secure cookies over https; this one is told to send it anyway.
        r = requests.post(
            f"{base}/login",
            data={"email": ANALYST, "password": PASSWORD, "_xsrf": xsrf_of(page.text)},
            cookies={"_xsrf": page.cookies["_xsrf"]},
            allow_redirects=False,
        )
        assert r.status_code == 302 and "secure" in r.headers["Set-Cookie"].lower()
    finally:
        stop()


@sqlite_only
def test_rate_limit_per_address_counts_form_and_api_together(web, api, demo):
    # Different e-mails each time: only the per-address budget can stop these.
    codes = [
        form_login(requests.Session(), web, email=f"x{i}@y.com", password="wrong").status_code
        for i in range(6)
    ]
    codes += [
        requests.post(
            f"{api.base}/api/tokens", json={"email": f"z{i}@y.com", "password": "wrong"}
        ).status_code
        for i in range(4)
    ]
    assert codes == [401] * 10
    assert form_login(requests.Session(), web, email="w@y.com", password="wrong").status_code == 429
    r = requests.post(f"{api.base}/api/tokens", json={"email": ANALYST, "password": PASSWORD})
    assert r.status_code == 429


@sqlite_only
def test_account_backoff_slows_guessing_but_never_locks_out_for_good(web, demo, redis_client):
    for _ in range(ratelimit.LOGIN_FREE_FAILURES):
        assert form_login(requests.Session(), web, password="wrong").status_code == 401
    # The right password must wait too (otherwise the backoff would tell guessers when they are right).
    r = form_login(requests.Session(), web)
    assert r.status_code == 429 and "this account" in r.text
    # From another address the account still waits.
    with pytest.raises(QuotaExceeded, match="this account"):
        ratelimit.check_login(redis_client, "10.9.8.7", ANALYST)
    # The wait is bounded and grows with failures.
    waits = [ratelimit.login_backoff_seconds(n) for n in range(0, 30)]
    assert waits[: ratelimit.LOGIN_FREE_FAILURES] == [0] * ratelimit.LOGIN_FREE_FAILURES
    assert waits == sorted(waits) and max(waits) == ratelimit.LOGIN_MAX_BACKOFF_SECONDS
    # After the wait, the owner gets in and the count is cleared.
    import time

    ratelimit.check_login(
        redis_client, "10.0.0.1", ANALYST, now=time.time() + waits[ratelimit.LOGIN_FREE_FAILURES]
    )
    redis_client.hset(ratelimit._account_key(ANALYST), "t", "0")
    assert form_login(requests.Session(), web).status_code == 302
    assert not redis_client.exists(ratelimit._account_key(ANALYST))


def test_rate_limit_window_slides(redis_client):
    """No fresh budget at a clock-minute boundary: the limit holds over any window of that length."""
    import time

    for _ in range(3):
        ratelimit.hit(redis_client, "t", limit=3, window_seconds=1)
    with pytest.raises(QuotaExceeded, match="try again in 1 s"):
        ratelimit.hit(redis_client, "t", limit=3, window_seconds=1)
    time.sleep(1.05)
    assert ratelimit.hit(redis_client, "t", limit=3, window_seconds=1) == 1
